//! The archive of ended entities (issue 13, SPEC §3.4) end to end: the built
//! binary against `megamon sim` with a `file://` store. A JobSet that runs,
//! is interrupted, recovers and is deleted is archived with its summary and
//! shows in `megamon report --since 1h`; restarts and a failover archive
//! nothing twice; the leader prunes day files older than the retention.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, Monitor, wait_for};

fn jobset(name: &str) -> Value {
    json!({
        "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicatedJobs": [{"name": "workers", "replicas": 2, "template": {"spec": {
            "parallelism": 1, "completions": 1,
            "template": {"spec": {
                "nodeSelector": {
                    "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                    "cloud.google.com/gke-tpu-topology": "2x4"
                },
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox"}]
            }}
        }}}]}
    })
}

fn ready(cluster: &Cluster, name: &str, ready: u64) {
    let status = json!({
        "replicatedJobsStatus": [{"name": "workers", "ready": ready, "succeeded": 0, "failed": 0, "active": ready, "suspended": 0}],
        "conditions": []
    });
    cluster.patch_status("jobset", name, status);
}

/// A cluster with a `file://` store; the config of a monitor writing to it.
fn setup(extra: Value) -> (Cluster, PathBuf, Value) {
    let cluster = Cluster::start();
    let store = cluster.dir.path().join("history");
    std::fs::create_dir_all(&store).unwrap();
    let mut config = json!({
        "EnableSimulation": true, "AggregationIntervalSeconds": 1,
        "EventsStoreURL": format!("file://{}", store.display()),
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    (cluster, store, config)
}

/// Every archived line of a kind, whatever its day.
fn archived(store: &Path, kind: &str) -> Vec<Value> {
    let Ok(dir) = std::fs::read_dir(store.join("archive").join(kind)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).expect("an archive line is JSON"))
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn stored_keys(store: &Path, file: &str) -> Vec<String> {
    std::fs::read(store.join(file))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
        .unwrap_or_default()
}

fn uid(cluster: &Cluster, name: &str) -> String {
    cluster.kubectl(&["get", "jobset", name, "-o", "jsonpath={.metadata.uid}"])
}

fn wait_up(monitor: &Monitor, uid: &str, up: f64) {
    monitor.wait_metrics("the JobSet's state", |m| {
        m.get("megamon_jobset_up", &[("jobset_uid", uid)]) == Some(up)
    });
}

/// Waits until the kind's archive holds `n` lines and the stored file no
/// longer holds `key`; returns the lines.
fn wait_archived(store: &Path, key: &str, n: usize) -> Vec<Value> {
    wait_for("the end archived", Duration::from_secs(15), || {
        let lines = archived(store, "jobsets");
        let gone = !stored_keys(store, "jobsets.json").iter().any(|k| k == key);
        (lines.len() >= n && gone).then_some(lines)
    })
}

#[test]
fn a_deleted_jobset_is_archived_with_its_summary_and_reported_since_1h() {
    let (cluster, store, config) = setup(json!({}));
    cluster.apply(&[jobset("train")]);
    let uid = uid(&cluster, "train");
    let monitor = cluster.monitor(config);
    monitor.wait_ready();
    ready(&cluster, "train", 2);
    wait_up(&monitor, &uid, 1.0);
    ready(&cluster, "train", 1);
    monitor.wait_metrics("interrupted", |m| {
        m.get("megamon_jobset_interruption_count", &[("jobset_uid", &uid)]) == Some(1.0)
    });
    ready(&cluster, "train", 2);
    monitor.wait_metrics("recovered", |m| {
        m.get("megamon_jobset_recovery_count", &[("jobset_uid", &uid)]) == Some(1.0)
    });
    wait_for("the recovery stored", Duration::from_secs(15), || {
        stored_keys(&store, "jobsets.json")
            .contains(&uid)
            .then_some(())
    });
    cluster.kubectl(&["delete", "jobset", "train"]);

    let lines = wait_archived(&store, &uid, 1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["kind"], "jobsets");
    assert_eq!(line["key"], uid.as_str());
    assert_eq!(line["attrs"]["jobsetName"], "train");
    assert_eq!(line["attrs"]["tpuAccelerator"], "tpu-v5-lite-podslice");
    assert_eq!(line["summary"]["interruptionCount"], 1);
    assert_eq!(line["summary"]["recoveryCount"], 1);
    let ups: Vec<bool> = line["timeline"]["upEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["up"].as_bool().unwrap())
        .collect();
    assert_eq!(ups, [false, true, false, true], "{line}");
    // The interruption keeps its cause in the archived timeline.
    assert!(
        line["timeline"]["upEvents"][2]["cause"].is_string(),
        "{line}"
    );
    let ended: jiff::Timestamp = line["endedAt"].as_str().unwrap().parse().unwrap();
    let last: jiff::Timestamp = line["timeline"]["upEvents"][3]["ts"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ended >= last);
    // The day file is named after the UTC day it ended.
    let day = ended.to_zoned(jiff::tz::TimeZone::UTC).date();
    assert!(store.join(format!("archive/jobsets/{day}.jsonl")).is_file());
    // The metrics forget it, as before.
    monitor.wait_metrics("its series gone", |m| m.mentioning(&uid).is_empty());

    // A week's review includes the finished run.
    let out = Command::new(env!("CARGO_BIN_EXE_megamon"))
        .args([
            "report",
            "--store",
            store.to_str().unwrap(),
            "--since",
            "1h",
        ])
        .args(["--format", "json", "--kind", "jobsets"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = &doc["jobsets"][uid.as_str()];
    assert_eq!(entry["endedAt"], line["endedAt"], "{doc}");
    assert_eq!(entry["interruptionCount"], 1);
    assert_eq!(entry["recoveryCount"], 1);
    // Over a window holding its whole life, its summary is the archived one.
    assert_eq!(entry["upTime"], line["summary"]["upTime"]);
    assert_eq!(entry["downTime"], line["summary"]["downTime"]);
    // Without a window, the report is the current entities only.
    let out = Command::new(env!("CARGO_BIN_EXE_megamon"))
        .args([
            "report",
            "--store",
            store.to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["jobsets"].get(uid.as_str()).is_none(), "{doc}");
    assert_eq!(monitor.process.terminate(), Some(0));
}

#[test]
fn restarts_archive_nothing_twice() {
    let (cluster, store, config) = setup(json!({}));
    cluster.apply(&[jobset("seen"), jobset("unseen")]);
    let (seen, unseen) = (uid(&cluster, "seen"), uid(&cluster, "unseen"));
    let monitor = cluster.monitor(config.clone());
    monitor.wait_ready();
    ready(&cluster, "seen", 2);
    ready(&cluster, "unseen", 2);
    wait_up(&monitor, &seen, 1.0);
    wait_up(&monitor, &unseen, 1.0);
    // One ends while the monitor watches.
    cluster.kubectl(&["delete", "jobset", "seen"]);
    wait_archived(&store, &seen, 1);
    assert_eq!(monitor.process.terminate(), Some(0));
    assert!(stored_keys(&store, "jobsets.json").contains(&unseen));

    // The other ends while no monitor runs: the next one finds it gone.
    cluster.kubectl(&["delete", "jobset", "unseen"]);
    let monitor = cluster.monitor(config.clone());
    let lines = wait_archived(&store, &unseen, 2);
    let keys: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&seen.as_str()) && keys.contains(&unseen.as_str()));
    assert_eq!(monitor.process.terminate(), Some(0));

    // Restarted again, and killed once: still one line per end.
    let monitor = cluster.monitor(config.clone());
    monitor.wait_ready();
    monitor.process.kill();
    let monitor = cluster.monitor(config);
    monitor.wait_ready();
    assert_eq!(monitor.process.terminate(), Some(0));
    assert_eq!(archived(&store, "jobsets").len(), 2);
}

#[test]
fn a_failover_archives_an_end_once() {
    let (cluster, store, mut config) = setup(json!({"EnableLeaderElection": true}));
    config["MetricsAddr"] = "127.0.0.1:0".into();
    config["ProbeAddr"] = "127.0.0.1:0".into();
    let path = cluster.dir.path().join("ha.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let timings = [
        "--leader-elect-lease-duration",
        "3s",
        "--leader-elect-renew-deadline",
        "2s",
        "--leader-elect-retry-period",
        "500ms",
    ];
    let start = |pod: &str| {
        cluster.monitor_process(
            &path,
            &timings,
            &[("POD_NAMESPACE", "default"), ("POD_NAME", pod)],
        )
    };
    cluster.apply(&[jobset("a"), jobset("b")]);
    let (a, b) = (uid(&cluster, "a"), uid(&cluster, "b"));
    ready(&cluster, "a", 2);
    ready(&cluster, "b", 2);
    let one = start("replica-1");
    let two = start("replica-2");
    let leads = |m: &Monitor| {
        m.scrape()
            .and_then(|s| s.get("megamon_leader", &[]))
            .map(|v| v == 1.0)
    };
    let (leader, standby) = wait_for("a leader", Duration::from_secs(20), || {
        match (leads(&one)?, leads(&two)?) {
            (true, false) => Some((true, false)),
            (false, true) => Some((false, true)),
            _ => None,
        }
    });
    let (leader, standby) = match (leader, standby) {
        (true, _) => (one, two),
        _ => (two, one),
    };
    wait_for("both stored", Duration::from_secs(15), || {
        let keys = stored_keys(&store, "jobsets.json");
        (keys.contains(&a) && keys.contains(&b)).then_some(())
    });
    // `a` ends while the leader leads: the leader archives it, the standby
    // (which saw it end too) does not.
    cluster.kubectl(&["delete", "jobset", "a"]);
    wait_archived(&store, &a, 1);
    // `b` ends and the leader dies at once: whichever archives it, once.
    cluster.kubectl(&["delete", "jobset", "b"]);
    leader.process.kill();
    standby.wait_metrics("the standby leads", |m| {
        m.get("megamon_leader", &[]) == Some(1.0)
    });
    let lines = wait_archived(&store, &b, 2);
    assert_eq!(standby.process.terminate(), Some(0));
    let lines_after = archived(&store, "jobsets");
    assert_eq!(lines_after.len(), 2, "{lines_after:?}");
    let mut keys: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
    keys.sort();
    let mut want = [a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(keys, want);
}

#[test]
fn the_leader_prunes_day_files_older_than_the_retention() {
    let (cluster, store, config) = setup(json!({"HistoryRetentionDays": 30}));
    let dir = store.join("archive/jobsets");
    std::fs::create_dir_all(&dir).unwrap();
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let old = today.checked_sub(jiff::Span::new().days(31)).unwrap();
    let recent = today.checked_sub(jiff::Span::new().days(29)).unwrap();
    let line = |day: jiff::civil::Date| {
        json!({"kind": "jobsets", "key": format!("js-{day}"), "endedAt": format!("{day}T12:00:00Z"),
               "summary": {}, "timeline": {"upEvents": [{"up": false, "ts": format!("{day}T10:00:00Z")}]}})
        .to_string()
            + "\n"
    };
    std::fs::write(dir.join(format!("{old}.jsonl")), line(old)).unwrap();
    std::fs::write(dir.join(format!("{recent}.jsonl")), line(recent)).unwrap();
    // Kept aside (corrupt) files are pruned by their day too; others are left.
    std::fs::write(dir.join(format!("{old}.jsonl.corrupt-x")), "x").unwrap();
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    let monitor = cluster.monitor(config);
    monitor.wait_ready();
    wait_for("the old day file pruned", Duration::from_secs(15), || {
        (!dir.join(format!("{old}.jsonl")).exists()).then_some(())
    });
    assert!(!dir.join(format!("{old}.jsonl.corrupt-x")).exists());
    assert!(dir.join(format!("{recent}.jsonl")).is_file());
    assert!(dir.join("notes.txt").is_file());
    assert_eq!(monitor.process.terminate(), Some(0));
}
