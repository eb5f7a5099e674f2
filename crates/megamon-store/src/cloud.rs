//! Clients for S3 and Google Cloud Storage buckets.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};

use crate::StoreOptions;

/// The HTTP client uses rustls without a built-in crypto provider (so the
/// build carries only ring, which kube already uses); it must be chosen once
/// per process before a client is built. Installing twice is harmless.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub(crate) fn s3(bucket: &str, options: &StoreOptions) -> Result<Arc<dyn ObjectStore>, String> {
    install_crypto_provider();
    let mut builder = if options.read_environment {
        AmazonS3Builder::from_env()
    } else {
        AmazonS3Builder::new()
    };
    for (key, value) in &options.settings {
        let parsed: AmazonS3ConfigKey = key
            .parse()
            .map_err(|_| format!("unknown S3 setting {key:?}"))?;
        builder = builder.with_config(parsed, value);
    }
    let store = builder
        .with_bucket_name(bucket)
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}

pub(crate) fn gcs(bucket: &str, options: &StoreOptions) -> Result<Arc<dyn ObjectStore>, String> {
    install_crypto_provider();
    let mut builder = if options.read_environment {
        GoogleCloudStorageBuilder::from_env()
    } else {
        GoogleCloudStorageBuilder::new()
    };
    for (key, value) in &options.settings {
        let parsed: GoogleConfigKey = key
            .parse()
            .map_err(|_| format!("unknown Google Cloud Storage setting {key:?}"))?;
        builder = builder.with_config(parsed, value);
    }
    let store = builder
        .with_bucket_name(bucket)
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}
