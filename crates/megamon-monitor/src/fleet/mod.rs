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
use std::sync::Arc;

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
///
/// A list (or re-list) arrives in parts, `Listing`, `Listed`..., `Reset`, so
/// that a 65,536-node list is never held whole between the watch and its
/// index: the index stages the parts aside and swaps them in at `Reset`. What
/// the fleet sees is unchanged: nothing until the `Reset`, then the complete
/// set at once.
#[derive(Debug, Clone)]
pub enum Change<T> {
    /// An object was added or modified.
    Apply(T),
    /// The object with this key is gone.
    Delete(String),
    /// A list starts (or starts over): whatever an unfinished list staged is dropped.
    Listing,
    /// Objects of the list in progress: staged, not yet visible.
    Listed(Vec<T>),
    /// The list is complete: the objects listed since `Listing` and these are
    /// the complete current set; anything not in it is gone. Without a
    /// `Listing` before it, these alone are the complete set.
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
    /// The last snapshot built (its entities are shared with it) and what
    /// may have changed since, so that the next one re-evaluates only that:
    /// publishing a change costs the entities it touched, not the fleet.
    last: Option<Snapshot>,
    /// Entities re-evaluated since the last snapshot, by family.
    stale: BTreeMap<EntityKind, BTreeSet<String>>,
    /// Families evaluated in full since the last snapshot.
    stale_families: BTreeSet<EntityKind>,
    /// Whether leader pods, node pools or nodes' labels changed since.
    stale_scheduling: bool,
    /// When every entity's up-ness was last evaluated in full.
    last_full: Option<Timestamp>,
}

/// How often an aggregation evaluates every entity's up-ness again, the
/// safety net behind the evaluation of each change as it arrives (as a
/// controller's resync). The aggregations in between bring every summary up
/// to date and evaluate only what changed: at 65,536 nodes the full
/// evaluation was a third of the monitor's CPU under churn.
pub const FULL_EVALUATION_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// An interruption or a recovery just recorded, with the entity's labels:
/// what the time-to-recover and time-between-interruptions histograms
/// observe.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetEpisode {
    pub kind: EntityKind,
    pub episode: Episode,
    pub attrs: Arc<Attrs>,
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
            last: None,
            stale: BTreeMap::new(),
            stale_families: BTreeSet::new(),
            stale_scheduling: true,
            last_full: None,
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
        // A GKE poll is a complete list, but after the first it is folded in
        // as what changed: the pools it touched (usually none).
        let complete = update.is_complete()
            && !(source == Source::NodePools && self.synced.contains(&Source::NodePools));
        let touched = match update {
            Update::JobSets(c) => self.idx.apply_jobsets(c, &mut self.warnings),
            Update::Nodes(c) => self.idx.nodes.apply(c, at),
            Update::LeaderPods(c) => {
                if self.idx.leader_pods.apply(c) {
                    self.revision += 1;
                    self.stale_scheduling = true;
                }
                Touched::default()
            }
            Update::Slices(c) => self.idx.slices.apply(c),
            Update::LeaderWorkerSets(c) => self.idx.apply_lws(c, &mut self.warnings),
            Update::NodePools(pools) => {
                let touched = self.idx.node_pools.set(pools);
                if !touched.pools.is_empty() {
                    self.stale_scheduling = true;
                }
                touched
            }
        };
        if complete || touched.node_layout {
            self.stale_scheduling = true;
        }
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
    /// changed, drops its timeline if it is gone. Returns its up-ness at
    /// `at` while it exists (and its family has synced).
    fn observe(&mut self, family: &FamilyRule, key: &str, at: Timestamp) -> Option<Upness> {
        if !self.family_synced(family) {
            return None;
        }
        if !self.stale_families.contains(&family.kind) {
            self.stale
                .entry(family.kind)
                .or_default()
                .insert(key.to_string());
        }
        let upness = (family.upness)(&self.idx, key, at, &mut self.warnings);
        let threshold = self.idx.settings.unknown_count_threshold;
        let timelines = self.timelines.get_mut(&family.kind)?;
        let kind = family.kind.name();
        match upness {
            Some(mut u) => {
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
                let attrs_changed = timelines.set_attrs(key, &mut u.attrs);
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
                Some(u)
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
                None
            }
        }
    }

    /// Evaluates every entity of a family, and drops timelines of entities that
    /// no longer exist (stored history of deleted objects). Returns those
    /// that exist with their up-ness at `at`, by key.
    fn observe_family(&mut self, family: &FamilyRule, at: Timestamp) -> Vec<(String, Upness)> {
        self.stale_families.insert(family.kind);
        self.stale.remove(&family.kind);
        let mut keys: BTreeSet<String> = (family.keys)(&self.idx).into_iter().collect();
        if let Some(t) = self.timelines.get(&family.kind) {
            keys.extend(t.keys().map(str::to_string));
        }
        keys.into_iter()
            .filter_map(|key| {
                let upness = self.observe(family, &key, at)?;
                Some((key, upness))
            })
            .collect()
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

    /// Everything the fleet knows at `now`, every entity evaluated and
    /// summarised at `now`: O(entities). The aggregation takes one each
    /// interval.
    pub fn snapshot(&mut self, now: Timestamp) -> Snapshot {
        let families = (0..self.families.len())
            .map(|i| self.evaluated(self.families[i], now))
            .collect();
        self.taken(families, now)
    }

    /// A family's current entities, each evaluated and summarised at `now`.
    fn evaluated(&mut self, family: &'static FamilyRule, now: Timestamp) -> FamilySnapshot {
        let mut keys = (family.keys)(&self.idx);
        keys.sort();
        let timelines = self.timelines.get(&family.kind);
        let entities = keys
            .into_iter()
            .filter_map(|key| entity(family, &self.idx, timelines, &mut self.warnings, key, now))
            .map(Arc::new)
            .collect();
        FamilySnapshot {
            kind: family.kind,
            entities,
        }
    }

    /// The snapshot of `families` at `now`, remembered for
    /// [`Fleet::snapshot_changes`].
    fn taken(&mut self, families: Vec<FamilySnapshot>, now: Timestamp) -> Snapshot {
        let snapshot = Snapshot {
            taken_at: now,
            families,
            scheduling: Arc::new(self.scheduling()),
        };
        self.remember(&snapshot);
        snapshot
    }

    /// [`Fleet::observe_all`] and then [`Fleet::snapshot`] at `now`, each
    /// entity evaluated once for both (what the aggregation does each
    /// interval: evaluating a 65,536-node fleet twice was half of its cost).
    ///
    /// The full evaluation runs at most every [`FULL_EVALUATION_EVERY`];
    /// in between, this is [`Fleet::snapshot_changes`] with every entity's
    /// summary brought up to `now`.
    pub fn observe_all_and_snapshot(&mut self, now: Timestamp) -> Snapshot {
        let due = self.last.is_none()
            || self
                .last_full
                .is_none_or(|at| now.duration_since(at) >= FULL_EVALUATION_EVERY);
        self.expire_unknown(now);
        if !due {
            return self.resummarised(now);
        }
        self.last_full = Some(now);
        let mut families = Vec::with_capacity(self.families.len());
        for i in 0..self.families.len() {
            let family = self.families[i];
            if !self.family_synced(family) {
                families.push(self.evaluated(family, now));
                continue;
            }
            let observed = self.observe_family(family, now);
            // The snapshot shows the family's current entities only.
            let mut keys = (family.keys)(&self.idx);
            keys.sort();
            let timelines = self.timelines.get(&family.kind);
            let threshold = self.idx.settings.unknown_count_threshold;
            let entities = observed
                .into_iter()
                .filter(|(key, _)| keys.binary_search(key).is_ok())
                .map(|(key, upness)| Arc::new(summarised(timelines, key, upness, now, threshold)))
                .collect();
            families.push(FamilySnapshot {
                kind: family.kind,
                entities,
            });
        }
        self.taken(families, now)
    }

    /// The last snapshot with what changed since brought up to `now`: the
    /// entities re-evaluated since (and only those) evaluated and
    /// summarised at `now`, the others shared with the last snapshot as they
    /// were (their summaries as of the last full [`Fleet::snapshot`], at most
    /// an aggregation interval old); scheduling worked out again only if
    /// leader pods, node pools or nodes changed. Cost: O(changed entities ·
    /// log entities), plus copying the pointers of the last snapshot.
    pub fn snapshot_changes(&mut self, now: Timestamp) -> Snapshot {
        let snapshot = self.changes(now);
        self.remember(&snapshot);
        snapshot
    }

    /// [`Fleet::snapshot_changes`], not yet remembered.
    fn changes(&mut self, now: Timestamp) -> Snapshot {
        let Some(last) = self.last.take() else {
            return self.snapshot(now);
        };
        if last.families.len() != self.families.len()
            || last
                .families
                .iter()
                .zip(&self.families)
                .any(|(f, rule)| f.kind != rule.kind)
        {
            return self.snapshot(now);
        }
        let mut families = Vec::with_capacity(self.families.len());
        for (family, previous) in self.families.iter().zip(last.families) {
            let timelines = self.timelines.get(&family.kind);
            let mut entities = previous.entities;
            let keys: Vec<String> = if self.stale_families.contains(&family.kind) {
                // Evaluated in full (a re-list): every current entity, and
                // those that are gone.
                let mut keys = (family.keys)(&self.idx);
                keys.extend(entities.iter().map(|e| e.key.clone()));
                keys.sort();
                keys.dedup();
                keys
            } else {
                self.stale
                    .remove(&family.kind)
                    .unwrap_or_default()
                    .into_iter()
                    .collect()
            };
            for key in keys {
                let at = entities.binary_search_by(|e| e.key.as_str().cmp(&key));
                match (
                    at,
                    entity(family, &self.idx, timelines, &mut self.warnings, key, now),
                ) {
                    (Ok(i), Some(e)) => entities[i] = Arc::new(e),
                    (Err(i), Some(e)) => entities.insert(i, Arc::new(e)),
                    (Ok(i), None) => {
                        entities.remove(i);
                    }
                    (Err(_), None) => {}
                }
            }
            families.push(FamilySnapshot {
                kind: family.kind,
                entities,
            });
        }
        let scheduling = if self.stale_scheduling {
            Arc::new(self.scheduling())
        } else {
            last.scheduling
        };
        Snapshot {
            taken_at: now,
            families,
            scheduling,
        }
    }

    /// [`Fleet::snapshot_changes`], then every entity's summary brought up
    /// to `now` (its up-ness stays as last evaluated: nothing changed it).
    fn resummarised(&mut self, now: Timestamp) -> Snapshot {
        let mut snapshot = self.changes(now);
        for family in &mut snapshot.families {
            let timelines = self.timelines.get(&family.kind);
            for e in &mut family.entities {
                let timeline = timelines.and_then(|t| t.get(&e.key));
                let summary = timeline.map(|t| t.summarize(now)).unwrap_or_default();
                if summary != e.summary {
                    Arc::make_mut(e).summary = summary;
                }
            }
        }
        self.remember(&snapshot);
        snapshot
    }

    /// Keeps `snapshot` as the base of the next one: nothing is stale.
    fn remember(&mut self, snapshot: &Snapshot) {
        self.last = Some(snapshot.clone());
        self.stale.clear();
        self.stale_families.clear();
        self.stale_scheduling = false;
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

/// One entity of `family` at `now`, summarised at `now`; `None` when it
/// does not exist.
fn entity(
    family: &FamilyRule,
    idx: &Indexes,
    timelines: Option<&Timelines>,
    warnings: &mut Warnings,
    key: String,
    now: Timestamp,
) -> Option<EntitySnapshot> {
    let upness = (family.upness)(idx, &key, now, warnings)?;
    Some(summarised(
        timelines,
        key,
        upness,
        now,
        idx.settings.unknown_count_threshold,
    ))
}

/// An entity with `upness`, its timeline summarised at `now`.
fn summarised(
    timelines: Option<&Timelines>,
    key: String,
    upness: Upness,
    now: Timestamp,
    threshold: f64,
) -> EntitySnapshot {
    let timeline = timelines.and_then(|t| t.get(&key));
    let mut upness = upness;
    // One copy of the labels per entity: its timeline's, when they are the same.
    // (`Arc<Attrs>`'s `==` compares pointers first.)
    if let Some(shared) = timeline.and_then(Timeline::shared_attrs)
        && *shared == upness.attrs
    {
        upness.attrs = shared.clone();
    }
    EntitySnapshot {
        up: upness.is_up(threshold),
        summary: timeline.map(|t| t.summarize(now)).unwrap_or_default(),
        causes: timeline.map(Timeline::causes).unwrap_or_default(),
        key,
        upness,
    }
}
