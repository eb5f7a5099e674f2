//! Durable history: a task that writes changed timelines to the store, off the
//! event loop, and keeps retrying on failure. Timelines stay in memory until a
//! write succeeds, so a failing store loses nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use megamon_core::{EntityKind, Timelines};
use megamon_store::{Flushed, HistoryWriter};
use tokio::sync::{mpsc, oneshot};

/// What the engine sends: the current timelines of kinds that changed, or a
/// request to flush everything pending and report back (shutdown).
#[derive(Debug)]
pub enum PersistRequest {
    Changed(BTreeMap<EntityKind, Timelines>),
    Flush(oneshot::Sender<bool>),
}

/// Spawns the persister; returns the handle the engine talks to.
pub fn spawn(writer: HistoryWriter, retry_every: Duration) -> mpsc::Sender<PersistRequest> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run(writer, rx, retry_every));
    tx
}

async fn run(
    mut writer: HistoryWriter,
    mut rx: mpsc::Receiver<PersistRequest>,
    retry_every: Duration,
) {
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
async fn write_pending(writer: &mut HistoryWriter, pending: &mut BTreeMap<EntityKind, Timelines>) {
    let kinds: Vec<EntityKind> = pending.keys().copied().collect();
    for kind in kinds {
        let Some(timelines) = pending.get(&kind) else {
            continue;
        };
        match writer.flush(kind, timelines).await {
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
                if let Err(e) = writer.reload_version(kind).await {
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
