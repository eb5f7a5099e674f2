//! Seeding from files and directories, and the 65,536-node figure (ignored by default:
//! `cargo test --release -p megamon-sim --test seed -- --ignored --nocapture`).

mod common;

use std::time::Instant;

use common::TestSim;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Api, ListParams};
use megamon_sim::{SimOptions, Simulator};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_load_yaml_json_lists_and_directories_crds_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seeds = dir.path().join("seeds");
    std::fs::create_dir_all(seeds.join("nested")).expect("mkdir");
    // A CR listed before its CRD, in a namespace nobody creates: both must work.
    std::fs::write(
        seeds.join("a-widgets.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: fleet\nspec:\n  size: 3\n---\n# empty document next\n---\n",
    )
    .expect("write");
    std::fs::write(
        seeds.join("b-crd.yaml"),
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#,
    )
    .expect("write");
    std::fs::write(
        seeds.join("nested/nodes.json"),
        json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"pool": "a"}},
             "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2", "labels": {"pool": "b"}}}
        ]})
        .to_string(),
    )
    .expect("write");
    // The namespace the widget needed, declared after it: its labels win.
    std::fs::write(
        seeds.join("c-namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fleet\n  labels:\n    team: tpu\n",
    )
    .expect("write");
    std::fs::write(seeds.join("ignored.txt"), "not a seed").expect("write");
    let single = dir.path().join("cm.yaml");
    std::fs::write(
        &single,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n",
    )
    .expect("write");

    let t = TestSim::start_with(SimOptions {
        seeds: vec![seeds, single],
        ..SimOptions::default()
    })
    .await;
    let client = t.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let listed = nodes
        .list(&ListParams::default().labels("pool=a"))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    assert!(
        listed.items[0]
            .status
            .as_ref()
            .is_some_and(|s| s.conditions.is_some())
    );
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    assert!(cms.get_opt("settings").await.expect("get").is_some());
    let ns = t.get_json(&["namespace", "fleet"]).await;
    assert_eq!(ns["metadata"]["labels"]["team"], "tpu");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "fleet"
    );
    assert_eq!(ns["status"]["phase"], "Active");
    let widget = t.get_json(&["-n", "fleet", "widget", "w1"]).await;
    assert_eq!(widget["spec"]["size"], 3);
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_seeds_stop_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unknown = dir.path().join("unknown.yaml");
    std::fs::write(
        &unknown,
        "apiVersion: nope.io/v1\nkind: Gadget\nmetadata:\n  name: g\n",
    )
    .expect("write");
    let err = Simulator::start(SimOptions {
        seeds: vec![unknown.clone()],
        ..SimOptions::default()
    })
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(
        err.contains("unknown.yaml") && err.contains("nope.io/v1, Kind=Gadget"),
        "{err}"
    );

    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "kind: [unclosed\n").expect("write");
    let err = Simulator::start(SimOptions {
        seeds: vec![broken],
        ..SimOptions::default()
    })
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(
        err.contains("broken.yaml") && err.contains("not valid YAML"),
        "{err}"
    );

    let missing = dir.path().join("missing.yaml");
    let err = Simulator::start(SimOptions {
        seeds: vec![missing],
        ..SimOptions::default()
    })
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("missing.yaml"), "{err}");
}

/// The benchmark figure of the issue: 65,536 seeded TPU nodes, listed in pages
/// of 500, then 10,000 status writes followed by a watcher. Every test run
/// smoke-runs it at a small scale (2,048 nodes, 500 writes) in a few seconds,
/// checking the counts; `MEGAMON_FULL_SCALE=1` runs the benchmark's figures,
/// best in release mode:
/// `MEGAMON_FULL_SCALE=1 cargo test --release -p megamon-sim --test seed -- seed_and_page --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_and_page_nodes() {
    let full = std::env::var("MEGAMON_FULL_SCALE").as_deref() == Ok("1");
    let (node_count, flips): (usize, usize) = if full { (65_536, 10_000) } else { (2_048, 500) };
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = dir.path().join("nodes.json");
    // Written node by node, so that the test itself stays small next to the simulator.
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&seed).expect("create seed"));
        out.write_all(br#"{"apiVersion":"v1","kind":"List","items":["#)
            .expect("write");
        for i in 0..node_count {
            if i > 0 {
                out.write_all(b",").expect("write");
            }
            let node = json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": format!("gke-tpu-{:05}", i), "labels": {
                    "cloud.google.com/gke-nodepool": format!("pool-{}", i / 64),
                    "cloud.google.com/gke-tpu-topology": "16x16",
                    "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                    "kubernetes.io/hostname": format!("gke-tpu-{:05}", i)}},
                "spec": {"providerID": format!("gce://project/zone/gke-tpu-{i:05}")},
                "status": {"conditions": [
                    {"type": "Ready", "status": "True", "reason": "KubeletReady",
                     "lastTransitionTime": "2026-01-01T00:00:00Z", "lastHeartbeatTime": "2026-01-01T00:00:00Z"}],
                    "capacity": {"google.com/tpu": "4", "cpu": "224", "memory": "400Gi"},
                    "nodeInfo": {"kubeletVersion": "v1.32.0"}}});
            serde_json::to_writer(&mut out, &node).expect("write");
        }
        out.write_all(b"]}").expect("write");
    }
    let size = std::fs::metadata(&seed).expect("size").len();

    let started = Instant::now();
    let t = TestSim::start_with(SimOptions {
        seeds: vec![seed],
        ..SimOptions::default()
    })
    .await;
    let seeded = started.elapsed();
    let rss_seeded = rss();

    let nodes: Api<Node> = Api::all(t.client().await);
    let started = Instant::now();
    let mut count = 0;
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(500);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let page = nodes.list(&params).await.expect("page");
        count += page.items.len();
        pages += 1;
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let listed = started.elapsed();
    assert_eq!(count, node_count);
    println!(
        "seeded {node_count} nodes ({:.1} MB JSON) in {:.2}s (test process RSS then {rss_seeded}); listed them in {pages} pages of 500 in {:.2}s (RSS then {})",
        size as f64 / 1e6,
        seeded.as_secs_f64(),
        listed.as_secs_f64(),
        rss()
    );

    // Writes: flip `flips` nodes NotReady through /status, 16 at a time, while a
    // watcher follows every node.
    let list_rv = nodes
        .list_metadata(&ListParams::default().limit(1))
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let watch = nodes
        .watch(&kube::api::WatchParams::default(), &list_rv)
        .await
        .expect("watch");
    let seen = tokio::spawn(async move {
        use futures::StreamExt;
        let mut watch = std::pin::pin!(watch);
        let mut modified = 0;
        while modified < flips {
            match watch.next().await {
                Some(Ok(kube::api::WatchEvent::Modified(_))) => modified += 1,
                Some(Ok(_)) => {}
                other => panic!("watch ended early: {other:?}"),
            }
        }
        Instant::now()
    });
    let started = Instant::now();
    let patch = kube::api::Patch::Merge(json!({"status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "KubeletNotReady",
         "lastTransitionTime": "2026-01-02T00:00:00Z", "lastHeartbeatTime": "2026-01-02T00:00:00Z"}]}}));
    let params = kube::api::PatchParams::default();
    futures::stream::iter(0..flips)
        .map(|i| {
            let (nodes, patch, params) = (&nodes, &patch, &params);
            async move {
                nodes
                    .patch_status(&format!("gke-tpu-{i:05}"), params, patch)
                    .await
                    .expect("status patch");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let written = started.elapsed();
    let delivered = tokio::time::timeout(std::time::Duration::from_secs(60), seen)
        .await
        .expect("watch delivers within 60s")
        .expect("watcher")
        .duration_since(started);
    println!(
        "{flips} status patches in {:.2}s ({:.0}/s); the watcher had all of them after {:.2}s (RSS then {})",
        written.as_secs_f64(),
        flips as f64 / written.as_secs_f64(),
        delivered.as_secs_f64(),
        rss()
    );
    t.sim.shutdown().await.expect("clean shutdown");
}

/// This process's resident memory, as /proc reports it.
fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.trim_start_matches("VmRSS:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
