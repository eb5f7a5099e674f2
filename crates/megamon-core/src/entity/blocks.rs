//! Block labels (upstream v1.2.0, SPEC §2.7): where in the data centre an
//! entity's nodes are, from four node labels.

use std::collections::BTreeMap;

use super::labels;
use crate::upness::Attrs;

/// A node's block labels; empty strings where a label is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BlockLabels {
    /// `cloud.google.com/gce-topology-block`.
    pub block_id: String,
    /// `cloud.google.com/gce-topology-subblock`.
    pub subblock_id: String,
    /// `cloud.google.com/reservation-blocks`.
    pub block_name: String,
    /// `cloud.google.com/reservation-subblocks`.
    pub subblock_name: String,
}

/// Which block labels a family's series carry (upstream v1.2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockScope {
    /// Node pools and `nodepool.job.scheduled`: all four.
    All,
    /// JobSets, slices and LeaderWorkerSets: `block_id` and `block_name`.
    BlockOnly,
}

impl BlockLabels {
    /// The labels of a node with `labels`; `None` when it has none of them.
    pub fn from_labels(node_labels: &BTreeMap<String, String>) -> Option<BlockLabels> {
        let get = |k: &str| node_labels.get(k).cloned().unwrap_or_default();
        let b = BlockLabels {
            block_id: get(labels::TOPOLOGY_BLOCK),
            subblock_id: get(labels::TOPOLOGY_SUBBLOCK),
            block_name: get(labels::RESERVATION_BLOCKS),
            subblock_name: get(labels::RESERVATION_SUBBLOCKS),
        };
        (b != BlockLabels::default()).then_some(b)
    }

    /// The labels of a group of nodes. Nodes of one pool or one workload
    /// normally agree; when they don't, each label independently takes the
    /// value most of the nodes that have it carry, ties going to the value
    /// that sorts first, so the result is stable whatever the order.
    pub fn consensus<'a>(nodes: impl IntoIterator<Item = &'a BlockLabels>) -> BlockLabels {
        let mut votes: [BTreeMap<&'a str, usize>; 4] = Default::default();
        for n in nodes {
            for (i, v) in n.values().into_iter().enumerate() {
                if !v.is_empty() {
                    *votes[i].entry(v).or_default() += 1;
                }
            }
        }
        let pick = |m: &BTreeMap<&str, usize>| {
            // max_by_key keeps the last maximum; iterate in reverse so the
            // first (smallest) value wins a tie.
            m.iter()
                .rev()
                .max_by_key(|(_, n)| **n)
                .map(|(v, _)| v.to_string())
                .unwrap_or_default()
        };
        BlockLabels {
            block_id: pick(&votes[0]),
            subblock_id: pick(&votes[1]),
            block_name: pick(&votes[2]),
            subblock_name: pick(&votes[3]),
        }
    }

    fn values(&self) -> [&str; 4] {
        [
            &self.block_id,
            &self.subblock_id,
            &self.block_name,
            &self.subblock_name,
        ]
    }

    /// Sets the labels `scope` allows on `attrs`.
    pub fn apply(&self, attrs: &mut Attrs, scope: BlockScope) {
        attrs.block_id = self.block_id.clone();
        attrs.block_name = self.block_name.clone();
        if scope == BlockScope::All {
            attrs.subblock_id = self.subblock_id.clone();
            attrs.subblock_name = self.subblock_name.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(id: &str, sub: &str) -> BlockLabels {
        BlockLabels {
            block_id: id.into(),
            subblock_id: sub.into(),
            ..BlockLabels::default()
        }
    }

    #[test]
    fn from_labels_reads_the_four_labels_and_none_without_them() {
        let mut l = BTreeMap::new();
        assert_eq!(BlockLabels::from_labels(&l), None);
        l.insert(labels::TOPOLOGY_BLOCK.to_string(), "b1".to_string());
        l.insert(
            labels::RESERVATION_SUBBLOCKS.to_string(),
            "r-sb".to_string(),
        );
        let got = BlockLabels::from_labels(&l).unwrap();
        assert_eq!(got.block_id, "b1");
        assert_eq!(got.subblock_name, "r-sb");
        assert_eq!(got.subblock_id, "");
    }

    #[test]
    fn consensus_is_the_majority_ties_to_the_smallest_and_ignores_missing() {
        let nodes = [b("b2", "s1"), b("b1", ""), b("b2", "s2"), b("", "s2")];
        let c = BlockLabels::consensus(&nodes);
        assert_eq!(c.block_id, "b2");
        assert_eq!(c.subblock_id, "s2");
        let tie = [b("b9", ""), b("b3", "")];
        assert_eq!(BlockLabels::consensus(&tie).block_id, "b3");
        let reversed = [b("b3", ""), b("b9", "")];
        assert_eq!(BlockLabels::consensus(&reversed).block_id, "b3");
        assert_eq!(BlockLabels::consensus([]), BlockLabels::default());
    }

    #[test]
    fn scope_limits_the_labels() {
        let labels = BlockLabels {
            block_id: "b".into(),
            subblock_id: "sb".into(),
            block_name: "n".into(),
            subblock_name: "sn".into(),
        };
        let mut a = Attrs::default();
        labels.apply(&mut a, BlockScope::BlockOnly);
        assert_eq!((a.block_id.as_str(), a.block_name.as_str()), ("b", "n"));
        assert_eq!((a.subblock_id.as_str(), a.subblock_name.as_str()), ("", ""));
        labels.apply(&mut a, BlockScope::All);
        assert_eq!(
            (a.subblock_id.as_str(), a.subblock_name.as_str()),
            ("sb", "sn")
        );
    }
}
