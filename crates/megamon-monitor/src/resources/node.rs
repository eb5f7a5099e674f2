//! core/v1 Nodes: the labels the rules read and the `Ready` condition only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use megamon_core::entity::node::{NodeObject, NodeSpec, NodeStatus, signals};
use megamon_core::entity::{Condition, labels};
use serde::{Deserialize, Deserializer};

use super::{Watched, core_meta, lean_meta, lean_resource};
use crate::fleet::{Change, Update};

/// Labels the node rules read (SPEC §2.2, §2.3, §2.7).
const NODE_LABELS: &[&str] = &[
    labels::NODE_POOL,
    labels::TPU_TOPOLOGY,
    labels::TPU_ACCELERATOR,
    labels::ACCELERATOR_COUNT,
    labels::PROVISIONER_JOBSET_NAMESPACE,
    labels::PROVISIONER_JOBSET_NAME,
    labels::TOPOLOGY_BLOCK,
    labels::TOPOLOGY_SUBBLOCK,
    labels::RESERVATION_BLOCKS,
    labels::RESERVATION_SUBBLOCKS,
    labels::SPOT,
    signals::SCHEDULED_MAINTENANCE,
    signals::ACTIVE_MAINTENANCE,
];

fn node_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    lean_meta(d, NODE_LABELS)
}

/// A Node as the monitor reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeResource {
    #[serde(deserialize_with = "node_meta")]
    pub metadata: ObjectMeta,
    /// Only its taints.
    #[serde(default)]
    pub spec: NodeSpec,
    #[serde(default)]
    pub status: NodeStatusLean,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeStatusLean {
    /// Other conditions (MemoryPressure, DiskPressure...) are skipped while
    /// parsing: a 65,536-node re-list would otherwise hold them all at once.
    #[serde(deserialize_with = "ready_condition_only")]
    pub conditions: Vec<Condition>,
}

fn ready_condition_only<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Condition>, D::Error> {
    let all: Option<Vec<ConditionLean>> = Option::deserialize(d)?;
    Ok(all
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.ready)
        .collect())
}

/// A condition, parsed in full only if it is `Ready`.
struct ConditionLean {
    ready: Option<Condition>,
}

impl<'de> Deserialize<'de> for ConditionLean {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConditionLean;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a node condition")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConditionLean, A::Error> {
                let (mut type_, mut status, mut ltt) =
                    (None::<std::borrow::Cow<'de, str>>, None, None);
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "type" => type_ = Some(map.next_value()?),
                        "status" => status = Some(map.next_value::<String>()?),
                        "lastTransitionTime" => ltt = map.next_value::<Option<String>>()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let ready = (type_.as_deref() == Some("Ready")).then(|| Condition {
                    type_: "Ready".to_string(),
                    status: status.unwrap_or_default(),
                    last_transition_time: ltt,
                    ..Condition::default()
                });
                Ok(ConditionLean { ready })
            }
        }
        d.deserialize_map(V)
    }
}
lean_resource!(
    NodeResource,
    k8s_openapi::ClusterResourceScope,
    "",
    "v1",
    "Node",
    "nodes"
);

impl From<NodeResource> for NodeObject {
    fn from(r: NodeResource) -> Self {
        NodeObject {
            metadata: core_meta(r.metadata),
            spec: r.spec,
            status: NodeStatus {
                conditions: r.status.conditions,
            },
        }
    }
}

impl Watched for NodeResource {
    const WHAT: &'static str = "nodes";
    /// Readiness needs the time and the node's previous facts: the fleet's
    /// node index makes the facts.
    type Facts = NodeObject;

    fn watcher_config() -> kube::runtime::watcher::Config {
        kube::runtime::watcher::Config::default().page_size(500)
    }

    fn key(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }

    fn facts(self) -> Option<NodeObject> {
        Some(self.into())
    }

    fn update(change: Change<NodeObject>) -> Update {
        Update::Nodes(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;
    use serde_json::json;

    #[test]
    fn node_keeps_only_what_the_rules_read() {
        let r: NodeResource = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "resourceVersion": "42", "uid": "x",
                "labels": {"cloud.google.com/gke-nodepool": "p", "kubernetes.io/hostname": "n1"},
                "annotations": {"big": "x".repeat(1000)},
                "managedFields": [{"manager": "kubelet"}]},
            "spec": {"podCIDR": "10.0.0.0/24"},
            "status": {"conditions": [
                           {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                           {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}],
                       "images": [{"names": ["a"], "sizeBytes": 1}]}
        }))
        .unwrap();
        assert_eq!(r.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(
            r.metadata.labels.as_ref().map(|l| l.len()),
            Some(1),
            "unused labels are dropped"
        );
        assert!(r.metadata.annotations.is_none());
        assert!(r.metadata.managed_fields.is_none());
        let node = NodeObject::from(r);
        assert_eq!(node.metadata.labels["cloud.google.com/gke-nodepool"], "p");
        assert_eq!(node.status.conditions.len(), 1, "only Ready is kept");
        assert_eq!(node.status.conditions[0].type_, "Ready");
        assert_eq!(
            node.status.conditions[0].last_transition_time.as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
    }

    #[test]
    fn url_is_the_real_api_path() {
        assert_eq!(NodeResource::url_path(&(), None), "/api/v1/nodes");
    }
}
