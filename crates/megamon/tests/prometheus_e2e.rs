//! Real Prometheus end to end: Debian's `prometheus` scrapes a monitor that
//! follows a scripted fleet, evaluates `deploy/prometheus/megamon-rules.yaml`,
//! and what it stored is checked with PromQL over its HTTP API.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, Process, tpu_node, wait_for};

fn node(name: &str, pool: &str, topology: &str, ready: &str) -> Value {
    let mut n = tpu_node(name, pool, ready);
    n["metadata"]["labels"]["cloud.google.com/gke-tpu-topology"] = json!(topology);
    n
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Prometheus {
    addr: String,
    _process: Process,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second with MegaMon's rules.
    fn start(target: &str) -> Prometheus {
        let binary = which("prometheus").unwrap_or_else(|| {
            panic!(
                "`prometheus` is not installed: scripts/test installs Debian's prometheus package"
            )
        });
        let dir = tempfile::tempdir().unwrap();
        let rules = std::fs::canonicalize(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/prometheus/megamon-rules.yaml"
        ))
        .expect("deploy/prometheus/megamon-rules.yaml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: megamon\n    static_configs:\n      - targets: ['{target}']\n",
            rules.display()
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        // A port picked here could be taken before Prometheus binds it: retry.
        for _ in 0..3 {
            let addr = format!("127.0.0.1:{}", free_port());
            let mut cmd = Command::new(&binary);
            cmd.arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--log.level=warn");
            let mut process = Process::spawn_named("prometheus", cmd);
            let up = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                wait_for("Prometheus to be ready", Duration::from_secs(20), || {
                    if !process.is_running() {
                        return Some(false);
                    }
                    support::http_get(&addr, "/-/ready")
                        .filter(|(s, _)| *s == 200)
                        .map(|_| true)
                })
            }));
            if let Ok(true) = up {
                return Prometheus {
                    addr,
                    _process: process,
                    _dir: dir,
                };
            }
        }
        panic!("Prometheus did not start");
    }

    /// An instant query: the result vector.
    fn query(&self, promql: &str) -> Vec<Value> {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let Some((200, body)) = support::http_get(&self.addr, &path) else {
            return Vec::new();
        };
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of `promql`, if it returns exactly one sample.
    fn value(&self, promql: &str) -> Option<f64> {
        match self.query(promql).as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn prometheus_stores_what_the_fleet_did_and_the_rules_compute_from_it() {
    let cluster = Cluster::start();
    // pool-a: 16x16 (256 chips, 64 nodes) all ready; pool-b: 4x4 (16 chips, 4 nodes).
    let mut nodes: Vec<_> = (0..64)
        .map(|i| node(&format!("a-{i:02}"), "pool-a", "16x16", "True"))
        .collect();
    nodes.extend((0..4).map(|i| node(&format!("b-{i}"), "pool-b", "4x4", "True")));
    cluster.apply(&nodes);
    let monitor = cluster.monitor(json!({"EnableSimulation": true, "UnknownCountThreshold": 0.1, "AggregationIntervalSeconds": 1}));
    monitor.wait_metrics("both pools up", |m| {
        m.values("megamon_nodepool_up", &[]) == [1.0, 1.0]
    });
    let prometheus = Prometheus::start(&monitor.metrics);
    let scope = r#"otel_scope_name="megamon",otel_scope_version="""#;
    wait_for(
        "Prometheus to store pool-a up",
        Duration::from_secs(20),
        || {
            (prometheus.value(&format!(
                r#"megamon_nodepool_up{{nodepool_name="pool-a",{scope}}}"#
            )) == Some(1.0))
            .then_some(())
        },
    );
    // pool-b loses a node: down, one interruption.
    cluster.set_node_ready("b-0", "False");
    wait_for(
        "Prometheus to see pool-b down",
        Duration::from_secs(20),
        || {
            (prometheus.value(r#"megamon_nodepool_up{nodepool_name="pool-b"}"#) == Some(0.0))
                .then_some(())
        },
    );
    wait_for("the interruption stored", Duration::from_secs(20), || {
        (prometheus.value(r#"megamon_nodepool_interruption_count{nodepool_name="pool-b"}"#)
            == Some(1.0))
        .then_some(())
    });
    assert_eq!(
        prometheus.value(
            r#"megamon_nodepool_tpu_chip_count{nodepool_name="pool-a",tpu_topology="16x16"}"#
        ),
        Some(256.0)
    );
    assert_eq!(
        prometheus
            .value(r#"megamon_nodepool_tpu_chip_count{nodepool_name="pool-b",tpu_topology="4x4"}"#),
        Some(16.0)
    );
    // Recording rules: chip-weighted availability 256 / (256 + 16), one pool
    // down. Waited for until it leaves 1 (both pools up), then checked: a rule
    // that computes anything else fails here instead of timing out.
    let availability = wait_for("the availability rule", Duration::from_secs(20), || {
        prometheus
            .value(r#"megamon:chip_weighted_availability:ratio{family="nodepool"}"#)
            .filter(|v| *v != 1.0)
    });
    assert!(
        (availability - 256.0 / 272.0).abs() < 1e-9,
        "chip-weighted availability {availability}, want 256/272"
    );
    wait_for("the pools-down rule", Duration::from_secs(20), || {
        (prometheus.value("megamon:nodepools_down:count") == Some(1.0)).then_some(())
    });
    // And back: a recovery, so the fleet MTTR rule has a value.
    cluster.set_node_ready("b-0", "True");
    let mttr = wait_for("the fleet MTTR rule", Duration::from_secs(20), || {
        prometheus.value(r#"megamon:fleet_mttr_seconds{family="nodepool"}"#)
    });
    let own = prometheus
        .value(
            r#"megamon_nodepool_down_time_between_recovery_mean_seconds{nodepool_name="pool-b"}"#,
        )
        .expect("pool-b MTTR series");
    assert!(
        (mttr - own).abs() < 1e-9 && mttr > 0.0,
        "fleet MTTR {mttr} vs pool-b's {own}"
    );
    // The interruption's cause, and the recovery in the time-to-recover
    // histogram: its one observation is pool-b's down time.
    assert_eq!(
        prometheus.value(
            r#"megamon_nodepool_interruptions_by_cause{nodepool_name="pool-b",cause="node-not-ready"}"#
        ),
        Some(1.0)
    );
    let ttr = r#"tpu_accelerator="tpu-v5-lite-podslice",tpu_topology="4x4""#;
    let observed = wait_for("the recovery's histogram", Duration::from_secs(20), || {
        prometheus.value(&format!(
            "megamon_nodepool_time_to_recover_seconds_count{{{ttr}}}"
        ))
    });
    assert_eq!(observed, 1.0);
    let sum = prometheus
        .value(&format!(
            "megamon_nodepool_time_to_recover_seconds_sum{{{ttr}}}"
        ))
        .expect("its sum");
    assert!(
        (sum - own).abs() < 1e-6,
        "TTR sum {sum} vs pool-b's MTTR {own}"
    );
    // The percentile rules: one recovery, so p50 and p90 fall in its bucket
    // (below 5 s: the test's down time is a second or two), and the count.
    // The series was there at zero before the recovery (a series born with
    // its first observation would hide it from rate()).
    let p90 = wait_for("the p90 TTR rule", Duration::from_secs(20), || {
        prometheus
            .value(
                r#"megamon:time_to_recover_seconds:p90_7d{family="nodepool",tpu_accelerator="tpu-v5-lite-podslice"}"#,
            )
            .filter(|v| !v.is_nan())
    });
    assert!(
        p90 > 0.0 && p90 <= 5.0 && own <= 5.0,
        "p90 {p90}, own {own}"
    );
    let recoveries = prometheus
        .value(r#"megamon:recoveries:increase_7d{family="nodepool",tpu_accelerator="tpu-v5-lite-podslice"}"#)
        .expect("the recoveries rule");
    assert!(recoveries > 0.0, "{recoveries}");
    // Every stored MegaMon series carries the scope labels, as the original's did.
    let series = prometheus.query(r#"{__name__=~"megamon_nodepool_.*"}"#);
    assert!(!series.is_empty());
    for s in &series {
        assert_eq!(s["metric"]["otel_scope_name"], "megamon", "{s}");
    }
}
