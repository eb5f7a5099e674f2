//! Leader pods mapped to node pools.

use super::*;

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

fn blocked(mut node: NodeObject, block: &str, sub: &str) -> NodeObject {
    node.labels.blocks = megamon_core::entity::blocks::BlockLabels {
        block_id: block.into(),
        subblock_id: sub.into(),
        block_name: format!("res-{block}"),
        subblock_name: format!("res-{sub}"),
    };
    node.ready = Some(megamon_core::entity::node::ReadyStatus::True);
    node
}

#[test]
fn block_labels_on_pools_jobsets_and_scheduling() {
    let mut f = synced_fleet(true);
    // Two nodes in b1/s1, one in b2/s2: the pool takes the majority.
    f.apply_nodes(
        Change::Apply(blocked(node("n1", "pool-a", "True"), "b1", "s1")),
        t(1),
    );
    f.apply_nodes(
        Change::Apply(blocked(node("n2", "pool-a", "True"), "b1", "s1")),
        t(1),
    );
    f.apply_nodes(
        Change::Apply(blocked(node("n3", "pool-a", "True"), "b2", "s2")),
        t(1),
    );
    f.apply_jobsets(Change::Apply(jobset("u1", 2, json!([]))), t(1));
    f.apply_leader_pods(
        Change::Apply(LeaderPod {
            namespace: "default".into(),
            name: "p".into(),
            node_name: "n3".into(),
            job_name: "js-u1-w-0".into(),
            jobset_name: "js-u1".into(),
        }),
        t(2),
    );
    let snap = f.snapshot(t(3));
    let pool = &snap.family(EntityKind::NodePools).unwrap().entities[0]
        .upness
        .attrs;
    assert_eq!(
        (
            pool.block_id.as_str(),
            pool.subblock_id.as_str(),
            pool.block_name.as_str(),
            pool.subblock_name.as_str()
        ),
        ("b1", "s1", "res-b1", "res-s1")
    );
    // The JobSet runs on n3: block only, no sub-block.
    let js = &snap.family(EntityKind::JobSets).unwrap().entities[0]
        .upness
        .attrs;
    assert_eq!(
        (js.block_id.as_str(), js.block_name.as_str()),
        ("b2", "res-b2")
    );
    assert_eq!(
        (js.subblock_id.as_str(), js.subblock_name.as_str()),
        ("", "")
    );
    // Scheduling: the leader pod's node, all four.
    let job = &snap.scheduling["pool-a"];
    assert_eq!(job.blocks.block_id, "b2");
    assert_eq!(job.blocks.subblock_name, "res-s2");
}
