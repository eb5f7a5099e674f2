//! Watches: kube-rs watcher streams (list, then watch, re-list on 410 or a
//! dropped connection, with backoff) turned into stamped fleet updates.

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::mpsc;

use std::sync::Arc;

use megamon_metrics::Metrics;

use crate::fleet::{Change, FleetSettings, Stamped};
use crate::resources::{
    JobSetResource, LeaderWorkerSetResource, NodeResource, PodResource, SliceResource, Watched,
};

/// Spawns the watches `settings` need; they run until `tx` closes. Each
/// tells `metrics` whether it is current (`source.stale`).
pub fn spawn_all(
    client: &Client,
    settings: &FleetSettings,
    tx: &mpsc::Sender<Stamped>,
    metrics: &Arc<Metrics>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let watch = Watch {
        client,
        tx,
        metrics,
    };
    let mut tasks = vec![
        watch.spawn::<JobSetResource>(),
        watch.spawn::<NodeResource>(),
        watch.spawn::<PodResource>(),
    ];
    if settings.slice_enabled {
        tasks.push(watch.spawn::<SliceResource>());
    }
    if settings.leader_worker_sets {
        tasks.push(watch.spawn::<LeaderWorkerSetResource>());
    }
    tasks
}

/// What every watch is started with.
struct Watch<'a> {
    client: &'a Client,
    tx: &'a mpsc::Sender<Stamped>,
    metrics: &'a Arc<Metrics>,
}

impl Watch<'_> {
    fn spawn<R: Watched>(&self) -> tokio::task::JoinHandle<()> {
        let api = Api::all(self.client.clone());
        tokio::spawn(follow::<R>(api, self.tx.clone(), self.metrics.clone()))
    }
}

/// How often a failing source is asked whether the API answers again.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// A 404 on list or watch: the API server does not serve the resource at all.
fn is_not_served(err: &watcher::Error) -> bool {
    match err {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status)) => status.code == 404,
        _ => false,
    }
}

/// Listed objects sent to the fleet at a time: a list is passed on in parts
/// as it arrives (the index stages them), never held whole here.
const LIST_PART: usize = 256;

/// Follows one resource. A (re-)list is sent as `Listing`, `Listed` parts and
/// a final `Reset`: the index shows the complete list at once, never half of one.
async fn follow<R: Watched>(api: Api<R>, tx: mpsc::Sender<Stamped>, metrics: Arc<Metrics>) {
    let what = R::WHAT;
    let probe = api.clone();
    let mut stream = watcher::watcher(api, R::watcher_config())
        .default_backoff()
        .boxed();
    // The part of the list in progress not yet sent, and how many were listed.
    let mut part: Vec<R::Facts> = Vec::new();
    let mut listed = 0usize;
    // Whether the resource is currently not served (its CRD is not installed).
    let mut absent = false;
    // Since a failure: a watch resumed from its last version says nothing
    // until an object changes, so whether the API answers again is probed.
    let mut failing = false;
    loop {
        let next = if failing {
            tokio::select! {
                next = stream.try_next() => next,
                _ = tokio::time::sleep(PROBE_EVERY) => {
                    if probe.list(&ListParams::default().limit(1)).await.is_ok() {
                        failing = false;
                        metrics.source_current(what);
                    }
                    continue;
                }
            }
        } else {
            stream.try_next().await
        };
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(err) => {
                if is_not_served(&err) {
                    // Known to have none: current, not stale.
                    metrics.source_current(what);
                    if !absent {
                        // A cluster without the CRD has none of these: say so
                        // once and report an empty list, so the other families
                        // go on; the watch keeps retrying and lists them when
                        // the CRD appears.
                        absent = true;
                        tracing::warn!(
                            watch = what,
                            "the cluster does not serve this resource (is its CRD installed?); counting none until it does"
                        );
                        part.clear();
                        if !send::<R>(&tx, Change::Listing).await
                            || !send::<R>(&tx, Change::Reset(Vec::new())).await
                        {
                            return;
                        }
                    }
                    continue;
                }
                // The backoff retries; a re-list follows as Init .. InitDone.
                // Meanwhile the last good data is served, and says how old.
                tracing::warn!(watch = what, error = %err, "watch failed; retrying");
                metrics.source_failing(what);
                failing = true;
                continue;
            }
        };
        absent = false;
        // Mid-list the data is not current yet: only a whole list is.
        if matches!(event, Event::Apply(_) | Event::Delete(_) | Event::InitDone) {
            failing = false;
            metrics.source_current(what);
        }
        let change = match event {
            Event::Apply(obj) => {
                let key = obj.key();
                match obj.facts() {
                    Some(facts) => Change::Apply(facts),
                    // No longer matches what we track (e.g. a pod without a node).
                    None => Change::Delete(key),
                }
            }
            Event::Delete(obj) => Change::Delete(obj.key()),
            Event::Init => {
                tracing::debug!(watch = what, "listing");
                part.clear();
                listed = 0;
                Change::Listing
            }
            Event::InitApply(obj) => {
                let Some(facts) = obj.facts() else { continue };
                part.push(facts);
                listed += 1;
                if part.len() < LIST_PART {
                    continue;
                }
                Change::Listed(std::mem::replace(&mut part, Vec::with_capacity(LIST_PART)))
            }
            Event::InitDone => {
                tracing::info!(watch = what, objects = listed, "listed");
                Change::Reset(std::mem::take(&mut part))
            }
        };
        if !send::<R>(&tx, change).await {
            return;
        }
    }
}

/// Sends a change stamped now; false once the fleet is gone.
async fn send<R: Watched>(tx: &mpsc::Sender<Stamped>, change: Change<R::Facts>) -> bool {
    let update = Stamped {
        at: Timestamp::now(),
        update: R::update(change),
    };
    tx.send(update).await.is_ok()
}
