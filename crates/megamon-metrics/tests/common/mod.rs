//! Snapshots and helpers shared by the integration tests.
#![allow(dead_code)]

pub mod otlp_receiver;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use megamon_core::report::ScheduledJob;
use megamon_core::{Attrs, EntityKind, EntitySnapshot, FamilySnapshot, Snapshot, Summary, Upness};
use megamon_metrics::{BuildInfo, Metrics, MetricsOptions};

pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: "1.2.3".into(),
        commit: Some("0123abc".into()),
        date: None,
    }
}

pub fn metrics() -> Metrics {
    Metrics::new(MetricsOptions {
        prefix: "megamon".into(),
        build: build_info(),
        otlp: None,
    })
    .unwrap()
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A JobSet entity as the monitor would produce it.
pub fn jobset(uid: &str, name: &str, up: bool, summary: Summary) -> EntitySnapshot {
    EntitySnapshot {
        key: uid.into(),
        upness: Upness {
            ready_count: if up { 2 } else { 0 },
            expected_count: 2,
            attrs: Attrs {
                jobset_name: name.into(),
                jobset_namespace: "default".into(),
                jobset_uid: uid.into(),
                tpu_topology: "2x4".into(),
                ..Attrs::default()
            }
            .into(),
            ..Upness::default()
        },
        up,
        summary,
        causes: Default::default(),
    }
}

pub fn node_pool(name: &str, up: bool, spot: bool, chips: u64, summary: Summary) -> EntitySnapshot {
    EntitySnapshot {
        key: name.into(),
        upness: Upness {
            ready_count: u64::from(up),
            expected_count: 1,
            attrs: Attrs {
                node_pool_name: name.into(),
                tpu_topology: "2x4".into(),
                tpu_accelerator: "tpu-v6e-slice".into(),
                tpu_chip_count: chips,
                spot,
                ..Attrs::default()
            }
            .into(),
            ..Upness::default()
        },
        up,
        summary,
        causes: Default::default(),
    }
}

pub fn snapshot(families: Vec<(EntityKind, Vec<EntitySnapshot>)>) -> Arc<Snapshot> {
    snapshot_with_scheduling(families, BTreeMap::new())
}

pub fn snapshot_with_scheduling(
    families: Vec<(EntityKind, Vec<EntitySnapshot>)>,
    scheduling: BTreeMap<String, ScheduledJob>,
) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        taken_at: "2024-01-01T00:00:00Z".parse().unwrap(),
        families: families
            .into_iter()
            .map(|(kind, entities)| FamilySnapshot {
                kind,
                entities: entities.into_iter().map(Arc::new).collect(),
            })
            .collect(),
        scheduling: Arc::new(scheduling),
    })
}

/// The sample lines (no comments) whose metric name starts with `prefix`.
pub fn samples<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .collect()
}

/// Every metric family name that has a `# TYPE` line.
pub fn family_names(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect()
}

/// The text without its histogram families: the per-entity gauges only.
/// (The leader also shows a zero `time_to_recover` histogram per label set
/// of the current entities, which the gauge tests do not count.)
#[allow(dead_code)]
pub fn gauges_only(text: &str) -> String {
    let histograms: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" histogram"))
        .collect();
    text.lines()
        .filter(|l| {
            let name = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
                .unwrap_or(l);
            !histograms.iter().any(|h| {
                name.strip_prefix(h).is_some_and(|rest| {
                    rest.starts_with(' ')
                        || rest.starts_with("_bucket{")
                        || rest.starts_with("_sum")
                        || rest.starts_with("_count")
                })
            })
        })
        .map(|l| format!("{l}\n"))
        .collect()
}
