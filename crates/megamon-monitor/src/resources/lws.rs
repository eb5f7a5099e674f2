//! `leaderworkerset.x-k8s.io/v1` LeaderWorkerSets (SPEC §2.8).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use megamon_core::entity::lws::{
    LeaderWorkerSetFacts, LeaderWorkerSetObject, LeaderWorkerSetSpec, LeaderWorkerSetStatus,
};
use serde::{Deserialize, Deserializer};

use super::{Watched, core_meta, lean_meta, lean_resource};
use crate::fleet::{Change, Update};

#[derive(Debug, Clone, Deserialize)]
pub struct LeaderWorkerSetResource {
    #[serde(deserialize_with = "lws_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: LeaderWorkerSetSpec,
    #[serde(default)]
    pub status: LeaderWorkerSetStatus,
}
lean_resource!(
    LeaderWorkerSetResource,
    k8s_openapi::NamespaceResourceScope,
    "leaderworkerset.x-k8s.io",
    "v1",
    "LeaderWorkerSet",
    "leaderworkersets"
);

fn lws_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    lean_meta(d, &[])
}

impl Watched for LeaderWorkerSetResource {
    const WHAT: &'static str = "leaderworkersets";
    type Facts = LeaderWorkerSetFacts;

    fn key(&self) -> String {
        self.metadata.uid.clone().unwrap_or_default()
    }

    fn facts(self) -> Option<LeaderWorkerSetFacts> {
        Some(LeaderWorkerSetFacts::from(&LeaderWorkerSetObject {
            metadata: core_meta(self.metadata),
            spec: self.spec,
            status: self.status,
        }))
    }

    fn update(change: Change<LeaderWorkerSetFacts>) -> Update {
        Update::LeaderWorkerSets(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;
    use serde_json::json;

    #[test]
    fn a_real_leader_worker_set_reduces_to_its_facts() {
        let r: LeaderWorkerSetResource = serde_json::from_value(json!({
            "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": "infer", "namespace": "serving", "uid": "u1",
                "resourceVersion": "7", "annotations": {"a": "b"}},
            "spec": {"replicas": 2, "startupPolicy": "LeaderCreated",
                "rolloutStrategy": {"type": "RollingUpdate"},
                "leaderWorkerTemplate": {"size": 2, "restartPolicy": "RecreateGroupOnPodRestart",
                    "workerTemplate": {"metadata": {"labels": {"x": "y"}}, "spec": {
                        "nodeSelector": {"cloud.google.com/gke-tpu-topology": "2x4"},
                        "containers": [{"name": "w", "image": "i", "ports": [{"containerPort": 8080}],
                            "resources": {"limits": {"google.com/tpu": "8"}}}]}}}},
            "status": {"readyReplicas": 2, "replicas": 2, "updatedReplicas": 2,
                "hpaPodSelector": "x", "conditions": [{"type": "Available", "status": "True",
                "reason": "AllGroupsReady", "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}
        }))
        .unwrap();
        assert_eq!(r.key(), "u1");
        assert_eq!(r.metadata.resource_version.as_deref(), Some("7"));
        let facts = r.facts().unwrap();
        assert_eq!(facts.tpu_chip_count(), 32);
        assert!(facts.upness().is_up(0.0));
        assert_eq!(
            LeaderWorkerSetResource::url_path(&(), Some("serving")),
            "/apis/leaderworkerset.x-k8s.io/v1/namespaces/serving/leaderworkersets"
        );
    }
}
