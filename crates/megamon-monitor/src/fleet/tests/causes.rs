//! Interruption causes and the episodes the histograms observe.

use megamon_core::cause::Cause;

use super::*;

/// The cause and detail recorded with the entity's last interruption.
fn last_cause(f: &Fleet, kind: EntityKind, key: &str) -> Option<(Cause, String)> {
    let t = f.timelines(kind)?.get(key)?;
    let e = t.events().iter().rev().find(|e| e.cause.is_some())?;
    Some((e.cause?, e.detail.clone().unwrap_or_default()))
}

fn labelled(name: &str, pool: &str, ready: &str, extra: serde_json::Value) -> NodeObject {
    let mut n = serde_json::to_value(json!({
        "metadata": {"name": name, "labels": {
            "cloud.google.com/gke-nodepool": pool,
            "cloud.google.com/gke-tpu-topology": "2x4",
            "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
            "cloud.google.com/gke-accelerator-count": "4",
        }},
        "status": {"conditions": [{"type": "Ready", "status": ready}]}
    }))
    .unwrap();
    if let Some(labels) = extra.get("labels").and_then(|l| l.as_object()) {
        for (k, v) in labels {
            n["metadata"]["labels"][k] = v.clone();
        }
    }
    if let Some(taints) = extra.get("taints") {
        n["spec"] = json!({ "taints": taints });
    }
    serde_json::from_value(n).unwrap()
}

/// A simulated pool of two nodes, both ready at t(1); `extra` goes on each.
fn pool_fleet(extra: serde_json::Value) -> Fleet {
    let mut f = synced_fleet(true);
    let nodes = ["a-0", "a-1"].map(|n| labelled(n, "pool-a", "True", extra.clone()));
    f.apply_nodes(Change::Reset(nodes.to_vec()), t(1));
    assert_eq!(
        up_of(&mut f, EntityKind::NodePools, "pool-a", t(1)),
        Some(true)
    );
    f.take_episodes();
    f
}

#[test]
fn a_node_going_not_ready_interrupts_its_pool_with_that_cause() {
    let mut f = pool_fleet(json!({}));
    f.apply_nodes(
        Change::Apply(labelled("a-1", "pool-a", "False", json!({}))),
        t(61),
    );
    assert_eq!(
        last_cause(&f, EntityKind::NodePools, "pool-a"),
        Some((Cause::NodeNotReady, "1 of 2 nodes NotReady: a-1".into()))
    );
    // Interruption: the up run it ended; then the recovery: the down run.
    f.apply_nodes(
        Change::Apply(labelled("a-1", "pool-a", "True", json!({}))),
        t(91),
    );
    let episodes: Vec<Episode> = f
        .take_episodes()
        .into_iter()
        .filter(|e| e.kind == EntityKind::NodePools)
        .map(|e| {
            assert_eq!(e.attrs.tpu_accelerator, "tpu-v5-lite-podslice");
            e.episode
        })
        .collect();
    assert_eq!(
        episodes,
        [
            Episode::Interruption {
                at: t(61),
                up_run: std::time::Duration::from_secs(60),
                cause: Some(Cause::NodeNotReady)
            },
            Episode::Recovery {
                at: t(91),
                down_run: std::time::Duration::from_secs(30)
            }
        ]
    );
    let snap = f.snapshot(t(100));
    let pool = &snap.family(EntityKind::NodePools).unwrap().entities[0];
    assert_eq!(pool.causes.get(Cause::NodeNotReady), 1);
    assert_eq!(pool.causes.total(), pool.summary.interruption_count);
}

#[test]
fn a_deleted_spot_node_is_a_preemption_and_a_deleted_node_otherwise() {
    for (spot, cause, detail) in [
        (
            true,
            Cause::Preemption,
            "1 of 2 spot nodes reclaimed (deleted)",
        ),
        (false, Cause::NodeDeleted, "1 of 2 nodes deleted"),
    ] {
        let extra = if spot {
            json!({"labels": {"cloud.google.com/gke-spot": "true"}})
        } else {
            json!({})
        };
        let mut f = pool_fleet(extra);
        f.apply_nodes(Change::Delete("a-1".into()), t(10));
        assert_eq!(
            last_cause(&f, EntityKind::NodePools, "pool-a"),
            Some((cause, detail.to_string())),
            "spot {spot}"
        );
    }
}

#[test]
fn maintenance_and_termination_signals_name_the_cause() {
    let mut f = pool_fleet(json!({}));
    let maintenance =
        json!({"labels": {"cloud.google.com/scheduled-maintenance-time": "1767225600"}});
    f.apply_nodes(
        Change::Apply(labelled("a-0", "pool-a", "False", maintenance)),
        t(10),
    );
    assert_eq!(
        last_cause(&f, EntityKind::NodePools, "pool-a"),
        Some((
            Cause::Maintenance,
            "1 of 2 nodes under maintenance: a-0".into()
        ))
    );

    let mut f = pool_fleet(json!({}));
    let terminating = json!({"taints": [{"key": "cloud.google.com/impending-node-termination", "effect": "NoSchedule"}]});
    f.apply_nodes(
        Change::Apply(labelled("a-0", "pool-a", "Unknown", terminating)),
        t(10),
    );
    assert_eq!(
        last_cause(&f, EntityKind::NodePools, "pool-a").map(|c| c.0),
        Some(Cause::Preemption)
    );
}

#[test]
fn a_gke_pool_in_error_is_a_pool_error() {
    let mut f = synced_fleet(false);
    let pool = |status: &str| NodePoolFacts {
        name: "pool-a".into(),
        tpu_topology: "2x4".into(),
        machine_type: "ct5lp-hightpu-4t".into(),
        status: status.into(),
        spot: false,
        accelerator: "tpu-v5-lite-podslice".into(),
    };
    f.set_node_pools(vec![pool("RUNNING")], t(1));
    let nodes = ["a-0", "a-1"].map(|n| labelled(n, "pool-a", "True", json!({})));
    f.apply_nodes(Change::Reset(nodes.to_vec()), t(1));
    assert_eq!(
        up_of(&mut f, EntityKind::NodePools, "pool-a", t(1)),
        Some(true)
    );
    f.set_node_pools(vec![pool("ERROR")], t(5));
    f.apply_nodes(
        Change::Apply(labelled("a-0", "pool-a", "False", json!({}))),
        t(6),
    );
    assert_eq!(
        last_cause(&f, EntityKind::NodePools, "pool-a"),
        Some((Cause::PoolError, "node pool pool-a is ERROR".into()))
    );
}

fn jobset_at(uid: &str, ready: u64, restarts: u64, conditions: serde_json::Value) -> JobSetFacts {
    let obj: JobSetObject = serde_json::from_value(json!({
        "metadata": {"name": format!("js-{uid}"), "namespace": "default", "uid": uid},
        "spec": {"replicatedJobs": [{"name": "w", "replicas": 2, "template": {"spec": {
            "parallelism": 2,
            "template": {"spec": {"nodeSelector": {"cloud.google.com/gke-tpu-topology": "2x4"}}}}}}]},
        "status": {"replicatedJobsStatus": [{"ready": ready}], "conditions": conditions,
                   "restarts": restarts}
    }))
    .unwrap();
    JobSetFacts::from(&obj)
}

#[test]
fn a_jobset_failure_restart_or_unexplained_down_is_recorded_as_such() {
    let mut f = synced_fleet(true);
    f.apply_jobsets(Change::Apply(jobset_at("u1", 2, 0, json!([]))), t(1));
    // Jobs stop being ready first: nothing explains it yet.
    f.apply_jobsets(Change::Apply(jobset_at("u1", 0, 0, json!([]))), t(10));
    assert_eq!(
        last_cause(&f, EntityKind::JobSets, "u1"),
        Some((Cause::Unknown, "0 of 2 ready".into()))
    );
    // The restart count goes up after: the same interruption, now explained.
    f.apply_jobsets(Change::Apply(jobset_at("u1", 0, 1, json!([]))), t(11));
    assert_eq!(
        last_cause(&f, EntityKind::JobSets, "u1"),
        Some((
            Cause::WorkloadRestart,
            "restarts 0 → 1; 0 of 2 jobs ready".into()
        ))
    );
    let interruptions = f
        .timelines(EntityKind::JobSets)
        .unwrap()
        .get("u1")
        .unwrap()
        .causes();
    assert_eq!(interruptions.total(), 1);
    // Back up, then failed.
    f.apply_jobsets(Change::Apply(jobset_at("u1", 2, 1, json!([]))), t(20));
    let failed = json!([{"type": "Failed", "status": "True", "reason": "FailedJobs",
                         "message": "jobset failed due to job failure"}]);
    f.apply_jobsets(Change::Apply(jobset_at("u1", 0, 1, failed)), t(30));
    assert_eq!(
        last_cause(&f, EntityKind::JobSets, "u1"),
        Some((
            Cause::WorkloadFailed,
            "FailedJobs: jobset failed due to job failure".into()
        ))
    );
    let snap = f.snapshot(t(40));
    let js = &snap.family(EntityKind::JobSets).unwrap().entities[0];
    assert_eq!(js.causes.get(Cause::WorkloadRestart), 1);
    assert_eq!(js.causes.get(Cause::WorkloadFailed), 1);
    assert_eq!(js.summary.interruption_count, 2);
}

#[test]
fn a_jobset_down_with_its_nodes_names_them() {
    let mut f = synced_fleet(true);
    f.apply_nodes(
        Change::Reset(
            (0..4)
                .map(|i| jobset_node(&format!("j-{i}"), "js-u1", "True"))
                .collect(),
        ),
        t(1),
    );
    f.apply_jobsets(Change::Apply(jobset_at("u1", 2, 0, json!([]))), t(1));
    f.apply_nodes(Change::Apply(jobset_node("j-1", "js-u1", "False")), t(5));
    f.apply_jobsets(Change::Apply(jobset_at("u1", 1, 0, json!([]))), t(6));
    assert_eq!(
        last_cause(&f, EntityKind::JobSets, "u1"),
        Some((Cause::NodeNotReady, "1 of 4 nodes NotReady: j-1".into()))
    );
    // The JobSet-nodes family: its node went first.
    assert_eq!(
        last_cause(&f, EntityKind::JobSetNodes, "u1").map(|c| c.0),
        Some(Cause::NodeNotReady)
    );
}

#[test]
fn causes_survive_a_restart_and_a_planned_down_has_none() {
    let mut f = pool_fleet(json!({}));
    f.apply_nodes(Change::Delete("a-1".into()), t(10));
    let stored: BTreeMap<EntityKind, Timelines> = f
        .families()
        .into_iter()
        .filter_map(|k| Some((k, f.timelines(k)?.clone())))
        .collect();
    let bytes = megamon_core::history::to_bytes(&stored[&EntityKind::NodePools]);
    let back = megamon_core::history::parse("node-pools.json", &bytes).unwrap();
    let t = back.get("pool-a").unwrap();
    assert_eq!(t.causes().get(Cause::NodeDeleted), 1);
    assert_eq!(t.attrs().unwrap().node_pool_name, "pool-a");
}
