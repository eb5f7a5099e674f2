//! The persister's archive part (SPEC §3.4): ended entities are appended to
//! the archive before the file without them is written, retried while the
//! store fails, and the archive is pruned past `HistoryRetentionDays`.

use std::collections::BTreeSet;
use std::time::Instant;

use jiff::Timestamp;
use megamon_core::EntityKind;
use megamon_metrics::Metrics;
use megamon_store::{ArchiveWriter, HistoryStore, ToArchive};

use crate::persist::WRITE;

/// Ended entities not archived yet, and the writer that archives them.
#[derive(Debug)]
pub struct Archiver {
    writer: ArchiveWriter,
    pending: Vec<ToArchive>,
}

impl Archiver {
    pub fn new(store: HistoryStore) -> Self {
        Archiver {
            writer: ArchiveWriter::new(store),
            pending: Vec::new(),
        }
    }

    pub fn add(&mut self, ended: Vec<ToArchive>) {
        self.pending.extend(ended);
    }

    /// Forgets what is pending: this replica no longer writes, or reloads
    /// the stored history, which still holds every entity not archived.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Kinds whose file must wait: writing it would drop an entity that is
    /// not archived yet.
    pub fn blocked(&self) -> BTreeSet<EntityKind> {
        self.pending.iter().map(|e| e.entity.kind).collect()
    }

    /// Archives what is pending; on failure it stays pending (appending
    /// again is safe: what was written is not added twice).
    pub async fn write_pending(&mut self, metrics: &Metrics) {
        if self.pending.is_empty() {
            return;
        }
        let started = Instant::now();
        let appended = self.writer.append(&self.pending).await;
        metrics.record_store_latency(WRITE, started.elapsed());
        match appended {
            Ok(done) => {
                for kept in &done.set_aside {
                    tracing::error!(kept_at = %kept, "archive day file cannot be read; kept aside and replaced");
                }
                tracing::info!(
                    archived = done.written,
                    already_archived = done.duplicates,
                    bytes = done.bytes,
                    took = ?started.elapsed(),
                    "ended entities archived"
                );
                self.pending.clear();
            }
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    pending = self.pending.len(),
                    transient = err.is_transient(),
                    "cannot archive ended entities; keeping them (and their kinds' files) pending and retrying"
                );
            }
        }
    }

    /// Deletes day files past the retention (0 keeps them forever).
    pub async fn prune(&mut self, now: Timestamp, retention_days: u32) {
        match self.writer.prune(now, retention_days).await {
            Ok(deleted) if !deleted.is_empty() => {
                tracing::info!(deleted = ?deleted, retention_days, "archive pruned");
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "cannot prune the archive; trying again later")
            }
        }
    }
}
