//! Clients for S3, Google Cloud Storage and Azure Blob Storage.
//!
//! object_store's three builders share no trait, so the part they have in
//! common (environment or not, then explicit settings) is one generic
//! function given their constructors, and only bucket, retry and build are
//! written per store.

use std::str::FromStr;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};

use crate::StoreOptions;

/// The HTTP client uses rustls without a built-in crypto provider (so the
/// build carries only ring, which kube already uses); it must be chosen once
/// per process before a client is built. Installing twice is harmless.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A builder from the environment (or not), with the explicit settings applied.
fn configured<B, K: FromStr>(
    options: &StoreOptions,
    service: &str,
    from_env: fn() -> B,
    new: fn() -> B,
    with_config: fn(B, K, &str) -> B,
) -> Result<B, String> {
    install_crypto_provider();
    let mut builder = if options.read_environment {
        from_env()
    } else {
        new()
    };
    for (key, value) in &options.settings {
        let parsed: K = key
            .parse()
            .map_err(|_| format!("unknown {service} setting {key:?}"))?;
        builder = with_config(builder, parsed, value);
    }
    Ok(builder)
}

pub(crate) fn s3(bucket: &str, options: &StoreOptions) -> Result<Arc<dyn ObjectStore>, String> {
    let builder = configured(
        options,
        "S3",
        AmazonS3Builder::from_env,
        AmazonS3Builder::new,
        |b, key: AmazonS3ConfigKey, value| b.with_config(key, value),
    )?;
    let store = builder
        .with_bucket_name(bucket)
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}

pub(crate) fn gcs(bucket: &str, options: &StoreOptions) -> Result<Arc<dyn ObjectStore>, String> {
    let builder = configured(
        options,
        "Google Cloud Storage",
        GoogleCloudStorageBuilder::from_env,
        GoogleCloudStorageBuilder::new,
        |b, key: GoogleConfigKey, value| b.with_config(key, value),
    )?;
    let store = builder
        .with_bucket_name(bucket)
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}

pub(crate) fn azure(
    container: &str,
    options: &StoreOptions,
) -> Result<Arc<dyn ObjectStore>, String> {
    check_container_name(container)?;
    let builder = configured(
        options,
        "Azure",
        MicrosoftAzureBuilder::from_env,
        MicrosoftAzureBuilder::new,
        |b, key: AzureConfigKey, value| b.with_config(key, value),
    )?;
    check_azure_settings(&builder)?;
    let store = builder
        .with_container_name(container)
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}

/// Azure answers a bad container name with 400, which object_store reports
/// like a server fault (retried forever as transient); say so at start-up.
fn check_container_name(name: &str) -> Result<(), String> {
    let chars_ok = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ends_ok = !name.starts_with('-') && !name.ends_with('-');
    if (3..=63).contains(&name.len()) && chars_ok && ends_ok && !name.contains("--") {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an Azure container name (3 to 63 lowercase letters, digits \
             and single hyphens, starting and ending with a letter or digit)"
        ))
    }
}

/// What object_store would otherwise report as "Account must be specified",
/// or silently replace with the VM's managed identity: an incomplete
/// credential. Names the variables (and settings) to set.
fn check_azure_settings(builder: &MicrosoftAzureBuilder) -> Result<(), String> {
    let set = |key: AzureConfigKey| {
        builder
            .get_config_value(&key)
            .is_some_and(|v| !v.trim().is_empty())
    };
    // object_store's own reading of a boolean setting.
    let emulator = builder
        .get_config_value(&AzureConfigKey::UseEmulator)
        .is_some_and(|v| {
            ["1", "true", "on", "yes", "y"].contains(&v.trim().to_ascii_lowercase().as_str())
        });
    if !emulator && !set(AzureConfigKey::AccountName) {
        return Err(
            "no Azure storage account: set AZURE_STORAGE_ACCOUNT_NAME (setting \
             azure_storage_account_name), or AZURE_STORAGE_USE_EMULATOR=true for Azurite"
                .to_string(),
        );
    }
    let client = (AzureConfigKey::ClientId, "AZURE_CLIENT_ID");
    let tenant = (AzureConfigKey::AuthorityId, "AZURE_TENANT_ID");
    let lacking: Vec<&str> = [client, tenant]
        .into_iter()
        .filter(|(key, _)| !set(*key))
        .map(|(_, name)| name)
        .collect();
    for (given, name) in [
        (
            AzureConfigKey::FederatedTokenFile,
            "AZURE_FEDERATED_TOKEN_FILE",
        ),
        (AzureConfigKey::ClientSecret, "AZURE_CLIENT_SECRET"),
    ] {
        if set(given) && !lacking.is_empty() {
            let verb = if lacking.len() == 1 { "is" } else { "are" };
            return Err(format!(
                "incomplete Azure credentials: {name} is set but {} {verb} not",
                lacking.join(" and ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names() {
        for ok in ["abc", "megamon-events", "a1-b2", &"x".repeat(63)] {
            assert!(check_container_name(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Events", "a_b", "-ab", "ab-", "a--b", &"x".repeat(64)] {
            assert!(check_container_name(bad).is_err(), "{bad}");
        }
    }
}
