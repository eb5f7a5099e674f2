//! JobSets (SPEC §2.1) and the nodes provisioned for them (SPEC §2.2).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Condition, ObjectMeta, labels};
use crate::cause::{Cause, Why};
use crate::topology::{TopologyError, chips};
use crate::upness::{Attrs, Counts, Upness};

/// The fields of a `jobset.x-k8s.io` JobSet that MegaMon reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JobSetObject {
    pub metadata: ObjectMeta,
    pub spec: JobSetSpec,
    pub status: JobSetStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JobSetSpec {
    pub replicated_jobs: Vec<ReplicatedJob>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReplicatedJob {
    pub name: String,
    /// The CRD defaults it to 1.
    pub replicas: Option<u64>,
    pub template: JobTemplate,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JobTemplate {
    pub spec: JobSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JobSpec {
    pub parallelism: Option<u64>,
    pub template: PodTemplate,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodTemplate {
    pub spec: PodTemplateSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodTemplateSpec {
    pub node_selector: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JobSetStatus {
    pub replicated_jobs_status: Vec<ReplicatedJobStatus>,
    pub conditions: Vec<Condition>,
    pub restarts: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReplicatedJobStatus {
    pub ready: u64,
    pub succeeded: u64,
}

/// A JobSet's terminal condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalState {
    Completed,
    Failed,
    Suspended,
}

impl TerminalState {
    pub fn as_str(self) -> &'static str {
        match self {
            TerminalState::Completed => "Completed",
            TerminalState::Failed => "Failed",
            TerminalState::Suspended => "Suspended",
        }
    }

    /// Only completion is planned downtime; failure and suspension interrupt.
    pub fn is_planned(self) -> bool {
        self == TerminalState::Completed
    }

    /// The first `True` condition of type Completed, Failed or Suspended.
    pub fn from_conditions(conditions: &[Condition]) -> Option<TerminalState> {
        Self::with_condition(conditions).map(|(t, _)| t)
    }

    /// The same, with its condition.
    fn with_condition(conditions: &[Condition]) -> Option<(TerminalState, &Condition)> {
        conditions
            .iter()
            .filter(|c| c.status == "True")
            .find_map(|c| match c.type_.as_str() {
                "Completed" => Some((TerminalState::Completed, c)),
                "Failed" => Some((TerminalState::Failed, c)),
                "Suspended" => Some((TerminalState::Suspended, c)),
                _ => None,
            })
    }
}

/// One replicated job, reduced to what the rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicatedJobFacts {
    pub replicas: u64,
    pub parallelism: u64,
    pub accelerator: String,
    pub topology: String,
    pub spot: bool,
}

/// What MegaMon keeps of a JobSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSetFacts {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    pub replicated_jobs: Vec<ReplicatedJobFacts>,
    /// Σ ready + succeeded jobs over `status.replicatedJobsStatus`.
    pub ready_jobs: u64,
    pub terminal: Option<TerminalState>,
    /// The terminal condition's reason and message (a cause's detail).
    pub terminal_detail: String,
    /// `status.restarts`.
    pub restarts: u64,
    /// Since `status.restarts` last went up, until every job is ready again:
    /// (restarts before, restarts now). Carried from the JobSet's previous
    /// facts by [`JobSetFacts::carry_from`].
    pub restarting: Option<(u64, u64)>,
}

impl From<&JobSetObject> for JobSetFacts {
    fn from(js: &JobSetObject) -> Self {
        let replicated_jobs = js
            .spec
            .replicated_jobs
            .iter()
            .map(|rj| {
                let selector = &rj.template.spec.template.spec.node_selector;
                let get = |k: &str| selector.get(k).cloned().unwrap_or_default();
                ReplicatedJobFacts {
                    replicas: rj.replicas.unwrap_or(1),
                    parallelism: rj.template.spec.parallelism.unwrap_or(1),
                    accelerator: get(labels::TPU_ACCELERATOR),
                    topology: get(labels::TPU_TOPOLOGY),
                    spot: selector.get(labels::SPOT).is_some_and(|v| v == "true"),
                }
            })
            .collect();
        let ready_jobs = js
            .status
            .replicated_jobs_status
            .iter()
            .map(|s| s.ready.saturating_add(s.succeeded))
            .fold(0u64, u64::saturating_add);
        let terminal = TerminalState::with_condition(&js.status.conditions);
        JobSetFacts {
            uid: js.metadata.uid.clone(),
            name: js.metadata.name.clone(),
            namespace: js.metadata.namespace.clone(),
            replicated_jobs,
            ready_jobs,
            terminal: terminal.map(|(t, _)| t),
            terminal_detail: terminal.map(|(_, c)| c.explanation()).unwrap_or_default(),
            restarts: js.status.restarts,
            restarting: None,
        }
    }
}

impl JobSetFacts {
    /// Keeps what only a sequence of versions shows: a restart stays known
    /// from the version whose `restarts` went up until all jobs are ready.
    pub fn carry_from(&mut self, previous: &JobSetFacts) {
        self.restarting = if self.restarts > previous.restarts {
            let before = previous.restarting.map_or(previous.restarts, |(b, _)| b);
            Some((before, self.restarts))
        } else if self.ready_jobs >= self.expected_jobs() {
            None
        } else {
            previous.restarting
        };
    }

    /// Why the JobSet itself is down, if it says: failed, suspended, or
    /// restarting. `None` leaves it to its nodes.
    pub fn why_down(&self) -> Option<Why> {
        let detail = |what: &str| {
            if self.terminal_detail.is_empty() {
                what.to_string()
            } else {
                self.terminal_detail.clone()
            }
        };
        match self.terminal {
            Some(TerminalState::Failed) => {
                return Some(Why::new(Cause::WorkloadFailed, detail("Failed")));
            }
            Some(TerminalState::Suspended) => {
                return Some(Why::new(Cause::WorkloadSuspended, detail("Suspended")));
            }
            Some(TerminalState::Completed) | None => {}
        }
        let (before, now) = self.restarting?;
        Some(Why::new(
            Cause::WorkloadRestart,
            format!(
                "restarts {before} → {now}; {} of {} jobs ready",
                self.ready_jobs,
                self.expected_jobs()
            ),
        ))
    }

    /// Σ replicas: the number of child Jobs that must be ready.
    pub fn expected_jobs(&self) -> u64 {
        self.replicated_jobs
            .iter()
            .map(|rj| rj.replicas)
            .fold(0, u64::saturating_add)
    }

    /// Σ replicas × parallelism: the number of nodes the JobSet runs on.
    pub fn expected_nodes(&self) -> u64 {
        self.replicated_jobs
            .iter()
            .map(|rj| rj.replicas.saturating_mul(rj.parallelism))
            .fold(0, u64::saturating_add)
    }

    /// Σ replicas × chips(topology) over replicated jobs whose topology parses.
    pub fn tpu_chip_count(&self) -> u64 {
        self.replicated_jobs
            .iter()
            .filter_map(|rj| {
                chips(&rj.topology)
                    .ok()
                    .map(|c| c.saturating_mul(rj.replicas))
            })
            .fold(0, u64::saturating_add)
    }

    /// Topologies that were set but do not parse, for the caller to log.
    pub fn topology_errors(&self) -> Vec<TopologyError> {
        self.replicated_jobs
            .iter()
            .filter(|rj| !rj.topology.is_empty())
            .filter_map(|rj| chips(&rj.topology).err())
            .collect()
    }

    /// Labels: when replicated jobs differ, the last one's value wins (a known
    /// limitation kept from the original).
    pub fn attrs(&self) -> Attrs {
        let mut attrs = Attrs {
            jobset_name: self.name.clone(),
            jobset_namespace: self.namespace.clone(),
            jobset_uid: self.uid.clone(),
            tpu_chip_count: self.tpu_chip_count(),
            ..Attrs::default()
        };
        for rj in &self.replicated_jobs {
            if !rj.accelerator.is_empty() {
                attrs.tpu_accelerator = rj.accelerator.clone();
            }
            if !rj.topology.is_empty() {
                attrs.tpu_topology = rj.topology.clone();
            }
            attrs.spot = rj.spot;
        }
        attrs
    }

    /// The terminal condition as `status`, and the planned and failed flags.
    fn status(&self) -> (String, bool, bool) {
        match self.terminal {
            Some(t) => (
                t.as_str().to_string(),
                t.is_planned(),
                t == TerminalState::Failed,
            ),
            None => (String::new(), false, false),
        }
    }

    /// The JobSet family: its child Jobs.
    pub fn upness(&self) -> Upness {
        let (status, expected_down, failed) = self.status();
        Upness {
            ready_count: self.ready_jobs,
            expected_count: self.expected_jobs(),
            unknown_count: 0,
            status,
            expected_down,
            failed,
            attrs: self.attrs().into(),
        }
    }

    /// The JobSet-nodes family: the nodes provisioned for it, counted by the caller.
    pub fn nodes_upness(&self, nodes: Counts) -> Upness {
        let (status, expected_down, failed) = self.status();
        Upness {
            ready_count: nodes.ready,
            expected_count: self.expected_nodes(),
            unknown_count: nodes.unknown,
            status,
            expected_down,
            failed,
            attrs: self.attrs().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(v: serde_json::Value) -> JobSetFacts {
        let obj: JobSetObject = serde_json::from_value(v).unwrap();
        JobSetFacts::from(&obj)
    }

    fn rj(name: &str, replicas: u64, parallelism: u64, topology: &str) -> serde_json::Value {
        json!({
            "name": name, "replicas": replicas,
            "template": {"spec": {"parallelism": parallelism, "template": {"spec": {
                "nodeSelector": {
                    "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                    "cloud.google.com/gke-tpu-topology": topology
                },
                "containers": [{"name": "main", "image": "x"}]
            }}}}
        })
    }

    #[test]
    fn expected_ready_and_chips_from_a_real_shape() {
        let f = facts(json!({
            "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
            "metadata": {"name": "js", "namespace": "ns", "uid": "u-1", "labels": {"a": "b"}},
            "spec": {"replicatedJobs": [rj("a", 1, 2, "2x4"), rj("b", 2, 2, "2x4")]},
            "status": {"replicatedJobsStatus": [
                {"name": "a", "ready": 1, "succeeded": 0, "failed": 0, "active": 1},
                {"name": "b", "ready": 1, "succeeded": 1}
            ]}
        }));
        assert_eq!(f.expected_jobs(), 3);
        assert_eq!(f.expected_nodes(), 6);
        assert_eq!(f.tpu_chip_count(), 24); // (1 + 2) × 8
        let u = f.upness();
        assert_eq!((u.ready_count, u.expected_count), (3, 3));
        assert!(u.is_up(0.0));
        assert_eq!(u.attrs.tpu_topology, "2x4");
        assert_eq!(u.attrs.tpu_accelerator, "tpu-v5-lite-podslice");
        assert_eq!(u.attrs.jobset_uid, "u-1");
        assert_eq!(u.attrs.tpu_chip_count, 24);
    }

    #[test]
    fn replicas_and_parallelism_default_to_one() {
        let f = facts(json!({"spec": {"replicatedJobs": [{"name": "a"}]}}));
        assert_eq!(f.expected_jobs(), 1);
        assert_eq!(f.expected_nodes(), 1);
        assert_eq!(f.tpu_chip_count(), 0);
        assert!(f.topology_errors().is_empty());
    }

    #[test]
    fn invalid_topology_is_skipped_and_reported() {
        let f = facts(
            json!({"spec": {"replicatedJobs": [rj("a", 2, 1, "2x4"), rj("b", 1, 1, "bogus")]}}),
        );
        assert_eq!(f.tpu_chip_count(), 16);
        assert_eq!(f.topology_errors().len(), 1);
    }

    #[test]
    fn last_replicated_job_wins_for_labels() {
        let mut second = rj("b", 1, 1, "4x4");
        second["template"]["spec"]["template"]["spec"]["nodeSelector"]["cloud.google.com/gke-spot"] =
            json!("true");
        let f = facts(json!({"spec": {"replicatedJobs": [rj("a", 1, 1, "2x4"), second]}}));
        let attrs = f.attrs();
        assert_eq!(attrs.tpu_topology, "4x4");
        assert!(attrs.spot);
    }

    #[test]
    fn terminal_conditions() {
        let cond = |t: &str, s: &str| Condition {
            type_: t.into(),
            status: s.into(),
            ..Condition::default()
        };
        assert_eq!(TerminalState::from_conditions(&[]), None);
        assert_eq!(
            TerminalState::from_conditions(&[cond("Completed", "False"), cond("Failed", "True")]),
            Some(TerminalState::Failed)
        );
        assert_eq!(
            TerminalState::from_conditions(&[cond("Suspended", "True"), cond("Completed", "True")]),
            Some(TerminalState::Suspended)
        );
        assert_eq!(
            TerminalState::from_conditions(&[cond("StartupPolicyCompleted", "True")]),
            None
        );
    }

    #[test]
    fn completed_is_planned_down_failed_is_not() {
        let mut v = json!({
            "metadata": {"name": "js", "uid": "u"},
            "spec": {"replicatedJobs": [rj("a", 1, 1, "2x4")]},
            "status": {"replicatedJobsStatus": [{"ready": 0, "succeeded": 1}],
                       "conditions": [{"type": "Completed", "status": "True"}]}
        });
        let done = facts(v.clone()).upness();
        assert_eq!(done.status, "Completed");
        assert!(done.expected_down);
        assert!(!done.is_up(1.0));
        v["status"]["conditions"] = json!([{"type": "Failed", "status": "True"}]);
        let failed = facts(v).upness();
        assert_eq!(failed.status, "Failed");
        assert!(!failed.expected_down);
    }

    #[test]
    fn succeeded_jobs_count_as_ready() {
        let f = facts(json!({
            "spec": {"replicatedJobs": [rj("a", 2, 1, "2x4")]},
            "status": {"replicatedJobsStatus": [{"ready": 1, "succeeded": 1}]}
        }));
        assert!(f.upness().is_up(0.0));
    }

    #[test]
    fn nodes_upness_uses_node_counts() {
        let f = facts(json!({"spec": {"replicatedJobs": [rj("a", 2, 4, "2x4")]}}));
        let u = f.nodes_upness(Counts {
            ready: 7,
            unknown: 1,
        });
        assert_eq!(
            (u.expected_count, u.ready_count, u.unknown_count),
            (8, 7, 1)
        );
        assert!(u.is_up(0.5));
        assert!(!u.is_up(0.0));
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        let bad = json!({"spec": {"replicatedJobs": [{"replicas": "two"}]}});
        assert!(serde_json::from_value::<JobSetObject>(bad).is_err());
        let negative = json!({"spec": {"replicatedJobs": [{"replicas": -1}]}});
        assert!(serde_json::from_value::<JobSetObject>(negative).is_err());
    }

    fn restarting(restarts: u64, ready: u64) -> JobSetFacts {
        facts(json!({
            "metadata": {"name": "js", "namespace": "ns", "uid": "u"},
            "spec": {"replicatedJobs": [rj("w", 2, 1, "2x2")]},
            "status": {"restarts": restarts, "replicatedJobsStatus": [{"ready": ready}]}
        }))
    }

    #[test]
    fn a_restart_is_known_from_the_rise_until_every_job_is_ready() {
        let mut prev = restarting(1, 2);
        assert_eq!(prev.why_down(), None);
        // Jobs go first, the count rises after: both still this restart.
        for (restarts, ready, expect) in [
            (1, 0, None),
            (2, 0, Some((1, 2))),
            (2, 1, Some((1, 2))),
            (3, 0, Some((1, 3))),
            (3, 2, None),
        ] {
            let mut next = restarting(restarts, ready);
            next.carry_from(&prev);
            assert_eq!(next.restarting, expect, "restarts {restarts} ready {ready}");
            prev = next;
        }
        let mut js = restarting(4, 0);
        js.carry_from(&restarting(3, 2));
        let why = js.why_down().unwrap();
        assert_eq!(why.cause, Cause::WorkloadRestart);
        assert_eq!(why.detail, "restarts 3 → 4; 0 of 2 jobs ready");
    }

    #[test]
    fn a_failed_or_suspended_jobset_says_why() {
        let js = facts(json!({
            "metadata": {"name": "js", "namespace": "ns", "uid": "u"},
            "spec": {"replicatedJobs": [rj("w", 1, 1, "2x2")]},
            "status": {"conditions": [{"type": "Failed", "status": "True",
                "reason": "FailedJobs", "message": "jobset failed due to job failure"}]}
        }));
        let why = js.why_down().unwrap();
        assert_eq!(why.cause, Cause::WorkloadFailed);
        assert_eq!(why.detail, "FailedJobs: jobset failed due to job failure");
        let js = facts(json!({
            "metadata": {"name": "js", "namespace": "ns", "uid": "u"},
            "spec": {"replicatedJobs": [rj("w", 1, 1, "2x2")]},
            "status": {"conditions": [{"type": "Suspended", "status": "True"}]}
        }));
        let why = js.why_down().unwrap();
        assert_eq!(
            (why.cause, why.detail.as_str()),
            (Cause::WorkloadSuspended, "Suspended")
        );
    }
}
