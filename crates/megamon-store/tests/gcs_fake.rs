//! The Google Cloud Storage backend's writes against our fake of the XML API
//! (`support/fake_gcs.rs`): fake-gcs-server lacks the XML API upload that
//! object_store writes with, and so its `x-goog-if-generation-match`
//! preconditions (see `tests/gcs_emulator.rs`, which checks that and the reads).

mod support;

use megamon_core::EntityKind;
use megamon_store::HistoryStore;
use support::conformance::{Backend, conformance};
use support::fake_gcs::FakeGcs;

struct FakeBucket<'a> {
    gcs: &'a FakeGcs,
    bucket: &'static str,
}

impl Backend for FakeBucket<'_> {
    fn open(&self, dir: &str) -> HistoryStore {
        HistoryStore::open_with(&format!("gs://{}/{dir}", self.bucket), &self.gcs.options())
            .unwrap()
    }

    fn put_plain(&self, dir: &str, file: &str, bytes: &[u8]) {
        self.gcs
            .put_object(self.bucket, &format!("{dir}/{file}"), bytes);
    }

    fn get_plain(&self, dir: &str, file: &str) -> Option<Vec<u8>> {
        self.gcs
            .object(self.bucket, &format!("{dir}/{file}"))
            .map(|(data, _)| data.to_vec())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_conformance_on_the_xml_api_fake() {
    let gcs = FakeGcs::start().await;
    let bucket = FakeBucket {
        gcs: &gcs,
        bucket: "megamon-events",
    };
    conformance(&bucket).await;

    // The version read is the object's generation.
    let store = bucket.open("write");
    let v = store
        .load_versioned(EntityKind::Slices)
        .await
        .unwrap()
        .unwrap()
        .version;
    let (_, generation) = gcs
        .object("megamon-events", "write/slices.json")
        .expect("stored where the URL says");
    assert_eq!(v.to_string(), format!("generation {generation}"));

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
async fn gcs_corrupt_object_names_the_object_and_line() {
    let gcs = FakeGcs::start().await;
    gcs.put_object("b", "megamon/clusters/c2/slices.json", b"{\n\"a\": 1}");
    let store = HistoryStore::open_with("gs://b/megamon/clusters/c2/", &gcs.options()).unwrap();
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
