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
use megamon_core::entity::{self, Condition, labels};
use serde::{Deserialize, Deserializer};

use crate::fleet::LeaderPod;

/// The metadata fields MegaMon needs: identity, resourceVersion for the
/// watcher, and the labels in `keep`. Everything else (other labels,
/// annotations, managedFields...) is skipped while parsing, never allocated.
fn lean_meta<'de, D: Deserializer<'de>>(
    d: D,
    keep: &'static [&'static str],
) -> Result<ObjectMeta, D::Error> {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

    struct Labels(&'static [&'static str]);
    impl<'de> DeserializeSeed<'de> for Labels {
        type Value = Option<BTreeMap<String, String>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_option(self)
        }
    }
    impl<'de> Visitor<'de> for Labels {
        type Value = Option<BTreeMap<String, String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of labels")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if self.0.contains(&key.as_ref()) {
                    out.insert(key.into_owned(), map.next_value::<String>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Some(out))
        }
    }

    struct Meta(&'static [&'static str]);
    impl<'de> Visitor<'de> for Meta {
        type Value = ObjectMeta;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("object metadata")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ObjectMeta, A::Error> {
            let mut meta = ObjectMeta::default();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                match key.as_ref() {
                    "name" => meta.name = map.next_value()?,
                    "namespace" => meta.namespace = map.next_value()?,
                    "uid" => meta.uid = map.next_value()?,
                    "resourceVersion" => meta.resource_version = map.next_value()?,
                    "labels" => meta.labels = map.next_value_seed(Labels(self.0))?,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(meta)
        }
    }
    d.deserialize_map(Meta(keep))
}

/// Labels the node rules read (SPEC §2.2, §2.3).
const NODE_LABELS: &[&str] = &[
    labels::NODE_POOL,
    labels::TPU_TOPOLOGY,
    labels::TPU_ACCELERATOR,
    labels::ACCELERATOR_COUNT,
    labels::PROVISIONER_JOBSET_NAMESPACE,
    labels::PROVISIONER_JOBSET_NAME,
];
const POD_LABELS: &[&str] = &[labels::JOBSET_NAME, labels::JOB_NAME];
const SLICE_LABELS: &[&str] = &[
    labels::SLICE_OWNER_KIND,
    labels::SLICE_OWNER_NAME,
    labels::SLICE_OWNER_NAMESPACE,
];

fn node_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    lean_meta(d, NODE_LABELS)
}
fn pod_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    lean_meta(d, POD_LABELS)
}
fn slice_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    lean_meta(d, SLICE_LABELS)
}
fn jobset_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    lean_meta(d, &[])
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
    #[serde(deserialize_with = "jobset_meta")]
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

/// core/v1 Node: the labels and the `Ready` condition only.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeResource {
    #[serde(deserialize_with = "node_meta")]
    pub metadata: ObjectMeta,
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
            status: NodeStatus {
                conditions: r.status.conditions,
            },
        }
    }
}

/// core/v1 Pod: labels and the node it runs on.
#[derive(Debug, Clone, Deserialize)]
pub struct PodResource {
    #[serde(deserialize_with = "pod_meta")]
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
    #[serde(deserialize_with = "slice_meta")]
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
