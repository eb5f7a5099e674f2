//! Where JobSets run: leader pods mapped to node pools (SPEC §2.6).

use std::collections::BTreeMap;

use megamon_core::report::ScheduledJob;

use super::Fleet;

/// A JobSet leader pod (`job-completion-index=0`, scheduled), reduced to what
/// scheduling needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderPod {
    pub namespace: String,
    pub name: String,
    pub node_name: String,
    /// Label `batch.kubernetes.io/job-name`.
    pub job_name: String,
    /// Label `jobset.sigs.k8s.io/jobset-name`.
    pub jobset_name: String,
}

impl LeaderPod {
    /// The key deletes refer to: `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A Job that should carry `megamon.tbd/scheduled-node-pool: <pool>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobPlacement {
    pub namespace: String,
    pub job_name: String,
    pub pool: String,
}

impl Fleet {
    /// Leader pods whose node belongs to a current pool, by pod key.
    fn placed_pods(&self) -> impl Iterator<Item = (&LeaderPod, String)> {
        self.leader_pods.values().filter_map(|pod| {
            let pool = self.nodes.get(&pod.node_name)?.node_pool.clone()?;
            self.pool_exists(&pool).then_some((pod, pool))
        })
    }

    fn pool_exists(&self, pool: &str) -> bool {
        if self.settings.simulated_pools {
            self.pool_nodes.get(pool).is_some_and(|m| !m.is_empty())
        } else {
            self.pools.contains_key(pool)
        }
    }

    /// Pool → the leader job on it; pools that no longer exist are left out.
    pub fn scheduling(&self) -> BTreeMap<String, ScheduledJob> {
        self.placed_pods()
            .map(|(pod, pool)| {
                (
                    pool,
                    ScheduledJob {
                        job_name: pod.job_name.clone(),
                        jobset_name: pod.jobset_name.clone(),
                    },
                )
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
