//! The S3 backend against moto's server, started by the test.

mod support;

use std::time::Duration;

use megamon_core::EntityKind;
use megamon_store::HistoryStore;
use support::conformance::{check_server_gone, conformance};
use support::moto::{MotoServer, options_for_port};
use support::sample;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_conformance() {
    let moto = MotoServer::start().await;
    conformance(&moto.backend("megamon-events")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_errors() {
    let moto = MotoServer::start().await;
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
    assert!(!err.is_transient(), "{text}");

    // A server that went away is transient: keep the timelines and retry.
    let options = options_for_port(moto.port).with_retries(0, Duration::from_secs(1));
    let gone = HistoryStore::open_with("s3://events/p", &options).unwrap();
    drop(moto);
    check_server_gone(&gone).await;
}
