//! JobSets and the nodes provisioned for them.

use super::*;

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
fn a_jobset_failed_before_it_was_ever_up_is_provisioning_failed() {
    let mut f = synced_fleet(true);
    f.apply_jobsets(Change::Apply(jobset("u1", 0, json!([]))), t(1));
    let failed = json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]);
    f.apply_jobsets(Change::Apply(jobset("u1", 0, failed)), t(31));
    let ev = f
        .timelines(EntityKind::JobSets)
        .unwrap()
        .get("u1")
        .unwrap()
        .events()
        .to_vec();
    assert_eq!(ev, [UpEvent::down(t(1)), UpEvent::down(t(31)).failed()]);
    let snap = f.snapshot(t(100));
    let e = &snap.family(EntityKind::JobSets).unwrap().entities[0];
    assert_eq!(
        e.summary.provisioning_state,
        megamon_core::ProvisioningState::Failed
    );
    assert_eq!(e.summary.provisioning_duration.as_secs(), 30);
    assert_eq!(e.summary.interruption_count, 0);
    assert!(e.upness.failed);
}
