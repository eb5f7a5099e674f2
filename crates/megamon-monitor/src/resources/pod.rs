//! core/v1 Pods: JobSet leader pods only (SPEC §2.6), their labels and node.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use megamon_core::entity::labels;
use serde::{Deserialize, Deserializer};

use super::{Watched, lean_meta, lean_resource};
use crate::fleet::{Change, LeaderPod, Update};

const POD_LABELS: &[&str] = &[labels::JOBSET_NAME, labels::JOB_NAME];

fn pod_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    lean_meta(d, POD_LABELS)
}

/// Server-side selectors for JobSet leader pods (SPEC §2.6).
pub const LEADER_POD_LABELS: &str =
    "jobset.sigs.k8s.io/jobset-name,batch.kubernetes.io/job-completion-index=0";
pub const LEADER_POD_FIELDS: &str = "spec.nodeName!=";

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

impl Watched for PodResource {
    const WHAT: &'static str = "leader-pods";
    type Facts = LeaderPod;

    fn watcher_config() -> kube::runtime::watcher::Config {
        kube::runtime::watcher::Config::default()
            .labels(LEADER_POD_LABELS)
            .fields(LEADER_POD_FIELDS)
    }

    fn key(&self) -> String {
        PodResource::key(self)
    }

    fn facts(self) -> Option<LeaderPod> {
        self.leader()
    }

    fn update(change: Change<LeaderPod>) -> Update {
        Update::LeaderPods(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
