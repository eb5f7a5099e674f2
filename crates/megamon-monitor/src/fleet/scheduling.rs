//! Where JobSets run: leader pods mapped to node pools (SPEC §2.6).

use std::collections::BTreeMap;

use megamon_core::entity::blocks::BlockLabels;
use megamon_core::report::ScheduledJob;

use super::index::Indexes;
use super::index::leader_pods::LeaderPod;

/// A Job that should carry `megamon.tbd/scheduled-node-pool: <pool>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobPlacement {
    pub namespace: String,
    pub job_name: String,
    pub pool: String,
}

impl Indexes {
    /// Leader pods whose node belongs to a current pool, with that pool.
    fn placed_pods(&self) -> impl Iterator<Item = (&LeaderPod, String)> {
        self.leader_pods.all().filter_map(|pod| {
            let pool = self.nodes.get(&pod.node_name)?.node_pool()?.to_string();
            self.pool_exists(&pool).then_some((pod, pool))
        })
    }

    /// Pool → the leader job on it, with its node's block labels; pools
    /// that no longer exist are left out.
    pub fn scheduling(&self) -> BTreeMap<String, ScheduledJob> {
        self.placed_pods()
            .map(|(pod, pool)| {
                let blocks = self
                    .nodes
                    .get(&pod.node_name)
                    .and_then(|n| n.blocks())
                    .cloned()
                    .unwrap_or_else(BlockLabels::default);
                let job = ScheduledJob {
                    job_name: pod.job_name.clone(),
                    jobset_name: pod.jobset_name.clone(),
                    blocks,
                };
                (pool, job)
            })
            .collect()
    }

    /// The Jobs to label with their node pool.
    pub fn job_placements(&self) -> Vec<JobPlacement> {
        let mut out: Vec<JobPlacement> = self
            .placed_pods()
            .filter(|(pod, _)| !pod.job_name.is_empty())
            .map(|(pod, pool)| JobPlacement {
                namespace: pod.namespace.clone(),
                job_name: pod.job_name.clone(),
                pool,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}
