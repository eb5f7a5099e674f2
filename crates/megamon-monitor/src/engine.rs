//! The event loop: one task owns the fleet. Watch updates are applied in
//! arrival order, each at its own arrival time; a batch that changed a
//! timeline is published at once (metrics within a second of the event),
//! re-evaluating only the entities changes touched since the last
//! publication. The aggregation interval paces the full re-evaluation (every
//! summary brought up to date), exporters, job labelling and store writes.
//!
//! With leader election, every replica keeps its fleet current, but only the
//! leader publishes entity series, writes history, exports and labels. On
//! becoming leader it reloads the stored history and continues it with what
//! it observed ([`Fleet::take_over`]) before it publishes or writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use megamon_core::Snapshot;
use megamon_core::entity::slice::OwnerRef;
use megamon_metrics::Metrics;
use tokio::sync::{mpsc, oneshot, watch};

use crate::export::Exporters;
use crate::fleet::{Fleet, JobPlacement, Stamped};
use crate::leader::Leadership;
use crate::persist::{PersistEvent, PersistRequest};
use crate::view::ViewRequest;

/// Most updates applied before publishing, so a flood (a 65,000-node re-list
/// after compaction) cannot starve publication.
const MAX_BATCH: usize = 4096;

/// Least time between two publications: a burst of changes is published
/// together, still well within the one-second freshness promise.
const MIN_PUBLISH_GAP: Duration = Duration::from_millis(100);

/// How often the leader prunes the archive (and once when it starts leading).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub struct Engine {
    pub fleet: Fleet,
    pub metrics: Arc<Metrics>,
    pub exporters: Exporters,
    pub persister: Option<mpsc::Sender<PersistRequest>>,
    /// What the persister reports back (conflicts, reloads).
    pub persist_events: Option<mpsc::Receiver<PersistEvent>>,
    pub leadership: Leadership,
    /// Where the slice → owner map goes when it changes (with slices).
    pub slice_owners: Option<watch::Sender<Option<BTreeMap<String, OwnerRef>>>>,
    pub labeller: Option<mpsc::Sender<Vec<JobPlacement>>>,
    pub ready: Arc<AtomicBool>,
    pub snapshots: watch::Sender<Option<Arc<Snapshot>>>,
    pub interval: Duration,
    /// Questions from the web view (see [`crate::view::FleetView`]).
    pub view_requests: mpsc::Receiver<ViewRequest>,
    /// How long ended entities stay archived (0: forever).
    pub history_retention_days: u32,
    /// When the archive was last pruned (`None`: not yet).
    pub last_prune: Option<Instant>,
}

impl Engine {
    pub async fn run(
        mut self,
        mut updates: mpsc::Receiver<Stamped>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut published_revision = self.fleet.revision();
        let mut last_publish = Instant::now();
        let mut leadership = Some(self.leadership.subscribe());
        let mut persist_events = self.persist_events.take();
        // A sole instance leads from the start with the history it loaded.
        let mut role = if self.leadership.is_leader() {
            Role::Leader
        } else {
            self.metrics.set_leader(false);
            Role::Standby
        };
        loop {
            let expiry = self.fleet.next_expiry().map(sleep_until);
            // A change not yet published: publish once the gap has passed.
            let publish_in = (self.is_ready() && self.fleet.revision() != published_revision)
                .then(|| MIN_PUBLISH_GAP.saturating_sub(last_publish.elapsed()));
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                changed = changed_or_never(&mut leadership) => {
                    match changed {
                        Some(leads) => role = self.change_role(role, leads),
                        // The election stopped: the process is stopping.
                        None => leadership = None,
                    }
                }
                Some(event) = recv_or_never(&mut persist_events) => {
                    role = self.persist_event(role, event);
                    published_revision = self.fleet.revision();
                    last_publish = Instant::now();
                }
                Some(request) = self.view_requests.recv() => self.answer(request),
                _ = sleep_or_never(publish_in) => {
                    self.publish_changes(Timestamp::now());
                    published_revision = self.fleet.revision();
                    last_publish = Instant::now();
                }
                first = updates.recv() => {
                    let Some(first) = first else { break };
                    self.fleet.apply(first.update, first.at);
                    let mut n = 1;
                    while n < MAX_BATCH {
                        let Ok(next) = updates.try_recv() else { break };
                        self.fleet.apply(next.update, next.at);
                        n += 1;
                    }
                    if !self.is_ready() && self.fleet.is_synced() {
                        self.aggregate(role);
                        published_revision = self.fleet.revision();
                        last_publish = Instant::now();
                    }
                }
                _ = sleep_or_never(expiry) => {
                    self.fleet.expire_unknown(Timestamp::now());
                }
                _ = tick.tick() => {
                    if self.fleet.is_synced() {
                        if role == Role::TakingOver {
                            // The last reload failed (store unreachable): again.
                            self.request_reload();
                        }
                        self.aggregate(role);
                        published_revision = self.fleet.revision();
                        last_publish = Instant::now();
                    } else {
                        tracing::info!("waiting for the first list of every watched resource");
                    }
                }
            }
            // Only the leader's recoveries and interruptions are observed: a
            // standby's would count each one twice across replicas.
            for e in self.fleet.take_episodes() {
                if role == Role::Leader {
                    self.metrics.record_episode(e.kind, &e.episode, &e.attrs);
                }
            }
        }
        if role == Role::Leader {
            self.flush_on_shutdown().await;
        }
    }

    /// Becoming leader starts a takeover (reload, then continue); losing it
    /// stops publishing entity series and writing.
    fn change_role(&mut self, role: Role, leads: bool) -> Role {
        match (role, leads) {
            (Role::Standby, true) => {
                tracing::info!("leading: reloading stored history to continue it");
                self.request_reload();
                Role::TakingOver
            }
            (Role::Leader | Role::TakingOver, false) => {
                tracing::warn!("no longer leading: standing by (no entity series, no writes)");
                self.metrics.set_leader(false);
                if let Some(p) = &self.persister {
                    let _ = p.try_send(PersistRequest::Abandon);
                }
                Role::Standby
            }
            (same, _) => same,
        }
    }

    fn request_reload(&self) {
        if let Some(p) = &self.persister {
            let _ = p.try_send(PersistRequest::Reload(self.fleet.families()));
        }
    }

    fn persist_event(&mut self, role: Role, event: PersistEvent) -> Role {
        match (role, event) {
            (Role::TakingOver, PersistEvent::Reloaded(Ok(stored))) => {
                let now = Timestamp::now();
                self.fleet.take_over(stored, now);
                self.metrics.set_leader(true);
                tracing::info!("took over: stored history continued; publishing and writing");
                if self.fleet.is_synced() {
                    self.aggregate(Role::Leader);
                }
                Role::Leader
            }
            (Role::TakingOver, PersistEvent::Reloaded(Err(e))) => {
                tracing::error!(error = %e, "cannot reload stored history to take over; retrying at the next aggregation");
                Role::TakingOver
            }
            (Role::Leader, PersistEvent::Conflict(kind)) => {
                // Someone else wrote our file: continue theirs rather than
                // overwrite it.
                tracing::warn!(
                    kind = kind.name(),
                    "reloading stored history after a conflicting write"
                );
                self.request_reload();
                Role::TakingOver
            }
            (role, _) => role,
        }
    }

    fn answer(&self, request: ViewRequest) {
        match request {
            ViewRequest::Timeline { kind, key, reply } => {
                let timeline = self
                    .fleet
                    .timelines(kind)
                    .and_then(|t| t.get(&key))
                    .cloned();
                let _ = reply.send(timeline);
            }
        }
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// A full evaluation at now: publish and, when leading, export, label,
    /// persist.
    fn aggregate(&mut self, role: Role) {
        let started = Instant::now();
        let now = Timestamp::now();
        let snapshot = Arc::new(self.fleet.observe_all_and_snapshot(now));
        self.send(snapshot.clone());
        if role == Role::Leader {
            if self.exporters.any()
                && let Err(err) = self.exporters.export(&snapshot.to_report())
            {
                tracing::error!(error = %err, "report export failed");
            }
            if let Some(labeller) = &self.labeller {
                // A full queue means the labeller is busy; the next tick resends.
                let _ = labeller.try_send(self.fleet.job_placements());
            }
            self.persist();
            self.prune_archive(now);
            if let Some(tx) = &self.slice_owners
                && let Some(owners) = self.fleet.take_changed_slice_owners()
            {
                tx.send_replace(Some(owners));
            }
        } else {
            // Not ours to archive: a leader that takes over finds these ends
            // in the stored history.
            drop(self.fleet.take_ended());
        }
        self.metrics.record_aggregation_duration(started.elapsed());
        if !self.ready.swap(true, Ordering::AcqRel) {
            let counts: Vec<String> = snapshot
                .families
                .iter()
                .map(|f| format!("{}={}", f.kind.name(), f.entities.len()))
                .collect();
            tracing::info!(entities = %counts.join(" "), "first aggregation done; ready");
        }
    }

    /// Publishes what changed since the last publication: between two
    /// aggregations, a change costs the entities it touched, not the fleet.
    fn publish_changes(&mut self, now: Timestamp) -> Arc<Snapshot> {
        let snapshot = Arc::new(self.fleet.snapshot_changes(now));
        self.send(snapshot)
    }

    fn send(&self, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        self.metrics.publish(snapshot.clone());
        self.snapshots.send_replace(Some(snapshot.clone()));
        snapshot
    }

    /// Hands ended entities and changed timelines to the persister (without
    /// waiting for it), ends first: a file never goes without an end it
    /// drops being archived.
    fn persist(&mut self) {
        let Some(persister) = &self.persister else {
            return;
        };
        let ended = self.fleet.take_ended();
        if !ended.is_empty()
            && let Err(mpsc::error::TrySendError::Full(PersistRequest::Archive(ended))) =
                persister.try_send(PersistRequest::Archive(ended))
        {
            // Busy: keep them for the next tick, and the files with them.
            self.fleet.put_back_ended(ended);
            return;
        }
        let dirty = self.fleet.dirty();
        if dirty.is_empty() {
            return;
        }
        let changed: BTreeMap<_, _> = dirty
            .iter()
            .filter_map(|k| self.fleet.timelines(*k).map(|t| (*k, t.clone())))
            .collect();
        if persister.try_send(PersistRequest::Changed(changed)).is_ok() {
            for kind in dirty {
                self.fleet.mark_clean(kind);
            }
        }
    }

    /// Prunes the archive when leading: at once, then hourly.
    fn prune_archive(&mut self, now: Timestamp) {
        let due = self.last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
        if !due || self.history_retention_days == 0 {
            return;
        }
        if let Some(p) = &self.persister {
            let prune = PersistRequest::Prune {
                now,
                retention_days: self.history_retention_days,
            };
            if p.try_send(prune).is_ok() {
                self.last_prune = Some(Instant::now());
            }
        }
    }

    async fn flush_on_shutdown(mut self) {
        let Some(persister) = self.persister.clone() else {
            return;
        };
        let ended = self.fleet.take_ended();
        let changed: BTreeMap<_, _> = self
            .fleet
            .dirty()
            .iter()
            .filter_map(|k| self.fleet.timelines(*k).map(|t| (*k, t.clone())))
            .collect();
        let (done, flushed) = oneshot::channel();
        let sent = async {
            if !ended.is_empty() {
                persister.send(PersistRequest::Archive(ended)).await.ok()?;
            }
            if !changed.is_empty() {
                persister
                    .send(PersistRequest::Changed(changed))
                    .await
                    .ok()?;
            }
            persister.send(PersistRequest::Flush(done)).await.ok()?;
            flushed.await.ok()
        };
        match tokio::time::timeout(Duration::from_secs(30), sent).await {
            Ok(Some(true)) => tracing::info!("history flushed"),
            Ok(_) => tracing::error!(
                "history could not be written before exit; the latest changes are lost"
            ),
            Err(_) => {
                tracing::error!("history write timed out at exit; the latest changes are lost")
            }
        }
    }
}

/// This replica's part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Watches warm, nothing published or written.
    Standby,
    /// Leads, waiting for the stored history to continue.
    TakingOver,
    Leader,
}

/// The next leadership state, `None` once the election has stopped; waits
/// forever without one.
async fn changed_or_never(rx: &mut Option<watch::Receiver<bool>>) -> Option<bool> {
    let rx = match rx {
        Some(rx) => rx,
        None => return std::future::pending().await,
    };
    rx.changed().await.ok()?;
    Some(*rx.borrow_and_update())
}

/// Receives from `rx`, or waits forever when there is none.
async fn recv_or_never<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn sleep_until(at: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO)
}

/// Sleeps `wait`, or forever when there is nothing to wait for.
async fn sleep_or_never(wait: Option<Duration>) {
    match wait {
        Some(w) => tokio::time::sleep(w).await,
        None => std::future::pending().await,
    }
}
