//! The persister against a real `file://` store: a write conflicting with
//! another writer's is dropped, never forced; a file that cannot be read is
//! kept aside and its kind starts empty (issue 9).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use megamon_core::{EntityKind, State, Timelines};
use megamon_metrics::{BuildInfo, Metrics, MetricsOptions};
use megamon_monitor::persist::{self, PersistEvent, PersistRequest};
use megamon_store::{HistoryStore, HistoryWriter};

fn metrics() -> Arc<Metrics> {
    Arc::new(
        Metrics::new(MetricsOptions {
            prefix: "megamon".into(),
            build: BuildInfo {
                version: "0".into(),
                commit: None,
                date: None,
            },
            otlp: None,
        })
        .unwrap(),
    )
}

fn timelines(key: &str, up: bool) -> Timelines {
    let mut t = Timelines::new();
    let at: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    t.observe(key, State { up, ..State::DOWN }, at);
    t
}

fn store() -> (tempfile::TempDir, HistoryStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = HistoryStore::open(&url).unwrap();
    (dir, store)
}

async fn next_event(events: &mut tokio::sync::mpsc::Receiver<PersistEvent>) -> PersistEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the persister is running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leaders_late_write_is_dropped_not_forced() {
    let (_dir, store) = store();
    let kind = EntityKind::NodePools;
    let mut ours = HistoryWriter::new(store.clone());
    ours.load_all(&[kind]).await.unwrap();
    // The new leader writes first.
    let theirs = timelines("new-leader", true);
    store.save(kind, &theirs, None).await.unwrap();

    let (tx, mut events) = persist::spawn(ours, Duration::from_secs(3600), metrics());
    let mut late = BTreeMap::new();
    late.insert(kind, timelines("old-leader", false));
    tx.send(PersistRequest::Changed(late)).await.unwrap();
    match next_event(&mut events).await {
        PersistEvent::Conflict(k) => assert_eq!(k, kind),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store.load(kind).await.unwrap(),
        Some(theirs.clone()),
        "not overwritten"
    );
    // Nothing is left pending: a flush has nothing to write and succeeds.
    let (done, flushed) = tokio::sync::oneshot::channel();
    tx.send(PersistRequest::Flush(done)).await.unwrap();
    assert!(flushed.await.unwrap());
    assert_eq!(store.load(kind).await.unwrap(), Some(theirs.clone()));

    // Reloading (what a leader does to continue) reads theirs, and then
    // writes are conditional on it.
    tx.send(PersistRequest::Reload(vec![kind])).await.unwrap();
    match next_event(&mut events).await {
        PersistEvent::Reloaded(Ok(stored)) => assert_eq!(stored[&kind], theirs),
        other => panic!("expected the reload, got {other:?}"),
    }
    let mut next = BTreeMap::new();
    let continued = timelines("continued", true);
    next.insert(kind, continued.clone());
    tx.send(PersistRequest::Changed(next)).await.unwrap();
    let (done, flushed) = tokio::sync::oneshot::channel();
    tx.send(PersistRequest::Flush(done)).await.unwrap();
    assert!(flushed.await.unwrap());
    assert_eq!(store.load(kind).await.unwrap(), Some(continued));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_file_is_kept_aside_and_the_other_kinds_load() {
    let (dir, store) = store();
    let good = timelines("js", true);
    store.save(EntityKind::JobSets, &good, None).await.unwrap();
    let garbage = b"{\"pool-a\": {\"upEvents\": [{\"up\": tru";
    std::fs::write(dir.path().join("node-pools.json"), garbage).unwrap();

    let mut writer = HistoryWriter::new(store.clone());
    let kinds = [EntityKind::JobSets, EntityKind::NodePools];
    let loaded = persist::load(&mut writer, &kinds, &metrics())
        .await
        .unwrap();
    assert_eq!(loaded[&EntityKind::JobSets], good);
    assert!(loaded[&EntityKind::NodePools].is_empty());
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("node-pools.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(dir.path().join(&aside[0])).unwrap(), garbage);
    // The next write replaces the corrupt file, conditionally on it.
    let fresh = timelines("pool-a", false);
    writer.flush(EntityKind::NodePools, &fresh).await.unwrap();
    assert_eq!(
        store.load(EntityKind::NodePools).await.unwrap(),
        Some(fresh)
    );
    assert_eq!(
        std::fs::read(dir.path().join(&aside[0])).unwrap(),
        garbage,
        "kept"
    );
}

/// An ended JobSet, as the fleet hands it over.
fn ended_jobset(key: &str) -> megamon_store::ToArchive {
    let start: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    let t = megamon_core::Timeline::from_events(vec![
        megamon_core::UpEvent::down(start),
        megamon_core::UpEvent::up(start + jiff::SignedDuration::from_mins(3)),
    ]);
    megamon_store::ToArchive {
        entity: megamon_core::archive::ArchivedEntity::new(
            EntityKind::JobSets,
            key,
            &t,
            start + jiff::SignedDuration::from_mins(30),
        ),
        seen_ending: true,
    }
}

async fn flush(tx: &tokio::sync::mpsc::Sender<PersistRequest>) -> bool {
    let (done, flushed) = tokio::sync::oneshot::channel();
    tx.send(PersistRequest::Flush(done)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), flushed)
        .await
        .expect("flushed within 10 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_is_archived_before_the_file_without_it_is_written() {
    let (dir, store) = store();
    let kind = EntityKind::JobSets;
    let mut writer = HistoryWriter::new(store.clone());
    writer.load_all(&[kind]).await.unwrap();
    store
        .save(kind, &timelines("js-1", true), None)
        .await
        .unwrap();
    writer.load_all(&[kind]).await.unwrap();
    // The archive cannot be written: its folder's place is taken by a file.
    std::fs::write(dir.path().join("archive"), "not a folder").unwrap();
    let (tx, _events) = persist::spawn(writer, Duration::from_secs(3600), metrics());
    tx.send(PersistRequest::Archive(vec![ended_jobset("js-1")]))
        .await
        .unwrap();
    tx.send(PersistRequest::Changed(BTreeMap::from([(
        kind,
        Timelines::new(),
    )])))
    .await
    .unwrap();
    assert!(!flush(&tx).await, "not flushed while the archive fails");
    let stored = store.load(kind).await.unwrap().unwrap();
    assert!(
        stored.get("js-1").is_some(),
        "the file still holds the unarchived end"
    );
    // The archive comes back: the end is archived, then the file written.
    std::fs::remove_file(dir.path().join("archive")).unwrap();
    assert!(flush(&tx).await);
    assert!(store.load(kind).await.unwrap().unwrap().is_empty());
    let archived = store.read_archive(kind, None).await.unwrap();
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].key, "js-1");
}
