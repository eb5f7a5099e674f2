//! kubectl 1.32, with its default flags, against a running simulator.

mod common;

use std::time::Duration;

use common::{TestSim, crd_dir, eventually};
use megamon_sim::SimOptions;
use serde_json::Value;

const NODE: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: tpu-node-1
  labels:
    cloud.google.com/gke-nodepool: pool-a
    cloud.google.com/gke-tpu-topology: 2x2x4
spec: {}
status:
  conditions:
  - type: Ready
    status: "True"
"#;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: leader
  labels:
    jobset.sigs.k8s.io/jobset-name: js1
    batch.kubernetes.io/job-completion-index: "0"
spec:
  nodeName: tpu-node-1
  containers:
  - name: main
    image: busybox
  - name: sidecar
    image: busybox
"#;

const JOBSET: &str = r#"
apiVersion: jobset.x-k8s.io/v1alpha2
kind: JobSet
metadata:
  name: js1
spec:
  replicatedJobs:
  - name: workers
    replicas: 2
    template:
      spec:
        parallelism: 4
        template:
          spec:
            nodeSelector:
              cloud.google.com/gke-tpu-topology: 2x2x4
            containers: [{name: c, image: x}]
  futureField: survives
"#;

const SLICE: &str = r#"
apiVersion: accelerator.gke.io/v1beta1
kind: Slice
metadata:
  name: slice-a
  labels:
    tpu-provisioner.cloud.google.com/owner-name: js1
spec:
  type: tpu-v5p-slice
  topology: 2x2x4
"#;

fn field<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_manages_nodes_and_pods() {
    let t = TestSim::start().await;
    let node = t.file("node.yaml", NODE);
    let node = node.to_str().expect("utf8 path");
    assert!(
        t.ok(&["create", "-f", node])
            .await
            .contains("node/tpu-node-1 created")
    );
    let got = t.get_json(&["node", "tpu-node-1"]).await;
    assert_eq!(
        field(&got, "/status/conditions/0/status"),
        "True",
        "nodes keep .status on create"
    );
    assert_eq!(field(&got, "/metadata/generation"), 1);
    let table = t.ok(&["get", "nodes"]).await;
    assert!(
        table.contains("tpu-node-1") && table.contains("Ready"),
        "{table}"
    );

    let pod = t.file("pod.yaml", POD);
    let pod = pod.to_str().expect("utf8 path");
    assert!(
        t.ok(&["apply", "-f", pod])
            .await
            .contains("pod/leader created")
    );
    assert!(
        t.ok(&["apply", "-f", pod])
            .await
            .contains("pod/leader unchanged"),
        "a second apply is a no-op"
    );
    let rv_before = t.get_json(&["pod", "leader"]).await["metadata"]["resourceVersion"].clone();
    t.ok(&["apply", "-f", pod]).await;
    let got = t.get_json(&["pod", "leader"]).await;
    assert_eq!(got["metadata"]["resourceVersion"], rv_before);
    assert_eq!(
        field(&got, "/status/phase"),
        "Pending",
        "a new pod is Pending"
    );

    // Label and field selectors.
    let names = t
        .ok(&[
            "get",
            "pods",
            "-l",
            "batch.kubernetes.io/job-completion-index=0,jobset.sigs.k8s.io/jobset-name",
            "--field-selector",
            "spec.nodeName=tpu-node-1",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(names.trim(), "pod/leader");
    let none = t
        .kubectl(&[
            "get",
            "pods",
            "--field-selector",
            "spec.nodeName!=tpu-node-1",
        ])
        .await;
    none.assert_ok();
    assert!(none.stderr.contains("No resources found"), "{none:?}");
    let none = t
        .ok(&[
            "get",
            "pods",
            "-l",
            "app notin (x),!jobset.sigs.k8s.io/jobset-name",
            "-o",
            "name",
        ])
        .await;
    assert!(none.trim().is_empty());

    // Label, then the three patch types.
    assert!(
        t.ok(&["label", "pod", "leader", "tier=web"])
            .await
            .contains("labeled")
    );
    t.ok(&[
        "patch",
        "pod",
        "leader",
        "--type=merge",
        "-p",
        r#"{"metadata":{"annotations":{"a":"1"}}}"#,
    ])
    .await;
    t.ok(&[
        "patch",
        "pod",
        "leader",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/metadata/labels/json","value":"yes"}]"#,
    ])
    .await;
    t.ok(&[
        "patch",
        "pod",
        "leader",
        "--type=strategic",
        "-p",
        r#"{"spec":{"containers":[{"name":"sidecar","image":"busybox:2"}]}}"#,
    ])
    .await;
    let got = t.get_json(&["pod", "leader"]).await;
    assert_eq!(field(&got, "/metadata/labels/tier"), "web");
    assert_eq!(field(&got, "/metadata/labels/json"), "yes");
    assert_eq!(field(&got, "/metadata/annotations/a"), "1");
    let containers = got["spec"]["containers"].as_array().expect("containers");
    assert_eq!(
        containers.len(),
        2,
        "strategic merge keeps containers by name"
    );
    assert_eq!(containers[0]["image"], "busybox");
    assert_eq!(containers[1]["image"], "busybox:2");
    assert_eq!(
        got["metadata"]["generation"], 2,
        "a spec change bumps generation"
    );

    // The status subresource changes only .status.
    t.ok(&["patch", "pod", "leader", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]},"metadata":{"labels":{"ignored":"x"}}}"#]).await;
    let got = t.get_json(&["pod", "leader"]).await;
    assert_eq!(field(&got, "/status/phase"), "Running");
    assert!(field(&got, "/metadata/labels/ignored").is_null());
    assert_eq!(got["metadata"]["generation"], 2);
    t.ok(&[
        "patch",
        "pod",
        "leader",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Failed"}}"#,
    ])
    .await;
    assert_eq!(
        field(&t.get_json(&["pod", "leader"]).await, "/status/phase"),
        "Running",
        "the main resource ignores .status"
    );

    // Replace with the full object.
    let mut replaced = t.get_json(&["pod", "leader"]).await;
    replaced["metadata"]["labels"]["replaced"] = "true".into();
    let out = t
        .kubectl_stdin(&["replace", "-f", "-"], Some(&replaced.to_string()))
        .await;
    out.assert_ok();
    assert!(out.stdout.contains("pod/leader replaced"));
    assert_eq!(
        field(
            &t.get_json(&["pod", "leader"]).await,
            "/metadata/labels/replaced"
        ),
        "true"
    );

    assert!(
        t.ok(&["delete", "pod", "leader"])
            .await
            .contains("pod \"leader\" deleted")
    );
    assert!(
        t.ok(&["delete", "-f", node])
            .await
            .contains("node \"tpu-node-1\" deleted")
    );
    let gone = t.kubectl(&["get", "pod", "leader"]).await;
    assert_eq!(gone.code, Some(1));
    assert!(
        gone.stderr
            .contains(r#"Error from server (NotFound): pods "leader" not found"#),
        "{gone:?}"
    );
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_manages_jobs_configmaps_and_leases() {
    let t = TestSim::start().await;
    let objects = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: batch/v1
kind: Job
metadata:
  name: js1-workers-0
  namespace: team-a
  labels: {jobset.sigs.k8s.io/jobset-name: js1}
spec:
  completions: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: x}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team-a
data:
  mode: fast
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: megamon-leader
  namespace: team-a
spec:
  holderIdentity: replica-a
  leaseDurationSeconds: 15
"#;
    let path = t.file("objects.yaml", objects);
    let path = path.to_str().expect("utf8 path");
    let out = t.ok(&["apply", "-f", path]).await;
    for created in [
        "namespace/team-a created",
        "job.batch/js1-workers-0 created",
        "configmap/settings created",
        "lease.coordination.k8s.io/megamon-leader created",
    ] {
        assert!(out.contains(created), "{out}");
    }
    let out = t.ok(&["apply", "-f", path]).await;
    assert_eq!(out.matches("unchanged").count(), 4, "{out}");

    // Client-side apply of a change patches; server-side apply takes over too.
    let changed = objects.replace("mode: fast", "mode: slow");
    let path2 = t.file("objects2.yaml", &changed);
    let out = t.ok(&["apply", "-f", path2.to_str().expect("utf8")]).await;
    assert!(out.contains("configmap/settings configured"), "{out}");
    let ssa = t.file(
        "ssa.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-ssa\n  namespace: team-a\ndata:\n  k: v\n",
    );
    let ssa = ssa.to_str().expect("utf8");
    assert!(
        t.ok(&["apply", "--server-side", "-f", ssa])
            .await
            .contains("serverside-applied")
    );
    assert!(
        t.ok(&["apply", "--server-side", "-f", ssa])
            .await
            .contains("serverside-applied")
    );
    let cm: Value = serde_json::from_str(
        &t.ok(&[
            "-n",
            "team-a",
            "get",
            "configmap",
            "from-ssa",
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .await,
    )
    .expect("json");
    assert_eq!(cm["data"]["k"], "v");
    assert_eq!(field(&cm, "/metadata/managedFields/0/manager"), "kubectl");

    t.ok(&[
        "-n",
        "team-a",
        "label",
        "job",
        "js1-workers-0",
        "megamon.tbd/scheduled-node-pool=pool-a",
    ])
    .await;
    t.ok(&[
        "-n",
        "team-a",
        "patch",
        "job",
        "js1-workers-0",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"succeeded":1}}"#,
    ])
    .await;
    let job = t.get_json(&["-n", "team-a", "job", "js1-workers-0"]).await;
    assert_eq!(
        field(&job, "/metadata/labels/megamon.tbd~1scheduled-node-pool"),
        "pool-a"
    );
    assert_eq!(field(&job, "/status/succeeded"), 1);
    let jobs = t
        .ok(&[
            "-n",
            "team-a",
            "get",
            "jobs",
            "--field-selector",
            "status.successful=1",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(jobs.trim(), "job.batch/js1-workers-0");
    let table = t.ok(&["-n", "team-a", "get", "jobs"]).await;
    assert!(
        table.starts_with("NAME") && table.contains("COMPLETIONS") && table.contains("1/1"),
        "{table}"
    );

    t.ok(&[
        "-n",
        "team-a",
        "patch",
        "lease",
        "megamon-leader",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/holderIdentity","value":"replica-b"}]"#,
    ])
    .await;
    let table = t.ok(&["-n", "team-a", "get", "leases"]).await;
    assert!(table.contains("replica-b"), "{table}");
    t.ok(&[
        "-n",
        "team-a",
        "patch",
        "configmap",
        "settings",
        "--type=strategic",
        "-p",
        r#"{"data":{"extra":"1"}}"#,
    ])
    .await;
    let cm = t.get_json(&["-n", "team-a", "configmap", "settings"]).await;
    assert_eq!(cm["data"]["extra"], "1");
    assert_eq!(cm["data"]["mode"], "slow");

    // A namespaced object in a missing namespace is refused.
    let out = t
        .kubectl_stdin(&["create", "-f", "-"], Some(&ssa_in("nowhere")))
        .await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains(r#"namespaces "nowhere" not found"#),
        "{out:?}"
    );

    for (kind, name) in [
        ("job", "js1-workers-0"),
        ("configmap", "settings"),
        ("lease", "megamon-leader"),
    ] {
        let out = t.ok(&["-n", "team-a", "delete", kind, name]).await;
        assert!(out.contains("deleted"), "{out}");
    }
    // Deleting the namespace takes its contents along.
    t.ok(&["delete", "namespace", "team-a"]).await;
    let out = t
        .kubectl(&["-n", "team-a", "get", "configmap", "from-ssa"])
        .await;
    assert_eq!(out.code, Some(1));
    t.sim.shutdown().await.expect("clean shutdown");
}

fn ssa_in(ns: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: {ns}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_manages_jobsets_and_slices() {
    let t = TestSim::start().await;
    let resources = t.ok(&["api-resources"]).await;
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("jobsets ") && l.contains("jobset.x-k8s.io/v1alpha2")),
        "{resources}"
    );
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("slices ") && l.contains("accelerator.gke.io/v1beta1")),
        "{resources}"
    );

    let explained = t.ok(&["explain", "jobsets.spec.replicatedJobs"]).await;
    assert!(
        explained.contains("ReplicatedJobs is the group of jobs"),
        "{explained}"
    );

    let js = t.file("js.yaml", JOBSET);
    let js = js.to_str().expect("utf8");
    assert!(
        t.ok(&["apply", "-f", js])
            .await
            .contains("jobset.jobset.x-k8s.io/js1 created")
    );
    assert!(t.ok(&["apply", "-f", js]).await.contains("unchanged"));
    let got = t.get_json(&["jobset", "js1"]).await;
    assert_eq!(
        got["spec"]["futureField"], "survives",
        "unknown fields round-trip"
    );
    let table = t.ok(&["get", "jobsets"]).await;
    assert!(
        table.starts_with("NAME") && table.contains("TERMINALSTATE") && table.contains("js1"),
        "{table}"
    );

    // CRs take merge and JSON patches; strategic merge is refused like a real server.
    t.ok(&["label", "jobset", "js1", "team=ml"]).await;
    t.ok(&[
        "patch",
        "jobset",
        "js1",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ])
    .await;
    t.ok(&[
        "patch",
        "jobset",
        "js1",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicatedJobs/0/replicas","value":3}]"#,
    ])
    .await;
    let out = t
        .kubectl(&[
            "patch",
            "jobset",
            "js1",
            "--type=strategic",
            "-p",
            r#"{"spec":{}}"#,
        ])
        .await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("strategic-merge-patch+json is not supported"),
        "{out:?}"
    );
    t.ok(&["patch", "jobset", "js1", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"terminalState":"Completed","conditions":[{"type":"Completed","status":"True","reason":"Done","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#]).await;
    let got = t.get_json(&["jobset", "js1"]).await;
    assert_eq!(got["metadata"]["labels"]["team"], "ml");
    assert_eq!(got["spec"]["suspend"], true);
    assert_eq!(got["spec"]["replicatedJobs"][0]["replicas"], 3);
    assert_eq!(got["status"]["terminalState"], "Completed");
    assert_eq!(got["metadata"]["generation"], 3);
    let table = t.ok(&["get", "jobset", "js1"]).await;
    assert!(
        table.contains("Completed") && table.contains("True"),
        "{table}"
    );

    let mut replaced = got.clone();
    replaced["spec"]["suspend"] = false.into();
    let out = t
        .kubectl_stdin(&["replace", "-f", "-"], Some(&replaced.to_string()))
        .await;
    out.assert_ok();
    let got = t.get_json(&["jobset", "js1"]).await;
    assert_eq!(got["spec"]["suspend"], false);
    assert_eq!(
        got["status"]["terminalState"], "Completed",
        "replace keeps .status"
    );

    // Slices are cluster-scoped; server-side apply creates and updates them.
    let slice = t.file("slice.yaml", SLICE);
    let slice = slice.to_str().expect("utf8");
    assert!(
        t.ok(&["apply", "--server-side", "-f", slice])
            .await
            .contains("slice.accelerator.gke.io/slice-a serverside-applied")
    );
    let updated = t.file("slice2.yaml", &SLICE.replace("2x2x4", "4x4x4"));
    t.ok(&[
        "apply",
        "--server-side",
        "-f",
        updated.to_str().expect("utf8"),
    ])
    .await;
    t.ok(&["patch", "slice", "slice-a", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Active","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#]).await;
    let table = t.ok(&["get", "slices"]).await;
    assert!(
        table.contains("slice-a") && table.contains("4x4x4") && table.contains("Active"),
        "{table}"
    );
    let got = t
        .get_json(&["slices.v1alpha1.accelerator.gke.io", "slice-a"])
        .await;
    assert_eq!(
        got["apiVersion"], "accelerator.gke.io/v1alpha1",
        "served at every version"
    );
    let old_version = t
        .kubectl(&["get", "slices.v1alpha1.accelerator.gke.io", "-o", "name"])
        .await;
    old_version.assert_ok();
    assert!(
        old_version
            .stderr
            .contains("Warning: accelerator.gke.io/v1alpha1 Slice is deprecated"),
        "{old_version:?}"
    );
    let names = t
        .ok(&[
            "get",
            "slices",
            "-l",
            "tpu-provisioner.cloud.google.com/owner-name=js1",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(names.trim(), "slice.accelerator.gke.io/slice-a");

    assert!(t.ok(&["delete", "-f", js]).await.contains("deleted"));
    assert!(
        t.ok(&["delete", "slice", "slice-a"])
            .await
            .contains("deleted")
    );
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_installs_crds_and_their_resources_follow() {
    let t = TestSim::start_with(SimOptions {
        default_crds: false,
        ..SimOptions::default()
    })
    .await;
    let missing = t.kubectl(&["get", "jobsets"]).await;
    assert_eq!(missing.code, Some(1));
    assert!(
        missing
            .stderr
            .contains("the server doesn't have a resource type \"jobsets\""),
        "{missing:?}"
    );

    let out = t
        .ok(&["apply", "-f", crd_dir().to_str().expect("utf8")])
        .await;
    assert!(
        out.contains(
            "customresourcedefinition.apiextensions.k8s.io/jobsets.jobset.x-k8s.io created"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "customresourcedefinition.apiextensions.k8s.io/slices.accelerator.gke.io created"
        ),
        "{out}"
    );
    let crd = t.get_json(&["crd", "slices.accelerator.gke.io"]).await;
    assert_eq!(field(&crd, "/status/conditions/1/type"), "Established");
    let slice = t.file("slice.yaml", SLICE);
    t.ok(&["create", "-f", slice.to_str().expect("utf8")]).await;
    assert!(t.ok(&["get", "slices"]).await.contains("slice-a"));

    t.ok(&["delete", "crd", "slices.accelerator.gke.io"]).await;
    let gone = t.kubectl(&["get", "slices"]).await;
    assert_eq!(gone.code, Some(1), "{gone:?}");
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_sees_a_change() {
    let t = TestSim::start().await;
    t.kubectl_stdin(
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\n"),
    )
    .await
    .assert_ok();
    let mut watch = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(t.kubeconfig())
        .arg("--cache-dir")
        .arg(t.dir.path().join("cache"))
        .args(["get", "configmaps", "--watch", "-o", "name"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl get -w runs");
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    assert_eq!(next_line(&mut rx).await, "configmap/first");
    t.kubectl_stdin(
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\n"),
    )
    .await
    .assert_ok();
    assert_eq!(next_line(&mut rx).await, "configmap/second");
    t.ok(&["label", "configmap", "first", "changed=yes"]).await;
    assert_eq!(next_line(&mut rx).await, "configmap/first");
    watch.kill().await.expect("stop kubectl");
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_errors_worded_like_a_cluster() {
    let t = TestSim::start().await;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: once\n";
    t.kubectl_stdin(&["create", "-f", "-"], Some(cm))
        .await
        .assert_ok();
    let again = t.kubectl_stdin(&["create", "-f", "-"], Some(cm)).await;
    assert_eq!(again.code, Some(1));
    assert!(again.stderr.contains(r#"Error from server (AlreadyExists): error when creating "STDIN": configmaps "once" already exists"#), "{again:?}");
    let bad = t.kubectl(&["get", "pods", "-l", "a in (b"]).await;
    assert_eq!(bad.code, Some(1));
    let bad = t
        .kubectl(&["get", "pods", "--field-selector", "spec.unknown=x"])
        .await;
    assert_eq!(bad.code, Some(1));
    assert!(
        bad.stderr
            .contains("field label not supported: spec.unknown"),
        "{bad:?}"
    );
    let invalid = t
        .kubectl_stdin(
            &["create", "-f", "-"],
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n"),
        )
        .await;
    assert_eq!(invalid.code, Some(1));
    assert!(
        invalid
            .stderr
            .contains(r#"The ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value"#),
        "{invalid:?}"
    );
    // Finalizers hold a deletion until they are removed.
    t.kubectl_stdin(&["create", "-f", "-"], Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n"))
        .await
        .assert_ok();
    t.ok(&["delete", "configmap", "held", "--wait=false"]).await;
    let held = t.get_json(&["configmap", "held"]).await;
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    t.ok(&[
        "patch",
        "configmap",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])
    .await;
    eventually(Duration::from_secs(5), || async {
        (t.kubectl(&["get", "configmap", "held"]).await.code == Some(1)).then_some(())
    })
    .await;
    t.sim.shutdown().await.expect("clean shutdown");
}

async fn next_line(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("kubectl printed a line in time")
        .expect("kubectl still running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_imperative_commands_work() {
    // These kubectl commands post protobuf bodies through the typed clients.
    let t = TestSim::start().await;
    assert!(
        t.ok(&["create", "namespace", "team-b"])
            .await
            .contains("namespace/team-b created")
    );
    let ns = t.get_json(&["namespace", "team-b"]).await;
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team-b"
    );
    let crds = t.ok(&["get", "crds"]).await;
    assert!(
        crds.starts_with("NAME") && crds.contains("CREATED AT"),
        "{crds}"
    );
    assert!(
        t.ok(&[
            "-n",
            "team-b",
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast"
        ])
        .await
        .contains("configmap/settings created")
    );
    let cm = t.get_json(&["-n", "team-b", "configmap", "settings"]).await;
    assert_eq!(cm["data"]["mode"], "fast");
    t.ok(&[
        "-n",
        "team-b",
        "create",
        "secret",
        "generic",
        "token",
        "--from-literal=k=v",
    ])
    .await;
    let secret = t.get_json(&["-n", "team-b", "secret", "token"]).await;
    assert_eq!(secret["data"]["k"], "dg==");
    assert_eq!(secret["type"], "Opaque");
    t.ok(&["-n", "team-b", "create", "serviceaccount", "megamon"])
        .await;
    assert_eq!(t.ok(&["auth", "can-i", "get", "pods"]).await.trim(), "yes");

    let node = t.file("node.yaml", NODE);
    t.ok(&["create", "-f", node.to_str().expect("utf8")]).await;
    assert!(t.ok(&["cordon", "tpu-node-1"]).await.contains("cordoned"));
    let table = t.ok(&["get", "nodes"]).await;
    assert!(table.contains("Ready,SchedulingDisabled"), "{table}");
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_run_and_create_workloads_post_protobuf_that_is_stored() {
    // These commands post application/vnd.kubernetes.protobuf bodies.
    let t = TestSim::start().await;
    let out = t
        .ok(&[
            "run",
            "web",
            "--image=nginx:1.27",
            "--labels=app=web",
            "--port=8080",
            "--env=MODE=fast",
        ])
        .await;
    assert!(out.contains("pod/web created"), "{out}");
    let pod = t.get_json(&["pod", "web"]).await;
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.27");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(
        container["env"][0],
        serde_json::json!({"name": "MODE", "value": "fast"})
    );
    assert_eq!(pod["metadata"]["labels"]["app"], "web");
    assert_eq!(pod["spec"]["restartPolicy"], "Always");
    assert_eq!(pod["status"]["phase"], "Pending");
    assert!(t.ok(&["get", "pods"]).await.contains("web"));

    let out = t
        .ok(&[
            "create",
            "job",
            "once",
            "--image=busybox",
            "--",
            "echo",
            "hi",
        ])
        .await;
    assert!(out.contains("job.batch/once created"), "{out}");
    let job = t.get_json(&["job", "once"]).await;
    let pod_spec = &job["spec"]["template"]["spec"];
    assert_eq!(pod_spec["containers"][0]["image"], "busybox");
    assert_eq!(
        pod_spec["containers"][0]["command"],
        serde_json::json!(["echo", "hi"])
    );
    assert_eq!(pod_spec["restartPolicy"], "Never");

    let out = t
        .ok(&[
            "create",
            "deployment",
            "api",
            "--image=nginx",
            "--replicas=3",
            "--port=80",
        ])
        .await;
    assert!(out.contains("deployment.apps/api created"), "{out}");
    let deployment = t.get_json(&["deployment", "api"]).await;
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["selector"]["matchLabels"]["app"], "api");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );
    assert!(t.ok(&["get", "deployments"]).await.contains("api"));

    let out = t
        .ok(&[
            "create",
            "cronjob",
            "tick",
            "--image=busybox",
            "--schedule=*/5 * * * *",
            "--",
            "date",
        ])
        .await;
    assert!(out.contains("cronjob.batch/tick created"), "{out}");
    let cronjob = t.get_json(&["cronjob", "tick"]).await;
    assert_eq!(cronjob["spec"]["schedule"], "*/5 * * * *");
    let template = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(template["containers"][0]["image"], "busybox");
    assert_eq!(
        template["containers"][0]["command"],
        serde_json::json!(["date"])
    );
    let table = t.ok(&["get", "cronjobs"]).await;
    assert!(
        table.contains("SCHEDULE") && table.contains("tick") && table.contains("*/5 * * * *"),
        "{table}"
    );
    // A job from the cron job's template, owned by it.
    let out = t
        .ok(&["create", "job", "tick-now", "--from=cronjob/tick"])
        .await;
    assert!(out.contains("job.batch/tick-now created"), "{out}");
    let job = t.get_json(&["job", "tick-now"]).await;
    assert_eq!(job["metadata"]["ownerReferences"][0]["name"], "tick");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        serde_json::json!(["date"])
    );
    t.sim.shutdown().await.expect("clean shutdown");
}

/// What `kubectl get -o yaml` writes is a `kind: List`; kubectl validates those against
/// `/openapi/v2` before sending them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_nodes_jobsets_and_slices_reapply_with_default_validation() {
    let t = TestSim::start().await;
    let fleet = [
        NODE.to_string(),
        NODE.replace("tpu-node-1", "tpu-node-2")
            .replace("pool-a", "pool-b"),
        JOBSET.replace("  futureField: survives\n", ""),
        JOBSET
            .replace("  futureField: survives\n", "")
            .replace("name: js1", "name: js2"),
        // The Slice CRD requires partitionIds (kubectl checks it for List items).
        format!("{SLICE}  partitionIds: [p0]\n"),
        format!("{SLICE}  partitionIds: [p0, p1]\n")
            .replace("slice-a", "slice-b")
            .replace("2x2x4", "4x4x4"),
    ]
    .join("\n---\n");
    let path = t.file("fleet.yaml", &fleet);
    t.ok(&["apply", "-f", path.to_str().expect("utf8")]).await;
    t.ok(&[
        "patch",
        "jobset",
        "js1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"terminalState":"Completed"}}"#,
    ])
    .await;
    t.ok(&["patch", "slice", "slice-b", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Active","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#]).await;
    let kinds = "nodes,jobsets,slices";
    let snapshot = |list: &Value| -> Vec<Value> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|o| {
                serde_json::json!({"kind": o["kind"], "name": o["metadata"]["name"],
                    "labels": o["metadata"]["labels"], "spec": o["spec"]})
            })
            .collect()
    };
    let before = t.get_json(&[kinds]).await;
    assert_eq!(before["items"].as_array().map(Vec::len), Some(6));
    let node_status = |list: &Value| list["items"][0]["status"].clone();
    let exported = t.ok(&["get", kinds, "-o", "yaml"]).await;
    assert!(exported.starts_with("apiVersion: v1\nitems:"), "{exported}");
    assert!(exported.contains("kind: List"));
    let export = t.file("export.yaml", &exported);
    let export = export.to_str().expect("utf8");

    for verb in ["create", "apply"] {
        t.ok(&["delete", "-f", export, "--wait=false"]).await;
        let gone = t.get_json(&[kinds]).await;
        assert_eq!(gone["items"].as_array().map(Vec::len), Some(0));
        let out = t.kubectl(&[verb, "-f", export]).await;
        out.assert_ok();
        assert_eq!(out.stdout.lines().count(), 6, "{out:?}");
        let after = t.get_json(&[kinds]).await;
        assert_eq!(snapshot(&after), snapshot(&before), "after {verb}");
        // Nodes keep the status they are created with; JobSets and slices start
        // without one (their status is a subresource), as on a cluster.
        assert_eq!(node_status(&after), node_status(&before), "after {verb}");
        assert!(after["items"][3]["status"].is_null(), "after {verb}");
    }

    // kubectl really checks List items against the CRD schemas of /openapi/v2.
    let broken = exported.replace("    - p0\n    - p1\n", "");
    assert_ne!(broken, exported);
    let broken = t.file("broken.yaml", &broken);
    t.ok(&["delete", "slice", "slice-b"]).await;
    let refused = t
        .kubectl(&["create", "-f", broken.to_str().expect("utf8")])
        .await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(r#"ValidationError(Slice.spec): missing required field "partitionIds""#),
        "{refused:?}"
    );
    // The v2 document (JSON here) has the same schemas as the v3 ones.
    let v2: Value =
        serde_json::from_str(&t.ok(&["get", "--raw", "/openapi/v2"]).await).expect("JSON");
    let v3: Value = serde_json::from_str(
        &t.ok(&[
            "get",
            "--raw",
            "/openapi/v3/apis/accelerator.gke.io/v1beta1",
        ])
        .await,
    )
    .expect("JSON");
    let name = "accelerator.gke.io.v1beta1.Slice";
    assert_eq!(v2["swagger"], "2.0");
    assert_eq!(
        v2["definitions"][name]["x-kubernetes-group-version-kind"],
        v3["components"]["schemas"][name]["x-kubernetes-group-version-kind"]
    );
    assert_eq!(
        v2["definitions"][name]["properties"]["spec"],
        v3["components"]["schemas"][name]["properties"]["spec"]
    );
    assert!(
        v2["paths"]["/apis/accelerator.gke.io/v1beta1/slices/{name}"]["patch"]["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "fieldValidation"))
    );
    t.sim.shutdown().await.expect("clean shutdown");
}
