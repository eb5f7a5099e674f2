//! The fleet roll-up of `megamon report` over many clusters **[ours]**
//! (SPEC §3.5): per family and accelerator, chip-weighted availability and
//! the pooled interruption and recovery figures of every entity.
//!
//! - `availability` = Σ chips × up time / Σ chips × (up + down time), an
//!   entity whose chip count is unknown weighing as one chip; `null` before
//!   any time was observed.
//! - MTTR (`meanDownTimeBetweenRecovery`) = Σ time to recover / Σ recoveries,
//!   MTBI (`meanUpTimeBetweenInterruption`) = Σ up-runs / Σ interruptions,
//!   over every entity of the group (so an entity counts by its episodes, not
//!   as one mean among others); 0 when there are none.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::duration::{go_nanos, mean};
use crate::kind::EntityKind;
use crate::timeline::Summary;
use crate::upness::Attrs;

/// What an entity without an accelerator label is grouped under.
pub const NO_ACCELERATOR: &str = "unknown";

/// One family and accelerator, over every cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub entities: u64,
    /// Σ chip counts (unknown counts as 0 here).
    pub chips: u64,
    /// Chip-weighted up time over observed time, 0 to 1.
    pub availability: Option<f64>,
    pub interruption_count: u64,
    pub recovery_count: u64,
    #[serde(with = "go_nanos")]
    pub up_time: Duration,
    #[serde(with = "go_nanos")]
    pub down_time: Duration,
    /// MTTR.
    #[serde(with = "go_nanos")]
    pub mean_down_time_between_recovery: Duration,
    /// MTBI.
    #[serde(with = "go_nanos")]
    pub mean_up_time_between_interruption: Duration,
    #[serde(skip)]
    sums: Sums,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Sums {
    chip_seconds_up: f64,
    chip_seconds: f64,
    to_recover: Duration,
    between_interruptions: Duration,
}

/// Family name → accelerator → group. JSON: `{"jobsets": {"tpu-v5p-slice": {...}}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Rollup {
    groups: BTreeMap<&'static str, BTreeMap<String, Group>>,
}

impl Rollup {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one entity's summary in.
    pub fn add(&mut self, kind: EntityKind, attrs: &Attrs, s: &Summary) {
        let accelerator = if attrs.tpu_accelerator.is_empty() {
            NO_ACCELERATOR
        } else {
            attrs.tpu_accelerator.as_str()
        };
        let g = self
            .groups
            .entry(kind.name())
            .or_default()
            .entry(accelerator.to_string())
            .or_default();
        let weight = attrs.tpu_chip_count.max(1) as f64;
        g.entities += 1;
        g.chips += attrs.tpu_chip_count;
        g.interruption_count += s.interruption_count;
        g.recovery_count += s.recovery_count;
        g.up_time += s.up_time;
        g.down_time += s.down_time;
        g.sums.chip_seconds_up += weight * s.up_time.as_secs_f64();
        g.sums.chip_seconds += weight * (s.up_time + s.down_time).as_secs_f64();
        g.sums.to_recover += s.total_down_time_between_recovery;
        g.sums.between_interruptions += s.total_up_time_between_interruption;
        g.availability =
            (g.sums.chip_seconds > 0.0).then(|| g.sums.chip_seconds_up / g.sums.chip_seconds);
        g.mean_down_time_between_recovery = mean(g.sums.to_recover, g.recovery_count);
        g.mean_up_time_between_interruption =
            mean(g.sums.between_interruptions, g.interruption_count);
    }

    /// (family, accelerator, group), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str, &Group)> {
        self.groups
            .iter()
            .flat_map(|(kind, by)| by.iter().map(move |(a, g)| (*kind, a.as_str(), g)))
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    fn pool(accel: &str, chips: u64) -> Attrs {
        Attrs {
            tpu_accelerator: accel.into(),
            tpu_chip_count: chips,
            ..Attrs::default()
        }
    }

    #[test]
    fn availability_is_chip_weighted_and_means_are_pooled() {
        let mut r = Rollup::new();
        // 256 chips up 90 of 100 minutes, 2 recoveries of 5m, 2 interruptions.
        r.add(
            EntityKind::NodePools,
            &pool("tpu-v5p-slice", 256),
            &Summary {
                up_time: mins(90),
                down_time: mins(10),
                interruption_count: 2,
                recovery_count: 2,
                total_down_time_between_recovery: mins(10),
                total_up_time_between_interruption: mins(60),
                ..Summary::default()
            },
        );
        // 16 chips never up in 100 minutes; 1 recovery of 40m.
        r.add(
            EntityKind::NodePools,
            &pool("tpu-v5p-slice", 16),
            &Summary {
                down_time: mins(100),
                recovery_count: 1,
                total_down_time_between_recovery: mins(40),
                ..Summary::default()
            },
        );
        r.add(EntityKind::JobSets, &Attrs::default(), &Summary::default());
        let groups: Vec<_> = r.iter().collect();
        assert_eq!(groups.len(), 2);
        let (kind, accel, g) = groups[1];
        assert_eq!((kind, accel), ("node-pools", "tpu-v5p-slice"));
        assert_eq!((g.entities, g.chips), (2, 272));
        let want = 256.0 * 90.0 / (256.0 * 100.0 + 16.0 * 100.0);
        assert!((g.availability.unwrap() - want).abs() < 1e-12);
        assert_eq!(g.mean_down_time_between_recovery, mins(50) / 3);
        assert_eq!(g.mean_up_time_between_interruption, mins(30));
        let (kind, accel, g) = groups[0];
        assert_eq!((kind, accel), ("jobsets", NO_ACCELERATOR));
        assert_eq!(g.availability, None);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["node-pools"]["tpu-v5p-slice"]["recoveryCount"], 3);
        assert_eq!(
            json["node-pools"]["tpu-v5p-slice"]["meanUpTimeBetweenInterruption"],
            1_800_000_000_000i64
        );
        assert!(json["jobsets"]["unknown"]["availability"].is_null());
        assert!(json["jobsets"]["unknown"].get("sums").is_none());
    }
}
