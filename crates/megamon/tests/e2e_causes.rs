//! Interruption causes and the TTR/TBI histograms end to end (issue 12):
//! each cause class produced by the change that causes it, through the built
//! binary against `megamon sim`, changes made with the real kubectl, read
//! back from `/metrics`, the stored history and the web API.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, Metrics, Monitor, jobset, slice, tpu_node, wait_for};

fn sim_config() -> Value {
    json!({"EnableSimulation": true, "AggregationIntervalSeconds": 1})
}

/// A node of a two-node v5e 2x4 pool.
fn small_node(name: &str, pool: &str, labels: Value) -> Value {
    let mut n = tpu_node(name, pool, "True");
    n["metadata"]["labels"]["cloud.google.com/gke-tpu-topology"] = json!("2x4");
    if let Some(extra) = labels.as_object() {
        for (k, v) in extra {
            n["metadata"]["labels"][k] = v.clone();
        }
    }
    n
}

fn by_cause(m: &Metrics, family: &str, key: (&str, &str), cause: &str) -> Option<f64> {
    m.get(
        &format!("megamon_{family}_interruptions_by_cause"),
        &[key, ("cause", cause)],
    )
}

/// Seconds since the epoch of a stored event's `ts`.
fn seconds(event: &Value) -> f64 {
    let ts: jiff::Timestamp = event["ts"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a stored ts: {event}"));
    ts.as_nanosecond() as f64 / 1e9
}

/// The stored timelines of `file` once `done` holds for them.
fn stored_when(
    store: &Path,
    file: &str,
    what: &str,
    done: impl Fn(&serde_json::Map<String, Value>) -> bool,
) -> serde_json::Map<String, Value> {
    wait_for(what, Duration::from_secs(15), || {
        let bytes = std::fs::read(store.join(file)).ok()?;
        let doc: Value = serde_json::from_slice(&bytes).ok()?;
        let doc = doc.as_object()?.clone();
        done(&doc).then_some(doc)
    })
}

fn events(doc: &serde_json::Map<String, Value>, key: &str) -> Vec<Value> {
    doc.get(key)
        .and_then(|t| t["upEvents"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// Sum over every series of a histogram's `_count` or `_sum` with `labels`.
fn total(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.values(name, labels).iter().sum()
}

/// The unplanned downs of one stored timeline after its first up: (the up
/// run the down ended, the down time that a later up ended, the cause).
fn episodes(events: &[Value]) -> (Vec<(f64, String)>, Vec<f64>) {
    let (mut tbi, mut ttr) = (Vec::new(), Vec::new());
    let mut up_since: Option<f64> = None;
    let mut down_since: Option<f64> = None;
    for e in events {
        let t = seconds(e);
        if e["up"] == true {
            if let Some(d) = down_since.take() {
                ttr.push(t - d);
            }
            up_since.get_or_insert(t);
        } else if let Some(u) = up_since.take() {
            tbi.push((t - u, e["cause"].as_str().unwrap_or("").to_string()));
            down_since = Some(t);
        }
    }
    (tbi, ttr)
}

#[test]
fn node_causes_and_the_pool_histograms_equal_the_stored_history() {
    let cluster = Cluster::start();
    let spot = json!({"cloud.google.com/gke-spot": "true"});
    let pools = ["nr", "unk", "del", "spot", "maint"];
    let mut nodes = Vec::new();
    for pool in pools {
        for i in 0..2 {
            let labels = if pool == "spot" {
                spot.clone()
            } else {
                json!({})
            };
            nodes.push(small_node(&format!("{pool}-{i}"), pool, labels));
        }
    }
    cluster.apply(&nodes);
    let (config, store) = cluster.with_store(sim_config());
    let monitor = cluster.monitor(config);
    let up = |m: &Metrics, pool: &str| m.get("megamon_nodepool_up", &[("nodepool_name", pool)]);
    monitor.wait_metrics("every pool up", |m| {
        pools.iter().all(|p| up(m, p) == Some(1.0))
    });
    // A pool's TTR series exist at zero before the first recovery, so
    // Prometheus' rate() counts that one.
    let m = monitor.wait_ready();
    assert_eq!(
        total(&m, "megamon_nodepool_time_to_recover_seconds_count", &[]),
        0.0
    );
    assert_eq!(
        m.values(
            "megamon_nodepool_time_to_recover_seconds_count",
            &[("spot", "true")]
        ),
        [0.0],
        "{}",
        m.text
    );

    // Five pools, five causes.
    cluster.set_node_ready("nr-0", "False");
    // Unknown for longer than the grace period (SPEC §2.5) counts as down.
    cluster.patch_status(
        "node",
        "unk-1",
        json!({"conditions": [{"type": "Ready", "status": "Unknown",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
    );
    cluster.kubectl(&["delete", "node", "del-0"]);
    cluster.kubectl(&["delete", "node", "spot-1"]);
    cluster.kubectl(&[
        "label",
        "node",
        "maint-0",
        "cloud.google.com/scheduled-maintenance-time=1767225600",
    ]);
    cluster.set_node_ready("maint-0", "False");
    let want = [
        ("nr", "node-not-ready"),
        ("unk", "node-unknown"),
        ("del", "node-deleted"),
        ("spot", "preemption"),
        ("maint", "maintenance"),
    ];
    let m = monitor.wait_metrics("each pool interrupted with its cause", |m| {
        want.iter().all(|(pool, cause)| {
            by_cause(m, "nodepool", ("nodepool_name", pool), cause) == Some(1.0)
        })
    });
    for (pool, _) in want {
        // Only the cause that occurred, and summed they equal the count.
        let causes = m.values(
            "megamon_nodepool_interruptions_by_cause",
            &[("nodepool_name", pool)],
        );
        assert_eq!(causes, [1.0], "{pool}: {}", m.text);
        assert_eq!(
            m.get(
                "megamon_nodepool_interruption_count",
                &[("nodepool_name", pool)]
            ),
            Some(1.0)
        );
    }

    // Stored with the event: the cause and a detail naming the nodes.
    let doc = stored_when(&store, "node-pools.json", "causes stored", |doc| {
        want.iter()
            .all(|(pool, _)| events(doc, pool).iter().any(|e| e.get("cause").is_some()))
    });
    let details: BTreeMap<&str, (String, String)> = want
        .iter()
        .map(|(pool, _)| {
            let down = events(&doc, pool)
                .into_iter()
                .find(|e| e["up"] == false && e.get("cause").is_some())
                .unwrap();
            let text = |k: &str| down[k].as_str().unwrap_or("").to_string();
            (*pool, (text("cause"), text("detail")))
        })
        .collect();
    for (pool, cause) in want {
        assert_eq!(details[pool].0, cause, "{pool}: {details:?}");
    }
    assert_eq!(details["nr"].1, "1 of 2 nodes NotReady: nr-0");
    assert_eq!(details["unk"].1, "1 of 2 nodes Unknown: unk-1");
    assert_eq!(details["spot"].1, "1 of 2 spot nodes reclaimed (deleted)");
    assert!(details["del"].1.contains("1 of 2"), "{details:?}");
    assert_eq!(
        details["maint"].1,
        "1 of 2 nodes under maintenance: maint-0"
    );

    // The web API carries them too.
    let (status, body) =
        support::http_get(&monitor.metrics, "/api/v1/entities/node-pools/spot").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"preemption\""), "{body}");

    // Every pool recovers.
    cluster.set_node_ready("nr-0", "True");
    cluster.set_node_ready("unk-1", "True");
    cluster.apply(&[
        small_node("del-0", "del", json!({})),
        small_node("spot-1", "spot", spot.clone()),
    ]);
    cluster.set_node_ready("maint-0", "True");
    let m = monitor.wait_metrics("every pool recovered", |m| {
        pools
            .iter()
            .all(|p| m.get("megamon_nodepool_recovery_count", &[("nodepool_name", p)]) == Some(1.0))
    });

    // The histograms hold exactly the stored episodes: one TTR per
    // recovery, one TBI per interruption under its cause, and their sums
    // are the durations between the stored timestamps.
    let doc = stored_when(&store, "node-pools.json", "recoveries stored", |doc| {
        pools.iter().all(|p| episodes(&events(doc, p)).1.len() == 1)
    });
    let (mut ttr_sum, mut tbi) = (0.0, BTreeMap::new());
    for pool in pools {
        let (between, recover) = episodes(&events(&doc, pool));
        ttr_sum += recover.iter().sum::<f64>();
        for (t, cause) in between {
            *tbi.entry(cause).or_insert(0.0) += t;
        }
    }
    let count = total(&m, "megamon_nodepool_time_to_recover_seconds_count", &[]);
    assert_eq!(count, 5.0, "{}", m.text);
    let sum = total(&m, "megamon_nodepool_time_to_recover_seconds_sum", &[]);
    assert!(
        (sum - ttr_sum).abs() < 1e-6,
        "TTR sum {sum} vs stored {ttr_sum}"
    );
    assert_eq!(
        m.get(
            "megamon_nodepool_time_to_recover_seconds_count",
            &[("spot", "true")]
        ),
        Some(1.0)
    );
    for (_, cause) in want {
        let labels = [("cause", cause)];
        assert_eq!(
            total(
                &m,
                "megamon_nodepool_time_between_interruptions_seconds_count",
                &labels
            ),
            1.0,
            "{cause}"
        );
        let got = total(
            &m,
            "megamon_nodepool_time_between_interruptions_seconds_sum",
            &labels,
        );
        assert!((got - tbi[cause]).abs() < 1e-6, "{cause}: {got} vs {tbi:?}");
    }
    // The cumulative buckets end with every observation.
    let inf = total(
        &m,
        "megamon_nodepool_time_to_recover_seconds_bucket",
        &[("le", "+Inf")],
    );
    assert_eq!(inf, 5.0);
    assert_eq!(monitor.process.terminate(), Some(0));
}

fn jobset_status(cluster: &Cluster, name: &str, ready: u64, restarts: u64, conditions: Value) {
    let status = json!({
        "restarts": restarts,
        "replicatedJobsStatus": [{"name": "workers", "ready": ready, "succeeded": 0, "failed": 0, "active": ready, "suspended": 0}],
        "conditions": conditions
    });
    cluster.patch_status("jobset", name, status);
}

fn jobset_value(m: &Metrics, name: &str, metric: &str) -> Option<f64> {
    m.get(
        &format!("megamon_jobset_{metric}"),
        &[("jobset_name", name)],
    )
}

fn stored_cause(store: &Path, file: &str, key: &str) -> (String, String) {
    let doc = stored_when(store, file, "a cause stored", |doc| {
        events(doc, key).iter().any(|e| e.get("cause").is_some())
    });
    let down = events(&doc, key)
        .into_iter()
        .find(|e| e.get("cause").is_some())
        .unwrap();
    let text = |k: &str| down[k].as_str().unwrap_or("").to_string();
    (text("cause"), text("detail"))
}

fn uid(cluster: &Cluster, kind: &str, name: &str) -> String {
    cluster.kubectl(&["get", kind, name, "-o", "jsonpath={.metadata.uid}"])
}

#[test]
fn a_failed_jobset_and_a_restarted_jobset_name_their_cause() {
    let cluster = Cluster::start();
    cluster.apply(&[jobset("fails", 2), jobset("restarts", 2)]);
    for name in ["fails", "restarts"] {
        jobset_status(&cluster, name, 2, 0, json!([]));
    }
    let (config, store) = cluster.with_store(sim_config());
    let monitor = cluster.monitor(config);
    monitor.wait_metrics("both JobSets up", |m| {
        ["fails", "restarts"]
            .iter()
            .all(|n| jobset_value(m, n, "up") == Some(1.0))
    });

    let failed = json!([{"type": "Failed", "status": "True", "reason": "FailedJobs",
        "message": "jobset failed due to job failure", "lastTransitionTime": "2026-12-01T00:00:00Z"}]);
    jobset_status(&cluster, "fails", 0, 0, failed);
    jobset_status(&cluster, "restarts", 0, 1, json!([]));
    let m = monitor.wait_metrics("both interrupted with their causes", |m| {
        by_cause(m, "jobset", ("jobset_name", "fails"), "workload-failed") == Some(1.0)
            && by_cause(m, "jobset", ("jobset_name", "restarts"), "workload-restart") == Some(1.0)
    });
    assert_eq!(jobset_value(&m, "fails", "interruption_count"), Some(1.0));
    assert_eq!(
        stored_cause(&store, "jobsets.json", &uid(&cluster, "jobset", "fails")),
        (
            "workload-failed".into(),
            "FailedJobs: jobset failed due to job failure".into()
        )
    );
    assert_eq!(
        stored_cause(&store, "jobsets.json", &uid(&cluster, "jobset", "restarts")),
        (
            "workload-restart".into(),
            "restarts 0 → 1; 0 of 2 jobs ready".into()
        )
    );

    // The restarted JobSet's jobs come back: one recovery, in the histogram.
    jobset_status(&cluster, "restarts", 2, 1, json!([]));
    let m = monitor.wait_metrics("recovered", |m| {
        jobset_value(m, "restarts", "recovery_count") == Some(1.0)
    });
    let mttr = jobset_value(&m, "restarts", "down_time_between_recovery_seconds").unwrap();
    assert_eq!(
        total(&m, "megamon_jobset_time_to_recover_seconds_count", &[]),
        1.0
    );
    let sum = total(&m, "megamon_jobset_time_to_recover_seconds_sum", &[]);
    assert!((sum - mttr).abs() < 1e-6, "{sum} vs {mttr}");
    assert_eq!(
        total(
            &m,
            "megamon_jobset_time_between_interruptions_seconds_count",
            &[("cause", "workload-failed")]
        ),
        1.0
    );
    assert_eq!(monitor.process.terminate(), Some(0));
}

fn set_slice_ready(cluster: &Cluster, name: &str, ready: &str, reason: &str) {
    let status = json!({"conditions": [{"type": "Ready", "status": ready, "reason": reason,
        "message": "", "lastTransitionTime": "2026-12-01T00:00:00Z"}]});
    cluster.patch_status("slice", name, status);
}

#[test]
fn a_degraded_slice_and_a_deleted_slice_name_their_cause() {
    let cluster = Cluster::start();
    cluster.apply(&[
        jobset("train", 1),
        slice("deg", "train"),
        slice("gone", "train"),
    ]);
    jobset_status(&cluster, "train", 1, 0, json!([]));
    for s in ["deg", "gone"] {
        set_slice_ready(&cluster, s, "True", "Ready");
    }
    let mut config = sim_config();
    config["SliceEnabled"] = json!(true);
    let (config, store) = cluster.with_store(config);
    let monitor = cluster.monitor(config);
    let slice_up = |m: &Metrics, s: &str| m.get("megamon_slice_up", &[("slice_name", s)]);
    monitor.wait_metrics("both slices up", |m| {
        slice_up(m, "deg") == Some(1.0) && slice_up(m, "gone") == Some(1.0)
    });
    set_slice_ready(&cluster, "deg", "False", "HardwareFailure");
    cluster.kubectl(&["delete", "slice", "gone"]);
    monitor.wait_metrics("both interrupted with their causes", |m| {
        by_cause(m, "slice", ("slice_name", "deg"), "slice-degraded") == Some(1.0)
            && by_cause(m, "slice", ("slice_name", "gone"), "slice-deleted") == Some(1.0)
    });
    let (cause, detail) = stored_cause(&store, "slices.json", "deg");
    assert_eq!(cause, "slice-degraded");
    assert!(detail.contains("HardwareFailure"), "{detail}");
    assert_eq!(
        stored_cause(&store, "slices.json", "gone").0,
        "slice-deleted"
    );
    assert_eq!(monitor.process.terminate(), Some(0));
}

#[test]
fn a_gke_pool_in_error_is_a_pool_error() {
    let cluster = Cluster::start();
    let gke = support::FakeGke::start();
    let pools = |status: &str| json!({"nodePools": [support::gke_pool("pool-a", "2x4", "ct5lp-hightpu-4t", status)]});
    gke.answer(200, pools("RUNNING"));
    cluster.apply(&[
        small_node("pool-a-0", "pool-a", json!({})),
        small_node("pool-a-1", "pool-a", json!({})),
    ]);
    let (config, store) = cluster.with_store(json!({"AggregationIntervalSeconds": 1}));
    let env = gke.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let monitor: Monitor = cluster.monitor_with_env(config, &env);
    monitor.wait_metrics("pool up", |m| {
        m.get("megamon_nodepool_up", &[("nodepool_name", "pool-a")]) == Some(1.0)
    });
    // GKE reports the pool in error, then one of its nodes goes: the pool's
    // error explains it (an ERROR pool whose nodes are all Ready stays up).
    gke.answer(200, pools("ERROR"));
    let polls = gke.pool_requests.load(std::sync::atomic::Ordering::SeqCst);
    wait_for("the ERROR polled", Duration::from_secs(15), || {
        (gke.pool_requests.load(std::sync::atomic::Ordering::SeqCst) > polls + 1).then_some(())
    });
    cluster.set_node_ready("pool-a-1", "False");
    monitor.wait_metrics("pool-error", |m| {
        by_cause(m, "nodepool", ("nodepool_name", "pool-a"), "pool-error") == Some(1.0)
    });
    let (cause, detail) = stored_cause(&store, "node-pools.json", "pool-a");
    assert_eq!(cause, "pool-error");
    assert!(detail.contains("ERROR"), "{detail}");
    assert_eq!(monitor.process.terminate(), Some(0));
}
