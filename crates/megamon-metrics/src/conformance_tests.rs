//! Our Prometheus text against what `opentelemetry-prometheus` 0.33 renders
//! from the same instruments: the same families, HELP and TYPE lines, series
//! and values. The only intended difference is `otel_scope_version=""`,
//! which that crate leaves out for a scope without version and the original
//! (Go) exporter printed; label order is not compared (the crate appends the
//! scope labels after the others, the Go exporter sorts all of them).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use megamon_core::report::ScheduledJob;
use megamon_core::{Attrs, EntityKind, EntitySnapshot, FamilySnapshot, Snapshot, Summary, Upness};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder as _, TextEncoder};

use crate::instruments::{Frame, FrameSlot, Instruments};
use crate::metrics::resource;
use crate::{BuildInfo, Metrics, MetricsOptions, SCOPE_NAME};

fn entity(key: &str, kind: EntityKind, up: bool, n: u64) -> EntitySnapshot {
    let mut attrs = Attrs {
        tpu_topology: "4x4".into(),
        tpu_accelerator: "tpu-v5p-slice".into(),
        tpu_chip_count: 16 * n,
        spot: n.is_multiple_of(2),
        ..Attrs::default()
    };
    match kind {
        EntityKind::JobSets | EntityKind::JobSetNodes => {
            attrs.jobset_name = format!("js-{key}");
            attrs.jobset_namespace = "team".into();
            attrs.jobset_uid = key.into();
        }
        EntityKind::NodePools => attrs.node_pool_name = key.into(),
        EntityKind::Slices => {
            attrs.slice_name = key.into();
            attrs.slice_owner_kind = "JobSet".into();
            attrs.slice_owner_name = "owner".into();
            attrs.slice_owner_namespace = "team".into();
        }
    }
    let s = |secs: u64| Duration::from_millis(secs * 1000 + 250);
    EntitySnapshot {
        key: key.into(),
        upness: Upness {
            attrs,
            ..Upness::default()
        },
        up,
        summary: Summary {
            down_time_provisioned: s(60 * n),
            interruption_count: n,
            recovery_count: n.saturating_sub(1),
            down_time: s(1000 * n),
            up_time: s(2_000_000 * n),
            total_down_time_between_recovery: s(30 * n),
            total_up_time_between_interruption: s(900 * n),
            latest_down_time_between_recovery: s(7 * n),
            latest_up_time_between_interruption: s(50 * n),
            mean_down_time_between_recovery: s(3 * n),
            mean_up_time_between_interruption: s(90 * n),
        },
    }
}

fn rich_snapshot() -> Arc<Snapshot> {
    let family = |kind: EntityKind| FamilySnapshot {
        kind,
        entities: (0..3)
            .map(|n| entity(&format!("{}-{n}", kind.name()), kind, n != 1, n))
            .collect(),
    };
    let mut scheduling = BTreeMap::new();
    scheduling.insert(
        "pool-a".to_string(),
        ScheduledJob {
            job_name: "js-a-slice-0".into(),
            jobset_name: "js-a".into(),
        },
    );
    Arc::new(Snapshot {
        taken_at: "2024-01-01T00:00:00Z".parse().unwrap(),
        families: EntityKind::ALL.into_iter().map(family).collect(),
        scheduling,
    })
}

type SampleSet = BTreeSet<(String, BTreeSet<(String, String)>, u64)>;

/// (name, labels, value bits) of every sample; HELP and TYPE lines.
fn parse(text: &str, drop_label: Option<&str>) -> (SampleSet, BTreeSet<String>) {
    let mut samples = BTreeSet::new();
    let mut meta = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('#') {
            meta.insert(line.to_string());
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once("=\"").unwrap();
                (k.to_string(), v.trim_end_matches('"').to_string())
            })
            .filter(|(k, _)| Some(k.as_str()) != drop_label)
            .collect();
        samples.insert((name.to_string(), labels, value.to_bits()));
    }
    (samples, meta)
}

#[test]
fn same_names_labels_and_values_as_opentelemetry_prometheus() {
    let build = BuildInfo {
        version: "9.9.9".into(),
        commit: Some("cafe".into()),
        date: Some("2025-01-01T00:00:00Z".into()),
    };
    let snapshot = rich_snapshot();

    let registry = prometheus::Registry::new();
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()
        .unwrap();
    let provider = SdkMeterProvider::builder()
        .with_resource(resource())
        .with_reader(exporter)
        .build();
    let slot = Arc::new(FrameSlot::default());
    let instruments = Instruments::register(&provider.meter(SCOPE_NAME), "megamon", &build, &slot);
    slot.set(Some(Arc::new(Frame::new(Arc::clone(&snapshot)))));
    instruments.record_aggregation_duration(Duration::from_millis(300));
    let mut theirs = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut theirs)
        .unwrap();
    let theirs = String::from_utf8(theirs).unwrap();

    let metrics = Metrics::new(MetricsOptions {
        prefix: "megamon".into(),
        build,
        otlp: None,
    })
    .unwrap();
    metrics.publish(snapshot);
    metrics.record_aggregation_duration(Duration::from_millis(300));
    let ours = metrics.render_prometheus().unwrap();

    for line in ours
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("target_info"))
    {
        assert!(line.contains("otel_scope_version=\"\""), "{line}");
    }
    let (our_samples, our_meta) = parse(&ours, Some("otel_scope_version"));
    let (their_samples, their_meta) = parse(&theirs, None);
    assert_eq!(our_meta, their_meta);
    assert_eq!(our_samples, their_samples);
    // Every family of every entity kind is there: 4 × 13, plus scheduled,
    // build info, the histogram and target_info.
    assert_eq!(
        our_meta.iter().filter(|l| l.starts_with("# TYPE")).count(),
        4 * 13 + 4
    );
}
