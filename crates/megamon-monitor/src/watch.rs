//! Watches: kube-rs watcher streams (list, then watch, re-list on 410 or a
//! dropped connection, with backoff) turned into stamped fleet updates.

use std::fmt::Debug;

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::fleet::{Change, Update};
use crate::resources::{
    JobSetResource, LEADER_POD_FIELDS, LEADER_POD_LABELS, NodeResource, PodResource, SliceResource,
};

/// An update and the time it arrived.
#[derive(Debug)]
pub struct Stamped {
    pub at: Timestamp,
    pub update: Update,
}

/// Spawns the watches this configuration needs; they run until `tx` closes.
pub fn spawn_all(
    client: Client,
    slices: bool,
    tx: mpsc::Sender<Stamped>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(follow(
            "jobsets",
            Api::<JobSetResource>::all(client.clone()),
            watcher::Config::default(),
            |r| Some(r.into()),
            |r| r.metadata.uid.clone().unwrap_or_default(),
            Update::JobSets,
            tx.clone(),
        )),
        tokio::spawn(follow(
            "nodes",
            Api::<NodeResource>::all(client.clone()),
            watcher::Config::default().page_size(500),
            |r| Some(r.into()),
            |r| r.metadata.name.clone().unwrap_or_default(),
            Update::Nodes,
            tx.clone(),
        )),
        tokio::spawn(follow(
            "leader pods",
            Api::<PodResource>::all(client.clone()),
            watcher::Config::default()
                .labels(LEADER_POD_LABELS)
                .fields(LEADER_POD_FIELDS),
            PodResource::leader,
            PodResource::key,
            Update::LeaderPods,
            tx.clone(),
        )),
    ];
    if slices {
        tasks.push(tokio::spawn(follow(
            "slices",
            Api::<SliceResource>::all(client),
            watcher::Config::default(),
            |r| Some(r.into()),
            |r| r.metadata.name.clone().unwrap_or_default(),
            Update::Slices,
            tx,
        )));
    }
    tasks
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
async fn follow<K, T>(
    what: &'static str,
    api: Api<K>,
    config: watcher::Config,
    convert: fn(K) -> Option<T>,
    key: fn(&K) -> String,
    wrap: fn(Change<T>) -> Update,
    tx: mpsc::Sender<Stamped>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    T: Send + 'static,
{
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut listing: Option<Vec<T>> = None;
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
                            update: wrap(Change::Reset(Vec::new())),
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
                let k = key(&obj);
                match convert(obj) {
                    Some(t) => Change::Apply(t),
                    // No longer matches what we track (e.g. a pod without a node).
                    None => Change::Delete(k),
                }
            }
            Event::Delete(obj) => Change::Delete(key(&obj)),
            Event::Init => {
                tracing::debug!(watch = what, "listing");
                listing = Some(Vec::new());
                continue;
            }
            Event::InitApply(obj) => {
                if let (Some(list), Some(t)) = (listing.as_mut(), convert(obj)) {
                    list.push(t);
                }
                continue;
            }
            Event::InitDone => {
                let all = listing.take().unwrap_or_default();
                tracing::info!(watch = what, objects = all.len(), "listed");
                Change::Reset(all)
            }
        };
        if tx
            .send(Stamped {
                at,
                update: wrap(change),
            })
            .await
            .is_err()
        {
            return;
        }
    }
}
