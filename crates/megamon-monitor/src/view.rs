//! A read-only view of the fleet for the web view and its JSON API: the latest
//! published snapshot, and any entity's stored transitions on request. The
//! engine owns the fleet; timelines are copied out one at a time on request,
//! never cloned wholesale per publication.

use std::sync::Arc;

use megamon_core::archive::ArchivedEntity;
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

/// Which ended entities to read from the archive (the history view).
#[derive(Debug, Clone, Default)]
pub struct EndedQuery {
    /// Only this family; all without it.
    pub kind: Option<EntityKind>,
    /// Case-insensitive words that must all occur in the key or a label value.
    pub search: String,
    /// At most this many, the latest ends first.
    pub limit: usize,
}

/// What the archive gave: the latest ends first, whether more matched than
/// `limit`, and the day files that could not be read (named, with why).
#[derive(Debug, Default)]
pub struct Ended {
    pub entities: Vec<ArchivedEntity>,
    pub truncated: bool,
    pub errors: Vec<String>,
}

impl FleetView {
    /// The ended entities of the archive that match `query`, reading day
    /// files newest first and stopping once `limit` are found. `None` when
    /// this view has no store to read.
    pub async fn ended(&self, query: &EndedQuery) -> Option<Ended> {
        let store = self.history.as_ref()?;
        let words: Vec<String> = query
            .search
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let kinds: Vec<EntityKind> = match query.kind {
            Some(k) => vec![k],
            None => EntityKind::ALL.to_vec(),
        };
        let mut out = Ended::default();
        let mut days = Vec::new();
        for kind in kinds {
            match store.archive_days(kind).await {
                Ok(list) => days.extend(list.into_iter().map(|d| (d, kind))),
                Err(e) => out.errors.push(e.to_string()),
            }
        }
        days.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut day_index = 0;
        while day_index < days.len() {
            // Whole days at a time, so the latest ends come first whatever the kind.
            let day = days[day_index].0;
            let mut found = Vec::new();
            while day_index < days.len() && days[day_index].0 == day {
                let kind = days[day_index].1;
                match store.read_archive_day(kind, day).await {
                    Ok(lines) => found.extend(lines.into_iter().filter(|e| matches(e, &words))),
                    Err(e) => out.errors.push(e.to_string()),
                }
                day_index += 1;
            }
            found.sort_by_key(|e| std::cmp::Reverse(e.ended_at));
            out.entities.extend(found);
            if out.entities.len() > query.limit {
                break;
            }
        }
        out.truncated = out.entities.len() > query.limit;
        out.entities.truncate(query.limit);
        Some(out)
    }
}

/// Whether every word occurs in the entity's key or one of its label values.
fn matches(e: &ArchivedEntity, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let mut text = e.key.to_lowercase();
    if let Ok(serde_json::Value::Object(attrs)) = serde_json::to_value(&e.attrs) {
        for v in attrs.values() {
            text.push(' ');
            match v {
                serde_json::Value::String(s) => text.push_str(&s.to_lowercase()),
                other => text.push_str(&other.to_string()),
            }
        }
    }
    text.push(' ');
    text.push_str(e.kind.name());
    words.iter().all(|w| text.contains(w.as_str()))
}
