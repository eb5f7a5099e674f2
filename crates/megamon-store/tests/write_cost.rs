//! What writing a large history costs: a benchmark that every test run
//! smoke-runs at a small scale (500 entities of 10 events) in about a second,
//! checking what it writes and reads back. `MEGAMON_FULL_SCALE=1` runs the
//! benchmark's figures (10,000 entities), best in release mode:
//! `MEGAMON_FULL_SCALE=1 cargo test --release -p megamon-store --test write_cost -- --nocapture`.

mod support;

use std::time::Instant;

use megamon_core::{EntityKind, history};
use megamon_store::{Flushed, HistoryStore, HistoryWriter};

/// The benchmark's figure with `MEGAMON_FULL_SCALE=1`, else the smoke run's.
fn scale(smoke: usize, full: usize) -> usize {
    if std::env::var("MEGAMON_FULL_SCALE").as_deref() == Ok("1") {
        full
    } else {
        smoke
    }
}

#[tokio::test]
async fn jobsets_of_10_events_to_a_directory() {
    let entities = scale(500, 10_000);
    let timelines = support::timelines(entities, 10);
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(&format!("file://{}", dir.path().display())).unwrap();
    let mut writer = HistoryWriter::new(store.clone());
    writer.load_all(&[EntityKind::JobSets]).await.unwrap();

    let started = Instant::now();
    let bytes = history::to_bytes(&timelines);
    let serialize = started.elapsed();

    let mut rounds = Vec::new();
    let mut doc = timelines.clone();
    for i in 0..5 {
        // A changed document each round, so every flush writes.
        doc.observe(
            &format!("extra-{i}"),
            megamon_core::State::DOWN,
            jiff::Timestamp::now(),
        );
        let started = Instant::now();
        let flushed = writer.flush(EntityKind::JobSets, &doc).await.unwrap();
        rounds.push(started.elapsed());
        assert!(matches!(flushed, Flushed::Written(_)), "{flushed:?}");
    }
    let started = Instant::now();
    let loaded = store.load(EntityKind::JobSets).await.unwrap().unwrap();
    let load = started.elapsed();
    assert_eq!(loaded, doc);
    let started = Instant::now();
    let unchanged = writer.flush(EntityKind::JobSets, &doc).await.unwrap();
    let skip = started.elapsed();
    assert!(matches!(unchanged, Flushed::Unchanged), "{unchanged:?}");

    println!(
        "jobsets.json, {entities} entities x 10 events: {} bytes; serialize {:?}; \
         flush (serialize + fingerprint + locked compare + write + fsync + rename) {:?}; \
         load + parse {:?}; unchanged flush ({unchanged:?}) {:?}",
        bytes.len(),
        serialize,
        rounds,
        load,
        skip
    );
}
