//! LeaderWorkerSets (SPEC §2.8).

use megamon_core::EntityKind;
use megamon_core::entity::lws::LeaderWorkerSetFacts;

use super::workloads::{Workload, WorkloadIndex};
use super::{Indexes, Touched, Warnings};
use crate::fleet::family::{FamilyRule, no_cause, nothing_to_forget};
use crate::fleet::{Change, Source};

impl Workload for LeaderWorkerSetFacts {
    const KIND: &'static str = "LeaderWorkerSet";
    fn uid(&self) -> &str {
        &self.uid
    }
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// LeaderWorkerSets by uid.
pub(crate) type LwsIndex = WorkloadIndex<LeaderWorkerSetFacts>;

impl Indexes {
    pub fn apply_lws(
        &mut self,
        change: Change<LeaderWorkerSetFacts>,
        warnings: &mut Warnings,
    ) -> Touched {
        let mut touched = Touched::default();
        match &change {
            Change::Apply(l) => warn(l, warnings),
            Change::Reset(all) => all.iter().for_each(|l| warn(l, warnings)),
            Change::Delete(_) => {}
        }
        self.lws
            .apply(change, &mut touched.lws, &mut touched.owners);
        touched
    }
}

fn warn(l: &LeaderWorkerSetFacts, warnings: &mut Warnings) {
    let topology = l.topology_error().map(|e| e.to_string());
    for problem in l.problems.iter().chain(&topology) {
        warnings.once(
            format!("lws/{}", l.uid),
            format_args!("LeaderWorkerSet {}/{}: {problem}", l.namespace, l.name),
        );
    }
}

pub(crate) const LEADER_WORKER_SETS: FamilyRule = FamilyRule {
    kind: EntityKind::LeaderWorkerSets,
    enabled: |s| s.leader_worker_sets,
    sources: |_| &[Source::LeaderWorkerSets],
    keys: |idx| idx.lws.uids().map(str::to_string).collect(),
    upness: |idx, uid, _, _| idx.lws.get(uid).map(LeaderWorkerSetFacts::upness),
    cause: no_cause,
    touched: |_, t| t.lws.iter().cloned().collect(),
    gone: nothing_to_forget,
};
