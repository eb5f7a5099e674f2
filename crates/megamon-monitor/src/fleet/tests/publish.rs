//! Publishing what changed: the snapshot of changes against the full one.

use super::*;

fn leader(node: &str, job: &str) -> LeaderPod {
    LeaderPod {
        namespace: "default".into(),
        name: format!("{job}-0-0"),
        node_name: node.into(),
        job_name: format!("{job}-w-0"),
        jobset_name: job.into(),
    }
}

fn pool_nodes(pool: &str, ready: &str) -> Vec<NodeObject> {
    (0..4)
        .map(|i| node(&format!("{pool}-n{i}"), pool, ready))
        .collect()
}

/// Every entity of `s`, family by family: (kind, key, up, upness).
fn states(s: &Snapshot) -> Vec<(EntityKind, String, bool, Upness)> {
    s.families
        .iter()
        .flat_map(|f| {
            f.entities
                .iter()
                .map(|e| (f.kind, e.key.clone(), e.up, e.upness.clone()))
        })
        .collect()
}

#[test]
fn a_snapshot_of_changes_is_the_full_one_for_what_changed_and_shares_the_rest() {
    let mut f = synced_fleet(true);
    let mut nodes = Vec::new();
    for pool in ["pool-a", "pool-b", "pool-c", "pool-d"] {
        nodes.extend(pool_nodes(pool, "True"));
    }
    f.apply_nodes(Change::Reset(nodes), t(1));
    f.apply_jobsets(
        Change::Reset(vec![jobset("u1", 2, json!([])), jobset("u2", 2, json!([]))]),
        t(1),
    );
    f.apply_leader_pods(Change::Apply(leader("pool-a-n0", "js-u1")), t(1));
    let before = f.snapshot(t(10));
    assert_eq!(
        before.family(EntityKind::NodePools).unwrap().entities.len(),
        4
    );

    // Nothing changed: everything shared, scheduling too.
    let same = f.snapshot_changes(t(11));
    for (a, b) in before.families.iter().zip(&same.families) {
        assert!(
            a.entities
                .iter()
                .zip(&b.entities)
                .all(|(x, y)| Arc::ptr_eq(x, y))
        );
    }
    assert!(Arc::ptr_eq(&before.scheduling, &same.scheduling));

    // A node goes down, a pool appears, another goes, a JobSet goes, the
    // leader pod moves.
    f.apply_nodes(Change::Apply(node("pool-b-n1", "pool-b", "False")), t(20));
    for n in pool_nodes("pool-e", "True") {
        f.apply_nodes(Change::Apply(n), t(20));
    }
    for n in pool_nodes("pool-d", "True") {
        f.apply_nodes(Change::Delete(n.name), t(20));
    }
    f.apply_jobsets(Change::Delete("u2".into()), t(20));
    f.apply_leader_pods(Change::Apply(leader("pool-e-n0", "js-u1")), t(20));

    let changes = f.snapshot_changes(t(30));
    let full = f.snapshot(t(30));
    assert_eq!(states(&changes), states(&full), "the same entities, as up");
    assert_eq!(changes.scheduling, full.scheduling);
    assert_eq!(changes.scheduling["pool-e"].jobset_name, "js-u1");
    let pools = changes.family(EntityKind::NodePools).unwrap();
    let keys: Vec<&str> = pools.entities.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["pool-a", "pool-b", "pool-c", "pool-e"]);
    let old = |key: &str| {
        before
            .family(EntityKind::NodePools)
            .unwrap()
            .entities
            .iter()
            .find(|e| e.key == key)
            .unwrap()
            .clone()
    };
    // Untouched: shared, summaries as of the last full snapshot.
    assert!(Arc::ptr_eq(&pools.entities[0], &old("pool-a")));
    assert!(Arc::ptr_eq(&pools.entities[2], &old("pool-c")));
    // Touched: evaluated and summarised at the snapshot's time.
    let b = &pools.entities[1];
    assert!(!Arc::ptr_eq(b, &old("pool-b")));
    assert_eq!(
        **b,
        *full.family(EntityKind::NodePools).unwrap().entities[1]
    );
    assert_eq!(b.upness.ready_count, 3);
}

#[test]
fn a_relisted_family_is_published_whole() {
    let mut f = synced_fleet(true);
    f.apply_nodes(Change::Reset(pool_nodes("pool-a", "True")), t(1));
    let _ = f.snapshot(t(2));
    let mut nodes = pool_nodes("pool-b", "True");
    nodes.extend(pool_nodes("pool-c", "False"));
    f.apply_nodes(Change::Reset(nodes), t(3));
    let changes = f.snapshot_changes(t(4));
    let full = f.snapshot(t(4));
    assert_eq!(states(&changes), states(&full));
    assert_eq!(changes, full);
}

#[test]
fn the_aggregation_evaluates_once_what_observing_then_snapshotting_does() {
    let build = || {
        let mut f = synced_fleet(true);
        let mut nodes = pool_nodes("pool-a", "True");
        nodes.extend(pool_nodes("pool-b", "False"));
        f.apply_nodes(Change::Reset(nodes), t(1));
        f.apply_jobsets(Change::Reset(vec![jobset("u1", 2, json!([]))]), t(1));
        f.apply_nodes(Change::Apply(node("pool-a-n2", "pool-a", "Unknown")), t(5));
        f
    };
    let mut once = build();
    let mut twice = build();
    let at = t(500);
    let combined = once.observe_all_and_snapshot(at);
    twice.observe_all(at);
    let separate = twice.snapshot(at);
    assert_eq!(combined, separate);
    assert_eq!(once.transitions(), twice.transitions());
    for kind in once.families() {
        assert_eq!(once.timelines(kind), twice.timelines(kind));
    }
}

#[test]
fn aggregations_between_full_evaluations_are_the_full_snapshot() {
    // Pools of four 4-chip hosts, 4x4: up while all four are ready.
    let node = |name: &str, pool: &str, ready: &str| -> NodeObject {
        let mut n = node(name, pool, ready);
        n.labels.tpu_topology = Some("4x4".into());
        n
    };
    let mut f = synced_fleet(true);
    let nodes: Vec<NodeObject> = ["pool-a", "pool-b"]
        .into_iter()
        .flat_map(|p| (0..4).map(move |i| (p, i)))
        .map(|(p, i)| node(&format!("{p}-n{i}"), p, "True"))
        .collect();
    f.apply_nodes(Change::Reset(nodes), t(1));
    f.apply_jobsets(Change::Reset(vec![jobset("u1", 2, json!([]))]), t(1));
    let first = f.observe_all_and_snapshot(t(100));
    // A pool goes down between two aggregations less than a minute apart:
    // the second evaluates only that, and brings every summary up to date.
    f.apply_nodes(Change::Apply(node("pool-b-n1", "pool-b", "False")), t(105));
    let second = f.observe_all_and_snapshot(t(110));
    let up_time = |s: &Snapshot, key: &str| {
        s.family(EntityKind::NodePools)
            .and_then(|f| f.entities.iter().find(|e| e.key == key))
            .map(|e| (e.up, e.summary.up_time))
    };
    assert_eq!(
        up_time(&first, "pool-a"),
        Some((true, std::time::Duration::from_secs(99)))
    );
    assert_eq!(
        up_time(&second, "pool-a"),
        Some((true, std::time::Duration::from_secs(109)))
    );
    assert_eq!(
        up_time(&second, "pool-b"),
        Some((false, std::time::Duration::from_secs(104)))
    );
    let third = f.observe_all_and_snapshot(t(120));
    assert_eq!(third, f.snapshot(t(120)));
    // A minute after the last full evaluation, another one.
    let full = f.observe_all_and_snapshot(t(161));
    assert_eq!(full, f.snapshot(t(161)));
}
