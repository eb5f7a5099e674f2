//! The monitor's side of a store: loads once, then writes each kind's file
//! conditionally on the version it last saw, and only when the document changed.

use std::collections::{BTreeMap, HashMap};

use megamon_core::history;
use megamon_core::{EntityKind, Timelines};

use crate::digest::fingerprint;
use crate::{HistoryStore, StoreError, Version};

/// What [`HistoryWriter::flush`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flushed {
    /// The document was written; the store now holds it at this version.
    Written(Version),
    /// The store already holds exactly this document; nothing was sent.
    Unchanged,
}

/// A stored file that could not be read, and where it was kept.
#[derive(Debug)]
pub struct SetAside {
    pub error: StoreError,
    pub kept_at: String,
}

/// What the writer knows about a kind's file.
#[derive(Debug, Clone)]
struct Seen {
    /// `None`: the file did not exist.
    version: Option<Version>,
    /// Fingerprint of the stored bytes.
    content: u64,
}

/// Owns a [`HistoryStore`] and the version of each kind's file it last read
/// or wrote. A kind never loaded is treated as absent: its first flush only
/// creates the file, and conflicts if someone else already has.
///
/// Policy is the caller's: on [`StoreError::Conflict`] it may log, then
/// [`Self::reload`] to merge or [`Self::reload_version`] to overwrite; on a
/// transient error ([`StoreError::is_transient`]) it keeps the timelines in
/// memory and flushes again later.
#[derive(Debug)]
pub struct HistoryWriter {
    store: HistoryStore,
    seen: HashMap<EntityKind, Seen>,
}

impl HistoryWriter {
    pub fn new(store: HistoryStore) -> Self {
        HistoryWriter {
            store,
            seen: HashMap::new(),
        }
    }

    pub fn store(&self) -> &HistoryStore {
        &self.store
    }

    /// The version of a kind's file as last read or written; `None` when it
    /// did not exist or was never loaded.
    pub fn version(&self, kind: EntityKind) -> Option<&Version> {
        self.seen.get(&kind).and_then(|s| s.version.as_ref())
    }

    /// Loads the given kinds (empty timelines for files that do not exist yet)
    /// and remembers their versions.
    pub async fn load_all(
        &mut self,
        kinds: &[EntityKind],
    ) -> Result<BTreeMap<EntityKind, Timelines>, StoreError> {
        let mut loaded = BTreeMap::new();
        for &kind in kinds {
            loaded.insert(kind, self.reload(kind).await?);
        }
        Ok(loaded)
    }

    /// Reads a kind's file again and remembers its version, so the next
    /// flush replaces what is stored now. Returns the stored timelines
    /// (empty when the file does not exist), e.g. to merge after a conflict.
    pub async fn reload(&mut self, kind: EntityKind) -> Result<Timelines, StoreError> {
        match self.store.read(kind).await? {
            Some((bytes, version)) => {
                let timelines = self.store.parse(kind, &bytes)?;
                self.remember(kind, Some(version), fingerprint(&bytes));
                Ok(timelines)
            }
            None => {
                self.remember(kind, None, 0);
                Ok(Timelines::new())
            }
        }
    }

    /// Like [`Self::reload`], but a file that cannot be parsed is set aside
    /// (kept as `<file>.corrupt-<time>`, see [`HistoryStore::set_aside`]) and
    /// the kind starts empty: the next flush replaces the corrupt file,
    /// conditionally on the version read. Returns the timelines and, when
    /// the file was set aside, the parse error and where the file went.
    pub async fn reload_or_set_aside(
        &mut self,
        kind: EntityKind,
    ) -> Result<(Timelines, Option<SetAside>), StoreError> {
        let Some((bytes, version)) = self.store.read(kind).await? else {
            self.remember(kind, None, 0);
            return Ok((Timelines::new(), None));
        };
        match self.store.parse(kind, &bytes) {
            Ok(timelines) => {
                self.remember(kind, Some(version), fingerprint(&bytes));
                Ok((timelines, None))
            }
            Err(error @ StoreError::Corrupt { .. }) => {
                let content = fingerprint(&bytes);
                let kept_at = self.store.set_aside(kind, bytes).await?;
                self.remember(kind, Some(version), content);
                Ok((Timelines::new(), Some(SetAside { error, kept_at })))
            }
            Err(other) => Err(other),
        }
    }

    /// Like [`Self::reload`] without parsing: after it, the next flush
    /// overwrites whatever is stored now. Returns that version.
    pub async fn reload_version(
        &mut self,
        kind: EntityKind,
    ) -> Result<Option<Version>, StoreError> {
        let (version, content) = match self.store.read(kind).await? {
            Some((bytes, version)) => (Some(version), fingerprint(&bytes)),
            None => (None, 0),
        };
        self.remember(kind, version.clone(), content);
        Ok(version)
    }

    /// Writes a kind's timelines if they differ from what the store holds,
    /// conditionally on the version last seen.
    pub async fn flush(
        &mut self,
        kind: EntityKind,
        timelines: &Timelines,
    ) -> Result<Flushed, StoreError> {
        let bytes = history::to_bytes(timelines);
        let content = fingerprint(&bytes);
        let length = bytes.len();
        let expected = match self.seen.get(&kind) {
            Some(seen) if seen.version.is_some() && seen.content == content => {
                return Ok(Flushed::Unchanged);
            }
            Some(seen) => seen.version.clone(),
            None => None,
        };
        match self.store.write(kind, bytes, expected.as_ref()).await {
            Ok(version) => {
                self.remember(kind, Some(version.clone()), content);
                Ok(Flushed::Written(version))
            }
            Err(conflict) if conflict.is_conflict() => {
                // An earlier write whose reply was lost (a timeout) may have
                // landed: then the store holds exactly this document, at a
                // version we never heard of. That is not a conflict.
                match self.store.read(kind).await {
                    Ok(Some((stored, version)))
                        if stored.len() == length && fingerprint(&stored) == content =>
                    {
                        self.remember(kind, Some(version.clone()), content);
                        Ok(Flushed::Written(version))
                    }
                    _ => Err(conflict),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn remember(&mut self, kind: EntityKind, version: Option<Version>, content: u64) {
        self.seen.insert(kind, Seen { version, content });
    }
}
