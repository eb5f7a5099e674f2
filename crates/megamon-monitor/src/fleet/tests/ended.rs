//! Ended entities leave the timelines for the archive (SPEC §3.4).

use super::*;

#[test]
fn a_deleted_jobset_leaves_for_the_archive_with_its_labels_and_summary() {
    let mut f = synced_fleet(true);
    f.apply_jobsets(Change::Apply(jobset("u1", 0, json!([]))), t(1));
    f.apply_jobsets(Change::Apply(jobset("u1", 2, json!([]))), t(2));
    f.apply_jobsets(Change::Apply(jobset("u1", 1, json!([]))), t(3));
    f.apply_jobsets(Change::Apply(jobset("u1", 2, json!([]))), t(4));
    // Its labels are kept with its timeline (and stored).
    let stored = f.timelines(EntityKind::JobSets).unwrap().get("u1").unwrap();
    assert_eq!(
        stored.attrs().map(|a| a.jobset_name.as_str()),
        Some("js-u1")
    );
    assert!(f.take_ended().is_empty());
    f.apply_jobsets(Change::Delete("u1".into()), t(10));
    assert!(f.timelines(EntityKind::JobSets).unwrap().is_empty());
    let ended = f.take_ended();
    let jobsets: Vec<_> = ended
        .iter()
        .filter(|e| e.entity.kind == EntityKind::JobSets)
        .collect();
    assert_eq!(jobsets.len(), 1, "{ended:?}");
    let e = &jobsets[0];
    assert!(e.seen_ending);
    assert_eq!(e.entity.key, "u1");
    assert_eq!(e.entity.ended_at, t(10));
    assert_eq!(e.entity.attrs.jobset_name, "js-u1");
    assert_eq!(e.entity.attrs.tpu_chip_count, 16);
    assert_eq!(e.entity.timeline.events().len(), 4);
    assert_eq!(
        (
            e.entity.summary.interruption_count,
            e.entity.summary.recovery_count
        ),
        (1, 1)
    );
    assert_eq!(e.entity.summary.up_time.as_secs(), 1 + 6);
    // Taken once.
    assert!(f.take_ended().is_empty());
}

#[test]
fn a_stored_entity_found_gone_ended_unseen() {
    let mut history = BTreeMap::new();
    let mut jobsets = Timelines::new();
    for key in ["u1", "gone"] {
        jobsets.insert(
            key.into(),
            Timeline::from_events(vec![UpEvent::down(t(0)), UpEvent::up(t(10))]),
        );
    }
    history.insert(EntityKind::JobSets, jobsets);
    let mut f = Fleet::new(settings(true, false), history);
    f.apply_jobsets(Change::Reset(vec![jobset("u1", 2, json!([]))]), t(100));
    let ended = f.take_ended();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].entity.key, "gone");
    assert!(!ended[0].seen_ending, "found gone in stored history");
    // One that was seen alive after the load and then deleted was seen ending.
    f.apply_jobsets(Change::Delete("u1".into()), t(200));
    let ended = f.take_ended();
    assert!(ended.iter().all(|e| e.seen_ending), "{ended:?}");
}

#[test]
fn a_takeover_archives_what_the_stored_history_still_holds() {
    let mut f = synced_fleet(true);
    f.apply_jobsets(Change::Apply(jobset("u1", 2, json!([]))), t(1));
    // As a standby it saw u1 go; the leader it replaces had not written that.
    f.apply_jobsets(Change::Delete("u1".into()), t(5));
    let mut stored = Timelines::new();
    stored.insert(
        "u1".into(),
        Timeline::from_events(vec![UpEvent::down(t(0)), UpEvent::up(t(1))]),
    );
    f.take_over(BTreeMap::from([(EntityKind::JobSets, stored)]), t(6));
    let ended: Vec<_> = f
        .take_ended()
        .into_iter()
        .filter(|e| e.entity.kind == EntityKind::JobSets)
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    // The stored life (first seen at 0 by the old leader), ended at the takeover.
    assert_eq!(ended[0].entity.started(), t(0));
    assert_eq!(ended[0].entity.ended_at, t(6));
    assert!(!ended[0].seen_ending);
}
