//! What writing a large history costs. Run with
//! `cargo test --release -p megamon-store --test write_cost -- --ignored --nocapture`.

mod support;

use std::time::Instant;

use megamon_core::{EntityKind, history};
use megamon_store::{HistoryStore, HistoryWriter};

#[tokio::test]
#[ignore = "a measurement, not a check; run in release mode"]
async fn jobsets_10000_entities_10_events_to_a_directory() {
    let timelines = support::timelines(10_000, 10);
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
        writer.flush(EntityKind::JobSets, &doc).await.unwrap();
        rounds.push(started.elapsed());
    }
    let started = Instant::now();
    let loaded = store.load(EntityKind::JobSets).await.unwrap().unwrap();
    let load = started.elapsed();
    assert_eq!(loaded, doc);
    let started = Instant::now();
    let unchanged = writer.flush(EntityKind::JobSets, &doc).await.unwrap();
    let skip = started.elapsed();

    println!(
        "jobsets.json, 10000 entities x 10 events: {} bytes; serialize {:?}; \
         flush (serialize + fingerprint + locked compare + write + fsync + rename) {:?}; \
         load + parse {:?}; unchanged flush ({unchanged:?}) {:?}",
        bytes.len(),
        serialize,
        rounds,
        load,
        skip
    );
}
