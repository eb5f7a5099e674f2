//! The Kubernetes objects MegaMon watches, as lean types: only the fields the
//! rules read are deserialised (metadata is cut down to identity and labels),
//! so a 65,000-node list never materialises whole Node objects.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use megamon_core::entity::jobset::{JobSetFacts, JobSetObject, JobSetSpec, JobSetStatus};
use megamon_core::entity::node::{NodeObject, NodeStatus};
use megamon_core::entity::slice::{SliceFacts, SliceObject, SliceSpec, SliceStatus};
use megamon_core::entity::{self, labels};
use serde::{Deserialize, Deserializer};

use crate::fleet::LeaderPod;

/// The metadata fields MegaMon needs: identity, resourceVersion for the
/// watcher, labels. Everything else (managedFields, annotations...) is skipped.
fn lean_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Lean {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        labels: Option<BTreeMap<String, String>>,
    }
    let lean = Lean::deserialize(d)?;
    Ok(ObjectMeta {
        name: lean.name,
        namespace: lean.namespace,
        uid: lean.uid,
        resource_version: lean.resource_version,
        labels: lean.labels,
        ..ObjectMeta::default()
    })
}

fn core_meta(meta: ObjectMeta) -> entity::ObjectMeta {
    entity::ObjectMeta {
        name: meta.name.unwrap_or_default(),
        namespace: meta.namespace.unwrap_or_default(),
        uid: meta.uid.unwrap_or_default(),
        labels: meta.labels.unwrap_or_default(),
    }
}

macro_rules! lean_resource {
    ($ty:ident, $scope:ty, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl Resource for $ty {
            type DynamicType = ();
            type Scope = $scope;
            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($group)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($version)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// `jobset.x-k8s.io/v1alpha2` JobSet.
#[derive(Debug, Clone, Deserialize)]
pub struct JobSetResource {
    #[serde(deserialize_with = "lean_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: JobSetSpec,
    #[serde(default)]
    pub status: JobSetStatus,
}
lean_resource!(
    JobSetResource,
    k8s_openapi::NamespaceResourceScope,
    "jobset.x-k8s.io",
    "v1alpha2",
    "JobSet",
    "jobsets"
);

impl From<JobSetResource> for JobSetFacts {
    fn from(r: JobSetResource) -> Self {
        JobSetFacts::from(&JobSetObject {
            metadata: core_meta(r.metadata),
            spec: r.spec,
            status: r.status,
        })
    }
}

/// core/v1 Node: labels and conditions only.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeResource {
    #[serde(deserialize_with = "lean_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: NodeStatus,
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
            status: r.status,
        }
    }
}

/// core/v1 Pod: labels and the node it runs on.
#[derive(Debug, Clone, Deserialize)]
pub struct PodResource {
    #[serde(deserialize_with = "lean_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpecLean,
}
lean_resource!(
    PodResource,
    k8s_openapi::NamespaceResourceScope,
    "",
    "v1",
    "Pod",
    "pods"
);

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpecLean {
    pub node_name: Option<String>,
}

impl PodResource {
    /// A leader pod, if it is scheduled (the server-side selectors already
    /// narrow the watch to leaders; this re-checks what it relies on).
    pub fn leader(self) -> Option<LeaderPod> {
        let node_name = self.spec.node_name.filter(|n| !n.is_empty())?;
        let labels = self.metadata.labels.unwrap_or_default();
        let jobset_name = labels.get(labels::JOBSET_NAME)?.clone();
        Some(LeaderPod {
            namespace: self.metadata.namespace.unwrap_or_default(),
            name: self.metadata.name.unwrap_or_default(),
            node_name,
            job_name: labels.get(labels::JOB_NAME).cloned().unwrap_or_default(),
            jobset_name,
        })
    }

    pub fn key(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }
}

/// `accelerator.gke.io/v1beta1` Slice (cluster-scoped).
#[derive(Debug, Clone, Deserialize)]
pub struct SliceResource {
    #[serde(deserialize_with = "lean_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: SliceSpec,
    #[serde(default)]
    pub status: SliceStatus,
}
lean_resource!(
    SliceResource,
    k8s_openapi::ClusterResourceScope,
    "accelerator.gke.io",
    "v1beta1",
    "Slice",
    "slices"
);

impl From<SliceResource> for SliceFacts {
    fn from(r: SliceResource) -> Self {
        SliceFacts::from(&SliceObject {
            metadata: core_meta(r.metadata),
            spec: r.spec,
            status: r.status,
        })
    }
}

/// Server-side selectors for JobSet leader pods (SPEC §2.6).
pub const LEADER_POD_LABELS: &str =
    "jobset.sigs.k8s.io/jobset-name,batch.kubernetes.io/job-completion-index=0";
pub const LEADER_POD_FIELDS: &str = "spec.nodeName!=";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_keeps_only_what_the_rules_read() {
        let r: NodeResource = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "resourceVersion": "42", "uid": "x",
                "labels": {"cloud.google.com/gke-nodepool": "p"},
                "annotations": {"big": "x".repeat(1000)},
                "managedFields": [{"manager": "kubelet"}]},
            "spec": {"podCIDR": "10.0.0.0/24"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "images": [{"names": ["a"], "sizeBytes": 1}]}
        }))
        .unwrap();
        assert_eq!(r.metadata.resource_version.as_deref(), Some("42"));
        assert!(r.metadata.annotations.is_none());
        assert!(r.metadata.managed_fields.is_none());
        let node = NodeObject::from(r);
        assert_eq!(node.metadata.labels["cloud.google.com/gke-nodepool"], "p");
        assert_eq!(node.status.conditions.len(), 1);
    }

    #[test]
    fn leader_pod_needs_a_node_and_a_jobset() {
        let pod = |node: Option<&str>| -> PodResource {
            serde_json::from_value(json!({
                "metadata": {"name": "p", "namespace": "ns", "labels": {
                    "jobset.sigs.k8s.io/jobset-name": "js",
                    "batch.kubernetes.io/job-name": "js-w-0"}},
                "spec": {"nodeName": node, "containers": []}
            }))
            .unwrap()
        };
        let leader = pod(Some("n1")).leader().unwrap();
        assert_eq!(leader.key(), "ns/p");
        assert_eq!(leader.job_name, "js-w-0");
        assert_eq!(leader.jobset_name, "js");
        assert!(pod(None).leader().is_none());
        assert_eq!(pod(None).key(), "ns/p");
    }

    #[test]
    fn urls_are_the_real_api_paths() {
        assert_eq!(
            JobSetResource::url_path(&(), Some("default")),
            "/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets"
        );
        assert_eq!(
            SliceResource::url_path(&(), None),
            "/apis/accelerator.gke.io/v1beta1/slices"
        );
        assert_eq!(NodeResource::url_path(&(), None), "/api/v1/nodes");
    }
}
