//! Node pools and their nodes.

use super::*;

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
fn pools_wait_for_nodes_so_a_restart_is_not_an_outage() {
    let mut history = BTreeMap::new();
    let mut pools = Timelines::new();
    pools.observe("pool-a", State::UP, t(0));
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
fn a_pool_in_error_is_failed_and_provisioning_succeeds_later() {
    let mut f = synced_fleet(false);
    let pool = |status: &str| NodePoolFacts {
        name: "pool-a".into(),
        tpu_topology: "2x4".into(),
        machine_type: "ct5lp-hightpu-4t".into(),
        status: status.into(),
        ..Default::default()
    };
    f.set_node_pools(vec![pool("PROVISIONING")], t(10));
    f.set_node_pools(vec![pool("ERROR")], t(20));
    let snap = f.snapshot(t(25));
    let e = &snap.family(EntityKind::NodePools).unwrap().entities[0];
    assert_eq!(
        e.summary.provisioning_state,
        megamon_core::ProvisioningState::Failed
    );
    assert_eq!(e.summary.provisioning_duration.as_secs(), 10);
    f.set_node_pools(vec![pool("RUNNING")], t(30));
    f.apply_nodes(
        Change::Reset(vec![
            node("a", "pool-a", "True"),
            node("b", "pool-a", "True"),
        ]),
        t(40),
    );
    let snap = f.snapshot(t(50));
    let e = &snap.family(EntityKind::NodePools).unwrap().entities[0];
    assert!(e.up);
    assert_eq!(
        e.summary.provisioning_state,
        megamon_core::ProvisioningState::Success
    );
    assert_eq!(e.summary.provisioning_duration.as_secs(), 30);
    assert_eq!(e.summary.interruption_count, 0);
}

#[test]
fn a_poll_re_evaluates_only_the_pools_it_changed() {
    let mut f = synced_fleet(false);
    let pool = |name: &str, status: &str| NodePoolFacts {
        name: name.into(),
        tpu_topology: "2x4".into(),
        machine_type: "ct5lp-hightpu-4t".into(),
        status: status.into(),
        ..Default::default()
    };
    let nodes = ["pool-a", "pool-b", "pool-c"]
        .into_iter()
        .flat_map(|p| (0..2).map(move |i| node(&format!("{p}-{i}"), p, "True")))
        .collect();
    f.apply_nodes(Change::Reset(nodes), t(1));
    let all = |status_b: &str| {
        vec![
            pool("pool-a", "RUNNING"),
            pool("pool-b", status_b),
            pool("pool-c", "RUNNING"),
        ]
    };
    f.set_node_pools(all("RUNNING"), t(2));
    let before = f.snapshot(t(3));
    let pools = |s: &Snapshot| s.family(EntityKind::NodePools).unwrap().entities.clone();
    // The same answer again: nothing re-evaluated, the schedule kept.
    f.set_node_pools(all("RUNNING"), t(4));
    let same = f.snapshot_changes(t(5));
    assert!(
        pools(&before)
            .iter()
            .zip(&pools(&same))
            .all(|(a, b)| Arc::ptr_eq(a, b))
    );
    assert!(Arc::ptr_eq(&before.scheduling, &same.scheduling));
    // One pool changes: only it is evaluated again, and it goes down on purpose.
    f.set_node_pools(all("STOPPING"), t(6));
    let changed = f.snapshot_changes(t(7));
    let (old, new) = (pools(&same), pools(&changed));
    assert!(Arc::ptr_eq(&old[0], &new[0]) && Arc::ptr_eq(&old[2], &new[2]));
    assert!(!Arc::ptr_eq(&old[1], &new[1]));
    assert!(new[1].upness.expected_down && !new[1].up);
    assert_eq!(new[1], pools(&f.snapshot(t(7)))[1]);
    // A pool the API no longer lists is gone at the next poll.
    f.set_node_pools(
        vec![pool("pool-a", "RUNNING"), pool("pool-b", "STOPPING")],
        t(8),
    );
    let keys: Vec<String> = pools(&f.snapshot_changes(t(9)))
        .iter()
        .map(|e| e.key.clone())
        .collect();
    assert_eq!(keys, ["pool-a", "pool-b"]);
}
