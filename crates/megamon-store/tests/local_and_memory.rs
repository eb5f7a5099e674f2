//! The directory (`file://`, plain path) and `memory://` backends.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use megamon_core::{EntityKind, history};
use megamon_store::{HistoryStore, StoreError};
use support::conformance::{Backend, check_conditional_writes, check_writers, conformance};
use support::{ORIGINAL_DOCUMENT, original_document_expected, sample, timelines, written_out};

fn dir_url(dir: &tempfile::TempDir) -> String {
    format!("file://{}", dir.path().display())
}

/// Directories under a temporary root; the plain client is std::fs.
struct Directories(tempfile::TempDir);

impl Backend for Directories {
    fn open(&self, dir: &str) -> HistoryStore {
        let path = self.0.path().join(dir);
        std::fs::create_dir_all(&path).unwrap();
        HistoryStore::open(&format!("file://{}", path.display())).unwrap()
    }

    fn put_plain(&self, dir: &str, file: &str, bytes: &[u8]) {
        let path = self.0.path().join(dir);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join(file), bytes).unwrap();
    }

    fn get_plain(&self, dir: &str, file: &str) -> Option<Vec<u8>> {
        std::fs::read(self.0.path().join(dir).join(file)).ok()
    }
}

#[tokio::test]
async fn file_conformance() {
    conformance(&Directories(tempfile::tempdir().unwrap())).await;
}

#[tokio::test]
async fn file_round_trip_in_the_original_layout() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(&dir_url(&dir)).unwrap();
    assert_eq!(store.load(EntityKind::Slices).await.unwrap(), None);
    store
        .save(EntityKind::JobSets, &sample(), None)
        .await
        .unwrap();
    assert_eq!(
        store.load(EntityKind::JobSets).await.unwrap(),
        Some(sample())
    );
    let text = std::fs::read_to_string(dir.path().join("jobsets.json")).unwrap();
    assert!(
        text.starts_with(
            r#"{"uid-000000":{"upEvents":[{"up":false,"ts":"2024-01-01T00:00:00.25Z"}"#
        ),
        "{text}"
    );
    // A plain path names the same store; no temporary files are left behind.
    let plain = HistoryStore::open(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(
        plain.load(EntityKind::JobSets).await.unwrap(),
        Some(sample())
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test]
async fn file_written_by_the_original_loads_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node-pools.json");
    std::fs::write(&path, ORIGINAL_DOCUMENT).unwrap();
    let store = HistoryStore::open(&dir_url(&dir)).unwrap();
    let stored = store
        .load_versioned(EntityKind::NodePools)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written_out(&stored.timelines), original_document_expected());
    // Loading does not touch the file, and its version lets us replace it.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), ORIGINAL_DOCUMENT);
    store
        .save(
            EntityKind::NodePools,
            &stored.timelines,
            Some(&stored.version),
        )
        .await
        .unwrap();
    assert_eq!(
        store.load(EntityKind::NodePools).await.unwrap(),
        Some(stored.timelines)
    );
}

/// A `file://` URL and a plain path are the same store.
#[tokio::test]
async fn file_url_and_plain_path_conditional_writes() {
    let dir = tempfile::tempdir().unwrap();
    let a = HistoryStore::open(&dir_url(&dir)).unwrap();
    let b = HistoryStore::open(dir.path().to_str().unwrap()).unwrap();
    check_conditional_writes(&a, &b).await;
    check_writers(&a, &b).await;
}

#[tokio::test]
async fn file_changed_by_hand_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(&dir_url(&dir)).unwrap();
    let v = store
        .save(EntityKind::Slices, &sample(), None)
        .await
        .unwrap();
    // Same length, different content: an editor fixing one character.
    let path = dir.path().join("slices.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("uid-000000", "uid-000009");
    std::fs::write(&path, text).unwrap();
    let err = store
        .save(EntityKind::Slices, &sample(), Some(&v))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string()
            .contains("slices.json was changed by another writer"),
        "{err}"
    );
}

/// Many writers race from the same version: exactly one wins each round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_racing_writers_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir_url(&dir);
    let kind = EntityKind::JobSets;
    let first = HistoryStore::open(&url).unwrap();
    let mut version = first.save(kind, &timelines(1, 1), None).await.unwrap();
    for round in 0..5 {
        let mut tasks = Vec::new();
        for writer in 0..8 {
            let store = HistoryStore::open(&url).unwrap();
            let seen = version.clone();
            tasks.push(tokio::spawn(async move {
                let doc = timelines(2 + writer, 1 + round);
                store.save(kind, &doc, Some(&seen)).await.map(|v| (v, doc))
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(won) => winners.push(won),
                Err(e) => assert!(e.is_conflict(), "{e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}");
        let (v, doc) = winners.pop().unwrap();
        assert_eq!(first.load(kind).await.unwrap(), Some(doc));
        version = v;
    }
}

/// A reader polling the file while it is rewritten sees only whole
/// documents, the old or the new one. The writes that a read overlapped are
/// counted, and writing goes on (within bounds) until many were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_readers_see_the_old_or_the_new_document_never_a_part() {
    const OVERLAPPED_WRITES: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobsets.json");
    let store = HistoryStore::open(&dir_url(&dir)).unwrap();
    let kind = EntityKind::JobSets;
    let (small, large) = (timelines(10, 2), timelines(2_000, 10));
    let documents = [history::to_bytes(&small), history::to_bytes(&large)];
    let mut version = store.save(kind, &small, None).await.unwrap();

    // Writes run one after another and are counted when they start and
    // finish. A read overlapped write number `finished_before + 1` if that
    // write had started by the time the read ended.
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let overlapped = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (started, finished, overlapped, done) = (
            Arc::clone(&started),
            Arc::clone(&finished),
            Arc::clone(&overlapped),
            Arc::clone(&done),
        );
        std::thread::spawn(move || {
            let mut seen = [0usize; 2];
            let mut last_overlapped = 0;
            while !done.load(Ordering::SeqCst) {
                let finished_before = finished.load(Ordering::SeqCst);
                let bytes = std::fs::read(&path).unwrap();
                let write = finished_before + 1;
                if started.load(Ordering::SeqCst) >= write && write != last_overlapped {
                    last_overlapped = write;
                    overlapped.fetch_add(1, Ordering::SeqCst);
                }
                let which = documents.iter().position(|d| *d == bytes);
                let which = which.unwrap_or_else(|| {
                    panic!("a partial or foreign document of {} bytes", bytes.len())
                });
                seen[which] += 1;
            }
            seen
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut writes = 0;
    while overlapped.load(Ordering::SeqCst) < OVERLAPPED_WRITES && Instant::now() < deadline {
        let doc = if writes % 2 == 0 { &large } else { &small };
        started.fetch_add(1, Ordering::SeqCst);
        version = store.save(kind, doc, Some(&version)).await.unwrap();
        finished.fetch_add(1, Ordering::SeqCst);
        writes += 1;
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().expect("the reader saw only whole documents");
    let overlapped = overlapped.load(Ordering::SeqCst);
    assert!(
        overlapped >= OVERLAPPED_WRITES,
        "reads overlapped only {overlapped} of {writes} writes"
    );
    assert!(seen[0] > 0 && seen[1] > 0, "both documents read: {seen:?}");
}

#[tokio::test]
async fn memory_round_trip_and_conditional_writes() {
    let store = HistoryStore::open("memory://megamon/clusters/c1").unwrap();
    store
        .save(EntityKind::NodePools, &sample(), None)
        .await
        .unwrap();
    assert_eq!(
        store.load(EntityKind::NodePools).await.unwrap(),
        Some(sample())
    );
    assert_eq!(store.load(EntityKind::JobSets).await.unwrap(), None);
    // Clones share the memory; separately opened stores do not. So no other
    // client can reach it, and of the conformance suite only our own
    // writers' part applies.
    let a = HistoryStore::open("memory://").unwrap();
    check_conditional_writes(&a, &a.clone()).await;
    check_writers(&a, &a.clone()).await;
    let other = HistoryStore::open("memory://").unwrap();
    assert_eq!(other.load(EntityKind::JobSets).await.unwrap(), None);
}

#[tokio::test]
async fn corrupted_file_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("node-pools.json"),
        "{\n  \"a\": {\"upEvents\": [}\n}\n",
    )
    .unwrap();
    let store = HistoryStore::open(dir.path().to_str().unwrap()).unwrap();
    let err = store.load(EntityKind::NodePools).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(!err.is_transient());
    let text = err.to_string();
    let file = dir.path().join("node-pools.json");
    assert!(
        text.contains(&format!("{}: line 2, column", file.display())),
        "{text}"
    );
    // The writer refuses to start from a corrupt file rather than replace it.
    let mut writer = megamon_store::HistoryWriter::new(store);
    assert!(writer.load_all(&[EntityKind::NodePools]).await.is_err());
}

#[test]
fn bad_urls_are_clear_errors() {
    let err = |url: &str| HistoryStore::open(url).unwrap_err().to_string();
    assert!(err("/definitely/not/here").contains("cannot open directory"));
    assert!(err("ftp://x/y").contains("unsupported scheme \"ftp\""));
    assert!(err("file://relative/dir").contains("absolute path"));
    assert!(err("gs:///path").contains("no bucket name"));
    assert!(err("s3://").contains("no bucket name"));
    assert!(err("az://").contains("no container name"));
    let e = HistoryStore::open_with(
        "s3://b/p",
        &megamon_store::StoreOptions::without_environment().with("aws_no_such_key", "1"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown S3 setting \"aws_no_such_key\""), "{e}");
    let file = tempfile::NamedTempFile::new().unwrap();
    assert!(err(file.path().to_str().unwrap()).contains("is not a directory"));
}

#[test]
fn unreadable_directory_is_a_permanent_error() {
    // Writing into a directory that has vanished is reported with the file's name.
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path().to_str().unwrap()).unwrap();
    let path = dir.path().to_path_buf();
    drop(dir);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime
        .block_on(store.save(EntityKind::JobSets, &sample(), None))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(!err.is_transient(), "{text}");
}
