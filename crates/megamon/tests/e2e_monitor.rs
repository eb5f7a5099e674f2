//! The monitor end to end: the built binary against `megamon sim`, changes made
//! with the real kubectl, results read from `/metrics` and the store (issue 4).

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Cluster, tpu_node, wait_for};

const POOL: &[(&str, &str)] = &[("nodepool_name", "pool-a")];

/// `n` Ready TPU nodes of pool-a (16x16: 64 nodes make it whole).
fn pool_a(n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| tpu_node(&format!("pool-a-{i:02}"), "pool-a", "True"))
        .collect()
}

/// Takes down 7 of pool-a's nodes: more than the 6 Unknown that threshold 0.1 tolerates.
fn break_pool_a(cluster: &Cluster, ready: &str) {
    for i in 0..7 {
        cluster.set_node_ready(&format!("pool-a-{i:02}"), ready);
    }
}

fn sim_config() -> serde_json::Value {
    json!({"EnableSimulation": true, "UnknownCountThreshold": 0.1, "AggregationIntervalSeconds": 30})
}

fn jobset(name: &str, jobs: &[(&str, u64)]) -> serde_json::Value {
    let replicated: Vec<_> = jobs
        .iter()
        .map(|(job, replicas)| {
            json!({"name": job, "replicas": replicas, "template": {"spec": {
                "parallelism": 1, "completions": 1,
                "template": {"spec": {
                    "nodeSelector": {
                        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                        "cloud.google.com/gke-tpu-topology": "2x4"
                    },
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox"}]
                }}
            }}})
        })
        .collect();
    json!({
        "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicatedJobs": replicated}
    })
}

fn jobset_status(cluster: &Cluster, name: &str, ready: u64, conditions: serde_json::Value) {
    let status = json!({
        "replicatedJobsStatus": [{"name": "workers", "ready": ready, "succeeded": 0, "failed": 0, "active": ready, "suspended": 0}],
        "conditions": conditions
    });
    cluster.patch_status("jobset", name, status);
}

#[test]
fn node_pool_follows_its_nodes() {
    let cluster = Cluster::start();
    let nodes: Vec<_> = (0..60)
        .map(|i| tpu_node(&format!("pool-a-{i:02}"), "pool-a", "True"))
        .collect();
    cluster.apply(&nodes);
    let monitor = cluster.monitor(sim_config());
    let m = monitor.wait_ready();
    // 60 of 64 nodes: down.
    assert_eq!(m.get("megamon_nodepool_up", POOL), Some(0.0), "{}", m.text);
    assert_eq!(m.get("megamon_nodepool_tpu_chip_count", POOL), Some(256.0));
    let rest: Vec<_> = (60..64)
        .map(|i| tpu_node(&format!("pool-a-{i:02}"), "pool-a", "True"))
        .collect();
    cluster.apply(&rest);
    monitor.wait_metrics("pool up with 64 Ready nodes", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
    });
    // 10 Unknown: more than round(64 × 0.1) = 6 → down, one interruption.
    for i in 0..10 {
        cluster.set_node_ready(&format!("pool-a-{i:02}"), "Unknown");
    }
    let m = monitor.wait_metrics("pool down with 10 Unknown", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(0.0)
    });
    assert_eq!(
        m.get("megamon_nodepool_interruption_count", POOL),
        Some(1.0)
    );
    // 4 back: 6 Unknown are tolerated → up, one recovery.
    for i in 0..4 {
        cluster.set_node_ready(&format!("pool-a-{i:02}"), "True");
    }
    let m = monitor.wait_metrics("pool up with 6 Unknown", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
    });
    assert_eq!(
        m.get("megamon_nodepool_interruption_count", POOL),
        Some(1.0)
    );
    assert_eq!(m.get("megamon_nodepool_recovery_count", POOL), Some(1.0));
    assert!(
        m.get(
            "megamon_nodepool_down_time_between_recovery_mean_seconds",
            POOL
        )
        .is_some()
    );
    // The JobSet leader pod lands on the pool.
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "train-workers-0-0-x7k2p", "namespace": "default", "labels": {
            "jobset.sigs.k8s.io/jobset-name": "train",
            "batch.kubernetes.io/job-completion-index": "0",
            "batch.kubernetes.io/job-name": "train-workers-0"
        }},
        "spec": {"nodeName": "pool-a-63", "containers": [{"name": "main", "image": "busybox"}]}
    });
    cluster.apply(&[pod]);
    let m = monitor.wait_metrics("nodepool_job_scheduled", |m| {
        m.get(
            "megamon_nodepool_job_scheduled",
            &[
                ("nodepool_name", "pool-a"),
                ("job_name", "train-workers-0"),
                ("jobset_name", "train"),
            ],
        ) == Some(1.0)
    });
    assert!(m.text.contains("otel_scope_name=\"megamon\""));
    assert_eq!(monitor.process.terminate(), Some(0));
}

#[test]
fn jobset_lifecycle() {
    let cluster = Cluster::start();
    cluster.apply(&[jobset("train", &[("workers", 2)])]);
    let uid = cluster.kubectl(&["get", "jobset", "train", "-o", "jsonpath={.metadata.uid}"]);
    assert!(!uid.is_empty());
    let js: &[(&str, &str)] = &[("jobset_uid", &uid)];
    let monitor = cluster.monitor(sim_config());
    let m = monitor.wait_ready();
    assert_eq!(m.get("megamon_jobset_up", js), Some(0.0), "{}", m.text);
    assert_eq!(m.get("megamon_jobset_tpu_chip_count", js), Some(16.0));
    assert_eq!(
        m.get(
            "megamon_jobset_up",
            &[
                ("jobset_name", "train"),
                ("jobset_namespace", "default"),
                ("tpu_topology", "2x4")
            ]
        ),
        Some(0.0)
    );
    // Ready: up, and the initial down time is recorded.
    jobset_status(&cluster, "train", 2, json!([]));
    let m = monitor.wait_metrics("JobSet up", |m| m.get("megamon_jobset_up", js) == Some(1.0));
    assert!(
        m.get("megamon_jobset_down_time_initial_seconds", js)
            .is_some(),
        "{}",
        m.text
    );
    // Unready: an interruption; MTBI appears.
    jobset_status(&cluster, "train", 1, json!([]));
    let m = monitor.wait_metrics("JobSet interrupted", |m| {
        m.get("megamon_jobset_interruption_count", js) == Some(1.0)
    });
    assert_eq!(m.get("megamon_jobset_up", js), Some(0.0));
    assert!(
        m.get(
            "megamon_jobset_up_time_between_interruption_mean_seconds",
            js
        )
        .is_some()
    );
    // Ready again: a recovery; MTTR appears.
    jobset_status(&cluster, "train", 2, json!([]));
    let m = monitor.wait_metrics("JobSet recovered", |m| {
        m.get("megamon_jobset_recovery_count", js) == Some(1.0)
    });
    assert!(
        m.get("megamon_jobset_down_time_between_recovery_mean_seconds", js)
            .is_some()
    );
    // Completed: down on purpose; still one interruption.
    jobset_status(
        &cluster,
        "train",
        0,
        json!([{"type": "Completed", "status": "True", "reason": "AllJobsCompleted",
        "message": "jobset completed successfully", "lastTransitionTime": "2025-01-01T00:00:00Z"}]),
    );
    let m = monitor.wait_metrics("JobSet completed", |m| {
        m.get("megamon_jobset_up", js) == Some(0.0)
    });
    assert_eq!(m.get("megamon_jobset_interruption_count", js), Some(1.0));
    // Deleted: every series of it is gone.
    cluster.kubectl(&["delete", "jobset", "train"]);
    monitor.wait_metrics("JobSet series gone", |m| m.mentioning(&uid).is_empty());
    // Two replicated jobs, 1 and 2 replicas of 2x4: 24 chips.
    cluster.apply(&[jobset("multi", &[("a", 1), ("b", 2)])]);
    monitor.wait_metrics("24 chips", |m| {
        m.get("megamon_jobset_tpu_chip_count", &[("jobset_name", "multi")]) == Some(24.0)
    });
}

fn slice(name: &str, ready: &str) -> serde_json::Value {
    json!({
        "apiVersion": "accelerator.gke.io/v1beta1", "kind": "Slice",
        "metadata": {"name": name, "labels": {
            "tpu-provisioner.cloud.google.com/owner-kind": "JobSet",
            "tpu-provisioner.cloud.google.com/owner-name": "train",
            "tpu-provisioner.cloud.google.com/owner-namespace": "default"
        }},
        "spec": {"type": "tpu-v6e-slice", "topology": "4x4", "partitionIds": ["p0"]},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "x", "message": "",
            "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
    })
}

fn set_slice_ready(cluster: &Cluster, name: &str, ready: &str) {
    let status = json!({"conditions": [{"type": "Ready", "status": ready, "reason": "x", "message": "",
        "lastTransitionTime": "2025-01-01T00:00:00Z"}]});
    cluster.patch_status("slice", name, status);
}

#[test]
fn slices_when_enabled() {
    let cluster = Cluster::start();
    cluster.apply(&[
        slice("slice-a", "False"),
        jobset("train", &[("workers", 1)]),
    ]);
    // The status subresource ignores status on create: set it explicitly.
    set_slice_ready(&cluster, "slice-a", "False");
    let mut config = sim_config();
    config["SliceEnabled"] = true.into();
    config["UnknownCountThreshold"] = 0.0.into();
    let monitor = cluster.monitor(config);
    let s: &[(&str, &str)] = &[("slice_name", "slice-a")];
    let m = monitor.wait_ready();
    assert_eq!(m.get("megamon_slice_up", s), Some(0.0), "{}", m.text);
    assert_eq!(
        m.get(
            "megamon_slice_tpu_chip_count",
            &[
                ("slice_name", "slice-a"),
                ("slice_owner_kind", "JobSet"),
                ("slice_owner_name", "train"),
                ("slice_owner_namespace", "default"),
                ("tpu_accelerator", "tpu-v6e-slice")
            ]
        ),
        Some(16.0)
    );
    assert!(!m.has_family("megamon_jobset_nodes_"), "{}", m.text);
    set_slice_ready(&cluster, "slice-a", "True");
    monitor.wait_metrics("slice up", |m| m.get("megamon_slice_up", s) == Some(1.0));
    set_slice_ready(&cluster, "slice-a", "Unknown");
    let m = monitor.wait_metrics("slice down on Unknown", |m| {
        m.get("megamon_slice_up", s) == Some(0.0)
    });
    assert_eq!(m.get("megamon_slice_interruption_count", s), Some(1.0));
}

#[test]
fn no_slices_when_disabled() {
    let cluster = Cluster::start();
    cluster.apply(&[slice("slice-a", "True"), jobset("train", &[("workers", 1)])]);
    let monitor = cluster.monitor(sim_config());
    let m = monitor.wait_ready();
    assert!(!m.has_family("megamon_slice_"), "{}", m.text);
    assert!(m.has_family("megamon_jobset_nodes_up"), "{}", m.text);
}

#[test]
fn restart_continues_the_timeline() {
    let cluster = Cluster::start();
    let store = cluster.dir.path().join("history");
    std::fs::create_dir_all(&store).unwrap();
    let mut config = sim_config();
    config["EventsStoreURL"] = format!("file://{}", store.display()).into();
    cluster.apply(&pool_a(64));
    let monitor = cluster.monitor(config.clone());
    monitor.wait_metrics("pool up", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
    });
    break_pool_a(&cluster, "False");
    monitor.wait_metrics("interrupted", |m| {
        m.get("megamon_nodepool_interruption_count", POOL) == Some(1.0)
    });
    assert_eq!(monitor.process.terminate(), Some(0));
    let first = support::stored(&store, "node-pools.json");
    let events = first["pool-a"]["upEvents"].as_array().unwrap().clone();
    assert_eq!(events.len(), 3, "{first}");

    // Down while the monitor was away; then it comes back.
    let monitor = cluster.monitor(config.clone());
    let m = monitor.wait_ready();
    assert_eq!(
        m.get("megamon_nodepool_interruption_count", POOL),
        Some(1.0)
    );
    assert_eq!(m.get("megamon_nodepool_up", POOL), Some(0.0));
    let up_time = m.get("megamon_nodepool_up_time_seconds", POOL).unwrap();
    assert!(up_time > 0.0);
    break_pool_a(&cluster, "True");
    let m = monitor.wait_metrics("recovered", |m| {
        m.get("megamon_nodepool_recovery_count", POOL) == Some(1.0)
    });
    assert_eq!(
        m.get("megamon_nodepool_interruption_count", POOL),
        Some(1.0)
    );
    assert_eq!(monitor.process.terminate(), Some(0));
    let second = support::stored(&store, "node-pools.json");
    let after = second["pool-a"]["upEvents"].as_array().unwrap();
    assert_eq!(after.len(), 4, "{second}");
    assert_eq!(
        after[..3],
        events[..],
        "history before the restart is kept as it was"
    );
}

/// Aggregations the monitor has run, from its own histogram. `None` just
/// after the first one: its duration is recorded after it is published.
fn aggregations(m: &support::Metrics) -> Option<f64> {
    m.get("megamon_aggregation_duration_seconds_count", &[])
}

/// A transition is stamped with the arrival of the watch event that caused it
/// (not the next aggregation tick, nor a time the object carries) and shows in
/// /metrics without waiting for the tick. Exactness is checked against the
/// write itself: the stamp lies between the moment the test sent the write to
/// the simulator and the moment it saw the result, a window that is exact
/// whatever the load (the event cannot arrive before the write, nor be
/// published before it is stamped), and which a stamp taken from the tick or
/// from the object misses by seconds to an hour. The figures are printed.
#[test]
fn transitions_are_exact_and_fresh_whatever_the_interval() {
    // An aggregation a minute: a change shown sooner was published by its event.
    const INTERVAL_SECONDS: u64 = 60;
    // The SPEC promises a second and ~20 ms is typical; only a publication
    // that waits for the tick (a minute away) crosses this on a loaded machine.
    const FRESH_LIMIT: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);
    let cluster = Cluster::start();
    let store = cluster.dir.path().join("history");
    std::fs::create_dir_all(&store).unwrap();
    let mut config = sim_config();
    config["AggregationIntervalSeconds"] = INTERVAL_SECONDS.into();
    config["EventsStoreURL"] = format!("file://{}", store.display()).into();
    cluster.apply(&pool_a(64));
    let monitor = cluster.monitor(config);
    // The interval's first tick fires at start, either before the first list
    // is in (it says so; the first aggregation follows the list) or after it
    // (a second aggregation). Once it has, the next one is a minute away.
    let tick_before_the_list = || {
        monitor
            .process
            .log()
            .iter()
            .any(|l| l.contains("waiting for the first list"))
    };
    let m = monitor.wait_metrics("pool up, and the first tick passed", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
            && aggregations(m).is_some_and(|n| n >= 2.0 || tick_before_the_list())
    });
    let ticks = aggregations(&m).expect("the aggregation histogram");
    eprintln!(
        "first tick {} the first list; {ticks} aggregations before the write",
        if tick_before_the_list() {
            "before"
        } else {
            "after"
        }
    );

    // The write, sent straight to the simulator so that the window holds only
    // the write. The node's own lastTransitionTime is an hour old: a stamp
    // copied from the object would fall outside the window.
    let an_hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "False",
        "reason": "KubeletNotReady", "lastTransitionTime": an_hour_ago.to_string()}]}});
    let sim = cluster.sim_addr();
    let before = jiff::Timestamp::now();
    let written = support::http_send(
        &sim,
        "PATCH",
        "/api/v1/nodes/pool-a-00/status",
        "application/merge-patch+json",
        &patch.to_string(),
    );
    let after = jiff::Timestamp::now();
    assert_eq!(written.as_ref().map(|w| w.0), Some(200), "{written:?}");
    let m = monitor.wait_metrics("pool down", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(0.0)
    });
    let seen = jiff::Timestamp::now();
    assert_eq!(
        aggregations(&m),
        Some(ticks),
        "the change must be published by its watch event, not by an aggregation; log:\n{}",
        monitor.process.log().join("\n")
    );
    let fresh = seen.duration_since(before);
    assert!(
        fresh < FRESH_LIMIT,
        "the change took {fresh:#} to show in /metrics"
    );

    // The exact stamp, as the web API shows the timeline.
    let (status, body) =
        support::http_get(&monitor.metrics, "/api/v1/entities/node-pools/pool-a").unwrap();
    assert_eq!(status, 200, "{body}");
    let entity: serde_json::Value = serde_json::from_str(&body).unwrap();
    let events = entity["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "first sight, up, down: {entity}");
    assert_eq!(events[2]["up"], false, "{entity}");
    let ts: jiff::Timestamp = events[2]["ts"].as_str().unwrap().parse().unwrap();
    assert!(
        before <= ts && ts <= seen,
        "transition stamped {ts}, outside [{before}, {seen}]: written until {after}"
    );
    eprintln!(
        "write sent to stamp {:#}; write answered after {:#}; stamp to seen in /metrics {:#} (polled every 25 ms); \
         write to seen {fresh:#}",
        ts.duration_since(before),
        after.duration_since(before),
        seen.duration_since(ts),
    );

    // The store keeps the same exact stamp.
    assert_eq!(monitor.process.terminate(), Some(0));
    let doc = support::stored(&store, "node-pools.json");
    let stored = doc["pool-a"]["upEvents"].as_array().unwrap();
    assert_eq!(stored.len(), 3, "{doc}");
    let stored_ts: jiff::Timestamp = stored[2]["ts"].as_str().unwrap().parse().unwrap();
    assert_eq!(stored_ts, ts, "{doc}");
}

#[test]
fn probes_and_503_until_the_first_aggregation() {
    let cluster = Cluster::start();
    let monitor = cluster.monitor(sim_config());
    monitor.wait_ready();
    let (status, body) = support::http_get(&monitor.probes, "/readyz").unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));
    assert_eq!(
        support::http_get(&monitor.probes, "/healthz").map(|r| r.0),
        Some(200)
    );

    // A monitor whose API server never answers: alive, not ready, /metrics 503.
    let dead = cluster.dir.path().join("dead-kubeconfig");
    std::fs::write(
        &dead,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n\
         contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {}}]\n",
    )
    .unwrap();
    let lonely = cluster.monitor_with_env(sim_config(), &[("KUBECONFIG", dead.to_str().unwrap())]);
    wait_for("watch errors in the log", Duration::from_secs(10), || {
        lonely
            .process
            .log()
            .iter()
            .any(|l| l.contains("watch failed"))
            .then_some(())
    });
    assert_eq!(
        support::http_get(&lonely.probes, "/healthz").map(|r| r.0),
        Some(200)
    );
    assert_eq!(
        support::http_get(&lonely.probes, "/readyz").map(|r| r.0),
        Some(503)
    );
    assert_eq!(
        support::http_get(&lonely.metrics, "/metrics").map(|r| r.0),
        Some(503)
    );
}

#[test]
fn node_pools_from_the_gke_api() {
    let cluster = Cluster::start();
    let gke = support::FakeGke::start();
    gke.answer(200, json!({"nodePools": [
        support::gke_pool("pool-a", "16x16", "ct5lp-hightpu-4t", "RUNNING"),
        {"name": "default-pool", "config": {"machineType": "e2-standard-8"}, "status": "RUNNING"}
    ]}));
    cluster.apply(&pool_a(64));
    // An original-style config (not simulation), with our in-memory store.
    let config = json!({"UnknownCountThreshold": 0.1, "AggregationIntervalSeconds": 1, "EventsStoreURL": "memory://"});
    let env = gke.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let monitor = cluster.monitor_with_env(config, &env);
    let labels: &[(&str, &str)] = &[
        ("nodepool_name", "pool-a"),
        ("spot", "true"),
        ("tpu_accelerator", "tpu-v5-lite-podslice"),
        ("tpu_topology", "16x16"),
    ];
    let m = monitor.wait_metrics("pool up from the GKE API", |m| {
        m.get("megamon_nodepool_up", labels) == Some(1.0)
    });
    assert!(
        m.values("megamon_nodepool_up", &[("nodepool_name", "default-pool")])
            .is_empty(),
        "CPU pools are not TPU pools"
    );
    assert_eq!(m.get("megamon_nodepool_tpu_chip_count", POOL), Some(256.0));

    // The API fails: the last known pools stay, JobSets go on.
    gke.answer(
        503,
        json!({"error": {"code": 503, "message": "backend unavailable", "status": "UNAVAILABLE"}}),
    );
    let seen = gke.pool_requests.load(std::sync::atomic::Ordering::SeqCst);
    wait_for("two more polls", Duration::from_secs(10), || {
        (gke.pool_requests.load(std::sync::atomic::Ordering::SeqCst) >= seen + 2).then_some(())
    });
    cluster.apply(&[jobset("train", &[("workers", 1)])]);
    let m = monitor.wait_metrics("JobSet seen while GKE fails", |m| {
        m.get("megamon_jobset_up", &[("jobset_name", "train")])
            .is_some()
    });
    assert_eq!(m.get("megamon_nodepool_up", POOL), Some(1.0));
    assert!(
        monitor
            .process
            .log()
            .iter()
            .any(|l| l.contains("cannot list node pools"))
    );

    // Deleting on purpose: down, but not an interruption; then gone.
    gke.answer(200, json!({"nodePools": [support::gke_pool("pool-a", "16x16", "ct5lp-hightpu-4t", "DELETING")]}));
    let m = monitor.wait_metrics("pool planned down", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(0.0)
    });
    assert_eq!(
        m.get("megamon_nodepool_interruption_count", POOL),
        Some(0.0)
    );
    gke.answer(200, json!({"nodePools": []}));
    monitor.wait_metrics("pool series gone", |m| m.mentioning("pool-a").is_empty());
}

#[test]
fn cut_watches_and_compaction_record_nothing_new() {
    let cluster = Cluster::start();
    cluster.apply(&pool_a(64));
    cluster.apply(&[jobset("train", &[("workers", 1)])]);
    let monitor = cluster.monitor(sim_config());
    monitor.wait_metrics("pool up", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
    });
    let transitions = |p: &support::Process| {
        p.log()
            .iter()
            .filter(|l| l.contains("\"transition\""))
            .count()
    };
    let t0 = transitions(&monitor.process);
    let sim = cluster.sim_addr();
    // Every watch cut and history forgotten, while requests fail for a moment.
    assert_eq!(
        support::http_post(&sim, "/_sim/faults", r#"{"errorRate":1.0,"status":500}"#),
        Some(200)
    );
    assert_eq!(
        support::http_post(&sim, "/_sim/drop-watches", ""),
        Some(200)
    );
    assert_eq!(support::http_post(&sim, "/_sim/compact", ""), Some(200));
    let warnings = |p: &support::Process| {
        p.log()
            .iter()
            .filter(|l| l.contains("watch failed"))
            .count()
    };
    wait_for(
        "the watches to hit the faults",
        Duration::from_secs(20),
        || (warnings(&monitor.process) >= 3).then_some(()),
    );
    assert_eq!(support::http_post(&sim, "/_sim/faults", "{}"), Some(200));
    // Changes after the outage are seen, each once, at their own time.
    break_pool_a(&cluster, "False");
    let m = monitor.wait_metrics("pool down after the outage", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(0.0)
    });
    assert_eq!(
        m.get("megamon_nodepool_interruption_count", POOL),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "megamon_jobset_interruption_count",
            &[("jobset_name", "train")]
        ),
        Some(0.0)
    );
    assert_eq!(
        transitions(&monitor.process),
        t0 + 1,
        "{}",
        monitor.process.log().join("\n")
    );
}

#[test]
fn exporters_and_job_labelling() {
    let cluster = Cluster::start();
    cluster.apply(&[
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "megamon-system"}}),
    ]);
    cluster.apply(&pool_a(64));
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "train-workers-0", "namespace": "default", "labels": {"jobset.sigs.k8s.io/jobset-name": "train"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}
    });
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "train-workers-0-0-abcde", "namespace": "default", "labels": {
            "jobset.sigs.k8s.io/jobset-name": "train",
            "batch.kubernetes.io/job-completion-index": "0",
            "batch.kubernetes.io/job-name": "train-workers-0"
        }},
        "spec": {"nodeName": "pool-a-05", "containers": [{"name": "main", "image": "busybox"}]}
    });
    cluster.apply(&[job, pod]);
    let mut config = sim_config();
    config["Exporters"] = json!(["stdout", "configmap"]);
    config["DisableNodePoolJobLabelling"] = false.into();
    config["AggregationIntervalSeconds"] = 1.into();
    let monitor = cluster.monitor(config);
    monitor.wait_ready();
    // stdout: one JSON report per aggregation, in the original's shape.
    let report = wait_for("a report line on stdout", Duration::from_secs(10), || {
        monitor.process.log().iter().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v.get("nodePoolsUp").is_some().then_some(v)
        })
    });
    assert_eq!(report["nodePoolsUp"]["pool-a"]["expectedCount"], 64);
    assert_eq!(report["nodePoolsUp"]["pool-a"]["readyCount"], 64);
    assert_eq!(
        report["nodePoolScheduling"]["pool-a"]["jobName"],
        "train-workers-0"
    );
    assert_eq!(
        report["nodePoolScheduling"]["pool-a"]["jobsetName"],
        "train"
    );
    assert!(report["nodePoolsUpSummaries"]["pool-a"]["upTime"].is_u64());
    // configmap: the same report under key `report`.
    let from_cm = wait_for("the report ConfigMap", Duration::from_secs(10), || {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .args([
                "get",
                "configmap",
                "megamon-report",
                "-n",
                "megamon-system",
                "-o",
                "jsonpath={.data.report}",
            ])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(v)
    });
    assert_eq!(from_cm["nodePoolsUp"]["pool-a"]["expectedCount"], 64);
    // The leader's Job is labelled with its node pool.
    wait_for("the Job's node pool label", Duration::from_secs(10), || {
        let label = cluster.kubectl(&[
            "get",
            "job",
            "train-workers-0",
            "-o",
            "jsonpath={.metadata.labels.megamon\\.tbd/scheduled-node-pool}",
        ]);
        (label == "pool-a").then_some(())
    });
}

#[allow(dead_code)]
#[path = "../../megamon-store/tests/support/fake_gcs.rs"]
mod fake_gcs;

#[test]
fn an_original_config_file_starts_ours_unchanged() {
    let cluster = Cluster::start();
    cluster.apply(&pool_a(64));
    let gke = support::FakeGke::start();
    gke.answer(
        200,
        json!({"nodePools": [support::gke_pool("pool-a", "16x16", "ct5lp-hightpu-4t", "RUNNING")]}),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let gcs = runtime.block_on(fake_gcs::FakeGcs::start());
    let key = json!({"private_key": "", "private_key_id": "", "client_email": "megamon@example.invalid",
        "disable_oauth": true, "gcs_base_url": format!("http://127.0.0.1:{}", gcs.port)});
    let mut env = gke.env();
    env.push(("GOOGLE_SERVICE_ACCOUNT_KEY", key.to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The file as the original's users have it: GCS bucket, GKE coordinates, stdout exporter.
    let config = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/config/original.json"
    ));
    let monitor = cluster.monitor_process(
        config,
        &[
            "--metrics-bind-address",
            "127.0.0.1:0",
            "--health-probe-bind-address",
            "127.0.0.1:0",
        ],
        &env,
    );
    monitor.wait_metrics("pool up", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
    });
    break_pool_a(&cluster, "False");
    monitor.wait_metrics("pool down", |m| {
        m.get("megamon_nodepool_interruption_count", POOL) == Some(1.0)
    });
    assert_eq!(monitor.process.terminate(), Some(0));
    // History went where the original puts it: gs://<bucket>/megamon/clusters/<cluster>/.
    let (data, _) = gcs
        .object(
            "my-megamon-events",
            "megamon/clusters/tpu-cluster/node-pools.json",
        )
        .expect("node-pools.json in the bucket");
    let doc: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(
        doc["pool-a"]["upEvents"].as_array().map(Vec::len),
        Some(3),
        "{doc}"
    );
    // Every write carried a generation precondition (no blind overwrite).
    assert!(
        gcs.requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .all(|r| r.if_generation_match.is_some())
    );
}

#[test]
fn a_report_too_large_for_a_configmap_is_an_error_and_a_metric() {
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "megamon-system"}}),
    ];
    objects.extend((0..800).map(|i| {
        jobset(
            &format!("train-{i:03}-with-a-long-descriptive-name"),
            &[("workers", 4)],
        )
    }));
    let cluster = Cluster::start_seeded(&objects);
    let mut config = sim_config();
    config["Exporters"] = json!(["configmap"]);
    config["AggregationIntervalSeconds"] = 1.into();
    let monitor = cluster.monitor(config);
    let m = monitor.wait_metrics("an export error counted", |m| {
        m.get("megamon_export_errors_total", &[("exporter", "configmap")])
            .is_some_and(|v| v >= 1.0)
    });
    assert_eq!(m.values("megamon_jobset_up", &[]).len(), 800);
    assert!(
        monitor
            .process
            .log()
            .iter()
            .any(|l| l.contains("more than a ConfigMap can hold"))
    );
    // Still serving and aggregating.
    monitor.wait_metrics("a later aggregation", |m| {
        m.get("megamon_export_errors_total", &[("exporter", "configmap")])
            .is_some_and(|v| v >= 2.0)
    });
    assert_eq!(
        support::http_get(&monitor.probes, "/readyz").map(|r| r.0),
        Some(200)
    );
}

#[test]
fn a_relist_after_410_records_only_what_really_changed() {
    let cluster = Cluster::start();
    cluster.apply(&pool_a(64));
    cluster.apply(&[
        jobset("steady", &[("workers", 1)]),
        jobset("doomed", &[("workers", 1)]),
    ]);
    jobset_status(&cluster, "steady", 1, json!([]));
    let monitor = cluster.monitor(sim_config());
    monitor.wait_metrics("pool and JobSet up", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
            && m.get("megamon_jobset_up", &[("jobset_name", "steady")]) == Some(1.0)
            && m.get("megamon_jobset_up", &[("jobset_name", "doomed")])
                .is_some()
    });
    let log =
        |p: &support::Process, needle: &str| p.log().iter().filter(|l| l.contains(needle)).count();
    let (transitions, lists) = (
        log(&monitor.process, "\"transition\""),
        log(&monitor.process, "\"listed\""),
    );
    let sim = cluster.sim_addr();

    // Every watch cut off while the cluster changes; then history is forgotten,
    // so the watches can only catch up by re-listing (410 Gone).
    let cut = r#"{"errorRate":1.0,"status":500,"watchesOnly":true}"#;
    assert_eq!(support::http_post(&sim, "/_sim/faults", cut), Some(200));
    assert_eq!(
        support::http_post(&sim, "/_sim/drop-watches", ""),
        Some(200)
    );
    wait_for("the watches to be cut off", Duration::from_secs(20), || {
        (log(&monitor.process, "watch failed") >= 3).then_some(())
    });
    break_pool_a(&cluster, "False");
    cluster.kubectl(&["delete", "jobset", "doomed"]);
    assert_eq!(support::http_post(&sim, "/_sim/compact", ""), Some(200));
    assert_eq!(support::http_post(&sim, "/_sim/faults", "{}"), Some(200));

    let relisted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for("every watch to re-list", Duration::from_secs(30), || {
            (log(&monitor.process, "\"listed\"") >= lists + 3).then_some(())
        })
    }));
    assert!(
        relisted.is_ok(),
        "no re-list; monitor log:\n{}",
        monitor.process.log().join("\n")
    );
    let m = monitor.wait_metrics("the missed changes applied", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(0.0)
            && m.values("megamon_jobset_up", &[("jobset_name", "doomed")])
                .is_empty()
    });
    assert_eq!(
        m.get("megamon_nodepool_interruption_count", POOL),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "megamon_jobset_interruption_count",
            &[("jobset_name", "steady")]
        ),
        Some(0.0)
    );
    assert_eq!(
        m.get("megamon_jobset_up", &[("jobset_name", "steady")]),
        Some(1.0)
    );
    // One transition (the pool going down); nothing invented by the re-list.
    assert_eq!(
        log(&monitor.process, "\"transition\""),
        transitions + 1,
        "{}",
        monitor.process.log().join("\n")
    );
}

#[test]
fn a_cluster_without_the_jobset_crd_still_gets_node_pools_then_jobsets() {
    let cluster = Cluster::start_without_crds();
    cluster.apply(&pool_a(64));
    let monitor = cluster.monitor(sim_config());
    let m = monitor.wait_metrics("pool up without any CRD", |m| {
        m.get("megamon_nodepool_up", POOL) == Some(1.0)
    });
    assert!(m.values("megamon_jobset_up", &[]).is_empty());
    assert!(
        monitor
            .process
            .log()
            .iter()
            .any(|l| l.contains("does not serve this resource"))
    );
    // The CRD is installed later: JobSets are followed from then on.
    let crd = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../megamon-sim/crds/jobset.x-k8s.io_jobsets.yaml"
    );
    cluster.kubectl(&["apply", "--server-side", "-f", crd]);
    wait_for("the JobSet API served", Duration::from_secs(10), || {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .args(["get", "jobsets"])
            .output()
            .ok()?;
        out.status.success().then_some(())
    });
    cluster.apply(&[jobset("late", &[("workers", 1)])]);
    monitor.wait_metrics("the JobSet seen", |m| {
        m.get("megamon_jobset_up", &[("jobset_name", "late")])
            .is_some()
    });
}

// The module allows its own dead code.
#[path = "../../megamon-metrics/tests/common/otlp_receiver.rs"]
mod otlp_receiver;

/// OTLP push is on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (SPEC §4): the
/// running monitor pushes its instruments, with dotted names, to a gRPC
/// receiver of the test's, and follows the cluster there as in /metrics.
#[test]
fn otlp_push_goes_to_the_endpoint_in_the_environment() {
    use otlp_receiver::{gauge_points, metrics_of, pair};

    let cluster = Cluster::start();
    cluster.apply(&pool_a(64));
    cluster.apply(&[jobset("train", &[("workers", 1)])]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut receiver = runtime.block_on(otlp_receiver::Receiver::start());
    let mut config = sim_config();
    config["AggregationIntervalSeconds"] = 1.into();
    let monitor = cluster.monitor_with_env(
        config,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint)],
    );
    let pool_a = pair("nodepool.name", "pool-a");
    let pool_up = |r: &_, want: f64| {
        gauge_points(r, "megamon.nodepool.up")
            .iter()
            .any(|(attrs, v)| attrs.contains(&pool_a) && *v == want)
    };
    // Pushes are at the aggregation interval (1 s): 20 s is only crossed when none come.
    let limit = Duration::from_secs(20);
    let pushed = runtime.block_on(receiver.wait_for("pool-a up", limit, |r| pool_up(r, 1.0)));
    let names: Vec<&str> = metrics_of(&pushed)
        .iter()
        .map(|(_, m)| m.name.as_str())
        .collect();
    assert!(
        metrics_of(&pushed)
            .iter()
            .all(|(scope, _)| *scope == "megamon"),
        "{names:?}"
    );
    for name in [
        "megamon.build.info",
        "megamon.jobset.up",
        "megamon.jobset.nodes.up",
        "megamon.nodepool.up.time",
        "megamon.nodepool.tpu.chip.count",
        "megamon.aggregation.duration",
    ] {
        assert!(names.contains(&name), "{name} not pushed: {names:?}");
    }
    assert!(names.iter().all(|n| n.starts_with("megamon.")), "{names:?}");
    assert_eq!(
        gauge_points(&pushed, "megamon.jobset.up")
            .iter()
            .filter(|(attrs, _)| attrs.contains(&pair("jobset.name", "train")))
            .count(),
        1
    );
    // A change in the cluster reaches the push too.
    break_pool_a(&cluster, "False");
    let pushed = runtime.block_on(receiver.wait_for("pool-a down", limit, |r| pool_up(r, 0.0)));
    assert_eq!(
        gauge_points(&pushed, "megamon.nodepool.interruption.count")
            .into_iter()
            .find(|(attrs, _)| attrs.contains(&pool_a))
            .map(|(_, v)| v),
        Some(1.0)
    );
    assert_eq!(monitor.process.terminate(), Some(0));
    runtime.block_on(receiver.stop());
}

/// Only JobSet leader pods (completion index 0, on a node) place a Job on a
/// node pool (SPEC §2.6): a worker pod (index 1) is ignored by scheduling.
/// With the default `DisableNodePoolJobLabelling` (true) no Job is labelled;
/// with it false, the leader's Job is, and a Job with only a worker pod is not.
#[test]
fn only_leader_pods_place_jobs_and_labelling_is_off_by_default() {
    const LABEL: &str = "jsonpath={.metadata.labels.megamon\\.tbd/scheduled-node-pool}";
    let cluster = Cluster::start();
    let mut nodes = pool_a(64);
    nodes.push(tpu_node("pool-b-00", "pool-b", "True"));
    nodes.push(tpu_node("pool-c-00", "pool-c", "True"));
    cluster.apply(&nodes);
    let job = |name: &str, jobset: &str| {
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "default", "labels": {"jobset.sigs.k8s.io/jobset-name": jobset}},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}
        })
    };
    let pod = |job: &str, jobset: &str, index: &str, node: &str| {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{job}-{index}"), "namespace": "default", "labels": {
                "jobset.sigs.k8s.io/jobset-name": jobset,
                "batch.kubernetes.io/job-completion-index": index,
                "batch.kubernetes.io/job-name": job
            }},
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]}
        })
    };
    cluster.apply(&[
        job("train-workers-0", "train"),
        job("other-workers-0", "other"),
        // train's leader on pool-a, its second pod on pool-b; other has only a worker, on pool-c.
        pod("train-workers-0", "train", "0", "pool-a-05"),
        pod("train-workers-0", "train", "1", "pool-b-00"),
        pod("other-workers-0", "other", "1", "pool-c-00"),
    ]);
    let label_of = |job: &str| cluster.kubectl(&["get", "job", job, "-o", LABEL]);
    let scheduled = |m: &support::Metrics| m.values("megamon_nodepool_job_scheduled", &[]).len();
    let leader: &[(&str, &str)] = &[
        ("nodepool_name", "pool-a"),
        ("job_name", "train-workers-0"),
        ("jobset_name", "train"),
    ];
    let mut config = sim_config();
    config["AggregationIntervalSeconds"] = 1.into();

    // Default config: the leader alone is scheduled, and no Job is labelled.
    let monitor = cluster.monitor(config.clone());
    let m = monitor.wait_metrics("the leader scheduled", |m| {
        m.get("megamon_nodepool_job_scheduled", leader) == Some(1.0) && aggregations(m).is_some()
    });
    // Every pod was there before the monitor's first list: one scrape has them all.
    assert_eq!(scheduled(&m), 1, "only the leader: {}", m.text);
    // The workers' pools are known pools: what leaves them out is the leader rule.
    for pool in ["pool-b", "pool-c"] {
        assert!(
            m.get("megamon_nodepool_up", &[("nodepool_name", pool)])
                .is_some(),
            "{pool}: {}",
            m.text
        );
    }
    // Labelling would follow the next aggregation; let three pass.
    let ticks = aggregations(&m).unwrap();
    let m = monitor.wait_metrics("three more aggregations", |m| {
        aggregations(m).is_some_and(|n| n >= ticks + 3.0)
    });
    assert_eq!(scheduled(&m), 1, "{}", m.text);
    assert_eq!(
        label_of("train-workers-0"),
        "",
        "labelled with labelling off"
    );
    assert_eq!(
        label_of("other-workers-0"),
        "",
        "labelled with labelling off"
    );
    assert_eq!(monitor.process.terminate(), Some(0));

    // Labelling on: the leader's Job gets its pool; the worker-only Job nothing.
    config["DisableNodePoolJobLabelling"] = false.into();
    let monitor = cluster.monitor(config);
    wait_for("the leader's Job labelled", Duration::from_secs(15), || {
        (label_of("train-workers-0") == "pool-a").then_some(())
    });
    let m = monitor.wait_metrics("an aggregation counted", |m| aggregations(m).is_some());
    let ticks = aggregations(&m).unwrap();
    // What the three aggregations waited for above compare with.
    eprintln!("the leader's Job was labelled by aggregation {ticks}");
    let labelled = |p: &support::Process| {
        p.log()
            .iter()
            .filter(|l| l.contains("labelled job with its node pool"))
            .count()
    };
    // Each aggregation hands the labeller every placement: two more have passed
    // once the labeller has been handed the worker too, had it been one.
    let m = monitor.wait_metrics("two more aggregations", |m| {
        aggregations(m).is_some_and(|n| n >= ticks + 2.0)
    });
    assert_eq!(scheduled(&m), 1, "{}", m.text);
    assert_eq!(label_of("train-workers-0"), "pool-a");
    assert_eq!(
        label_of("other-workers-0"),
        "",
        "a worker pod's Job labelled"
    );
    assert_eq!(
        labelled(&monitor.process),
        1,
        "{}",
        monitor.process.log().join("\n")
    );
}
