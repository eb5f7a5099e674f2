//! TPU Slices, `accelerator.gke.io/v1beta1` (SPEC §2.4).

use serde::Deserialize;

use super::{Condition, ConditionStatus, ObjectMeta, labels};
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
            owner_kind: label(labels::SLICE_OWNER_KIND),
            owner_name: label(labels::SLICE_OWNER_NAME),
            owner_namespace: label(labels::SLICE_OWNER_NAMESPACE),
        }
    }
}

impl SliceFacts {
    pub fn upness(&self) -> Upness {
        Upness {
            ready_count: u64::from(self.ready == ConditionStatus::True),
            expected_count: 1,
            unknown_count: u64::from(self.ready == ConditionStatus::Unknown),
            status: String::new(),
            expected_down: false,
            attrs: Attrs {
                slice_name: self.name.clone(),
                tpu_accelerator: self.accelerator.clone(),
                tpu_topology: self.topology.clone(),
                tpu_chip_count: chips(&self.topology).unwrap_or(0),
                slice_owner_kind: self.owner_kind.clone(),
                slice_owner_name: self.owner_name.clone(),
                slice_owner_namespace: self.owner_namespace.clone(),
                ..Attrs::default()
            },
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
        let u = slice(Some("True")).upness();
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
        let u = slice(Some("Unknown")).upness();
        assert_eq!((u.ready_count, u.unknown_count), (0, 1));
        assert!(u.is_up(1.0));
        assert!(!u.is_up(0.0));
    }

    #[test]
    fn false_or_missing_is_down() {
        assert!(!slice(Some("False")).upness().is_up(1.0));
        assert!(!slice(None).upness().is_up(1.0));
    }
}
