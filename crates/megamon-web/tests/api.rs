//! The JSON API and the embedded page over real HTTP, against a `FleetView`
//! fed by the test.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use megamon_core::{
    EntityKind, EntitySnapshot, FamilySnapshot, Snapshot, Summary, Timeline, Upness,
};
use serde_json::json;
use support::{get, get_with, realistic_fleet, serve};

fn taken_at() -> Timestamp {
    "2026-11-25T03:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn fleet_lists_every_family_with_state_summary_and_up_percent() {
    let fleet = realistic_fleet(taken_at());
    let served = serve(Some(fleet.snapshot), fleet.timelines).await;

    let res = get(served.addr, "/api/v1/fleet").await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(
        res.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(res.header("cache-control"), Some("no-cache"));
    let body = res.json();
    assert_eq!(body["takenAt"], "2026-11-25T03:00:00Z");
    assert_eq!(res.header("etag"), Some("\"1795575600000000000\""));
    let kinds: Vec<_> = body["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["family"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("jobsets", "jobset"),
            ("node-pools", "nodepool"),
            ("slices", "slice")
        ]
    );
    assert_eq!(
        body["scheduling"]["pool-a"],
        json!({"jobName": "llm-pretrain-v5p-workers-0", "jobsetName": "llm-pretrain-v5p"})
    );
    // What the page calls each family comes from the family table.
    assert_eq!(body["families"][1]["title"], "Node pool");
    assert_eq!(body["families"][1]["titlePlural"], "Node pools");

    let pools = &body["families"][1]["entities"];
    let entity = |key: &str| {
        pools
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .unwrap_or_else(|| panic!("{key} in {pools}"))
            .clone()
    };
    let a = entity("pool-a");
    assert_eq!(a["up"], true);
    assert_eq!(a["state"], "up");
    // Original field names, integer nanoseconds.
    assert_eq!(a["upness"]["expectedCount"], 32);
    assert_eq!(a["upness"]["nodePoolName"], "pool-a");
    assert_eq!(a["upness"]["ed"], false);
    assert_eq!(
        a["summary"]["downTimeProvisioned"],
        22 * 60 * 1_000_000_000u64
    );
    assert_eq!(a["summary"]["interruptionCount"], 1);
    assert_eq!(a["summary"]["recoveryCount"], 1);
    let up = a["upPercent"].as_f64().unwrap();
    assert!(up > 90.0 && up < 100.0, "{up}");

    assert_eq!(entity("pool-b")["state"], "down");
    // Interruptions by cause, adding up to the count.
    assert_eq!(entity("pool-b")["causes"], json!({"preemption": 2}));
    assert_eq!(entity("pool-b")["summary"]["interruptionCount"], 2);
    assert_eq!(entity("pool-c")["causes"], json!({}));
    let c = entity("pool-c");
    assert_eq!(c["state"], "down (planned)");
    assert_eq!(c["up"], false);
    assert_eq!(c["upness"]["ed"], true);
    assert_eq!(c["upness"]["status"], "STOPPING");
}

#[tokio::test]
async fn up_percent_is_null_before_any_time_passed() {
    let at = taken_at();
    let timeline = Timeline::from_events(vec![megamon_core::UpEvent::down(at)]);
    let snapshot = Snapshot {
        taken_at: at,
        families: vec![FamilySnapshot {
            kind: EntityKind::Slices,
            entities: vec![std::sync::Arc::new(EntitySnapshot {
                key: "fresh".into(),
                upness: Upness::default(),
                up: false,
                causes: Default::default(),
                summary: timeline.summarize(at),
            })],
        }],
        scheduling: Default::default(),
    };
    let served = serve(Some(snapshot), HashMap::new()).await;
    let body = get(served.addr, "/api/v1/fleet").await.json();
    let e = &body["families"][0]["entities"][0];
    assert_eq!(e["upPercent"], serde_json::Value::Null);
    assert_eq!(e["summary"]["upTime"], 0);
}

#[tokio::test]
async fn fleet_is_not_resent_until_the_next_aggregation() {
    let fleet = realistic_fleet(taken_at());
    let served = serve(Some(fleet.snapshot.clone()), fleet.timelines).await;

    let first = get(served.addr, "/api/v1/fleet").await;
    let etag = first.header("etag").unwrap().to_string();
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
        "*".into(),
    ] {
        let res = get_with(served.addr, "/api/v1/fleet", &[("If-None-Match", &tag)]).await;
        assert_eq!(res.status, 304, "If-None-Match: {tag}");
        assert_eq!(res.body, "");
        assert_eq!(res.header("etag"), Some(etag.as_str()));
    }
    let res = get_with(
        served.addr,
        "/api/v1/fleet",
        &[("If-None-Match", "\"other\"")],
    )
    .await;
    assert_eq!(res.status, 200);

    // A new aggregation: a new tag, and the full answer again.
    let mut next = fleet.snapshot;
    next.taken_at = taken_at() + jiff::SignedDuration::from_secs(1);
    served.snapshots.send_replace(Some(Arc::new(next)));
    let res = get_with(served.addr, "/api/v1/fleet", &[("If-None-Match", &etag)]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_ne!(res.header("etag"), Some(etag.as_str()));
    assert_eq!(res.json()["takenAt"], "2026-11-25T03:00:01Z");
}

#[tokio::test]
async fn entity_has_its_summary_and_stored_transitions() {
    let fleet = realistic_fleet(taken_at());
    let served = serve(Some(fleet.snapshot), fleet.timelines).await;

    let res = get(served.addr, "/api/v1/entities/node-pools/pool-a").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let body = res.json();
    assert_eq!(body["kind"], "node-pools");
    assert_eq!(body["family"], "nodepool");
    assert_eq!(body["key"], "pool-a");
    assert_eq!(body["state"], "up");
    assert_eq!(body["takenAt"], "2026-11-25T03:00:00Z");
    assert_eq!(body["scheduled"]["jobsetName"], "llm-pretrain-v5p");
    assert_eq!(body["summary"]["interruptionCount"], 1);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 6);
    // The stored format: `ed` only on planned downs.
    assert_eq!(
        events[0],
        json!({"up": false, "ts": "2026-11-22T02:20:00Z"})
    );
    assert_eq!(
        events[2],
        json!({"up": false, "ed": true, "ts": "2026-11-23T02:20:00Z"})
    );
    assert_eq!(events[3]["up"], true);
    // An interruption: its cause and detail.
    assert_eq!(
        events[4],
        json!({"up": false, "ts": "2026-11-24T07:50:00Z", "cause": "maintenance",
               "detail": "1 of 32 nodes under maintenance: gke-pool-a-9"})
    );
    assert_eq!(body["causes"], json!({"maintenance": 1}));

    // A JobSet by uid; not a node pool, so nothing scheduled.
    let res = get(
        served.addr,
        "/api/v1/entities/jobsets/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let body = res.json();
    assert_eq!(body["state"], "down (planned)");
    assert_eq!(body["upness"]["status"], "Completed");
    assert!(body.get("scheduled").is_none());
    assert_eq!(body["events"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn keys_are_percent_decoded() {
    let at = taken_at();
    let key = "odd key/with slash";
    let snapshot = Snapshot {
        taken_at: at,
        families: vec![FamilySnapshot {
            kind: EntityKind::Slices,
            entities: vec![std::sync::Arc::new(EntitySnapshot {
                key: key.into(),
                upness: Upness::default(),
                up: false,
                causes: Default::default(),
                summary: Summary::default(),
            })],
        }],
        scheduling: Default::default(),
    };
    let served = serve(Some(snapshot), HashMap::new()).await;
    let res = get(
        served.addr,
        "/api/v1/entities/slices/odd%20key%2Fwith%20slash",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let body = res.json();
    assert_eq!(body["key"], key);
    // No stored timeline (the monitor is stopping): still the entity, no events.
    assert_eq!(body["events"], json!([]));
    let res = get(served.addr, "/api/v1/entities/node%2Dpools/x").await;
    assert_eq!(res.status, 404, "{}", res.body);
}

#[tokio::test]
async fn errors_are_json_with_the_right_status() {
    let fleet = realistic_fleet(taken_at());
    let served = serve(Some(fleet.snapshot), fleet.timelines).await;

    let res = get(served.addr, "/api/v1/entities/node-pools/pool-z").await;
    assert_eq!(res.status, 404);
    assert!(
        res.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        res.json(),
        json!({"error": "no node-pools entity with key \"pool-z\" in the latest snapshot"})
    );

    let res = get(served.addr, "/api/v1/entities/pods/pool-a").await;
    assert_eq!(res.status, 400);
    let error = res.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("\"pods\"") && error.contains("node-pools"),
        "{error}"
    );

    // JobSet nodes are switched off while slices are on: known kind, no entity.
    let res = get(served.addr, "/api/v1/entities/jobset-nodes/pool-a").await;
    assert_eq!(res.status, 404);

    let res = get(served.addr, "/api/v1/nodes").await;
    assert_eq!(res.status, 404);
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .contains("/api/v1/nodes")
    );
}

#[tokio::test]
async fn not_ready_before_the_first_aggregation_then_live() {
    let served = serve(None, HashMap::new()).await;
    for path in ["/api/v1/fleet", "/api/v1/entities/node-pools/pool-a"] {
        let res = get(served.addr, path).await;
        assert_eq!(res.status, 503, "{path}");
        assert_eq!(res.json(), json!({"error": "not ready"}), "{path}");
    }
    // A bad kind is the caller's mistake whatever the monitor's state.
    assert_eq!(
        get(served.addr, "/api/v1/entities/pods/x").await.status,
        400
    );
    // The page itself is served while waiting (it says so).
    assert_eq!(get(served.addr, "/").await.status, 200);

    // The next publication is what the API answers with.
    let fleet = realistic_fleet(taken_at());
    served
        .snapshots
        .send_replace(Some(Arc::new(fleet.snapshot)));
    let res = get(served.addr, "/api/v1/fleet").await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["families"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn page_and_assets_are_embedded_and_self_contained() {
    let served = serve(None, HashMap::new()).await;

    let page = get(served.addr, "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("assets/app.js") && page.body.contains("assets/app.css"));
    assert!(page.body.contains("<table class=\"fleet\""));
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");

    let js = get(served.addr, "/assets/app.js").await;
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(js.body.contains("api/v1/fleet"));
    let css = get(served.addr, "/assets/app.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    // No CDN: nothing is loaded from another origin.
    for (name, body) in [
        ("page", &page.body),
        ("script", &js.body),
        ("style", &css.body),
    ] {
        assert!(
            !body.contains("http://") && !body.contains("https://") && !body.contains("//cdn"),
            "{name} refers to another origin"
        );
    }
    assert_eq!(get(served.addr, "/assets/missing.js").await.status, 404);
}

#[tokio::test]
async fn failed_and_leader_worker_set_entities() {
    let at = taken_at();
    let failed = EntitySnapshot {
        key: "u-failed".into(),
        upness: Upness {
            expected_count: 2,
            status: "Failed".into(),
            failed: true,
            ..Upness::default()
        },
        up: false,
        causes: Default::default(),
        summary: Summary {
            provisioning_state: megamon_core::ProvisioningState::Failed,
            provisioning_duration: std::time::Duration::from_secs(30),
            ..Summary::default()
        },
    };
    let lws = EntitySnapshot {
        key: "u-lws".into(),
        upness: Upness {
            expected_count: 2,
            ready_count: 2,
            attrs: megamon_core::Attrs {
                lws_name: "infer".into(),
                lws_namespace: "serving".into(),
                lws_uid: "u-lws".into(),
                ..Default::default()
            }
            .into(),
            ..Upness::default()
        },
        up: true,
        causes: Default::default(),
        summary: Summary::default(),
    };
    let snapshot = Snapshot {
        taken_at: at,
        families: vec![
            FamilySnapshot {
                kind: EntityKind::JobSets,
                entities: vec![std::sync::Arc::new(failed)],
            },
            FamilySnapshot {
                kind: EntityKind::LeaderWorkerSets,
                entities: vec![std::sync::Arc::new(lws)],
            },
        ],
        scheduling: Default::default(),
    };
    let served = serve(Some(snapshot), HashMap::new()).await;
    let body = get(served.addr, "/api/v1/fleet").await.json();
    let js = &body["families"][0]["entities"][0];
    assert_eq!(js["state"], "down (failed)");
    assert_eq!(js["upness"]["f"], true);
    assert_eq!(js["summary"]["provisioningState"], "failed");
    assert_eq!(js["summary"]["provisioningDuration"], 30_000_000_000i64);
    let family = &body["families"][1];
    assert_eq!(family["kind"], "leader-worker-sets");
    assert_eq!(family["family"], "leaderworkerset");
    assert_eq!(family["titlePlural"], "LeaderWorkerSets");
    assert_eq!(family["entities"][0]["upness"]["lwsName"], "infer");
    let res = get(served.addr, "/api/v1/entities/leader-worker-sets/u-lws").await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["upness"]["lwsNamespace"], "serving");
}

#[tokio::test]
async fn history_lists_ended_entities_latest_first_with_their_timelines() {
    let now = taken_at();
    let fleet = realistic_fleet(now);
    let ended = support::ended_fleet(now);
    let (_dir, store) = support::archive_store(&ended);
    let served = support::serve_with(Some(fleet.snapshot), fleet.timelines, Some(store)).await;

    let res = get(served.addr, "/api/v1/history").await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    let keys: Vec<&str> = body["ended"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    // Latest end first, across families and day files.
    assert_eq!(
        keys,
        [
            "6f1c0d2e-aaaa-4bbb-8ccc-000000000001",
            "slice-old-0",
            "pool-retired"
        ]
    );
    assert_eq!(body["truncated"], false);
    assert_eq!(body["errors"], json!([]));
    let js = &body["ended"][0];
    assert_eq!(js["kind"], "jobsets");
    assert_eq!(js["family"], "jobset");
    assert_eq!(js["endedAt"], "2026-11-25T02:00:00Z");
    assert_eq!(js["attrs"]["jobsetName"], "llm-finished");
    assert_eq!(js["summary"]["interruptionCount"], 2);
    assert_eq!(js["causes"], json!({"preemption": 2}));
    assert_eq!(js["events"].as_array().unwrap().len(), 6);
    assert_eq!(js["events"][2]["cause"], "preemption");
    assert!(js["upPercent"].as_f64().unwrap() > 80.0);

    // Searched: every word in the key or a label value, any case.
    let body = get(served.addr, "/api/v1/history?q=Research%20v5p")
        .await
        .json();
    assert_eq!(body["ended"].as_array().unwrap().len(), 1, "{body}");
    let body = get(served.addr, "/api/v1/history?q=16x16").await.json();
    assert_eq!(body["ended"][0]["key"], "pool-retired", "{body}");
    let body = get(served.addr, "/api/v1/history?q=nothing-like-this")
        .await
        .json();
    assert_eq!(body["ended"], json!([]));
    // One family; a limit.
    let body = get(served.addr, "/api/v1/history?kind=slices").await.json();
    assert_eq!(body["ended"].as_array().unwrap().len(), 1);
    let body = get(served.addr, "/api/v1/history?limit=2").await.json();
    assert_eq!(body["ended"].as_array().unwrap().len(), 2);
    assert_eq!(body["truncated"], true);
    // Bad parameters are 400s that say why.
    let res = get(served.addr, "/api/v1/history?kind=pods").await;
    assert_eq!(res.status, 400);
    assert!(res.json()["error"].as_str().unwrap().contains("pods"));
    let res = get(served.addr, "/api/v1/history?limit=many").await;
    assert_eq!(res.status, 400, "{}", res.body);
}

#[tokio::test]
async fn history_keeps_going_past_a_corrupt_day_file_and_404s_without_a_store() {
    let now = taken_at();
    let ended = support::ended_fleet(now);
    let (dir, store) = support::archive_store(&ended);
    std::fs::write(
        dir.path().join("archive/jobsets/2026-11-20.jsonl"),
        "{not json\n",
    )
    .unwrap();
    let served = support::serve_with(None, HashMap::new(), Some(store)).await;
    let body = get(served.addr, "/api/v1/history").await.json();
    assert_eq!(body["ended"].as_array().unwrap().len(), 3, "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert!(
        errors[0].as_str().unwrap().contains("2026-11-20.jsonl"),
        "{body}"
    );

    let served = serve(None, HashMap::new()).await;
    let res = get(served.addr, "/api/v1/history").await;
    assert_eq!(res.status, 404);
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .contains("no history store")
    );
}
