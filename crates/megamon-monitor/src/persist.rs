//! Durable history: a task that writes changed timelines to the store, off the
//! event loop, and keeps retrying on failure. Timelines stay in memory until a
//! write succeeds, so a failing store loses nothing.
//!
//! Every write is conditional on the version last read. A conflict means
//! another writer (a new leader, or a second monitor on the same store)
//! changed the file: this task never overwrites it; it drops that kind's
//! pending write and tells the engine, which, if it still leads, reloads the
//! stored history and continues it.
//!
//! Ended entities are archived ([`crate::archiver`]) before the file without
//! them is written: while an end is not archived, its kind's file waits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use megamon_core::{EntityKind, Timelines};
use megamon_metrics::Metrics;
use megamon_store::{Flushed, HistoryWriter, StoreError, ToArchive};

use crate::archiver::Archiver;
use tokio::sync::{mpsc, oneshot};

/// `gcs.latency`'s operations.
pub const READ: &str = "read";
pub const WRITE: &str = "write";

/// What the engine asks of the persister.
#[derive(Debug)]
pub enum PersistRequest {
    /// The current timelines of kinds that changed.
    Changed(BTreeMap<EntityKind, Timelines>),
    /// Read these kinds as stored now; later writes are conditional on what
    /// was read. The answer comes back as [`PersistEvent::Reloaded`].
    Reload(Vec<EntityKind>),
    /// Forget what is pending: this replica no longer leads.
    Abandon,
    /// Write everything pending and report whether all of it was written.
    Flush(oneshot::Sender<bool>),
    /// Entities that ended, to archive before the files without them (send
    /// before the [`PersistRequest::Changed`] that drops them).
    Archive(Vec<ToArchive>),
    /// Delete archive day files older than this many days (0: none).
    Prune { now: Timestamp, retention_days: u32 },
}

/// What the persister tells the engine.
#[derive(Debug)]
pub enum PersistEvent {
    /// Another writer changed this kind's file; our pending write of it was
    /// dropped, not forced over theirs.
    Conflict(EntityKind),
    /// The answer to [`PersistRequest::Reload`].
    Reloaded(Result<BTreeMap<EntityKind, Timelines>, StoreError>),
}

/// Spawns the persister; returns the handle the engine talks to and the
/// events it sends back.
pub fn spawn(
    writer: HistoryWriter,
    retry_every: Duration,
    metrics: Arc<Metrics>,
) -> (mpsc::Sender<PersistRequest>, mpsc::Receiver<PersistEvent>) {
    let (tx, rx) = mpsc::channel(16);
    let (events, events_rx) = mpsc::channel(16);
    let persister = Persister {
        archive: Archiver::new(writer.store().clone()),
        writer,
        metrics,
        events,
    };
    tokio::spawn(run(persister, rx, retry_every));
    (tx, events_rx)
}

/// The writer, timing every call it makes (`gcs.latency`).
struct Persister {
    writer: HistoryWriter,
    archive: Archiver,
    metrics: Arc<Metrics>,
    events: mpsc::Sender<PersistEvent>,
}

async fn run(mut p: Persister, mut rx: mpsc::Receiver<PersistRequest>, retry_every: Duration) {
    let mut pending: BTreeMap<EntityKind, Timelines> = BTreeMap::new();
    let mut retry = tokio::time::interval(retry_every);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            request = rx.recv() => match request {
                Some(PersistRequest::Changed(kinds)) => {
                    pending.extend(kinds);
                    p.write_pending(&mut pending).await;
                }
                Some(PersistRequest::Reload(kinds)) => {
                    pending.clear();
                    p.archive.clear();
                    let loaded = load(&mut p.writer, &kinds, &p.metrics).await;
                    let _ = p.events.send(PersistEvent::Reloaded(loaded)).await;
                }
                Some(PersistRequest::Abandon) => {
                    pending.clear();
                    p.archive.clear();
                }
                Some(PersistRequest::Flush(done)) => {
                    p.write_pending(&mut pending).await;
                    let _ = done.send(pending.is_empty() && p.archive.is_empty());
                }
                Some(PersistRequest::Archive(ended)) => {
                    p.archive.add(ended);
                    p.archive.write_pending(&p.metrics).await;
                }
                Some(PersistRequest::Prune { now, retention_days }) => {
                    p.archive.prune(now, retention_days).await;
                }
                None => {
                    p.write_pending(&mut pending).await;
                    return;
                }
            },
            _ = retry.tick(), if !pending.is_empty() || !p.archive.is_empty() => {
                p.write_pending(&mut pending).await;
            }
        }
    }
}

/// Reads `kinds` as stored (empty when a file does not exist yet). A file
/// that cannot be parsed is kept aside and its kind starts empty, with a
/// clear error in the log: the other kinds go on.
pub async fn load(
    writer: &mut HistoryWriter,
    kinds: &[EntityKind],
    metrics: &Metrics,
) -> Result<BTreeMap<EntityKind, Timelines>, StoreError> {
    let mut loaded = BTreeMap::new();
    for &kind in kinds {
        let started = Instant::now();
        let read = writer.reload_or_set_aside(kind).await;
        metrics.record_store_latency(READ, started.elapsed());
        let (timelines, set_aside) = read?;
        if let Some(aside) = set_aside {
            tracing::error!(
                kind = kind.name(),
                error = %aside.error,
                kept_at = %aside.kept_at,
                "stored history cannot be read; kept aside, this kind starts empty and its file will be replaced"
            );
        }
        loaded.insert(kind, timelines);
    }
    Ok(loaded)
}

impl Persister {
    /// Writes what is pending; what fails for a transient reason stays
    /// pending for the next attempt.
    async fn write_pending(&mut self, pending: &mut BTreeMap<EntityKind, Timelines>) {
        self.archive.write_pending(&self.metrics).await;
        let blocked = self.archive.blocked();
        let kinds: Vec<EntityKind> = pending.keys().copied().collect();
        for kind in kinds {
            if blocked.contains(&kind) {
                // Not without the archive line of an entity it drops.
                continue;
            }
            let Some(timelines) = pending.get(&kind) else {
                continue;
            };
            let started = Instant::now();
            let flushed = self.writer.flush(kind, timelines).await;
            self.metrics.record_store_latency(WRITE, started.elapsed());
            match flushed {
                Ok(Flushed::Written(_)) => {
                    tracing::debug!(
                        kind = kind.name(),
                        entities = timelines.len(),
                        "history written"
                    );
                    pending.remove(&kind);
                }
                Ok(Flushed::Unchanged) => {
                    pending.remove(&kind);
                }
                Err(err) if err.is_conflict() => {
                    // Another writer changed the file since we read it (a new
                    // leader, or a second monitor on this store): never
                    // overwrite it. The engine decides what to do.
                    tracing::error!(
                        kind = kind.name(),
                        error = %err,
                        "history file changed by another writer; this write is dropped, not forced"
                    );
                    pending.remove(&kind);
                    let _ = self.events.send(PersistEvent::Conflict(kind)).await;
                }
                Err(err) => {
                    tracing::warn!(
                        kind = kind.name(),
                        error = %err,
                        transient = err.is_transient(),
                        "cannot write history; keeping it in memory and retrying"
                    );
                }
            }
        }
    }
}
