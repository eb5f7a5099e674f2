//! How the fleet evaluates up-ness, from the configuration.

use std::time::Duration;

use megamon_core::config::Config;

#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub unknown_count_threshold: f64,
    pub node_unknown_grace: Duration,
    /// Slices replace the JobSet-nodes family (SPEC §2.2, §2.4).
    pub slice_enabled: bool,
    /// Simulation mode: node pools are inferred from node labels (SPEC §5).
    pub simulated_pools: bool,
    /// LeaderWorkerSets are watched (SPEC §2.8).
    pub leader_worker_sets: bool,
}

impl FleetSettings {
    pub fn from_config(config: &Config) -> Self {
        FleetSettings {
            unknown_count_threshold: config.unknown_count_threshold,
            node_unknown_grace: config.node_unknown_grace,
            slice_enabled: config.slice_enabled,
            simulated_pools: config.enable_simulation,
            leader_worker_sets: config.leader_worker_set_support,
        }
    }
}
