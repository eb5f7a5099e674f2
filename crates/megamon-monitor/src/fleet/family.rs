//! The entity families as the fleet evaluates them: one row each, defined
//! beside the index it reads most. The fleet only walks this table, so a new
//! family is a new row (and its index), not a new arm in every match.

use jiff::Timestamp;
use megamon_core::cause::Why;
use megamon_core::{EntityKind, Upness};

use super::index::{Indexes, Touched, Warnings, jobsets, lws, node_pools, slices};
use super::{FleetSettings, Source};

/// How one family is evaluated.
pub(crate) struct FamilyRule {
    pub kind: EntityKind,
    /// Whether this configuration publishes the family.
    pub enabled: fn(&FleetSettings) -> bool,
    /// The sources whose first list it waits for: before that, an empty
    /// index would look like an outage.
    pub sources: fn(&FleetSettings) -> &'static [Source],
    /// The keys of its current entities.
    pub keys: fn(&Indexes) -> Vec<String>,
    /// An entity's up-ness now; `None` when it does not exist (any more).
    pub upness: fn(&Indexes, &str, Timestamp, &mut Warnings) -> Option<Upness>,
    /// Why an entity that is down (`upness`) is interrupted, from what the
    /// indexes hold now; `None` when they do not say (the fleet then
    /// records `unknown`).
    pub cause: fn(&Indexes, &str, &Upness, Timestamp) -> Option<Why>,
    /// Its entities a change may have changed.
    pub touched: fn(&Indexes, &Touched) -> Vec<String>,
    /// Told when an entity is found gone, so its index can forget what it
    /// kept for it (a deleted slice's last facts).
    pub gone: fn(&mut Indexes, &str),
}

/// Every family, in [`EntityKind::ALL`] order.
pub(crate) const FAMILIES: [&FamilyRule; 5] = [
    &jobsets::JOBSETS,
    &jobsets::JOBSET_NODES,
    &node_pools::NODE_POOLS,
    &slices::SLICES,
    &lws::LEADER_WORKER_SETS,
];

impl std::fmt::Debug for FamilyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("FamilyRule").field(&self.kind).finish()
    }
}

/// For families whose indexes cannot tell why an entity is down.
pub(crate) fn no_cause(_: &Indexes, _: &str, _: &Upness, _: Timestamp) -> Option<Why> {
    None
}

/// For families whose index keeps nothing once an entity is gone.
pub(crate) fn nothing_to_forget(_: &mut Indexes, _: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_kind_in_order() {
        for (rule, kind) in FAMILIES.iter().zip(EntityKind::ALL) {
            assert_eq!(rule.kind, kind);
        }
    }
}
