//! The conformance suite every store backend runs: file://, memory://, s3://
//! on moto, gs:// on fake-gcs-server (reads: it lacks the upload object_store
//! writes with) and on our fake of the XML API, az:// on Azurite.
//!
//! "Another client" is a plain one (std::fs, an unsigned or Shared Key
//! signed HTTP request) that shares no code with object_store or our store,
//! and what it reads and writes is compared with literal values, not with
//! the output of the parser the store uses.

use megamon_core::EntityKind;
use megamon_store::{Flushed, HistoryStore, HistoryWriter, StoreError};

use super::{
    ORIGINAL_DOCUMENT, SAMPLE_BYTES, original_document_expected, sample, timelines, written_out,
};

/// A place a store backend keeps files, with two ways in: our store, and a
/// plain client of the same service.
pub trait Backend {
    /// A new store on directory `dir` under the backend's root, as a
    /// separate process would open it.
    fn open(&self, dir: &str) -> HistoryStore;
    /// Writes `dir/file` as another client would.
    fn put_plain(&self, dir: &str, file: &str, bytes: &[u8]);
    /// Reads `dir/file` as another client would; `None` when it does not exist.
    fn get_plain(&self, dir: &str, file: &str) -> Option<Vec<u8>>;
}

/// Everything: [`check_reads`] and [`check_writes`].
pub async fn conformance(backend: &impl Backend) {
    check_reads(backend).await;
    check_writes(backend).await;
}

/// What reading needs: a file another client wrote in the original format
/// loads with the values written in it, and the version we read changes
/// when another client replaces the file.
pub async fn check_reads(backend: &impl Backend) {
    let file = EntityKind::NodePools.file_name();
    backend.put_plain("read", file, ORIGINAL_DOCUMENT.as_bytes());
    let store = backend.open("read");
    let first = store
        .load_versioned(EntityKind::NodePools)
        .await
        .unwrap()
        .expect("the file another client wrote");
    assert_eq!(written_out(&first.timelines), original_document_expected());
    assert_eq!(store.load(EntityKind::JobSets).await.unwrap(), None);

    backend.put_plain("read", file, b"{}");
    let second = store
        .load_versioned(EntityKind::NodePools)
        .await
        .unwrap()
        .unwrap();
    assert!(second.timelines.is_empty());
    assert_ne!(
        second.version, first.version,
        "another client's write is a new version"
    );
}

/// What writing needs: replacing a file another client wrote, conditionally
/// on the version read; writing the original format byte for byte; refusing
/// to overwrite a change made since; and two writers of our own
/// ([`check_conditional_writes`], [`check_writers`]).
pub async fn check_writes(backend: &impl Backend) {
    let kind = EntityKind::Slices;
    let file = kind.file_name();
    backend.put_plain("write", file, ORIGINAL_DOCUMENT.as_bytes());
    let store = backend.open("write");
    let read = store.load_versioned(kind).await.unwrap().unwrap();
    let written = store
        .save(kind, &sample(), Some(&read.version))
        .await
        .unwrap();
    let plain = backend.get_plain("write", file).expect("our write");
    assert_eq!(String::from_utf8_lossy(&plain), SAMPLE_BYTES);

    // Another client changes the file after our write: ours must not clobber it.
    backend.put_plain("write", file, ORIGINAL_DOCUMENT.as_bytes());
    assert_conflict(
        store.save(kind, &timelines(3, 3), Some(&written)).await,
        "a change by another client",
    );
    assert_eq!(
        backend.get_plain("write", file).as_deref(),
        Some(ORIGINAL_DOCUMENT.as_bytes()),
        "the other client's document is kept"
    );

    check_conditional_writes(&backend.open("own"), &backend.open("own")).await;
    check_writers(&backend.open("own"), &backend.open("own")).await;
}

/// A store whose server has gone away: reads and writes fail with errors
/// that name the store and are transient (kept in memory, tried again).
pub async fn check_server_gone(store: &HistoryStore) {
    let err = store.load(EntityKind::JobSets).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains(store.url()), "{err}");
    let err = store
        .save(EntityKind::JobSets, &sample(), None)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains(store.url()), "{err}");
}

fn assert_conflict(result: Result<impl std::fmt::Debug, StoreError>, what: &str) {
    match result {
        Err(e @ StoreError::Conflict { .. }) => {
            assert!(!e.is_transient(), "{what}: a conflict is not transient");
        }
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}

/// The behaviour every backend must have, through two handles `a` and `b` on
/// the same location (two processes, in effect).
pub async fn check_conditional_writes(a: &HistoryStore, b: &HistoryStore) {
    let kind = EntityKind::JobSets;
    let (t1, t2, t3) = (timelines(1, 2), timelines(2, 3), timelines(3, 1));

    assert_eq!(a.load_versioned(kind).await.unwrap(), None, "missing file");

    let v1 = a.save(kind, &t1, None).await.unwrap();
    assert_conflict(a.save(kind, &t2, None).await, "creating a file that exists");
    let seen = b.load_versioned(kind).await.unwrap().expect("written");
    assert_eq!(seen.timelines, t1);
    assert_eq!(
        seen.version, v1,
        "a read reports the version the write returned"
    );

    let v2 = a.save(kind, &t2, Some(&v1)).await.unwrap();
    assert_ne!(v2, v1);
    // b still holds v1: its write must not replace a's.
    assert_conflict(b.save(kind, &t3, Some(&v1)).await, "stale version");
    let now = b.load_versioned(kind).await.unwrap().unwrap();
    assert_eq!(now.timelines, t2, "the loser wrote nothing");
    assert_eq!(now.version, v2);
    b.save(kind, &t3, Some(&v2)).await.unwrap();
    assert_eq!(a.load(kind).await.unwrap(), Some(t3));

    // Updating a file that does not exist is a conflict too.
    assert_conflict(
        a.save(EntityKind::Slices, &t1, Some(&v2)).await,
        "updating a missing file",
    );
    assert_eq!(a.load(EntityKind::Slices).await.unwrap(), None);
}

/// Two monitors' writers on the same location.
pub async fn check_writers(a: &HistoryStore, b: &HistoryStore) {
    let kind = EntityKind::NodePools;
    let mut wa = HistoryWriter::new(a.clone());
    let mut wb = HistoryWriter::new(b.clone());
    let loaded = wa.load_all(&EntityKind::ALL).await.unwrap();
    assert_eq!(loaded.len(), EntityKind::ALL.len());
    assert!(loaded[&kind].is_empty());
    wb.load_all(&[kind]).await.unwrap();

    let (t1, t2) = (timelines(4, 2), timelines(5, 2));
    assert!(matches!(
        wa.flush(kind, &t1).await.unwrap(),
        Flushed::Written(_)
    ));
    assert_eq!(wa.flush(kind, &t1).await.unwrap(), Flushed::Unchanged);
    // b loaded before a created the file: b must not overwrite it.
    assert_conflict(wb.flush(kind, &t2).await, "second writer");
    assert_eq!(b.load(kind).await.unwrap(), Some(t1.clone()));
    // b decides to overwrite after looking.
    let merged = wb.reload(kind).await.unwrap();
    assert_eq!(merged, t1);
    assert!(matches!(
        wb.flush(kind, &t2).await.unwrap(),
        Flushed::Written(_)
    ));
    // Now a is stale.
    assert_conflict(wa.flush(kind, &timelines(6, 2)).await, "stale first writer");
    let current = wa.reload_version(kind).await.unwrap();
    assert_eq!(current.as_ref(), wb.version(kind));
    assert!(matches!(
        wa.flush(kind, &timelines(6, 2)).await.unwrap(),
        Flushed::Written(_)
    ));
    assert_eq!(a.load(kind).await.unwrap(), Some(timelines(6, 2)));

    // A write that landed although its writer never heard back: the same
    // document at an unknown version is adopted, not reported as a conflict.
    let other_kind = EntityKind::JobSetNodes;
    let mut wc = HistoryWriter::new(a.clone());
    wc.load_all(&[other_kind]).await.unwrap();
    let doc = timelines(2, 2);
    b.save(other_kind, &doc, None).await.unwrap();
    match wc.flush(other_kind, &doc).await.unwrap() {
        Flushed::Written(v) => assert_eq!(Some(&v), wc.version(other_kind)),
        other => panic!("expected the landed write to be adopted, got {other:?}"),
    }
}
