//! Watches: a stream of JSON lines, `{"type":..., "object":...}`, fed from the store's
//! history ring with per-watcher filtering.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::handlers::{Filter, parse_rv, rendered};
use crate::options::ListOptions;
use crate::request::{Query, Representation, Target};
use crate::resources::ResourceDef;
use crate::state::Sim;
use crate::store::{EventKind, ListQuery, Stored};
use crate::table::{self, IncludeObject};

/// Events read from the ring per lock acquisition.
const BATCH: usize = 1000;

/// Everything a watch was asked for.
struct WatchSpec {
    target: Target,
    filter: Filter,
    /// Start from this version; `None` to start with the current state.
    from: Option<u64>,
    initial_events: bool,
    bookmarks: bool,
    initial_end_bookmark: bool,
    timeout: Option<Duration>,
    repr: Representation,
    include: IncludeObject,
}

/// Checks a watch request and returns the receiving end of its event stream.
/// `options` have passed `ListOptions::from_query` (so `ValidateListOptions`).
pub fn start(
    sim: &Arc<Sim>,
    target: Target,
    options: &ListOptions,
    query: &Query,
    repr: Representation,
) -> Result<mpsc::Receiver<Result<Bytes, std::io::Error>>, ApiError> {
    let filter = Filter::new(&target.def, options)?;
    let rv = parse_rv(&options.resource_version)?;
    let send_initial = options.send_initial_events;
    let from_zero = rv.is_none_or(|rv| rv == 0);
    let initial_events = send_initial.unwrap_or(from_zero);
    // Zero means none given (upstream then picks its own); a negative timeout has
    // already passed, so the watch ends at once.
    let timeout = match options.timeout_seconds {
        None | Some(0) => None,
        Some(s) => Some(Duration::from_secs(u64::try_from(s).unwrap_or(0))),
    };
    let spec = WatchSpec {
        from: if initial_events || from_zero {
            None
        } else {
            rv
        },
        initial_events,
        initial_end_bookmark: send_initial == Some(true),
        bookmarks: options.allow_watch_bookmarks,
        timeout,
        repr,
        include: IncludeObject::parse(query.get("includeObject")),
        filter,
        target,
    };
    let (tx, rx) = mpsc::channel(64);
    // Subscribed before the response goes out: a drop asked for once the client has
    // its watch must end it, even if the task has not run yet.
    let mut drops = sim.store.subscribe_drops();
    drops.borrow_and_update();
    let sim = sim.clone();
    tokio::spawn(async move {
        run(sim, spec, drops, tx).await;
    });
    Ok(rx)
}

type Tx = mpsc::Sender<Result<Bytes, std::io::Error>>;

struct Renderer<'a> {
    def: &'a ResourceDef,
    repr: Representation,
    include: IncludeObject,
    sent_columns: bool,
}

impl Renderer<'_> {
    fn line(&mut self, kind: &str, stored: &Stored) -> Result<Bytes, ApiError> {
        let object = match self.repr {
            Representation::Object => rendered(self.def, stored)?,
            Representation::PartialMetadata => {
                Bytes::from(table::partial_metadata(&stored.value()?).to_string())
            }
            Representation::Table => {
                let value = stored.value()?;
                let row = table::row(self.def, &value, self.include);
                let t = table::table(
                    self.def,
                    vec![row],
                    json!({"resourceVersion": stored.rv.to_string()}),
                    !self.sent_columns,
                );
                self.sent_columns = true;
                Bytes::from(t.to_string())
            }
        };
        let mut line = Vec::with_capacity(object.len() + 40);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(kind.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        line.extend_from_slice(&object);
        line.extend_from_slice(b"}\n");
        Ok(Bytes::from(line))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end && let Some(m) = metadata.as_object_mut() {
            m.insert(
                "annotations".into(),
                json!({"k8s.io/initial-events-end": "true"}),
            );
        }
        let line = json!({"type": "BOOKMARK", "object": {
            "kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": metadata}});
        Bytes::from(format!("{line}\n"))
    }
}

/// `stored` with its resourceVersion set to `rv`.
fn restamped(stored: &Stored, rv: u64) -> Result<Stored, ApiError> {
    let mut value = stored.value()?;
    crate::objects::metadata_mut(&mut value)
        .insert("resourceVersion".into(), rv.to_string().into());
    let json = serde_json::to_vec(&value)
        .map_err(|e| ApiError::internal(format!("cannot serialize object: {e}")))?;
    Ok(Stored {
        json: Bytes::from(json),
        rv,
        ..stored.clone()
    })
}

fn error_line(err: &ApiError) -> Bytes {
    Bytes::from(format!(
        "{}\n",
        json!({"type": "ERROR", "object": err.to_status()})
    ))
}

/// Whether `/_sim/drop-watches` was asked for since this watch began.
fn dropped(drops: &mut tokio::sync::watch::Receiver<u64>) -> bool {
    drops.has_changed().unwrap_or(true)
}

async fn send(tx: &Tx, line: Bytes) -> bool {
    tx.send(Ok(line)).await.is_ok()
}

async fn run(sim: Arc<Sim>, spec: WatchSpec, mut drops: tokio::sync::watch::Receiver<u64>, tx: Tx) {
    let def = spec.target.def.clone();
    let storage_key = def.storage_key();
    let namespace = spec.target.namespace.clone();
    let mut renderer = Renderer {
        def: &def,
        repr: spec.repr,
        include: spec.include,
        sent_columns: false,
    };
    let mut latest = sim.store.subscribe();
    let mut shutdown = sim.shutdown.clone();
    let deadline = spec
        .timeout
        .and_then(|t| tokio::time::Instant::now().checked_add(t));

    // Where the stream starts: the current state as ADDED events, or a given version.
    let mut cursor = match spec.from {
        Some(rv) => {
            let oldest = sim.store.oldest_watchable_rv();
            if rv < oldest {
                let _ = send(
                    &tx,
                    error_line(&ApiError::too_old_resource_version(rv, oldest)),
                )
                .await;
                return;
            }
            rv
        }
        None => {
            let matches = |s: &Stored| spec.filter.matches(s);
            let page = sim.store.list(&ListQuery {
                resource: &storage_key,
                namespace: namespace.as_deref(),
                at: None,
                after: None,
                limit: None,
                filter: &matches,
                unfiltered: spec.filter.is_empty(),
            });
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    let _ = send(&tx, error_line(&e)).await;
                    return;
                }
            };
            if dropped(&mut drops) {
                return;
            }
            if spec.initial_events {
                for item in &page.items {
                    match renderer.line("ADDED", item) {
                        Ok(line) => {
                            if !send(&tx, line).await {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!("watch: cannot render object: {e}"),
                    }
                }
            }
            if spec.initial_end_bookmark && !send(&tx, renderer.bookmark(page.rv, true)).await {
                return;
            }
            page.rv
        }
    };

    let mut bookmark_timer = tokio::time::interval_at(
        tokio::time::Instant::now() + sim.bookmark_interval,
        sim.bookmark_interval,
    );
    loop {
        // Drain everything after the cursor.
        loop {
            let (events, newest) = match sim.store.events_after(cursor, BATCH) {
                Ok(batch) => batch,
                Err(oldest) => {
                    let _ = send(
                        &tx,
                        error_line(&ApiError::too_old_resource_version(cursor, oldest)),
                    )
                    .await;
                    return;
                }
            };
            // A dropped watch delivers nothing written after the drop. The drop is
            // signalled before any such write takes the store lock, so a batch read
            // after it is checked here, after the read, not before.
            if dropped(&mut drops) {
                return;
            }
            let caught_up = events.len() < BATCH;
            for event in &events {
                cursor = event.rv;
                if *event.resource != *storage_key
                    || namespace.as_ref().is_some_and(|ns| *ns != event.key.0)
                {
                    continue;
                }
                let now = spec.filter.matches(&event.object);
                let before = event.prev.as_ref().is_some_and(|p| spec.filter.matches(p));
                let kind = match (event.kind, before, now) {
                    (EventKind::Added, _, true) => EventKind::Added,
                    (EventKind::Deleted, _, true) => EventKind::Deleted,
                    (EventKind::Modified, true, true) => EventKind::Modified,
                    (EventKind::Modified, false, true) => EventKind::Added,
                    (EventKind::Modified, true, false) => EventKind::Deleted,
                    _ => continue,
                };
                // Leaving the selection is a deletion of the object as the watcher
                // last saw it, at the new version (as kube-apiserver's watch cache does).
                let left = (event.kind, kind) == (EventKind::Modified, EventKind::Deleted);
                let line = match (&event.prev, left) {
                    (Some(prev), true) => {
                        restamped(prev, event.rv).and_then(|p| renderer.line(kind.as_str(), &p))
                    }
                    _ => renderer.line(kind.as_str(), &event.object),
                };
                match line {
                    Ok(line) => {
                        if !send(&tx, line).await {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!("watch: cannot render object: {e}"),
                }
            }
            if caught_up {
                cursor = cursor.max(newest);
                break;
            }
        }
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        // Endings first: a drop or shutdown pending beside new events wins.
        tokio::select! {
            biased;
            _ = drops.changed() => return,
            _ = shutdown.changed() => return,
            _ = timeout => return,
            _ = tx.closed() => return,
            _ = bookmark_timer.tick(), if spec.bookmarks => {
                if !send(&tx, renderer.bookmark(cursor, false)).await {
                    return;
                }
            }
            changed = latest.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}
