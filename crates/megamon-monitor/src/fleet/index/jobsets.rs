//! JobSets (SPEC §2.1) and the nodes provisioned for them (SPEC §2.2).

use jiff::Timestamp;
use megamon_core::cause::Why;
use megamon_core::entity::blocks::BlockScope;
use megamon_core::entity::jobset::JobSetFacts;
use megamon_core::{EntityKind, Upness};
use std::sync::Arc;

use super::workloads::{Workload, WorkloadIndex};
use super::{Indexes, Touched, Warnings};
use crate::fleet::family::{FamilyRule, nothing_to_forget};
use crate::fleet::{Change, Source};

impl Workload for JobSetFacts {
    const KIND: &'static str = "JobSet";
    fn uid(&self) -> &str {
        &self.uid
    }
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn carry_from(&mut self, previous: &Self) {
        JobSetFacts::carry_from(self, previous);
    }
}

/// JobSets by uid.
pub(crate) type JobSetIndex = WorkloadIndex<JobSetFacts>;

impl Indexes {
    pub fn apply_jobsets(
        &mut self,
        change: Change<JobSetFacts>,
        warnings: &mut Warnings,
    ) -> Touched {
        let mut touched = Touched::default();
        match &change {
            Change::Apply(js) => warn_topology(js, warnings),
            Change::Reset(all) | Change::Listed(all) => {
                all.iter().for_each(|js| warn_topology(js, warnings))
            }
            Change::Delete(_) | Change::Listing => {}
        }
        self.jobsets
            .apply(change, &mut touched.jobsets, &mut touched.owners);
        touched
    }

    /// A JobSet's labels as its series carry them: block labels from the
    /// nodes its leader pods run on; no topology when slices are enabled
    /// (upstream v1.1.0: the topology lives on the slices).
    fn jobset_upness(&self, js: &JobSetFacts, mut upness: Upness) -> Upness {
        self.jobset_blocks(&js.namespace, &js.name)
            .apply(Arc::make_mut(&mut upness.attrs), BlockScope::BlockOnly);
        if self.settings.slice_enabled {
            Arc::make_mut(&mut upness.attrs).tpu_topology.clear();
        }
        upness
    }
}

impl Indexes {
    /// Why a JobSet is down: what it says itself (failed, suspended,
    /// restarting), then a pool of its nodes in error, then its nodes: those
    /// provisioned for it, else those its leader pods run on. With
    /// `expected_nodes` (the JobSet-nodes family) nodes it lacks count as
    /// deleted.
    fn jobset_why(&self, uid: &str, expected_nodes: bool, now: Timestamp) -> Option<Why> {
        let js = self.jobsets.get(uid)?;
        if let Some(why) = js.why_down() {
            return Some(why);
        }
        let spot = js.replicated_jobs.iter().any(|r| r.spot);
        let mut nodes = self.nodes.jobset_member_names(&js.namespace, &js.name);
        if nodes.is_empty() && !expected_nodes {
            nodes = self.leader_pods.nodes_of_jobset(&js.namespace, &js.name);
        }
        // Missing nodes count only where the family counts nodes.
        let expected = expected_nodes.then(|| js.expected_nodes());
        self.pool_error_of(&nodes)
            .or_else(|| self.nodes.explain(nodes, expected, spot, now))
    }
}

fn warn_topology(js: &JobSetFacts, warnings: &mut Warnings) {
    for problem in js.topology_errors() {
        warnings.once(
            format!("jobset-topology/{}", js.uid),
            format_args!(
                "JobSet {}/{}: {problem}; its chips are not counted",
                js.namespace, js.name
            ),
        );
    }
}

fn keys(idx: &Indexes) -> Vec<String> {
    idx.jobsets.uids().map(str::to_string).collect()
}

pub(crate) const JOBSETS: FamilyRule = FamilyRule {
    kind: EntityKind::JobSets,
    enabled: |_| true,
    sources: |_| &[Source::JobSets],
    keys,
    upness: |idx, uid, _, _| {
        let js = idx.jobsets.get(uid)?;
        Some(idx.jobset_upness(js, js.upness()))
    },
    cause: |idx, uid, _, now| idx.jobset_why(uid, false, now),
    touched: |_, t| t.jobsets.iter().cloned().collect(),
    gone: nothing_to_forget,
};

pub(crate) const JOBSET_NODES: FamilyRule = FamilyRule {
    kind: EntityKind::JobSetNodes,
    enabled: |s| !s.slice_enabled,
    sources: |_| &[Source::JobSets, Source::Nodes],
    keys,
    upness: |idx, uid, now, _| {
        let js = idx.jobsets.get(uid)?;
        let counts = idx.nodes.jobset_counts(&js.namespace, &js.name, now);
        Some(idx.jobset_upness(js, js.nodes_upness(counts)))
    },
    cause: |idx, uid, _, now| idx.jobset_why(uid, true, now),
    touched: |idx, t| {
        let by_name = t
            .jobset_names
            .iter()
            .filter_map(|(ns, name)| idx.jobsets.uid_of(ns, name));
        let mut keys: Vec<String> = t.jobsets.iter().cloned().collect();
        keys.extend(by_name.map(str::to_string));
        keys
    },
    gone: nothing_to_forget,
};
