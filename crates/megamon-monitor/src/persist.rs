//! Durable history: a task that writes changed timelines to the store, off the
//! event loop, and keeps retrying on failure. Timelines stay in memory until a
//! write succeeds, so a failing store loses nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::Arc;
use std::time::Instant;

use megamon_core::{EntityKind, Timelines};
use megamon_metrics::Metrics;
use megamon_store::{Flushed, HistoryWriter};
use tokio::sync::{mpsc, oneshot};

/// `gcs.latency`'s operations.
pub const READ: &str = "read";
pub const WRITE: &str = "write";

/// What the engine sends: the current timelines of kinds that changed, or a
/// request to flush everything pending and report back (shutdown).
#[derive(Debug)]
pub enum PersistRequest {
    Changed(BTreeMap<EntityKind, Timelines>),
    Flush(oneshot::Sender<bool>),
}

/// Spawns the persister; returns the handle the engine talks to.
pub fn spawn(
    writer: HistoryWriter,
    retry_every: Duration,
    metrics: Arc<Metrics>,
) -> mpsc::Sender<PersistRequest> {
    let (tx, rx) = mpsc::channel(16);
    let persister = Persister { writer, metrics };
    tokio::spawn(run(persister, rx, retry_every));
    tx
}

/// The writer, timing every call it makes (`gcs.latency`).
struct Persister {
    writer: HistoryWriter,
    metrics: Arc<Metrics>,
}

async fn run(mut writer: Persister, mut rx: mpsc::Receiver<PersistRequest>, retry_every: Duration) {
    let mut pending: BTreeMap<EntityKind, Timelines> = BTreeMap::new();
    let mut retry = tokio::time::interval(retry_every);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            request = rx.recv() => match request {
                Some(PersistRequest::Changed(kinds)) => {
                    pending.extend(kinds);
                    write_pending(&mut writer, &mut pending).await;
                }
                Some(PersistRequest::Flush(done)) => {
                    write_pending(&mut writer, &mut pending).await;
                    let _ = done.send(pending.is_empty());
                }
                None => {
                    write_pending(&mut writer, &mut pending).await;
                    return;
                }
            },
            _ = retry.tick(), if !pending.is_empty() => {
                write_pending(&mut writer, &mut pending).await;
            }
        }
    }
}

/// Writes what is pending; what fails stays pending for the next attempt.
async fn write_pending(p: &mut Persister, pending: &mut BTreeMap<EntityKind, Timelines>) {
    let kinds: Vec<EntityKind> = pending.keys().copied().collect();
    for kind in kinds {
        let Some(timelines) = pending.get(&kind) else {
            continue;
        };
        let started = Instant::now();
        let flushed = p.writer.flush(kind, timelines).await;
        p.metrics.record_store_latency(WRITE, started.elapsed());
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
                // Another writer changed the file since we read it. This
                // instance observes the whole cluster, so its view wins, but
                // never silently: two writers is a misconfiguration.
                tracing::error!(
                    kind = kind.name(),
                    error = %err,
                    "history file changed by another writer; overwriting with this monitor's timelines \
                     (is a second MegaMon writing to the same store?)"
                );
                let started = Instant::now();
                let reloaded = p.writer.reload_version(kind).await;
                p.metrics.record_store_latency(READ, started.elapsed());
                if let Err(e) = reloaded {
                    tracing::warn!(kind = kind.name(), error = %e, "cannot re-read the history file; will retry");
                }
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
