//! Cost of publishing and rendering a large fleet: a benchmark that every test
//! run smoke-runs at a small scale (500 JobSets, 100 node pools) in well under a
//! second, checking what it renders. `MEGAMON_FULL_SCALE=1` runs the benchmark's
//! figures (10,000 JobSets, 2,000 node pools), best in release mode:
//! `MEGAMON_FULL_SCALE=1 cargo test --release -p megamon-metrics --test scale -- --nocapture`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use megamon_core::{EntityKind, Summary};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The benchmark's figures with `MEGAMON_FULL_SCALE=1`, else the smoke run's.
fn scale<T>(smoke: T, full: T) -> T {
    if std::env::var("MEGAMON_FULL_SCALE").as_deref() == Ok("1") {
        full
    } else {
        smoke
    }
}

#[test]
fn publish_and_render_a_large_fleet() {
    let (n_jobsets, n_pools) = scale((500, 100), (10_000, 2_000));
    // Every instrument non-zero, so each entity has all 14 series.
    let summary = Summary {
        down_time_provisioned: secs(61.0),
        interruption_count: 3,
        recovery_count: 2,
        down_time: secs(400.5),
        up_time: secs(1_234_567.25),
        total_down_time_between_recovery: secs(120.0),
        total_up_time_between_interruption: secs(900_000.0),
        latest_down_time_between_recovery: secs(70.0),
        latest_up_time_between_interruption: secs(300_000.0),
        mean_down_time_between_recovery: secs(60.0),
        mean_up_time_between_interruption: secs(300_000.0),
        provisioning_duration: secs(61.0),
        provisioning_state: megamon_core::ProvisioningState::Success,
    };
    let jobsets: Vec<_> = (0..n_jobsets)
        .map(|i| {
            let mut e = jobset(
                &format!("{i:08x}-0000-4000-8000-000000000000"),
                &format!("train-{i}"),
                i % 7 != 0,
                summary,
            );
            std::sync::Arc::make_mut(&mut e.upness.attrs).tpu_chip_count = 256;
            std::sync::Arc::make_mut(&mut e.upness.attrs).tpu_accelerator = "tpu-v5p-slice".into();
            e
        })
        .collect();
    let pools: Vec<_> = (0..n_pools)
        .map(|i| {
            node_pool(
                &format!("tpu-pool-{i}"),
                i % 5 != 0,
                i % 2 == 0,
                64,
                summary,
            )
        })
        .collect();
    let snap = snapshot(vec![
        (EntityKind::JobSets, jobsets),
        (EntityKind::NodePools, pools),
    ]);
    let rss_before = rss_kib();

    let m = metrics();
    let rss_new = rss_kib();
    let mut publish = Vec::new();
    let mut render = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let t = Instant::now();
        m.publish(snap.clone());
        publish.push(t.elapsed());
        let t = Instant::now();
        let text = m.render_prometheus().unwrap();
        render.push(t.elapsed());
        size = text.len();
        let text = gauges_only(&text);
        assert_eq!(samples(&text, "megamon_jobset_up{").len(), n_jobsets);
        assert_eq!(samples(&text, "megamon_nodepool_up{").len(), n_pools);
        // Every instrument non-zero: 14 series per entity.
        assert_eq!(
            samples(&text, "megamon_jobset_").len(),
            n_jobsets * 14,
            "JobSet series"
        );
    }
    let ms = |d: &Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "{n_jobsets} JobSets, {n_pools} node pools: publish: {}; render: {}; rendered size: {} bytes ({:.1} MiB), {} series lines; RSS before {:?} KiB, after Metrics::new {:?} KiB, after {:?} KiB",
        publish.iter().map(ms).collect::<Vec<_>>().join(", "),
        render.iter().map(ms).collect::<Vec<_>>().join(", "),
        size,
        size as f64 / (1024.0 * 1024.0),
        (n_jobsets + n_pools) * 14,
        rss_before,
        rss_new,
        rss_kib(),
    );
}
