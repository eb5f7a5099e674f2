//! Object storage with a cluster-wide resourceVersion and one bounded history ring.
//!
//! Objects are kept serialized (`Bytes`), so lists and watches copy reference counts,
//! not objects. Every write consumes exactly one resourceVersion and appends exactly one
//! event, so the event for version `rv` sits at `history[rv - first_rv]`. The same ring
//! serves watches (events after a version) and consistent paginated lists: the state at
//! an older version is the current state with the keys changed since then rolled back
//! to the `prev` of their first later event.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::error::ApiError;

/// `(namespace, name)`; namespace is empty for cluster-scoped objects.
pub type ObjKey = (String, String);

/// One stored object version.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The object as JSON, `metadata.resourceVersion` included.
    pub json: Bytes,
    pub rv: u64,
    /// `metadata.labels`, for label selectors.
    pub labels: Option<Arc<Map<String, Value>>>,
    /// Values of the selectable fields (`metadata.name`, `spec.nodeName`, ...).
    pub fields: Arc<BTreeMap<String, String>>,
    /// `metadata.ownerReferences[].uid`, for garbage collection.
    pub owners: Option<Arc<[String]>>,
}

impl Stored {
    /// Serializes `value` (which must already carry `rv`) and indexes its labels and
    /// the selectable `fields`.
    pub fn new(value: &Value, rv: u64, selectable: &[String]) -> Result<Stored, ApiError> {
        let json = serde_json::to_vec(value)
            .map_err(|e| ApiError::internal(format!("cannot serialize object: {e}")))?;
        let labels = value
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| Arc::new(m.clone()));
        let mut fields = BTreeMap::new();
        for path in ["metadata.name", "metadata.namespace"]
            .into_iter()
            .chain(selectable.iter().map(String::as_str))
        {
            fields.insert(path.to_string(), selectable_value(value, path));
        }
        let owners = value
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid")?.as_str().map(str::to_string))
                    .collect::<Arc<[String]>>()
            })
            .filter(|uids| !uids.is_empty());
        Ok(Stored {
            json: Bytes::from(json),
            rv,
            labels,
            fields: Arc::new(fields),
            owners,
        })
    }

    pub fn value(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.json)
            .map_err(|e| ApiError::internal(format!("stored object does not parse: {e}")))
    }
}

/// The value a field selector compares for `field`: mostly the field at that path, with
/// the few renames and defaults kube-apiserver's field label functions have.
fn selectable_value(value: &Value, field: &str) -> String {
    match field {
        "status.successful" => match field_value(value, "status.succeeded") {
            s if s.is_empty() => "0".into(),
            s => s,
        },
        "source" => field_value(value, "source.component"),
        "spec.hostNetwork" | "spec.unschedulable" => match field_value(value, field) {
            s if s.is_empty() => "false".into(),
            s => s,
        },
        _ => field_value(value, field),
    }
}

/// The value of a dotted field path as a field selector sees it: strings as they are,
/// other scalars printed, missing as empty.
pub fn field_value(value: &Value, path: &str) -> String {
    let mut at = value;
    for key in path.split('.') {
        match at.get(key) {
            Some(next) => at = next,
            None => return String::new(),
        }
    }
    match at {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One write, as watchers see it.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub resource: Arc<str>,
    pub key: ObjKey,
    pub kind: EventKind,
    /// The new state; for deletions the last state, stamped with the deletion's version.
    pub object: Stored,
    /// The state before this write (`None` for creations).
    pub prev: Option<Stored>,
}

/// What a write closure decides.
pub enum Write {
    /// Store this object (it must carry the version given to the closure).
    Put(Stored),
    /// Remove the object; the argument is its last state with the new version.
    Delete(Stored),
    /// Nothing changed; no version is consumed.
    Unchanged,
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct Written {
    pub kind: Option<EventKind>,
    /// The object now stored (for deletions: its last state); `None` if none existed.
    pub object: Option<Stored>,
}

/// A page of a list.
#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Stored>,
    /// The version the list was read at.
    pub rv: u64,
    /// Set when more items may follow: the key to continue after.
    pub next: Option<ObjKey>,
    /// Items left after this page, when cheaply known.
    pub remaining: Option<usize>,
}

/// What to list.
pub struct ListQuery<'a> {
    pub resource: &'a str,
    pub namespace: Option<&'a str>,
    /// Read at this version (consistent pagination); `None` for the latest.
    pub at: Option<u64>,
    pub after: Option<&'a ObjKey>,
    pub limit: Option<usize>,
    pub filter: &'a dyn Fn(&Stored) -> bool,
    /// Whether the filter lets everything through (enables `remainingItemCount`).
    pub unfiltered: bool,
}

struct Inner {
    rv: u64,
    tables: HashMap<Arc<str>, BTreeMap<ObjKey, Stored>>,
    history: VecDeque<Arc<Event>>,
    /// The version of `history[0]`; events before it are forgotten.
    first_rv: u64,
    history_limit: usize,
}

/// The object store shared by all handlers.
pub struct Store {
    inner: Mutex<Inner>,
    /// The latest version, for watchers to wake on.
    latest: watch::Sender<u64>,
    /// Bumped to close every open watch.
    drop_epoch: watch::Sender<u64>,
}

impl Store {
    pub fn new(history_limit: usize) -> Self {
        let (latest, _) = watch::channel(1);
        let (drop_epoch, _) = watch::channel(0);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                tables: HashMap::new(),
                history: VecDeque::new(),
                first_rv: 2,
                history_limit: history_limit.max(1),
            }),
            latest,
            drop_epoch,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// The oldest version a watch may start from.
    pub fn oldest_watchable_rv(&self) -> u64 {
        self.lock().first_rv - 1
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    pub fn subscribe_drops(&self) -> watch::Receiver<u64> {
        self.drop_epoch.subscribe()
    }

    /// Closes every open watch.
    pub fn drop_watches(&self) {
        self.drop_epoch.send_modify(|e| *e += 1);
    }

    /// Forgets all history: any older version now answers 410.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.first_rv = inner.rv + 1;
    }

    pub fn get(&self, resource: &str, key: &ObjKey) -> Option<Stored> {
        self.lock().tables.get(resource)?.get(key).cloned()
    }

    /// Runs `decide` on the current object under the store lock and applies its
    /// decision with a fresh version. With `dry_run`, nothing is stored.
    pub fn write(
        &self,
        resource: &str,
        key: &ObjKey,
        dry_run: bool,
        decide: impl FnOnce(Option<&Stored>, u64) -> Result<Write, ApiError>,
    ) -> Result<Written, ApiError> {
        let mut inner = self.lock();
        let next_rv = inner.rv + 1;
        let current = inner.tables.get(resource).and_then(|t| t.get(key)).cloned();
        let decision = decide(current.as_ref(), next_rv)?;
        let (kind, object) = match decision {
            Write::Unchanged => {
                return Ok(Written {
                    kind: None,
                    object: current,
                });
            }
            Write::Put(obj) => (
                if current.is_some() {
                    EventKind::Modified
                } else {
                    EventKind::Added
                },
                obj,
            ),
            Write::Delete(obj) => (EventKind::Deleted, obj),
        };
        if dry_run {
            return Ok(Written {
                kind: Some(kind),
                object: Some(object),
            });
        }
        inner.rv = next_rv;
        let resource: Arc<str> = match inner.tables.get_key_value(resource) {
            Some((k, _)) => k.clone(),
            None => Arc::from(resource),
        };
        let table = inner.tables.entry(resource.clone()).or_default();
        if kind == EventKind::Deleted {
            table.remove(key);
        } else {
            table.insert(key.clone(), object.clone());
        }
        inner.history.push_back(Arc::new(Event {
            rv: next_rv,
            resource,
            key: key.clone(),
            kind,
            object: object.clone(),
            prev: current,
        }));
        while inner.history.len() > inner.history_limit {
            inner.history.pop_front();
            inner.first_rv += 1;
        }
        drop(inner);
        self.latest.send_replace(next_rv);
        Ok(Written {
            kind: Some(kind),
            object: Some(object),
        })
    }

    /// Keys of every object in `namespace`, by resource.
    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<(Arc<str>, ObjKey)> {
        let inner = self.lock();
        let mut keys = Vec::new();
        for (resource, table) in &inner.tables {
            let start = (namespace.to_string(), String::new());
            for key in table
                .range(start..)
                .map(|(k, _)| k)
                .take_while(|k| k.0 == namespace)
            {
                keys.push((resource.clone(), key.clone()));
            }
        }
        keys
    }

    /// Objects in `namespace` that name `owner_uid` in their ownerReferences.
    pub fn dependents_in_namespace(
        &self,
        namespace: &str,
        owner_uid: &str,
    ) -> Vec<(Arc<str>, ObjKey)> {
        let inner = self.lock();
        let mut found = Vec::new();
        for (resource, table) in &inner.tables {
            let start = (namespace.to_string(), String::new());
            for (key, stored) in table.range(start..).take_while(|(k, _)| k.0 == namespace) {
                if stored
                    .owners
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|u| u == owner_uid))
                {
                    found.push((resource.clone(), key.clone()));
                }
            }
        }
        found
    }

    /// Every object of `resource`, current state.
    pub fn all(&self, resource: &str) -> Vec<(ObjKey, Stored)> {
        self.lock()
            .tables
            .get(resource)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Whether any object of `resource` exists.
    pub fn is_empty(&self, resource: &str) -> bool {
        self.lock()
            .tables
            .get(resource)
            .is_none_or(BTreeMap::is_empty)
    }

    /// One page of a list, read consistently at `query.at` (or the latest version).
    pub fn list(&self, query: &ListQuery<'_>) -> Result<ListPage, ApiError> {
        let inner = self.lock();
        let current = inner.rv;
        let at = query.at.unwrap_or(current).min(current);
        let empty = BTreeMap::new();
        let table = inner.tables.get(query.resource).unwrap_or(&empty);
        // The state at `at` for keys changed since: the prev of their first later event.
        let mut overrides: BTreeMap<ObjKey, Option<Stored>> = BTreeMap::new();
        if at < current {
            if at + 1 < inner.first_rv {
                return Err(ApiError::too_old_resource_version(at, inner.first_rv - 1));
            }
            let start = (at + 1 - inner.first_rv) as usize;
            for event in inner.history.range(start..) {
                if &*event.resource == query.resource {
                    overrides
                        .entry(event.key.clone())
                        .or_insert_with(|| event.prev.clone());
                }
            }
        }
        let lower = match (query.after, query.namespace) {
            (Some(after), _) => Bound::Excluded(after.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut live = table
            .range((lower.clone(), Bound::Unbounded))
            .map(|(k, v)| (k, Some(v)))
            .peekable();
        let mut past = overrides
            .range((lower, Bound::Unbounded))
            .map(|(k, v)| (k, v.as_ref()))
            .peekable();
        let in_namespace = |k: &ObjKey| query.namespace.is_none_or(|ns| k.0 == ns);
        let mut items = Vec::new();
        let mut next = None;
        let mut last_key: Option<&ObjKey> = None;
        loop {
            // Merge the two sorted sequences; where both have a key, the past wins.
            let (key, value) = match (live.peek(), past.peek()) {
                (None, None) => break,
                (Some(_), None) => live.next(),
                (None, Some(_)) => past.next(),
                (Some((lk, _)), Some((pk, _))) => match lk.cmp(pk) {
                    std::cmp::Ordering::Less => live.next(),
                    std::cmp::Ordering::Greater => past.next(),
                    std::cmp::Ordering::Equal => {
                        live.next();
                        past.next()
                    }
                },
            }
            .unwrap_or_else(|| unreachable!("peeked"));
            if !in_namespace(key) {
                break;
            }
            let Some(value) = value else { continue };
            if query.limit.is_some_and(|l| items.len() >= l) {
                next = last_key.cloned();
                break;
            }
            if (query.filter)(value) {
                items.push(value.clone());
                last_key = Some(key);
            }
        }
        let remaining = match (&next, query.unfiltered && overrides.is_empty()) {
            (Some(after), true) => Some(
                table
                    .range((Bound::Excluded(after.clone()), Bound::Unbounded))
                    .take_while(|(k, _)| in_namespace(k))
                    .count(),
            ),
            _ => None,
        };
        Ok(ListPage {
            items,
            rv: at,
            next,
            remaining,
        })
    }

    /// Events after `cursor` (at most `max`), oldest first, with the latest version.
    /// `Err(oldest)` when history no longer reaches back to `cursor`.
    pub fn events_after(&self, cursor: u64, max: usize) -> Result<(Vec<Arc<Event>>, u64), u64> {
        let inner = self.lock();
        let next = cursor.saturating_add(1);
        if next < inner.first_rv {
            return Err(inner.first_rv - 1);
        }
        let start = usize::try_from(next - inner.first_rv).unwrap_or(usize::MAX);
        let events = inner.history.range(start.min(inner.history.len())..);
        Ok((events.take(max).cloned().collect(), inner.rv))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(store: &Store, name: &str, data: &str) -> u64 {
        let key = (String::new(), name.to_string());
        let written = store
            .write("/things", &key, false, |_, rv| {
                let v = json!({"metadata": {"name": name, "resourceVersion": rv.to_string()}, "data": data});
                Ok(Write::Put(Stored::new(&v, rv, &[])?))
            })
            .expect("write");
        written.object.expect("stored").rv
    }

    fn names(page: &ListPage) -> Vec<String> {
        page.items
            .iter()
            .map(|s| s.fields["metadata.name"].clone())
            .collect()
    }

    #[test]
    fn pages_read_at_the_first_page_version() {
        let store = Store::new(100);
        for n in ["a", "b", "c", "d"] {
            put(&store, n, "1");
        }
        let all = |_: &Stored| true;
        let q = ListQuery {
            resource: "/things",
            namespace: None,
            at: None,
            after: None,
            limit: Some(2),
            filter: &all,
            unfiltered: true,
        };
        let first = store.list(&q).expect("first page");
        assert_eq!(names(&first), ["a", "b"]);
        assert_eq!(first.remaining, Some(2));
        // Changes after the first page must not show in the next one.
        put(&store, "c", "2");
        put(&store, "bb", "new");
        let key = (String::new(), "d".to_string());
        store
            .write("/things", &key, false, |cur, _| {
                Ok(Write::Delete(cur.cloned().expect("exists")))
            })
            .expect("delete");
        let after = first.next.clone().expect("more");
        let second = store
            .list(&ListQuery {
                at: Some(first.rv),
                after: Some(&after),
                ..q
            })
            .expect("second page");
        assert_eq!(names(&second), ["c", "d"]);
        assert_eq!(second.items[0].value().expect("json")["data"], "1");
        store.compact();
        assert_eq!(
            store
                .list(&ListQuery {
                    at: Some(first.rv),
                    after: Some(&after),
                    ..q
                })
                .expect_err("compacted")
                .code,
            410
        );
    }

    #[test]
    fn history_is_bounded_and_watchable_from_its_start() {
        let store = Store::new(3);
        let rvs: Vec<u64> = (0..5).map(|i| put(&store, &format!("o{i}"), "x")).collect();
        assert!(store.events_after(rvs[0], 10).is_err());
        let (events, latest) = store.events_after(rvs[1], 10).expect("in history");
        assert_eq!(events.len(), 3);
        assert_eq!(latest, rvs[4]);
        assert_eq!(events[0].rv, rvs[2]);
    }
}
