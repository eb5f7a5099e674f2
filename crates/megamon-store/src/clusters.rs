//! Many clusters under one prefix **[ours]**: with the default
//! `EventsBucketPath` (`megamon/clusters/<cluster>`), every cluster's monitor
//! writes to its own folder of a shared bucket, so `gs://bucket/megamon/clusters/`
//! holds one folder per cluster, named after it.

use megamon_core::EntityKind;
use megamon_core::archive::ARCHIVE_DIR;
use tokio::task::JoinSet;

use crate::{HistoryStore, Listing, StoreError};

/// What a store URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One cluster's history (its files are there, or nothing is).
    Cluster,
    /// A prefix holding one folder per cluster: their names, sorted.
    Clusters(Vec<String>),
}

/// Whether a folder holds a cluster's history: a stored-history file or an archive.
fn holds_history(listing: &Listing) -> bool {
    listing
        .files
        .iter()
        .any(|f| EntityKind::ALL.iter().any(|k| k.file_name() == f))
        || listing.folders.iter().any(|f| f == ARCHIVE_DIR)
}

impl HistoryStore {
    /// Whether this store is one cluster's history or a prefix of many:
    /// many when it holds no history of its own but folders that do (each
    /// listed concurrently). Folders without history are not clusters.
    pub async fn layout(&self) -> Result<Layout, StoreError> {
        let top = self.list("").await?;
        if holds_history(&top) || top.folders.is_empty() {
            return Ok(Layout::Cluster);
        }
        let mut listings = JoinSet::new();
        for folder in top.folders {
            let store = self.clone();
            listings.spawn(async move {
                let listing = store.list(&folder).await;
                (folder, listing)
            });
        }
        let mut clusters = Vec::new();
        while let Some(joined) = listings.join_next().await {
            let Ok((folder, listing)) = joined else {
                continue;
            };
            if holds_history(&listing?) {
                clusters.push(folder);
            }
        }
        clusters.sort();
        Ok(if clusters.is_empty() {
            Layout::Cluster
        } else {
            Layout::Clusters(clusters)
        })
    }
}
