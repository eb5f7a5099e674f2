//! Faults, end to end (issue 9): the built monitor against `megamon sim`'s
//! fault injection and a store behind a cut-able connection. What stays up
//! is never recorded down; what a source cannot list is served from its last
//! good data, with `megamon_source_stale_seconds` saying how old; a store
//! that goes away loses nothing.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, Monitor, tpu_node, wait_for};

const POOL: &[(&str, &str)] = &[("nodepool_name", "pool-a")];
const JOBSET: &[(&str, &str)] = &[("jobset_name", "train")];

fn pool_a() -> Vec<Value> {
    (0..2)
        .map(|i| {
            let mut n = tpu_node(&format!("pool-a-{i}"), "pool-a", "True");
            n["metadata"]["labels"]["cloud.google.com/gke-tpu-topology"] = json!("2x4");
            n
        })
        .collect()
}

fn jobset() -> Value {
    json!({
        "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
        "metadata": {"name": "train", "namespace": "default"},
        "spec": {"replicatedJobs": [{"name": "workers", "replicas": 1, "template": {"spec": {
            "parallelism": 1, "completions": 1,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "x"}]}}}}}]}
    })
}

fn ready_jobset(cluster: &Cluster) {
    cluster.patch_status(
        "jobset",
        "train",
        json!({"replicatedJobsStatus": [{"name": "workers", "ready": 1, "succeeded": 0, "failed": 0, "active": 1, "suspended": 0}]}),
    );
}

fn faults(cluster: &Cluster, body: &str) {
    assert_eq!(
        support::http_post(&cluster.sim_addr(), "/_sim/faults", body),
        Some(200),
        "{body}"
    );
}

fn post(cluster: &Cluster, path: &str) {
    assert_eq!(
        support::http_post(&cluster.sim_addr(), path, "{}"),
        Some(200),
        "{path}"
    );
}

/// (pool up, JobSet up) as one scrape showed them.
type Sample = (Option<f64>, Option<f64>);

/// Scrapes the monitor every 100 ms in the background and keeps every value
/// of the two up gauges seen, so that a dip, however short, is caught.
struct Sampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Sample>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(monitor: &Monitor) -> Sampler {
        let addr = monitor.metrics.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                if let Some((200, body)) = support::http_get(&addr, "/metrics") {
                    let m = support::Metrics::parse(&body);
                    let pool = m.get("megamon_nodepool_up", POOL);
                    let js = m.get("megamon_jobset_up", JOBSET);
                    v.lock().unwrap().push((pool, js));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Sampler {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.seen.lock().unwrap().clone()
    }
}

fn stale(m: &support::Metrics, source: &str) -> Option<f64> {
    m.get("megamon_source_stale_seconds", &[("source", source)])
}

#[test]
fn api_faults_neither_interrupt_what_stays_up_nor_lose_data() {
    let cluster = Cluster::start();
    let mut objects = pool_a();
    objects.push(jobset());
    cluster.apply(&objects);
    ready_jobset(&cluster);
    let store = cluster.dir.path().join("history");
    std::fs::create_dir_all(&store).unwrap();
    let monitor = cluster.monitor(json!({
        "EnableSimulation": true, "AggregationIntervalSeconds": 1,
        "EventsStoreURL": format!("file://{}", store.display())
    }));
    monitor.wait_metrics("pool and JobSet up, sources current", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
            && m.get("megamon_jobset_up", JOBSET) == Some(1.0)
            && stale(m, "nodes") == Some(0.0)
    });
    let sampler = Sampler::start(&monitor);

    // Nothing can be listed: the last good data is served, and ages.
    faults(&cluster, r#"{"errorRate": 1.0, "status": 500}"#);
    post(&cluster, "/_sim/drop-watches");
    let m = monitor.wait_metrics("the sources stale", |m| {
        stale(m, "nodes").is_some_and(|s| s >= 1.0) && stale(m, "jobsets").is_some_and(|s| s >= 1.0)
    });
    assert_eq!(
        m.get("megamon_nodepool_up", POOL),
        Some(1.0),
        "last good data served"
    );
    faults(&cluster, "{}");
    // The watchers retry with backoff (kube-rs: up to 30 s).
    wait_for("the sources current again", Duration::from_secs(40), || {
        let m = monitor.scrape()?;
        ["nodes", "jobsets", "leader-pods"]
            .iter()
            .all(|s| stale(&m, s) == Some(0.0))
            .then_some(())
    });
    // Watches dropped, three times; then compaction: every watcher re-lists
    // after 410 Gone.
    for _ in 0..3 {
        post(&cluster, "/_sim/drop-watches");
        std::thread::sleep(Duration::from_millis(300));
    }
    post(&cluster, "/_sim/compact");
    post(&cluster, "/_sim/drop-watches");
    // 30 % of requests fail with 500, then every request takes 2 s.
    faults(&cluster, r#"{"errorRate": 0.3, "status": 500}"#);
    post(&cluster, "/_sim/drop-watches");
    std::thread::sleep(Duration::from_secs(3));
    faults(&cluster, r#"{"latencyMs": 2000}"#);
    post(&cluster, "/_sim/drop-watches");
    std::thread::sleep(Duration::from_secs(3));
    faults(&cluster, "{}");
    // A real change still gets through, exactly once (once the watchers
    // are back from their backoff).
    cluster.set_node_ready("pool-a-0", "False");
    wait_for("a real interruption", Duration::from_secs(40), || {
        let m = monitor.scrape()?;
        (m.get("megamon_nodepool_interruption_count", POOL) == Some(1.0)).then_some(())
    });
    let seen = sampler.finish();
    assert!(seen.len() >= 20, "sampled {} scrapes", seen.len());
    // Up throughout the faults (until the real change at the end).
    let before_change = &seen[..seen.len().saturating_sub(15)];
    assert!(
        before_change
            .iter()
            .all(|&(pool, js)| pool == Some(1.0) && js == Some(1.0)),
        "a dip or a gap in up during the faults: {seen:?}"
    );
    let m = monitor.scrape().unwrap();
    assert_eq!(
        m.get("megamon_jobset_interruption_count", JOBSET),
        Some(0.0)
    );
    assert_eq!(monitor.process.terminate(), Some(0));
    // The stored JobSet timeline is first sight and nothing else.
    let jobsets = support::stored(&store, "jobsets.json");
    let (_, timeline) = jobsets.as_object().unwrap().iter().next().unwrap();
    let ups: Vec<bool> = timeline["upEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["up"].as_bool().unwrap())
        .collect();
    assert_eq!(ups, [false, true], "{timeline}");
    let pools = support::stored(&store, "node-pools.json");
    let ups: Vec<bool> = pools["pool-a"]["upEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["up"].as_bool().unwrap())
        .collect();
    assert_eq!(ups, [false, true, false], "{pools}");
}

#[test]
fn a_store_that_goes_away_loses_nothing() {
    let moto = support::Moto::start();
    moto.create_bucket("history");
    let proxy = support::proxy::Proxy::start(format!("127.0.0.1:{}", moto.port));
    let cluster = Cluster::start();
    cluster.apply(&pool_a());
    let env = [
        ("AWS_ENDPOINT_URL", format!("http://{}", proxy.addr)),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let monitor = cluster.monitor_with_env(
        json!({"EnableSimulation": true, "AggregationIntervalSeconds": 1, "EventsStoreURL": "s3://history/megamon/clusters/c1"}),
        &env,
    );
    let stored = |n: usize| {
        wait_for("history in the bucket", Duration::from_secs(60), || {
            let text = moto.get("/history/megamon/clusters/c1/node-pools.json")?;
            let doc: Value = serde_json::from_str(&text).ok()?;
            let events = doc["pool-a"]["upEvents"].as_array()?.clone();
            (events.len() >= n).then_some(events)
        })
    };
    monitor.wait_metrics("pool up", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
    });
    assert_eq!(stored(2).len(), 2);

    // The store goes away; the pool is interrupted and recovers meanwhile.
    proxy.cut();
    cluster.set_node_ready("pool-a-0", "False");
    monitor.wait_metrics("interrupted", |m| {
        m.get("megamon_nodepool_interruption_count", POOL) == Some(1.0)
    });
    cluster.set_node_ready("pool-a-0", "True");
    let m = monitor.wait_metrics("recovered", |m| {
        m.get("megamon_nodepool_recovery_count", POOL) == Some(1.0)
    });
    // Nothing could be written while cut (the bucket is read around the cut).
    let during = moto
        .get("/history/megamon/clusters/c1/node-pools.json")
        .unwrap();
    assert_eq!(during.matches("\"up\"").count(), 2, "{during}");
    // Back: both transitions arrive, with the times they happened.
    proxy.restore();
    let events = stored(4);
    let ups: Vec<bool> = events.iter().map(|e| e["up"].as_bool().unwrap()).collect();
    assert_eq!(ups, [false, true, false, true], "{events:?}");
    let latest = m
        .get(
            "megamon_nodepool_down_time_between_recovery_latest_seconds",
            POOL,
        )
        .unwrap();
    let (down, up): (jiff::Timestamp, jiff::Timestamp) = (
        events[2]["ts"].as_str().unwrap().parse().unwrap(),
        events[3]["ts"].as_str().unwrap().parse().unwrap(),
    );
    assert!(
        (up.duration_since(down).as_secs_f64() - latest).abs() < 0.001,
        "stored {down} -> {up}, metric {latest}"
    );
    assert_eq!(monitor.process.terminate(), Some(0));
}

/// The truth of pool-a's up-ness: each change the test made, with the time
/// just before the write and a time by which the monitor must have seen it.
struct Truth {
    start: jiff::Timestamp,
    changes: Vec<(jiff::Timestamp, jiff::Timestamp, bool)>,
}

impl Truth {
    /// The states pool-a may have been in at `t` (two while a change is in
    /// flight).
    fn states_at(&self, t: jiff::Timestamp) -> Vec<bool> {
        let mut state = true;
        let mut maybe = Vec::new();
        for &(before, seen_by, up) in &self.changes {
            if before <= t {
                if t <= seen_by {
                    maybe.push(state);
                }
                state = up;
            }
        }
        maybe.push(state);
        maybe
    }
}

/// SIGKILL at random moments of a busy scenario, 20 times in a row, with a
/// `file://` store: after each, the stored timeline is whole and true.
#[test]
fn twenty_sigkills_lose_no_history_and_invent_none() {
    let cluster = Cluster::start();
    cluster.apply(&pool_a());
    let store = cluster.dir.path().join("history");
    std::fs::create_dir_all(&store).unwrap();
    let config = json!({
        "EnableSimulation": true, "AggregationIntervalSeconds": 1,
        "EventsStoreURL": format!("file://{}", store.display())
    });
    let mut truth = Truth {
        start: jiff::Timestamp::now(),
        changes: Vec::new(),
    };
    // A seeded sequence: the same run every time.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut up = true;
    let mut last_count = 0usize;
    for round in 0..20 {
        let monitor = cluster.monitor(config.clone());
        monitor.wait_ready();
        for _ in 0..random(3) {
            up = !up;
            let before = jiff::Timestamp::now();
            cluster.set_node_ready("pool-a-0", if up { "True" } else { "False" });
            let seen_by = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
            truth.changes.push((before, seen_by, up));
            std::thread::sleep(Duration::from_millis(random(300)));
        }
        std::thread::sleep(Duration::from_millis(random(1200)));
        monitor.process.kill();

        let Some(doc) = std::fs::read(store.join("node-pools.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        else {
            assert!(round < 2, "round {round}: nothing stored yet");
            continue;
        };
        let events = doc["pool-a"]["upEvents"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let now = jiff::Timestamp::now();
        let parsed: Vec<(bool, jiff::Timestamp)> = events
            .iter()
            .map(|e| {
                (
                    e["up"].as_bool().unwrap(),
                    e["ts"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        assert!(
            !parsed[0].0,
            "round {round}: first sight is down: {events:?}"
        );
        for w in parsed.windows(2) {
            assert_ne!(
                w[0].0, w[1].0,
                "round {round}: a duplicated state: {events:?}"
            );
            assert!(w[0].1 <= w[1].1, "round {round}: out of order: {events:?}");
        }
        for &(state, at) in &parsed[1..] {
            assert!(
                at >= truth.start && at <= now,
                "round {round}: {at} outside the run"
            );
            assert!(
                truth.states_at(at).contains(&state),
                "round {round}: up={state} at {at} never happened: {events:?}"
            );
        }
        // History only grows: a restart never loses what was stored.
        assert!(
            parsed.len() >= last_count,
            "round {round}: lost events: {events:?}"
        );
        last_count = parsed.len();
    }
    // The stored history summarises without a negative duration.
    let out = std::process::Command::new(support::BIN)
        .args([
            "report",
            "--store",
            store.to_str().unwrap(),
            "--format",
            "json",
            "--kind",
            "node-pools",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let summary = &report["node-pools"]["pool-a"];
    for (key, value) in summary.as_object().unwrap() {
        if let Some(n) = value.as_i64() {
            assert!(n >= 0, "{key}: {n}");
        }
    }
    eprintln!(
        "20 SIGKILLs: {} changes made, {} events stored, {} interruptions",
        truth.changes.len(),
        last_count,
        summary["interruptionCount"]
    );
}
