//! Job labelling (SPEC §2.6): label each JobSet leader's Job with the node pool
//! it landed on, `megamon.tbd/scheduled-node-pool: <pool>`.

use std::collections::HashSet;

use k8s_openapi::api::batch::v1::Job;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use megamon_core::entity::labels::SCHEDULED_NODE_POOL;
use tokio::sync::mpsc;

use crate::fleet::JobPlacement;

/// Spawns the labeller; send it the current placements after each aggregation.
pub fn spawn(client: Client) -> mpsc::Sender<Vec<JobPlacement>> {
    let (tx, mut rx) = mpsc::channel::<Vec<JobPlacement>>(4);
    tokio::spawn(async move {
        // Placements already labelled; a Job is patched once per pool.
        let mut done: HashSet<JobPlacement> = HashSet::new();
        while let Some(placements) = rx.recv().await {
            let current: HashSet<JobPlacement> = placements.into_iter().collect();
            done.retain(|p| current.contains(p));
            for p in current {
                if done.contains(&p) {
                    continue;
                }
                match label(&client, &p).await {
                    Ok(()) => {
                        tracing::info!(namespace = %p.namespace, job = %p.job_name, pool = %p.pool, "labelled job with its node pool");
                        done.insert(p);
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {
                        // The Job is gone (or not created through a Job): nothing to label.
                        done.insert(p);
                    }
                    Err(err) => {
                        tracing::warn!(namespace = %p.namespace, job = %p.job_name, error = %err, "cannot label job; will retry");
                    }
                }
            }
        }
    });
    tx
}

async fn label(client: &Client, p: &JobPlacement) -> Result<(), kube::Error> {
    let api = Api::<Job>::namespaced(client.clone(), &p.namespace);
    let patch = serde_json::json!({"metadata": {"labels": {SCHEDULED_NODE_POOL: p.pool}}});
    api.patch(&p.job_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}
