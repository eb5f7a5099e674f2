//! TPU node pools (SPEC §2.3): from the GKE API, or in simulation inferred
//! from node labels (SPEC §5). Their nodes are in the node index.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use megamon_core::EntityKind;
use megamon_core::cause::{Cause, Why};
use megamon_core::entity::blocks::BlockScope;
use megamon_core::entity::nodepool::{NodePoolFacts, simulated_pools};

use super::{Indexes, Touched};
use crate::fleet::Source;
use crate::fleet::family::{FamilyRule, nothing_to_forget};

/// The GKE API's TPU pools (empty in simulation mode).
#[derive(Debug, Default)]
pub(crate) struct NodePoolIndex {
    from_api: BTreeMap<String, NodePoolFacts>,
}

impl NodePoolIndex {
    /// Takes the API's complete list of a poll (non-TPU pools are left
    /// out); returns the pools that came, went or changed (a poll that
    /// changed nothing touches nothing: at each aggregation interval,
    /// re-evaluating every pool was O(fleet)).
    pub fn set(&mut self, pools: Vec<NodePoolFacts>) -> Touched {
        let polled: BTreeMap<String, NodePoolFacts> = pools
            .into_iter()
            .filter(|p| p.is_tpu())
            .map(|p| (p.name.clone(), p))
            .collect();
        let mut touched = Touched::default();
        for (name, pool) in &self.from_api {
            if polled.get(name) != Some(pool) {
                touched.pools.insert(name.clone());
            }
        }
        for (name, pool) in &polled {
            if self.from_api.get(name) != Some(pool) {
                touched.pools.insert(name.clone());
            }
        }
        self.from_api = polled;
        touched
    }
}

impl Indexes {
    /// The pool as the rules see it: from the API, or inferred in simulation.
    pub fn pool(&self, name: &str) -> Option<NodePoolFacts> {
        if self.settings.simulated_pools {
            let first = self.nodes.pool_members(name).next()?;
            simulated_pools([first]).into_iter().next()
        } else {
            self.node_pools.from_api.get(name).cloned()
        }
    }

    pub fn pool_names(&self) -> Vec<String> {
        if self.settings.simulated_pools {
            self.nodes.pools_with_nodes()
        } else {
            self.node_pools.from_api.keys().cloned().collect()
        }
    }

    /// A GKE pool in error among the pools of `nodes`, as a cause.
    pub fn pool_error_of(&self, nodes: &[&str]) -> Option<Why> {
        let pools: BTreeSet<&str> = nodes
            .iter()
            .filter_map(|n| self.nodes.get(n)?.node_pool())
            .collect();
        pools
            .into_iter()
            .find_map(|name| pool_error(&self.pool(name)?))
    }

    pub fn pool_exists(&self, name: &str) -> bool {
        if self.settings.simulated_pools {
            self.nodes.pool_members(name).next().is_some()
        } else {
            self.node_pools.from_api.contains_key(name)
        }
    }
}

fn pool_error(pool: &NodePoolFacts) -> Option<Why> {
    pool.is_failed().then(|| {
        Why::new(
            Cause::PoolError,
            format!("node pool {} is {}", pool.name, pool.status),
        )
    })
}

pub(crate) const NODE_POOLS: FamilyRule = FamilyRule {
    kind: EntityKind::NodePools,
    enabled: |_| true,
    sources: |s| {
        if s.simulated_pools {
            &[Source::Nodes]
        } else {
            &[Source::NodePools, Source::Nodes]
        }
    },
    keys: Indexes::pool_names,
    upness: |idx, name, now, warnings| {
        let pool = idx.pool(name)?;
        let counts = idx.nodes.pool_counts(name, now);
        match pool.upness(counts, idx.nodes.pool_members(name).next()) {
            Ok(mut u) => {
                idx.nodes
                    .pool_blocks(name)
                    .apply(Arc::make_mut(&mut u.attrs), BlockScope::All);
                Some(u)
            }
            Err(e) => {
                warnings.once(
                    format!("pool-size/{name}"),
                    format_args!("{e}; the pool is skipped"),
                );
                None
            }
        }
    },
    cause: |idx, name, upness, now| {
        let pool = idx.pool(name)?;
        pool_error(&pool).or_else(|| {
            idx.nodes.explain(
                idx.nodes.pool_member_names(name),
                Some(upness.expected_count),
                pool.spot,
                now,
            )
        })
    },
    touched: |_, t| t.pools.iter().cloned().collect(),
    gone: nothing_to_forget,
};
