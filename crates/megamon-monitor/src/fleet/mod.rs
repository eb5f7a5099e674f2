//! The fleet: small indexes of what the watches reported, and the timelines
//! they drive.
//!
//! Watches and polls feed [`Change`]s (apply / delete / reset; a re-list is
//! a reset) into one index per resource ([`index`]). Each change is stamped
//! with the time it arrived, and the entities it touches are re-evaluated at
//! that time, so a transition is recorded exactly when the event that caused
//! it was seen (SPEC §3). A family is evaluated only once all of its sources
//! have been listed: before that, an empty index would look like an outage.
//! How each family is evaluated is one row of [`family::FAMILIES`].
//!
//! Only the fields the rules read are kept (`*Facts`), never whole objects.

mod ended;
mod family;
mod index;
mod scheduling;
mod settings;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use jiff::Timestamp;
use megamon_core::cause::{Cause, Why};
use megamon_core::entity::jobset::JobSetFacts;
use megamon_core::entity::lws::LeaderWorkerSetFacts;
use megamon_core::entity::node::NodeObject;
use megamon_core::entity::nodepool::NodePoolFacts;
use megamon_core::entity::slice::{OwnerRef, SliceFacts};
use megamon_core::report::ScheduledJob;
use megamon_core::timeline::Observed;
use megamon_core::{
    Attrs, EntityKind, EntitySnapshot, Episode, FamilySnapshot, Snapshot, Timeline, Timelines,
    Upness,
};

use ended::Endings;
use family::FamilyRule;
use index::{Indexes, Touched, Warnings};

pub use index::leader_pods::LeaderPod;
pub use scheduling::JobPlacement;
pub use settings::FleetSettings;

/// A report from a watch or poll about one kind of object.
#[derive(Debug, Clone)]
pub enum Change<T> {
    /// An object was added or modified.
    Apply(T),
    /// The object with this key is gone.
    Delete(String),
    /// The complete current set (a list or re-list): anything not in it is gone.
    Reset(Vec<T>),
}

/// One report from any source, as the engine receives it.
#[derive(Debug, Clone)]
pub enum Update {
    JobSets(Change<JobSetFacts>),
    Nodes(Change<NodeObject>),
    LeaderPods(Change<LeaderPod>),
    Slices(Change<SliceFacts>),
    LeaderWorkerSets(Change<LeaderWorkerSetFacts>),
    /// The GKE API's complete list of node pools.
    NodePools(Vec<NodePoolFacts>),
}

impl Update {
    pub fn source(&self) -> Source {
        match self {
            Update::JobSets(_) => Source::JobSets,
            Update::Nodes(_) => Source::Nodes,
            Update::LeaderPods(_) => Source::LeaderPods,
            Update::Slices(_) => Source::Slices,
            Update::LeaderWorkerSets(_) => Source::LeaderWorkerSets,
            Update::NodePools(_) => Source::NodePools,
        }
    }

    /// Whether this is a complete list of its source.
    fn is_complete(&self) -> bool {
        match self {
            Update::JobSets(c) => matches!(c, Change::Reset(_)),
            Update::Nodes(c) => matches!(c, Change::Reset(_)),
            Update::LeaderPods(c) => matches!(c, Change::Reset(_)),
            Update::Slices(c) => matches!(c, Change::Reset(_)),
            Update::LeaderWorkerSets(c) => matches!(c, Change::Reset(_)),
            Update::NodePools(_) => true,
        }
    }
}

/// An update and the time it arrived: what the engine consumes.
#[derive(Debug)]
pub struct Stamped {
    pub at: Timestamp,
    pub update: Update,
}

/// Where the fleet's knowledge comes from: a watch or the GKE API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    JobSets,
    Nodes,
    LeaderPods,
    Slices,
    LeaderWorkerSets,
    NodePools,
}

/// The fleet's state: indexes plus one timeline set per family.
#[derive(Debug)]
pub struct Fleet {
    idx: Indexes,
    /// The families this configuration publishes, in kind order.
    families: Vec<&'static FamilyRule>,
    timelines: BTreeMap<EntityKind, Timelines>,
    dirty: BTreeSet<EntityKind>,
    /// Entities that ended, until the engine takes them to archive.
    endings: Endings,
    synced: HashSet<Source>,
    warnings: Warnings,
    transitions: u64,
    /// Bumped by every change a snapshot would show (transitions, entities
    /// appearing or going, scheduling), so the engine knows when to publish.
    revision: u64,
    /// Interruptions and recoveries recorded since last taken.
    episodes: Vec<FleetEpisode>,
}

/// An interruption or a recovery just recorded, with the entity's labels:
/// what the time-to-recover and time-between-interruptions histograms
/// observe.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetEpisode {
    pub kind: EntityKind,
    pub episode: Episode,
    pub attrs: Attrs,
}

/// What an interruption nothing explains records: `unknown`, with counts.
fn unexplained(u: &Upness) -> Why {
    let mut detail = format!("{} of {} ready", u.ready_count, u.expected_count);
    if u.unknown_count > 0 {
        detail.push_str(&format!(", {} unknown", u.unknown_count));
    }
    if !u.status.is_empty() {
        detail.push_str(&format!("; status {}", u.status));
    }
    Why::new(Cause::Unknown, detail)
}

impl Fleet {
    /// A fleet that continues the stored `history` (entities no longer in the
    /// cluster are dropped once their family has synced).
    pub fn new(settings: FleetSettings, mut history: BTreeMap<EntityKind, Timelines>) -> Self {
        let families: Vec<&'static FamilyRule> = family::FAMILIES
            .into_iter()
            .filter(|f| (f.enabled)(&settings))
            .collect();
        // A family that is switched off keeps no timelines (and its file is
        // left as it is in the store).
        history.retain(|k, _| families.iter().any(|f| f.kind == *k));
        let mut endings = Endings::default();
        for f in &families {
            let stored = history.entry(f.kind).or_default();
            endings.loaded(f.kind, stored.keys());
        }
        Fleet {
            idx: Indexes::new(settings, Default::default()),
            families,
            timelines: history,
            dirty: BTreeSet::new(),
            endings,
            synced: HashSet::new(),
            warnings: Warnings::default(),
            transitions: 0,
            revision: 0,
            episodes: Vec::new(),
        }
    }

    /// Continues upstream's slice → owner map (read at start): stored slices
    /// it names may be deleted slices whose owner still runs.
    pub fn with_slice_owners(mut self, owners: BTreeMap<String, OwnerRef>) -> Self {
        let stored: BTreeSet<String> = self
            .timelines
            .get(&EntityKind::Slices)
            .map(|t| t.keys().map(str::to_string).collect())
            .unwrap_or_default();
        self.idx.slices = index::slices::SliceIndex::new(owners, &stored);
        self
    }

    pub fn settings(&self) -> &FleetSettings {
        &self.idx.settings
    }

    /// The families this configuration publishes.
    pub fn families(&self) -> Vec<EntityKind> {
        self.families.iter().map(|f| f.kind).collect()
    }

    /// The watches that must have listed before the first aggregation: every
    /// source of a published family, and leader pods (scheduling). The GKE
    /// API is not one of them: while it fails, the other families go on and
    /// node pools wait for its first answer.
    pub fn required_sources(&self) -> Vec<Source> {
        let mut sources: BTreeSet<Source> = self
            .families
            .iter()
            .flat_map(|f| (f.sources)(&self.idx.settings).iter().copied())
            .collect();
        sources.insert(Source::LeaderPods);
        sources.remove(&Source::NodePools);
        sources.into_iter().collect()
    }

    fn family_synced(&self, family: &FamilyRule) -> bool {
        (family.sources)(&self.idx.settings)
            .iter()
            .all(|s| self.synced.contains(s))
    }

    /// Whether every source has been listed at least once.
    pub fn is_synced(&self) -> bool {
        self.required_sources()
            .iter()
            .all(|s| self.synced.contains(s))
    }

    /// Transitions recorded since start (for logs and tests).
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// The interruptions and recoveries recorded since last taken, oldest
    /// first.
    pub fn take_episodes(&mut self) -> Vec<FleetEpisode> {
        std::mem::take(&mut self.episodes)
    }

    /// Changes since start that a snapshot would show.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn timelines(&self, kind: EntityKind) -> Option<&Timelines> {
        self.timelines.get(&kind)
    }

    /// Families whose timelines changed since they were last marked clean.
    pub fn dirty(&self) -> Vec<EntityKind> {
        self.dirty.iter().copied().collect()
    }

    pub fn mark_clean(&mut self, kind: EntityKind) {
        self.dirty.remove(&kind);
    }

    /// Continues `stored` history, the previous leader's as the store holds
    /// it now, with what this fleet observed after it (SPEC §6): a new leader
    /// loses nothing its predecessor did not write, records nothing twice,
    /// and the failover itself is no transition. Every family is then
    /// evaluated at `now` and marked for writing.
    pub fn take_over(&mut self, mut stored: BTreeMap<EntityKind, Timelines>, now: Timestamp) {
        for i in 0..self.families.len() {
            let kind = self.families[i].kind;
            let observed = self.timelines.remove(&kind).unwrap_or_default();
            let mut merged = stored.remove(&kind).unwrap_or_default();
            merged.continue_with(&observed);
            self.endings.loaded(kind, merged.keys());
            self.timelines.insert(kind, merged);
            self.dirty.insert(kind);
        }
        self.revision += 1;
        self.observe_all(now);
    }

    /// The entities that ended since last taken, to archive (SPEC §3.4).
    pub fn take_ended(&mut self) -> Vec<megamon_store::ToArchive> {
        self.endings.take()
    }

    /// Ended entities taken but not handed over after all.
    pub fn put_back_ended(&mut self, ended: Vec<megamon_store::ToArchive>) {
        self.endings.put_back(ended);
    }

    /// The slice → owner map, when it changed since last taken (to save it).
    pub fn take_changed_slice_owners(&mut self) -> Option<BTreeMap<String, OwnerRef>> {
        self.idx.slices.take_changed_owners()
    }

    /// Records that `source` has been listed; a family this completes is
    /// evaluated in full at `at`.
    fn mark_synced(&mut self, source: Source, at: Timestamp) {
        let before: Vec<bool> = self
            .families
            .iter()
            .map(|f| self.family_synced(f))
            .collect();
        self.synced.insert(source);
        for (i, was) in before.into_iter().enumerate() {
            let family = self.families[i];
            if !was && self.family_synced(family) {
                self.observe_family(family, at);
            }
        }
    }

    /// Folds one update in, stamped with the time it arrived.
    pub fn apply(&mut self, update: Update, at: Timestamp) {
        let source = update.source();
        let complete = update.is_complete();
        let touched = match update {
            Update::JobSets(c) => self.idx.apply_jobsets(c, &mut self.warnings),
            Update::Nodes(c) => self.idx.nodes.apply(c, at),
            Update::LeaderPods(c) => {
                if self.idx.leader_pods.apply(c) {
                    self.revision += 1;
                }
                Touched::default()
            }
            Update::Slices(c) => self.idx.slices.apply(c),
            Update::LeaderWorkerSets(c) => self.idx.apply_lws(c, &mut self.warnings),
            Update::NodePools(pools) => self.idx.node_pools.set(pools),
        };
        if complete {
            // Everything that depends on a re-listed source, in full.
            for i in 0..self.families.len() {
                let family = self.families[i];
                let depends = (family.sources)(&self.idx.settings).contains(&source);
                if depends && self.family_synced(family) {
                    self.observe_family(family, at);
                }
            }
            self.mark_synced(source, at);
        } else {
            self.observe_touched(&touched, at);
        }
    }

    /// The next time a node's Unknown grace period ends.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.idx.nodes.next_expiry()
    }

    /// Re-evaluates the entities of nodes whose Unknown grace period ended by
    /// `now`, each at the exact time it ended.
    pub fn expire_unknown(&mut self, now: Timestamp) {
        while let Some((when, touched)) = self.idx.nodes.pop_expired(now) {
            self.observe_touched(&touched, when);
        }
    }

    fn observe_touched(&mut self, touched: &Touched, at: Timestamp) {
        for i in 0..self.families.len() {
            let family = self.families[i];
            let keys: BTreeSet<String> = (family.touched)(&self.idx, touched).into_iter().collect();
            for key in keys {
                self.observe(family, &key, at);
            }
        }
    }

    /// Re-evaluates one entity at `at`: records a transition if its state
    /// changed, drops its timeline if it is gone.
    fn observe(&mut self, family: &FamilyRule, key: &str, at: Timestamp) {
        if !self.family_synced(family) {
            return;
        }
        let upness = (family.upness)(&self.idx, key, at, &mut self.warnings);
        let threshold = self.idx.settings.unknown_count_threshold;
        let Some(timelines) = self.timelines.get_mut(&family.kind) else {
            return;
        };
        let kind = family.kind.name();
        match upness {
            Some(u) => {
                let state = u.state(threshold);
                let observed = timelines.observe(key, state, at);
                self.endings.seen(family.kind, key);
                let mut explained = None;
                if !state.up && timelines.needs_cause(key) {
                    let why =
                        (family.cause)(&self.idx, key, &u, at).unwrap_or_else(|| unexplained(&u));
                    if timelines.explain_interruption(key, why.clone()) {
                        explained = Some(why);
                    }
                }
                let attrs_changed = timelines.set_attrs(key, &u.attrs);
                if observed.changed() || explained.is_some() || attrs_changed {
                    self.dirty.insert(family.kind);
                }
                if observed.changed() {
                    self.transitions += u64::from(observed != Observed::FlagsChanged);
                    self.revision += 1;
                    tracing::info!(
                        family = kind,
                        key,
                        up = state.up,
                        planned = state.expected_down,
                        failed = state.failed,
                        ready = u.ready_count,
                        expected = u.expected_count,
                        unknown = u.unknown_count,
                        cause = explained.as_ref().map(|w| w.cause.as_str()),
                        detail = explained.as_ref().map(|w| w.detail.as_str()),
                        at = %at,
                        "transition"
                    );
                } else if let Some(why) = &explained {
                    self.revision += 1;
                    tracing::info!(
                        family = kind,
                        key,
                        cause = why.cause.as_str(),
                        detail = why.detail.as_str(),
                        "interruption explained"
                    );
                }
                if let Observed::Transition { up } = observed
                    && let Some(episode) = timelines.get(key).and_then(|t| t.last_episode())
                    && matches!(episode, Episode::Recovery { .. }) == up
                {
                    self.episodes.push(FleetEpisode {
                        kind: family.kind,
                        episode,
                        attrs: u.attrs.clone(),
                    });
                }
            }
            None => {
                if let Some(ended) = timelines.take(key) {
                    self.endings.ended(family.kind, key, &ended, at);
                    self.revision += 1;
                    self.dirty.insert(family.kind);
                    tracing::info!(
                        family = kind,
                        key,
                        "entity gone; its timeline goes to the archive"
                    );
                }
                (family.gone)(&mut self.idx, key);
            }
        }
    }

    /// Evaluates every entity of a family, and drops timelines of entities that
    /// no longer exist (stored history of deleted objects).
    fn observe_family(&mut self, family: &FamilyRule, at: Timestamp) {
        let mut keys: BTreeSet<String> = (family.keys)(&self.idx).into_iter().collect();
        if let Some(t) = self.timelines.get(&family.kind) {
            keys.extend(t.keys().map(str::to_string));
        }
        for key in keys {
            self.observe(family, &key, at);
        }
    }

    /// Evaluates everything at `now`: a safety net run each aggregation tick.
    pub fn observe_all(&mut self, now: Timestamp) {
        self.expire_unknown(now);
        for i in 0..self.families.len() {
            let family = self.families[i];
            if self.family_synced(family) {
                self.observe_family(family, now);
            }
        }
    }

    /// Everything the fleet knows at `now`, with summaries at `now`.
    pub fn snapshot(&mut self, now: Timestamp) -> Snapshot {
        let threshold = self.idx.settings.unknown_count_threshold;
        let mut families = Vec::with_capacity(self.families.len());
        for family in &self.families {
            let mut keys = (family.keys)(&self.idx);
            keys.sort();
            let timelines = self.timelines.get(&family.kind);
            let mut entities = Vec::with_capacity(keys.len());
            for key in keys {
                let Some(upness) = (family.upness)(&self.idx, &key, now, &mut self.warnings) else {
                    continue;
                };
                let timeline = timelines.and_then(|t| t.get(&key));
                entities.push(EntitySnapshot {
                    up: upness.is_up(threshold),
                    summary: timeline.map(|t| t.summarize(now)).unwrap_or_default(),
                    causes: timeline.map(Timeline::causes).unwrap_or_default(),
                    key,
                    upness,
                });
            }
            families.push(FamilySnapshot {
                kind: family.kind,
                entities,
            });
        }
        Snapshot {
            taken_at: now,
            families,
            scheduling: self.scheduling(),
        }
    }

    /// Node pool → the JobSet leader job on it (SPEC §2.6).
    pub fn scheduling(&self) -> BTreeMap<String, ScheduledJob> {
        self.idx.scheduling()
    }

    /// The Jobs to label with their node pool.
    pub fn job_placements(&self) -> Vec<JobPlacement> {
        self.idx.job_placements()
    }
}
