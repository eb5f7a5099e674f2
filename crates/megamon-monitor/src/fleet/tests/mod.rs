use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use megamon_core::entity::jobset::{JobSetFacts, JobSetObject};
use megamon_core::entity::node::NodeObject;
use megamon_core::entity::nodepool::NodePoolFacts;
use megamon_core::entity::slice::{SliceFacts, SliceObject};
use megamon_core::{EntityKind, Timeline, Timelines, UpEvent};
use serde_json::json;

use super::*;

fn t(secs: i64) -> Timestamp {
    let base: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    base + SignedDuration::from_secs(secs)
}

fn settings(simulated: bool, slices: bool) -> FleetSettings {
    FleetSettings {
        unknown_count_threshold: 0.1,
        node_unknown_grace: Duration::from_secs(180),
        slice_enabled: slices,
        simulated_pools: simulated,
    }
}

fn node(name: &str, pool: &str, ready: &str) -> NodeObject {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "cloud.google.com/gke-nodepool": pool,
            "cloud.google.com/gke-tpu-topology": "16x16",
            "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
            "cloud.google.com/gke-accelerator-count": "4",
        }},
        "status": {"conditions": [{"type": "Ready", "status": ready}]}
    }))
    .unwrap()
}

fn jobset_node(name: &str, js: &str, ready: &str) -> NodeObject {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "google.com/tpu-provisioner-jobset-namespace": "default",
            "google.com/tpu-provisioner-jobset-name": js,
        }},
        "status": {"conditions": [{"type": "Ready", "status": ready}]}
    }))
    .unwrap()
}

fn jobset(uid: &str, ready: u64, conditions: serde_json::Value) -> JobSetFacts {
    let obj: JobSetObject = serde_json::from_value(json!({
        "metadata": {"name": format!("js-{uid}"), "namespace": "default", "uid": uid},
        "spec": {"replicatedJobs": [{"name": "w", "replicas": 2, "template": {"spec": {
            "parallelism": 2,
            "template": {"spec": {"nodeSelector": {"cloud.google.com/gke-tpu-topology": "2x4"}}}}}}]},
        "status": {"replicatedJobsStatus": [{"ready": ready}], "conditions": conditions}
    }))
    .unwrap();
    JobSetFacts::from(&obj)
}

fn synced_fleet(simulated: bool) -> Fleet {
    let mut f = Fleet::new(settings(simulated, false), BTreeMap::new());
    f.apply_jobsets(Change::Reset(vec![]), t(0));
    f.apply_nodes(Change::Reset(vec![]), t(0));
    f.apply_leader_pods(Change::Reset(vec![]), t(0));
    if !simulated {
        f.set_node_pools(vec![], t(0));
    }
    f
}

fn events(f: &Fleet, kind: EntityKind, key: &str) -> Vec<(bool, bool, Timestamp)> {
    f.timelines(kind)
        .and_then(|t| t.get(key))
        .map(|t| {
            t.events()
                .iter()
                .map(|e| (e.up, e.expected_down, e.timestamp))
                .collect()
        })
        .unwrap_or_default()
}

fn up_of(f: &mut Fleet, kind: EntityKind, key: &str, now: Timestamp) -> Option<bool> {
    let snap = f.snapshot(now);
    snap.family(kind)?
        .entities
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.up)
}

#[test]
fn nothing_is_recorded_before_the_sources_are_listed() {
    let mut f = Fleet::new(settings(true, false), BTreeMap::new());
    f.apply_jobsets(Change::Apply(jobset("u1", 0, json!([]))), t(1));
    assert!(f.timelines(EntityKind::JobSets).unwrap().is_empty());
    assert!(!f.is_synced());
    // Listing JobSets completes the JobSets family: first sight at list time.
    f.apply_jobsets(Change::Reset(vec![jobset("u1", 0, json!([]))]), t(2));
    assert_eq!(
        events(&f, EntityKind::JobSets, "u1"),
        [(false, false, t(2))]
    );
    // JobSet nodes also need the node list.
    assert!(f.timelines(EntityKind::JobSetNodes).unwrap().is_empty());
    f.apply_nodes(Change::Reset(vec![]), t(3));
    assert_eq!(
        events(&f, EntityKind::JobSetNodes, "u1"),
        [(false, false, t(3))]
    );
    assert!(!f.is_synced());
    f.apply_leader_pods(Change::Reset(vec![]), t(3));
    assert!(f.is_synced());
}

#[test]
fn node_pool_follows_its_nodes_with_the_unknown_threshold() {
    // Issue scenario 1: 64 nodes of a 16x16 pool, 4 chips per node, threshold 0.1.
    let mut f = synced_fleet(true);
    for i in 0..63 {
        f.apply_nodes(
            Change::Apply(node(&format!("n{i:02}"), "pool-a", "True")),
            t(10),
        );
    }
    assert_eq!(
        up_of(&mut f, EntityKind::NodePools, "pool-a", t(10)),
        Some(false)
    );
    f.apply_nodes(Change::Apply(node("n63", "pool-a", "True")), t(20));
    assert_eq!(
        up_of(&mut f, EntityKind::NodePools, "pool-a", t(20)),
        Some(true)
    );
    let snap = f.snapshot(t(20));
    let pool = &snap.family(EntityKind::NodePools).unwrap().entities[0];
    assert_eq!(pool.upness.expected_count, 64);
    assert_eq!(pool.upness.attrs.tpu_chip_count, 256);
    // 10 go Unknown: 10 > round(6.4) → down, an interruption at the 10th event.
    for i in 0..10 {
        f.apply_nodes(
            Change::Apply(node(&format!("n{i:02}"), "pool-a", "Unknown")),
            t(30 + i),
        );
    }
    assert_eq!(
        up_of(&mut f, EntityKind::NodePools, "pool-a", t(40)),
        Some(false)
    );
    // 4 come back: 6 Unknown ≤ 6 → up again.
    for i in 0..4 {
        f.apply_nodes(
            Change::Apply(node(&format!("n{i:02}"), "pool-a", "True")),
            t(50 + i),
        );
    }
    assert_eq!(
        up_of(&mut f, EntityKind::NodePools, "pool-a", t(60)),
        Some(true)
    );
    assert_eq!(
        events(&f, EntityKind::NodePools, "pool-a"),
        [
            (false, false, t(10)),
            (true, false, t(20)),
            (false, false, t(36)), // the 7th Unknown node (6 are tolerated)
            (true, false, t(53)),  // back to 6 Unknown
        ]
    );
    let s = f.snapshot(t(60));
    let summary = s.family(EntityKind::NodePools).unwrap().entities[0].summary;
    assert_eq!(summary.interruption_count, 1);
    assert_eq!(summary.recovery_count, 1);
}

#[test]
fn unknown_nodes_stop_counting_after_the_grace_period_exactly() {
    let mut f = synced_fleet(true);
    for i in 0..64 {
        f.apply_nodes(
            Change::Apply(node(&format!("n{i:02}"), "pool-a", "True")),
            t(0),
        );
    }
    for i in 0..3 {
        f.apply_nodes(
            Change::Apply(node(&format!("n{i:02}"), "pool-a", "Unknown")),
            t(100),
        );
    }
    assert_eq!(
        up_of(&mut f, EntityKind::NodePools, "pool-a", t(100)),
        Some(true)
    );
    assert_eq!(f.next_expiry(), Some(t(280)));
    f.expire_unknown(t(279));
    assert_eq!(events(&f, EntityKind::NodePools, "pool-a").len(), 2);
    f.expire_unknown(t(500));
    let ev = events(&f, EntityKind::NodePools, "pool-a");
    assert_eq!(ev.last(), Some(&(false, false, t(280))));
    assert_eq!(f.next_expiry(), None);
}

#[test]
fn a_relist_of_the_same_state_records_nothing() {
    let mut f = synced_fleet(true);
    let nodes: Vec<_> = (0..64)
        .map(|i| node(&format!("n{i:02}"), "pool-a", "True"))
        .collect();
    f.apply_nodes(Change::Reset(nodes.clone()), t(1));
    f.apply_jobsets(Change::Reset(vec![jobset("u1", 2, json!([]))]), t(1));
    let before = f.transitions();
    f.apply_nodes(Change::Reset(nodes), t(100));
    f.apply_jobsets(Change::Reset(vec![jobset("u1", 2, json!([]))]), t(100));
    f.observe_all(t(101));
    assert_eq!(f.transitions(), before);
}

#[test]
fn a_relist_removes_what_was_deleted_meanwhile() {
    let mut f = synced_fleet(true);
    f.apply_jobsets(Change::Apply(jobset("u1", 2, json!([]))), t(1));
    f.apply_jobsets(Change::Apply(jobset("u2", 2, json!([]))), t(1));
    f.apply_jobsets(Change::Reset(vec![jobset("u2", 2, json!([]))]), t(5));
    let keys: Vec<_> = f.timelines(EntityKind::JobSets).unwrap().keys().collect();
    assert_eq!(keys, ["u2"]);
}

#[test]
fn jobset_lifecycle() {
    let mut f = synced_fleet(true);
    f.apply_jobsets(Change::Apply(jobset("u1", 0, json!([]))), t(1));
    f.apply_jobsets(Change::Apply(jobset("u1", 2, json!([]))), t(2));
    f.apply_jobsets(Change::Apply(jobset("u1", 1, json!([]))), t(3));
    f.apply_jobsets(Change::Apply(jobset("u1", 2, json!([]))), t(4));
    let done = json!([{"type": "Completed", "status": "True"}]);
    f.apply_jobsets(Change::Apply(jobset("u1", 0, done)), t(5));
    assert_eq!(
        events(&f, EntityKind::JobSets, "u1"),
        [
            (false, false, t(1)),
            (true, false, t(2)),
            (false, false, t(3)),
            (true, false, t(4)),
            (false, true, t(5)),
        ]
    );
    let s = f.snapshot(t(6));
    let e = &s.family(EntityKind::JobSets).unwrap().entities[0];
    assert_eq!(e.summary.interruption_count, 1);
    assert_eq!(e.summary.recovery_count, 1);
    assert_eq!(e.upness.status, "Completed");
    assert_eq!(e.upness.attrs.tpu_chip_count, 16);
    f.apply_jobsets(Change::Delete("u1".into()), t(7));
    assert!(f.timelines(EntityKind::JobSets).unwrap().is_empty());
    assert!(f.timelines(EntityKind::JobSetNodes).unwrap().is_empty());
    assert!(
        f.snapshot(t(8))
            .family(EntityKind::JobSets)
            .unwrap()
            .entities
            .is_empty()
    );
}

#[test]
fn jobset_nodes_count_provisioned_nodes() {
    let mut f = synced_fleet(true);
    f.apply_jobsets(Change::Apply(jobset("u1", 0, json!([]))), t(1));
    for i in 0..4 {
        f.apply_nodes(
            Change::Apply(jobset_node(&format!("n{i}"), "js-u1", "True")),
            t(2 + i),
        );
    }
    // 2 replicas × parallelism 2 = 4 nodes; up when the 4th is ready.
    assert_eq!(
        events(&f, EntityKind::JobSetNodes, "u1"),
        [(false, false, t(1)), (true, false, t(5))]
    );
    f.apply_nodes(Change::Delete("n0".into()), t(9));
    assert_eq!(
        events(&f, EntityKind::JobSetNodes, "u1").last(),
        Some(&(false, false, t(9)))
    );
}

#[test]
fn restart_continues_stored_history_and_drops_the_departed() {
    let mut history = BTreeMap::new();
    let mut jobsets = Timelines::new();
    jobsets.insert(
        "u1".into(),
        Timeline::from_events(vec![
            UpEvent {
                up: false,
                expected_down: false,
                timestamp: t(0),
            },
            UpEvent {
                up: true,
                expected_down: false,
                timestamp: t(10),
            },
        ]),
    );
    jobsets.insert(
        "gone".into(),
        Timeline::from_events(vec![UpEvent {
            up: false,
            expected_down: false,
            timestamp: t(0),
        }]),
    );
    history.insert(EntityKind::JobSets, jobsets);
    let mut f = Fleet::new(settings(true, false), history);
    // Before the list, stored history is kept as it is.
    assert_eq!(f.timelines(EntityKind::JobSets).unwrap().len(), 2);
    f.apply_jobsets(Change::Reset(vec![jobset("u1", 2, json!([]))]), t(100));
    // Still up: nothing new recorded; the departed one is gone.
    assert_eq!(
        events(&f, EntityKind::JobSets, "u1"),
        [(false, false, t(0)), (true, false, t(10))]
    );
    assert!(
        f.timelines(EntityKind::JobSets)
            .unwrap()
            .get("gone")
            .is_none()
    );
    assert_eq!(f.dirty(), [EntityKind::JobSets]);
}

#[test]
fn pools_wait_for_nodes_so_a_restart_is_not_an_outage() {
    let mut history = BTreeMap::new();
    let mut pools = Timelines::new();
    pools.observe("pool-a", true, false, t(0));
    history.insert(EntityKind::NodePools, pools);
    let mut f = Fleet::new(settings(false, false), history);
    let gke = NodePoolFacts {
        name: "pool-a".into(),
        tpu_topology: "2x4".into(),
        machine_type: "ct5lp-hightpu-4t".into(),
        status: "RUNNING".into(),
        ..Default::default()
    };
    // GKE answers first: no nodes yet, but nothing is recorded.
    f.set_node_pools(vec![gke.clone()], t(50));
    assert_eq!(events(&f, EntityKind::NodePools, "pool-a").len(), 2);
    f.apply_nodes(
        Change::Reset(vec![
            node("a", "pool-a", "True"),
            node("b", "pool-a", "True"),
        ]),
        t(51),
    );
    assert_eq!(events(&f, EntityKind::NodePools, "pool-a").len(), 2);
    assert_eq!(f.transitions(), 0);
    // A pool going away on purpose is planned; then it is gone.
    let deleting = NodePoolFacts {
        status: "DELETING".into(),
        ..gke
    };
    f.set_node_pools(vec![deleting], t(60));
    assert_eq!(
        events(&f, EntityKind::NodePools, "pool-a").last(),
        Some(&(false, true, t(60)))
    );
    f.set_node_pools(vec![], t(70));
    assert!(f.timelines(EntityKind::NodePools).unwrap().is_empty());
}

#[test]
fn nodes_of_unknown_pools_are_ignored_and_non_tpu_pools_skipped() {
    let mut f = synced_fleet(false);
    let cpu = NodePoolFacts {
        name: "cpu".into(),
        machine_type: "n2-standard-8".into(),
        ..Default::default()
    };
    f.set_node_pools(vec![cpu], t(1));
    f.apply_nodes(Change::Apply(node("x", "not-in-api", "True")), t(2));
    let snap = f.snapshot(t(3));
    assert!(
        snap.family(EntityKind::NodePools)
            .unwrap()
            .entities
            .is_empty()
    );
}

#[test]
fn slices_replace_jobset_nodes_when_enabled() {
    let mut f = Fleet::new(settings(true, true), BTreeMap::new());
    assert_eq!(
        f.families(),
        [
            EntityKind::JobSets,
            EntityKind::NodePools,
            EntityKind::Slices
        ]
    );
    let slice = |status: &str| {
        let obj: SliceObject = serde_json::from_value(json!({
            "metadata": {"name": "s1"},
            "spec": {"type": "tpu-v6e-slice", "topology": "4x4"},
            "status": {"conditions": [{"type": "Ready", "status": status}]}
        }))
        .unwrap();
        SliceFacts::from(&obj)
    };
    f.apply_slices(Change::Reset(vec![slice("False")]), t(1));
    f.apply_slices(Change::Apply(slice("True")), t(2));
    f.apply_slices(Change::Apply(slice("Unknown")), t(3)); // threshold 0.1 of 1 → 0 unknown allowed
    assert_eq!(
        events(&f, EntityKind::Slices, "s1"),
        [
            (false, false, t(1)),
            (true, false, t(2)),
            (false, false, t(3))
        ]
    );
    assert!(f.snapshot(t(4)).family(EntityKind::JobSetNodes).is_none());
}

#[test]
fn scheduling_maps_leader_pods_to_pools() {
    let mut f = synced_fleet(true);
    f.apply_nodes(Change::Apply(node("n1", "pool-a", "True")), t(1));
    let pod = LeaderPod {
        namespace: "default".into(),
        name: "js-w-0-0-abc".into(),
        node_name: "n1".into(),
        job_name: "js-w-0".into(),
        jobset_name: "js".into(),
    };
    f.apply_leader_pods(Change::Apply(pod.clone()), t(2));
    let sched = f.snapshot(t(3)).scheduling;
    assert_eq!(sched["pool-a"].job_name, "js-w-0");
    assert_eq!(sched["pool-a"].jobset_name, "js");
    assert_eq!(f.job_placements()[0].pool, "pool-a");
    // The pool disappears with its last node: forgotten.
    f.apply_nodes(Change::Delete("n1".into()), t(4));
    assert!(f.snapshot(t(5)).scheduling.is_empty());
    f.apply_leader_pods(Change::Delete(pod.key()), t(6));
    assert!(f.job_placements().is_empty());
}
