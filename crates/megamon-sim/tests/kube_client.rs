//! kube-rs against the simulator: watchers through injected faults, bookmarks,
//! pagination, optimistic concurrency, Lease-based leader election, status rules.

mod common;

use std::time::Duration;

use common::{TestSim, eventually};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use megamon_sim::SimOptions;
use serde_json::{Value, json};

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "test"}},
        "data": {"v": "1"},
    }))
    .expect("configmap")
}

/// POSTs to a `/_sim/` fault-injection endpoint.
async fn sim_post(client: &kube::Client, path: &str, body: Value) {
    let request = http::Request::post(path)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .expect("request");
    client
        .request_text(request)
        .await
        .expect("fault endpoint answers");
}

/// Watcher events in a form easy to assert on.
fn describe(event: &watcher::Event<ConfigMap>) -> String {
    let name = |cm: &ConfigMap| cm.metadata.name.clone().unwrap_or_default();
    match event {
        watcher::Event::Apply(cm) => format!("apply:{}", name(cm)),
        watcher::Event::Delete(cm) => format!("delete:{}", name(cm)),
        watcher::Event::Init => "init".into(),
        watcher::Event::InitApply(cm) => format!("initapply:{}", name(cm)),
        watcher::Event::InitDone => "initdone".into(),
    }
}

/// Runs a watcher, forwarding described events (and errors) to a channel.
fn spawn_watcher(
    api: Api<ConfigMap>,
    config: watcher::Config,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, config));
        while let Some(item) = stream.next().await {
            let line = match item {
                Ok(event) => describe(&event),
                Err(e) => {
                    // What `default_backoff` would do, kept short for a test.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    format!("error:{e}")
                }
            };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads events until one equals `want`; returns everything read.
async fn until(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let result = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(line) = rx.recv().await {
            let done = line == want;
            seen.push(line);
            if done {
                return;
            }
        }
    })
    .await;
    assert!(result.is_ok(), "did not see {want:?}; saw {seen:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_recovers_from_compaction_and_dropped_watches_by_relisting() {
    let t = TestSim::start_with(SimOptions {
        bookmark_interval: Duration::from_millis(200),
        ..SimOptions::default()
    })
    .await;
    let client = t.client().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &configmap("a"))
        .await
        .expect("create a");
    let mut events = spawn_watcher(api.clone(), watcher::Config::default());
    let seen = until(&mut events, "initdone").await;
    assert_eq!(seen, ["init", "initapply:a", "initdone"]);
    api.create(&PostParams::default(), &configmap("b"))
        .await
        .expect("create b");
    until(&mut events, "apply:b").await;

    // While the watcher is cut off (every request fails), objects change and the
    // history it would resume from is forgotten: it can only recover by re-listing.
    sim_post(
        &client,
        "/_sim/faults",
        json!({"errorRate": 1.0, "status": 503}),
    )
    .await;
    sim_post(&client, "/_sim/drop-watches", json!({})).await;
    let state = t.sim.state().clone();
    let def = state
        .registry
        .get("", "v1", "configmaps")
        .expect("configmaps served");
    let c = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    megamon_sim::handlers::create(&state, &def, Some("default"), c, false).expect("create c");
    sim_post(&client, "/_sim/compact", json!({})).await;
    sim_post(&client, "/_sim/faults", json!({})).await;

    let seen = until(&mut events, "initdone").await;
    let relist = seen
        .iter()
        .position(|e| e == "init")
        .expect("a re-list after the faults");
    assert!(
        seen[..relist].iter().any(|e| e.starts_with("error:")),
        "the watcher saw the failures: {seen:?}"
    );
    let mut listed: Vec<&str> = seen[relist..]
        .iter()
        .filter_map(|e| e.strip_prefix("initapply:"))
        .collect();
    listed.sort();
    assert_eq!(listed, ["a", "b", "c"]);
    // And it keeps following changes afterwards.
    api.delete("a", &DeleteParams::default())
        .await
        .expect("delete a");
    until(&mut events, "delete:a").await;
    t.sim.shutdown().await.expect("clean shutdown");
}

/// What made the test above flaky (about 1 run in 50): its watch task could see the
/// drop and the newer `c` at once, and `select!` then sometimes sent `c` first. The
/// watcher, resuming from `c`, was no longer older than the compaction, so it never
/// re-listed. A dropped watch now sends nothing written after the drop. On one
/// thread, nothing runs between the drop and the write, which makes both pending.
#[tokio::test(flavor = "current_thread")]
async fn a_dropped_watch_delivers_nothing_written_after_the_drop() {
    let t = TestSim::start().await;
    let client = t.client().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &configmap("before"))
        .await
        .expect("create");
    for attempt in 0..10 {
        // From now on: earlier writes are not part of this watch.
        let rv = t.sim.state().store.current_rv();
        let request = http::Request::get(format!(
            "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"
        ))
        .body(kube::client::Body::empty())
        .expect("request");
        let response = client.send(request).await.expect("watch");
        assert_eq!(response.status(), 200);
        let state = t.sim.state().clone();
        let def = state
            .registry
            .get("", "v1", "configmaps")
            .expect("configmaps served");
        state.store.drop_watches();
        let late = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("after-{attempt}")}});
        megamon_sim::handlers::create(&state, &def, Some("default"), late, false)
            .expect("create after the drop");
        let body =
            tokio::time::timeout(Duration::from_secs(5), response.into_body().collect_bytes())
                .await
                .expect("the dropped watch ends")
                .expect("body");
        let body = String::from_utf8_lossy(&body);
        assert!(
            !body.contains("after-"),
            "attempt {attempt}: a dropped watch sent a later write: {body}"
        );
    }
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_and_initial_events_arrive() {
    let t = TestSim::start_with(SimOptions {
        bookmark_interval: Duration::from_millis(100),
        ..SimOptions::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::default_namespaced(t.client().await);
    let created = api
        .create(&PostParams::default(), &configmap("x"))
        .await
        .expect("create");
    let rv = created.metadata.resource_version.clone().expect("rv");
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .expect("watch")
        .boxed();
    let bookmark = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .expect("a bookmark within 5s")
        .expect("no error")
        .expect("stream open");
    match bookmark {
        WatchEvent::Bookmark(b) => {
            let at: u64 = b.metadata.resource_version.parse().expect("numeric rv");
            assert!(at >= rv.parse::<u64>().expect("numeric rv"));
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }

    // Streaming lists: initial ADDED events end with the initial-events-end bookmark.
    let mut events = spawn_watcher(api.clone(), watcher::Config::default().streaming_lists());
    let seen = until(&mut events, "initdone").await;
    assert_eq!(seen, ["init", "initapply:x", "initdone"]);
    api.create(&PostParams::default(), &configmap("y"))
        .await
        .expect("create y");
    until(&mut events, "apply:y").await;
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_start_from_a_version_and_follow_selectors() {
    let t = TestSim::start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(t.client().await);
    let first = api
        .create(&PostParams::default(), &configmap("one"))
        .await
        .expect("create");
    let from = first.metadata.resource_version.clone().expect("rv");
    api.create(&PostParams::default(), &configmap("two"))
        .await
        .expect("create");
    let mut stream = api
        .watch(&WatchParams::default().labels("app=test,stage=live"), &from)
        .await
        .expect("watch")
        .boxed();
    // `two` does not match yet; labelling it makes it appear, unlabelling removes it.
    api.patch(
        "two",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"stage": "live"}}})),
    )
    .await
    .expect("label");
    api.patch(
        "two",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .expect("change");
    api.patch(
        "two",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"stage": null}}})),
    )
    .await
    .expect("unlabel");
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("event in time")
            .expect("no error")
            .expect("open");
        match event {
            WatchEvent::Added(cm) => {
                kinds.push(format!("added:{}", cm.metadata.name.unwrap_or_default()))
            }
            WatchEvent::Modified(cm) => {
                kinds.push(format!("modified:{}", cm.data.unwrap_or_default()["v"]))
            }
            WatchEvent::Deleted(cm) => kinds.push(format!(
                "deleted:{}:{}",
                cm.metadata.name.unwrap_or_default(),
                // The object as it last matched: still labelled.
                cm.metadata.labels.unwrap_or_default()["stage"]
            )),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    assert_eq!(kinds, ["added:two", "modified:2", "deleted:two:live"]);

    // A version older than the kept history is answered 410 Gone, as an ERROR event.
    let client = t.client().await;
    sim_post(&client, "/_sim/compact", json!({})).await;
    let mut stream = api
        .watch(&WatchParams::default(), &from)
        .await
        .expect("watch")
        .boxed();
    match stream.try_next().await {
        Ok(Some(WatchEvent::Error(status))) => assert_eq!(status.code, 410),
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_objects_page_consistently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let items: Vec<Value> = (0..10_000)
        .map(|i| json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:05}"), "namespace": "default"}, "data": {"i": i.to_string()}}))
        .collect();
    let seed = dir.path().join("configmaps.json");
    std::fs::write(
        &seed,
        json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    )
    .expect("write seed");
    let t = TestSim::start_with(SimOptions {
        seeds: vec![seed],
        ..SimOptions::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::default_namespaced(t.client().await);

    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    let mut list_rv = None;
    loop {
        let mut params = ListParams::default().limit(500);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let page = api.list(&params).await.expect("page");
        if pages == 0 {
            assert_eq!(page.metadata.remaining_item_count, Some(9_500));
            list_rv = page.metadata.resource_version.clone();
            // Writes after the first page must not show in the later ones.
            api.delete("cm-09999", &DeleteParams::default())
                .await
                .expect("delete");
            api.create(&PostParams::default(), &configmap("cm-10000"))
                .await
                .expect("create");
        } else {
            assert_eq!(page.metadata.resource_version, list_rv, "one snapshot");
        }
        pages += 1;
        names.extend(page.items.into_iter().filter_map(|cm| cm.metadata.name));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 20);
    assert_eq!(names.len(), 10_000);
    assert_eq!(names.first().map(String::as_str), Some("cm-00000"));
    assert_eq!(names.last().map(String::as_str), Some("cm-09999"));

    // A watcher's initial list pages through everything too.
    let mut events = spawn_watcher(api.clone(), watcher::Config::default().page_size(500));
    let seen = until(&mut events, "initdone").await;
    assert_eq!(
        seen.iter().filter(|e| e.starts_with("initapply:")).count(),
        10_000
    );

    // A continue token older than the kept history is expired: 410.
    let first = api
        .list(&ListParams::default().limit(500))
        .await
        .expect("page");
    let token = first.metadata.continue_.expect("more pages");
    api.create(&PostParams::default(), &configmap("cm-10001"))
        .await
        .expect("create");
    sim_post(&t.client().await, "/_sim/compact", json!({})).await;
    match api
        .list(&ListParams::default().limit(500).continue_token(&token))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("expected 410 Expired, got {other:?}"),
    }
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_update_conflicts() {
    let t = TestSim::start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(t.client().await);
    let created = api
        .create(&PostParams::default(), &configmap("occ"))
        .await
        .expect("create");
    let mut first = created.clone();
    first.data = Some([("v".to_string(), "first".to_string())].into());
    let updated = api
        .replace("occ", &PostParams::default(), &first)
        .await
        .expect("first writer wins");
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    let mut second = created.clone();
    second.data = Some([("v".to_string(), "second".to_string())].into());
    match api.replace("occ", &PostParams::default(), &second).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.reason, "Conflict");
            assert!(
                status.message.contains("the object has been modified"),
                "{}",
                status.message
            );
        }
        other => panic!("expected 409 Conflict, got {other:?}"),
    }
    // A no-op update keeps the resourceVersion.
    let again = api
        .replace("occ", &PostParams::default(), &updated)
        .await
        .expect("no-op");
    assert_eq!(
        again.metadata.resource_version,
        updated.metadata.resource_version
    );
    t.sim.shutdown().await.expect("clean shutdown");
}

/// One round of a minimal Lease-based elector: take the lease if it is free, ours or
/// expired, with optimistic concurrency; `Ok(false)` when someone else holds it.
async fn try_lead(api: &Api<Lease>, me: &str, now: jiff::Timestamp) -> Result<bool, kube::Error> {
    let spec = |holder: Option<&str>| {
        json!({"holderIdentity": holder, "leaseDurationSeconds": 15,
               "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()})
    };
    let Some(mut lease) = api.get_opt("megamon").await? else {
        let lease: Lease = serde_json::from_value(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "megamon"}, "spec": spec(Some(me)),
        }))
        .expect("lease");
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let current = lease.spec.clone().unwrap_or_default();
    let expired = current.renew_time.as_ref().is_none_or(|MicroTime(t)| {
        let renewed = jiff::Timestamp::from_second(t.as_second()).expect("time");
        renewed
            + jiff::SignedDuration::from_secs(current.lease_duration_seconds.unwrap_or(15).into())
            < now
    });
    let holder = current.holder_identity.clone();
    if holder.as_deref().is_some_and(|h| h != me) && !expired {
        return Ok(false);
    }
    lease.spec = Some(serde_json::from_value(spec(Some(me))).expect("spec"));
    match api.replace("megamon", &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_leader_election_round_trip() {
    let t = TestSim::start().await;
    let api: Api<Lease> = Api::default_namespaced(t.client().await);
    let now = jiff::Timestamp::now();
    assert!(
        try_lead(&api, "replica-a", now).await.expect("a"),
        "a takes the free lease"
    );
    assert!(
        !try_lead(&api, "replica-b", now).await.expect("b"),
        "b sees it held"
    );
    assert!(try_lead(&api, "replica-a", now).await.expect("a renews"));

    // Two candidates racing on the same version: exactly one wins.
    let stale = api.get("megamon").await.expect("get");
    let mut a = stale.clone();
    a.spec.as_mut().expect("spec").holder_identity = Some("replica-a".into());
    a.spec.as_mut().expect("spec").lease_transitions = Some(1);
    let mut b = stale.clone();
    b.spec.as_mut().expect("spec").holder_identity = Some("replica-b".into());
    b.spec.as_mut().expect("spec").lease_transitions = Some(2);
    let pp = PostParams::default();
    let (ra, rb) = tokio::join!(
        api.replace("megamon", &pp, &a),
        api.replace("megamon", &pp, &b)
    );
    assert!(ra.is_ok() != rb.is_ok(), "one writer wins: {ra:?} {rb:?}");

    // When the leader stops renewing, the lease expires and b takes over.
    let later = now + jiff::SignedDuration::from_secs(60);
    let holder = api
        .get("megamon")
        .await
        .expect("get")
        .spec
        .and_then(|s| s.holder_identity);
    let other = if holder.as_deref() == Some("replica-a") {
        "replica-b"
    } else {
        "replica-a"
    };
    assert!(try_lead(&api, other, later).await.expect("take over"));
    let lease = api.get("megamon").await.expect("get");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(other)
    );
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_a_subresource_except_on_node_create() {
    let t = TestSim::start().await;
    let client = t.client().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running"},
    }))
    .expect("pod");
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create");
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Pending")
    );
    let patched = pods
        .patch_status(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}, "spec": {"nodeName": "ignored"}})),
        )
        .await
        .expect("status patch");
    assert_eq!(
        patched.status.and_then(|s| s.phase).as_deref(),
        Some("Running")
    );
    assert!(
        patched.spec.and_then(|s| s.node_name).is_none(),
        "/status changes only .status"
    );
    assert_eq!(patched.metadata.generation, Some(1));

    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }))
    .expect("node");
    let created = nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("create node");
    assert!(
        created
            .status
            .and_then(|s| s.conditions)
            .is_some_and(|c| c[0].status == "True")
    );

    // A CRD with the status subresource: JobSet.
    let gvk = GroupVersionKind::gvk("jobset.x-k8s.io", "v1alpha2", "JobSet");
    let jobsets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk(&gvk));
    let js: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": {"name": "js"},
        "spec": {"replicatedJobs": []}, "status": {"terminalState": "Failed"},
    }))
    .expect("jobset");
    let created = jobsets
        .create(&PostParams::default(), &js)
        .await
        .expect("create jobset");
    assert!(
        created.data.get("status").is_none(),
        "status ignored on create"
    );
    let mut changed = created.clone();
    changed.data["spec"]["suspend"] = true.into();
    changed.data["status"] = json!({"terminalState": "Failed"});
    let replaced = jobsets
        .replace("js", &PostParams::default(), &changed)
        .await
        .expect("replace");
    assert!(
        replaced.data.get("status").is_none(),
        "status ignored on update"
    );
    assert_eq!(
        replaced.metadata.generation,
        Some(2),
        "spec change bumps generation"
    );
    let mut status_write = replaced.clone();
    status_write.data["status"] = json!({"terminalState": "Failed"});
    status_write.data["spec"]["suspend"] = false.into();
    let with_status = jobsets
        .replace_status("js", &PostParams::default(), &status_write)
        .await
        .expect("replace status");
    assert_eq!(with_status.data["status"]["terminalState"], "Failed");
    assert_eq!(
        with_status.metadata.generation,
        Some(2),
        "status changes keep generation"
    );
    assert_eq!(
        with_status.data["spec"]["suspend"], true,
        "/status ignores spec"
    );
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_hold_deletion_and_generate_name_names() {
    let t = TestSim::start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(t.client().await);
    let generated: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"generateName": "gen-", "finalizers": ["example.com/keep"]},
    }))
    .expect("cm");
    let created = api
        .create(&PostParams::default(), &generated)
        .await
        .expect("create");
    let name = created.metadata.name.clone().expect("generated name");
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    let held = api.get(&name).await.expect("still there");
    assert!(held.metadata.deletion_timestamp.is_some());
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove finalizers");
    let name2 = name.clone();
    eventually(Duration::from_secs(5), || {
        let api = api.clone();
        let name = name2.clone();
        async move {
            api.get_opt(&name)
                .await
                .expect("get")
                .is_none()
                .then_some(())
        }
    })
    .await;
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_owner_deletes_its_dependents_unless_orphaned() {
    let t = TestSim::start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(t.client().await);
    let owned_by = |name: &str, owner: &ConfigMap| -> ConfigMap {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap",
                "name": owner.metadata.name, "uid": owner.metadata.uid}]},
        }))
        .expect("configmap")
    };
    let pp = PostParams::default();
    let parent = api.create(&pp, &configmap("parent")).await.expect("parent");
    let child = api
        .create(&pp, &owned_by("child", &parent))
        .await
        .expect("child");
    api.create(&pp, &owned_by("grandchild", &child))
        .await
        .expect("grandchild");
    api.create(&pp, &configmap("bystander"))
        .await
        .expect("bystander");
    api.delete("parent", &DeleteParams::background())
        .await
        .expect("delete");
    for gone in ["parent", "child", "grandchild"] {
        assert!(
            api.get_opt(gone).await.expect("get").is_none(),
            "{gone} deleted"
        );
    }
    assert!(api.get_opt("bystander").await.expect("get").is_some());

    let parent = api.create(&pp, &configmap("parent")).await.expect("parent");
    api.create(&pp, &owned_by("child", &parent))
        .await
        .expect("child");
    api.delete("parent", &DeleteParams::orphan())
        .await
        .expect("delete");
    assert!(
        api.get_opt("child").await.expect("get").is_some(),
        "orphaned"
    );

    // An owner held by a finalizer takes its dependents along once it is released.
    let mut held = configmap("held");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    let held = api.create(&pp, &held).await.expect("held");
    api.create(&pp, &owned_by("held-child", &held))
        .await
        .expect("child");
    api.delete("held", &DeleteParams::background())
        .await
        .expect("delete");
    assert!(
        api.get_opt("held-child").await.expect("get").is_some(),
        "owner still there"
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release");
    assert!(api.get_opt("held").await.expect("get").is_none());
    assert!(api.get_opt("held-child").await.expect("get").is_none());
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_object_watch_sees_only_that_object() {
    let t = TestSim::start().await;
    let client = t.client().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &configmap("watched"))
        .await
        .expect("create");
    api.create(&PostParams::default(), &configmap("other"))
        .await
        .expect("create");
    let request = http::Request::get(
        "/api/v1/namespaces/default/configmaps/watched?watch=true&timeoutSeconds=1",
    )
    .body(kube::client::Body::empty())
    .expect("request");
    let response = client.send(request).await.expect("watch");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect_bytes()
        .await
        .expect("ends after 1s");
    let events: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("a JSON event per line"))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "watched");
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_watchers_and_event_recorders_work() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let t = TestSim::start().await;
    let client = t.client().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm = api
        .create(&PostParams::default(), &configmap("meta"))
        .await
        .expect("create");

    // Metadata-only lists and watches (PartialObjectMetadata), as lean controllers use.
    let listed = api
        .list_metadata(&ListParams::default())
        .await
        .expect("metadata list");
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].metadata.name.as_deref(), Some("meta"));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watched: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::default_namespaced(client.clone());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(watched, watcher::Config::default()));
        while let Some(Ok(event)) = stream.next().await {
            if let watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) = event
                && tx.send(obj.metadata.name.unwrap_or_default()).is_err()
            {
                break;
            }
        }
    });
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time");
    assert_eq!(first.as_deref(), Some("meta"));

    // kube-rs' event recorder writes events.k8s.io/v1 Events.
    let recorder = Recorder::new(client.clone(), Reporter::from("megamon-test"));
    recorder
        .publish(
            &Event {
                type_: EventType::Normal,
                reason: "Observed".into(),
                note: Some("seen by the test".into()),
                action: "Observe".into(),
                secondary: None,
            },
            &kube::Resource::object_ref(&cm, &()),
        )
        .await
        .expect("event published");
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::default_namespaced(client);
    let listed = events
        .list(&ListParams::default().fields("regarding.name=meta"))
        .await
        .expect("events");
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].reason.as_deref(), Some("Observed"));
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_honour_resource_version_match_and_deletecollection_selects() {
    use kube::api::VersionMatch;
    let t = TestSim::start().await;
    let client = t.client().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    api.create(&pp, &configmap("one")).await.expect("create");
    let before = api.list(&ListParams::default()).await.expect("list");
    let at = before.metadata.resource_version.clone().expect("rv");
    api.create(&pp, &configmap("two")).await.expect("create");
    api.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "changed"}})),
    )
    .await
    .expect("patch");

    // Exact: the state at that version; NotOlderThan and unset: the latest.
    let exact = api
        .list(&ListParams::default().at(&at).matching(VersionMatch::Exact))
        .await
        .expect("exact list");
    assert_eq!(
        exact.metadata.resource_version.as_deref(),
        Some(at.as_str())
    );
    assert_eq!(exact.items.len(), 1);
    assert_eq!(exact.items[0].data.as_ref().expect("data")["v"], "1");
    let newer = api
        .list(
            &ListParams::default()
                .at(&at)
                .matching(VersionMatch::NotOlderThan),
        )
        .await
        .expect("not-older-than list");
    assert_eq!(newer.items.len(), 2);
    let any = api
        .list(&ListParams::default().match_any())
        .await
        .expect("any");
    assert_eq!(any.items.len(), 2);
    sim_post(&client, "/_sim/compact", json!({})).await;
    match api
        .list(&ListParams::default().at(&at).matching(VersionMatch::Exact))
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 410),
        other => panic!("expected 410 for a compacted version, got {other:?}"),
    }

    // deletecollection takes the selector into account.
    let mut keep = configmap("keep");
    keep.metadata.labels = Some([("app".to_string(), "other".to_string())].into());
    api.create(&pp, &keep).await.expect("create");
    let deleted = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app=test"),
        )
        .await
        .expect("deletecollection");
    let deleted = deleted.left().expect("a list of deleted objects");
    assert_eq!(deleted.items.len(), 2);
    let left = api.list(&ListParams::default()).await.expect("list");
    let names: Vec<_> = left
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(names, ["keep"]);
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_terminates_it_and_its_contents() {
    use k8s_openapi::api::core::v1::Namespace;
    let t = TestSim::start().await;
    let client = t.client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}))
    .expect("namespace");
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create");
    let in_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    in_ns
        .create(&PostParams::default(), &configmap("content"))
        .await
        .expect("content");
    let from = created.metadata.resource_version.expect("rv");
    let mut events = namespaces
        .watch(
            &WatchParams::default().fields("metadata.name=doomed"),
            &from,
        )
        .await
        .expect("watch")
        .boxed();
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("delete");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), events.try_next()).await {
            Ok(Ok(Some(WatchEvent::Modified(ns)))) => seen.push(format!(
                "modified:{}",
                ns.status.and_then(|s| s.phase).unwrap_or_default()
            )),
            Ok(Ok(Some(WatchEvent::Deleted(_)))) => seen.push("deleted".into()),
            Ok(Ok(Some(_))) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["modified:Terminating", "deleted"]);
    assert!(in_ns.get_opt("content").await.expect("get").is_none());
    // Creating in a namespace that no longer exists is refused.
    match in_ns
        .create(&PostParams::default(), &configmap("late"))
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 404),
        other => panic!("expected 404, got {other:?}"),
    }
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_pod_selectors_select_scheduled_leaders() {
    // The selectors MegaMon's monitor watches JobSet leader pods with, taken
    // from the monitor itself so that a change there is tested here.
    use megamon_monitor::resources::{LEADER_POD_FIELDS as FIELDS, LEADER_POD_LABELS as LABELS};
    let t = TestSim::start().await;
    let pods: Api<Pod> = Api::default_namespaced(t.client().await);
    let pod = |name: &str, index: &str, node: Option<&str>| -> Pod {
        let mut spec = json!({"containers": [{"name": "c", "image": "x"}]});
        if let Some(node) = node {
            spec["nodeName"] = node.into();
        }
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {
                "jobset.sigs.k8s.io/jobset-name": "js", "batch.kubernetes.io/job-completion-index": index}},
            "spec": spec}))
        .expect("pod")
    };
    let pp = PostParams::default();
    pods.create(&pp, &pod("leader", "0", Some("n1")))
        .await
        .expect("create");
    pods.create(&pp, &pod("pending-leader", "0", None))
        .await
        .expect("create");
    pods.create(&pp, &pod("worker", "1", Some("n2")))
        .await
        .expect("create");
    let params = ListParams::default().labels(LABELS).fields(FIELDS);
    let listed = pods.list(&params).await.expect("list");
    let names: Vec<_> = listed
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, ["leader"]);

    let rv = listed.metadata.resource_version.expect("rv");
    let mut events = pods
        .watch(&WatchParams::default().labels(LABELS).fields(FIELDS), &rv)
        .await
        .expect("watch")
        .boxed();
    pods.patch(
        "pending-leader",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"nodeName": "n3"}})),
    )
    .await
    .expect("schedule");
    match tokio::time::timeout(Duration::from_secs(5), events.try_next()).await {
        Ok(Ok(Some(WatchEvent::Added(p)))) => {
            assert_eq!(p.metadata.name.as_deref(), Some("pending-leader"))
        }
        other => panic!("expected the newly scheduled leader, got {other:?}"),
    }
    t.sim.shutdown().await.expect("clean shutdown");
}
