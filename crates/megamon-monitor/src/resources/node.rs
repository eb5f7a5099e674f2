//! core/v1 Nodes: parsed straight into the lean [`NodeObject`] (the labels
//! the rules read and the `Ready` condition), everything else skipped.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use megamon_core::entity::node::NodeObject;
use serde::{Deserialize, Deserializer};

use super::{Watched, lean_resource};
use crate::fleet::{Change, Update};

/// A Node as the monitor reads it. `metadata` holds only the resourceVersion
/// (the watcher's bookmark); everything the rules read is in `node`.
#[derive(Debug, Clone)]
pub struct NodeResource {
    pub metadata: ObjectMeta,
    pub node: NodeObject,
}

impl<'de> Deserialize<'de> for NodeResource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut node = NodeObject::deserialize(d)?;
        let metadata = ObjectMeta {
            resource_version: node.resource_version.take(),
            ..ObjectMeta::default()
        };
        Ok(NodeResource { metadata, node })
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

impl Watched for NodeResource {
    const WHAT: &'static str = "nodes";
    /// Readiness needs the time and the node's previous facts: the fleet's
    /// node index makes the facts.
    type Facts = NodeObject;

    fn watcher_config() -> kube::runtime::watcher::Config {
        kube::runtime::watcher::Config::default().page_size(NODE_PAGE_SIZE)
    }

    fn key(&self) -> String {
        self.node.name.clone()
    }

    fn facts(self) -> Option<NodeObject> {
        Some(self.node)
    }

    fn update(change: Change<NodeObject>) -> Update {
        Update::Nodes(change)
    }
}

/// Nodes per list page. The HTTP client holds a page's body two to three
/// times over while it is parsed (its chunks, then one contiguous copy, then
/// a String): at about 13 KB of JSON per GKE TPU node, 500 nodes a page (the
/// default) made 13 MB of the 19 MB heap peak at 8,192 nodes. 100 a page
/// costs 4.5 times the requests (656 for 65,536 nodes, ~1 ms each locally).
const NODE_PAGE_SIZE: u32 = 100;

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;
    use megamon_core::entity::node::ReadyStatus;
    use serde_json::json;

    #[test]
    fn node_keeps_only_what_the_rules_read() {
        let r: NodeResource = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "resourceVersion": "42", "uid": "x",
                "labels": {"cloud.google.com/gke-nodepool": "p", "kubernetes.io/hostname": "n1"},
                "annotations": {"big": "x".repeat(1000)},
                "managedFields": [{"manager": "kubelet"}]},
            "spec": {"podCIDR": "10.0.0.0/24",
                     "taints": [{"key": "cloud.google.com/impending-node-termination", "effect": "NoSchedule"}]},
            "status": {"conditions": [
                           {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                           {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}],
                       "images": [{"names": ["a"], "sizeBytes": 1}]}
        }))
        .unwrap();
        assert_eq!(r.metadata.resource_version.as_deref(), Some("42"));
        assert!(r.metadata.labels.is_none());
        assert!(r.metadata.annotations.is_none());
        assert!(r.metadata.managed_fields.is_none());
        assert_eq!(r.key(), "n1");
        let node = r.facts().expect("facts");
        assert_eq!(node.labels.node_pool.as_deref(), Some("p"));
        assert_eq!(node.resource_version, None, "kept once, for the watcher");
        assert_eq!(node.ready, Some(ReadyStatus::True), "only Ready is read");
        assert!(
            node.signals.terminating,
            "taints are read for their signals"
        );
        assert!(!node.signals.maintenance);
    }

    #[test]
    fn url_is_the_real_api_path() {
        assert_eq!(NodeResource::url_path(&(), None), "/api/v1/nodes");
    }
}
