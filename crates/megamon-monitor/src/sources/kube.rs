//! Watches: kube-rs watcher streams (list, then watch, re-list on 410 or a
//! dropped connection, with backoff) turned into stamped fleet updates.

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::mpsc;

use crate::fleet::{Change, FleetSettings, Stamped};
use crate::resources::{
    JobSetResource, LeaderWorkerSetResource, NodeResource, PodResource, SliceResource, Watched,
};

/// Spawns the watches `settings` need; they run until `tx` closes.
pub fn spawn_all(
    client: &Client,
    settings: &FleetSettings,
    tx: &mpsc::Sender<Stamped>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![
        spawn::<JobSetResource>(client, tx),
        spawn::<NodeResource>(client, tx),
        spawn::<PodResource>(client, tx),
    ];
    if settings.slice_enabled {
        tasks.push(spawn::<SliceResource>(client, tx));
    }
    if settings.leader_worker_sets {
        tasks.push(spawn::<LeaderWorkerSetResource>(client, tx));
    }
    tasks
}

fn spawn<R: Watched>(client: &Client, tx: &mpsc::Sender<Stamped>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(follow::<R>(Api::all(client.clone()), tx.clone()))
}

/// A 404 on list or watch: the API server does not serve the resource at all.
fn is_not_served(err: &watcher::Error) -> bool {
    match err {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status)) => status.code == 404,
        _ => false,
    }
}

/// Follows one resource. A (re-)list is buffered from `Init` to `InitDone` and
/// sent as one reset, so the fleet never sees a half-listed state.
async fn follow<R: Watched>(api: Api<R>, tx: mpsc::Sender<Stamped>) {
    let what = R::WHAT;
    let mut stream = watcher::watcher(api, R::watcher_config())
        .default_backoff()
        .boxed();
    let mut listing: Option<Vec<R::Facts>> = None;
    // Whether the resource is currently not served (its CRD is not installed).
    let mut absent = false;
    loop {
        let event = match stream.try_next().await {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(err) => {
                if is_not_served(&err) {
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
                        let update = Stamped {
                            at: Timestamp::now(),
                            update: R::update(Change::Reset(Vec::new())),
                        };
                        if tx.send(update).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
                // The backoff retries; a re-list follows as Init .. InitDone.
                tracing::warn!(watch = what, error = %err, "watch failed; retrying");
                continue;
            }
        };
        absent = false;
        let at = Timestamp::now();
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
                listing = Some(Vec::new());
                continue;
            }
            Event::InitApply(obj) => {
                if let (Some(list), Some(facts)) = (listing.as_mut(), obj.facts()) {
                    list.push(facts);
                }
                continue;
            }
            Event::InitDone => {
                let all = listing.take().unwrap_or_default();
                tracing::info!(watch = what, objects = all.len(), "listed");
                Change::Reset(all)
            }
        };
        let update = Stamped {
            at,
            update: R::update(change),
        };
        if tx.send(update).await.is_err() {
            return;
        }
    }
}
