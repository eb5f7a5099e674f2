use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use megamon_core::entity::jobset::{JobSetFacts, JobSetObject};
use megamon_core::entity::node::NodeObject;
use megamon_core::entity::nodepool::NodePoolFacts;
use megamon_core::entity::slice::{SliceFacts, SliceObject};
use megamon_core::{EntityKind, State, Timeline, Timelines, UpEvent};
use serde_json::json;

use super::*;

mod causes;
mod ended;
mod jobsets;
mod lws;
mod node_pools;
mod publish;
mod scheduling;
mod slices;

/// The old per-source entry points, for shorter tests.
trait Feed {
    fn apply_jobsets(&mut self, c: Change<JobSetFacts>, at: Timestamp);
    fn apply_nodes(&mut self, c: Change<NodeObject>, at: Timestamp);
    fn apply_leader_pods(&mut self, c: Change<LeaderPod>, at: Timestamp);
    fn apply_slices(&mut self, c: Change<SliceFacts>, at: Timestamp);
    fn apply_lws(&mut self, c: Change<LeaderWorkerSetFacts>, at: Timestamp);
    fn set_node_pools(&mut self, pools: Vec<NodePoolFacts>, at: Timestamp);
}

impl Feed for Fleet {
    fn apply_jobsets(&mut self, c: Change<JobSetFacts>, at: Timestamp) {
        self.apply(Update::JobSets(c), at)
    }
    fn apply_nodes(&mut self, c: Change<NodeObject>, at: Timestamp) {
        self.apply(Update::Nodes(c), at)
    }
    fn apply_leader_pods(&mut self, c: Change<LeaderPod>, at: Timestamp) {
        self.apply(Update::LeaderPods(c), at)
    }
    fn apply_slices(&mut self, c: Change<SliceFacts>, at: Timestamp) {
        self.apply(Update::Slices(c), at)
    }
    fn apply_lws(&mut self, c: Change<LeaderWorkerSetFacts>, at: Timestamp) {
        self.apply(Update::LeaderWorkerSets(c), at)
    }
    fn set_node_pools(&mut self, pools: Vec<NodePoolFacts>, at: Timestamp) {
        self.apply(Update::NodePools(pools), at)
    }
}

fn t(secs: i64) -> Timestamp {
    let base: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    base + SignedDuration::from_secs(secs)
}

fn settings(simulated: bool, slices: bool) -> FleetSettings {
    FleetSettings {
        unknown_count_threshold: 0.1,
        node_unknown_grace: std::time::Duration::from_secs(180),
        slice_enabled: slices,
        simulated_pools: simulated,
        leader_worker_sets: false,
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
fn restart_continues_stored_history_and_drops_the_departed() {
    let mut history = BTreeMap::new();
    let mut jobsets = Timelines::new();
    jobsets.insert(
        "u1".into(),
        Timeline::from_events(vec![UpEvent::down(t(0)), UpEvent::up(t(10))]),
    );
    jobsets.insert(
        "gone".into(),
        Timeline::from_events(vec![UpEvent::down(t(0))]),
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
