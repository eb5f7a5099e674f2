//! `megamon report --since/--until` and over many clusters (SPEC §3.3–§3.5),
//! run as a user runs it: the built binary on a shared prefix laid out as
//! monitors in several clusters write it (`<prefix>/<cluster>/...`, each
//! with its `archive/<kind>/<day>.jsonl`).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use jiff::Timestamp;
use megamon_core::archive::ArchivedEntity;
use megamon_core::{Attrs, EntityKind, Timeline};
use serde_json::{Value, json};

const NOW: &str = "2024-05-01T04:00:00Z";
const MIN: i64 = 60_000_000_000;

fn megamon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_megamon"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("MEGAMON_STORE")
        .output()
        .expect("run megamon")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn v5p(chips: u64) -> Value {
    json!({"tpuAccelerator": "tpu-v5p-slice", "tpuChipCount": chips})
}

/// The archive line of an entity with `events` (stored format) that ended at `ended`.
fn archived(kind: EntityKind, key: &str, attrs: Value, events: Value, ended: &str) -> String {
    let mut timeline: Timeline =
        serde_json::from_value(json!({ "upEvents": events })).expect("a stored timeline");
    let attrs: Attrs = serde_json::from_value(attrs).expect("attrs");
    timeline.set_attrs(attrs.clone().into());
    ArchivedEntity::new(kind, key, &timeline, at(ended)).to_line()
}

fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// Cluster `us-east`: jobset `js-live` (16 chips) still running, interrupted
/// once (preemption); jobset `js-done` (16 chips) ended at 03:00, interrupted
/// once (node-not-ready) at 02:00, in the archive.
fn us_east(dir: &Path) {
    let live = json!({"js-live": {"attrs": v5p(16), "upEvents": [
        {"up": false, "ts": "2024-05-01T00:00:00Z"},
        {"up": true, "ts": "2024-05-01T00:10:00Z"},
        {"up": false, "ts": "2024-05-01T01:00:00Z", "cause": "preemption"},
        {"up": true, "ts": "2024-05-01T01:20:00Z"}
    ]}});
    write(&dir.join("jobsets.json"), &live.to_string());
    let done = archived(
        EntityKind::JobSets,
        "js-done",
        v5p(16),
        json!([
            {"up": false, "ts": "2024-05-01T00:00:00Z"},
            {"up": true, "ts": "2024-05-01T00:05:00Z"},
            {"up": false, "ts": "2024-05-01T02:00:00Z", "cause": "node-not-ready",
             "detail": "1 of 4 nodes NotReady: n-3"},
            {"up": true, "ts": "2024-05-01T02:30:00Z"}
        ]),
        "2024-05-01T03:00:00Z",
    );
    write(&dir.join("archive/jobsets/2024-05-01.jsonl"), &done);
}

/// Cluster `eu-west`: jobset `js-eu` (8 chips), interrupted at 03:00 for 30m.
fn eu_west(dir: &Path) {
    let live = json!({"js-eu": {"attrs": v5p(8), "upEvents": [
        {"up": false, "ts": "2024-05-01T00:00:00Z"},
        {"up": true, "ts": "2024-05-01T00:00:00Z"},
        {"up": false, "ts": "2024-05-01T03:00:00Z", "cause": "maintenance"},
        {"up": true, "ts": "2024-05-01T03:30:00Z"}
    ]}});
    write(&dir.join("jobsets.json"), &live.to_string());
}

/// A shared prefix with `us-east`, `eu-west` and `broken` (a corrupt file).
fn fleet() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    us_east(&root.path().join("us-east"));
    eu_west(&root.path().join("eu-west"));
    write(
        &root.path().join("broken/jobsets.json"),
        "{\"js-x\": {\"upEvents\": [",
    );
    // A folder without history is not a cluster.
    std::fs::create_dir_all(root.path().join("scratch")).unwrap();
    root
}

fn report(store: &Path, extra: &[&str]) -> Output {
    let store = store.to_str().unwrap();
    let mut args = vec!["report", "--store", store, "--now", NOW];
    args.extend_from_slice(extra);
    megamon(&args)
}

fn report_json(store: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let out = report(store, &args);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("report --format json prints JSON")
}

#[test]
fn three_cluster_folders_one_corrupt_report_two_clusters_an_error_line_and_the_roll_up() {
    let root = fleet();
    let out = report(root.path(), &["--since", "4h", "--format", "json"]);
    // A corrupt cluster does not fail the run.
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert!(
        errors[0].starts_with("megamon report: cluster broken: ")
            && errors[0].contains("jobsets.json"),
        "the line names the cluster and the file: {stderr}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let clusters: Vec<&String> = doc["clusters"].as_object().unwrap().keys().collect();
    assert_eq!(clusters, ["eu-west", "us-east"]);
    assert!(
        doc["errors"]["broken"]
            .as_str()
            .unwrap()
            .contains("jobsets.json")
    );
    assert_eq!(doc["window"]["since"], "2024-05-01T00:00:00Z");
    assert_eq!(doc["window"]["until"], NOW);

    // us-east: its running jobset and its ended one (from the archive).
    let us = &doc["clusters"]["us-east"]["jobsets"];
    assert_eq!(us["js-live"]["upTime"], 210 * MIN);
    assert_eq!(us["js-live"]["causes"], json!({"preemption": 1}));
    assert!(us["js-live"].get("endedAt").is_none());
    assert_eq!(us["js-done"]["endedAt"], "2024-05-01T03:00:00Z");
    assert_eq!(us["js-done"]["upTime"], 145 * MIN);
    assert_eq!(us["js-done"]["downTime"], 35 * MIN);
    assert_eq!(us["js-done"]["interruptionCount"], 1);
    assert_eq!(us["js-done"]["causes"], json!({"node-not-ready": 1}));
    assert_eq!(
        doc["clusters"]["eu-west"]["jobsets"]["js-eu"]["upTime"],
        210 * MIN
    );
    // Every kind is there, empty or not.
    assert_eq!(doc["clusters"]["eu-west"]["node-pools"], json!({}));

    // The roll-up: chip-weighted availability, pooled MTTR and MTBI.
    let g = &doc["fleet"]["jobsets"]["tpu-v5p-slice"];
    assert_eq!(g["entities"], 3);
    assert_eq!(g["chips"], 40);
    let availability = g["availability"].as_f64().unwrap();
    let expected =
        (16.0 * 210.0 + 16.0 * 145.0 + 8.0 * 210.0) / (16.0 * 240.0 + 16.0 * 180.0 + 8.0 * 240.0);
    assert!(
        (availability - expected).abs() < 1e-9,
        "{availability} vs {expected}"
    );
    assert_eq!(g["interruptionCount"], 3);
    assert_eq!(g["recoveryCount"], 3);
    // (20m + 30m + 30m) / 3 and (50m + 115m + 180m) / 3.
    assert_eq!(g["meanDownTimeBetweenRecovery"], 80 * MIN / 3);
    assert_eq!(g["meanUpTimeBetweenInterruption"], 115 * MIN);
}

#[test]
fn many_clusters_table_and_csv_carry_a_cluster_column() {
    let root = fleet();
    let out = report(root.path(), &["--since", "4h", "--format", "csv"]);
    assert!(out.status.success());
    let csv = text(&out.stdout);
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("cluster,kind,key,state,"), "{header}");
    assert!(header.ends_with(",causes,endedAt"), "{header}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[0].starts_with("eu-west,jobsets,js-eu,up,"), "{csv}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with("us-east,jobsets,js-done,ended,")
                && r.ends_with(",node-not-ready=1,2024-05-01T03:00:00Z")),
        "{csv}"
    );
    assert_eq!(text(&out.stderr).lines().count(), 1);

    let out = report(root.path(), &["--since", "4h"]);
    assert!(out.status.success());
    let table = text(&out.stdout);
    let mut lines = table.lines();
    assert_eq!(
        lines.next(),
        Some("window: 2024-05-01T00:00:00Z to 2024-05-01T04:00:00Z")
    );
    let header = lines.next().unwrap();
    assert!(header.starts_with("CLUSTER  KIND     KEY"), "{table}");
    assert!(
        table.contains("\nus-east  jobsets  js-done  ended"),
        "{table}"
    );
    // Causes of the interruptions inside the window, over every cluster.
    let causes = table
        .split("\nInterruptions by cause\n")
        .nth(1)
        .expect("a causes section");
    for cause in ["maintenance", "node-not-ready", "preemption"] {
        assert!(
            causes
                .lines()
                .any(|l| l.starts_with(&format!("jobsets  {cause}"))
                    && l.split_whitespace().nth(2) == Some("1")),
            "{cause}: {table}"
        );
    }
    // The roll-up follows: availability 85.19%, MTTR 26m40s, MTBI 1h55m0s.
    let fleet = table
        .lines()
        .find(|l| l.starts_with("jobsets  tpu-v5p-slice"))
        .expect("a roll-up line");
    let cells: Vec<&str> = fleet.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "jobsets",
            "tpu-v5p-slice",
            "3",
            "40",
            "85.19",
            "3",
            "1h55m0s",
            "3",
            "26m40s"
        ],
        "{table}"
    );
}

#[test]
fn many_clusters_without_a_window_report_current_entities() {
    let root = fleet();
    let doc = report_json(root.path(), &[]);
    let us = doc["clusters"]["us-east"]["jobsets"].as_object().unwrap();
    // The default is unchanged: current entities at --now, no archive.
    assert_eq!(us.keys().collect::<Vec<_>>(), ["js-live"]);
    assert_eq!(us["js-live"]["upTime"], 210 * MIN);
    assert!(doc.get("window").is_none());
    assert_eq!(doc["fleet"]["jobsets"]["tpu-v5p-slice"]["entities"], 2);
}

#[test]
fn a_window_that_cuts_timelines_gives_the_clipped_figures() {
    let root = fleet();
    let us = root.path().join("us-east");
    // 01:30 to 04:00 cuts js-done's up-run 00:05–02:00 in half.
    let doc = report_json(&us, &["--since", "2024-05-01T01:30:00Z", "--until", NOW]);
    let done = &doc["jobsets"]["js-done"];
    assert_eq!(done["upTime"], 60 * MIN, "01:30–02:00 and 02:30–03:00");
    assert_eq!(done["downTime"], 30 * MIN);
    assert_eq!(done["interruptionCount"], 1);
    assert_eq!(
        done["latestUpTimeBetweenInterruption"],
        30 * MIN,
        "the part inside"
    );
    assert_eq!(done["recoveryCount"], 1);
    assert_eq!(done["meanDownTimeBetweenRecovery"], 30 * MIN);
    let live = &doc["jobsets"]["js-live"];
    assert_eq!(live["upTime"], 150 * MIN);
    assert_eq!(live["downTime"], 0);
    assert_eq!(
        (
            live["interruptionCount"].as_u64(),
            live["recoveryCount"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert!(live.get("causes").is_none());

    // 00:00 to 01:30 (the other half; --until as a duration back from --now).
    let doc = report_json(&us, &["--since", "4h", "--until", "150m"]);
    let done = &doc["jobsets"]["js-done"];
    assert_eq!(done["upTime"], 85 * MIN);
    assert_eq!(done["downTimeProvisioned"], 5 * MIN);
    assert_eq!(done["interruptionCount"], 0);
    let live = &doc["jobsets"]["js-live"];
    assert_eq!(live["upTime"], 60 * MIN);
    assert_eq!(
        live["downTime"],
        30 * MIN,
        "provisioning 10m and 01:00–01:20 down"
    );
    assert_eq!(live["interruptionCount"], 1);
    assert_eq!(live["recoveryCount"], 1);

    // A window before js-done began, or after it ended, leaves it out.
    let doc = report_json(&us, &["--since", "2024-05-01T03:30:00Z"]);
    assert!(doc["jobsets"].get("js-done").is_none());
    assert!(doc["jobsets"].get("js-live").is_some());

    // Without a window, ended entities stay out, as before.
    let doc = report_json(&us, &[]);
    assert!(doc["jobsets"].get("js-done").is_none());
}

#[test]
fn bad_windows_are_one_clear_line_and_exit_2() {
    let root = fleet();
    for (args, says) in [
        (
            vec!["--since", "last week"],
            "--since \"last week\" is neither an RFC 3339 time",
        ),
        (
            vec!["--since", "1h", "--until", "2h"],
            "must be before --until",
        ),
    ] {
        let out = report(root.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// Many clusters are read concurrently: 200 clusters, each with a current
/// and an archived entity, report in a few seconds with every one of them.
#[test]
fn two_hundred_clusters_report_every_one() {
    let root = tempfile::tempdir().unwrap();
    for i in 0..200 {
        us_east(&root.path().join(format!("c{i:03}")));
    }
    let started = Instant::now();
    let doc = report_json(root.path(), &["--since", "4h"]);
    let took = started.elapsed();
    assert_eq!(doc["clusters"].as_object().unwrap().len(), 200);
    assert!(doc.get("errors").is_none());
    assert_eq!(doc["fleet"]["jobsets"]["tpu-v5p-slice"]["entities"], 400);
    eprintln!("200 clusters reported in {took:?}");
    assert!(took.as_secs() < 20, "{took:?}");
}

/// "What was our p90 time to recover on v5p this week, across clusters?":
/// `--percentiles` over a window pools the interruptions and recoveries that
/// happened inside it, of current and archived entities of every cluster.
#[test]
fn percentiles_over_a_window_pool_every_cluster_and_the_archive() {
    let root = fleet();
    let ns = |minutes: i64| json!(minutes * 60 * 1_000_000_000);
    // Everything: us-east js-live recovers in 20m, the archived js-done in
    // 30m, eu-west js-eu in 30m; up-runs 50m, 1h55m, 3h.
    let out = report(
        root.path(),
        &["--since", "4h", "--percentiles", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    // The corrupt cluster is its error line; the others are counted.
    assert!(
        text(&out.stderr).contains("cluster broken"),
        "{}",
        text(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let v5p = &doc["jobsets"]["tpu-v5p-slice"];
    assert_eq!(v5p["ttr"]["count"], 3, "{doc}");
    assert_eq!(v5p["ttr"]["p50"], ns(30), "{doc}");
    assert_eq!(v5p["ttr"]["max"], ns(30));
    assert_eq!(v5p["tbi"]["count"], 3);
    assert_eq!(v5p["tbi"]["max"], ns(180));
    assert_eq!(doc["jobsets"]["all"], doc["jobsets"]["tpu-v5p-slice"]);
    // From 01:30: only what happened since (js-live's 01:00/01:20 is out).
    let doc = {
        let out = report(
            root.path(),
            &[
                "--since",
                "2024-05-01T01:30:00Z",
                "--percentiles",
                "--format",
                "json",
            ],
        );
        assert_eq!(out.status.code(), Some(0));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let v5p = &doc["jobsets"]["tpu-v5p-slice"];
    assert_eq!(v5p["ttr"]["count"], 2, "{doc}");
    assert_eq!(v5p["ttr"]["p50"], ns(30));
    assert_eq!(v5p["tbi"]["count"], 2);
    assert_eq!(v5p["tbi"]["p50"], ns(115));
    // The table says the same, for people.
    let out = report(root.path(), &["--since", "4h", "--percentiles"]);
    let table = text(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "jobsets",
                    "tpu-v5p-slice",
                    "ttr",
                    "3",
                    "30m0s",
                    "30m0s",
                    "30m0s",
                    "30m0s"
                ]),
        "{table}"
    );
}
