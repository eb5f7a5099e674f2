//! Timelines: per entity, the list of up/down transitions (SPEC §3), and
//! their summaries (SPEC §3.1).

mod event;
mod summary;

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use event::{State, UpEvent};
pub use summary::{Episode, ProvisioningState, Summary, episodes, summarize};

use crate::cause::{Cause, CauseCounts, Why};
use crate::upness::Attrs;

/// What an observation did to a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// The entity was new: a down event was recorded, and an up event too if it
    /// was already up.
    FirstSight { up: bool },
    /// Up-ness changed.
    Transition { up: bool },
    /// Still down, but planned or failed changed: recorded, so the
    /// provisioning state is right, but never an interruption or a recovery.
    FlagsChanged,
    /// Nothing worth recording.
    Unchanged,
}

impl Observed {
    pub fn changed(self) -> bool {
        !matches!(self, Observed::Unchanged)
    }
}

/// The transitions of one entity, oldest first, timestamps non-decreasing,
/// and **[ours]** the entity's labels when last recorded (`"attrs"`: what
/// reports need after the entity is gone; the original ignores the field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timeline {
    #[serde(rename = "upEvents")]
    events: Vec<UpEvent>,
    /// Shared with the snapshots that show the entity: one copy per entity.
    #[serde(skip_serializing_if = "Option::is_none")]
    attrs: Option<Arc<Attrs>>,
}

/// Only a JSON object is a stored timeline (serde's derive would also take an
/// array); `upEvents` may be missing or `null`, other fields are ignored.
impl<'de> Deserialize<'de> for Timeline {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TimelineVisitor;
        impl<'de> serde::de::Visitor<'de> for TimelineVisitor {
            type Value = Timeline;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"an object like {"upEvents": [...]}"#)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Timeline, A::Error> {
                let mut events = Vec::new();
                let mut attrs = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "upEvents" {
                        events = map
                            .next_value::<Option<Vec<UpEvent>>>()?
                            .unwrap_or_default();
                    } else if key == "attrs" {
                        attrs = map.next_value::<Option<Attrs>>()?.map(Arc::new);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Timeline { events, attrs })
            }
        }
        d.deserialize_map(TimelineVisitor)
    }
}

impl Timeline {
    /// A timeline from stored events, as they are (they may be malformed; the
    /// summary copes, see SPEC §3.1).
    pub fn from_events(events: Vec<UpEvent>) -> Self {
        Timeline {
            events,
            attrs: None,
        }
    }

    /// The entity's labels when last recorded, if they were.
    pub fn attrs(&self) -> Option<&Attrs> {
        self.attrs.as_deref()
    }

    /// The entity's labels when last recorded, to share.
    pub fn shared_attrs(&self) -> Option<&Arc<Attrs>> {
        self.attrs.as_ref()
    }

    /// Records the entity's labels; whether they changed.
    pub fn set_attrs(&mut self, attrs: Arc<Attrs>) -> bool {
        if self.attrs.as_deref() == Some(&*attrs) {
            return false;
        }
        self.attrs = Some(attrs);
        true
    }

    /// The event that began the current down run, if that run is an
    /// interruption (an unplanned down after up time, SPEC §3.1).
    fn current_interruption(&self) -> Option<usize> {
        let down_run = self.events.iter().rev().take_while(|e| !e.up).count();
        let start = self.events.len().checked_sub(down_run)?;
        let first = self.events.get(start)?;
        (start > 0 && !first.expected_down).then_some(start)
    }

    /// Whether the current down run is an interruption with no cause, or
    /// only `unknown`.
    pub fn needs_cause(&self) -> bool {
        self.current_interruption()
            .is_some_and(|i| matches!(self.events[i].cause, None | Some(Cause::Unknown)))
    }

    /// Says why the current interruption happened, if [`Self::needs_cause`]
    /// and `why` says more than what it has: what explains an interruption
    /// may arrive after it (a JobSet's restart count goes up after its jobs
    /// stop being ready). Whether it changed.
    pub fn explain_interruption(&mut self, why: Why) -> bool {
        if !self.needs_cause() {
            return false;
        }
        let Some(i) = self.current_interruption() else {
            return false;
        };
        let event = &mut self.events[i];
        if event.cause == Some(Cause::Unknown) && why.cause == Cause::Unknown {
            return false;
        }
        *event = event.clone().because(why);
        true
    }

    /// The last interruption or recovery.
    pub fn last_episode(&self) -> Option<Episode> {
        self.episodes().pop()
    }

    /// Its interruptions by cause.
    pub fn causes(&self) -> CauseCounts {
        self.episodes()
            .into_iter()
            .filter_map(|e| match e {
                Episode::Interruption { cause, .. } => Some(cause),
                Episode::Recovery { .. } => None,
            })
            .collect()
    }

    /// The interruptions and recoveries of this timeline, as the summary
    /// counts them.
    pub fn episodes(&self) -> Vec<Episode> {
        episodes(&self.events)
    }

    pub fn events(&self) -> &[UpEvent] {
        &self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn last(&self) -> Option<&UpEvent> {
        self.events.last()
    }

    /// Records the entity's state as observed at `at` (SPEC §3): on first
    /// sight a down event carrying the state's flags; then an event whenever
    /// `up` differs from the last one, or, while down, when the planned or
    /// failed flag changes. A time earlier than the last event is moved up to
    /// it so that the timeline stays ordered.
    pub fn observe(&mut self, state: State, at: Timestamp) -> Observed {
        let at = match self.events.last() {
            Some(last) if at < last.timestamp => last.timestamp,
            _ => at,
        };
        let Some(last) = self.events.last().map(UpEvent::state) else {
            self.events
                .push(UpEvent::new(State { up: false, ..state }, at));
            if state.up {
                self.events.push(UpEvent::new(state, at));
            }
            return Observed::FirstSight { up: state.up };
        };
        if last.up != state.up {
            self.events.push(UpEvent::new(state, at));
            Observed::Transition { up: state.up }
        } else if !state.up && last != state {
            self.events.push(UpEvent::new(state, at));
            Observed::FlagsChanged
        } else {
            Observed::Unchanged
        }
    }

    /// Whether observing `state` would record nothing (see [`Self::observe`]).
    pub fn is_in(&self, state: State) -> bool {
        self.events
            .last()
            .map(UpEvent::state)
            .is_some_and(|last| last.up == state.up && (state.up || last == state))
    }

    pub fn summarize(&self, now: Timestamp) -> Summary {
        summarize(&self.events, now)
    }

    /// Continues this (stored) timeline with what `observed` saw after its
    /// last event: each later event is observed in turn, so a state already
    /// recorded is not recorded twice and nothing after the last event is
    /// lost. A new leader uses it to continue the previous leader's history
    /// with what its own warm watches saw.
    pub fn continue_with(&mut self, observed: &Timeline) {
        let after = self.events.last().map(|e| e.timestamp);
        for e in &observed.events {
            if after.is_none_or(|t| e.timestamp > t)
                && self.observe(e.state(), e.timestamp).changed()
            {
                // The cause the observer recorded goes with its event.
                if let (Some(last), Some(cause)) = (self.events.last_mut(), e.cause) {
                    last.cause = Some(cause);
                    last.detail.clone_from(&e.detail);
                }
            }
        }
        if let Some(attrs) = &observed.attrs {
            self.attrs = Some(attrs.clone());
        }
    }
}

/// All timelines of one entity kind, by entity key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timelines {
    /// Shared: a copy of the set (for the store's writer) shares every
    /// timeline until one changes (copy on write), so writing the history
    /// costs no second copy of its events.
    by_key: BTreeMap<String, Arc<Timeline>>,
}

impl Timelines {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<&Timeline> {
        self.by_key.get(key).map(Arc::as_ref)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Timeline)> {
        self.by_key.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.by_key.keys().map(String::as_str)
    }

    /// See [`Timeline::observe`].
    pub fn observe(&mut self, key: &str, state: State, at: Timestamp) -> Observed {
        match self.by_key.get_mut(key) {
            // Unchanged (every entity is observed at each full evaluation):
            // no copy of a timeline the writer shares.
            Some(t) if t.is_in(state) => Observed::Unchanged,
            Some(t) => Arc::make_mut(t).observe(state, at),
            None => {
                let mut t = Timeline::default();
                let observed = t.observe(state, at);
                self.by_key.insert(key.to_string(), Arc::new(t));
                observed
            }
        }
    }

    /// See [`Timeline::set_attrs`]; `false` for an entity without a timeline.
    /// Afterwards `attrs` is the timeline's own copy: the snapshots of an
    /// entity whose labels did not change share one copy with its timeline
    /// instead of holding one each (at 65,536 nodes, two snapshot sets of
    /// 430-byte label structs and their strings were a fifth of the peak).
    pub fn set_attrs(&mut self, key: &str, attrs: &mut Arc<Attrs>) -> bool {
        let Some(t) = self.by_key.get_mut(key) else {
            return false;
        };
        // Compared before `make_mut`: no copy of a timeline the writer
        // shares when the labels are the same.
        let changed = t.attrs.as_ref() != Some(attrs);
        if changed {
            Arc::make_mut(t).attrs = Some(attrs.clone());
        }
        if let Some(own) = &t.attrs {
            *attrs = own.clone();
        }
        changed
    }

    /// See [`Timeline::needs_cause`]; `false` for an entity without a timeline.
    pub fn needs_cause(&self, key: &str) -> bool {
        self.get(key).is_some_and(Timeline::needs_cause)
    }

    /// See [`Timeline::explain_interruption`].
    pub fn explain_interruption(&mut self, key: &str, why: Why) -> bool {
        self.by_key
            .get_mut(key)
            .is_some_and(|t| Arc::make_mut(t).explain_interruption(why))
    }

    /// Forgets an entity that left the cluster. Returns whether it was known.
    pub fn remove(&mut self, key: &str) -> bool {
        self.by_key.remove(key).is_some()
    }

    /// Forgets an entity that left the cluster and hands its timeline back
    /// (to archive it).
    pub fn take(&mut self, key: &str) -> Option<Timeline> {
        self.by_key.remove(key).map(Arc::unwrap_or_clone)
    }

    /// Keeps only the entities for which `keep` is true; returns how many went.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> usize {
        let before = self.by_key.len();
        self.by_key.retain(|k, _| keep(k));
        before - self.by_key.len()
    }

    pub fn insert(&mut self, key: String, timeline: Timeline) {
        self.by_key.insert(key, Arc::new(timeline));
    }

    /// See [`Timeline::continue_with`]; entities only `observed` has are
    /// taken as they are.
    pub fn continue_with(&mut self, observed: &Timelines) {
        for (key, theirs) in &observed.by_key {
            match self.by_key.get_mut(key) {
                Some(ours) => Arc::make_mut(ours).continue_with(theirs),
                None => {
                    self.by_key.insert(key.clone(), theirs.clone());
                }
            }
        }
    }
}

impl FromIterator<(String, Timeline)> for Timelines {
    fn from_iter<I: IntoIterator<Item = (String, Timeline)>>(iter: I) -> Self {
        Timelines {
            by_key: iter.into_iter().map(|(k, t)| (k, Arc::new(t))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_interruption_gets_a_cause_and_unknown_is_refined_once() {
        let t0 = ts("2024-01-01T00:00:00Z");
        let later = |m| t0 + jiff::SignedDuration::from_mins(m);
        let why = |c, d: &str| Why::new(c, d);
        let mut t = Timeline::default();
        t.observe(State::DOWN, t0);
        // First sight: not an interruption.
        assert!(!t.needs_cause());
        assert!(!t.explain_interruption(why(Cause::Unknown, "")));
        t.observe(State::UP, later(1));
        t.observe(State::DOWN, later(2));
        assert!(t.needs_cause());
        assert!(t.explain_interruption(why(Cause::Unknown, "nothing seen")));
        assert!(t.needs_cause());
        assert!(!t.explain_interruption(why(Cause::Unknown, "still nothing")));
        // A flag change inside the run keeps the run's first event as the interruption.
        t.observe(State::DOWN.failed(), later(3));
        assert!(t.explain_interruption(why(Cause::WorkloadFailed, "BackoffLimitExceeded")));
        assert!(!t.needs_cause());
        assert!(!t.explain_interruption(why(Cause::NodeDeleted, "too late")));
        let e = &t.events()[2];
        assert_eq!(e.cause, Some(Cause::WorkloadFailed));
        assert_eq!(e.detail.as_deref(), Some("BackoffLimitExceeded"));
        assert_eq!(t.events()[3].cause, None);
        // A planned down is no interruption.
        t.observe(State::UP, later(4));
        t.observe(State::DOWN.planned(), later(5));
        assert!(!t.needs_cause());
    }

    #[test]
    fn continuing_a_timeline_keeps_the_observers_causes_and_attrs() {
        let t0 = ts("2024-01-01T00:00:00Z");
        let later = |m| t0 + jiff::SignedDuration::from_mins(m);
        let mut stored = Timeline::default();
        stored.observe(State::DOWN, t0);
        stored.observe(State::UP, later(1));
        let mut observed = stored.clone();
        observed.observe(State::DOWN, later(2));
        observed.explain_interruption(Why::new(Cause::Preemption, "1 of 4 spot nodes reclaimed"));
        observed.set_attrs(
            Attrs {
                spot: true,
                ..Attrs::default()
            }
            .into(),
        );
        stored.continue_with(&observed);
        assert_eq!(stored, observed);
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn first_sight_down_records_one_down_event() {
        let mut t = Timeline::default();
        let at = ts("2024-01-01T00:00:00Z");
        assert_eq!(
            t.observe(State::DOWN, at),
            Observed::FirstSight { up: false }
        );
        assert_eq!(t.events(), &[UpEvent::down(at)]);
    }

    #[test]
    fn first_sight_up_records_down_then_up_at_the_same_time() {
        let mut t = Timeline::default();
        let at = ts("2024-01-01T00:00:00Z");
        assert_eq!(t.observe(State::UP, at), Observed::FirstSight { up: true });
        assert_eq!(t.events(), &[UpEvent::down(at), UpEvent::up(at)]);
    }

    #[test]
    fn first_sight_carries_the_flags() {
        let mut t = Timeline::default();
        let at = ts("2024-01-01T00:00:00Z");
        t.observe(State::DOWN.planned().failed(), at);
        assert_eq!(t.events(), &[UpEvent::down(at).planned().failed()]);
    }

    #[test]
    fn transitions_when_up_changes_and_flag_changes_only_while_down() {
        let mut t = Timeline::default();
        t.observe(State::DOWN, ts("2024-01-01T00:00:00Z"));
        assert_eq!(
            t.observe(State::DOWN, ts("2024-01-01T00:01:00Z")),
            Observed::Unchanged
        );
        // Planned while down: recorded, as upstream v1.2.0 does.
        assert_eq!(
            t.observe(State::DOWN.planned(), ts("2024-01-01T00:02:00Z")),
            Observed::FlagsChanged
        );
        assert_eq!(
            t.observe(State::UP, ts("2024-01-01T00:03:00Z")),
            Observed::Transition { up: true }
        );
        // A flag while up is not recorded (an up entity is never planned).
        assert_eq!(
            t.observe(State::UP.failed(), ts("2024-01-01T00:03:30Z")),
            Observed::Unchanged
        );
        assert_eq!(
            t.observe(State::DOWN.planned(), ts("2024-01-01T00:04:00Z")),
            Observed::Transition { up: false }
        );
        assert_eq!(
            t.observe(State::DOWN.planned().failed(), ts("2024-01-01T00:05:00Z")),
            Observed::FlagsChanged
        );
        assert_eq!(
            t.events(),
            &[
                UpEvent::down(ts("2024-01-01T00:00:00Z")),
                UpEvent::down(ts("2024-01-01T00:02:00Z")).planned(),
                UpEvent::up(ts("2024-01-01T00:03:00Z")),
                UpEvent::down(ts("2024-01-01T00:04:00Z")).planned(),
                UpEvent::down(ts("2024-01-01T00:05:00Z")).planned().failed(),
            ]
        );
    }

    #[test]
    fn observation_older_than_last_event_keeps_order() {
        let mut t = Timeline::default();
        t.observe(State::DOWN, ts("2024-01-01T00:10:00Z"));
        t.observe(State::UP, ts("2024-01-01T00:05:00Z"));
        assert_eq!(t.events()[1].timestamp, ts("2024-01-01T00:10:00Z"));
    }

    #[test]
    fn continuing_stored_history_adds_only_what_came_after() {
        // The previous leader stored: down 0, up 10, down 20 (its last flush).
        let stored = Timeline::from_events(vec![
            UpEvent::down(ts("2024-01-01T00:00:00Z")),
            UpEvent::up(ts("2024-01-01T00:10:00Z")),
            UpEvent::down(ts("2024-01-01T00:20:00Z")),
        ]);
        // The standby saw the same from its own start, a few ms apart, then
        // the recovery the leader did not live to write.
        let observed = Timeline::from_events(vec![
            UpEvent::down(ts("2024-01-01T00:05:00Z")),
            UpEvent::up(ts("2024-01-01T00:05:00Z")),
            UpEvent::down(ts("2024-01-01T00:20:00.004Z")),
            UpEvent::up(ts("2024-01-01T00:25:00Z")),
        ]);
        let mut merged = stored.clone();
        merged.continue_with(&observed);
        assert_eq!(
            merged.events(),
            &[
                UpEvent::down(ts("2024-01-01T00:00:00Z")),
                UpEvent::up(ts("2024-01-01T00:10:00Z")),
                UpEvent::down(ts("2024-01-01T00:20:00Z")),
                UpEvent::up(ts("2024-01-01T00:25:00Z")),
            ]
        );
        // Nothing new: unchanged; continuing twice changes nothing more.
        let mut again = merged.clone();
        again.continue_with(&observed);
        assert_eq!(again, merged);
        let mut all = Timelines::new();
        all.insert("a".into(), stored);
        let mut theirs = Timelines::new();
        theirs.insert("a".into(), observed);
        theirs.insert(
            "new".into(),
            Timeline::from_events(vec![UpEvent::down(ts("2024-01-01T00:21:00Z"))]),
        );
        all.continue_with(&theirs);
        assert_eq!(all.get("a"), Some(&merged));
        assert_eq!(all.get("new").map(|t| t.events().len()), Some(1));
    }

    #[test]
    fn timelines_add_and_remove_entities() {
        let mut all = Timelines::new();
        let at = ts("2024-01-01T00:00:00Z");
        assert!(all.observe("a", State::UP, at).changed());
        assert!(all.observe("b", State::DOWN, at).changed());
        assert!(!all.observe("a", State::UP, at).changed());
        assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(all.remove("a"));
        assert!(!all.remove("a"));
        assert_eq!(all.retain(|k| k != "b"), 1);
        assert!(all.is_empty());
    }
}
