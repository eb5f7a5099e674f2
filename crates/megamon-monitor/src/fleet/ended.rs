//! Entities that ended, waiting to be archived (SPEC §3.4).
//!
//! When an entity is found gone, its timeline leaves the fleet's timelines
//! and comes here with the time it ended; the engine hands them to the
//! persister, which archives them before it writes the file without them.
//! So a stored file never lacks an entity that is not archived, and after a
//! restart or a takeover the stored history is the truth of what still
//! needs archiving: a replica that takes over drops what it collected as a
//! standby and finds those ends again in the stored files.

use std::collections::HashSet;

use jiff::Timestamp;
use megamon_core::archive::ArchivedEntity;
use megamon_core::{EntityKind, Timeline};
use megamon_store::ToArchive;

/// Ended entities not yet handed over, and which stored entities have not
/// been seen alive since they were loaded.
#[derive(Debug, Default)]
pub(crate) struct Endings {
    ended: Vec<ToArchive>,
    /// Loaded from the store and not seen in the cluster since: if one is
    /// found gone, it ended while no one was watching (or its end was being
    /// archived when the last writer stopped).
    unconfirmed: HashSet<(EntityKind, String)>,
}

impl Endings {
    /// Stored timelines just loaded (at start or in a takeover): what was
    /// collected before is dropped, the stored history says what ended.
    pub(crate) fn loaded<'a>(&mut self, kind: EntityKind, keys: impl Iterator<Item = &'a str>) {
        self.ended.retain(|e| e.entity.kind != kind);
        self.unconfirmed.retain(|(k, _)| *k != kind);
        self.unconfirmed
            .extend(keys.map(|key| (kind, key.to_string())));
    }

    /// The entity exists.
    pub(crate) fn seen(&mut self, kind: EntityKind, key: &str) {
        if !self.unconfirmed.is_empty() {
            self.unconfirmed.remove(&(kind, key.to_string()));
        }
    }

    /// The entity was found gone at `at`.
    pub(crate) fn ended(
        &mut self,
        kind: EntityKind,
        key: &str,
        timeline: &Timeline,
        at: Timestamp,
    ) {
        let seen_ending = !self.unconfirmed.remove(&(kind, key.to_string()));
        self.ended.push(ToArchive {
            entity: ArchivedEntity::new(kind, key, timeline, at),
            seen_ending,
        });
    }

    /// Ended entities taken but not handed over after all, before the rest.
    pub(crate) fn put_back(&mut self, mut ended: Vec<ToArchive>) {
        ended.append(&mut self.ended);
        self.ended = ended;
    }

    /// Everything ended since last taken.
    pub(crate) fn take(&mut self) -> Vec<ToArchive> {
        std::mem::take(&mut self.ended)
    }
}
