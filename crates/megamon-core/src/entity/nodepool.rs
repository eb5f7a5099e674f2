//! TPU node pools (SPEC §2.3) and their simulation-mode inference (SPEC §5).

use std::collections::BTreeMap;

use super::node::NodeFacts;
use crate::topology::{TopologyError, chips, chips_per_node};
use crate::upness::{Attrs, Counts, Upness};

/// The machine type simulation mode assumes for inferred pools.
pub const SIMULATED_MACHINE_TYPE: &str = "tpu7x-standard-4t";
/// The disk size (GB) simulation mode assumes for inferred pools.
pub const SIMULATED_DISK_SIZE_GB: u64 = 100;

/// What MegaMon keeps of a GKE node pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePoolFacts {
    pub name: String,
    /// `placementPolicy.tpuTopology`; empty for non-TPU pools.
    pub tpu_topology: String,
    pub machine_type: String,
    /// `status`, e.g. `RUNNING`, `STOPPING`, `DELETING`.
    pub status: String,
    pub spot: bool,
    /// `config.resourceLabels["goog-gke-accelerator-type"]`.
    pub accelerator: String,
}

/// Why a pool's size could not be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node pool {pool:?}: {source}")]
pub struct PoolSizeError {
    pub pool: String,
    #[source]
    pub source: TopologyError,
}

impl NodePoolFacts {
    /// Only pools with a TPU topology count.
    pub fn is_tpu(&self) -> bool {
        !self.tpu_topology.is_empty()
    }

    /// `STOPPING` and `DELETING` are planned: going down then is not an interruption.
    pub fn is_expected_down(&self) -> bool {
        matches!(self.status.as_str(), "STOPPING" | "DELETING")
    }

    /// `ERROR` and `RUNNING_WITH_ERROR` are failed (upstream v1.2.0).
    pub fn is_failed(&self) -> bool {
        matches!(self.status.as_str(), "ERROR" | "RUNNING_WITH_ERROR")
    }

    /// chips(topology) / chips-per-node(machine type).
    pub fn expected_nodes(&self) -> Result<u64, PoolSizeError> {
        let err = |source| PoolSizeError {
            pool: self.name.clone(),
            source,
        };
        let chips = chips(&self.tpu_topology).map_err(err)?;
        let per_node = chips_per_node(&self.machine_type).map_err(err)?;
        Ok(chips / per_node)
    }

    pub fn attrs(&self) -> Attrs {
        Attrs {
            node_pool_name: self.name.clone(),
            tpu_topology: self.tpu_topology.clone(),
            tpu_accelerator: self.accelerator.clone(),
            spot: self.spot,
            tpu_chip_count: chips(&self.tpu_topology).unwrap_or(0),
            ..Attrs::default()
        }
    }

    /// Up-ness from the pool's TPU nodes. When the pool's own size comes out as
    /// zero, `first_tpu_node` (the first TPU node of the pool) supplies it.
    pub fn upness(
        &self,
        nodes: Counts,
        first_tpu_node: Option<&NodeFacts>,
    ) -> Result<Upness, PoolSizeError> {
        let mut expected = self.expected_nodes()?;
        if let (0, Some(node)) = (expected, first_tpu_node) {
            expected = expected_nodes_from_labels(node).map_err(|source| PoolSizeError {
                pool: self.name.clone(),
                source,
            })?;
        }
        Ok(Upness {
            ready_count: nodes.ready,
            expected_count: expected,
            unknown_count: nodes.unknown,
            status: self.status.clone(),
            expected_down: self.is_expected_down(),
            failed: self.is_failed(),
            attrs: self.attrs().into(),
        })
    }
}

/// A pool's node count from a node's `gke-tpu-topology` and
/// `gke-accelerator-count` labels.
pub fn expected_nodes_from_labels(node: &NodeFacts) -> Result<u64, TopologyError> {
    let topology = node.tpu_topology().unwrap_or_default();
    let chips = chips(topology)?;
    let count = node.accelerator_count().unwrap_or_default();
    match count.parse::<u64>() {
        Ok(per_node) if per_node > 0 => Ok(chips / per_node),
        _ => Err(TopologyError::MachineType(format!(
            "accelerator count label {count:?} of node {:?}",
            node.name
        ))),
    }
}

/// Simulation mode: one pool per `cloud.google.com/gke-nodepool` value among TPU
/// nodes; topology, accelerator and spot from the first node (by name) of
/// each pool.
pub fn simulated_pools<'a>(nodes: impl IntoIterator<Item = &'a NodeFacts>) -> Vec<NodePoolFacts> {
    let mut first: BTreeMap<&str, &NodeFacts> = BTreeMap::new();
    for node in nodes {
        let (Some(pool), true) = (node.node_pool(), node.is_tpu()) else {
            continue;
        };
        let entry = first.entry(pool).or_insert(node);
        if node.name < entry.name {
            *entry = node;
        }
    }
    first
        .into_iter()
        .map(|(pool, node)| NodePoolFacts {
            name: pool.to_string(),
            tpu_topology: node.tpu_topology().unwrap_or_default().to_string(),
            machine_type: SIMULATED_MACHINE_TYPE.to_string(),
            status: "RUNNING".to_string(),
            spot: node.spot(),
            accelerator: node.tpu_accelerator().unwrap_or_default().to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::node::{NodeLabels, ReadyCondition};

    fn pool(topology: &str, machine: &str, status: &str) -> NodePoolFacts {
        NodePoolFacts {
            name: "p".into(),
            tpu_topology: topology.into(),
            machine_type: machine.into(),
            status: status.into(),
            spot: true,
            accelerator: "tpu-v5-lite-podslice".into(),
        }
    }

    fn node(name: &str, pool: &str, topology: Option<&str>, count: Option<&str>) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            labels: std::sync::Arc::new(NodeLabels {
                node_pool: Some(pool.into()),
                tpu_topology: topology.map(Into::into),
                tpu_accelerator: Some("tpu7x".into()),
                accelerator_count: count.map(Into::into),
                ..NodeLabels::default()
            }),
            ready: ReadyCondition::True,
            signals: Default::default(),
        }
    }

    #[test]
    fn expected_nodes_from_topology_and_machine_type() {
        assert_eq!(
            pool("16x16", "ct5lp-hightpu-4t", "RUNNING").expected_nodes(),
            Ok(64)
        );
        assert_eq!(
            pool("8x8x8", "tpu7x-standard-4t", "RUNNING").expected_nodes(),
            Ok(128)
        );
        assert_eq!(
            pool("2x4", "ct5p-hightpu-8t", "RUNNING").expected_nodes(),
            Ok(1)
        );
        assert!(
            pool("16x16", "n2-standard-8", "RUNNING")
                .expected_nodes()
                .is_err()
        );
        assert!(!pool("", "n2-standard-8", "RUNNING").is_tpu());
    }

    #[test]
    fn upness_and_attrs() {
        let p = pool("16x16", "ct5lp-hightpu-4t", "RUNNING");
        let u = p
            .upness(
                Counts {
                    ready: 58,
                    unknown: 6,
                },
                None,
            )
            .unwrap();
        assert_eq!(u.expected_count, 64);
        assert!(u.is_up(0.1));
        assert!(
            !p.upness(
                Counts {
                    ready: 54,
                    unknown: 10
                },
                None
            )
            .unwrap()
            .is_up(0.1)
        );
        assert_eq!(u.attrs.tpu_chip_count, 256);
        assert!(u.attrs.spot);
        assert_eq!(u.attrs.node_pool_name, "p");
        assert_eq!(u.status, "RUNNING");
    }

    #[test]
    fn stopping_and_deleting_are_planned() {
        for status in ["STOPPING", "DELETING"] {
            let u = pool("2x4", "ct5p-hightpu-8t", status)
                .upness(Counts::default(), None)
                .unwrap();
            assert!(u.expected_down, "{status}");
        }
        assert!(!pool("2x4", "ct5p-hightpu-8t", "ERROR").is_expected_down());
    }

    #[test]
    fn zero_size_falls_back_to_node_labels() {
        // 1x1 with 4 chips per node rounds down to zero nodes.
        let p = pool("1x1", "ct5lp-hightpu-4t", "RUNNING");
        let n = node("n", "p", Some("2x2"), Some("1"));
        let u = p
            .upness(
                Counts {
                    ready: 4,
                    unknown: 0,
                },
                Some(&n),
            )
            .unwrap();
        assert_eq!(u.expected_count, 4);
        let bad = node("n", "p", Some("2x2"), Some("zero"));
        assert!(p.upness(Counts::default(), Some(&bad)).is_err());
    }

    #[test]
    fn simulated_pools_are_inferred_from_tpu_nodes() {
        let nodes = [
            node("b-1", "pool-b", Some("4x4"), Some("4")),
            node("a-2", "pool-a", Some("2x4"), Some("4")),
            node("a-1", "pool-a", Some("2x4"), Some("4")),
            node("cpu", "default-pool", None, None),
        ];
        let pools = simulated_pools(&nodes);
        assert_eq!(pools.len(), 2);
        assert_eq!(pools[0].name, "pool-a");
        assert_eq!(pools[0].machine_type, "tpu7x-standard-4t");
        assert_eq!(pools[0].tpu_topology, "2x4");
        assert_eq!(pools[0].expected_nodes(), Ok(2));
        assert_eq!(pools[1].expected_nodes(), Ok(4));
    }
}
