//! Shared by the API and browser tests: a realistic fleet, the web view served
//! on 127.0.0.1:0 from a `FleetView` the test feeds itself, and a tiny HTTP/1.0
//! client (one request per connection, no chunked bodies to decode).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use megamon_core::cause::{Cause, Why};
use megamon_core::report::ScheduledJob;
use megamon_core::{
    Attrs, EntityKind, EntitySnapshot, FamilySnapshot, Snapshot, Timeline, UpEvent, Upness,
};
use megamon_monitor::view::{FleetView, ViewRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// A fleet and the stored transitions behind it.
pub struct Fleet {
    pub snapshot: Snapshot,
    pub timelines: HashMap<(EntityKind, String), Timeline>,
}

/// One entity: `steps` are (minutes after first sight, up, planned), the first
/// is first sight. The summary is computed from the events, as the monitor does.
struct Entity {
    key: &'static str,
    attrs: Attrs,
    expected: u64,
    first_seen_minutes_ago: i64,
    steps: &'static [(i64, bool, bool)],
    status: &'static str,
    /// The causes of its interruptions, in order.
    causes: &'static [(Cause, &'static str)],
}

fn build(kind: EntityKind, taken_at: Timestamp, entities: Vec<Entity>, fleet: &mut Fleet) {
    let mut family = FamilySnapshot {
        kind,
        entities: Vec::new(),
    };
    for e in entities {
        let first = taken_at - SignedDuration::from_mins(e.first_seen_minutes_ago);
        let events: Vec<UpEvent> = e
            .steps
            .iter()
            .map(|&(minutes, up, planned)| UpEvent {
                up,
                expected_down: planned,
                failed: false,
                timestamp: first + SignedDuration::from_mins(minutes),
                cause: None,
                detail: None,
            })
            .collect();
        // Each interruption (an unplanned down after up) gets the next cause.
        let mut causes = e.causes.iter();
        let events: Vec<UpEvent> = events
            .iter()
            .enumerate()
            .map(|(i, ev)| {
                let interruption = i > 0 && !ev.up && !ev.expected_down && events[i - 1].up;
                match interruption.then(|| causes.next()).flatten() {
                    Some(&(cause, detail)) => ev.clone().because(Why::new(cause, detail)),
                    None => ev.clone(),
                }
            })
            .collect();
        let timeline = Timeline::from_events(events);
        let last = timeline.last().cloned().expect("fixture entity has events");
        let ready = if last.up {
            e.expected
        } else if last.expected_down {
            0
        } else {
            e.expected.saturating_sub(e.expected.div_ceil(4))
        };
        family.entities.push(std::sync::Arc::new(EntitySnapshot {
            key: e.key.to_string(),
            upness: Upness {
                ready_count: ready,
                expected_count: e.expected,
                unknown_count: 0,
                status: e.status.to_string(),
                expected_down: last.expected_down,
                failed: false,
                attrs: e.attrs.into(),
            },
            up: last.up,
            summary: timeline.summarize(taken_at),
            causes: timeline.causes(),
        }));
        fleet.timelines.insert((kind, e.key.to_string()), timeline);
    }
    fleet.snapshot.families.push(family);
}

fn jobset(ns: &str, name: &str, uid: &str, accel: &str, topo: &str, chips: u64) -> Attrs {
    Attrs {
        jobset_name: name.into(),
        jobset_namespace: ns.into(),
        jobset_uid: uid.into(),
        tpu_accelerator: accel.into(),
        tpu_topology: topo.into(),
        tpu_chip_count: chips,
        ..Attrs::default()
    }
}

fn pool(name: &str, accel: &str, topo: &str, chips: u64, spot: bool) -> Attrs {
    Attrs {
        node_pool_name: name.into(),
        tpu_accelerator: accel.into(),
        tpu_topology: topo.into(),
        tpu_chip_count: chips,
        spot,
        ..Attrs::default()
    }
}

fn slice(name: &str, owner: &str, accel: &str, topo: &str, chips: u64) -> Attrs {
    Attrs {
        slice_name: name.into(),
        slice_owner_kind: "JobSet".into(),
        slice_owner_name: owner.into(),
        slice_owner_namespace: "research".into(),
        tpu_accelerator: accel.into(),
        tpu_topology: topo.into(),
        tpu_chip_count: chips,
        ..Attrs::default()
    }
}

/// The fleet a platform engineer might see: JobSets (running, interrupted,
/// completed, failed, provisioning), node pools (one with a planned
/// maintenance window and an interruption: `pool-a`) and slices.
pub fn realistic_fleet(taken_at: Timestamp) -> Fleet {
    let mut fleet = Fleet {
        snapshot: Snapshot {
            taken_at,
            families: Vec::new(),
            scheduling: Default::default(),
        },
        timelines: HashMap::new(),
    };
    const DAY: i64 = 24 * 60;
    build(
        EntityKind::JobSets,
        taken_at,
        vec![
            Entity {
                key: "5f0c2a9e-1b7d-4e8a-9c3f-0a1b2c3d4e5f",
                attrs: jobset(
                    "research",
                    "llm-pretrain-v5p",
                    "5f0c2a9e-1b7d-4e8a-9c3f-0a1b2c3d4e5f",
                    "tpu-v5p-slice",
                    "4x4x8",
                    128,
                ),
                expected: 4,
                first_seen_minutes_ago: 3 * DAY,
                steps: &[
                    (0, false, false),
                    (14, true, false),
                    (DAY + 200, false, false),
                    (DAY + 231, true, false),
                    (2 * DAY + 300, false, false),
                    (2 * DAY + 309, true, false),
                ],
                status: "",
                causes: &[
                    (
                        Cause::NodeNotReady,
                        "1 of 32 nodes NotReady: gke-v5p-node-17",
                    ),
                    (Cause::WorkloadRestart, "restarts 1 → 2; 3 of 4 jobs ready"),
                ],
            },
            Entity {
                key: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                attrs: jobset(
                    "research",
                    "eval-sweep-0412",
                    "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                    "tpu-v5-lite-podslice",
                    "4x4",
                    16,
                ),
                expected: 2,
                first_seen_minutes_ago: 20 * 60,
                steps: &[(0, false, false), (6, true, false), (17 * 60, false, true)],
                status: "Completed",
                causes: &[],
            },
            Entity {
                key: "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
                attrs: jobset(
                    "serving",
                    "ft-gemma-7b",
                    "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
                    "tpu-v5-lite-podslice",
                    "2x4",
                    8,
                ),
                expected: 1,
                first_seen_minutes_ago: 9 * 60,
                steps: &[
                    (0, false, false),
                    (4, true, false),
                    (8 * 60 + 20, false, false),
                ],
                status: "Failed",
                causes: &[(
                    Cause::WorkloadFailed,
                    "FailedJobs: jobset failed due to job failure",
                )],
            },
            Entity {
                key: "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a",
                attrs: jobset(
                    "research",
                    "moe-ablation-17",
                    "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a",
                    "tpu-v5p-slice",
                    "2x2x4",
                    16,
                ),
                expected: 1,
                first_seen_minutes_ago: 7,
                steps: &[(0, false, false)],
                status: "",
                causes: &[],
            },
        ],
        &mut fleet,
    );
    build(
        EntityKind::NodePools,
        taken_at,
        vec![
            Entity {
                key: "pool-a",
                attrs: pool("pool-a", "tpu-v5p-slice", "4x4x8", 128, false),
                expected: 32,
                first_seen_minutes_ago: 3 * DAY + 40,
                steps: &[
                    (0, false, false),
                    (22, true, false),
                    (DAY, false, true),
                    (DAY + 95, true, false),
                    (2 * DAY + 330, false, false),
                    (2 * DAY + 349, true, false),
                ],
                status: "RUNNING",
                causes: &[(
                    Cause::Maintenance,
                    "1 of 32 nodes under maintenance: gke-pool-a-9",
                )],
            },
            Entity {
                key: "pool-b",
                attrs: pool("pool-b", "tpu-v5-lite-podslice", "4x4", 16, true),
                expected: 4,
                first_seen_minutes_ago: 2 * DAY,
                steps: &[
                    (0, false, false),
                    (9, true, false),
                    (DAY, false, false),
                    (DAY + 4, true, false),
                    (2 * DAY - 35, false, false),
                ],
                status: "RECONCILING",
                causes: &[
                    (Cause::Preemption, "2 of 4 spot nodes reclaimed (deleted)"),
                    (
                        Cause::Preemption,
                        "1 of 4 nodes being terminated: gke-pool-b-2",
                    ),
                ],
            },
            Entity {
                key: "pool-c",
                attrs: pool("pool-c", "tpu-v5-lite-podslice", "2x4", 8, false),
                expected: 2,
                first_seen_minutes_ago: DAY + 300,
                steps: &[
                    (0, false, false),
                    (11, true, false),
                    (DAY + 270, false, true),
                ],
                status: "STOPPING",
                causes: &[],
            },
            Entity {
                key: "pool-d",
                attrs: pool("pool-d", "tpu-v6e-slice", "8x8", 64, false),
                expected: 16,
                first_seen_minutes_ago: 2 * DAY + 600,
                steps: &[(0, false, false), (0, true, false)],
                status: "RUNNING",
                causes: &[],
            },
        ],
        &mut fleet,
    );
    build(
        EntityKind::Slices,
        taken_at,
        vec![
            Entity {
                key: "slice-llm-pretrain-0",
                attrs: slice(
                    "slice-llm-pretrain-0",
                    "llm-pretrain-v5p",
                    "tpu-v5p-slice",
                    "4x4x8",
                    128,
                ),
                expected: 32,
                first_seen_minutes_ago: 3 * DAY,
                steps: &[
                    (0, false, false),
                    (12, true, false),
                    (DAY + 198, false, false),
                    (DAY + 228, true, false),
                ],
                status: "",
                causes: &[(
                    Cause::SliceDegraded,
                    "Ready False: Degraded: 2 chips unhealthy",
                )],
            },
            Entity {
                key: "slice-moe-ablation-0",
                attrs: slice(
                    "slice-moe-ablation-0",
                    "moe-ablation-17",
                    "tpu-v5p-slice",
                    "2x2x4",
                    16,
                ),
                expected: 4,
                first_seen_minutes_ago: 7,
                steps: &[(0, false, false)],
                status: "",
                causes: &[],
            },
        ],
        &mut fleet,
    );
    std::sync::Arc::make_mut(&mut fleet.snapshot.scheduling).insert(
        "pool-a".into(),
        ScheduledJob {
            job_name: "llm-pretrain-v5p-workers-0".into(),
            jobset_name: "llm-pretrain-v5p".into(),
            ..Default::default()
        },
    );
    fleet
}

/// The web view on 127.0.0.1:0; it stops when the test's runtime ends.
pub struct Served {
    pub addr: SocketAddr,
    pub snapshots: watch::Sender<Option<Arc<Snapshot>>>,
}

/// Serves the web view over a `FleetView` whose timeline requests are answered
/// from `timelines`, as the engine would.
pub async fn serve(
    snapshot: Option<Snapshot>,
    timelines: HashMap<(EntityKind, String), Timeline>,
) -> Served {
    serve_with(snapshot, timelines, None).await
}

/// [`serve`], with the archive of ended entities read from `history`.
pub async fn serve_with(
    snapshot: Option<Snapshot>,
    timelines: HashMap<(EntityKind, String), Timeline>,
    history: Option<megamon_store::HistoryStore>,
) -> Served {
    let (snapshots, snapshot_rx) = watch::channel(snapshot.map(Arc::new));
    let (requests_tx, mut requests) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(ViewRequest::Timeline { kind, key, reply }) = requests.recv().await {
            let _ = reply.send(timelines.get(&(kind, key)).cloned());
        }
    });
    let mut view = FleetView::new(snapshot_rx, requests_tx);
    if let Some(store) = history {
        view = view.with_history(store);
    }
    let router = megamon_web::router(view);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Served { addr, snapshots }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// `GET path` over a fresh connection.
pub async fn get(addr: SocketAddr, path: &str) -> Response {
    get_with(addr, path, &[]).await
}

/// `GET path` with extra request headers.
pub async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: */*\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

/// An entity that ended at `ended`, after `steps` as in [`Entity`] (minutes
/// after `start`, up, planned, cause).
pub fn ended_entity(
    kind: EntityKind,
    key: &str,
    attrs: Attrs,
    start: Timestamp,
    steps: &[(i64, bool, Option<Cause>)],
    ended: Timestamp,
) -> megamon_core::archive::ArchivedEntity {
    let events = steps
        .iter()
        .map(|(m, up, cause)| {
            let at = start + SignedDuration::from_mins(*m);
            let e = if *up {
                UpEvent::up(at)
            } else {
                UpEvent::down(at)
            };
            match cause {
                Some(c) => e.because(Why::new(*c, "")),
                None => e,
            }
        })
        .collect();
    let mut t = Timeline::from_events(events);
    t.set_attrs(attrs.into());
    megamon_core::archive::ArchivedEntity::new(kind, key, &t, ended)
}

/// Three ended entities, the latest ending 1 h before `now`: a JobSet
/// preempted twice, a node pool from the day before, a slice.
pub fn ended_fleet(now: Timestamp) -> Vec<megamon_core::archive::ArchivedEntity> {
    let h = |n: i64| now - SignedDuration::from_hours(n);
    vec![
        ended_entity(
            EntityKind::JobSets,
            "6f1c0d2e-aaaa-4bbb-8ccc-000000000001",
            Attrs {
                jobset_name: "llm-finished".into(),
                jobset_namespace: "research".into(),
                tpu_accelerator: "tpu-v5p-slice".into(),
                tpu_topology: "4x4x4".into(),
                tpu_chip_count: 64,
                ..Attrs::default()
            },
            h(8),
            &[
                (0, false, None),
                (12, true, None),
                (130, false, Some(Cause::Preemption)),
                (150, true, None),
                (300, false, Some(Cause::Preemption)),
                (310, true, None),
            ],
            h(1),
        ),
        ended_entity(
            EntityKind::NodePools,
            "pool-retired",
            Attrs {
                node_pool_name: "pool-retired".into(),
                tpu_accelerator: "tpu-v5-lite-podslice".into(),
                tpu_topology: "16x16".into(),
                tpu_chip_count: 256,
                ..Attrs::default()
            },
            h(40),
            &[(0, false, None), (20, true, None)],
            h(26),
        ),
        ended_entity(
            EntityKind::Slices,
            "slice-old-0",
            Attrs {
                slice_name: "slice-old-0".into(),
                tpu_accelerator: "tpu-v6e-slice".into(),
                ..Attrs::default()
            },
            h(5),
            &[
                (0, false, None),
                (3, true, None),
                (60, false, Some(Cause::SliceDegraded)),
                (90, true, None),
            ],
            h(2),
        ),
    ]
}

/// A `file://` store whose archive holds `ended` (each in its day file).
pub fn archive_store(
    ended: &[megamon_core::archive::ArchivedEntity],
) -> (tempfile::TempDir, megamon_store::HistoryStore) {
    let dir = tempfile::tempdir().unwrap();
    for e in ended {
        let folder = dir.path().join("archive").join(e.kind.name());
        std::fs::create_dir_all(&folder).unwrap();
        let file = folder.join(megamon_core::archive::day_file_name(e.day()));
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(&e.to_line());
        std::fs::write(&file, text).unwrap();
    }
    let store = megamon_store::HistoryStore::open(dir.path().to_str().unwrap()).unwrap();
    (dir, store)
}
