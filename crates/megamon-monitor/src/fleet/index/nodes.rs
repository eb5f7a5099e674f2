//! Nodes: readiness (SPEC §2.5), grouped by node pool and by the JobSet the
//! TPU provisioner made them for, with the times Unknown nodes stop counting.
//!
//! Sized for 65,536 nodes: a node is its name, a pointer to its label set
//! (one shared copy per distinct set: the nodes of a pool share theirs) and
//! its readiness. A list is built aside page by page and swapped in whole
//! when it completes, so no list is ever held twice.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use megamon_core::cause::{DownNode, Why, explain_nodes};
use megamon_core::entity::blocks::BlockLabels;
use megamon_core::entity::node::{NodeFacts, NodeLabels, NodeObject, Readiness, ReadyCondition};
use megamon_core::upness::Counts;

use super::Touched;
use crate::fleet::Change;

#[derive(Debug)]
pub(crate) struct NodeIndex {
    grace: Duration,
    live: Nodes,
    /// A list in progress, swapped in when it completes.
    staged: Option<Nodes>,
    label_sets: LabelSets,
}

/// Hash maps keyed by node, pool and JobSet names. Counting a pool's or a
/// JobSet's ready nodes looks each of them up by name: with SipHash that was
/// a tenth of the monitor's CPU under churn at 65,536 nodes.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// One consistent set of nodes and its side indexes.
#[derive(Debug, Default)]
struct Nodes {
    nodes: HashSet<ByName, foldhash::fast::RandomState>,
    /// Pool name → its TPU nodes.
    pool_members: HashMap<String, Names>,
    /// JobSet namespace → name → the nodes provisioned for it.
    jobset_members: HashMap<String, HashMap<String, Names>>,
    /// When each Unknown node stops counting as unknown: (time, node).
    unknown_expiries: BTreeSet<(Timestamp, Arc<str>)>,
}

/// A node in the index, hashed and compared by its name, so that the name is
/// not stored twice (as the key and in the facts): 16 bytes less per bucket,
/// 2 MB at 65,536 nodes (131,072 buckets).
#[derive(Debug)]
struct ByName(NodeFacts);

impl std::borrow::Borrow<str> for ByName {
    fn borrow(&self) -> &str {
        &self.0.name
    }
}

impl std::hash::Hash for ByName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `str` hashes, so that lookups by `&str` find it.
        (*self.0.name).hash(state);
    }
}

impl PartialEq for ByName {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for ByName {}

/// A sorted set of node names. A pool's 16 names in a `BTreeSet` took about
/// 600 bytes, in a vector 256 (5.4 → 2 MB for 4,096 pools and their
/// JobSets); inserting into a pool of thousands is a short `memmove`.
#[derive(Debug, Default)]
struct Names(Vec<Arc<str>>);

impl Names {
    fn insert(&mut self, name: Arc<str>) {
        if let Err(at) = self.find(&name) {
            self.0.insert(at, name);
        }
    }

    fn remove(&mut self, name: &str) {
        if let Ok(at) = self.find(name) {
            self.0.remove(at);
        }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|n| (**n).cmp(name))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Names {
    type Item = &'a Arc<str>;
    type IntoIter = std::slice::Iter<'a, Arc<str>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One shared copy of each distinct label set.
#[derive(Debug, Default)]
struct LabelSets {
    sets: HashSet<Arc<NodeLabels>>,
    /// How many sets were left by the last pruning.
    after_prune: usize,
}

impl LabelSets {
    fn share(&mut self, labels: NodeLabels) -> Arc<NodeLabels> {
        if let Some(shared) = self.sets.get(&labels) {
            return shared.clone();
        }
        let shared = Arc::new(labels);
        self.sets.insert(shared.clone());
        // Sets of deleted nodes (pools and JobSets come and go) are dropped
        // once as many again have been added: amortised O(1), bounded memory.
        if self.sets.len() > 2 * self.after_prune.max(32) {
            self.prune();
        }
        shared
    }

    /// Drops the sets no node uses any more.
    fn prune(&mut self) {
        self.sets.retain(|s| Arc::strong_count(s) > 1);
        self.after_prune = self.sets.len();
    }
}

impl NodeIndex {
    pub fn new(grace: Duration) -> Self {
        NodeIndex {
            grace,
            live: Nodes::default(),
            staged: None,
            label_sets: LabelSets::default(),
        }
    }

    /// Folds a change in, observed at `at`; returns the pools and JobSets
    /// whose nodes changed (nothing for a list: the fleet re-evaluates every
    /// family that depends on nodes when it completes).
    pub fn apply(&mut self, change: Change<NodeObject>, at: Timestamp) -> Touched {
        let mut touched = Touched::default();
        match change {
            Change::Apply(node) => {
                let previous = self.live.remove(&node.name, self.grace);
                add_touched(&mut touched, previous.as_ref());
                let facts = self.facts(node, previous.as_ref().map(|p| p.ready), at);
                add_touched(&mut touched, Some(&facts));
                // Label sets are shared: the same labels are the same set.
                touched.node_layout = previous
                    .as_ref()
                    .is_none_or(|p| !Arc::ptr_eq(&p.labels, &facts.labels));
                self.live.insert(facts, self.grace);
            }
            Change::Delete(name) => {
                let previous = self.live.remove(&name, self.grace);
                touched.node_layout = previous.is_some();
                add_touched(&mut touched, previous.as_ref());
            }
            Change::Listing => self.staged = Some(Nodes::default()),
            Change::Listed(part) => self.stage(part, at),
            Change::Reset(rest) => {
                self.stage(rest, at);
                self.live = self.staged.take().unwrap_or_default();
                self.label_sets.prune();
            }
        }
        touched
    }

    /// Adds listed nodes to the list in progress. A node's readiness carries
    /// over from the live index (an Unknown without a time keeps its first sighting).
    fn stage(&mut self, part: Vec<NodeObject>, at: Timestamp) {
        let mut staged = self.staged.take().unwrap_or_default();
        for node in part {
            let previous = self.live.get(node.name.as_str()).map(|p| p.ready);
            let facts = self.facts(node, previous, at);
            staged.insert(facts, self.grace);
        }
        self.staged = Some(staged);
    }

    fn facts(
        &mut self,
        node: NodeObject,
        previous: Option<ReadyCondition>,
        at: Timestamp,
    ) -> NodeFacts {
        NodeFacts {
            name: node.name.into(),
            labels: self.label_sets.share(node.labels),
            ready: ReadyCondition::observe(node.ready, previous, at),
            signals: node.signals,
        }
    }

    pub fn get(&self, name: &str) -> Option<&NodeFacts> {
        self.live.get(name)
    }

    /// The next time a node's Unknown grace period ends.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.live.unknown_expiries.first().map(|(t, _)| *t)
    }

    /// Takes the next grace period that ended by `now`: when it ended and
    /// what that touches.
    pub fn pop_expired(&mut self, now: Timestamp) -> Option<(Timestamp, Touched)> {
        let (when, name) = self.live.unknown_expiries.first().cloned()?;
        if when > now {
            return None;
        }
        self.live.unknown_expiries.remove(&(when, name.clone()));
        let mut touched = Touched::default();
        add_touched(&mut touched, self.live.get(&name));
        Some((when, touched))
    }

    fn counts<'a>(&self, names: impl IntoIterator<Item = &'a Arc<str>>, now: Timestamp) -> Counts {
        let mut counts = Counts::default();
        for name in names {
            match self
                .live
                .get(name)
                .map(|n| n.ready.readiness(now, self.grace))
            {
                Some(Readiness::Ready) => counts.ready += 1,
                Some(Readiness::Unknown) => counts.unknown += 1,
                Some(Readiness::NotReady) | None => {}
            }
        }
        counts
    }

    /// Readiness of a pool's TPU nodes at `now`.
    pub fn pool_counts(&self, pool: &str, now: Timestamp) -> Counts {
        self.counts(self.live.pool_members.get(pool).into_iter().flatten(), now)
    }

    /// Readiness of the nodes provisioned for a JobSet at `now`.
    pub fn jobset_counts(&self, namespace: &str, name: &str, now: Timestamp) -> Counts {
        let members = self
            .live
            .jobset_members
            .get(namespace)
            .and_then(|names| names.get(name));
        self.counts(members.into_iter().flatten(), now)
    }

    /// Why an entity whose nodes are `names` is down, from those nodes (see
    /// [`explain_nodes`]); `expected` nodes when their number is known, so
    /// that the missing ones count as deleted.
    pub fn explain<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        expected: Option<u64>,
        spot: bool,
        now: Timestamp,
    ) -> Option<Why> {
        let mut present = 0u64;
        let mut down = Vec::new();
        for name in names {
            let Some(node) = self.live.get(name) else {
                continue;
            };
            present += 1;
            if node.ready.readiness(now, self.grace) == Readiness::Ready {
                continue;
            }
            // The cause follows what the node reports: an Unknown past its
            // grace period counts as not ready, but it is still the kubelet
            // gone silent, not a node that said it is not ready.
            let unknown = node.ready != ReadyCondition::False;
            down.push(DownNode {
                name: &node.name,
                unknown,
                signals: node.signals,
            });
        }
        explain_nodes(down, present, expected.unwrap_or(present), spot)
    }

    /// The names of a pool's TPU nodes.
    pub fn pool_member_names(&self, pool: &str) -> impl Iterator<Item = &str> {
        self.live
            .pool_members
            .get(pool)
            .into_iter()
            .flatten()
            .map(|n| &**n)
    }

    /// The names of the nodes provisioned for a JobSet.
    pub fn jobset_member_names(&self, namespace: &str, name: &str) -> Vec<&str> {
        self.live
            .jobset_members
            .get(namespace)
            .and_then(|names| names.get(name))
            .into_iter()
            .flatten()
            .map(|n| &**n)
            .collect()
    }

    /// A pool's TPU nodes, by name.
    pub fn pool_members(&self, pool: &str) -> impl Iterator<Item = &NodeFacts> {
        self.live
            .pool_members
            .get(pool)
            .into_iter()
            .flatten()
            .filter_map(|n| self.live.get(n))
    }

    /// Pools that have TPU nodes, sorted.
    pub fn pools_with_nodes(&self) -> Vec<String> {
        let mut names: Vec<String> = self.live.pool_members.keys().cloned().collect();
        names.sort();
        names
    }

    /// The block labels of a pool's TPU nodes (SPEC §2.7). Nodes that share
    /// one label set agree without a vote, as the nodes of a pool normally do.
    pub fn pool_blocks(&self, pool: &str) -> BlockLabels {
        let mut members = self.pool_members(pool);
        let Some(first) = members.next() else {
            return BlockLabels::default();
        };
        if members.all(|n| Arc::ptr_eq(&n.labels, &first.labels)) {
            return first.blocks().cloned().unwrap_or_default();
        }
        BlockLabels::consensus(self.pool_members(pool).filter_map(|n| n.blocks()))
    }

    /// The block labels of these nodes (SPEC §2.7).
    pub fn blocks<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> BlockLabels {
        BlockLabels::consensus(names.into_iter().filter_map(|n| self.live.get(n)?.blocks()))
    }
}

impl Nodes {
    fn insert(&mut self, facts: NodeFacts, grace: Duration) {
        if let (Some(pool), true) = (facts.node_pool(), facts.is_tpu()) {
            self.pool_members
                .entry(pool.to_string())
                .or_default()
                .insert(facts.name.clone());
        }
        if let Some((namespace, name)) = facts.jobset() {
            self.jobset_members
                .entry(namespace.to_string())
                .or_default()
                .entry(name.to_string())
                .or_default()
                .insert(facts.name.clone());
        }
        if let Some(when) = facts.ready.expires_at(grace) {
            self.unknown_expiries.insert((when, facts.name.clone()));
        }
        // A node listed twice replaces its first listing.
        if let Some(ByName(old)) = self.nodes.replace(ByName(facts)) {
            self.unlink(&old, grace);
        }
    }

    fn get(&self, name: &str) -> Option<&NodeFacts> {
        self.nodes.get(name).map(|n| &n.0)
    }

    fn remove(&mut self, name: &str, grace: Duration) -> Option<NodeFacts> {
        let ByName(facts) = self.nodes.take(name)?;
        self.unlink(&facts, grace);
        Some(facts)
    }

    /// Removes a node's entries from the side indexes, unless the node now
    /// in `nodes` under its name (a replacement) needs the same ones.
    fn unlink(&mut self, old: &NodeFacts, grace: Duration) {
        let current = self.nodes.get(&*old.name).map(|n| &n.0);
        let name = &old.name;
        if let Some(pool) = old.node_pool()
            && current.is_none_or(|c| !(c.is_tpu() && c.node_pool() == Some(pool)))
            && let Some(members) = self.pool_members.get_mut(pool)
        {
            members.remove(name);
            if members.is_empty() {
                self.pool_members.remove(pool);
            }
        }
        if let Some((namespace, js)) = old.jobset()
            && current.is_none_or(|c| c.jobset() != Some((namespace, js)))
            && let Some(names) = self.jobset_members.get_mut(namespace)
        {
            if let Some(members) = names.get_mut(js) {
                members.remove(name);
                if members.is_empty() {
                    names.remove(js);
                }
            }
            if names.is_empty() {
                self.jobset_members.remove(namespace);
            }
        }
        if let Some(when) = old.ready.expires_at(grace)
            && current.is_none_or(|c| c.ready.expires_at(grace) != Some(when))
        {
            self.unknown_expiries.remove(&(when, name.clone()));
        }
    }
}

fn add_touched(touched: &mut Touched, node: Option<&NodeFacts>) {
    let Some(node) = node else { return };
    if let Some(pool) = node.node_pool() {
        touched.pools.insert(pool.to_string());
    }
    if let Some((namespace, name)) = node.jobset() {
        touched
            .jobset_names
            .insert((namespace.to_string(), name.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use megamon_core::entity::node::ReadyStatus;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).expect("valid")
    }

    fn node(name: &str, pool: &str, ready: Option<ReadyStatus>) -> NodeObject {
        NodeObject {
            name: name.into(),
            resource_version: None,
            labels: NodeLabels {
                node_pool: Some(pool.into()),
                tpu_topology: Some("4x4".into()),
                jobset_namespace: Some("ns".into()),
                jobset_name: Some(format!("js-{pool}")),
                ..NodeLabels::default()
            },
            signals: Default::default(),
            ready,
        }
    }

    const UNKNOWN: Option<ReadyStatus> = Some(ReadyStatus::Unknown { since: None });
    const READY: Option<ReadyStatus> = Some(ReadyStatus::True);
    const GRACE: Duration = Duration::from_secs(180);

    #[test]
    fn a_list_in_progress_is_invisible_until_it_completes() {
        let mut idx = NodeIndex::new(GRACE);
        idx.apply(Change::Reset(vec![node("old", "a", READY)]), t(0));
        idx.apply(Change::Listing, t(1));
        idx.apply(Change::Listed(vec![node("n1", "a", READY)]), t(1));
        idx.apply(Change::Listed(vec![node("n2", "b", UNKNOWN)]), t(2));
        // Still the old list.
        assert!(idx.get("old").is_some());
        assert!(idx.get("n1").is_none());
        assert_eq!(idx.pools_with_nodes(), ["a"]);
        assert_eq!(idx.next_expiry(), None);
        idx.apply(Change::Reset(vec![node("n3", "b", READY)]), t(3));
        assert!(idx.get("old").is_none());
        assert_eq!(idx.pools_with_nodes(), ["a", "b"]);
        assert_eq!(
            idx.pool_counts("b", t(3)),
            Counts {
                ready: 1,
                unknown: 1
            }
        );
        assert_eq!(idx.jobset_counts("ns", "js-a", t(3)).ready, 1);
        // n2 was staged at t(2): that is when it was first seen Unknown.
        assert_eq!(idx.next_expiry(), Some(t(2) + GRACE));
    }

    #[test]
    fn a_list_that_starts_over_drops_what_it_staged() {
        let mut idx = NodeIndex::new(GRACE);
        idx.apply(Change::Listing, t(0));
        idx.apply(Change::Listed(vec![node("n1", "a", READY)]), t(0));
        idx.apply(Change::Listing, t(1));
        idx.apply(Change::Reset(vec![node("n2", "a", READY)]), t(1));
        assert!(idx.get("n1").is_none());
        assert_eq!(idx.pool_members("a").count(), 1);
    }

    #[test]
    fn an_unknown_node_relisted_keeps_its_first_sighting() {
        let mut idx = NodeIndex::new(GRACE);
        idx.apply(Change::Apply(node("n1", "a", UNKNOWN)), t(10));
        idx.apply(Change::Listing, t(50));
        idx.apply(Change::Reset(vec![node("n1", "a", UNKNOWN)]), t(60));
        assert_eq!(idx.next_expiry(), Some(t(10) + GRACE));
    }

    #[test]
    fn nodes_of_a_pool_share_one_label_set() {
        let mut idx = NodeIndex::new(GRACE);
        let nodes = (0..16)
            .map(|i| node(&format!("n{i}"), "a", READY))
            .collect();
        idx.apply(Change::Reset(nodes), t(0));
        let first = &idx.get("n0").expect("n0").labels;
        assert!(
            (1..16).all(|i| Arc::ptr_eq(first, &idx.get(&format!("n{i}")).expect("node").labels))
        );
        assert_eq!(idx.label_sets.sets.len(), 1);
        // Gone with its last node (at the next pruning).
        idx.apply(Change::Reset(vec![node("m", "b", READY)]), t(1));
        assert_eq!(idx.label_sets.sets.len(), 1);
    }

    #[test]
    fn pool_blocks_are_the_shared_set_or_the_vote() {
        let mut idx = NodeIndex::new(GRACE);
        let blocked = |name: &str, block: &str| {
            let mut n = node(name, "a", READY);
            n.labels.blocks.block_id = block.into();
            n
        };
        idx.apply(
            Change::Reset(vec![blocked("n1", "b1"), blocked("n2", "b1")]),
            t(0),
        );
        assert_eq!(idx.pool_blocks("a").block_id, "b1");
        idx.apply(Change::Apply(blocked("n3", "b2")), t(1));
        idx.apply(Change::Apply(blocked("n4", "b2")), t(1));
        idx.apply(Change::Apply(blocked("n5", "b2")), t(1));
        assert_eq!(idx.pool_blocks("a").block_id, "b2", "the majority");
        assert_eq!(idx.pool_blocks("none"), BlockLabels::default());
    }

    #[test]
    fn moving_a_node_updates_every_side_index() {
        let mut idx = NodeIndex::new(GRACE);
        idx.apply(Change::Apply(node("n1", "a", UNKNOWN)), t(0));
        let touched = idx.apply(Change::Apply(node("n1", "b", READY)), t(1));
        assert_eq!(touched.pools.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(idx.pools_with_nodes(), ["b"]);
        assert_eq!(idx.jobset_counts("ns", "js-a", t(1)), Counts::default());
        assert_eq!(idx.next_expiry(), None);
        idx.apply(Change::Delete("n1".into()), t(2));
        assert!(idx.pools_with_nodes().is_empty());
        assert!(idx.live.jobset_members.is_empty());
        // A node listed twice in one list counts once.
        idx.apply(
            Change::Reset(vec![node("n1", "a", UNKNOWN), node("n1", "a", READY)]),
            t(3),
        );
        assert_eq!(
            idx.pool_counts("a", t(3)),
            Counts {
                ready: 1,
                unknown: 0
            }
        );
        assert_eq!(idx.next_expiry(), None);
    }
}
