//! LeaderWorkerSets, `leaderworkerset.x-k8s.io/v1` (SPEC §2.8) **[ours]**:
//! upstream declares this family but leaves it a stub.
//!
//! A LeaderWorkerSet runs `spec.replicas` groups of `size` pods (one leader,
//! `size - 1` workers); a group is ready when all its pods are. It is up when
//! every group is ready. A rolling update (`UpdateInProgress` True) and a
//! scale to zero are planned.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Condition, ConditionStatus, ObjectMeta, labels};
use crate::topology::{TopologyError, chips};
use crate::upness::{Attrs, Upness};

/// The fields of a LeaderWorkerSet that MegaMon reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LeaderWorkerSetObject {
    pub metadata: ObjectMeta,
    pub spec: LeaderWorkerSetSpec,
    pub status: LeaderWorkerSetStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LeaderWorkerSetSpec {
    /// The CRD defaults it to 1.
    pub replicas: Option<u64>,
    pub leader_worker_template: LeaderWorkerTemplate,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LeaderWorkerTemplate {
    /// Pods per group, leader included; the CRD defaults it to 1.
    pub size: Option<u64>,
    /// The leader's pod template; the worker template when absent.
    pub leader_template: Option<PodTemplate>,
    pub worker_template: PodTemplate,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodTemplate {
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    pub node_selector: BTreeMap<String, String>,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Container {
    pub resources: Resources,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Resources {
    pub limits: BTreeMap<String, serde_json::Value>,
    pub requests: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LeaderWorkerSetStatus {
    pub ready_replicas: u64,
    pub conditions: Vec<Condition>,
}

/// The extended resource a TPU pod asks for.
pub const TPU_RESOURCE: &str = "google.com/tpu";

/// What MegaMon keeps of a LeaderWorkerSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderWorkerSetFacts {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    pub replicas: u64,
    pub ready_replicas: u64,
    pub update_in_progress: bool,
    pub accelerator: String,
    pub topology: String,
    pub spot: bool,
    /// Chips of one group: the leader's plus `size - 1` workers'.
    pub chips_per_group: u64,
    /// Why a template's TPU request could not be read (logged once).
    pub problems: Vec<String>,
}

impl From<&LeaderWorkerSetObject> for LeaderWorkerSetFacts {
    fn from(lws: &LeaderWorkerSetObject) -> Self {
        let template = &lws.spec.leader_worker_template;
        let worker = &template.worker_template.spec;
        let leader = template
            .leader_template
            .as_ref()
            .map_or(worker, |t| &t.spec);
        let size = template.size.unwrap_or(1).max(1);
        let mut problems = Vec::new();
        let mut tpus = |spec: &PodSpec, role: &str| match pod_tpus(spec) {
            Ok(n) => n,
            Err(e) => {
                problems.push(format!("{role} template: {e}"));
                0
            }
        };
        let chips_per_group = tpus(leader, "leader")
            .saturating_add((size - 1).saturating_mul(tpus(worker, "worker")));
        // Workers carry the TPUs; the leader's selector when it has one of its own.
        let select = |k: &str| {
            worker
                .node_selector
                .get(k)
                .or_else(|| leader.node_selector.get(k))
                .cloned()
                .unwrap_or_default()
        };
        LeaderWorkerSetFacts {
            uid: lws.metadata.uid.clone(),
            name: lws.metadata.name.clone(),
            namespace: lws.metadata.namespace.clone(),
            replicas: lws.spec.replicas.unwrap_or(1),
            ready_replicas: lws.status.ready_replicas,
            update_in_progress: ConditionStatus::of(&lws.status.conditions, "UpdateInProgress")
                == ConditionStatus::True,
            accelerator: select(labels::TPU_ACCELERATOR),
            topology: select(labels::TPU_TOPOLOGY),
            spot: select(labels::SPOT) == "true",
            chips_per_group,
            problems,
        }
    }
}

/// The TPU chips one pod of `spec` asks for (limits, else requests).
fn pod_tpus(spec: &PodSpec) -> Result<u64, String> {
    let mut total = 0u64;
    for c in &spec.containers {
        let r = &c.resources;
        let Some(q) = r
            .limits
            .get(TPU_RESOURCE)
            .or_else(|| r.requests.get(TPU_RESOURCE))
        else {
            continue;
        };
        total = total.saturating_add(quantity(q)?);
    }
    Ok(total)
}

/// A whole-number Kubernetes quantity (`4`, `"4"`); TPUs come in chips.
fn quantity(q: &serde_json::Value) -> Result<u64, String> {
    match q {
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("{TPU_RESOURCE} {n} is not a whole number of chips")),
        serde_json::Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("{TPU_RESOURCE} {s:?} is not a whole number of chips")),
        other => Err(format!("{TPU_RESOURCE} {other} is not a quantity")),
    }
}

impl LeaderWorkerSetFacts {
    /// `chips_per_group × replicas`.
    pub fn tpu_chip_count(&self) -> u64 {
        self.chips_per_group.saturating_mul(self.replicas)
    }

    /// A topology that is set but does not parse.
    pub fn topology_error(&self) -> Option<TopologyError> {
        (!self.topology.is_empty())
            .then(|| chips(&self.topology).err())
            .flatten()
    }

    pub fn attrs(&self) -> Attrs {
        Attrs {
            lws_name: self.name.clone(),
            lws_namespace: self.namespace.clone(),
            lws_uid: self.uid.clone(),
            tpu_accelerator: self.accelerator.clone(),
            tpu_topology: self.topology.clone(),
            spot: self.spot,
            tpu_chip_count: self.tpu_chip_count(),
            ..Attrs::default()
        }
    }

    /// Whether the LeaderWorkerSet is meant to be running: it exists with at
    /// least one group (an owner of slices in SPEC §2.4).
    pub fn is_active(&self) -> bool {
        self.replicas > 0
    }

    /// Groups ready of groups wanted; planned while a rolling update runs or
    /// when scaled to zero.
    pub fn upness(&self) -> Upness {
        let status = if self.update_in_progress {
            "UpdateInProgress"
        } else if self.replicas == 0 {
            "ScaledToZero"
        } else {
            ""
        };
        Upness {
            ready_count: self.ready_replicas,
            expected_count: self.replicas,
            unknown_count: 0,
            status: status.to_string(),
            expected_down: self.update_in_progress || self.replicas == 0,
            failed: false,
            attrs: self.attrs().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lws(v: serde_json::Value) -> LeaderWorkerSetFacts {
        let obj: LeaderWorkerSetObject = serde_json::from_value(v).unwrap();
        LeaderWorkerSetFacts::from(&obj)
    }

    fn template(tpus: serde_json::Value) -> serde_json::Value {
        json!({"spec": {
            "nodeSelector": {
                "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
                "cloud.google.com/gke-tpu-topology": "4x4"
            },
            "containers": [{"name": "main", "image": "x",
                "resources": {"limits": {"google.com/tpu": tpus, "cpu": "1"}}}]
        }})
    }

    #[test]
    fn groups_ready_of_replicas_and_chips() {
        let f = lws(json!({
            "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": "infer", "namespace": "serving", "uid": "u1"},
            "spec": {"replicas": 3, "leaderWorkerTemplate": {"size": 4, "workerTemplate": template(json!("4"))}},
            "status": {"readyReplicas": 3, "replicas": 3, "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "UpdateInProgress", "status": "False"}]}
        }));
        let u = f.upness();
        assert_eq!((u.expected_count, u.ready_count), (3, 3));
        assert!(u.is_up(0.0));
        // 3 groups × 4 pods × 4 chips.
        assert_eq!(u.attrs.tpu_chip_count, 48);
        assert_eq!(u.attrs.lws_name, "infer");
        assert_eq!(u.attrs.lws_namespace, "serving");
        assert_eq!(u.attrs.lws_uid, "u1");
        assert_eq!(u.attrs.tpu_topology, "4x4");
        assert_eq!(u.attrs.tpu_accelerator, "tpu-v6e-slice");
    }

    #[test]
    fn a_leader_template_of_its_own_counts_once_per_group() {
        let f = lws(json!({
            "metadata": {"name": "x"},
            "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 3,
                "leaderTemplate": {"spec": {"containers": [{"name": "l"}]}},
                "workerTemplate": template(json!(4))}}
        }));
        // Leader without TPUs, two workers with 4: 8 per group, 2 groups.
        assert_eq!(f.tpu_chip_count(), 16);
        assert!(f.problems.is_empty());
    }

    #[test]
    fn rolling_update_and_scale_to_zero_are_planned() {
        let f = lws(json!({
            "metadata": {"name": "x"},
            "spec": {"replicas": 2, "leaderWorkerTemplate": {"workerTemplate": template(json!(1))}},
            "status": {"readyReplicas": 1, "conditions": [{"type": "UpdateInProgress", "status": "True"}]}
        }));
        let u = f.upness();
        assert!(!u.is_up(1.0) && u.expected_down);
        assert_eq!(u.status, "UpdateInProgress");
        let f = lws(json!({"metadata": {"name": "x"}, "spec": {"replicas": 0}}));
        let u = f.upness();
        assert!(!u.is_up(1.0) && u.expected_down && !f.is_active());
        // Defaults: one group of one pod.
        let f = lws(json!({"metadata": {"name": "x"}}));
        assert_eq!(f.upness().expected_count, 1);
        assert!(!f.upness().is_up(1.0) && !f.upness().expected_down);
    }

    #[test]
    fn a_bad_tpu_quantity_is_a_problem_not_a_panic() {
        let f = lws(json!({
            "metadata": {"name": "x"},
            "spec": {"leaderWorkerTemplate": {"size": 2, "workerTemplate": template(json!("500m"))}}
        }));
        assert_eq!(f.tpu_chip_count(), 0);
        assert_eq!(f.problems.len(), 2, "{:?}", f.problems);
        assert!(f.problems[0].contains("\"500m\""), "{:?}", f.problems);
        // Objects missing every optional field still parse.
        let obj: LeaderWorkerSetObject = serde_json::from_value(json!({})).unwrap();
        let f = LeaderWorkerSetFacts::from(&obj);
        assert_eq!(f.replicas, 1);
    }
}
