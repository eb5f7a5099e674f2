//! Entity rules (SPEC §2): from the few fields MegaMon uses of each API object
//! to an [`Upness`](crate::Upness).
//!
//! Each module has a `*Object` type that deserialises only the fields the rules
//! read from the Kubernetes JSON (everything else is skipped, never stored) and
//! a `*Facts` type: the compact, validated form that indexes keep.

pub mod blocks;
pub mod jobset;
pub mod lws;
pub mod node;
pub mod nodepool;
pub mod or_null;
pub mod slice;

use serde::Deserialize;

/// Well-known label keys.
pub mod labels {
    pub const TPU_ACCELERATOR: &str = "cloud.google.com/gke-tpu-accelerator";
    pub const TPU_TOPOLOGY: &str = "cloud.google.com/gke-tpu-topology";
    pub const SPOT: &str = "cloud.google.com/gke-spot";
    pub const NODE_POOL: &str = "cloud.google.com/gke-nodepool";
    pub const ACCELERATOR_COUNT: &str = "cloud.google.com/gke-accelerator-count";
    pub const PROVISIONER_JOBSET_NAMESPACE: &str = "google.com/tpu-provisioner-jobset-namespace";
    pub const PROVISIONER_JOBSET_NAME: &str = "google.com/tpu-provisioner-jobset-name";
    pub const SLICE_OWNER_KIND: &str = "tpu-provisioner.cloud.google.com/owner-kind";
    pub const SLICE_OWNER_NAME: &str = "tpu-provisioner.cloud.google.com/owner-name";
    pub const SLICE_OWNER_NAMESPACE: &str = "tpu-provisioner.cloud.google.com/owner-namespace";
    pub const JOBSET_NAME: &str = "jobset.sigs.k8s.io/jobset-name";
    pub const JOB_COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
    pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
    pub const SCHEDULED_NODE_POOL: &str = "megamon.tbd/scheduled-node-pool";
    pub const TOPOLOGY_BLOCK: &str = "cloud.google.com/gce-topology-block";
    pub const TOPOLOGY_SUBBLOCK: &str = "cloud.google.com/gce-topology-subblock";
    pub const RESERVATION_BLOCKS: &str = "cloud.google.com/reservation-blocks";
    pub const RESERVATION_SUBBLOCKS: &str = "cloud.google.com/reservation-subblocks";
}

/// `metadata` fields MegaMon reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A status condition: `type` and `status`, the transition time for node
/// readiness, and reason and message for interruption causes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub last_transition_time: Option<String>,
    pub reason: String,
    pub message: String,
}

impl Condition {
    /// "reason: message", either alone, or empty: a cause's detail.
    pub fn explanation(&self) -> String {
        match (self.reason.trim(), self.message.trim()) {
            ("", m) => m.to_string(),
            (r, "") => r.to_string(),
            (r, m) => format!("{r}: {m}"),
        }
    }
}

/// The status of a condition, as Kubernetes spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
    /// No such condition on the object.
    Missing,
}

impl ConditionStatus {
    /// Finds condition `type_` in `conditions`; anything but `True`/`False` is
    /// `Unknown`, as Kubernetes treats it.
    pub fn of(conditions: &[Condition], type_: &str) -> ConditionStatus {
        match conditions.iter().find(|c| c.type_ == type_) {
            None => ConditionStatus::Missing,
            Some(c) if c.status == "True" => ConditionStatus::True,
            Some(c) if c.status == "False" => ConditionStatus::False,
            Some(_) => ConditionStatus::Unknown,
        }
    }
}
