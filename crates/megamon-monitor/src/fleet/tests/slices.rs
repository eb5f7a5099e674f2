//! Slices and their deletion tracking.

use super::*;

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
    f.apply_jobsets(Change::Reset(vec![]), t(0));
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

fn owned_slice(name: &str, owner: &str, ready: &str) -> SliceFacts {
    let obj: SliceObject = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "tpu-provisioner.cloud.google.com/owner-kind": "JobSet",
            "tpu-provisioner.cloud.google.com/owner-name": owner,
            "tpu-provisioner.cloud.google.com/owner-namespace": "default"
        }},
        "spec": {"type": "tpu7x", "topology": "4x4x4"},
        "status": {"conditions": [{"type": "Ready", "status": ready}]}
    }))
    .unwrap();
    SliceFacts::from(&obj)
}

/// A synced fleet with slices and JobSet `js-u1` (uid u1) running.
fn slice_fleet() -> Fleet {
    let mut f = Fleet::new(settings(true, true), BTreeMap::new());
    f.apply_jobsets(Change::Reset(vec![jobset("u1", 2, json!([]))]), t(0));
    f.apply_nodes(Change::Reset(vec![]), t(0));
    f.apply_leader_pods(Change::Reset(vec![]), t(0));
    f.apply_slices(Change::Reset(vec![]), t(0));
    assert!(f.is_synced());
    f
}

fn slice_entity(f: &mut Fleet, name: &str, now: Timestamp) -> Option<megamon_core::EntitySnapshot> {
    let snap = f.snapshot(now);
    snap.family(EntityKind::Slices)?
        .entities
        .iter()
        .find(|e| e.key == name)
        .cloned()
}

#[test]
fn slice_repair_failure_delete_recreate_is_one_interruption_and_one_recovery() {
    // Upstream v1.2.0's "slice repair": up, fails, deleted while its JobSet
    // runs, recreated, up again.
    let mut f = slice_fleet();
    f.apply_slices(Change::Apply(owned_slice("s1", "js-u1", "True")), t(1));
    f.apply_slices(Change::Apply(owned_slice("s1", "js-u1", "False")), t(2));
    f.apply_slices(Change::Delete("s1".into()), t(3));
    // Still there, down, with its labels, while it is missing.
    let e = slice_entity(&mut f, "s1", t(4)).expect("kept while its owner runs");
    assert!(!e.up);
    assert_eq!(e.upness.status, "Deleted");
    assert_eq!(e.upness.attrs.tpu_topology, "4x4x4");
    f.apply_slices(Change::Apply(owned_slice("s1", "js-u1", "False")), t(5));
    f.apply_slices(Change::Apply(owned_slice("s1", "js-u1", "True")), t(6));
    assert_eq!(
        events(&f, EntityKind::Slices, "s1"),
        [
            (false, false, t(1)),
            (true, false, t(1)),
            (false, false, t(2)),
            (true, false, t(6)),
        ]
    );
    let e = slice_entity(&mut f, "s1", t(7)).unwrap();
    assert!(e.up);
    assert_eq!(
        (e.summary.interruption_count, e.summary.recovery_count),
        (1, 1)
    );
    assert_eq!(e.summary.latest_down_time_between_recovery.as_secs(), 4);
}

#[test]
fn a_degraded_slice_records_its_ready_reason() {
    use megamon_core::cause::Cause;
    let mut f = slice_fleet();
    f.apply_slices(Change::Apply(owned_slice("s1", "js-u1", "True")), t(1));
    let mut degraded = owned_slice("s1", "js-u1", "False");
    degraded.ready_detail = "Degraded: 2 chips unhealthy".into();
    f.apply_slices(Change::Apply(degraded), t(2));
    let e = slice_entity(&mut f, "s1", t(3)).unwrap();
    assert_eq!(e.causes.get(Cause::SliceDegraded), 1);
    let timeline = f.timelines(EntityKind::Slices).unwrap().get("s1").unwrap();
    assert_eq!(
        timeline.events()[2].detail.as_deref(),
        Some("Ready False: Degraded: 2 chips unhealthy")
    );
}

#[test]
fn a_slice_deleted_while_up_is_an_interruption_and_stays_down() {
    let mut f = slice_fleet();
    f.apply_slices(Change::Apply(owned_slice("s1", "js-u1", "True")), t(1));
    f.apply_slices(Change::Delete("s1".into()), t(5));
    let e = slice_entity(&mut f, "s1", t(100)).unwrap();
    assert!(!e.up && !e.upness.expected_down);
    assert_eq!(e.summary.interruption_count, 1);
    assert_eq!(e.causes.get(megamon_core::cause::Cause::SliceDeleted), 1);
    assert_eq!(e.summary.down_time.as_secs(), 95);
    // The owner completes: the deleted slice goes for good.
    let done = json!([{"type": "Completed", "status": "True"}]);
    f.apply_jobsets(Change::Apply(jobset("u1", 0, done)), t(101));
    assert!(slice_entity(&mut f, "s1", t(102)).is_none());
    assert!(f.timelines(EntityKind::Slices).unwrap().get("s1").is_none());
    assert_eq!(f.take_changed_slice_owners(), Some(BTreeMap::new()));
}

#[test]
fn a_slice_of_an_ended_owner_is_planned_down_and_its_deletion_removes_it() {
    let mut f = slice_fleet();
    f.apply_slices(Change::Apply(owned_slice("s1", "js-u1", "True")), t(1));
    let done = json!([{"type": "Completed", "status": "True"}]);
    f.apply_jobsets(Change::Apply(jobset("u1", 0, done)), t(2));
    // The owner ended: the slice is down on purpose, not interrupted.
    let e = slice_entity(&mut f, "s1", t(3)).unwrap();
    assert!(!e.up && e.upness.expected_down);
    assert_eq!(e.summary.interruption_count, 0);
    f.apply_slices(Change::Delete("s1".into()), t(4));
    assert!(slice_entity(&mut f, "s1", t(5)).is_none());
    assert!(f.timelines(EntityKind::Slices).unwrap().is_empty());
}

#[test]
fn a_slice_whose_owner_is_missing_is_planned_down_and_an_unowned_one_is_not() {
    let mut f = slice_fleet();
    f.apply_slices(
        Change::Apply(owned_slice("s1", "no-such-jobset", "True")),
        t(1),
    );
    let e = slice_entity(&mut f, "s1", t(2)).unwrap();
    assert!(!e.up && e.upness.expected_down);
    let obj: SliceObject = serde_json::from_value(json!({
        "metadata": {"name": "free"}, "spec": {"type": "tpu7x", "topology": "2x2x1"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap();
    f.apply_slices(Change::Apply(SliceFacts::from(&obj)), t(1));
    assert!(slice_entity(&mut f, "free", t(2)).unwrap().up);
    // Deleting an unowned slice is planned: it is gone at once.
    f.apply_slices(Change::Delete("free".into()), t(3));
    assert!(slice_entity(&mut f, "free", t(4)).is_none());
}

#[test]
fn the_owner_map_survives_a_restart() {
    let mut f = slice_fleet();
    f.apply_slices(Change::Apply(owned_slice("s1", "js-u1", "True")), t(1));
    let owners = f
        .take_changed_slice_owners()
        .expect("a new slice with an owner");
    assert_eq!(owners["s1"].name, "js-u1");
    assert_eq!(f.take_changed_slice_owners(), None, "taken once");
    let stored = f.timelines(EntityKind::Slices).unwrap().clone();

    // Restart: the slice was deleted while the monitor was away; its owner runs.
    let mut history = BTreeMap::new();
    history.insert(EntityKind::Slices, stored);
    let mut f = Fleet::new(settings(true, true), history).with_slice_owners(owners.clone());
    f.apply_jobsets(Change::Reset(vec![jobset("u1", 2, json!([]))]), t(50));
    f.apply_nodes(Change::Reset(vec![]), t(50));
    f.apply_leader_pods(Change::Reset(vec![]), t(50));
    f.apply_slices(Change::Reset(vec![]), t(50));
    let e = slice_entity(&mut f, "s1", t(60)).expect("kept: its owner runs");
    assert!(!e.up);
    assert_eq!(e.upness.attrs.slice_owner_name, "js-u1");
    assert_eq!(e.summary.interruption_count, 1);

    // Without the map it would be forgotten.
    let mut history = BTreeMap::new();
    history.insert(
        EntityKind::Slices,
        f.timelines(EntityKind::Slices).unwrap().clone(),
    );
    let mut g = Fleet::new(settings(true, true), history);
    g.apply_jobsets(Change::Reset(vec![jobset("u1", 2, json!([]))]), t(50));
    g.apply_slices(Change::Reset(vec![]), t(50));
    assert!(g.timelines(EntityKind::Slices).unwrap().is_empty());
}

#[test]
fn jobsets_carry_no_topology_when_slices_are_enabled() {
    let mut f = slice_fleet();
    let snap = f.snapshot(t(1));
    let js = &snap.family(EntityKind::JobSets).unwrap().entities[0];
    assert_eq!(js.upness.attrs.tpu_topology, "");
    assert_eq!(js.upness.attrs.tpu_chip_count, 16);
    let mut f = synced_fleet(true);
    f.apply_jobsets(Change::Apply(jobset("u1", 2, json!([]))), t(1));
    let snap = f.snapshot(t(1));
    let js = &snap.family(EntityKind::JobSets).unwrap().entities[0];
    assert_eq!(js.upness.attrs.tpu_topology, "2x4");
}
