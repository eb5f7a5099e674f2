//! Our Prometheus text, written straight from the snapshot, against what
//! `opentelemetry-prometheus` 0.33 renders from the SDK instruments the OTLP
//! push registers for the same snapshot: the same families, HELP and TYPE
//! lines, series and values. The only intended difference is `otel_scope_version=""`,
//! which that crate leaves out for a scope without version and the original
//! (Go) exporter printed; label order is not compared (the crate appends the
//! scope labels after the others, the Go exporter sorts all of them).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use megamon_core::cause::{Cause, CauseCounts};
use megamon_core::entity::blocks::BlockLabels;
use megamon_core::report::ScheduledJob;
use megamon_core::{
    Attrs, EntityKind, EntitySnapshot, Episode, FamilySnapshot, ProvisioningState, Snapshot,
    Summary, Upness,
};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder as _, TextEncoder};

use crate::instruments::{Frame, FrameSlot, HistogramId, Instruments};
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
            attrs.block_id = "block-1".into();
            attrs.block_name = "res-block-1".into();
        }
        EntityKind::LeaderWorkerSets => {
            attrs.lws_name = format!("lws-{key}");
            attrs.lws_namespace = "serving".into();
            attrs.lws_uid = key.into();
        }
    }
    if kind == EntityKind::NodePools {
        attrs.block_id = "block-2".into();
        attrs.subblock_id = "sub-3".into();
        attrs.block_name = "res-block-2".into();
        attrs.subblock_name = "res-sub-3".into();
    }
    let s = |secs: u64| Duration::from_millis(secs * 1000 + 250);
    EntitySnapshot {
        key: key.into(),
        upness: Upness {
            attrs: attrs.into(),
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
            provisioning_duration: s(60 * n),
            provisioning_state: [
                ProvisioningState::Success,
                ProvisioningState::Provisioning,
                ProvisioningState::Failed,
            ][n as usize % 3],
        },
        causes: match n {
            0 => CauseCounts::default(),
            1 => [Some(Cause::Preemption)].into_iter().collect(),
            _ => [Some(Cause::NodeNotReady), None].into_iter().collect(),
        },
    }
}

/// Interruptions and recoveries: (kind, episode, spot, accelerator, topology).
fn episodes() -> Vec<(EntityKind, Episode, Attrs)> {
    let at: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    let attrs = |spot: bool, topology: &str| Attrs {
        spot,
        tpu_accelerator: "tpu-v5p-slice".into(),
        tpu_topology: topology.into(),
        jobset_name: "never-a-label".into(),
        ..Attrs::default()
    };
    vec![
        (
            EntityKind::JobSets,
            Episode::Recovery {
                at,
                down_run: Duration::from_secs(90),
            },
            attrs(true, "4x4"),
        ),
        (
            EntityKind::JobSets,
            Episode::Recovery {
                at,
                down_run: Duration::from_secs(7200),
            },
            attrs(true, "4x4"),
        ),
        (
            EntityKind::JobSets,
            Episode::Interruption {
                at,
                up_run: Duration::from_secs(4000),
                cause: Some(Cause::Preemption),
            },
            attrs(false, "4x4"),
        ),
        (
            EntityKind::NodePools,
            Episode::Interruption {
                at,
                up_run: Duration::from_millis(2500),
                cause: None,
            },
            attrs(false, ""),
        ),
    ]
}

/// What [`Metrics::record_episode`] records, as the SDK instruments take it.
fn record_episode_in(i: &Instruments, kind: EntityKind, episode: &Episode, attrs: &Attrs) {
    let spot = if attrs.spot { "true" } else { "" };
    let (acc, topo) = (attrs.tpu_accelerator.as_str(), attrs.tpu_topology.as_str());
    match episode {
        Episode::Recovery { down_run, .. } => i.record(
            HistogramId::time_to_recover(kind),
            &[spot, acc, topo],
            down_run.as_secs_f64(),
        ),
        Episode::Interruption { up_run, cause, .. } => i.record(
            HistogramId::time_between_interruptions(kind),
            &[cause.unwrap_or(Cause::Unknown).as_str(), spot, acc, topo],
            up_run.as_secs_f64(),
        ),
    }
}

fn rich_snapshot() -> Arc<Snapshot> {
    let family = |kind: EntityKind| FamilySnapshot {
        kind,
        entities: (0..3)
            .map(|n| Arc::new(entity(&format!("{}-{n}", kind.name()), kind, n != 1, n)))
            .collect(),
    };
    let mut scheduling = BTreeMap::new();
    scheduling.insert(
        "pool-a".to_string(),
        ScheduledJob {
            job_name: "js-a-slice-0".into(),
            jobset_name: "js-a".into(),
            blocks: BlockLabels {
                block_id: "b".into(),
                subblock_id: "sb".into(),
                block_name: "rb".into(),
                subblock_name: "rsb".into(),
            },
        },
    );
    Arc::new(Snapshot {
        taken_at: "2024-01-01T00:00:00Z".parse().unwrap(),
        families: EntityKind::ALL.into_iter().map(family).collect(),
        scheduling: Arc::new(scheduling),
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

/// What `opentelemetry-prometheus` renders from the SDK instruments (the
/// OTLP push's registration) for `snapshot`, after `record`.
fn theirs(snapshot: &Arc<Snapshot>, build: &BuildInfo, record: impl Fn(&Instruments)) -> String {
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
    let leader = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let instruments = Instruments::register(
        &provider.meter(SCOPE_NAME),
        "megamon",
        build,
        &slot,
        &leader,
        &Arc::new(crate::recorded::SourceHealth::default()),
    );
    slot.set(Some(Arc::new(Frame::new(Arc::clone(snapshot)))));
    record(&instruments);
    let mut theirs = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut theirs)
        .unwrap();
    String::from_utf8(theirs).unwrap()
}

/// What our /metrics renders for `snapshot`, after `record`.
fn ours(snapshot: &Arc<Snapshot>, build: &BuildInfo, record: impl Fn(&Metrics)) -> String {
    let metrics = Metrics::new(MetricsOptions {
        prefix: "megamon".into(),
        build: build.clone(),
        otlp: None,
    })
    .unwrap();
    metrics.publish(Arc::clone(snapshot));
    record(&metrics);
    without_empty_histograms(&metrics.render_prometheus().unwrap())
}

/// `text` without the series of histograms that observed nothing (and a
/// family's HELP and TYPE when none of its series is left): our /metrics
/// shows a time-to-recover series at zero for entities yet to recover, which
/// the SDK cannot (it has no empty points). The one intended difference.
fn without_empty_histograms(text: &str) -> String {
    let histograms: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" histogram"))
        .collect();
    // Label sets (without `le`) of histogram series whose count is 0.
    let empty: BTreeSet<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (name, labels) = series.split_once('{')?;
            let family = name.strip_suffix("_count")?;
            (value == "0" && histograms.contains(family))
                .then(|| (family.to_string(), labels.to_string()))
        })
        .collect();
    let is_empty = |line: &str| {
        let Some((series, _)) = line.rsplit_once(' ') else {
            return false;
        };
        let Some((name, labels)) = series.split_once('{') else {
            return false;
        };
        let Some(family) = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| histograms.contains(f))
        else {
            return false;
        };
        let without_le: Vec<&str> = labels
            .trim_end_matches('}')
            .split(',')
            .filter(|kv| !kv.starts_with("le="))
            .collect();
        let key = format!("{}}}", without_le.join(","));
        empty.contains(&(family.to_string(), key))
    };
    let kept: Vec<&str> = text.lines().filter(|l| !is_empty(l)).collect();
    // Drop headers left without a series.
    let mut out = String::new();
    for (i, line) in kept.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("# ") {
            let name = rest.split(' ').nth(1).unwrap_or_default();
            let has_series = kept[i + 1..]
                .iter()
                .take_while(|l| l.starts_with('#') || l.starts_with(name))
                .any(|l| !l.starts_with('#'));
            if !has_series {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn same_names_labels_and_values_as_opentelemetry_prometheus() {
    let build = BuildInfo {
        version: "9.9.9".into(),
        commit: Some("cafe".into()),
        date: Some("2025-01-01T00:00:00Z".into()),
    };
    let snapshot = rich_snapshot();
    let theirs = theirs(&snapshot, &build, |i| {
        i.record(HistogramId::AGGREGATION_DURATION, &[], 0.3);
        i.record(HistogramId::STORE_LATENCY, &["write"], 0.02);
        i.record(HistogramId::STORE_LATENCY, &["read"], 0.7);
        i.record(HistogramId::STORE_LATENCY, &["write"], 0.04);
        i.record(HistogramId::GKE_LATENCY, &[], 1.5);
        for (kind, episode, attrs) in episodes() {
            record_episode_in(i, kind, &episode, &attrs);
        }
    });
    let ours = ours(&snapshot, &build, |m| {
        m.record_aggregation_duration(Duration::from_millis(300));
        m.record_store_latency("write", Duration::from_millis(20));
        m.record_store_latency("read", Duration::from_millis(700));
        m.record_store_latency("write", Duration::from_millis(40));
        m.record_gke_latency(Duration::from_millis(1500));
        for (kind, episode, attrs) in episodes() {
            m.record_episode(kind, &episode, &attrs);
        }
    });

    for line in ours
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("target_info"))
    {
        assert!(line.contains("otel_scope_version=\"\""), "{line}");
    }
    let (our_samples, our_meta) = parse(&ours, Some("otel_scope_version"));
    let (their_samples, their_meta) = parse(&theirs, None);
    assert_eq!(our_meta, their_meta);
    let only_ours: Vec<_> = our_samples.difference(&their_samples).collect();
    let only_theirs: Vec<_> = their_samples.difference(&our_samples).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "only ours: {only_ours:?}\nonly theirs: {only_theirs:?}"
    );
    // Every family of every entity kind is there: 5 × (13 + provisioning
    // + causes), plus scheduled, build info, leader, three histograms,
    // target_info, and the three episode histograms that observed something.
    assert_eq!(
        our_meta.iter().filter(|l| l.starts_with("# TYPE")).count(),
        5 * 15 + 7 + 3
    );
    assert!(ours.contains("megamon_jobset_time_to_recover_seconds_bucket{otel_scope_name=\"megamon\",otel_scope_version=\"\",spot=\"true\",tpu_accelerator=\"tpu-v5p-slice\",tpu_topology=\"4x4\",le=\"120\"} 1\n"), "{ours}");
    assert!(ours.contains("megamon_jobset_time_to_recover_seconds_sum{otel_scope_name=\"megamon\",otel_scope_version=\"\",spot=\"true\",tpu_accelerator=\"tpu-v5p-slice\",tpu_topology=\"4x4\"} 7290\n"), "{ours}");
    assert!(ours.contains("megamon_nodepool_time_between_interruptions_seconds_count{cause=\"unknown\",otel_scope_name=\"megamon\",otel_scope_version=\"\",tpu_accelerator=\"tpu-v5p-slice\"} 1\n"), "{ours}");
    assert!(!ours.contains("never-a-label"));
    assert!(ours.contains(",cause=\"node-not-ready\","), "{ours}");
    assert!(
        ours.contains("\nmegamon_leader{otel_scope_name=\"megamon\",otel_scope_version=\"\"} 1\n"),
        "{ours}"
    );
    assert!(ours.contains("megamon_gcs_latency_seconds_count{operation=\"write\",otel_scope_name=\"megamon\",otel_scope_version=\"\"} 2\n"), "{ours}");
    assert!(ours.contains(",provisioning_state=\"failed\","), "{ours}");
}

#[test]
fn same_as_opentelemetry_prometheus_for_errors_order_and_shared_labels() {
    let build = BuildInfo {
        version: "1".into(),
        commit: None,
        date: None,
    };
    // Entities in reverse order, pools scheduled, and two pools with the
    // same labels (the SDK reports one series, with the last value observed:
    // for an only-non-zero gauge the last non-zero one).
    let mut snapshot = (*rich_snapshot()).clone();
    for family in &mut snapshot.families {
        family.entities.reverse();
    }
    let pools = snapshot
        .families
        .iter_mut()
        .find(|f| f.kind == EntityKind::NodePools)
        .unwrap();
    let mut twin = (*pools.entities[0]).clone();
    twin.key = "twin".into();
    twin.up = !twin.up;
    twin.summary.down_time_provisioned = Duration::ZERO;
    twin.summary.up_time += Duration::from_secs(1);
    pools.entities.push(Arc::new(twin));
    for (pool, job) in [("pool-c", "x"), ("pool-b", "y"), ("pool-0", "")] {
        Arc::make_mut(&mut snapshot.scheduling).insert(
            pool.to_string(),
            ScheduledJob {
                job_name: job.into(),
                jobset_name: "js".into(),
                blocks: BlockLabels::default(),
            },
        );
    }
    let snapshot = Arc::new(snapshot);

    let theirs = theirs(&snapshot, &build, |i| {
        i.record_export_error("stdout");
        i.record_export_error("configmap");
        i.record_export_error("stdout");
    });
    let ours = ours(&snapshot, &build, |m| {
        m.record_export_error("stdout");
        m.record_export_error("configmap");
        m.record_export_error("stdout");
    });
    let (our_samples, our_meta) = parse(&ours, Some("otel_scope_version"));
    let (their_samples, their_meta) = parse(&theirs, None);
    assert_eq!(our_meta, their_meta);
    assert_eq!(our_samples, their_samples);
    assert!(ours.contains(
        "megamon_export_errors_total{exporter=\"stdout\",otel_scope_name=\"megamon\",otel_scope_version=\"\"} 2\n"
    ));
    // One series per label set: 3 pools, not 4.
    assert_eq!(ours.matches("\nmegamon_nodepool_up{").count(), 3);

    // Series in the Go client's order: by label count, then values. Pool
    // "pool-0" has no job name, so fewer labels, and comes first; "pool-a"
    // has block labels too, so the most, and comes last (its first label
    // value is its block id).
    let scheduled: Vec<&str> = ours
        .lines()
        .filter(|l| l.starts_with("megamon_nodepool_job_scheduled{"))
        .map(|l| l.split('"').nth(1).unwrap())
        .collect();
    assert_eq!(scheduled, ["js", "x", "y", "b"]);
    let jobsets: Vec<&str> = ours
        .lines()
        .filter(|l| l.starts_with("megamon_jobset_up{"))
        .map(|l| l.split('"').nth(1).unwrap())
        .collect();
    // Jobset 1 is not spot: one label fewer.
    assert_eq!(jobsets, ["js-jobsets-1", "js-jobsets-0", "js-jobsets-2"]);
}
