//! TPU Slices, `accelerator.gke.io/v1beta1` (SPEC §2.4), and what their
//! owner's state makes of them (upstream v1.2.0's slice deletion tracking).

use serde::Deserialize;

use super::{Condition, ConditionStatus, ObjectMeta, labels};
use crate::cause::{Cause, Why};
use crate::topology::chips;
use crate::upness::{Attrs, Upness};

/// The fields of a Slice that MegaMon reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SliceObject {
    pub metadata: ObjectMeta,
    pub spec: SliceSpec,
    pub status: SliceStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SliceSpec {
    #[serde(rename = "type")]
    pub type_: String,
    pub topology: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SliceStatus {
    pub conditions: Vec<Condition>,
}

/// What MegaMon keeps of a Slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceFacts {
    pub name: String,
    pub accelerator: String,
    pub topology: String,
    pub ready: ConditionStatus,
    /// The `Ready` condition's reason and message (a cause's detail).
    pub ready_detail: String,
    pub owner_kind: String,
    pub owner_name: String,
    pub owner_namespace: String,
}

impl From<&SliceObject> for SliceFacts {
    fn from(s: &SliceObject) -> Self {
        let label = |k: &str| s.metadata.labels.get(k).cloned().unwrap_or_default();
        SliceFacts {
            name: s.metadata.name.clone(),
            accelerator: s.spec.type_.clone(),
            topology: s.spec.topology.clone(),
            ready: ConditionStatus::of(&s.status.conditions, "Ready"),
            ready_detail: s
                .status
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .map(Condition::explanation)
                .unwrap_or_default(),
            owner_kind: label(labels::SLICE_OWNER_KIND),
            owner_name: label(labels::SLICE_OWNER_NAME),
            owner_namespace: label(labels::SLICE_OWNER_NAMESPACE),
        }
    }
}

/// Where a slice's owner (named by its owner labels) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The slice names no owner: it stands alone.
    Unowned,
    /// The owner exists and runs (a JobSet not in a terminal state, a
    /// LeaderWorkerSet with groups).
    Running,
    /// The owner is missing or has ended: the slice is down on purpose.
    Ended,
}

/// The owner a slice's labels name: the key of upstream's slice → owner map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl SliceFacts {
    /// The owner the labels name, if they name one.
    pub fn owner(&self) -> Option<OwnerRef> {
        (!self.owner_kind.is_empty() && !self.owner_name.is_empty()).then(|| OwnerRef {
            kind: self.owner_kind.clone(),
            namespace: self.owner_namespace.clone(),
            name: self.owner_name.clone(),
        })
    }

    /// The slice as it is; planned down once its owner has ended.
    pub fn upness(&self, owner: Owner) -> Upness {
        let ended = owner == Owner::Ended;
        Upness {
            ready_count: u64::from(self.ready == ConditionStatus::True),
            expected_count: 1,
            unknown_count: u64::from(self.ready == ConditionStatus::Unknown),
            status: if ended { "OwnerEnded" } else { "" }.to_string(),
            expected_down: ended,
            failed: false,
            attrs: Attrs {
                slice_name: self.name.clone(),
                tpu_accelerator: self.accelerator.clone(),
                tpu_topology: self.topology.clone(),
                tpu_chip_count: chips(&self.topology).unwrap_or(0),
                slice_owner_kind: self.owner_kind.clone(),
                slice_owner_name: self.owner_name.clone(),
                slice_owner_namespace: self.owner_namespace.clone(),
                ..Attrs::default()
            }
            .into(),
        }
    }

    /// A slice deleted while its owner runs: an unplanned outage until a
    /// slice of the same name returns (upstream's "slice repair").
    pub fn deleted_upness(&self) -> Upness {
        Upness {
            ready_count: 0,
            unknown_count: 0,
            status: "Deleted".to_string(),
            ..self.upness(Owner::Running)
        }
    }

    /// Why the slice is down: deleted while its owner runs (`deleted`), or
    /// its `Ready` condition.
    pub fn why_down(&self, deleted: bool) -> Why {
        if deleted {
            return Why::new(Cause::SliceDeleted, "slice deleted while its owner runs");
        }
        let status = match self.ready {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
            ConditionStatus::Missing => "missing",
        };
        let mut detail = format!("Ready {status}");
        if !self.ready_detail.is_empty() {
            detail.push_str(": ");
            detail.push_str(&self.ready_detail);
        }
        Why::new(Cause::SliceDegraded, detail)
    }

    /// What is known of a deleted slice from upstream's slice → owner map
    /// alone (after a restart): its name and owner.
    pub fn remembered(name: &str, owner: &OwnerRef) -> SliceFacts {
        SliceFacts {
            name: name.to_string(),
            accelerator: String::new(),
            topology: String::new(),
            ready: ConditionStatus::Missing,
            ready_detail: String::new(),
            owner_kind: owner.kind.clone(),
            owner_name: owner.name.clone(),
            owner_namespace: owner.namespace.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slice(ready: Option<&str>) -> SliceFacts {
        let conditions = match ready {
            Some(s) => json!([{"type": "Ready", "status": s, "reason": "x"}]),
            None => json!([]),
        };
        let obj: SliceObject = serde_json::from_value(json!({
            "apiVersion": "accelerator.gke.io/v1beta1", "kind": "Slice",
            "metadata": {"name": "s1", "labels": {
                "tpu-provisioner.cloud.google.com/owner-kind": "JobSet",
                "tpu-provisioner.cloud.google.com/owner-name": "js",
                "tpu-provisioner.cloud.google.com/owner-namespace": "default"
            }},
            "spec": {"type": "tpu-v6e-slice", "topology": "4x4", "partitionIds": ["a"]},
            "status": {"conditions": conditions}
        }))
        .unwrap();
        SliceFacts::from(&obj)
    }

    #[test]
    fn ready_true_is_up() {
        let u = slice(Some("True")).upness(Owner::Running);
        assert_eq!(
            (u.expected_count, u.ready_count, u.unknown_count),
            (1, 1, 0)
        );
        assert!(u.is_up(0.0));
        assert_eq!(u.attrs.tpu_chip_count, 16);
        assert_eq!(u.attrs.slice_owner_kind, "JobSet");
        assert_eq!(u.attrs.slice_owner_name, "js");
        assert_eq!(u.attrs.slice_owner_namespace, "default");
        assert_eq!(u.attrs.tpu_accelerator, "tpu-v6e-slice");
    }

    #[test]
    fn unknown_counts_against_the_threshold() {
        let u = slice(Some("Unknown")).upness(Owner::Unowned);
        assert_eq!((u.ready_count, u.unknown_count), (0, 1));
        assert!(u.is_up(1.0));
        assert!(!u.is_up(0.0));
    }

    #[test]
    fn false_or_missing_is_down() {
        assert!(!slice(Some("False")).upness(Owner::Running).is_up(1.0));
        assert!(!slice(None).upness(Owner::Running).is_up(1.0));
    }

    #[test]
    fn an_ended_owner_makes_the_slice_planned_down() {
        let u = slice(Some("True")).upness(Owner::Ended);
        assert!(!u.is_up(1.0) && u.expected_down);
        let s = slice(Some("True"));
        let owner = s.owner().unwrap();
        assert_eq!(
            (
                owner.kind.as_str(),
                owner.namespace.as_str(),
                owner.name.as_str()
            ),
            ("JobSet", "default", "js")
        );
    }

    #[test]
    fn a_deleted_slice_is_unplanned_down_with_its_labels() {
        let u = slice(Some("True")).deleted_upness();
        assert!(!u.is_up(1.0) && !u.expected_down);
        assert_eq!(u.status, "Deleted");
        assert_eq!(u.attrs.tpu_topology, "4x4");
        let owner = slice(None).owner().unwrap();
        let r = SliceFacts::remembered("s9", &owner).deleted_upness();
        assert_eq!(r.attrs.slice_name, "s9");
        assert_eq!(r.attrs.slice_owner_name, "js");
        assert!(!r.is_up(1.0));
    }

    #[test]
    fn why_a_slice_is_down_names_its_ready_condition() {
        let w = slice(Some("False")).why_down(false);
        assert_eq!(
            (w.cause, w.detail.as_str()),
            (Cause::SliceDegraded, "Ready False: x")
        );
        let w = slice(None).why_down(false);
        assert_eq!(w.detail, "Ready missing");
        assert_eq!(
            slice(Some("True")).why_down(true).cause,
            Cause::SliceDeleted
        );
    }
}
