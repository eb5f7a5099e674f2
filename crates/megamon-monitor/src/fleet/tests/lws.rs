//! LeaderWorkerSets.

use megamon_core::entity::lws::LeaderWorkerSetObject;

use super::*;

fn lws(uid: &str, replicas: u64, ready: u64, updating: bool) -> LeaderWorkerSetFacts {
    let obj: LeaderWorkerSetObject = serde_json::from_value(json!({
        "metadata": {"name": format!("lws-{uid}"), "namespace": "serving", "uid": uid},
        "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": 2, "workerTemplate": {"spec": {
            "nodeSelector": {"cloud.google.com/gke-tpu-topology": "2x4",
                             "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice"},
            "containers": [{"name": "w", "resources": {"limits": {"google.com/tpu": 8}}}]}}}},
        "status": {"readyReplicas": ready, "conditions": [
            {"type": "UpdateInProgress", "status": if updating { "True" } else { "False" }}]}
    }))
    .unwrap();
    LeaderWorkerSetFacts::from(&obj)
}

fn lws_fleet() -> Fleet {
    let mut s = settings(true, false);
    s.leader_worker_sets = true;
    let mut f = Fleet::new(s, BTreeMap::new());
    assert!(f.families().contains(&EntityKind::LeaderWorkerSets));
    f.apply_jobsets(Change::Reset(vec![]), t(0));
    f.apply_nodes(Change::Reset(vec![]), t(0));
    f.apply_leader_pods(Change::Reset(vec![]), t(0));
    assert!(!f.is_synced(), "waits for the LeaderWorkerSet list");
    f.apply_lws(Change::Reset(vec![]), t(0));
    assert!(f.is_synced());
    f
}

#[test]
fn rolling_update_is_planned_and_a_lost_group_is_an_interruption() {
    let mut f = lws_fleet();
    f.apply_lws(Change::Apply(lws("l1", 3, 0, false)), t(1));
    f.apply_lws(Change::Apply(lws("l1", 3, 3, false)), t(10));
    // A rolling update takes a group down: planned.
    f.apply_lws(Change::Apply(lws("l1", 3, 2, true)), t(20));
    f.apply_lws(Change::Apply(lws("l1", 3, 3, false)), t(30));
    // A group lost for real: an interruption; back: a recovery.
    f.apply_lws(Change::Apply(lws("l1", 3, 2, false)), t(40));
    f.apply_lws(Change::Apply(lws("l1", 3, 3, false)), t(55));
    assert_eq!(
        events(&f, EntityKind::LeaderWorkerSets, "l1"),
        [
            (false, false, t(1)),
            (true, false, t(10)),
            (false, true, t(20)),
            (true, false, t(30)),
            (false, false, t(40)),
            (true, false, t(55)),
        ]
    );
    let snap = f.snapshot(t(60));
    let e = &snap.family(EntityKind::LeaderWorkerSets).unwrap().entities[0];
    assert_eq!(
        (e.summary.interruption_count, e.summary.recovery_count),
        (1, 1)
    );
    assert_eq!(e.summary.mean_down_time_between_recovery.as_secs(), 15);
    assert_eq!(e.upness.attrs.lws_name, "lws-l1");
    assert_eq!(e.upness.attrs.tpu_chip_count, 3 * 2 * 8);
    f.apply_lws(Change::Delete("l1".into()), t(70));
    assert!(
        f.timelines(EntityKind::LeaderWorkerSets)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_lws_owns_slices() {
    let mut s = settings(true, true);
    s.leader_worker_sets = true;
    let mut f = Fleet::new(s, BTreeMap::new());
    f.apply_jobsets(Change::Reset(vec![]), t(0));
    f.apply_nodes(Change::Reset(vec![]), t(0));
    f.apply_leader_pods(Change::Reset(vec![]), t(0));
    f.apply_slices(Change::Reset(vec![]), t(0));
    f.apply_lws(Change::Reset(vec![lws("l1", 1, 1, false)]), t(0));
    let obj: megamon_core::entity::slice::SliceObject = serde_json::from_value(json!({
        "metadata": {"name": "s1", "labels": {
            "tpu-provisioner.cloud.google.com/owner-kind": "LeaderWorkerSet",
            "tpu-provisioner.cloud.google.com/owner-name": "lws-l1",
            "tpu-provisioner.cloud.google.com/owner-namespace": "serving"}},
        "spec": {"type": "tpu7x", "topology": "2x2x1"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap();
    f.apply_slices(Change::Apply(SliceFacts::from(&obj)), t(1));
    f.apply_slices(Change::Delete("s1".into()), t(2));
    assert_eq!(
        events(&f, EntityKind::Slices, "s1").last(),
        Some(&(false, false, t(2)))
    );
    // Scaled to zero: the LeaderWorkerSet no longer runs; the slice goes.
    f.apply_lws(Change::Apply(lws("l1", 0, 0, false)), t(3));
    assert!(f.timelines(EntityKind::Slices).unwrap().is_empty());
}
