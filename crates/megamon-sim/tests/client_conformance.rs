//! The same scenarios through three independent clients: kubectl 1.32, the official
//! Python client (`tests/clients/conformance.py`) and kube-rs. Each client runs them in
//! order against its own simulator and reports what it observed per scenario; every
//! client must observe the same thing: the objects, selections, watch events, 410s
//! and pages below.

mod common;

use std::path::Path;
use std::time::Duration;

use common::TestSim;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Node;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, VersionMatch, WatchEvent,
    WatchParams,
};
use megamon_sim::SimOptions;
use serde_json::{Map, Value, json};

const SCENARIOS: [&str; 10] = [
    "create",
    "get",
    "list",
    "patch-status",
    "label-selector",
    "field-selector",
    "watch-from-version",
    "watch-bookmarks",
    "paginated-list",
    "gone-after-compaction",
];

/// What every client must observe, scenario by scenario (they run in this order).
fn expected() -> Value {
    json!({
        "create": ["n1", "n2", "n3"],
        "get": {"name": "n1", "labels": {"pool": "a"}},
        "list": ["n1", "n2", "n3"],
        "patch-status": {"ready": "True", "labels": {"pool": "a"}},
        "label-selector": {"pool=a": ["n1", "n3"], "pool!=a": ["n2"]},
        "field-selector": {"spec.unschedulable=true": ["n3"], "metadata.name=n2": ["n2"]},
        "watch-from-version": [["ADDED", "n4"], ["MODIFIED", "n2"], ["DELETED", "n3"]],
        "watch-bookmarks": {"bookmark": true, "bookmark_not_older": true},
        "paginated-list": {"names": ["n1", "n2", "n4"], "pages": 3},
        "gone-after-compaction": {"watch": 410, "list": 410},
    })
}

fn check(client: &str, observed: &Map<String, Value>) {
    let expected = expected();
    let mut failures = Vec::new();
    for scenario in SCENARIOS {
        let want = &expected[scenario];
        match observed.get(scenario) {
            Some(got) if got == want => {}
            Some(got) => failures.push(format!("{scenario}: observed {got}, expected {want}")),
            None => failures.push(format!("{scenario}: not run")),
        }
    }
    assert!(
        failures.is_empty(),
        "{client} does not pass the conformance scenarios:\n  {}",
        failures.join("\n  ")
    );
}

async fn start() -> TestSim {
    TestSim::start_with(SimOptions {
        bookmark_interval: Duration::from_millis(200),
        ..SimOptions::default()
    })
    .await
}

fn node(name: &str, pool: &str, unschedulable: bool) -> Value {
    let mut spec = json!({});
    if unschedulable {
        spec["unschedulable"] = true.into();
    }
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "labels": {"pool": pool}}, "spec": spec})
}

// ---------------------------------------------------------------------------
// The official Python client.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_conformance() {
    let import = tokio::process::Command::new("python3")
        .args(["-c", "import kubernetes"])
        .output()
        .await;
    match import {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "the Python conformance client needs python3 with the kubernetes package \
             (scripts/test installs it: python3 -m pip install 'kubernetes<37' \
             'python-dateutil<3'); got {other:?}"
        ),
    }
    let t = start().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/conformance.py");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .arg(&script)
            .arg(t.kubeconfig())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the Python scenarios finish within 60s")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut observed = Map::new();
    let mut errors = Vec::new();
    for line in stdout.lines() {
        let result: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("conformance.py printed {line:?}: {e}\n{stderr}"));
        let scenario = result["scenario"].as_str().unwrap_or_default().to_string();
        match result.get("error") {
            Some(error) => errors.push(format!("{scenario}: {error}")),
            None => {
                observed.insert(scenario, result["observed"].clone());
            }
        }
    }
    assert!(
        errors.is_empty() && out.status.success(),
        "the Python client failed ({}):\n  {}\nstderr: {stderr}",
        out.status,
        errors.join("\n  ")
    );
    check("the Python client", &observed);
    t.sim.shutdown().await.expect("clean shutdown");
}

// ---------------------------------------------------------------------------
// kubectl.
// ---------------------------------------------------------------------------

fn names_of(stdout: &str) -> Value {
    let mut names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("node/"))
        .collect();
    names.sort();
    json!(names)
}

fn events_of(body: &str) -> Vec<Value> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON watch event per line"))
        .collect()
}

/// The version of a list (`kubectl get -o json` prints its own List without one).
async fn list_rv_kubectl(t: &TestSim) -> String {
    let list: Value =
        serde_json::from_str(&t.ok(&["get", "--raw", "/api/v1/nodes"]).await).expect("a JSON list");
    list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_conformance() {
    let t = start().await;
    let mut observed = Map::new();
    let mut record = |scenario: &str, value: Value| {
        observed.insert(scenario.to_string(), value);
    };

    let nodes = [
        node("n1", "a", false),
        node("n2", "b", false),
        node("n3", "a", true),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let out = t.kubectl_stdin(&["create", "-f", "-"], Some(&nodes)).await;
    out.assert_ok();
    let created: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("node/")?.strip_suffix(" created"))
        .collect();
    record("create", json!(created));

    let n1 = t.get_json(&["node", "n1"]).await;
    record(
        "get",
        json!({"name": n1["metadata"]["name"], "labels": n1["metadata"]["labels"]}),
    );
    record(
        "list",
        names_of(&t.ok(&["get", "nodes", "-o", "name"]).await),
    );

    t.ok(&[
        "patch",
        "node",
        "n1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
    ])
    .await;
    let n1 = t.get_json(&["node", "n1"]).await;
    record(
        "patch-status",
        json!({"ready": n1["status"]["conditions"][0]["status"], "labels": n1["metadata"]["labels"]}),
    );

    let by_label = |selector: &'static str| {
        let t = &t;
        async move { names_of(&t.ok(&["get", "nodes", "-l", selector, "-o", "name"]).await) }
    };
    record(
        "label-selector",
        json!({"pool=a": by_label("pool=a").await, "pool!=a": by_label("pool!=a").await}),
    );
    let by_field = |selector: &'static str| {
        let t = &t;
        async move {
            names_of(
                &t.ok(&["get", "nodes", "--field-selector", selector, "-o", "name"])
                    .await,
            )
        }
    };
    record(
        "field-selector",
        json!({"spec.unschedulable=true": by_field("spec.unschedulable=true").await,
               "metadata.name=n2": by_field("metadata.name=n2").await}),
    );

    // Watches from a version, with bookmarks, and 410: kubectl as a raw client.
    let rv = list_rv_kubectl(&t).await;
    t.kubectl_stdin(
        &["create", "-f", "-"],
        Some(&node("n4", "b", false).to_string()),
    )
    .await
    .assert_ok();
    t.ok(&["label", "node", "n2", "tier=x"]).await;
    t.ok(&["delete", "node", "n3"]).await;
    let body = t
        .ok(&[
            "get",
            "--raw",
            &format!("/api/v1/nodes?watch=1&resourceVersion={rv}&timeoutSeconds=1"),
        ])
        .await;
    let events: Vec<Value> = events_of(&body)
        .iter()
        .map(|e| json!([e["type"], e["object"]["metadata"]["name"]]))
        .collect();
    record("watch-from-version", json!(events));

    let rv = list_rv_kubectl(&t).await;
    let body = t
        .ok(&[
            "get",
            "--raw",
            &format!(
                "/api/v1/nodes?watch=1&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=1"
            ),
        ])
        .await;
    let bookmarks: Vec<u64> = events_of(&body)
        .iter()
        .filter(|e| e["type"] == "BOOKMARK")
        .filter_map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()?
                .parse()
                .ok()
        })
        .collect();
    let rv: u64 = rv.parse().expect("numeric rv");
    record(
        "watch-bookmarks",
        json!({"bookmark": !bookmarks.is_empty(), "bookmark_not_older": bookmarks.iter().all(|b| *b >= rv)}),
    );

    // kubectl's own pagination: one request per page of --chunk-size.
    let out = t
        .kubectl(&["get", "nodes", "--chunk-size=1", "-o", "name", "-v=6"])
        .await;
    out.assert_ok();
    let pages = out
        .stderr
        .lines()
        // Go sorts query parameters: `?limit=1`, then `?continue=...&limit=1`.
        .filter(|l| l.contains("GET ") && l.contains("/api/v1/nodes?") && l.contains("limit=1"))
        .count();
    let names: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("node/"))
        .collect();
    record("paginated-list", json!({"names": names, "pages": pages}));

    let old = list_rv_kubectl(&t).await;
    t.ok(&["label", "node", "n1", "changed=yes"]).await;
    t.kubectl_stdin(&["create", "--raw", "/_sim/compact", "-f", "-"], Some("{}"))
        .await
        .assert_ok();
    let body = t
        .ok(&[
            "get",
            "--raw",
            &format!("/api/v1/nodes?watch=1&resourceVersion={old}&timeoutSeconds=1"),
        ])
        .await;
    let watch = events_of(&body)
        .iter()
        .find(|e| e["type"] == "ERROR")
        .map_or(json!("no error"), |e| e["object"]["code"].clone());
    let list = t
        .kubectl(&[
            "get",
            "--raw",
            &format!("/api/v1/nodes?resourceVersion={old}&resourceVersionMatch=Exact"),
        ])
        .await;
    let list = if list.code == Some(1) && list.stderr.contains("Error from server (Expired)") {
        json!(410)
    } else {
        json!(format!("{list:?}"))
    };
    record(
        "gone-after-compaction",
        json!({"watch": watch, "list": list}),
    );

    check("kubectl", &observed);
    t.sim.shutdown().await.expect("clean shutdown");
}

// ---------------------------------------------------------------------------
// kube-rs.
// ---------------------------------------------------------------------------

fn sorted_names(nodes: &[Node]) -> Value {
    let mut names: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    names.sort();
    json!(names)
}

/// Every event of a watch that ends by its timeout.
async fn watch_all(api: &Api<Node>, params: &WatchParams, rv: &str) -> Vec<WatchEvent<Node>> {
    let stream = api.watch(params, rv).await.expect("watch");
    tokio::time::timeout(Duration::from_secs(10), stream.try_collect::<Vec<_>>())
        .await
        .expect("the watch ends by its timeout")
        .expect("no stream error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_conformance() {
    let t = start().await;
    let client = t.client().await;
    let api: Api<Node> = Api::all(client.clone());
    let mut observed = Map::new();
    let pp = PostParams::default();
    let mut created = Vec::new();
    for (name, pool, unschedulable) in [("n1", "a", false), ("n2", "b", false), ("n3", "a", true)] {
        let n: Node = serde_json::from_value(node(name, pool, unschedulable)).expect("node");
        created.push(api.create(&pp, &n).await.expect("create"));
    }
    observed.insert("create".into(), sorted_names(&created));

    let n1 = api.get("n1").await.expect("get");
    observed.insert(
        "get".into(),
        json!({"name": n1.metadata.name, "labels": n1.metadata.labels}),
    );
    let all = api.list(&ListParams::default()).await.expect("list");
    observed.insert("list".into(), sorted_names(&all.items));

    api.patch_status(
        "n1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
    )
    .await
    .expect("patch status");
    let n1 = api.get("n1").await.expect("get");
    let ready = n1
        .status
        .and_then(|s| s.conditions)
        .and_then(|c| c.first().map(|c| c.status.clone()));
    observed.insert(
        "patch-status".into(),
        json!({"ready": ready, "labels": n1.metadata.labels}),
    );

    let select = |params: ListParams| {
        let api = api.clone();
        async move { sorted_names(&api.list(&params).await.expect("list").items) }
    };
    observed.insert(
        "label-selector".into(),
        json!({"pool=a": select(ListParams::default().labels("pool=a")).await,
               "pool!=a": select(ListParams::default().labels("pool!=a")).await}),
    );
    observed.insert(
        "field-selector".into(),
        json!({"spec.unschedulable=true": select(ListParams::default().fields("spec.unschedulable=true")).await,
               "metadata.name=n2": select(ListParams::default().fields("metadata.name=n2")).await}),
    );

    let list_rv = || {
        let api = api.clone();
        async move {
            api.list(&ListParams::default())
                .await
                .expect("list")
                .metadata
                .resource_version
                .expect("rv")
        }
    };
    let rv = list_rv().await;
    let n4: Node = serde_json::from_value(node("n4", "b", false)).expect("node");
    api.create(&pp, &n4).await.expect("create n4");
    api.patch(
        "n2",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "x"}}})),
    )
    .await
    .expect("label n2");
    api.delete("n3", &DeleteParams::default())
        .await
        .expect("delete n3");
    let no_bookmarks = WatchParams::default().timeout(1).disable_bookmarks();
    let events: Vec<Value> = watch_all(&api, &no_bookmarks, &rv)
        .await
        .into_iter()
        .filter_map(|e| match e {
            WatchEvent::Added(n) => Some(json!(["ADDED", n.metadata.name])),
            WatchEvent::Modified(n) => Some(json!(["MODIFIED", n.metadata.name])),
            WatchEvent::Deleted(n) => Some(json!(["DELETED", n.metadata.name])),
            WatchEvent::Bookmark(_) => None,
            WatchEvent::Error(e) => Some(json!(["ERROR", e.code])),
        })
        .collect();
    observed.insert("watch-from-version".into(), json!(events));

    let rv = list_rv().await;
    let bookmarks: Vec<u64> = watch_all(&api, &WatchParams::default().timeout(1), &rv)
        .await
        .into_iter()
        .filter_map(|e| match e {
            WatchEvent::Bookmark(b) => b.metadata.resource_version.parse().ok(),
            _ => None,
        })
        .collect();
    let rv: u64 = rv.parse().expect("numeric rv");
    observed.insert(
        "watch-bookmarks".into(),
        json!({"bookmark": !bookmarks.is_empty(), "bookmark_not_older": bookmarks.iter().all(|b| *b >= rv)}),
    );

    let (mut names, mut pages, mut token) = (Vec::new(), 0, None::<String>);
    loop {
        let mut params = ListParams::default().limit(1);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = api.list(&params).await.expect("page");
        pages += 1;
        names.extend(page.items.iter().filter_map(|n| n.metadata.name.clone()));
        token = page.metadata.continue_.filter(|c| !c.is_empty());
        if token.is_none() {
            break;
        }
    }
    observed.insert(
        "paginated-list".into(),
        json!({"names": names, "pages": pages}),
    );

    let old = list_rv().await;
    api.patch(
        "n1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"changed": "yes"}}})),
    )
    .await
    .expect("label n1");
    let compact = http::Request::post("/_sim/compact")
        .header("content-type", "application/json")
        .body(b"{}".to_vec())
        .expect("request");
    client.request_text(compact).await.expect("compact");
    let watch = match api.watch(&no_bookmarks, &old).await {
        Ok(stream) => match stream.boxed().try_next().await {
            Ok(Some(WatchEvent::Error(e))) => json!(e.code),
            other => json!(format!("{other:?}")),
        },
        Err(kube::Error::Api(s)) => json!(s.code),
        Err(e) => json!(e.to_string()),
    };
    let list = match api
        .list(&ListParams::default().at(&old).matching(VersionMatch::Exact))
        .await
    {
        Err(kube::Error::Api(s)) => json!(s.code),
        other => json!(format!("{:?}", other.map(|l| l.items.len()))),
    };
    observed.insert(
        "gone-after-compaction".into(),
        json!({"watch": watch, "list": list}),
    );

    check("kube-rs", &observed);
    t.sim.shutdown().await.expect("clean shutdown");
}
