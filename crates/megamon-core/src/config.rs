//! The configuration file (SPEC §5): the original's JSON keys and defaults.
//!
//! Keys match case-insensitively, as Go's `encoding/json` matched them, so every
//! file the original accepted is accepted here. Unknown keys are ignored (and
//! reported as warnings); a value of the wrong type or out of range is an error
//! naming the key.

use std::time::Duration;

use serde_json::{Map, Value, json};

/// Where the `configmap` exporter writes the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMapRef {
    pub namespace: String,
    pub name: String,
}

/// GKE coordinates; empty values come from the GKE metadata server at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GkeConfig {
    pub project_id: String,
    pub cluster_location: String,
    pub cluster_name: String,
}

/// Report exporters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exporter {
    /// The report as one JSON line per aggregation on standard output.
    Stdout,
    /// The report under key `report` of `ReportConfigMapRef`.
    ConfigMap,
}

impl Exporter {
    pub fn as_str(self) -> &'static str {
        match self {
            Exporter::Stdout => "stdout",
            Exporter::ConfigMap => "configmap",
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub metrics_prefix: String,
    pub optional_controller_suffix: String,
    pub aggregation_interval: Duration,
    pub exporters: Vec<Exporter>,
    pub report_config_map_ref: ConfigMapRef,
    pub events_bucket_name: String,
    /// Empty when not configured: then `megamon/clusters/<cluster name>`, see
    /// [`Config::effective_events_bucket_path`].
    pub events_bucket_path: String,
    /// **[ours]** `gs://`, `s3://`, `az://` (or `azure://`), `file://` or
    /// `memory://` URL of the history store.
    pub events_store_url: Option<String>,
    pub disable_node_pool_job_labelling: bool,
    pub metrics_addr: String,
    pub probe_addr: String,
    pub enable_leader_election: bool,
    /// Plain HTTP unless the file sets `"SecureMetrics": true` (SPEC §5).
    pub secure_metrics: bool,
    pub enable_http2: bool,
    pub enable_simulation: bool,
    pub unknown_count_threshold: f64,
    /// **[ours]** How long a node may be Unknown before it counts as not ready.
    pub node_unknown_grace: Duration,
    pub slice_enabled: bool,
    /// Watch LeaderWorkerSets (upstream's `LeaderWorkerSetSupport`; its docs'
    /// `LeaderWorkerSetEnabled` is accepted too).
    pub leader_worker_set_support: bool,
    /// Where the slice → owner map is kept across restarts (upstream v1.2.0).
    pub slice_owner_map_config_map_ref: ConfigMapRef,
    pub gke: GkeConfig,
    /// **[ours]** How many days ended entities stay in the archive (SPEC
    /// §3.4); 0 keeps them forever.
    pub history_retention_days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            metrics_prefix: "megamon".into(),
            optional_controller_suffix: String::new(),
            aggregation_interval: Duration::from_secs(10),
            exporters: Vec::new(),
            report_config_map_ref: ConfigMapRef {
                namespace: "megamon-system".into(),
                name: "megamon-report".into(),
            },
            events_bucket_name: String::new(),
            events_bucket_path: String::new(),
            events_store_url: None,
            disable_node_pool_job_labelling: true,
            metrics_addr: ":8080".into(),
            probe_addr: ":8081".into(),
            enable_leader_election: false,
            secure_metrics: false,
            enable_http2: false,
            enable_simulation: false,
            unknown_count_threshold: 1.0,
            node_unknown_grace: crate::entity::node::DEFAULT_UNKNOWN_GRACE,
            slice_enabled: false,
            leader_worker_set_support: false,
            slice_owner_map_config_map_ref: ConfigMapRef {
                namespace: "megamon-system".into(),
                name: "megamon-slice-owner-map".into(),
            },
            gke: GkeConfig::default(),
            history_retention_days: 90,
        }
    }
}

/// A configuration that cannot be used. The message names the file and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: cannot read the file: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: malformed JSON at line {line}, column {column}: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("config {path}: key {key:?}: {problem}")]
    Key {
        path: String,
        key: String,
        problem: String,
    },
    #[error("config {path}: {problem}")]
    Document { path: String, problem: String },
}

/// A parsed configuration and what was ignored in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    /// Keys that are not configuration keys (they are ignored, as the original did).
    pub unknown_keys: Vec<String>,
}

/// Reads and validates the configuration file at `path`.
pub fn load(path: &std::path::Path) -> Result<Loaded, ConfigError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&shown, &bytes)
}

/// Parses and validates a configuration document; `path` names it in errors.
pub fn parse(path: &str, bytes: &[u8]) -> Result<Loaded, ConfigError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        let text = err.to_string();
        let message = match text.rfind(" at line ") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        ConfigError::Syntax {
            path: path.to_string(),
            line: err.line(),
            column: err.column(),
            message,
        }
    })?;
    let Value::Object(map) = value else {
        return Err(ConfigError::Document {
            path: path.to_string(),
            problem: format!("expected a JSON object, found {}", type_name(&value)),
        });
    };
    let mut reader = Reader {
        path,
        unknown: Vec::new(),
    };
    let config = reader.config(&map)?;
    Ok(Loaded {
        config,
        unknown_keys: reader.unknown,
    })
}

struct Reader<'a> {
    path: &'a str,
    unknown: Vec<String>,
}

impl Reader<'_> {
    fn err(&self, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            path: self.path.to_string(),
            key: key.to_string(),
            problem: problem.into(),
        }
    }

    fn config(&mut self, map: &Map<String, Value>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        for (key, value) in map {
            match key.to_ascii_lowercase().as_str() {
                "metricsprefix" => c.metrics_prefix = self.metrics_prefix(key, value)?,
                "optionalcontrollersuffix" => {
                    c.optional_controller_suffix = self.string(key, value)?
                }
                "aggregationintervalseconds" => {
                    let secs = self.integer(key, value)?;
                    if secs < 1 {
                        return Err(self.err(key, format!("must be at least 1 second, got {secs}")));
                    }
                    c.aggregation_interval = Duration::from_secs(secs.unsigned_abs());
                }
                "exporters" => c.exporters = self.exporters(key, value)?,
                "reportconfigmapref" => {
                    c.report_config_map_ref =
                        self.config_map_ref(key, value, c.report_config_map_ref.clone())?
                }
                "eventsbucketname" => c.events_bucket_name = self.string(key, value)?,
                "eventsbucketpath" => c.events_bucket_path = self.string(key, value)?,
                "eventsstoreurl" => {
                    let url = self.string(key, value)?;
                    c.events_store_url = if url.is_empty() {
                        None
                    } else {
                        Some(self.store_url(key, url)?)
                    };
                }
                "disablenodepooljoblabelling" => {
                    c.disable_node_pool_job_labelling = self.boolean(key, value)?
                }
                "metricsaddr" => c.metrics_addr = self.listen_addr(key, value)?,
                "probeaddr" => c.probe_addr = self.listen_addr(key, value)?,
                "enableleaderelection" => c.enable_leader_election = self.boolean(key, value)?,
                "securemetrics" => c.secure_metrics = self.boolean(key, value)?,
                "enablehttp2" => c.enable_http2 = self.boolean(key, value)?,
                "enablesimulation" => c.enable_simulation = self.boolean(key, value)?,
                "unknowncountthreshold" => {
                    let t = self.number(key, value)?;
                    if !(0.0..=1.0).contains(&t) {
                        return Err(self.err(key, format!("must be within 0..1, got {t}")));
                    }
                    c.unknown_count_threshold = t;
                }
                "nodeunknowngraceperiodseconds" => {
                    let secs = self.integer(key, value)?;
                    if secs < 0 {
                        return Err(self.err(key, format!("must not be negative, got {secs}")));
                    }
                    c.node_unknown_grace = Duration::from_secs(secs.unsigned_abs());
                }
                "sliceenabled" => c.slice_enabled = self.boolean(key, value)?,
                "leaderworkersetsupport" | "leaderworkersetenabled" => {
                    c.leader_worker_set_support = self.boolean(key, value)?
                }
                "sliceownermapconfigmapref" => {
                    let r =
                        self.config_map_ref(key, value, c.slice_owner_map_config_map_ref.clone())?;
                    if r.namespace.is_empty() || r.name.is_empty() {
                        return Err(self.err(key, "needs both Namespace and Name"));
                    }
                    c.slice_owner_map_config_map_ref = r;
                }
                "gke" => c.gke = self.gke(key, value)?,
                "historyretentiondays" => {
                    let days = self.integer(key, value)?;
                    c.history_retention_days = u32::try_from(days).map_err(|_| {
                        self.err(
                            key,
                            format!("must be a number of days from 0 (keep forever), got {days}"),
                        )
                    })?;
                }
                _ => self.unknown.push(key.clone()),
            }
        }
        if c.exporters.contains(&Exporter::ConfigMap) {
            let r = &c.report_config_map_ref;
            if r.namespace.is_empty() || r.name.is_empty() {
                return Err(self.err(
                    "ReportConfigMapRef",
                    "the configmap exporter needs both Namespace and Name",
                ));
            }
        }
        Ok(c)
    }

    fn string(&self, key: &str, value: &Value) -> Result<String, ConfigError> {
        match value {
            Value::String(s) => Ok(s.clone()),
            // Go leaves the default in place for null.
            Value::Null => Ok(String::new()),
            other => Err(self.wrong_type(key, "a string", other)),
        }
    }

    fn boolean(&self, key: &str, value: &Value) -> Result<bool, ConfigError> {
        match value {
            Value::Bool(b) => Ok(*b),
            other => Err(self.wrong_type(key, "true or false", other)),
        }
    }

    fn integer(&self, key: &str, value: &Value) -> Result<i64, ConfigError> {
        match value {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| self.err(key, format!("expected a whole number, found {n}"))),
            other => Err(self.wrong_type(key, "a whole number", other)),
        }
    }

    fn number(&self, key: &str, value: &Value) -> Result<f64, ConfigError> {
        match value {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| self.err(key, format!("expected a number, found {n}"))),
            other => Err(self.wrong_type(key, "a number", other)),
        }
    }

    fn wrong_type(&self, key: &str, expected: &str, found: &Value) -> ConfigError {
        self.err(
            key,
            format!("expected {expected}, found {}", describe(found)),
        )
    }

    fn metrics_prefix(&self, key: &str, value: &Value) -> Result<String, ConfigError> {
        let prefix = self.string(key, value)?;
        let valid = prefix
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            return Err(self.err(
                key,
                format!(
                    "{prefix:?} is not a metric name prefix: it must start with a letter and contain only letters, digits, '_' and '.'"
                ),
            ));
        }
        Ok(prefix)
    }

    fn exporters(&self, key: &str, value: &Value) -> Result<Vec<Exporter>, ConfigError> {
        let items = match value {
            Value::Array(items) => items,
            Value::Null => return Ok(Vec::new()),
            other => return Err(self.wrong_type(key, "a list of exporter names", other)),
        };
        let mut exporters = Vec::new();
        for item in items {
            let exporter = match item {
                Value::String(s) if s == "stdout" => Exporter::Stdout,
                Value::String(s) if s == "configmap" => Exporter::ConfigMap,
                Value::String(s) => {
                    return Err(self.err(
                        key,
                        format!("unknown exporter {s:?} (known: \"stdout\", \"configmap\")"),
                    ));
                }
                other => return Err(self.wrong_type(key, "exporter names (strings)", other)),
            };
            if !exporters.contains(&exporter) {
                exporters.push(exporter);
            }
        }
        Ok(exporters)
    }

    /// A `{"Namespace", "Name"}` object; what it leaves out is `defaults`'.
    fn config_map_ref(
        &self,
        key: &str,
        value: &Value,
        defaults: ConfigMapRef,
    ) -> Result<ConfigMapRef, ConfigError> {
        let mut r = defaults;
        let map = match value {
            Value::Object(map) => map,
            Value::Null => return Ok(r),
            other => {
                return Err(self.wrong_type(key, "an object {\"Namespace\", \"Name\"}", other));
            }
        };
        for (k, v) in map {
            let path = format!("{key}.{k}");
            match k.to_ascii_lowercase().as_str() {
                "namespace" => r.namespace = self.string(&path, v)?,
                "name" => r.name = self.string(&path, v)?,
                _ => {}
            }
        }
        Ok(r)
    }

    fn gke(&self, key: &str, value: &Value) -> Result<GkeConfig, ConfigError> {
        let mut g = GkeConfig::default();
        let map = match value {
            Value::Object(map) => map,
            Value::Null => return Ok(g),
            other => return Err(self.wrong_type(key, "an object", other)),
        };
        for (k, v) in map {
            let path = format!("{key}.{k}");
            match k.to_ascii_lowercase().as_str() {
                "projectid" => g.project_id = self.string(&path, v)?,
                "clusterlocation" => g.cluster_location = self.string(&path, v)?,
                "clustername" => g.cluster_name = self.string(&path, v)?,
                _ => {}
            }
        }
        Ok(g)
    }

    /// Go listen addresses: `:8080`, `host:8080`, `[::1]:8080`, or `0` to disable.
    fn listen_addr(&self, key: &str, value: &Value) -> Result<String, ConfigError> {
        let addr = self.string(key, value)?;
        if addr == "0" || parse_listen_port(&addr).is_some() {
            Ok(addr)
        } else {
            Err(self.err(
                key,
                format!("{addr:?} is not a listen address like \":8080\" or \"127.0.0.1:8080\" (\"0\" disables it)"),
            ))
        }
    }

    fn store_url(&self, key: &str, url: String) -> Result<String, ConfigError> {
        let scheme = url.split_once("://").map(|(s, _)| s);
        match scheme {
            Some("gs" | "s3" | "az" | "azure" | "file" | "memory") => Ok(url),
            _ => Err(self.err(
                key,
                format!(
                    "{url:?} is not a store URL (expected gs://, s3://, az://, file:// or memory://)"
                ),
            )),
        }
    }
}

/// The port of a Go-style listen address, if it is one.
pub fn parse_listen_port(addr: &str) -> Option<u16> {
    let (host, port) = addr.rsplit_once(':')?;
    let host_ok =
        host.is_empty() || (host.starts_with('[') && host.ends_with(']')) || !host.contains(':');
    if !host_ok {
        return None;
    }
    port.parse().ok()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {s:?}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("{b}"),
        other => type_name(other).to_string(),
    }
}

impl Config {
    /// `EventsBucketPath`, or the original's default `megamon/clusters/<cluster>`.
    pub fn effective_events_bucket_path(&self) -> String {
        if self.events_bucket_path.is_empty() {
            format!("megamon/clusters/{}", self.gke.cluster_name)
        } else {
            self.events_bucket_path.clone()
        }
    }

    /// The configuration as JSON with the original's key names (plus ours),
    /// defaults filled in: what `megamon check-config` prints.
    pub fn to_json(&self) -> Value {
        let bucket_path = if self.events_bucket_path.is_empty() && self.gke.cluster_name.is_empty()
        {
            // Known only once the metadata server has named the cluster.
            String::new()
        } else {
            self.effective_events_bucket_path()
        };
        json!({
            "MetricsPrefix": self.metrics_prefix,
            "OptionalControllerSuffix": self.optional_controller_suffix,
            "AggregationIntervalSeconds": self.aggregation_interval.as_secs(),
            "Exporters": self.exporters.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "ReportConfigMapRef": {
                "Namespace": self.report_config_map_ref.namespace,
                "Name": self.report_config_map_ref.name,
            },
            "EventsBucketName": self.events_bucket_name,
            "EventsBucketPath": bucket_path,
            "EventsStoreURL": self.events_store_url.clone().unwrap_or_default(),
            "DisableNodePoolJobLabelling": self.disable_node_pool_job_labelling,
            "MetricsAddr": self.metrics_addr,
            "ProbeAddr": self.probe_addr,
            "EnableLeaderElection": self.enable_leader_election,
            "SecureMetrics": self.secure_metrics,
            "EnableHTTP2": self.enable_http2,
            "EnableSimulation": self.enable_simulation,
            "UnknownCountThreshold": self.unknown_count_threshold,
            "NodeUnknownGracePeriodSeconds": self.node_unknown_grace.as_secs(),
            "SliceEnabled": self.slice_enabled,
            "LeaderWorkerSetSupport": self.leader_worker_set_support,
            "SliceOwnerMapConfigMapRef": {
                "Namespace": self.slice_owner_map_config_map_ref.namespace,
                "Name": self.slice_owner_map_config_map_ref.name,
            },
            "HistoryRetentionDays": self.history_retention_days,
            "GKE": {
                "ProjectID": self.gke.project_id,
                "ClusterLocation": self.gke.cluster_location,
                "ClusterName": self.gke.cluster_name,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(doc: &str) -> Loaded {
        parse("c.json", doc.as_bytes()).unwrap()
    }

    fn err(doc: &str) -> String {
        parse("c.json", doc.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn empty_object_gives_the_original_defaults() {
        let c = ok("{}").config;
        assert_eq!(c, Config::default());
        let json = c.to_json();
        assert_eq!(json["MetricsPrefix"], "megamon");
        assert_eq!(json["AggregationIntervalSeconds"], 10);
        assert_eq!(json["DisableNodePoolJobLabelling"], true);
        assert_eq!(json["MetricsAddr"], ":8080");
        assert_eq!(json["ProbeAddr"], ":8081");
        assert_eq!(json["UnknownCountThreshold"], 1.0);
        assert_eq!(json["SecureMetrics"], false);
        assert_eq!(json["ReportConfigMapRef"]["Namespace"], "megamon-system");
        assert_eq!(json["ReportConfigMapRef"]["Name"], "megamon-report");
    }

    #[test]
    fn a_full_original_config_loads() {
        let loaded = ok(r#"{
            "MetricsPrefix": "megamon.dev",
            "AggregationIntervalSeconds": 30,
            "Exporters": ["stdout", "configmap"],
            "ReportConfigMapRef": {"Namespace": "mm", "Name": "r"},
            "EventsBucketName": "bucket",
            "DisableNodePoolJobLabelling": false,
            "EnableLeaderElection": true,
            "UnknownCountThreshold": 0.1,
            "SliceEnabled": true,
            "EnableSimulation": true,
            "GKE": {"ProjectId": "p", "clusterLocation": "us-central2", "CLUSTERNAME": "c1"}
        }"#);
        let c = loaded.config;
        assert!(loaded.unknown_keys.is_empty());
        assert_eq!(c.metrics_prefix, "megamon.dev");
        assert_eq!(c.aggregation_interval, Duration::from_secs(30));
        assert_eq!(c.exporters, [Exporter::Stdout, Exporter::ConfigMap]);
        assert_eq!(c.report_config_map_ref.namespace, "mm");
        assert!(!c.disable_node_pool_job_labelling);
        assert_eq!(c.unknown_count_threshold, 0.1);
        assert_eq!(c.gke.project_id, "p");
        assert_eq!(c.gke.cluster_location, "us-central2");
        assert_eq!(c.gke.cluster_name, "c1");
        assert_eq!(c.effective_events_bucket_path(), "megamon/clusters/c1");
        assert_eq!(c.to_json()["EventsBucketPath"], "megamon/clusters/c1");
    }

    #[test]
    fn upstream_v1_2_keys() {
        let c = ok("{}").config;
        assert!(!c.leader_worker_set_support);
        assert_eq!(
            c.to_json()["SliceOwnerMapConfigMapRef"],
            json!({"Namespace": "megamon-system", "Name": "megamon-slice-owner-map"})
        );
        for key in ["LeaderWorkerSetSupport", "LeaderWorkerSetEnabled"] {
            let c = ok(&format!(r#"{{"{key}": true}}"#)).config;
            assert!(c.leader_worker_set_support, "{key}");
        }
        let c =
            ok(r#"{"SliceOwnerMapConfigMapRef": {"Namespace": "mm", "Name": "owners"}}"#).config;
        assert_eq!(c.slice_owner_map_config_map_ref.name, "owners");
        // What the object leaves out keeps its own default.
        let c = ok(r#"{"SliceOwnerMapConfigMapRef": {"Namespace": "mm"}}"#).config;
        assert_eq!(
            c.slice_owner_map_config_map_ref.name,
            "megamon-slice-owner-map"
        );
        let e = err(r#"{"SliceOwnerMapConfigMapRef": {"Namespace": "mm", "Name": ""}}"#);
        assert!(
            e.contains("SliceOwnerMapConfigMapRef") && e.contains("Name"),
            "{e}"
        );
        let e = err(r#"{"LeaderWorkerSetSupport": "yes"}"#);
        assert!(e.contains("LeaderWorkerSetSupport"), "{e}");
    }

    #[test]
    fn keys_match_case_insensitively_and_unknown_keys_are_reported() {
        let loaded = ok(r#"{"metricsprefix": "x", "SomethingElse": 1}"#);
        assert_eq!(loaded.config.metrics_prefix, "x");
        assert_eq!(loaded.unknown_keys, ["SomethingElse"]);
    }

    #[test]
    fn secure_metrics_only_when_set_explicitly() {
        assert!(!ok("{}").config.secure_metrics);
        assert!(ok(r#"{"SecureMetrics": true}"#).config.secure_metrics);
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        assert_eq!(
            err(r#"{"UnknownCountThreshold": 1.5}"#),
            r#"config c.json: key "UnknownCountThreshold": must be within 0..1, got 1.5"#
        );
        assert_eq!(
            err(r#"{"Exporters": ["stdout", "kafka"]}"#),
            r#"config c.json: key "Exporters": unknown exporter "kafka" (known: "stdout", "configmap")"#
        );
        assert_eq!(
            err(r#"{"AggregationIntervalSeconds": "10"}"#),
            r#"config c.json: key "AggregationIntervalSeconds": expected a whole number, found the string "10""#
        );
        assert_eq!(
            err(r#"{"AggregationIntervalSeconds": 2.5}"#),
            r#"config c.json: key "AggregationIntervalSeconds": expected a whole number, found 2.5"#
        );
        assert!(err(r#"{"AggregationIntervalSeconds": 0}"#).contains("at least 1"));
        assert!(
            err(r#"{"SliceEnabled": "yes"}"#)
                .contains(r#"key "SliceEnabled": expected true or false"#)
        );
        assert!(err(r#"{"GKE": {"ProjectID": 7}}"#).contains(r#"key "GKE.ProjectID""#));
        assert!(err(r#"{"MetricsAddr": "8080"}"#).contains(r#"key "MetricsAddr""#));
        assert!(err(r#"{"MetricsPrefix": "9x"}"#).contains(r#"key "MetricsPrefix""#));
        assert!(err(r#"{"EventsStoreURL": "ftp://x"}"#).contains(r#"key "EventsStoreURL""#));
        assert!(
            err(r#"{"Exporters": ["configmap"], "ReportConfigMapRef": {"Name": ""}}"#)
                .contains("ReportConfigMapRef")
        );
        assert!(err(r#"{"UnknownCountThreshold": -0.1}"#).contains("within 0..1"));
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let e = err("{\n  \"MetricsPrefix\": \"x\",\n}");
        assert!(
            e.starts_with("config c.json: malformed JSON at line 3, column 1"),
            "{e}"
        );
        assert_eq!(
            err("[]"),
            "config c.json: expected a JSON object, found a list"
        );
        assert!(err("").contains("malformed JSON"));
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen_port(":8080"), Some(8080));
        assert_eq!(parse_listen_port("0.0.0.0:9090"), Some(9090));
        assert_eq!(parse_listen_port("[::1]:80"), Some(80));
        assert_eq!(parse_listen_port("::1:80"), None);
        assert_eq!(parse_listen_port("8080"), None);
        assert_eq!(parse_listen_port(":http"), None);
        assert_eq!(ok(r#"{"MetricsAddr": "0"}"#).config.metrics_addr, "0");
    }

    #[test]
    fn store_url_is_ours_and_optional() {
        let c = ok(r#"{"EventsStoreURL": "file:///var/lib/megamon"}"#).config;
        assert_eq!(
            c.events_store_url.as_deref(),
            Some("file:///var/lib/megamon")
        );
        assert_eq!(
            ok(r#"{"EventsStoreURL": ""}"#).config.events_store_url,
            None
        );
        for url in [
            "gs://b/p",
            "s3://b/p",
            "az://c/p",
            "azure://c/p",
            "memory://",
        ] {
            let c = ok(&format!(r#"{{"EventsStoreURL": "{url}"}}"#)).config;
            assert_eq!(c.events_store_url.as_deref(), Some(url));
        }
    }

    #[test]
    fn history_retention_days() {
        assert_eq!(ok("{}").config.history_retention_days, 90);
        assert_eq!(ok("{}").config.to_json()["HistoryRetentionDays"], 90);
        assert_eq!(
            ok(r#"{"HistoryRetentionDays": 0}"#)
                .config
                .history_retention_days,
            0
        );
        assert!(err(r#"{"HistoryRetentionDays": -1}"#).contains(r#"key "HistoryRetentionDays""#));
        assert!(err(r#"{"HistoryRetentionDays": "7"}"#).contains("expected a whole number"));
    }

    #[test]
    fn read_error_names_the_file() {
        let e = load(std::path::Path::new("/nonexistent/megamon.json")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("config /nonexistent/megamon.json: cannot read the file")
        );
    }
}
