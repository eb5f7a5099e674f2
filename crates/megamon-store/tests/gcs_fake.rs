//! The Google Cloud Storage backend against a local fake of its XML API.

mod support;

use megamon_core::EntityKind;
use megamon_store::{HistoryStore, HistoryWriter};
use support::fake_gcs::FakeGcs;
use support::{ORIGINAL_DOCUMENT, check_conditional_writes, check_writers, sample};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_round_trip_and_conditional_writes() {
    let gcs = FakeGcs::start().await;
    let url = "gs://megamon-events/megamon/clusters/c1";
    let a = HistoryStore::open_with(url, &gcs.options()).unwrap();
    let b = HistoryStore::open_with(url, &gcs.options()).unwrap();

    let c0 =
        HistoryStore::open_with("gs://megamon-events/megamon/clusters/c0", &gcs.options()).unwrap();
    c0.save(EntityKind::Slices, &sample(), None).await.unwrap();
    assert_eq!(c0.load(EntityKind::Slices).await.unwrap(), Some(sample()));
    let (_, generation) = gcs
        .object("megamon-events", "megamon/clusters/c0/slices.json")
        .expect("stored where the original stores it");
    let v = c0
        .load_versioned(EntityKind::Slices)
        .await
        .unwrap()
        .unwrap()
        .version;
    assert_eq!(v.to_string(), format!("generation {generation}"));

    check_conditional_writes(&a, &b).await;
    check_writers(&a, &b).await;

    // Every write carried a generation precondition; nothing else was called.
    let requests = gcs.requests();
    for r in &requests {
        assert!(["GET", "PUT"].contains(&r.method.as_str()), "{r:?}");
        if r.method == "PUT" {
            assert!(r.if_generation_match.is_some(), "unconditional write {r:?}");
        }
    }
    assert!(
        requests.iter().any(|r| r.status == 412),
        "a conflict reached the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_original_document_loads_and_foreign_change_is_a_conflict() {
    let gcs = FakeGcs::start().await;
    gcs.put_object(
        "b",
        "megamon/clusters/c2/node-pools.json",
        ORIGINAL_DOCUMENT.as_bytes(),
    );
    let store = HistoryStore::open_with("gs://b/megamon/clusters/c2/", &gcs.options()).unwrap();
    let mut writer = HistoryWriter::new(store.clone());
    let loaded = writer.load_all(&[EntityKind::NodePools]).await.unwrap();
    let parsed = megamon_core::history::parse("x", ORIGINAL_DOCUMENT.as_bytes()).unwrap();
    assert_eq!(loaded[&EntityKind::NodePools], parsed);

    // Another process replaces the file: our flush must not clobber it.
    gcs.put_object("b", "megamon/clusters/c2/node-pools.json", b"{}");
    let err = writer
        .flush(EntityKind::NodePools, &sample())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        gcs.object("b", "megamon/clusters/c2/node-pools.json")
            .unwrap()
            .0
            .as_ref(),
        b"{}"
    );

    // Corrupt content is reported with the object's name and line.
    gcs.put_object("b", "megamon/clusters/c2/slices.json", b"{\n\"a\": 1}");
    let err = store
        .load(EntityKind::Slices)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("megamon/clusters/c2/slices.json: line 2"),
        "{err}"
    );
}
