//! The fleet: small indexes of what the watches reported, and the timelines
//! they drive.
//!
//! Watches and polls feed [`Change`]s through `apply_*` (apply / delete / reset;
//! a re-list is a reset). Each change is stamped with the time it arrived, and
//! the entities it touches are re-evaluated at that time, so a transition is
//! recorded exactly when the event that caused it was seen (SPEC §3). A family
//! is evaluated only once all of its sources have been listed: before that, an
//! empty index would look like an outage.
//!
//! Only the fields the rules read are kept (`*Facts`), never whole objects.

mod scheduling;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use megamon_core::entity::jobset::JobSetFacts;
use megamon_core::entity::node::{NodeFacts, NodeObject, Readiness};
use megamon_core::entity::nodepool::{NodePoolFacts, simulated_pools};
use megamon_core::entity::slice::SliceFacts;
use megamon_core::upness::Counts;
use megamon_core::{EntityKind, EntitySnapshot, FamilySnapshot, Snapshot, Timelines, Upness};

pub use scheduling::{JobPlacement, LeaderPod};

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
    /// The GKE API's complete list of node pools.
    NodePools(Vec<NodePoolFacts>),
}

/// How the fleet evaluates up-ness.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub unknown_count_threshold: f64,
    pub node_unknown_grace: Duration,
    /// Slices replace the JobSet-nodes family (SPEC §2.2, §2.4).
    pub slice_enabled: bool,
    /// Simulation mode: node pools are inferred from node labels (SPEC §5).
    pub simulated_pools: bool,
}

/// The sources a family's up-ness depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    JobSets,
    Nodes,
    LeaderPods,
    Slices,
    NodePools,
}

/// The fleet's state: indexes plus one timeline set per family.
#[derive(Debug)]
pub struct Fleet {
    settings: FleetSettings,
    jobsets: HashMap<String, JobSetFacts>,
    /// (namespace, name) → uid, to find a JobSet from its nodes' labels.
    jobset_uids: HashMap<(String, String), String>,
    nodes: HashMap<String, NodeFacts>,
    /// Pool name → its TPU nodes.
    pool_nodes: HashMap<String, BTreeSet<String>>,
    /// (namespace, name) of a JobSet → the nodes provisioned for it.
    jobset_nodes: HashMap<(String, String), BTreeSet<String>>,
    /// From the GKE API (empty in simulation mode, where pools are inferred).
    pools: BTreeMap<String, NodePoolFacts>,
    slices: HashMap<String, SliceFacts>,
    leader_pods: BTreeMap<String, LeaderPod>,
    timelines: BTreeMap<EntityKind, Timelines>,
    dirty: BTreeSet<EntityKind>,
    synced: HashSet<Source>,
    /// When each Unknown node stops counting as unknown: (time, node).
    unknown_expiries: BTreeSet<(Timestamp, String)>,
    /// Problems already logged, so a bad pool is reported once, not per event.
    warned: HashSet<String>,
    transitions: u64,
    /// Bumped by every change a snapshot would show (transitions, entities
    /// appearing or going, scheduling), so the engine knows when to publish.
    revision: u64,
}

impl Fleet {
    /// A fleet that continues the stored `history` (entities no longer in the
    /// cluster are dropped once their family has synced).
    pub fn new(settings: FleetSettings, history: BTreeMap<EntityKind, Timelines>) -> Self {
        let mut fleet = Fleet {
            settings,
            jobsets: HashMap::new(),
            jobset_uids: HashMap::new(),
            nodes: HashMap::new(),
            pool_nodes: HashMap::new(),
            jobset_nodes: HashMap::new(),
            pools: BTreeMap::new(),
            slices: HashMap::new(),
            leader_pods: BTreeMap::new(),
            timelines: history,
            dirty: BTreeSet::new(),
            synced: HashSet::new(),
            unknown_expiries: BTreeSet::new(),
            warned: HashSet::new(),
            transitions: 0,
            revision: 0,
        };
        for kind in fleet.families() {
            fleet.timelines.entry(kind).or_default();
        }
        // A family that is switched off keeps no timelines (and its file is
        // left as it is in the store).
        let active = fleet.families();
        fleet.timelines.retain(|k, _| active.contains(k));
        fleet
    }

    pub fn settings(&self) -> &FleetSettings {
        &self.settings
    }

    /// The families this configuration publishes.
    pub fn families(&self) -> Vec<EntityKind> {
        let mut kinds = vec![EntityKind::JobSets];
        if !self.settings.slice_enabled {
            kinds.push(EntityKind::JobSetNodes);
        }
        kinds.push(EntityKind::NodePools);
        if self.settings.slice_enabled {
            kinds.push(EntityKind::Slices);
        }
        kinds
    }

    /// The watches that must have listed before the first aggregation. The
    /// GKE API is not one of them: while it fails, the other families go on
    /// and node pools wait for its first answer.
    pub fn required_sources(&self) -> Vec<Source> {
        let mut sources = vec![Source::JobSets, Source::Nodes, Source::LeaderPods];
        if self.settings.slice_enabled {
            sources.push(Source::Slices);
        }
        sources
    }

    fn family_sources(&self, kind: EntityKind) -> &'static [Source] {
        match kind {
            EntityKind::JobSets => &[Source::JobSets],
            EntityKind::JobSetNodes => &[Source::JobSets, Source::Nodes],
            EntityKind::NodePools if self.settings.simulated_pools => &[Source::Nodes],
            EntityKind::NodePools => &[Source::NodePools, Source::Nodes],
            EntityKind::Slices => &[Source::Slices],
        }
    }

    fn family_synced(&self, kind: EntityKind) -> bool {
        self.family_sources(kind)
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

    /// Records that `source` has been listed; returns whether this completed a
    /// family (which is then evaluated in full at `at`).
    fn mark_synced(&mut self, source: Source, at: Timestamp) {
        let before: Vec<bool> = self
            .families()
            .iter()
            .map(|k| self.family_synced(*k))
            .collect();
        self.synced.insert(source);
        for (kind, was) in self.families().into_iter().zip(before) {
            if !was && self.family_synced(kind) {
                self.observe_family(kind, at);
            }
        }
    }

    /// Folds one update in, stamped with the time it arrived.
    pub fn apply(&mut self, update: Update, at: Timestamp) {
        match update {
            Update::JobSets(c) => self.apply_jobsets(c, at),
            Update::Nodes(c) => self.apply_nodes(c, at),
            Update::LeaderPods(c) => self.apply_leader_pods(c, at),
            Update::Slices(c) => self.apply_slices(c, at),
            Update::NodePools(pools) => self.set_node_pools(pools, at),
        }
    }

    // ---- JobSets ----------------------------------------------------------

    pub fn apply_jobsets(&mut self, change: Change<JobSetFacts>, at: Timestamp) {
        match change {
            Change::Apply(js) => {
                let uid = js.uid.clone();
                self.insert_jobset(js);
                self.observe_jobset(&uid, at);
            }
            Change::Delete(uid) => {
                if let Some(js) = self.jobsets.remove(&uid) {
                    let name = (js.namespace, js.name);
                    if self.jobset_uids.get(&name) == Some(&uid) {
                        self.jobset_uids.remove(&name);
                    }
                }
                self.observe_jobset(&uid, at);
            }
            Change::Reset(all) => {
                let mut touched: BTreeSet<String> = self.jobsets.keys().cloned().collect();
                self.jobsets.clear();
                self.jobset_uids.clear();
                for js in all {
                    touched.insert(js.uid.clone());
                    self.insert_jobset(js);
                }
                for uid in &touched {
                    self.observe_jobset(uid, at);
                }
                self.mark_synced(Source::JobSets, at);
            }
        }
    }

    fn insert_jobset(&mut self, js: JobSetFacts) {
        for problem in js.topology_errors() {
            self.warn_once(
                format!("jobset-topology/{}", js.uid),
                format_args!(
                    "JobSet {}/{}: {problem}; its chips are not counted",
                    js.namespace, js.name
                ),
            );
        }
        self.jobset_uids
            .insert((js.namespace.clone(), js.name.clone()), js.uid.clone());
        self.jobsets.insert(js.uid.clone(), js);
    }

    fn observe_jobset(&mut self, uid: &str, at: Timestamp) {
        self.observe(EntityKind::JobSets, uid, at);
        self.observe(EntityKind::JobSetNodes, uid, at);
    }

    // ---- Nodes ------------------------------------------------------------

    pub fn apply_nodes(&mut self, change: Change<NodeObject>, at: Timestamp) {
        match change {
            Change::Apply(node) => {
                let name = node.metadata.name.clone();
                let previous = self.remove_node(&name);
                let facts = NodeFacts::from_object(&node, previous.as_ref(), at);
                let mut touched = Touched::default();
                touched.add_node(previous.as_ref());
                touched.add_node(Some(&facts));
                self.insert_node(facts);
                self.observe_touched(touched, at);
            }
            Change::Delete(name) => {
                let previous = self.remove_node(&name);
                let mut touched = Touched::default();
                touched.add_node(previous.as_ref());
                self.observe_touched(touched, at);
            }
            Change::Reset(all) => {
                let mut previous = std::mem::take(&mut self.nodes);
                self.pool_nodes.clear();
                self.jobset_nodes.clear();
                self.unknown_expiries.clear();
                for node in all {
                    let before = previous.remove(&node.metadata.name);
                    let facts = NodeFacts::from_object(&node, before.as_ref(), at);
                    self.insert_node(facts);
                }
                if self.family_synced(EntityKind::NodePools) {
                    self.observe_family(EntityKind::NodePools, at);
                }
                if self.family_synced(EntityKind::JobSetNodes) {
                    self.observe_family(EntityKind::JobSetNodes, at);
                }
                self.mark_synced(Source::Nodes, at);
            }
        }
    }

    fn insert_node(&mut self, facts: NodeFacts) {
        if let (Some(pool), true) = (&facts.node_pool, facts.is_tpu()) {
            self.pool_nodes
                .entry(pool.clone())
                .or_default()
                .insert(facts.name.clone());
        }
        if let Some(js) = &facts.jobset {
            self.jobset_nodes
                .entry(js.clone())
                .or_default()
                .insert(facts.name.clone());
        }
        if let Some(when) = facts.ready.expires_at(self.settings.node_unknown_grace) {
            self.unknown_expiries.insert((when, facts.name.clone()));
        }
        self.nodes.insert(facts.name.clone(), facts);
    }

    fn remove_node(&mut self, name: &str) -> Option<NodeFacts> {
        let facts = self.nodes.remove(name)?;
        if let Some(pool) = &facts.node_pool {
            remove_member(&mut self.pool_nodes, pool, name);
        }
        if let Some(js) = &facts.jobset {
            remove_member(&mut self.jobset_nodes, js, name);
        }
        if let Some(when) = facts.ready.expires_at(self.settings.node_unknown_grace) {
            self.unknown_expiries.remove(&(when, name.to_string()));
        }
        Some(facts)
    }

    /// The next time a node's Unknown grace period ends.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.unknown_expiries.first().map(|(t, _)| *t)
    }

    /// Re-evaluates the entities of nodes whose Unknown grace period ended by
    /// `now`, each at the exact time it ended.
    pub fn expire_unknown(&mut self, now: Timestamp) {
        while let Some((when, name)) = self.unknown_expiries.first().cloned() {
            if when > now {
                break;
            }
            self.unknown_expiries.remove(&(when, name.clone()));
            let mut touched = Touched::default();
            touched.add_node(self.nodes.get(&name));
            self.observe_touched(touched, when);
        }
    }

    fn node_counts<'a>(
        &self,
        names: impl IntoIterator<Item = &'a String>,
        now: Timestamp,
    ) -> Counts {
        let grace = self.settings.node_unknown_grace;
        let mut counts = Counts::default();
        for name in names {
            match self.nodes.get(name).map(|n| n.ready.readiness(now, grace)) {
                Some(Readiness::Ready) => counts.ready += 1,
                Some(Readiness::Unknown) => counts.unknown += 1,
                Some(Readiness::NotReady) | None => {}
            }
        }
        counts
    }

    fn observe_touched(&mut self, touched: Touched, at: Timestamp) {
        for pool in touched.pools {
            self.observe(EntityKind::NodePools, &pool, at);
        }
        for js in touched.jobsets {
            if let Some(uid) = self.jobset_uids.get(&js).cloned() {
                self.observe(EntityKind::JobSetNodes, &uid, at);
            }
        }
    }

    // ---- Node pools -------------------------------------------------------

    /// The GKE API's current list of node pools (always complete).
    pub fn set_node_pools(&mut self, pools: Vec<NodePoolFacts>, at: Timestamp) {
        let mut touched: BTreeSet<String> = self.pools.keys().cloned().collect();
        self.pools = pools
            .into_iter()
            .filter(|p| p.is_tpu())
            .map(|p| (p.name.clone(), p))
            .collect();
        touched.extend(self.pools.keys().cloned());
        for pool in &touched {
            self.observe(EntityKind::NodePools, pool, at);
        }
        self.mark_synced(Source::NodePools, at);
    }

    /// The pool as the rules see it: from the API, or inferred in simulation.
    fn pool(&self, name: &str) -> Option<NodePoolFacts> {
        if self.settings.simulated_pools {
            let first = self.first_tpu_node(name)?;
            simulated_pools([first]).into_iter().next()
        } else {
            self.pools.get(name).cloned()
        }
    }

    fn pool_names(&self) -> Vec<String> {
        if self.settings.simulated_pools {
            let mut names: Vec<String> = self
                .pool_nodes
                .iter()
                .filter(|(_, members)| !members.is_empty())
                .map(|(k, _)| k.clone())
                .collect();
            names.sort();
            names
        } else {
            self.pools.keys().cloned().collect()
        }
    }

    fn first_tpu_node(&self, pool: &str) -> Option<&NodeFacts> {
        self.pool_nodes
            .get(pool)?
            .iter()
            .find_map(|n| self.nodes.get(n))
    }

    // ---- Slices -----------------------------------------------------------

    pub fn apply_slices(&mut self, change: Change<SliceFacts>, at: Timestamp) {
        match change {
            Change::Apply(slice) => {
                let name = slice.name.clone();
                self.slices.insert(name.clone(), slice);
                self.observe(EntityKind::Slices, &name, at);
            }
            Change::Delete(name) => {
                self.slices.remove(&name);
                self.observe(EntityKind::Slices, &name, at);
            }
            Change::Reset(all) => {
                let mut touched: BTreeSet<String> = self.slices.keys().cloned().collect();
                self.slices = all.into_iter().map(|s| (s.name.clone(), s)).collect();
                touched.extend(self.slices.keys().cloned());
                for name in &touched {
                    self.observe(EntityKind::Slices, name, at);
                }
                self.mark_synced(Source::Slices, at);
            }
        }
    }

    // ---- Leader pods (SPEC §2.6) ------------------------------------------

    pub fn apply_leader_pods(&mut self, change: Change<LeaderPod>, at: Timestamp) {
        match change {
            Change::Apply(pod) => {
                if self.leader_pods.get(&pod.key()) != Some(&pod) {
                    self.leader_pods.insert(pod.key(), pod);
                    self.revision += 1;
                }
            }
            Change::Delete(key) => {
                if self.leader_pods.remove(&key).is_some() {
                    self.revision += 1;
                }
            }
            Change::Reset(all) => {
                self.leader_pods = all.into_iter().map(|p| (p.key(), p)).collect();
                self.revision += 1;
                self.mark_synced(Source::LeaderPods, at);
            }
        }
    }

    // ---- Evaluation -------------------------------------------------------

    /// The current up-ness of an entity, or `None` if it does not exist.
    fn upness(&mut self, kind: EntityKind, key: &str, now: Timestamp) -> Option<Upness> {
        match kind {
            EntityKind::JobSets => self.jobsets.get(key).map(JobSetFacts::upness),
            EntityKind::JobSetNodes => {
                let js = self.jobsets.get(key)?;
                let members = self
                    .jobset_nodes
                    .get(&(js.namespace.clone(), js.name.clone()));
                let counts = self.node_counts(members.into_iter().flatten(), now);
                Some(js.nodes_upness(counts))
            }
            EntityKind::NodePools => {
                let pool = self.pool(key)?;
                let members = self.pool_nodes.get(key);
                let counts = self.node_counts(members.into_iter().flatten(), now);
                match pool.upness(counts, self.first_tpu_node(key)) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        self.warn_once(
                            format!("pool-size/{key}"),
                            format_args!("{e}; the pool is skipped"),
                        );
                        None
                    }
                }
            }
            EntityKind::Slices => self.slices.get(key).map(SliceFacts::upness),
        }
    }

    /// Re-evaluates one entity at `at`: records a transition if its up-ness
    /// changed, drops its timeline if it is gone.
    fn observe(&mut self, kind: EntityKind, key: &str, at: Timestamp) {
        if !self.timelines.contains_key(&kind) || !self.family_synced(kind) {
            return;
        }
        let upness = self.upness(kind, key, at);
        let threshold = self.settings.unknown_count_threshold;
        let Some(timelines) = self.timelines.get_mut(&kind) else {
            return;
        };
        match upness {
            Some(u) => {
                let observed = timelines.observe(key, u.is_up(threshold), u.expected_down, at);
                if observed.changed() {
                    self.transitions += 1;
                    self.revision += 1;
                    self.dirty.insert(kind);
                    tracing::info!(
                        family = kind.name(),
                        key,
                        up = u.is_up(threshold),
                        planned = u.expected_down,
                        ready = u.ready_count,
                        expected = u.expected_count,
                        unknown = u.unknown_count,
                        at = %at,
                        "transition"
                    );
                }
            }
            None => {
                if timelines.remove(key) {
                    self.revision += 1;
                    self.dirty.insert(kind);
                    tracing::info!(family = kind.name(), key, "entity gone; timeline deleted");
                }
            }
        }
    }

    /// Evaluates every entity of a family, and drops timelines of entities that
    /// no longer exist (stored history of deleted objects).
    fn observe_family(&mut self, kind: EntityKind, at: Timestamp) {
        let mut keys: BTreeSet<String> = self.entity_keys(kind).into_iter().collect();
        if let Some(t) = self.timelines.get(&kind) {
            keys.extend(t.keys().map(str::to_string));
        }
        for key in keys {
            self.observe(kind, &key, at);
        }
    }

    /// Evaluates everything at `now`: a safety net run each aggregation tick.
    pub fn observe_all(&mut self, now: Timestamp) {
        self.expire_unknown(now);
        for kind in self.families() {
            if self.family_synced(kind) {
                self.observe_family(kind, now);
            }
        }
    }

    fn entity_keys(&self, kind: EntityKind) -> Vec<String> {
        match kind {
            EntityKind::JobSets | EntityKind::JobSetNodes => self.jobsets.keys().cloned().collect(),
            EntityKind::NodePools => self.pool_names(),
            EntityKind::Slices => self.slices.keys().cloned().collect(),
        }
    }

    /// Everything the fleet knows at `now`, with summaries at `now`.
    pub fn snapshot(&mut self, now: Timestamp) -> Snapshot {
        let threshold = self.settings.unknown_count_threshold;
        let mut families = Vec::new();
        for kind in self.families() {
            let mut keys = self.entity_keys(kind);
            keys.sort();
            let mut entities = Vec::with_capacity(keys.len());
            for key in keys {
                let Some(upness) = self.upness(kind, &key, now) else {
                    continue;
                };
                let summary = self
                    .timelines
                    .get(&kind)
                    .and_then(|t| t.get(&key))
                    .map(|t| t.summarize(now))
                    .unwrap_or_default();
                entities.push(EntitySnapshot {
                    up: upness.is_up(threshold),
                    key,
                    upness,
                    summary,
                });
            }
            families.push(FamilySnapshot { kind, entities });
        }
        Snapshot {
            taken_at: now,
            families,
            scheduling: self.scheduling(),
        }
    }

    fn warn_once(&mut self, id: String, message: std::fmt::Arguments<'_>) {
        if self.warned.insert(id) {
            tracing::warn!("{message}");
        }
    }
}

/// The entities a node change touches.
#[derive(Default)]
struct Touched {
    pools: BTreeSet<String>,
    jobsets: BTreeSet<(String, String)>,
}

impl Touched {
    fn add_node(&mut self, node: Option<&NodeFacts>) {
        let Some(node) = node else { return };
        if let Some(pool) = &node.node_pool {
            self.pools.insert(pool.clone());
        }
        if let Some(js) = &node.jobset {
            self.jobsets.insert(js.clone());
        }
    }
}

fn remove_member<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, BTreeSet<String>>,
    key: &K,
    name: &str,
) {
    if let Some(members) = map.get_mut(key) {
        members.remove(name);
        if members.is_empty() {
            map.remove(key);
        }
    }
}
