//! `megamon report`, run as a user runs it: the built binary on sample files.

use std::process::{Command, Output};

use serde_json::Value;

const NOW: &str = "2024-05-01T12:00:00Z";
const MIN: i64 = 60_000_000_000;
const SEC: i64 = 1_000_000_000;

fn examples() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/history").to_string()
}

fn megamon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_megamon"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("MEGAMON_STORE")
        .output()
        .expect("run megamon")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn report_json(extra: &[&str]) -> Value {
    let store = examples();
    let mut args = vec![
        "report", "--store", &store, "--now", NOW, "--format", "json",
    ];
    args.extend_from_slice(extra);
    let out = megamon(&args);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("report --format json prints JSON")
}

#[test]
fn json_report_of_original_format_files() {
    let doc = report_json(&[]);
    assert_eq!(
        doc.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "jobset-nodes",
            "jobsets",
            "leader-worker-sets",
            "node-pools",
            "slices"
        ]
    );
    // SPEC §3.1 worked example.
    let js = &doc["jobsets"]["0b7f2c1e-5a44-4c8e-9d0a-1f2e3d4c5b6a"];
    assert_eq!(js["interruptionCount"], 1);
    assert_eq!(js["recoveryCount"], 1);
    assert_eq!(js["downTimeProvisioned"], 10 * MIN);
    assert_eq!(js["downTime"], 50 * MIN);
    assert_eq!(js["upTime"], 70 * MIN);
    assert_eq!(js["meanUpTimeBetweenInterruption"], 50 * MIN);
    assert_eq!(js["latestUpTimeBetweenInterruption"], 50 * MIN);
    assert_eq!(js["meanDownTimeBetweenRecovery"], 10 * MIN);
    // Upstream v1.2.0's fields.
    assert_eq!(js["provisioningState"], "success");
    assert_eq!(js["provisioningDuration"], 10 * MIN);
    // An offset timestamp and fractional seconds.
    let js2 = &doc["jobsets"]["9a8b7c6d-0000-4000-8000-000000000002"];
    assert_eq!(js2["downTimeProvisioned"], 330 * SEC + SEC / 2);
    assert_eq!(js2["upTime"], 6869 * SEC + SEC / 2);
    // Still provisioning, nanosecond timestamp.
    let js3 = &doc["jobsets"]["9a8b7c6d-0000-4000-8000-000000000003"];
    assert_eq!(js3["downTime"], 599_876_543_211i64);
    assert_eq!(js3["upTime"], 0);
    // A pool interrupted twice, no planned downs: the original's numbers.
    let pool = &doc["node-pools"]["tpu-v5e-16x16-a"];
    assert_eq!(pool["downTimeProvisioned"], 20 * MIN);
    assert_eq!(pool["upTime"], 140 * MIN);
    assert_eq!(pool["downTime"], 40 * MIN);
    assert_eq!(pool["interruptionCount"], 2);
    assert_eq!(pool["meanUpTimeBetweenInterruption"], 50 * MIN);
    assert_eq!(pool["latestUpTimeBetweenInterruption"], 40 * MIN);
    assert_eq!(pool["recoveryCount"], 2);
    assert_eq!(pool["meanDownTimeBetweenRecovery"], 10 * MIN);
    assert_eq!(pool["latestDownTimeBetweenRecovery"], 15 * MIN);
    // Up, then deleted on purpose: not an interruption.
    let planned = &doc["node-pools"]["tpu-v6e-2x4-b"];
    assert_eq!(planned["interruptionCount"], 0);
    assert_eq!(planned["upTime"], 45 * MIN);
    assert_eq!(planned["downTime"], 15 * MIN);
    // Empty file and missing file are both empty kinds.
    assert_eq!(doc["jobset-nodes"], serde_json::json!({}));
    assert_eq!(doc["slices"], serde_json::json!({}));
}

#[test]
fn json_report_of_one_kind() {
    let doc = report_json(&["--kind", "node-pools"]);
    assert_eq!(
        doc.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["node-pools"]
    );
    assert_eq!(doc["node-pools"].as_object().unwrap().len(), 2);
}

#[test]
fn table_report_for_people() {
    let store = examples();
    let out = megamon(&["report", "--store", &store, "--now", NOW]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("KIND"), "{text}");
    assert_eq!(lines.len(), 1 + 5, "{text}");
    // Interruptions the original recorded have no cause: `unknown`.
    let causes: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "Interruptions by cause")
        .collect();
    assert_eq!(causes.len(), 1 + 1 + 2, "{text}");
    let unknown_pools: Vec<&str> = causes
        .iter()
        .find(|l| l.starts_with("node-pools"))
        .expect("node pools' causes")
        .split_whitespace()
        .collect();
    assert_eq!(unknown_pools, ["node-pools", "unknown", "2", "-"]);
    let row = lines
        .iter()
        .find(|l| l.contains("tpu-v5e-16x16-a"))
        .expect("pool row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "node-pools",
            "tpu-v5e-16x16-a",
            "up",
            "77.8",
            "20m0s",
            "2h20m0s",
            "40m0s",
            "2",
            "50m0s",
            "2",
            "10m0s"
        ]
    );
    assert!(text.contains("down (planned)"), "{text}");
}

#[test]
fn csv_report_has_a_header_and_a_row_per_entity() {
    let store = examples();
    let out = megamon(&[
        "report", "--store", &store, "--now", NOW, "--format", "csv", "--kind", "jobsets",
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(
        header[..6],
        [
            "kind",
            "key",
            "state",
            "provisioningState",
            "interruptionCount",
            "recoveryCount"
        ]
    );
    assert_eq!(header.len(), 17);
    assert_eq!(header[16], "causes");
    let row: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(
        row[..6],
        [
            "jobsets",
            "0b7f2c1e-5a44-4c8e-9d0a-1f2e3d4c5b6a",
            "up",
            "success",
            "1",
            "1"
        ]
    );
    let up_col = header.iter().position(|h| *h == "upTimeSeconds").unwrap();
    assert_eq!(row[up_col], "4200");
}

#[test]
fn file_url_works_like_a_path() {
    let path = std::fs::canonicalize(examples()).unwrap();
    let url = format!("file://{}", path.display());
    let out = megamon(&[
        "report", "--store", &url, "--now", NOW, "--format", "json", "--kind", "jobsets",
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["jobsets"].as_object().unwrap().len(), 3);
}

#[test]
fn corrupted_file_is_one_clear_line_and_exit_2() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corrupted");
    let out = megamon(&["report", "--store", dir, "--now", NOW]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("node-pools.json: line 4"), "{err}");
    assert!(stdout(&out).is_empty());
    // The intact kind is still readable on its own.
    let out = megamon(&["report", "--store", dir, "--now", NOW, "--kind", "jobsets"]);
    assert!(out.status.success());
}

#[test]
fn bad_store_and_bad_now_are_errors() {
    let out = megamon(&["report", "--store", "/no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/no/such/dir"), "{}", stderr(&out));
    let out = megamon(&["report", "--store", "ftp://bucket/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unsupported scheme"),
        "{}",
        stderr(&out)
    );
    let store = examples();
    let out = megamon(&["report", "--store", &store, "--now", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--now"), "{}", stderr(&out));
}

/// (No subcommand runs the monitor: `cli_check_config.rs` runs it that way.)
#[test]
fn version_prints_the_name_and_version() {
    let out = megamon(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        format!("megamon {}", env!("CARGO_PKG_VERSION"))
    );
}

// The store tests' helpers (Azurite, its signed client); the module allows its own dead code.
#[path = "../../megamon-store/tests/support/mod.rs"]
mod store_support;

/// `az://` configured as users configure it: the standard `AZURE_*`
/// variables, for the emulator and for an account with a key, on files
/// another Azure client uploaded.
#[test]
fn report_from_azure_with_the_standard_variables() {
    use store_support::azurite::{ACCOUNT, Azurite, KEY};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let azurite = runtime.block_on(Azurite::start());
    azurite.create_container("megamon-events");
    for file in ["jobsets.json", "node-pools.json"] {
        let bytes = std::fs::read(format!("{}/{file}", examples())).unwrap();
        let r = azurite.signed(
            "PUT",
            &format!("/megamon-events/megamon/clusters/c1/{file}"),
            &[],
            &[("x-ms-blob-type", "BlockBlob".into())],
            &bytes,
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let from_files = report_json(&[]);
    let report = |env: &[(&str, String)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_megamon"));
        command.args([
            "report",
            "--store",
            "az://megamon-events/megamon/clusters/c1",
            "--now",
            NOW,
            "--format",
            "json",
        ]);
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("AZUR")) {
            command.env_remove(name);
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        command
            .env_remove("RUST_LOG")
            .output()
            .expect("run megamon")
    };

    let emulator = report(&[
        ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
        (
            "AZURITE_BLOB_STORAGE_URL",
            format!("http://127.0.0.1:{}", azurite.port),
        ),
    ]);
    assert!(emulator.status.success(), "stderr: {}", stderr(&emulator));
    let doc: Value = serde_json::from_slice(&emulator.stdout).unwrap();
    assert_eq!(doc["jobsets"], from_files["jobsets"]);
    assert_eq!(doc["node-pools"], from_files["node-pools"]);
    assert_eq!(
        doc["slices"],
        serde_json::json!({}),
        "a missing blob is an empty kind"
    );

    let account = report(&[
        ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.into()),
        ("AZURE_STORAGE_ACCOUNT_KEY", KEY.into()),
        (
            "AZURE_STORAGE_ENDPOINT",
            format!("http://127.0.0.1:{}/{ACCOUNT}", azurite.port),
        ),
        ("AZURE_ALLOW_HTTP", "true".into()),
    ]);
    assert!(account.status.success(), "stderr: {}", stderr(&account));
    assert_eq!(stdout(&account), stdout(&emulator));

    let nothing = report(&[]);
    assert_eq!(nothing.status.code(), Some(2));
    let err = stderr(&nothing);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("az://megamon-events/megamon/clusters/c1")
            && err.contains("AZURE_STORAGE_ACCOUNT_NAME"),
        "{err}"
    );
}

/// A pool with known interruptions and recoveries, causes and labels, as
/// the monitor stores them: up 10 min, preempted, 5 min down, up 20 min,
/// a node NotReady, 1 min down, up 30 min, a node NotReady, 15 min down, up.
/// Another pool (v5e) recovers once in 2 h. A JobSet from the original (no
/// labels, no causes) recovers once in 90 s.
fn history_with_causes() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pools = serde_json::json!({
        "pool-a": {"attrs": {"nodePoolName": "pool-a", "tpuAccelerator": "tpu-v5p-slice",
                              "tpuTopology": "2x2x2", "spot": true},
                   "upEvents": [
            {"up": false, "ts": "2024-05-01T00:00:00Z"},
            {"up": true, "ts": "2024-05-01T00:00:00Z"},
            {"up": false, "ts": "2024-05-01T00:10:00Z", "cause": "preemption",
             "detail": "1 of 2 spot nodes reclaimed (deleted)"},
            {"up": true, "ts": "2024-05-01T00:15:00Z"},
            {"up": false, "ts": "2024-05-01T00:35:00Z", "cause": "node-not-ready",
             "detail": "1 of 2 nodes NotReady: a-1"},
            {"up": true, "ts": "2024-05-01T00:36:00Z"},
            {"up": false, "ts": "2024-05-01T01:06:00Z", "cause": "node-not-ready"},
            {"up": true, "ts": "2024-05-01T01:21:00Z"}
        ]},
        "pool-b": {"attrs": {"nodePoolName": "pool-b", "tpuAccelerator": "tpu-v5-lite-podslice"},
                   "upEvents": [
            {"up": false, "ts": "2024-05-01T00:00:00Z"},
            {"up": true, "ts": "2024-05-01T00:00:00Z"},
            {"up": false, "ts": "2024-05-01T01:00:00Z", "cause": "maintenance"},
            {"up": true, "ts": "2024-05-01T03:00:00Z"}
        ]}
    });
    std::fs::write(dir.path().join("node-pools.json"), pools.to_string()).unwrap();
    let jobsets = serde_json::json!({"u1": {"upEvents": [
        {"up": false, "ts": "2024-05-01T00:00:00Z"},
        {"up": true, "ts": "2024-05-01T00:01:00Z"},
        {"up": false, "ts": "2024-05-01T00:02:00Z"},
        {"up": true, "ts": "2024-05-01T00:03:30Z"}
    ]}});
    std::fs::write(dir.path().join("jobsets.json"), jobsets.to_string()).unwrap();
    dir
}

fn report_of(dir: &tempfile::TempDir, extra: &[&str]) -> String {
    let store = dir.path().to_str().unwrap();
    let mut args = vec!["report", "--store", store, "--now", "2024-05-01T04:00:00Z"];
    args.extend_from_slice(extra);
    let out = megamon(&args);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn json_report_lists_each_interruption_with_its_cause() {
    let dir = history_with_causes();
    let doc: Value = serde_json::from_str(&report_of(&dir, &["--format", "json"])).unwrap();
    let pool = &doc["node-pools"]["pool-a"];
    assert_eq!(pool["interruptionCount"], 3);
    assert_eq!(
        pool["causes"],
        serde_json::json!({"node-not-ready": 2, "preemption": 1})
    );
    assert_eq!(
        pool["interruptions"][0],
        serde_json::json!({"ts": "2024-05-01T00:10:00Z", "cause": "preemption",
            "detail": "1 of 2 spot nodes reclaimed (deleted)", "upTimeBefore": 10 * MIN})
    );
    assert_eq!(pool["interruptions"][2]["cause"], "node-not-ready");
    assert!(pool["interruptions"][2].get("detail").is_none());
    // The original's history: its interruption has no cause.
    assert_eq!(
        doc["jobsets"]["u1"]["causes"],
        serde_json::json!({"unknown": 1})
    );
}

#[test]
fn table_and_csv_reports_count_causes() {
    let dir = history_with_causes();
    let text = report_of(&dir, &[]);
    let section: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| *l != "Interruptions by cause")
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        section,
        [
            vec!["jobsets", "unknown", "1", "-"],
            vec!["node-pools", "node-not-ready", "2", "TerminationEvent"],
            vec!["node-pools", "preemption", "1", "PreemptionEvent"],
            vec!["node-pools", "maintenance", "1", "MaintenanceEvent"],
        ],
        "{text}"
    );
    let csv = report_of(&dir, &["--format", "csv", "--kind", "node-pools"]);
    let last: Vec<&str> = csv.lines().map(|l| l.rsplit(',').next().unwrap()).collect();
    assert_eq!(
        last,
        ["causes", "node-not-ready=2;preemption=1", "maintenance=1"]
    );
}

#[test]
fn percentiles_are_exact_per_family_and_accelerator_in_every_format() {
    let dir = history_with_causes();
    let doc: Value =
        serde_json::from_str(&report_of(&dir, &["--percentiles", "--format", "json"])).unwrap();
    let v5p = &doc["node-pools"]["tpu-v5p-slice"];
    // Recoveries of 5, 1 and 15 min; up runs of 10, 20 and 30 min.
    assert_eq!(
        v5p["ttr"],
        serde_json::json!({"count": 3, "p50": 5 * MIN, "p90": 15 * MIN, "p99": 15 * MIN, "max": 15 * MIN})
    );
    assert_eq!(
        v5p["tbi"],
        serde_json::json!({"count": 3, "p50": 20 * MIN, "p90": 30 * MIN, "p99": 30 * MIN, "max": 30 * MIN})
    );
    // Every pool: 1, 5, 15 min and 2 h.
    let all = &doc["node-pools"]["all"]["ttr"];
    assert_eq!(
        (&all["count"], &all["p50"], &all["p90"]),
        (
            &serde_json::json!(4),
            &serde_json::json!(5 * MIN),
            &serde_json::json!(120 * MIN)
        )
    );
    // History without labels is grouped as such.
    assert_eq!(doc["jobsets"]["unlabelled"]["ttr"]["p50"], 90 * SEC);
    assert_eq!(doc["slices"], serde_json::json!({}));

    let table = report_of(&dir, &["--percentiles", "--kind", "node-pools"]);
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.contains("tpu-v5p-slice") && l.contains("ttr"))
        .expect("v5p ttr row")
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        [
            "node-pools",
            "tpu-v5p-slice",
            "ttr",
            "3",
            "5m0s",
            "15m0s",
            "15m0s",
            "15m0s"
        ],
        "{table}"
    );
    let csv = report_of(
        &dir,
        &["--percentiles", "--format", "csv", "--kind", "node-pools"],
    );
    assert!(
        csv.lines()
            .any(|l| l == "node-pools,tpu-v5-lite-podslice,ttr,1,7200,7200,7200,7200"),
        "{csv}"
    );
    assert!(
        csv.starts_with(
            "kind,accelerator,measure,count,p50Seconds,p90Seconds,p99Seconds,maxSeconds\n"
        ),
        "{csv}"
    );
}
