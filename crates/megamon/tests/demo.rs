//! `megamon demo` as a newcomer runs it: every family shows within 30 s (the
//! README's promise; run at twice the pace, measured and printed, with a bound
//! of 60 s that only a stalled scenario crosses on a loaded machine), and Ctrl-C
//! stops it cleanly.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Metrics, Process, wait_for};

#[test]
fn demo_shows_every_family_quickly_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("demo.kubeconfig");
    let mut cmd = Command::new(support::BIN);
    cmd.args([
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--speed",
        "2",
        "--random-seed",
        "7",
        "--kubeconfig-out",
    ])
    .arg(&kubeconfig)
    // The demo's own default: a quiet terminal that tells the story.
    .env_remove("RUST_LOG");
    let demo = Process::spawn_named("megamon demo", cmd);
    let metrics_url = wait_for("the demo's URLs", Duration::from_secs(20), || {
        demo.log().iter().find_map(|l| {
            l.trim()
                .strip_prefix("metrics:")
                .map(|u| u.trim().trim_start_matches("http://").to_string())
        })
    });
    let addr = metrics_url.trim_end_matches("/metrics").to_string();
    assert!(demo.log().iter().any(|l| l.contains("web view:")));
    assert!(
        demo.log()
            .iter()
            .any(|l| l.contains(&kubeconfig.display().to_string()))
    );

    let scrape = || -> Option<Metrics> {
        let (status, body) = support::http_get(&addr, "/metrics")?;
        (status == 200).then(|| Metrics::parse(&body))
    };
    let any = |m: &Metrics, name: &str, pred: &dyn Fn(f64) -> bool| {
        m.values(name, &[]).into_iter().any(pred)
    };
    let mut pools_seen_down = false;
    let mut pools_seen_up = false;
    let started = std::time::Instant::now();
    let last = wait_for("every family busy", Duration::from_secs(60), || {
        let m = scrape()?;
        pools_seen_down |= any(&m, "megamon_nodepool_up", &|v| v == 0.0);
        pools_seen_up |= any(&m, "megamon_nodepool_up", &|v| v == 1.0);
        let ok = pools_seen_down
            && pools_seen_up
            && m.values("megamon_nodepool_up", &[]).len() >= 3
            && any(&m, "megamon_nodepool_interruption_count", &|v| v >= 1.0)
            && any(&m, "megamon_jobset_interruption_count", &|v| v >= 1.0)
            && any(&m, "megamon_jobset_recovery_count", &|v| v >= 1.0)
            && any(&m, "megamon_jobset_nodes_up", &|v| v == 1.0)
            && any(&m, "megamon_leaderworkerset_up", &|v| v == 1.0)
            && !m.values("megamon_nodepool_job_scheduled", &[]).is_empty()
            // Causes: the first pool's node NotReady, the spot pool's preemption.
            && !m
                .values(
                    "megamon_nodepool_interruptions_by_cause",
                    &[("nodepool_name", "tpu-v5e-4x8-a"), ("cause", "node-not-ready")],
                )
                .is_empty()
            && !m
                .values(
                    "megamon_nodepool_interruptions_by_cause",
                    &[("nodepool_name", "tpu-v6e-2x4-spot"), ("cause", "preemption")],
                )
                .is_empty();
        ok.then_some(m)
    });
    eprintln!(
        "every family busy after {:?} at speed 2 (promised within 30 s at speed 1)",
        started.elapsed()
    );
    assert!(last.get("megamon_build_info", &[]).is_some());
    // The terminal tells the story, one line per step, and no log lines.
    let log = demo.log();
    let story: Vec<&String> = log.iter().filter(|l| l.starts_with('[')).collect();
    assert!(
        story
            .iter()
            .any(|l| l.contains("tpu-v5e-4x8-a: v5e-4x8-a-train-1 interrupted: node")),
        "{log:#?}"
    );
    assert!(
        story
            .iter()
            .any(|l| l
                .contains("tpu-v6e-2x4-spot: v6e-2x4-spot-train-1 interrupted: spot preemption")),
        "{log:#?}"
    );
    assert!(
        !log.iter()
            .any(|l| l.contains("INFO") || l.contains("DEBUG")),
        "info logs in the demo's terminal: {log:#?}"
    );
    // The web view and its API are served beside /metrics.
    let (status, page) = support::http_get(&addr, "/").expect("web view");
    assert_eq!(status, 200);
    assert!(page.contains("MegaMon"), "{page}");
    let (status, fleet) = support::http_get(&addr, "/api/v1/fleet").expect("fleet API");
    assert_eq!(status, 200);
    let fleet: serde_json::Value = serde_json::from_str(&fleet).unwrap();
    let kinds: Vec<&str> = fleet["families"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "jobsets",
            "jobset-nodes",
            "node-pools",
            "leader-worker-sets"
        ]
    );
    // Block labels from the nodes, upstream v1.2.0's provisioning gauge.
    assert!(
        !last
            .values(
                "megamon_nodepool_up",
                &[
                    ("nodepool_name", "tpu-v5e-4x8-a"),
                    ("block_id", "block-a"),
                    ("subblock_id", "block-a-4x8")
                ]
            )
            .is_empty()
    );
    assert!(
        !last
            .values(
                "megamon_nodepool_provisioning_duration_seconds",
                &[("provisioning_state", "success")]
            )
            .is_empty()
    );
    // A finished (completed or failed) JobSet, as kubectl shows it.
    wait_for("a finished JobSet", Duration::from_secs(30), || {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "get",
                "jobsets",
                "-o",
                "jsonpath={.items[*].status.terminalState}",
            ])
            .output()
            .ok()?;
        let states = String::from_utf8_lossy(&out.stdout).into_owned();
        (states.contains("Completed") || states.contains("Failed")).then_some(())
    });
    assert_eq!(demo.interrupt(), Some(0), "Ctrl-C exits 0");
}
