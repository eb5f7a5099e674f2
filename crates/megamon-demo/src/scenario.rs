//! The demo's scenario: a small TPU fleet kept busy through the Kubernetes API
//! of the simulator, the way real controllers would drive it. Each node pool
//! runs a loop: a JobSet is created, nodes join, the leader pod lands, the
//! JobSet becomes ready, runs, is interrupted (a node NotReady or Unknown, a
//! spot preemption, node maintenance, a JobSet restart, a degraded slice),
//! recovers, completes (or now and then fails) and is deleted; then the next
//! one starts. Beside them an inference LeaderWorkerSet serves: it
//! rolls an update now and then (planned) and sometimes loses a group (an
//! interruption). Durations come from a seeded generator and are divided by
//! `speed`.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use megamon_core::entity::labels;
use serde_json::{Value, json};

use crate::rng::Rng;
use crate::story::Story;

/// One node pool of the demo fleet.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub name: &'static str,
    pub topology: &'static str,
    /// chips(topology) / 4 (the simulated machine type has 4 chips per node).
    pub nodes: usize,
    pub accelerator: &'static str,
    pub spot: bool,
}

/// Three or more pools of different topologies; one spot pool.
pub const FLEET: [PoolSpec; 4] = [
    PoolSpec {
        name: "tpu-v5e-4x8-a",
        topology: "4x8",
        nodes: 8,
        accelerator: "tpu-v5-lite-podslice",
        spot: false,
    },
    PoolSpec {
        name: "tpu-v6e-2x4-spot",
        topology: "2x4",
        nodes: 2,
        accelerator: "tpu-v6e-slice",
        spot: true,
    },
    PoolSpec {
        name: "tpu-v5p-2x2x4-c",
        topology: "2x2x4",
        nodes: 4,
        accelerator: "tpu-v5p-slice",
        spot: false,
    },
    PoolSpec {
        name: "tpu-v5e-8x8-d",
        topology: "8x8",
        nodes: 16,
        accelerator: "tpu-v5-lite-podslice",
        spot: false,
    },
];

const NAMESPACE: &str = "default";
/// The taint GKE puts on a node whose VM is about to be reclaimed.
const TERMINATION_TAINT: &str = "cloud.google.com/impending-node-termination";
/// The taint of every GKE TPU node.
static TPU_TAINT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(
    || json!({"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"}),
);
/// GKE's label on a node with a scheduled host maintenance.
const MAINTENANCE_LABEL: &str = "cloud.google.com/scheduled-maintenance-time";
/// Where the inference LeaderWorkerSet runs.
const SERVING_NAMESPACE: &str = "default";

/// What breaks in an interruption.
#[derive(Debug, Clone, Copy)]
enum Disruption {
    NodeNotReady,
    NodesUnknown,
    SpotPreemption,
    /// A node labelled for maintenance goes NotReady (GKE's MaintenanceEvent).
    Maintenance,
    /// The JobSet controller restarts the JobSet: `status.restarts` goes up
    /// and its jobs are not ready for a while; nodes and slices stay fine.
    WorkloadRestart,
    SliceDegraded,
    /// The slice is deleted and made again while its JobSet runs
    /// (upstream's "slice repair").
    SliceRepair,
}

/// Typed-enough access to the objects the scenario writes.
#[derive(Clone)]
struct Cluster {
    nodes: Api<DynamicObject>,
    pods: Api<DynamicObject>,
    jobsets: Api<DynamicObject>,
    slices: Api<DynamicObject>,
    lws: Api<DynamicObject>,
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

impl Cluster {
    fn new(client: Client) -> Self {
        Cluster {
            nodes: Api::all_with(client.clone(), &resource("", "v1", "Node", "nodes")),
            pods: Api::namespaced_with(
                client.clone(),
                NAMESPACE,
                &resource("", "v1", "Pod", "pods"),
            ),
            jobsets: Api::namespaced_with(
                client.clone(),
                NAMESPACE,
                &resource("jobset.x-k8s.io", "v1alpha2", "JobSet", "jobsets"),
            ),
            slices: Api::all_with(
                client.clone(),
                &resource("accelerator.gke.io", "v1beta1", "Slice", "slices"),
            ),
            lws: Api::namespaced_with(
                client,
                SERVING_NAMESPACE,
                &resource(
                    "leaderworkerset.x-k8s.io",
                    "v1",
                    "LeaderWorkerSet",
                    "leaderworkersets",
                ),
            ),
        }
    }
}

/// Logs a failed API call; the scenario carries on (the demo must not die
/// because one write failed).
fn check<T>(what: &str, result: Result<T, kube::Error>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(action = what, error = %e, "demo scenario step failed");
            None
        }
    }
}

async fn create(api: &Api<DynamicObject>, what: &str, object: Value) {
    match serde_json::from_value::<DynamicObject>(object) {
        Ok(obj) => {
            check(what, api.create(&PostParams::default(), &obj).await);
        }
        Err(e) => tracing::warn!(action = what, error = %e, "demo object is malformed"),
    }
}

async fn patch(api: &Api<DynamicObject>, what: &str, name: &str, body: Value) {
    check(
        what,
        api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
            .await,
    );
}

async fn patch_status(api: &Api<DynamicObject>, what: &str, name: &str, status: Value) {
    let body = json!({ "status": status });
    check(
        what,
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
            .await,
    );
}

async fn delete(api: &Api<DynamicObject>, what: &str, name: &str) {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => tracing::warn!(action = what, error = %e, "demo scenario step failed"),
    }
}

fn ready_condition(status: &str) -> Value {
    json!([
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
        {"type": "Ready", "status": status, "reason": if status == "True" { "KubeletReady" } else { "NodeStatusUnknown" },
         "lastTransitionTime": jiff::Timestamp::now().to_string()}
    ])
}

/// Runs the fleet until the task is dropped, telling each step to `story`.
pub async fn drive(client: Client, seed: u64, speed: f64, slices: bool, story: Story) {
    let cluster = Cluster::new(client);
    let mut rng = Rng::new(seed);
    let mut tasks = Vec::new();
    for (index, pool) in FLEET.iter().enumerate() {
        let actor = PoolActor {
            cluster: cluster.clone(),
            pool: pool.clone(),
            rng: rng.fork(),
            speed,
            slices,
            // The first pool's first cycle is quick, so that within 30 s of
            // start every family shows an interruption, a recovery and a
            // completed JobSet.
            quick_start: index == 0,
            start_delay: index as f64 * 1.5,
            restarts: 0,
            story: story.clone(),
        };
        tasks.push(tokio::spawn(actor.run()));
    }
    let serving = ServingActor {
        cluster: cluster.clone(),
        rng: rng.fork(),
        speed,
        story,
    };
    tasks.push(tokio::spawn(serving.run()));
    for t in tasks {
        let _ = t.await;
    }
}

struct PoolActor {
    cluster: Cluster,
    pool: PoolSpec,
    rng: Rng,
    speed: f64,
    slices: bool,
    quick_start: bool,
    start_delay: f64,
    /// The current JobSet's `status.restarts`.
    restarts: u64,
    story: Story,
}

impl PoolActor {
    async fn sleep(&self, secs: f64) {
        tokio::time::sleep(Duration::from_secs_f64((secs / self.speed).max(0.0))).await;
    }

    fn node_name(&self, i: usize) -> String {
        format!("gke-{}-{i:02}", self.pool.name)
    }

    /// The data-centre block the pool's nodes are in: one per TPU generation.
    fn block(&self) -> &'static str {
        match self.pool.accelerator {
            "tpu-v6e-slice" => "block-b",
            "tpu-v5p-slice" => "block-c",
            _ => "block-a",
        }
    }

    fn node(&self, i: usize, jobset: &str) -> Value {
        let mut labels_map = json!({
            labels::NODE_POOL: self.pool.name,
            labels::TPU_TOPOLOGY: self.pool.topology,
            labels::TPU_ACCELERATOR: self.pool.accelerator,
            labels::ACCELERATOR_COUNT: "4",
            labels::PROVISIONER_JOBSET_NAMESPACE: NAMESPACE,
            labels::PROVISIONER_JOBSET_NAME: jobset,
            "kubernetes.io/hostname": self.node_name(i),
            "node.kubernetes.io/instance-type": "tpu7x-standard-4t",
            // Where in the data centre (upstream v1.2.0's block labels).
            labels::TOPOLOGY_BLOCK: self.block(),
            labels::TOPOLOGY_SUBBLOCK: format!("{}-{}", self.block(), self.pool.topology),
            labels::RESERVATION_BLOCKS: "demo-reservation-block",
            labels::RESERVATION_SUBBLOCKS: "demo-reservation-subblock",
        });
        if self.pool.spot {
            labels_map[labels::SPOT] = json!("true");
        }
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node_name(i), "labels": labels_map},
            "spec": {"taints": [TPU_TAINT.clone()]},
            "status": {"conditions": ready_condition("True"),
                       "capacity": {"google.com/tpu": "4", "cpu": "224", "memory": "400Gi"}}
        })
    }

    fn jobset(&self, name: &str) -> Value {
        let mut selector = json!({
            labels::TPU_ACCELERATOR: self.pool.accelerator,
            labels::TPU_TOPOLOGY: self.pool.topology,
        });
        if self.pool.spot {
            selector[labels::SPOT] = json!("true");
        }
        json!({
            "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicatedJobs": [{"name": "workers", "replicas": 1, "template": {"spec": {
                "parallelism": self.pool.nodes, "completions": self.pool.nodes, "backoffLimit": 0,
                "template": {"spec": {
                    "nodeSelector": selector,
                    "restartPolicy": "Never",
                    "containers": [{"name": "trainer", "image": "us-docker.pkg.dev/demo/trainer:latest",
                                    "resources": {"limits": {"google.com/tpu": "4"}}}]
                }}
            }}}]}
        })
    }

    async fn set_jobset(&self, name: &str, ready: u64, succeeded: u64, conditions: Value) {
        let mut status = json!({
            "restarts": self.restarts,
            "replicatedJobsStatus": [{"name": "workers", "ready": ready, "succeeded": succeeded,
                                      "failed": 0, "active": ready, "suspended": 0}],
            "conditions": conditions,
        });
        // As the JobSet controller does once a terminal condition is set.
        if succeeded > 0 {
            status["terminalState"] = json!("Completed");
        }
        patch_status(&self.cluster.jobsets, "jobset status", name, status).await;
    }

    async fn set_slice(&self, name: &str, ready: &str) {
        if self.slices {
            let status = json!({"conditions": [{"type": "Ready", "status": ready, "reason": "Demo", "message": "",
                "lastTransitionTime": jiff::Timestamp::now().to_string()}]});
            patch_status(&self.cluster.slices, "slice status", name, status).await;
        }
    }

    async fn set_node(&self, i: usize, ready: &str) {
        let name = self.node_name(i);
        patch_status(
            &self.cluster.nodes,
            "node status",
            &name,
            json!({"conditions": ready_condition(ready)}),
        )
        .await;
    }

    /// The slice of JobSet `js` (with slices), not ready yet.
    async fn create_slice(&self, js: &str) {
        if !self.slices {
            return;
        }
        let slice = json!({
            "apiVersion": "accelerator.gke.io/v1beta1", "kind": "Slice",
            "metadata": {"name": js, "labels": {
                labels::SLICE_OWNER_KIND: "JobSet", labels::SLICE_OWNER_NAME: js,
                labels::SLICE_OWNER_NAMESPACE: NAMESPACE}},
            "spec": {"type": self.pool.accelerator, "topology": self.pool.topology}
        });
        create(&self.cluster.slices, "create slice", slice).await;
        self.set_slice(js, "False").await;
    }

    /// Nodes join one by one, labelled for `jobset`.
    async fn provision(&mut self, jobset: &str) {
        for i in 0..self.pool.nodes {
            let node = self.node(i, jobset);
            let name = self.node_name(i);
            match self.cluster.nodes.get_opt(&name).await {
                Ok(Some(_)) => {
                    patch(
                        &self.cluster.nodes,
                        "relabel node",
                        &name,
                        json!({"metadata": {"labels": {
                        labels::PROVISIONER_JOBSET_NAME: jobset}}}),
                    )
                    .await;
                }
                Ok(None) => create(&self.cluster.nodes, "create node", node).await,
                Err(e) => tracing::warn!(error = %e, "demo: cannot read node"),
            }
            let pause = if self.quick_start {
                0.2
            } else {
                self.rng.range(0.2, 0.6)
            };
            self.sleep(pause).await;
        }
    }

    async fn run(mut self) {
        self.sleep(self.start_delay).await;
        let mut generation = 0u32;
        loop {
            generation += 1;
            let js = format!(
                "{}-train-{generation}",
                self.pool.name.trim_start_matches("tpu-")
            );
            let pool = self.pool.name;
            tracing::debug!(jobset = %js, pool, "demo: new JobSet");
            self.story.tell(format!(
                "{pool}: JobSet {js} created, {} nodes joining",
                self.pool.nodes
            ));
            self.restarts = 0;
            create(&self.cluster.jobsets, "create jobset", self.jobset(&js)).await;
            self.create_slice(&js).await;
            self.provision(&js).await;
            let leader = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{js}-workers-0-0"), "namespace": NAMESPACE, "labels": {
                    labels::JOBSET_NAME: js, labels::JOB_COMPLETION_INDEX: "0",
                    labels::JOB_NAME: format!("{js}-workers-0")}},
                "spec": {"nodeName": self.node_name(0), "containers": [{"name": "trainer", "image": "trainer"}]}
            });
            create(&self.cluster.pods, "create leader pod", leader).await;
            self.sleep(1.0).await;
            self.set_jobset(&js, 1, 0, json!([])).await;
            self.set_slice(&js, "True").await;
            self.story.tell(format!("{pool}: {js} running"));

            let interruptions = if self.quick_start {
                1
            } else {
                1 + self.rng.below(2)
            };
            for _ in 0..interruptions {
                let run = if self.quick_start {
                    4.0
                } else {
                    self.rng.range(6.0, 14.0)
                };
                self.sleep(run).await;
                self.interrupt(&js).await;
            }
            let tail = if self.quick_start {
                3.0
            } else {
                self.rng.range(3.0, 8.0)
            };
            self.sleep(tail).await;
            // One run in four (after the first) ends in a failure.
            if !self.quick_start && self.rng.below(4) == 0 {
                self.fail(&js).await;
            } else {
                let done = json!([{"type": "Completed", "status": "True", "reason": "AllJobsCompleted",
                    "message": "jobset completed successfully", "lastTransitionTime": jiff::Timestamp::now().to_string()}]);
                self.set_jobset(&js, 0, 1, done).await;
                self.story.tell(format!("{pool}: {js} completed"));
            }
            let linger = if self.quick_start {
                6.0
            } else {
                self.rng.range(5.0, 10.0)
            };
            self.sleep(linger).await;
            delete(
                &self.cluster.pods,
                "delete leader pod",
                &format!("{js}-workers-0-0"),
            )
            .await;
            delete(&self.cluster.jobsets, "delete jobset", &js).await;
            if self.slices {
                delete(&self.cluster.slices, "delete slice", &js).await;
            }
            self.story.tell(format!("{pool}: {js} deleted"));
            self.quick_start = false;
            let gap = self.rng.range(1.0, 3.0);
            self.sleep(gap).await;
        }
    }

    /// The JobSet fails for good: its `Failed` condition, as the JobSet
    /// controller sets it when a job exhausts its retries.
    async fn fail(&self, js: &str) {
        let now = jiff::Timestamp::now().to_string();
        let failed = json!([{"type": "Failed", "status": "True", "reason": "FailedJobs",
            "message": "jobset failed due to job failure", "lastTransitionTime": now}]);
        self.set_jobset(js, 0, 0, failed).await;
        let status = json!({"terminalState": "Failed"});
        patch_status(&self.cluster.jobsets, "jobset status", js, status).await;
        self.story
            .tell(format!("{}: {js} failed (FailedJobs)", self.pool.name));
    }

    async fn interrupt(&mut self, js: &str) {
        let disruption = if self.pool.spot {
            Disruption::SpotPreemption
        } else if self.quick_start {
            Disruption::NodeNotReady
        } else {
            match self.rng.below(if self.slices { 6 } else { 4 }) {
                0 => Disruption::NodeNotReady,
                1 => Disruption::NodesUnknown,
                2 => Disruption::Maintenance,
                3 => Disruption::WorkloadRestart,
                4 => Disruption::SliceDegraded,
                _ => Disruption::SliceRepair,
            }
        };
        tracing::debug!(jobset = %js, pool = self.pool.name, ?disruption, "demo: interruption");
        let victim = self.rng.below(self.pool.nodes);
        let second = (victim + 1) % self.pool.nodes;
        let what = match disruption {
            Disruption::NodeNotReady => {
                self.set_node(victim, "False").await;
                format!("node {} NotReady", self.node_name(victim))
            }
            Disruption::NodesUnknown => {
                self.set_node(victim, "Unknown").await;
                self.set_node(second, "Unknown").await;
                format!(
                    "nodes {} and {} Unknown",
                    self.node_name(victim),
                    self.node_name(second)
                )
            }
            Disruption::SpotPreemption => {
                // As GKE reclaims spot TPU VMs: the termination taint, then
                // the VMs stop; the node objects stay while they come back.
                for i in 0..self.pool.nodes {
                    self.set_terminating(i, true).await;
                    self.set_node(i, "Unknown").await;
                }
                format!("spot preemption, {} nodes reclaimed", self.pool.nodes)
            }
            Disruption::Maintenance => {
                self.set_maintenance(victim, true).await;
                self.set_node(victim, "False").await;
                format!("maintenance on node {}", self.node_name(victim))
            }
            Disruption::WorkloadRestart => {
                self.restarts += 1;
                format!("the JobSet restarts (restarts {})", self.restarts)
            }
            Disruption::SliceDegraded => "its slice degraded".to_string(),
            Disruption::SliceRepair => {
                self.set_slice(js, "False").await;
                delete(&self.cluster.slices, "delete slice", js).await;
                "its slice deleted for repair".to_string()
            }
        };
        self.story
            .tell(format!("{}: {js} interrupted: {what}", self.pool.name));
        match disruption {
            // A restart leaves the hardware alone.
            Disruption::WorkloadRestart => {}
            Disruption::NodesUnknown => self.set_slice(js, "Unknown").await,
            _ => self.set_slice(js, "False").await,
        }
        self.set_jobset(js, 0, 0, json!([])).await;

        let down = if self.quick_start {
            3.0
        } else {
            self.rng.range(3.0, 9.0)
        };
        self.sleep(down).await;
        match disruption {
            Disruption::NodeNotReady => self.set_node(victim, "True").await,
            Disruption::NodesUnknown => {
                self.set_node(victim, "True").await;
                self.set_node(second, "True").await;
            }
            Disruption::SpotPreemption => {
                for i in 0..self.pool.nodes {
                    self.set_terminating(i, false).await;
                    self.set_node(i, "True").await;
                }
            }
            Disruption::Maintenance => {
                self.set_maintenance(victim, false).await;
                self.set_node(victim, "True").await;
            }
            Disruption::WorkloadRestart | Disruption::SliceDegraded => {}
            Disruption::SliceRepair => self.create_slice(js).await,
        }
        self.sleep(0.5).await;
        self.set_slice(js, "True").await;
        self.set_jobset(js, 1, 0, json!([])).await;
        self.story
            .tell(format!("{}: {js} recovered", self.pool.name));
    }

    /// Taints node `i` as GKE does before it reclaims a spot VM, or removes
    /// that taint (the TPU taint every TPU node has stays).
    async fn set_terminating(&self, i: usize, on: bool) {
        let mut taints = vec![TPU_TAINT.clone()];
        if on {
            taints.push(json!({"key": TERMINATION_TAINT, "value": "true", "effect": "NoSchedule"}));
        }
        let body = json!({"spec": {"taints": taints}});
        patch(&self.cluster.nodes, "taint node", &self.node_name(i), body).await;
    }

    /// Labels node `i` for maintenance as GKE does before a host maintenance
    /// event (the label holds the scheduled time), or removes the label.
    async fn set_maintenance(&self, i: usize, on: bool) {
        let value = if on {
            json!(jiff::Timestamp::now().as_second().to_string())
        } else {
            Value::Null
        };
        let body = json!({"metadata": {"labels": {MAINTENANCE_LABEL: value}}});
        patch(&self.cluster.nodes, "label node", &self.node_name(i), body).await;
    }
}

/// An inference service: one LeaderWorkerSet of `GROUPS` groups that comes
/// up, then in turn rolls an update (planned: `UpdateInProgress`), serves,
/// loses a group (an interruption) and gets it back.
struct ServingActor {
    cluster: Cluster,
    rng: Rng,
    speed: f64,
    story: Story,
}

const SERVING_NAME: &str = "infer-v6e";
const GROUPS: u64 = 2;

impl ServingActor {
    async fn sleep(&self, secs: f64) {
        tokio::time::sleep(Duration::from_secs_f64((secs / self.speed).max(0.0))).await;
    }

    fn object(&self, image: &str) -> Value {
        json!({
            "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": SERVING_NAME, "namespace": SERVING_NAMESPACE},
            "spec": {"replicas": GROUPS, "leaderWorkerTemplate": {"size": 2,
                "workerTemplate": {"spec": {
                    "nodeSelector": {labels::TPU_ACCELERATOR: "tpu-v6e-slice", labels::TPU_TOPOLOGY: "2x4"},
                    "containers": [{"name": "server", "image": image,
                        "resources": {"limits": {"google.com/tpu": "4"}}}]}}}}
        })
    }

    async fn set(&self, ready: u64, updating: bool) {
        let now = jiff::Timestamp::now().to_string();
        let condition = |t: &str, status: bool, reason: &str| {
            json!({"type": t, "status": if status { "True" } else { "False" }, "reason": reason,
                   "message": "", "lastTransitionTime": now})
        };
        let status = json!({
            "readyReplicas": ready, "replicas": GROUPS, "updatedReplicas": if updating { GROUPS - 1 } else { GROUPS },
            "conditions": [
                condition("Available", ready == GROUPS, if ready == GROUPS { "AllGroupsReady" } else { "GroupsNotReady" }),
                condition("UpdateInProgress", updating, if updating { "GroupsUpdating" } else { "UpdateDone" }),
            ]
        });
        patch_status(
            &self.cluster.lws,
            "leaderworkerset status",
            SERVING_NAME,
            status,
        )
        .await;
    }

    async fn run(mut self) {
        self.sleep(2.0).await;
        create(
            &self.cluster.lws,
            "create leaderworkerset",
            self.object("server:v1"),
        )
        .await;
        self.story.tell(format!(
            "serving: LeaderWorkerSet {SERVING_NAME} created, {GROUPS} groups"
        ));
        self.set(0, false).await;
        self.sleep(3.0).await;
        self.set(GROUPS, false).await;
        self.story.tell(format!("serving: {SERVING_NAME} serving"));
        let mut version = 1;
        loop {
            let serve = self.rng.range(6.0, 12.0);
            self.sleep(serve).await;
            if self.rng.below(2) == 0 {
                version += 1;
                tracing::debug!(lws = SERVING_NAME, version, "demo: rolling update");
                self.story.tell(format!(
                    "serving: {SERVING_NAME} rolls an update to server:v{version} (planned)"
                ));
                let image = json!({"spec": {"leaderWorkerTemplate": {"workerTemplate": {"spec": {
                    "containers": [{"name": "server", "image": format!("server:v{version}")}]}}}}});
                patch(
                    &self.cluster.lws,
                    "update leaderworkerset",
                    SERVING_NAME,
                    image,
                )
                .await;
                self.set(GROUPS - 1, true).await;
                let rolling = self.rng.range(3.0, 6.0);
                self.sleep(rolling).await;
                self.set(GROUPS, false).await;
                self.story.tell(format!("serving: {SERVING_NAME} updated"));
            } else {
                tracing::debug!(lws = SERVING_NAME, "demo: a serving group is lost");
                self.story
                    .tell(format!("serving: {SERVING_NAME} lost a group"));
                self.set(GROUPS - 1, false).await;
                let down = self.rng.range(3.0, 8.0);
                self.sleep(down).await;
                self.set(GROUPS, false).await;
                self.story
                    .tell(format!("serving: {SERVING_NAME} recovered"));
            }
        }
    }
}
