//! A read-only view of the fleet for the web view and its JSON API: the latest
//! published snapshot, and any entity's stored transitions on request. The
//! engine owns the fleet; timelines are copied out one at a time on request,
//! never cloned wholesale per publication.

use std::sync::Arc;

use megamon_core::{EntityKind, Snapshot, Timeline};
use megamon_store::HistoryStore;
use tokio::sync::{mpsc, oneshot, watch};

/// A request the engine answers between events.
#[derive(Debug)]
pub enum ViewRequest {
    Timeline {
        kind: EntityKind,
        key: String,
        reply: oneshot::Sender<Option<Timeline>>,
    },
}

/// Cheap to clone; hand one to each HTTP handler.
#[derive(Debug, Clone)]
pub struct FleetView {
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    requests: mpsc::Sender<ViewRequest>,
    /// Where the archive of ended entities is read from (the history view).
    history: Option<HistoryStore>,
}

impl FleetView {
    pub fn new(
        snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
        requests: mpsc::Sender<ViewRequest>,
    ) -> Self {
        FleetView {
            snapshots,
            requests,
            history: None,
        }
    }

    /// This view, reading ended entities from `store`'s archive.
    pub fn with_history(mut self, store: HistoryStore) -> Self {
        self.history = Some(store);
        self
    }

    /// The store whose archive holds the ended entities, if there is one.
    pub fn history(&self) -> Option<&HistoryStore> {
        self.history.as_ref()
    }

    /// The latest published snapshot (`None` before the first aggregation).
    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.snapshots.borrow().clone()
    }

    /// Waits until a snapshot newer than the one last seen by this handle is
    /// published (for streaming updates to a browser).
    pub async fn changed(&mut self) -> bool {
        self.snapshots.changed().await.is_ok()
    }

    /// An entity's stored transitions; `None` if it has no timeline or the
    /// monitor is stopping.
    pub async fn timeline(&self, kind: EntityKind, key: &str) -> Option<Timeline> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(ViewRequest::Timeline {
                kind,
                key: key.to_string(),
                reply,
            })
            .await
            .ok()?;
        answer.await.ok().flatten()
    }
}
