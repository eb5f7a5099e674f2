//! Timelines: per entity, the list of up/down transitions (SPEC §3).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::summary::{Summary, summarize};

/// One transition. JSON shape is the original's stored format:
/// `{"up":false,"ed":true,"ts":"2024-01-01T00:00:00Z"}`, `ed` omitted when false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpEvent {
    pub up: bool,
    /// Planned: a down that is not an interruption (JobSet `Completed`, pool
    /// `STOPPING`/`DELETING`).
    #[serde(rename = "ed", default, skip_serializing_if = "std::ops::Not::not")]
    pub expected_down: bool,
    #[serde(rename = "ts")]
    pub timestamp: Timestamp,
}

/// What an observation did to a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// The entity was new: a down event was recorded, and an up event too if it
    /// was already up.
    FirstSight { up: bool },
    /// Up-ness changed.
    Transition { up: bool },
    /// Same up-ness as the last event: nothing recorded.
    Unchanged,
}

impl Observed {
    pub fn changed(self) -> bool {
        !matches!(self, Observed::Unchanged)
    }
}

/// The transitions of one entity, oldest first, timestamps non-decreasing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timeline {
    #[serde(rename = "upEvents")]
    events: Vec<UpEvent>,
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
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "upEvents" {
                        events = map
                            .next_value::<Option<Vec<UpEvent>>>()?
                            .unwrap_or_default();
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Timeline { events })
            }
        }
        d.deserialize_map(TimelineVisitor)
    }
}

impl Timeline {
    /// A timeline from stored events, as they are (they may be malformed; the
    /// summary copes, see SPEC §3.1).
    pub fn from_events(events: Vec<UpEvent>) -> Self {
        Timeline { events }
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

    /// Records the entity's up-ness as observed at `at` (SPEC §3): on first sight
    /// a down event carrying `expected_down`; then an event whenever `up` differs
    /// from the last one. A time earlier than the last event is moved up to it so
    /// that the timeline stays ordered.
    pub fn observe(&mut self, up: bool, expected_down: bool, at: Timestamp) -> Observed {
        let at = match self.events.last() {
            Some(last) if at < last.timestamp => last.timestamp,
            _ => at,
        };
        let first = self.events.is_empty();
        if first {
            self.events.push(UpEvent {
                up: false,
                expected_down,
                timestamp: at,
            });
        }
        let changed = self.events.last().is_some_and(|last| last.up != up);
        if changed {
            self.events.push(UpEvent {
                up,
                expected_down,
                timestamp: at,
            });
        }
        match (first, changed) {
            (true, _) => Observed::FirstSight { up },
            (false, true) => Observed::Transition { up },
            (false, false) => Observed::Unchanged,
        }
    }

    pub fn summarize(&self, now: Timestamp) -> Summary {
        summarize(&self.events, now)
    }
}

/// All timelines of one entity kind, by entity key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timelines {
    by_key: BTreeMap<String, Timeline>,
}

impl Timelines {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<&Timeline> {
        self.by_key.get(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Timeline)> {
        self.by_key.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.by_key.keys().map(String::as_str)
    }

    /// See [`Timeline::observe`].
    pub fn observe(&mut self, key: &str, up: bool, expected_down: bool, at: Timestamp) -> Observed {
        match self.by_key.get_mut(key) {
            Some(t) => t.observe(up, expected_down, at),
            None => {
                let mut t = Timeline::default();
                let observed = t.observe(up, expected_down, at);
                self.by_key.insert(key.to_string(), t);
                observed
            }
        }
    }

    /// Forgets an entity that left the cluster. Returns whether it was known.
    pub fn remove(&mut self, key: &str) -> bool {
        self.by_key.remove(key).is_some()
    }

    /// Keeps only the entities for which `keep` is true; returns how many went.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> usize {
        let before = self.by_key.len();
        self.by_key.retain(|k, _| keep(k));
        before - self.by_key.len()
    }

    pub fn insert(&mut self, key: String, timeline: Timeline) {
        self.by_key.insert(key, timeline);
    }
}

impl FromIterator<(String, Timeline)> for Timelines {
    fn from_iter<I: IntoIterator<Item = (String, Timeline)>>(iter: I) -> Self {
        Timelines {
            by_key: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn first_sight_down_records_one_down_event() {
        let mut t = Timeline::default();
        let at = ts("2024-01-01T00:00:00Z");
        assert_eq!(
            t.observe(false, false, at),
            Observed::FirstSight { up: false }
        );
        assert_eq!(
            t.events(),
            &[UpEvent {
                up: false,
                expected_down: false,
                timestamp: at
            }]
        );
    }

    #[test]
    fn first_sight_up_records_down_then_up_at_the_same_time() {
        let mut t = Timeline::default();
        let at = ts("2024-01-01T00:00:00Z");
        assert_eq!(
            t.observe(true, false, at),
            Observed::FirstSight { up: true }
        );
        assert_eq!(t.events().len(), 2);
        assert!(!t.events()[0].up && t.events()[1].up);
        assert_eq!(t.events()[0].timestamp, t.events()[1].timestamp);
    }

    #[test]
    fn first_sight_carries_expected_down() {
        let mut t = Timeline::default();
        t.observe(false, true, ts("2024-01-01T00:00:00Z"));
        assert!(t.events()[0].expected_down);
    }

    #[test]
    fn transitions_only_when_up_changes() {
        let mut t = Timeline::default();
        t.observe(false, false, ts("2024-01-01T00:00:00Z"));
        assert_eq!(
            t.observe(false, false, ts("2024-01-01T00:01:00Z")),
            Observed::Unchanged
        );
        // A planned state with the same up-ness is not a new event either.
        assert_eq!(
            t.observe(false, true, ts("2024-01-01T00:02:00Z")),
            Observed::Unchanged
        );
        assert_eq!(
            t.observe(true, false, ts("2024-01-01T00:03:00Z")),
            Observed::Transition { up: true }
        );
        assert_eq!(
            t.observe(false, true, ts("2024-01-01T00:04:00Z")),
            Observed::Transition { up: false }
        );
        assert_eq!(t.events().len(), 3);
        assert!(t.events()[2].expected_down);
    }

    #[test]
    fn observation_older_than_last_event_keeps_order() {
        let mut t = Timeline::default();
        t.observe(false, false, ts("2024-01-01T00:10:00Z"));
        t.observe(true, false, ts("2024-01-01T00:05:00Z"));
        assert_eq!(t.events()[1].timestamp, ts("2024-01-01T00:10:00Z"));
    }

    #[test]
    fn timelines_add_and_remove_entities() {
        let mut all = Timelines::new();
        let at = ts("2024-01-01T00:00:00Z");
        assert!(all.observe("a", true, false, at).changed());
        assert!(all.observe("b", false, false, at).changed());
        assert!(!all.observe("a", true, false, at).changed());
        assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(all.remove("a"));
        assert!(!all.remove("a"));
        assert_eq!(all.retain(|k| k != "b"), 1);
        assert!(all.is_empty());
    }
}
