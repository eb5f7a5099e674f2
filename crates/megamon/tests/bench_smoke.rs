//! The fleet benchmark (`megamon-bench`, BENCHMARKS.md) at a small scale, on
//! this build's binary: it must run to the end and produce every figure of
//! its table, each plausible. No timing is asserted: CI machines vary.

use std::path::PathBuf;
use std::time::{Duration, Instant};

#[test]
fn the_benchmark_runs_small_and_prints_every_figure() {
    let nodes = 1024;
    let mut opts = megamon_bench::Options::new(PathBuf::from(env!("CARGO_BIN_EXE_megamon")), nodes);
    opts.churn = Duration::from_secs(3);
    opts.freshness_samples = 4;
    opts.render_samples = 3;
    opts.aggregation_interval = Duration::from_secs(1);
    let started = Instant::now();
    let r = megamon_bench::run(&opts, &mut |msg| {
        eprintln!("[{:>5.1}s] {msg}", started.elapsed().as_secs_f64())
    })
    .unwrap_or_else(|e| panic!("the benchmark failed: {e}"));
    println!("{r}");

    // The fleet it built, and what the API served of it.
    assert_eq!((r.nodes, r.pools, r.jobsets, r.slices), (1024, 64, 64, 32));
    let per_node = r.seed.node_bytes / r.nodes as u64;
    assert!((11_000..15_000).contains(&per_node), "{per_node} B/node");
    assert!(
        r.kubectl.bytes > r.seed.total(),
        "kubectl printed the whole list"
    );
    assert!(r.kubectl.elapsed > Duration::ZERO && r.ready > Duration::ZERO);
    // Memory: read from /proc, peak at least what is resident.
    let stages = [
        r.empty.expect("measured"),
        r.at_ready,
        r.after_sync,
        r.after_render,
        r.at_end,
    ];
    for m in stages {
        assert!(m.rss_kib > 1024 && m.hwm_kib >= m.rss_kib, "{m:?}");
        assert!(m.anon_kib > 0 && m.anon_kib < m.rss_kib, "{m:?}");
    }
    // The peak only grows.
    assert!(r.at_ready.hwm_kib <= r.after_sync.hwm_kib);
    assert!(r.after_sync.hwm_kib <= r.after_render.hwm_kib);
    assert!(r.after_render.hwm_kib <= r.at_end.hwm_kib);
    assert!(r.kubectl_error.is_none(), "{:?}", r.kubectl_error);
    // /metrics: every pool, JobSet and slice is a series.
    assert_eq!(r.render.samples, 3);
    assert!(
        r.render.series > r.pools + r.jobsets + r.slices,
        "{:?}",
        r.render
    );
    assert!(r.render.bytes > 10_000);
    // Freshness: every change seen in /metrics, and by the reference watch.
    assert_eq!(r.freshness.samples, 4);
    assert!(r.freshness.p50 <= r.freshness.p99 && r.freshness.p99 <= r.freshness.max);
    assert!(r.freshness.p50 > Duration::ZERO && r.freshness.watch_p99 < r.freshness.max);
    // Churn: nodes flipped, JobSets came, the monitor used some CPU.
    assert!(
        r.churn.node_flips >= 1 && r.churn.jobsets_created >= 1,
        "{:?}",
        r.churn
    );
    assert!(r.churn.monitor_cpu > Duration::ZERO, "{:?}", r.churn);
    // Store: the transitions were written, and nothing read back.
    assert!(r.store.transitions >= 1, "{:?}", r.store);
    assert!(
        r.store.bytes_written >= r.store.transition_bytes,
        "{:?}",
        r.store
    );
    assert_eq!(r.store.reads_after_start, 0);
    // Every row of the table has a value and a reference.
    let table = r.to_string();
    for (figure, value, reference) in r.rows() {
        assert!(!value.is_empty() && !reference.is_empty(), "{figure}");
        assert!(table.contains(figure), "{figure} missing from\n{table}");
    }
}
