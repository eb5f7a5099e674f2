//! Upstream MegaMon v1.1.1/v1.2.0 parity, end to end: upstream's integration
//! scenarios rewritten for ours, through the built binary against `megamon
//! sim`, changes made with the real kubectl, results read from `/metrics`,
//! the store and the ConfigMaps (issue 11).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, Monitor, jobset, slice, tpu_node, wait_for};

fn sim_config() -> Value {
    json!({"EnableSimulation": true, "AggregationIntervalSeconds": 1})
}

fn jobset_status(cluster: &Cluster, name: &str, ready: u64, conditions: Value) {
    let status = json!({
        "replicatedJobsStatus": [{"name": "workers", "ready": ready, "succeeded": 0, "failed": 0, "active": ready, "suspended": 0}],
        "conditions": conditions
    });
    cluster.patch_status("jobset", name, status);
}

fn condition(kind: &str, reason: &str) -> Value {
    json!([{"type": kind, "status": "True", "reason": reason, "message": reason,
            "lastTransitionTime": "2025-01-01T00:00:00Z"}])
}

fn set_slice_ready(cluster: &Cluster, name: &str, ready: &str) {
    let status = json!({"conditions": [{"type": "Ready", "status": ready, "reason": "x", "message": "",
        "lastTransitionTime": "2025-01-01T00:00:00Z"}]});
    cluster.patch_status("slice", name, status);
}

/// A stored timeline's events, once the store holds `count` of them.
fn stored_events(store: &std::path::Path, file: &str, key: &str, count: usize) -> Vec<Value> {
    wait_for("history written", Duration::from_secs(15), || {
        let text = std::fs::read(store.join(file)).ok()?;
        let doc: Value = serde_json::from_slice(&text).ok()?;
        let events = doc[key]["upEvents"].as_array()?.clone();
        (events.len() >= count).then_some(events)
    })
}

#[test]
fn node_pool_provisioning_then_success_and_a_pool_in_error_failed() {
    let cluster = Cluster::start();
    let gke = support::FakeGke::start();
    gke.answer(
        200,
        json!({"nodePools": [
            support::gke_pool("pool-a", "2x4", "ct5lp-hightpu-4t", "PROVISIONING"),
            support::gke_pool("pool-b", "2x4", "ct5lp-hightpu-4t", "PROVISIONING"),
        ]}),
    );
    let config = json!({"AggregationIntervalSeconds": 1, "EventsStoreURL": "memory://"});
    let env = gke.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let monitor = cluster.monitor_with_env(config, &env);
    let state = |m: &support::Metrics, pool: &str, s: &str| {
        m.get(
            "megamon_nodepool_provisioning_duration_seconds",
            &[("nodepool_name", pool), ("provisioning_state", s)],
        )
    };
    // Provisioning: the time so far, growing.
    let m = monitor.wait_metrics("both pools provisioning", |m| {
        state(m, "pool-a", "provisioning").is_some() && state(m, "pool-b", "provisioning").is_some()
    });
    let early = state(&m, "pool-a", "provisioning").unwrap();
    monitor.wait_metrics("provisioning time grows", |m| {
        state(m, "pool-a", "provisioning").is_some_and(|v| v > early)
    });
    // pool-b fails before it was ever up; pool-a's nodes come up.
    gke.answer(
        200,
        json!({"nodePools": [
            support::gke_pool("pool-a", "2x4", "ct5lp-hightpu-4t", "RUNNING"),
            support::gke_pool("pool-b", "2x4", "ct5lp-hightpu-4t", "ERROR"),
        ]}),
    );
    let nodes: Vec<Value> = (0..2)
        .map(|i| {
            let mut n = tpu_node(&format!("pool-a-{i}"), "pool-a", "True");
            n["metadata"]["labels"]["cloud.google.com/gke-tpu-topology"] = json!("2x4");
            n
        })
        .collect();
    cluster.apply(&nodes);
    let m = monitor.wait_metrics("pool-a success, pool-b failed", |m| {
        state(m, "pool-a", "success").is_some() && state(m, "pool-b", "failed").is_some()
    });
    assert_eq!(
        m.get("megamon_nodepool_up", &[("nodepool_name", "pool-a")]),
        Some(1.0)
    );
    // Exactly one series per pool: the state label moved.
    for pool in ["pool-a", "pool-b"] {
        let series = m.values(
            "megamon_nodepool_provisioning_duration_seconds",
            &[("nodepool_name", pool)],
        );
        assert_eq!(series.len(), 1, "{pool}: {}", m.text);
    }
    // Success is fixed at the time to first up; failed at the time to the failure.
    let success = state(&m, "pool-a", "success").unwrap();
    let failed = state(&m, "pool-b", "failed").unwrap();
    assert_eq!(
        m.get(
            "megamon_nodepool_down_time_initial_seconds",
            &[("nodepool_name", "pool-a")]
        ),
        Some(success)
    );
    let later = monitor.wait_metrics("a later aggregation", |later| {
        later.get(
            "megamon_nodepool_up_time_seconds",
            &[("nodepool_name", "pool-a")],
        ) > m.get(
            "megamon_nodepool_up_time_seconds",
            &[("nodepool_name", "pool-a")],
        )
    });
    assert_eq!(state(&later, "pool-a", "success"), Some(success));
    assert_eq!(state(&later, "pool-b", "failed"), Some(failed));
    assert_eq!(
        later.get(
            "megamon_nodepool_interruption_count",
            &[("nodepool_name", "pool-b")]
        ),
        Some(0.0),
        "a failure before first up is not an interruption"
    );
    // Upstream's GKE latency histogram counts the polls.
    assert!(
        later
            .get("megamon_gke_latency_seconds_count", &[])
            .is_some_and(|n| n >= 2.0)
    );
    assert_eq!(monitor.process.terminate(), Some(0));
}

#[test]
fn a_jobset_failed_before_ready_is_provisioning_failed_and_stored_with_f() {
    let cluster = Cluster::start();
    let (config, store) = cluster.with_store(sim_config());
    cluster.apply(&[jobset("train", 2)]);
    let monitor = cluster.monitor(config);
    let labels = [
        ("jobset_name", "train"),
        ("provisioning_state", "provisioning"),
    ];
    monitor.wait_metrics("provisioning", |m| {
        m.get("megamon_jobset_provisioning_duration_seconds", &labels)
            .is_some()
    });
    jobset_status(
        &cluster,
        "train",
        0,
        condition("Failed", "BackoffLimitExceeded"),
    );
    let m = monitor.wait_metrics("failed", |m| {
        m.get(
            "megamon_jobset_provisioning_duration_seconds",
            &[("jobset_name", "train"), ("provisioning_state", "failed")],
        )
        .is_some()
    });
    assert_eq!(
        m.get(
            "megamon_jobset_interruption_count",
            &[("jobset_name", "train")]
        ),
        Some(0.0)
    );
    let uid = cluster.kubectl(&["get", "jobset", "train", "-o", "jsonpath={.metadata.uid}"]);
    let events = stored_events(&store, "jobsets.json", &uid, 2);
    assert_eq!(events[0].get("f"), None, "{events:?}");
    assert_eq!(events[1]["f"], true, "{events:?}");
    assert_eq!(events[1]["up"], false);
    // The report shows upstream's fields.
    let (status, body) =
        support::http_get(&monitor.metrics, &format!("/api/v1/entities/jobsets/{uid}"))
            .expect("entity API");
    assert_eq!(status, 200, "{body}");
    let entity: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(entity["summary"]["provisioningState"], "failed");
    assert_eq!(entity["state"], "down (failed)");
    // Upstream's store latency histogram, here for a file store: the load at
    // start and the writes since.
    let m = monitor.wait_metrics("store calls timed", |m| {
        m.get(
            "megamon_gcs_latency_seconds_count",
            &[("operation", "write")],
        )
        .is_some_and(|n| n >= 1.0)
    });
    assert!(
        m.get(
            "megamon_gcs_latency_seconds_count",
            &[("operation", "read")]
        )
        .is_some_and(|n| n >= 1.0),
        "{}",
        m.text
    );
    assert_eq!(monitor.process.terminate(), Some(0));
}

/// An upstream v1.2.0 file with its bug's sequence: down, up, down (an
/// interruption), then down again with only `f` set. Upstream counts two
/// interruptions and credits the second down stretch as up time; ours loads
/// it unchanged and counts one interruption.
#[test]
fn an_upstream_file_with_f_loads_and_continues() {
    let cluster = Cluster::start();
    let (config, store) = cluster.with_store(sim_config());
    cluster.apply(&[jobset("train", 1)]);
    let uid = cluster.kubectl(&["get", "jobset", "train", "-o", "jsonpath={.metadata.uid}"]);
    jobset_status(&cluster, "train", 0, condition("Failed", "PodFailure"));
    let t0 = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(60);
    let ts = |mins: i64| (t0 + jiff::SignedDuration::from_mins(mins)).to_string();
    let upstream = format!(
        r#"{{"{uid}":{{"upEvents":[{{"up":false,"ed":false,"ts":"{}"}},{{"up":true,"ed":false,"ts":"{}"}},{{"up":false,"ed":false,"ts":"{}"}},{{"up":false,"ed":false,"f":true,"ts":"{}"}}]}}}}"#,
        ts(0),
        ts(10),
        ts(30),
        ts(40)
    );
    std::fs::write(store.join("jobsets.json"), &upstream).unwrap();
    let monitor = cluster.monitor(config);
    let js = [("jobset_name", "train")];
    let m = monitor.wait_ready();
    assert_eq!(
        m.get("megamon_jobset_interruption_count", &js),
        Some(1.0),
        "{}",
        m.text
    );
    assert_eq!(m.get("megamon_jobset_up_time_seconds", &js), Some(1200.0));
    assert!(m.get("megamon_jobset_down_time_seconds", &js).unwrap() >= 40.0 * 60.0);
    assert_eq!(
        m.get(
            "megamon_jobset_provisioning_duration_seconds",
            &[("jobset_name", "train"), ("provisioning_state", "success")]
        ),
        Some(600.0)
    );
    // It continues: back up is a recovery of the whole down stretch, and the
    // file keeps upstream's events as they were.
    jobset_status(&cluster, "train", 1, json!([]));
    let m = monitor.wait_metrics("recovered", |m| {
        m.get("megamon_jobset_recovery_count", &js) == Some(1.0)
    });
    assert!(
        m.get(
            "megamon_jobset_down_time_between_recovery_latest_seconds",
            &js
        )
        .unwrap()
            >= 30.0 * 60.0
    );
    let events = stored_events(&store, "jobsets.json", &uid, 5);
    let before: Value = serde_json::from_str(&upstream).unwrap();
    let before = before[&uid]["upEvents"].as_array().unwrap();
    for (old, new) in before.iter().zip(&events) {
        assert_eq!(old["up"], new["up"]);
        assert_eq!(old.get("f"), new.get("f"));
        let (a, b): (jiff::Timestamp, jiff::Timestamp) = (
            old["ts"].as_str().unwrap().parse().unwrap(),
            new["ts"].as_str().unwrap().parse().unwrap(),
        );
        assert_eq!(a, b);
    }
    assert_eq!(events[4]["up"], true);
    assert_eq!(monitor.process.terminate(), Some(0));
}

fn slice_config() -> Value {
    let mut c = sim_config();
    c["SliceEnabled"] = json!(true);
    c["SliceOwnerMapConfigMapRef"] = json!({"Namespace": "default", "Name": "slice-owners"});
    c
}

fn slice_up(m: &support::Metrics, name: &str) -> Option<f64> {
    m.get("megamon_slice_up", &[("slice_name", name)])
}

#[test]
fn slice_deletion_tracking() {
    let cluster = Cluster::start();
    cluster.apply(&[
        jobset("train", 1),
        jobset("done", 1),
        slice("repair", "train"),
        slice("lost", "train"),
        slice("finished", "done"),
    ]);
    for s in ["repair", "lost", "finished"] {
        set_slice_ready(&cluster, s, "True");
    }
    // History in files: the restart below continues it.
    let (config, _store) = cluster.with_store(slice_config());
    let monitor = cluster.monitor(config.clone());
    monitor.wait_metrics("three slices up", |m| {
        ["repair", "lost", "finished"]
            .iter()
            .all(|s| slice_up(m, s) == Some(1.0))
    });
    // The slice -> owner map is kept in upstream's ConfigMap.
    let owners = wait_for("the slice owner map", Duration::from_secs(15), || {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .args(["get", "configmap", "slice-owners", "-o", "json"])
            .output()
            .ok()?;
        let cm: Value = serde_json::from_slice(&out.stdout).ok()?;
        let map: Value = serde_json::from_str(cm["data"]["slice-owner-map.json"].as_str()?).ok()?;
        (map.as_object()?.len() == 3).then_some(map)
    });
    assert_eq!(
        owners["repair"],
        json!({"Kind": "JobSet", "Namespace": "default", "Name": "train"})
    );

    // Slice repair: failure, deleted, recreated, up: 1 interruption, 1 recovery.
    set_slice_ready(&cluster, "repair", "False");
    cluster.kubectl(&["delete", "slice", "repair"]);
    // Failing then deleted while its owner runs: an interruption, and it stays.
    set_slice_ready(&cluster, "lost", "False");
    cluster.kubectl(&["delete", "slice", "lost"]);
    // The owner of "finished" completes: planned down, then its deletion is
    // planned too and the series vanish.
    jobset_status(
        &cluster,
        "done",
        0,
        condition("Completed", "AllJobsCompleted"),
    );
    let m = monitor.wait_metrics("deleted slices kept down; finished planned down", |m| {
        slice_up(m, "repair") == Some(0.0)
            && slice_up(m, "lost") == Some(0.0)
            && slice_up(m, "finished") == Some(0.0)
    });
    let lost = [("slice_name", "lost")];
    assert_eq!(m.get("megamon_slice_interruption_count", &lost), Some(1.0));
    assert_eq!(
        m.get(
            "megamon_slice_interruption_count",
            &[("slice_name", "finished")]
        ),
        Some(0.0)
    );
    cluster.kubectl(&["delete", "slice", "finished"]);
    cluster.apply(&[slice("repair", "train")]);
    set_slice_ready(&cluster, "repair", "True");
    let m = monitor.wait_metrics("repaired; finished gone", |m| {
        slice_up(m, "repair") == Some(1.0) && m.mentioning("finished").is_empty()
    });
    let repair = [("slice_name", "repair")];
    assert_eq!(
        m.get("megamon_slice_interruption_count", &repair),
        Some(1.0)
    );
    assert_eq!(m.get("megamon_slice_recovery_count", &repair), Some(1.0));
    assert_eq!(slice_up(&m, "lost"), Some(0.0));
    assert_eq!(m.get("megamon_slice_interruption_count", &lost), Some(1.0));

    // Restart while "lost" is still missing: the map brings it back down.
    assert_eq!(monitor.process.terminate(), Some(0));
    let monitor = cluster.monitor(config);
    let m = monitor.wait_ready();
    assert_eq!(slice_up(&m, "lost"), Some(0.0), "{}", m.text);
    // Its owner ends: the deleted slice goes for good.
    jobset_status(
        &cluster,
        "train",
        0,
        condition("Completed", "AllJobsCompleted"),
    );
    monitor.wait_metrics("lost gone with its owner", |m| {
        m.mentioning("\"lost\"").is_empty()
    });
    assert_eq!(monitor.process.terminate(), Some(0));
}

fn blocked_node(name: &str, pool: &str, block: &str, sub: &str) -> Value {
    let mut n = tpu_node(name, pool, "True");
    n["metadata"]["labels"]["cloud.google.com/gke-tpu-topology"] = json!("2x4");
    let labels = &mut n["metadata"]["labels"];
    labels["cloud.google.com/gce-topology-block"] = json!(block);
    labels["cloud.google.com/gce-topology-subblock"] = json!(sub);
    labels["cloud.google.com/reservation-blocks"] = json!(format!("res-{block}"));
    labels["cloud.google.com/reservation-subblocks"] = json!(format!("res-{sub}"));
    n
}

fn leader_pod(jobset: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{jobset}-workers-0-0"), "namespace": "default", "labels": {
            "jobset.sigs.k8s.io/jobset-name": jobset,
            "batch.kubernetes.io/job-completion-index": "0",
            "batch.kubernetes.io/job-name": format!("{jobset}-workers-0")}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]}
    })
}

#[test]
fn block_labels_on_each_family_and_no_jobset_topology_with_slices() {
    let cluster = Cluster::start();
    cluster.apply(&[
        blocked_node("a-0", "pool-a", "b1", "sb1"),
        blocked_node("a-1", "pool-a", "b1", "sb1"),
        jobset("train", 1),
        slice("s1", "train"),
        leader_pod("train", "a-0"),
    ]);
    set_slice_ready(&cluster, "s1", "True");
    let monitor = cluster.monitor(slice_config());
    let m = monitor.wait_metrics("every family with block labels", |m| {
        m.get(
            "megamon_slice_up",
            &[("slice_name", "s1"), ("block_id", "b1")],
        )
        .is_some()
            && m.get(
                "megamon_nodepool_job_scheduled",
                &[("nodepool_name", "pool-a")],
            )
            .is_some()
            && m.get(
                "megamon_jobset_up",
                &[("jobset_name", "train"), ("block_id", "b1")],
            )
            .is_some()
    });
    let all_four = [
        ("nodepool_name", "pool-a"),
        ("block_id", "b1"),
        ("subblock_id", "sb1"),
        ("block_name", "res-b1"),
        ("subblock_name", "res-sb1"),
    ];
    assert!(
        m.get("megamon_nodepool_up", &all_four).is_some(),
        "{}",
        m.text
    );
    assert!(
        m.get("megamon_nodepool_job_scheduled", &all_four).is_some(),
        "{}",
        m.text
    );
    // JobSets and slices: block only.
    for (name, key, value) in [
        ("megamon_jobset_up", "jobset_name", "train"),
        ("megamon_slice_up", "slice_name", "s1"),
    ] {
        let line = m
            .text
            .lines()
            .find(|l| {
                l.starts_with(&format!("{name}{{")) && l.contains(&format!("{key}=\"{value}\""))
            })
            .unwrap_or_else(|| panic!("{name}: {}", m.text));
        assert!(
            line.contains("block_id=\"b1\"") && line.contains("block_name=\"res-b1\""),
            "{line}"
        );
        assert!(!line.contains("subblock"), "{line}");
    }
    // With slices, JobSets carry no topology (it is on the slices).
    let jobset_line = m
        .text
        .lines()
        .find(|l| l.starts_with("megamon_jobset_up{"))
        .unwrap();
    assert!(!jobset_line.contains("tpu_topology"), "{jobset_line}");
    assert!(
        jobset_line.contains("tpu_accelerator=\"tpu-v6e-slice\""),
        "{jobset_line}"
    );
    assert!(
        m.get(
            "megamon_slice_up",
            &[("slice_name", "s1"), ("tpu_topology", "4x4x4")]
        )
        .is_some()
    );
    assert_eq!(monitor.process.terminate(), Some(0));
}

fn lws(replicas: u64) -> Value {
    json!({
        "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
        "metadata": {"name": "infer", "namespace": "default"},
        "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": 2, "workerTemplate": {"spec": {
            "nodeSelector": {"cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
                             "cloud.google.com/gke-tpu-topology": "2x4"},
            "containers": [{"name": "server", "image": "server:v1",
                            "resources": {"limits": {"google.com/tpu": "8"}}}]}}}}
    })
}

fn lws_status(cluster: &Cluster, ready: u64, updating: bool) {
    let cond = |t: &str, s: bool| {
        json!({"type": t, "status": if s { "True" } else { "False" }, "reason": "Test",
        "message": "", "lastTransitionTime": "2025-01-01T00:00:00Z"})
    };
    cluster.patch_status(
        "leaderworkerset",
        "infer",
        json!({"readyReplicas": ready, "replicas": 2,
               "conditions": [cond("Available", ready == 2), cond("UpdateInProgress", updating)]}),
    );
}

fn lws_value(m: &support::Metrics, name: &str) -> Option<f64> {
    m.get(name, &[("lws_name", "infer"), ("lws_namespace", "default")])
}

#[test]
fn leader_worker_set_rolls_an_update_then_loses_a_group() {
    let cluster = Cluster::start_with_lws();
    cluster.apply(&[lws(2)]);
    let mut config = sim_config();
    config["LeaderWorkerSetSupport"] = json!(true);
    let monitor: Monitor = cluster.monitor(config);
    monitor.wait_metrics("LWS seen, down", |m| {
        lws_value(m, "megamon_leaderworkerset_up") == Some(0.0)
    });
    lws_status(&cluster, 2, false);
    let m = monitor.wait_metrics("LWS up", |m| {
        lws_value(m, "megamon_leaderworkerset_up") == Some(1.0)
    });
    // 2 groups × 2 pods × 8 chips; labels from the template.
    assert_eq!(
        lws_value(&m, "megamon_leaderworkerset_tpu_chip_count"),
        Some(32.0)
    );
    assert!(
        m.get(
            "megamon_leaderworkerset_up",
            &[("lws_name", "infer"), ("tpu_topology", "2x4")]
        )
        .is_some()
    );
    // A rolling update: down, but planned.
    lws_status(&cluster, 1, true);
    monitor.wait_metrics("rolling update", |m| {
        lws_value(m, "megamon_leaderworkerset_up") == Some(0.0)
    });
    lws_status(&cluster, 2, false);
    let m = monitor.wait_metrics("updated", |m| {
        lws_value(m, "megamon_leaderworkerset_up") == Some(1.0)
    });
    assert_eq!(
        lws_value(&m, "megamon_leaderworkerset_interruption_count"),
        Some(0.0)
    );
    assert_eq!(
        lws_value(&m, "megamon_leaderworkerset_recovery_count"),
        Some(0.0)
    );
    // A group lost for real: an interruption; back: a recovery.
    lws_status(&cluster, 1, false);
    monitor.wait_metrics("group lost", |m| {
        lws_value(m, "megamon_leaderworkerset_interruption_count") == Some(1.0)
    });
    lws_status(&cluster, 2, false);
    let m = monitor.wait_metrics("recovered", |m| {
        lws_value(m, "megamon_leaderworkerset_recovery_count") == Some(1.0)
    });
    assert_eq!(lws_value(&m, "megamon_leaderworkerset_up"), Some(1.0));
    assert_eq!(
        lws_value(&m, "megamon_leaderworkerset_interruption_count"),
        Some(1.0)
    );
    // Deleting it removes its series.
    cluster.kubectl(&["delete", "leaderworkerset", "infer"]);
    monitor.wait_metrics("LWS gone", |m| {
        m.values("megamon_leaderworkerset_up", &[]).is_empty()
    });
    assert_eq!(monitor.process.terminate(), Some(0));
}
