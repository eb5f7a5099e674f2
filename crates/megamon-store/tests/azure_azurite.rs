//! The Azure Blob Storage backend (`az://`, `azure://`) against Azurite,
//! started by the test.

mod support;

use std::time::Duration;

use megamon_core::EntityKind;
use megamon_store::{Flushed, HistoryStore, HistoryWriter, StoreOptions};
use support::azurite::{ACCOUNT, Azurite, KEY, options_for_port};
use support::conformance::{check_server_gone, conformance};
use support::{sample, timelines};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_conformance() {
    let azurite = Azurite::start().await;
    conformance(&azurite.backend("megamon-events")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_url_forms_and_errors() {
    let azurite = Azurite::start().await;
    azurite.create_container("events");
    // azure:// is the same store as az://.
    let az = HistoryStore::open_with("az://events/c1", &azurite.options()).unwrap();
    let azure = HistoryStore::open_with("azure://events/c1/", &azurite.options()).unwrap();
    az.save(EntityKind::Slices, &sample(), None).await.unwrap();
    assert_eq!(
        azure.load(EntityKind::Slices).await.unwrap(),
        Some(sample())
    );
    let r = azurite.signed("GET", "/events/c1/slices.json", &[], &[], b"");
    assert_eq!(r.status, 200, "stored where the URL says");

    // A container that does not exist: a clear, permanent error naming the file.
    let missing = HistoryStore::open_with("az://no-such-container/p", &azurite.options()).unwrap();
    let err = missing
        .save(EntityKind::JobSets, &sample(), None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("az://no-such-container/p") && text.contains("p/jobsets.json"),
        "{text}"
    );
    assert!(!err.is_transient(), "{text}");

    // A wrong account key is refused by the server: permanent.
    let wrong_key = StoreOptions::without_environment()
        .with("azure_storage_account_name", ACCOUNT)
        .with("azure_storage_account_key", KEY.replace('E', "F"))
        .with(
            "azure_storage_endpoint",
            format!("http://127.0.0.1:{}/{ACCOUNT}", azurite.port),
        )
        .with("azure_allow_http", "true");
    let denied = HistoryStore::open_with("az://events/c1", &wrong_key).unwrap();
    let err = denied.load(EntityKind::Slices).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
}

/// While Azurite is away the writer fails transiently and loses nothing; once
/// it is back (same port, empty), the next flush writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_server_gone_is_transient_and_writes_resume() {
    let azurite = Azurite::start().await;
    azurite.create_container("events");
    let port = azurite.port;
    let options = options_for_port(port).with_retries(0, Duration::from_secs(1));
    let store = HistoryStore::open_with("az://events/p", &options).unwrap();
    let mut writer = HistoryWriter::new(store.clone());
    writer.load_all(&[EntityKind::JobSets]).await.unwrap();
    drop(azurite);

    check_server_gone(&store).await;
    let doc = timelines(3, 2);
    let err = writer.flush(EntityKind::JobSets, &doc).await.unwrap_err();
    assert!(err.is_transient(), "{err}");

    let azurite = Azurite::start_on(port).await;
    azurite.create_container("events");
    assert!(matches!(
        writer.flush(EntityKind::JobSets, &doc).await.unwrap(),
        Flushed::Written(_)
    ));
    assert_eq!(store.load(EntityKind::JobSets).await.unwrap(), Some(doc));
}

#[test]
fn azure_configuration_errors_name_what_is_missing() {
    let err = |url: &str, options: &StoreOptions| {
        HistoryStore::open_with(url, options)
            .unwrap_err()
            .to_string()
    };
    let none = StoreOptions::without_environment();
    let e = err("az://events/p", &none);
    assert!(
        e.contains("az://events/p") && e.contains("AZURE_STORAGE_ACCOUNT_NAME"),
        "{e}"
    );
    let e = err("az:///p", &none);
    assert!(
        e.contains("no container name; expected az://CONTAINER/PATH"),
        "{e}"
    );
    let e = err("azure://Events/p", &none);
    assert!(
        e.contains("\"Events\" is not an Azure container name"),
        "{e}"
    );

    // Workload Identity as AKS injects it, minus one variable.
    let account = StoreOptions::without_environment().with("azure_storage_account_name", "acct");
    let e = err(
        "az://events/p",
        &account
            .clone()
            .with("azure_federated_token_file", "/var/run/secrets/token")
            .with("azure_client_id", "id"),
    );
    assert!(
        e.contains("AZURE_FEDERATED_TOKEN_FILE is set but AZURE_TENANT_ID is not"),
        "{e}"
    );
    let e = err(
        "az://events/p",
        &account.clone().with("azure_client_secret", "s"),
    );
    assert!(
        e.contains("AZURE_CLIENT_SECRET is set but AZURE_CLIENT_ID and AZURE_TENANT_ID are not"),
        "{e}"
    );
    let e = err(
        "az://events/p",
        &account.clone().with("azure_no_such_key", "1"),
    );
    assert!(
        e.contains("unknown Azure setting \"azure_no_such_key\""),
        "{e}"
    );

    // Complete Workload Identity opens (tokens are fetched on first use).
    HistoryStore::open_with(
        "az://events/p",
        &account
            .with("azure_federated_token_file", "/var/run/secrets/token")
            .with("azure_client_id", "id")
            .with("azure_tenant_id", "tenant"),
    )
    .unwrap();
}
