//! The S3 backend against moto's server, started by the test.

mod support;

use megamon_core::EntityKind;
use megamon_store::HistoryStore;
use support::moto::MotoServer;
use support::{ORIGINAL_DOCUMENT, check_conditional_writes, check_writers, sample};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip_and_conditional_writes() {
    let moto = MotoServer::start().await;
    moto.create_bucket("megamon-events");
    let url = "s3://megamon-events/megamon/clusters/c1";
    let a = HistoryStore::open_with(url, &moto.options()).unwrap();
    let b = HistoryStore::open_with(url, &moto.options()).unwrap();

    let c0 = HistoryStore::open_with("s3://megamon-events/megamon/clusters/c0", &moto.options())
        .unwrap();
    c0.save(EntityKind::Slices, &sample(), None).await.unwrap();
    assert_eq!(c0.load(EntityKind::Slices).await.unwrap(), Some(sample()));

    check_conditional_writes(&a, &b).await;
    check_writers(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_original_document_and_errors() {
    let moto = MotoServer::start().await;
    moto.create_bucket("events");
    // Written under the prefix by another client: loads unchanged.
    let root = HistoryStore::open_with("s3://events", &moto.options()).unwrap();
    let parsed = megamon_core::history::parse("x", ORIGINAL_DOCUMENT.as_bytes()).unwrap();
    root.save(EntityKind::JobSets, &parsed, None).await.unwrap();
    assert_eq!(root.load(EntityKind::JobSets).await.unwrap(), Some(parsed));

    // A bucket that does not exist is a clear, permanent error naming the file.
    let missing = HistoryStore::open_with("s3://no-such-bucket/p", &moto.options()).unwrap();
    let err = missing
        .save(EntityKind::JobSets, &sample(), None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("s3://no-such-bucket/p") && text.contains("p/jobsets.json"),
        "{text}"
    );

    // A server that went away is transient: keep the timelines and retry.
    let port = moto.port;
    drop(moto);
    let options =
        support::moto::options_for_port(port).with_retries(0, std::time::Duration::from_secs(1));
    let gone = HistoryStore::open_with("s3://events", &options).unwrap();
    let err = gone.load(EntityKind::JobSets).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}
