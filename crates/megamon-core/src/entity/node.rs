//! Node readiness (SPEC §2.5) and the node fields MegaMon keeps.

use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use super::blocks::BlockLabels;
use super::{Condition, ObjectMeta, labels};
use crate::cause::NodeSignals;

/// How long a node may be `Unknown` before it counts as not ready (SPEC §2.5).
pub const DEFAULT_UNKNOWN_GRACE: Duration = Duration::from_secs(180);

/// The fields of a core/v1 Node that MegaMon reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeObject {
    pub metadata: ObjectMeta,
    pub spec: NodeSpec,
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeSpec {
    pub taints: Vec<Taint>,
}

/// A taint's key and value (its effect does not matter here).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Taint {
    pub key: String,
    pub value: String,
}

/// The labels and taints GKE puts on a node that is about to go, or going,
/// away, and what they say (interruption causes).
pub mod signals {
    use super::Taint;
    use crate::cause::NodeSignals;

    /// Label: maintenance is scheduled for this time.
    pub const SCHEDULED_MAINTENANCE: &str = "cloud.google.com/scheduled-maintenance-time";
    /// Label (value `ONGOING`) and taint: maintenance is under way.
    pub const ACTIVE_MAINTENANCE: &str = "cloud.google.com/active-node-maintenance";
    /// Taint: the VM is being terminated (spot reclaim, shutdown).
    pub const IMPENDING_TERMINATION: &str = "cloud.google.com/impending-node-termination";

    /// What a node's labels (`label(key)`) and taints say.
    pub fn read<'a>(label: impl Fn(&str) -> Option<&'a str>, taints: &[Taint]) -> NodeSignals {
        let tainted = |key: &str| taints.iter().any(|t| t.key == key);
        NodeSignals {
            maintenance: label(SCHEDULED_MAINTENANCE).is_some()
                || label(ACTIVE_MAINTENANCE) == Some("ONGOING")
                || tainted(ACTIVE_MAINTENANCE),
            terminating: tainted(IMPENDING_TERMINATION),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeStatus {
    pub conditions: Vec<Condition>,
}

/// A node's `Ready` condition as MegaMon keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyCondition {
    True,
    False,
    /// `Unknown` since `since`: its `lastTransitionTime`, or when MegaMon first
    /// saw it Unknown if the time is missing.
    Unknown {
        since: Timestamp,
    },
    /// No `Ready` condition (a node still registering).
    Missing,
}

/// How a node counts towards its entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady,
    Unknown,
}

impl ReadyCondition {
    /// Reads the condition from a node seen at `observed_at`. `previous` is what
    /// was known of the same node, so that an Unknown without a transition time
    /// keeps the time it was first seen Unknown.
    pub fn from_conditions(
        conditions: &[Condition],
        previous: Option<ReadyCondition>,
        observed_at: Timestamp,
    ) -> ReadyCondition {
        let Some(ready) = conditions.iter().find(|c| c.type_ == "Ready") else {
            return ReadyCondition::Missing;
        };
        match ready.status.as_str() {
            "True" => ReadyCondition::True,
            "False" => ReadyCondition::False,
            _ => {
                let reported = ready
                    .last_transition_time
                    .as_deref()
                    .and_then(|t| t.parse::<Timestamp>().ok());
                let since = match (reported, previous) {
                    (Some(t), _) => t,
                    (None, Some(ReadyCondition::Unknown { since })) => since,
                    (None, _) => observed_at,
                };
                ReadyCondition::Unknown { since }
            }
        }
    }

    /// Readiness at `now`: Unknown turns into NotReady once it has lasted `grace`.
    pub fn readiness(self, now: Timestamp, grace: Duration) -> Readiness {
        match self {
            ReadyCondition::True => Readiness::Ready,
            ReadyCondition::False => Readiness::NotReady,
            ReadyCondition::Missing => Readiness::Unknown,
            ReadyCondition::Unknown { since } => {
                if crate::duration::elapsed(since, now) < grace {
                    Readiness::Unknown
                } else {
                    Readiness::NotReady
                }
            }
        }
    }

    /// When readiness will change by itself (an Unknown grace period ending),
    /// so that a caller can schedule a re-evaluation exactly then.
    pub fn expires_at(self, grace: Duration) -> Option<Timestamp> {
        match self {
            ReadyCondition::Unknown { since } => jiff::SignedDuration::try_from(grace)
                .ok()
                .and_then(|g| since.checked_add(g).ok()),
            _ => None,
        }
    }
}

/// What MegaMon keeps of a Node: a few labels and its readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    /// `cloud.google.com/gke-nodepool`.
    pub node_pool: Option<String>,
    /// `cloud.google.com/gke-tpu-topology`: present only on TPU nodes.
    pub tpu_topology: Option<String>,
    pub tpu_accelerator: Option<String>,
    /// `cloud.google.com/gke-accelerator-count`, unparsed.
    pub accelerator_count: Option<String>,
    /// The JobSet the TPU provisioner made this node for: (namespace, name).
    pub jobset: Option<(String, String)>,
    pub ready: ReadyCondition,
    /// Block labels, boxed: most nodes have none, and a node costs little.
    pub blocks: Option<Box<BlockLabels>>,
    /// Maintenance and termination (interruption causes).
    pub signals: NodeSignals,
    /// `cloud.google.com/gke-spot=true`: a spot VM (simulated pools take it).
    pub spot: bool,
}

impl NodeFacts {
    /// Extracts the facts of `node` observed at `observed_at`; `previous` is the
    /// same node's earlier facts, if any.
    pub fn from_object(
        node: &NodeObject,
        previous: Option<&NodeFacts>,
        observed_at: Timestamp,
    ) -> NodeFacts {
        let label = |k: &str| node.metadata.labels.get(k).cloned();
        let jobset = match (
            label(labels::PROVISIONER_JOBSET_NAMESPACE),
            label(labels::PROVISIONER_JOBSET_NAME),
        ) {
            (Some(ns), Some(name)) => Some((ns, name)),
            _ => None,
        };
        NodeFacts {
            name: node.metadata.name.clone(),
            node_pool: label(labels::NODE_POOL),
            tpu_topology: label(labels::TPU_TOPOLOGY),
            tpu_accelerator: label(labels::TPU_ACCELERATOR),
            accelerator_count: label(labels::ACCELERATOR_COUNT),
            jobset,
            ready: ReadyCondition::from_conditions(
                &node.status.conditions,
                previous.map(|p| p.ready),
                observed_at,
            ),
            blocks: BlockLabels::from_labels(&node.metadata.labels).map(Box::new),
            signals: signals::read(
                |k| node.metadata.labels.get(k).map(String::as_str),
                &node.spec.taints,
            ),
            spot: label(labels::SPOT).is_some_and(|v| v == "true"),
        }
    }

    pub fn is_tpu(&self) -> bool {
        self.tpu_topology.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn node(status: Option<&str>, ltt: Option<&str>) -> NodeObject {
        let mut conditions = vec![json!({"type": "MemoryPressure", "status": "False"})];
        if let Some(s) = status {
            let mut c = json!({"type": "Ready", "status": s});
            if let Some(t) = ltt {
                c["lastTransitionTime"] = json!(t);
            }
            conditions.push(c);
        }
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {
                "cloud.google.com/gke-nodepool": "pool-a",
                "cloud.google.com/gke-tpu-topology": "16x16",
                "cloud.google.com/gke-accelerator-count": "4",
                "google.com/tpu-provisioner-jobset-namespace": "default",
                "google.com/tpu-provisioner-jobset-name": "js"
            }},
            "spec": {"providerID": "gce://x"},
            "status": {"conditions": conditions, "capacity": {"google.com/tpu": "4"}}
        }))
        .unwrap()
    }

    const GRACE: Duration = DEFAULT_UNKNOWN_GRACE;

    #[test]
    fn maintenance_and_termination_signals() {
        let with = |labels: serde_json::Value, taints: serde_json::Value| {
            let n: NodeObject = serde_json::from_value(json!({
                "metadata": {"name": "n", "labels": labels},
                "spec": {"taints": taints}
            }))
            .unwrap();
            NodeFacts::from_object(&n, None, ts("2024-01-01T00:00:00Z")).signals
        };
        assert_eq!(with(json!({}), json!([])), NodeSignals::default());
        let maint = NodeSignals {
            maintenance: true,
            terminating: false,
        };
        assert_eq!(
            with(
                json!({"cloud.google.com/scheduled-maintenance-time": "1700000000"}),
                json!([])
            ),
            maint
        );
        assert_eq!(
            with(
                json!({"cloud.google.com/active-node-maintenance": "ONGOING"}),
                json!([])
            ),
            maint
        );
        assert_eq!(
            with(
                json!({"cloud.google.com/active-node-maintenance": "DONE"}),
                json!([])
            ),
            NodeSignals::default()
        );
        assert_eq!(
            with(
                json!({}),
                json!([{"key": "cloud.google.com/impending-node-termination", "effect": "NoSchedule"}])
            ),
            NodeSignals {
                maintenance: false,
                terminating: true
            }
        );
    }

    #[test]
    fn ready_and_not_ready() {
        let now = ts("2024-01-01T00:00:00Z");
        let f = NodeFacts::from_object(&node(Some("True"), None), None, now);
        assert_eq!(f.ready.readiness(now, GRACE), Readiness::Ready);
        let f = NodeFacts::from_object(&node(Some("False"), None), None, now);
        assert_eq!(f.ready.readiness(now, GRACE), Readiness::NotReady);
    }

    #[test]
    fn missing_ready_condition_is_unknown() {
        let now = ts("2024-01-01T00:00:00Z");
        let f = NodeFacts::from_object(&node(None, None), None, now);
        assert_eq!(f.ready, ReadyCondition::Missing);
        assert_eq!(f.ready.readiness(now, GRACE), Readiness::Unknown);
    }

    #[test]
    fn unknown_becomes_not_ready_after_the_grace_period() {
        let f = NodeFacts::from_object(
            &node(Some("Unknown"), Some("2024-01-01T00:00:00Z")),
            None,
            ts("2024-01-01T00:01:00Z"),
        );
        assert_eq!(
            f.ready.readiness(ts("2024-01-01T00:02:59Z"), GRACE),
            Readiness::Unknown
        );
        assert_eq!(
            f.ready.readiness(ts("2024-01-01T00:03:00Z"), GRACE),
            Readiness::NotReady
        );
        assert_eq!(f.ready.expires_at(GRACE), Some(ts("2024-01-01T00:03:00Z")));
    }

    #[test]
    fn unknown_without_transition_time_counts_from_first_sight() {
        let first = NodeFacts::from_object(
            &node(Some("Unknown"), None),
            None,
            ts("2024-01-01T00:10:00Z"),
        );
        // Seen again later: keeps the first time.
        let again = NodeFacts::from_object(
            &node(Some("Unknown"), None),
            Some(&first),
            ts("2024-01-01T00:12:00Z"),
        );
        assert_eq!(
            again.ready,
            ReadyCondition::Unknown {
                since: ts("2024-01-01T00:10:00Z")
            }
        );
        assert_eq!(
            again.ready.readiness(ts("2024-01-01T00:13:00Z"), GRACE),
            Readiness::NotReady
        );
        // An unparsable time is treated as missing.
        let bad = NodeFacts::from_object(
            &node(Some("Unknown"), Some("soon")),
            None,
            ts("2024-01-01T00:10:00Z"),
        );
        assert_eq!(
            bad.ready,
            ReadyCondition::Unknown {
                since: ts("2024-01-01T00:10:00Z")
            }
        );
    }

    #[test]
    fn odd_status_values_are_unknown() {
        let f =
            NodeFacts::from_object(&node(Some("Maybe"), None), None, ts("2024-01-01T00:00:00Z"));
        assert!(matches!(f.ready, ReadyCondition::Unknown { .. }));
    }

    #[test]
    fn labels_are_kept() {
        let f = NodeFacts::from_object(&node(Some("True"), None), None, ts("2024-01-01T00:00:00Z"));
        assert_eq!(f.node_pool.as_deref(), Some("pool-a"));
        assert!(f.is_tpu());
        assert_eq!(f.accelerator_count.as_deref(), Some("4"));
        assert_eq!(f.jobset, Some(("default".into(), "js".into())));
    }
}
