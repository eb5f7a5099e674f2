//! TPU Slices (SPEC §2.4) and upstream v1.2.0's slice deletion tracking: a
//! slice deleted while its owner runs stays, down, until a slice of the same
//! name returns or its owner ends. The slice → owner map that this needs
//! after a restart is kept as upstream keeps it (a ConfigMap, written by the
//! engine).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use megamon_core::EntityKind;
use megamon_core::entity::blocks::BlockScope;
use megamon_core::entity::slice::{Owner, OwnerRef, SliceFacts};

use super::{Staged, Touched};
use crate::fleet::family::FamilyRule;
use crate::fleet::{Change, Source};

#[derive(Debug, Default)]
pub(crate) struct SliceIndex {
    live: HashMap<String, SliceFacts>,
    /// Slices deleted while their owner may still run: their last facts.
    deleted: HashMap<String, SliceFacts>,
    /// Slice name → owner, for every slice live or deleted with an owner.
    owners: BTreeMap<String, OwnerRef>,
    /// Whether `owners` changed since it was last taken for saving.
    owners_changed: bool,
    staged: Staged<SliceFacts>,
}

impl SliceIndex {
    /// An index that remembers, of the stored slices (`stored`), those whose
    /// owner the saved map names: after a restart they may be deleted slices
    /// still waiting for their owner to end or for a new slice.
    pub fn new(owners: BTreeMap<String, OwnerRef>, stored: &BTreeSet<String>) -> Self {
        let deleted = owners
            .iter()
            .filter(|(name, _)| stored.contains(*name))
            .map(|(name, owner)| (name.clone(), SliceFacts::remembered(name, owner)))
            .collect();
        SliceIndex {
            live: HashMap::new(),
            deleted,
            owners,
            owners_changed: false,
            staged: Staged::default(),
        }
    }

    pub fn apply(&mut self, change: Change<SliceFacts>) -> Touched {
        let mut touched = Touched::default();
        let Some(change) = self.staged.stage(change) else {
            return touched;
        };
        match change {
            Change::Apply(slice) => {
                touched.slices.insert(slice.name.clone());
                self.insert(slice);
            }
            Change::Delete(name) => {
                if let Some(slice) = self.live.remove(&name) {
                    self.deleted.insert(name.clone(), slice);
                }
                touched.slices.insert(name);
            }
            Change::Reset(all) => {
                // What is no longer listed was deleted meanwhile.
                let mut gone = std::mem::take(&mut self.live);
                for slice in all {
                    gone.remove(&slice.name);
                    self.insert(slice);
                }
                self.deleted.extend(gone);
            }
            Change::Listing | Change::Listed(_) => {}
        }
        touched
    }

    fn insert(&mut self, slice: SliceFacts) {
        self.deleted.remove(&slice.name);
        let owner = slice.owner();
        if self.owners.get(&slice.name) != owner.as_ref() {
            match owner {
                Some(o) => self.owners.insert(slice.name.clone(), o),
                None => self.owners.remove(&slice.name),
            };
            self.owners_changed = true;
        }
        self.live.insert(slice.name.clone(), slice);
    }

    /// Forgets a slice for good.
    fn forget(&mut self, name: &str) {
        self.deleted.remove(name);
        if !self.live.contains_key(name) && self.owners.remove(name).is_some() {
            self.owners_changed = true;
        }
    }

    /// The slice → owner map, if it changed since last taken.
    pub fn take_changed_owners(&mut self) -> Option<BTreeMap<String, OwnerRef>> {
        std::mem::take(&mut self.owners_changed).then(|| self.owners.clone())
    }

    fn names(&self) -> Vec<String> {
        self.live
            .keys()
            .chain(self.deleted.keys())
            .cloned()
            .collect()
    }
}

pub(crate) const SLICES: FamilyRule = FamilyRule {
    kind: EntityKind::Slices,
    enabled: |s| s.slice_enabled,
    // Whether a slice is planned down depends on its owner.
    sources: |s| {
        if s.leader_worker_sets {
            &[Source::Slices, Source::JobSets, Source::LeaderWorkerSets]
        } else {
            &[Source::Slices, Source::JobSets]
        }
    },
    keys: |idx| idx.slices.names(),
    upness: |idx, name, _, _| {
        let (slice, deleted) = match idx.slices.live.get(name) {
            Some(s) => (s, false),
            None => (idx.slices.deleted.get(name)?, true),
        };
        let owner_ref = slice.owner();
        let owner = idx.owner(owner_ref.as_ref());
        let mut upness = match (deleted, owner) {
            (false, owner) => slice.upness(owner),
            // Deleted while the owner runs: unplanned, until it returns.
            (true, Owner::Running) => slice.deleted_upness(),
            // Deleted after (or without) an owner: planned, gone.
            (true, Owner::Ended | Owner::Unowned) => return None,
        };
        if let Some(o) = owner_ref.filter(|o| o.kind == "JobSet") {
            idx.jobset_blocks(&o.namespace, &o.name)
                .apply(Arc::make_mut(&mut upness.attrs), BlockScope::BlockOnly);
        }
        Some(upness)
    },
    cause: |idx, name, _, _| match idx.slices.live.get(name) {
        Some(slice) => Some(slice.why_down(false)),
        None => Some(idx.slices.deleted.get(name)?.why_down(true)),
    },
    touched: |idx, t| {
        let mut keys: Vec<String> = t.slices.iter().cloned().collect();
        if !t.owners.is_empty() {
            keys.extend(
                idx.slices
                    .owners
                    .iter()
                    .filter(|(_, o)| t.owners.contains(o))
                    .map(|(name, _)| name.clone()),
            );
        }
        keys
    },
    gone: |idx, name| idx.slices.forget(name),
};
