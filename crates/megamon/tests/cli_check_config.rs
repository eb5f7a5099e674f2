//! `megamon check-config`, run as a user runs it.

use std::process::{Command, Output};

use serde_json::Value;

fn check(path: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_megamon"))
        .args(["check-config", "--config-path"])
        .arg(path)
        .env_remove("RUST_LOG")
        .env_remove("MEGAMON_CONFIG_PATH")
        .output()
        .expect("run megamon")
}

fn check_doc(doc: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, doc).unwrap();
    check(&path)
}

fn one_error_line(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn original_config_prints_the_effective_configuration() {
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/config/original.json"
    ));
    let out = check(path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["UnknownCountThreshold"], 0.1);
    assert_eq!(c["Exporters"], serde_json::json!(["stdout"]));
    assert_eq!(c["GKE"]["ProjectID"], "my-project");
    assert_eq!(c["GKE"]["ClusterName"], "tpu-cluster");
    // Defaults filled in.
    assert_eq!(c["EventsBucketPath"], "megamon/clusters/tpu-cluster");
    assert_eq!(c["MetricsAddr"], ":8080");
    assert_eq!(c["ProbeAddr"], ":8081");
    assert_eq!(c["SecureMetrics"], false);
    assert_eq!(c["ReportConfigMapRef"]["Name"], "megamon-report");
    assert_eq!(c["EnableLeaderElection"], false);
}

#[test]
fn unknown_keys_are_warned_about_not_fatal() {
    let out = check_doc(r#"{"MetricsPrefx": "typo"}"#);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"key "MetricsPrefx" is not a MegaMon setting"#),
        "{err}"
    );
}

#[test]
fn bad_configs_give_one_line_and_exit_2() {
    let cases = [
        (
            r#"{"UnknownCountThreshold": 2}"#,
            r#"key "UnknownCountThreshold": must be within 0..1"#,
        ),
        (
            r#"{"Exporters": ["prometheus"]}"#,
            r#"key "Exporters": unknown exporter "prometheus""#,
        ),
        (
            r#"{"AggregationIntervalSeconds": true}"#,
            r#"key "AggregationIntervalSeconds": expected a whole number"#,
        ),
        (
            "{\"MetricsPrefix\": \"x\",,}",
            "malformed JSON at line 1, column 23: key must be a string",
        ),
        ("[1, 2]", "expected a JSON object"),
    ];
    for (doc, want) in cases {
        let err = one_error_line(&check_doc(doc));
        assert!(err.contains(want), "{doc}: {err}");
    }
}

#[test]
fn unreadable_file_is_one_line_and_exit_2() {
    let err = one_error_line(&check(std::path::Path::new("/no/such/config.json")));
    assert!(
        err.contains("/no/such/config.json: cannot read the file"),
        "{err}"
    );
}

/// `megamon` with no subcommand: the monitor, on `config` (written to a file
/// unless `None`, which points `--config-path` at a file that does not exist).
/// Its cluster does not exist either, so a monitor that accepted the config
/// would fail later, differently; it is stopped after 20 s if it runs on.
fn start_monitor(config: Option<&str>) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    if let Some(doc) = config {
        std::fs::write(&path, doc).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_megamon"))
        .arg("--config-path")
        .arg(&path)
        .env_remove("RUST_LOG")
        .env_remove("MEGAMON_CONFIG_PATH")
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run megamon");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let out = child.wait_with_output().unwrap();
    (out, path.display().to_string())
}

#[test]
fn the_monitor_refuses_a_bad_config_at_start_up() {
    let cases = [
        (
            r#"{"UnknownCountThreshold": 2}"#,
            r#"key "UnknownCountThreshold": must be within 0..1"#,
        ),
        (
            r#"{"Exporters": ["prometheus"]}"#,
            r#"key "Exporters": unknown exporter "prometheus""#,
        ),
        (
            r#"{"AggregationIntervalSeconds": true}"#,
            r#"key "AggregationIntervalSeconds": expected a whole number"#,
        ),
        (r#"{"MetricsPrefix": "9x"}"#, r#"key "MetricsPrefix""#),
        (r#"{"MetricsAddr": "8080"}"#, r#"key "MetricsAddr""#),
        (
            r#"{"EventsStoreURL": "ftp://x"}"#,
            r#"key "EventsStoreURL""#,
        ),
    ];
    for (doc, want) in cases {
        let (out, path) = start_monitor(Some(doc));
        let err = one_error_line(&out);
        assert!(err.contains(want), "{doc}: {err}");
        assert!(err.contains(&path), "{doc}: the line names the file: {err}");
    }
}

#[test]
fn no_subcommand_runs_the_monitor_which_needs_its_config_file() {
    // Not clap's usage error (also exit status 2): the monitor's own line.
    let (out, path) = start_monitor(None);
    let err = one_error_line(&out);
    assert!(
        err.contains(&format!("{path}: cannot read the file")),
        "{err}"
    );
}
