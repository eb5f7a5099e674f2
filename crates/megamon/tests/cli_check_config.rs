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

#[test]
fn monitor_is_not_there_yet() {
    let out = Command::new(env!("CARGO_BIN_EXE_megamon"))
        .output()
        .unwrap();
    assert!(!out.status.success());
}
