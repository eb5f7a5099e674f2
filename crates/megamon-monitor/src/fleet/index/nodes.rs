//! Nodes: readiness (SPEC §2.5), grouped by node pool and by the JobSet the
//! TPU provisioner made them for, with the times Unknown nodes stop counting.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use megamon_core::cause::{DownNode, Why, explain_nodes};
use megamon_core::entity::blocks::BlockLabels;
use megamon_core::entity::node::{NodeFacts, NodeObject, Readiness, ReadyCondition};
use megamon_core::upness::Counts;

use super::Touched;
use crate::fleet::Change;

#[derive(Debug)]
pub(crate) struct NodeIndex {
    grace: Duration,
    nodes: HashMap<String, NodeFacts>,
    /// Pool name → its TPU nodes.
    pool_members: HashMap<String, BTreeSet<String>>,
    /// (namespace, name) of a JobSet → the nodes provisioned for it.
    jobset_members: HashMap<(String, String), BTreeSet<String>>,
    /// When each Unknown node stops counting as unknown: (time, node).
    unknown_expiries: BTreeSet<(Timestamp, String)>,
}

impl NodeIndex {
    pub fn new(grace: Duration) -> Self {
        NodeIndex {
            grace,
            nodes: HashMap::new(),
            pool_members: HashMap::new(),
            jobset_members: HashMap::new(),
            unknown_expiries: BTreeSet::new(),
        }
    }

    /// Folds a change in, observed at `at`; returns the pools and JobSets
    /// whose nodes changed (nothing for a reset: the fleet re-evaluates
    /// every family that depends on nodes then).
    pub fn apply(&mut self, change: Change<NodeObject>, at: Timestamp) -> Touched {
        let mut touched = Touched::default();
        match change {
            Change::Apply(node) => {
                let previous = self.remove(&node.metadata.name);
                let facts = NodeFacts::from_object(&node, previous.as_ref(), at);
                add_touched(&mut touched, previous.as_ref());
                add_touched(&mut touched, Some(&facts));
                self.insert(facts);
            }
            Change::Delete(name) => {
                let previous = self.remove(&name);
                add_touched(&mut touched, previous.as_ref());
            }
            Change::Reset(all) => {
                let mut previous = std::mem::take(&mut self.nodes);
                self.pool_members.clear();
                self.jobset_members.clear();
                self.unknown_expiries.clear();
                for node in all {
                    let before = previous.remove(&node.metadata.name);
                    let facts = NodeFacts::from_object(&node, before.as_ref(), at);
                    self.insert(facts);
                }
            }
        }
        touched
    }

    fn insert(&mut self, facts: NodeFacts) {
        if let (Some(pool), true) = (&facts.node_pool, facts.is_tpu()) {
            self.pool_members
                .entry(pool.clone())
                .or_default()
                .insert(facts.name.clone());
        }
        if let Some(js) = &facts.jobset {
            self.jobset_members
                .entry(js.clone())
                .or_default()
                .insert(facts.name.clone());
        }
        if let Some(when) = facts.ready.expires_at(self.grace) {
            self.unknown_expiries.insert((when, facts.name.clone()));
        }
        self.nodes.insert(facts.name.clone(), facts);
    }

    fn remove(&mut self, name: &str) -> Option<NodeFacts> {
        let facts = self.nodes.remove(name)?;
        if let Some(pool) = &facts.node_pool {
            remove_member(&mut self.pool_members, pool, name);
        }
        if let Some(js) = &facts.jobset {
            remove_member(&mut self.jobset_members, js, name);
        }
        if let Some(when) = facts.ready.expires_at(self.grace) {
            self.unknown_expiries.remove(&(when, name.to_string()));
        }
        Some(facts)
    }

    pub fn get(&self, name: &str) -> Option<&NodeFacts> {
        self.nodes.get(name)
    }

    /// The next time a node's Unknown grace period ends.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.unknown_expiries.first().map(|(t, _)| *t)
    }

    /// Takes the next grace period that ended by `now`: when it ended and
    /// what that touches.
    pub fn pop_expired(&mut self, now: Timestamp) -> Option<(Timestamp, Touched)> {
        let (when, name) = self.unknown_expiries.first().cloned()?;
        if when > now {
            return None;
        }
        self.unknown_expiries.remove(&(when, name.clone()));
        let mut touched = Touched::default();
        add_touched(&mut touched, self.nodes.get(&name));
        Some((when, touched))
    }

    fn counts<'a>(&self, names: impl IntoIterator<Item = &'a String>, now: Timestamp) -> Counts {
        let mut counts = Counts::default();
        for name in names {
            match self
                .nodes
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
        self.counts(self.pool_members.get(pool).into_iter().flatten(), now)
    }

    /// Readiness of the nodes provisioned for a JobSet at `now`.
    pub fn jobset_counts(&self, namespace: &str, name: &str, now: Timestamp) -> Counts {
        let key = (namespace.to_string(), name.to_string());
        self.counts(self.jobset_members.get(&key).into_iter().flatten(), now)
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
            let Some(node) = self.nodes.get(name) else {
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
        self.pool_members
            .get(pool)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// The names of the nodes provisioned for a JobSet.
    pub fn jobset_member_names(&self, namespace: &str, name: &str) -> Vec<&str> {
        let key = (namespace.to_string(), name.to_string());
        self.jobset_members
            .get(&key)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// A pool's TPU nodes, by name.
    pub fn pool_members(&self, pool: &str) -> impl Iterator<Item = &NodeFacts> {
        self.pool_members
            .get(pool)
            .into_iter()
            .flatten()
            .filter_map(|n| self.nodes.get(n))
    }

    /// Pools that have TPU nodes, sorted.
    pub fn pools_with_nodes(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pool_members.keys().cloned().collect();
        names.sort();
        names
    }

    /// The block labels of these nodes (SPEC §2.7).
    pub fn blocks<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> BlockLabels {
        BlockLabels::consensus(
            names
                .into_iter()
                .filter_map(|n| self.nodes.get(n)?.blocks.as_deref()),
        )
    }
}

fn add_touched(touched: &mut Touched, node: Option<&NodeFacts>) {
    let Some(node) = node else { return };
    if let Some(pool) = &node.node_pool {
        touched.pools.insert(pool.clone());
    }
    if let Some(js) = &node.jobset {
        touched.jobset_names.insert(js.clone());
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
