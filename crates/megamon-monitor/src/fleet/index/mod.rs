//! The fleet's indexes: one per watched resource, each keeping only the facts
//! the rules read, fed through apply / delete / reset (a re-list is a reset),
//! and telling which entities a change touched.

pub(crate) mod jobsets;
pub(crate) mod leader_pods;
pub(crate) mod lws;
pub(crate) mod node_pools;
pub(crate) mod nodes;
pub(crate) mod slices;
mod workloads;

use std::collections::{BTreeSet, HashSet};

use megamon_core::entity::blocks::BlockLabels;
use megamon_core::entity::slice::{Owner, OwnerRef};

use super::{Change, FleetSettings};

/// Everything the watches and polls reported, as facts.
#[derive(Debug)]
pub(crate) struct Indexes {
    pub settings: FleetSettings,
    pub jobsets: jobsets::JobSetIndex,
    pub nodes: nodes::NodeIndex,
    pub node_pools: node_pools::NodePoolIndex,
    pub slices: slices::SliceIndex,
    pub leader_pods: leader_pods::LeaderPodIndex,
    pub lws: lws::LwsIndex,
}

impl Indexes {
    pub fn new(settings: FleetSettings, slices: slices::SliceIndex) -> Self {
        Indexes {
            jobsets: Default::default(),
            nodes: nodes::NodeIndex::new(settings.node_unknown_grace),
            node_pools: Default::default(),
            slices,
            leader_pods: Default::default(),
            lws: Default::default(),
            settings,
        }
    }

    /// Where a slice's owner stands (SPEC §2.4). An owner of a kind MegaMon
    /// does not watch (a LeaderWorkerSet without `LeaderWorkerSetSupport`)
    /// cannot be judged: the slice is treated as unowned.
    pub fn owner(&self, owner: Option<&OwnerRef>) -> Owner {
        let Some(o) = owner else {
            return Owner::Unowned;
        };
        let running = match o.kind.as_str() {
            "JobSet" => self
                .jobsets
                .by_name(&o.namespace, &o.name)
                .map(|js| js.terminal.is_none()),
            "LeaderWorkerSet" if self.settings.leader_worker_sets => self
                .lws
                .by_name(&o.namespace, &o.name)
                .map(|l| l.is_active()),
            _ => return Owner::Unowned,
        };
        if running == Some(true) {
            Owner::Running
        } else {
            Owner::Ended
        }
    }

    /// The block labels of the nodes a JobSet's leader pods run on.
    pub fn jobset_blocks(&self, namespace: &str, name: &str) -> BlockLabels {
        let nodes = self.leader_pods.nodes_of_jobset(namespace, name);
        self.nodes.blocks(nodes)
    }
}

/// The parts of a list in progress, for an index that takes a list whole.
#[derive(Debug)]
pub(crate) struct Staged<T>(Vec<T>);

impl<T> Default for Staged<T> {
    fn default() -> Self {
        Staged(Vec::new())
    }
}

impl<T> Staged<T> {
    /// Keeps the parts of a list aside; returns the change to apply now:
    /// `Apply` and `Delete` as they are, a `Reset` of everything listed once
    /// the list completes, nothing while it is in progress.
    pub fn stage(&mut self, change: Change<T>) -> Option<Change<T>> {
        match change {
            Change::Listing => {
                self.0.clear();
                None
            }
            Change::Listed(mut part) => {
                self.0.append(&mut part);
                None
            }
            Change::Reset(rest) => {
                let mut all = std::mem::take(&mut self.0);
                all.extend(rest);
                Some(Change::Reset(all))
            }
            other => Some(other),
        }
    }
}

/// The entities a change may have changed, by what identifies them.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    /// JobSet uids.
    pub jobsets: BTreeSet<String>,
    /// JobSets by (namespace, name), as node labels name them.
    pub jobset_names: BTreeSet<(String, String)>,
    pub pools: BTreeSet<String>,
    pub slices: BTreeSet<String>,
    /// LeaderWorkerSet uids.
    pub lws: BTreeSet<String>,
    /// Workloads that own slices.
    pub owners: BTreeSet<OwnerRef>,
    /// A node appeared, went or changed its labels (scheduling may change).
    pub node_layout: bool,
}

/// Problems logged once, not on every event that shows them again.
#[derive(Debug, Default)]
pub(crate) struct Warnings(HashSet<String>);

impl Warnings {
    pub fn once(&mut self, id: String, message: std::fmt::Arguments<'_>) {
        if self.0.insert(id) {
            tracing::warn!("{message}");
        }
    }
}
