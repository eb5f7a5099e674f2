//! Helpers shared by the store tests.
#![allow(dead_code)]

pub mod fake_gcs;
pub mod moto;

use std::time::{Duration, Instant};

use jiff::Timestamp;
use megamon_core::Timelines;

/// Timelines with `entities` keys, each with `events` alternating transitions.
pub fn timelines(entities: usize, events: usize) -> Timelines {
    let mut t = Timelines::new();
    let start: Timestamp = "2024-01-01T00:00:00.25Z".parse().unwrap();
    for e in 0..entities {
        let key = format!("uid-{e:06}");
        for i in 0..events {
            let at = start + jiff::SignedDuration::from_secs((i * 60) as i64);
            t.observe(
                &key,
                megamon_core::State {
                    up: i % 2 == 1,
                    expected_down: i % 4 == 2,
                    failed: false,
                },
                at,
            );
        }
    }
    t
}

pub fn sample() -> Timelines {
    timelines(2, 3)
}

/// A document the original MegaMon wrote: indented, `ed` present and absent,
/// whole and fractional seconds, an offset, a null event list.
pub const ORIGINAL_DOCUMENT: &str = r#"{
  "6f1c0e0a-1111-4c1b-9a55-000000000001": {
    "upEvents": [
      {"up": false, "ts": "2024-04-30T10:00:00Z"},
      {"up": true, "ts": "2024-04-30T10:12:31.123456789Z"},
      {"up": false, "ed": true, "ts": "2024-04-30T13:00:00+02:00"},
      {"up": true, "ed": false, "ts": "2024-04-30T11:30:00.5Z"}
    ]
  },
  "6f1c0e0a-1111-4c1b-9a55-000000000002": {"upEvents": null}
}
"#;

/// Polls `probe` until it yields a value, failing the test after `limit`.
pub async fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A port the OS considers free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

use megamon_core::EntityKind;
use megamon_store::{Flushed, HistoryStore, HistoryWriter, StoreError};

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
