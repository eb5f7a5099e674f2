//! Up-ness: the counts and labels of one entity at one moment, and the up rule.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::timeline::State;

/// Labels describing an entity; they become metric labels and report fields.
///
/// Field names in JSON are the original's; empty values are omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attrs {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jobset_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jobset_namespace: String,
    #[serde(
        default,
        rename = "jobsetUID",
        skip_serializing_if = "String::is_empty"
    )]
    pub jobset_uid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tpu_topology: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tpu_accelerator: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tpu_chip_count: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spot: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_pool_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub slice_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub slice_owner_kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub slice_owner_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub slice_owner_namespace: String,
    /// Upstream v1.2.0 block labels, from the nodes (SPEC §2.7).
    #[serde(default, rename = "blockID", skip_serializing_if = "String::is_empty")]
    pub block_id: String,
    #[serde(
        default,
        rename = "subblockID",
        skip_serializing_if = "String::is_empty"
    )]
    pub subblock_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub block_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subblock_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lws_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lws_namespace: String,
    #[serde(default, rename = "lwsUID", skip_serializing_if = "String::is_empty")]
    pub lws_uid: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Ready / unknown tallies of the things that make up an entity (nodes, jobs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub ready: u64,
    pub unknown: u64,
}

/// One entity's up-ness as computed by an aggregation (SPEC §2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upness {
    pub ready_count: u64,
    pub expected_count: u64,
    pub unknown_count: u64,
    /// Free-form state from the source (JobSet terminal condition, pool status).
    #[serde(default)]
    pub status: String,
    /// Planned downtime: the entity is down on purpose, so going down is not an
    /// interruption.
    #[serde(default, rename = "ed")]
    pub expected_down: bool,
    /// Failed (JobSet `Failed`, pool `ERROR`/`RUNNING_WITH_ERROR`); decides
    /// the provisioning state of an entity never up. Not part of the up rule.
    #[serde(default, rename = "f", skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    /// Shared (an entity's timeline and its snapshots hold one copy).
    #[serde(flatten)]
    pub attrs: Arc<Attrs>,
}

impl Upness {
    /// Whether the entity is up under `threshold` (SPEC §2 up rule).
    pub fn is_up(&self, unknown_count_threshold: f64) -> bool {
        !self.expected_down
            && counts_are_up(
                self.expected_count,
                Counts {
                    ready: self.ready_count,
                    unknown: self.unknown_count,
                },
                unknown_count_threshold,
            )
    }
}

impl Upness {
    /// The state a timeline records for this up-ness.
    pub fn state(&self, unknown_count_threshold: f64) -> State {
        State {
            up: self.is_up(unknown_count_threshold),
            expected_down: self.expected_down,
            failed: self.failed,
        }
    }
}

/// The count part of the up rule: `unknown ≤ round_half_even(expected × threshold)`
/// and `ready + unknown ≥ expected` (≥ keeps a pool with a surge node up).
pub fn counts_are_up(expected: u64, counts: Counts, unknown_count_threshold: f64) -> bool {
    counts.unknown <= max_unknown(expected, unknown_count_threshold)
        && counts.ready.saturating_add(counts.unknown) >= expected
}

/// How many unknown members an entity of `expected` members tolerates.
pub fn max_unknown(expected: u64, unknown_count_threshold: f64) -> u64 {
    let threshold = if unknown_count_threshold.is_finite() {
        unknown_count_threshold.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // Go's math.RoundToEven, as the original used.
    (expected as f64 * threshold).round_ties_even() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(expected: u64, ready: u64, unknown: u64, threshold: f64) -> bool {
        Upness {
            expected_count: expected,
            ready_count: ready,
            unknown_count: unknown,
            ..Default::default()
        }
        .is_up(threshold)
    }

    #[test]
    fn spec_examples() {
        // SPEC §2, threshold 0.1: 16 expected, 14 ready + 2 unknown → up; 13 + 3 → down.
        assert!(up(16, 14, 2, 0.1));
        assert!(!up(16, 13, 3, 0.1));
        // Threshold 1.0: 7 + 3 of 10 → up. Threshold 0.5: 7 + 2 of 10 → down.
        assert!(up(10, 7, 3, 1.0));
        assert!(!up(10, 7, 2, 0.5));
    }

    #[test]
    fn surge_node_keeps_entity_up() {
        assert!(up(4, 5, 0, 0.0));
    }

    #[test]
    fn missing_members_are_down() {
        assert!(!up(64, 0, 0, 1.0));
        assert!(!up(64, 63, 0, 1.0));
        assert!(up(64, 64, 0, 0.0));
    }

    #[test]
    fn expected_down_is_never_up() {
        let u = Upness {
            expected_count: 1,
            ready_count: 1,
            expected_down: true,
            ..Default::default()
        };
        assert!(!u.is_up(1.0));
    }

    #[test]
    fn max_unknown_rounds_half_to_even() {
        assert_eq!(max_unknown(16, 0.1), 2); // 1.6
        assert_eq!(max_unknown(5, 0.5), 2); // 2.5 → 2
        assert_eq!(max_unknown(7, 0.5), 4); // 3.5 → 4
        assert_eq!(max_unknown(64, 0.1), 6); // 6.4
        assert_eq!(max_unknown(10, 0.0), 0);
        assert_eq!(max_unknown(10, f64::NAN), 0);
    }

    #[test]
    fn zero_threshold_means_no_unknown_tolerated() {
        assert!(!up(10, 9, 1, 0.0));
        assert!(up(10, 10, 0, 0.0));
    }

    #[test]
    fn attrs_serialise_with_original_names_and_omit_empty() {
        let u = Upness {
            ready_count: 1,
            expected_count: 2,
            attrs: Attrs {
                jobset_name: "a".into(),
                jobset_uid: "u".into(),
                tpu_chip_count: 16,
                ..Default::default()
            }
            .into(),
            ..Default::default()
        };
        let json = serde_json::to_value(&u).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "readyCount": 1, "expectedCount": 2, "unknownCount": 0,
                "status": "", "ed": false,
                "jobsetName": "a", "jobsetUID": "u", "tpuChipCount": 16
            })
        );
    }
}
