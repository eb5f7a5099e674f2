//! How to reach S3, Google Cloud Storage and Azure beyond what the URL says.

use std::time::Duration;

/// Settings for cloud stores. [`StoreOptions::default`] reads the environment
/// the usual way:
///
/// - `gs://`: `GOOGLE_APPLICATION_CREDENTIALS` or `GOOGLE_SERVICE_ACCOUNT`
///   (a service-account file), `GOOGLE_SERVICE_ACCOUNT_KEY` (its JSON), the
///   gcloud application-default file, else the GKE metadata server (workload
///   identity); `GOOGLE_BASE_URL` for another endpoint.
/// - `s3://`: `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`,
///   `AWS_ALLOW_HTTP`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
///   `AWS_SESSION_TOKEN`, web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`,
///   `AWS_ROLE_ARN`) or the instance metadata service.
/// - `az://` (`azure://`): `AZURE_STORAGE_ACCOUNT_NAME` (required, except
///   for the emulator) and one of `AZURE_STORAGE_ACCOUNT_KEY`,
///   `AZURE_STORAGE_SAS_KEY`, Workload Identity (`AZURE_FEDERATED_TOKEN_FILE`
///   with `AZURE_CLIENT_ID` and `AZURE_TENANT_ID`, as AKS injects them), a
///   service principal (`AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`,
///   `AZURE_TENANT_ID`), else the VM's managed identity;
///   `AZURE_STORAGE_ENDPOINT` for another endpoint;
///   `AZURE_STORAGE_USE_EMULATOR=true` for Azurite (its well-known account,
///   at `AZURITE_BLOB_STORAGE_URL`, default `http://127.0.0.1:10000`).
///
/// Explicit settings (object_store configuration keys such as `aws_endpoint`,
/// `aws_allow_http`, `google_base_url`, `google_service_account_key`,
/// `azure_storage_endpoint`, `azure_storage_account_key`) override the
/// environment.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub(crate) read_environment: bool,
    pub(crate) settings: Vec<(String, String)>,
    pub(crate) max_retries: usize,
    pub(crate) retry_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            read_environment: true,
            settings: Vec::new(),
            // A monitor retries on its next tick; object_store's own default
            // (10 retries over up to 3 minutes) would stall a shutdown flush.
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        }
    }
}

impl StoreOptions {
    /// Options that ignore `AWS_*`, `GOOGLE_*` and `AZURE_*` variables: only
    /// explicit settings count. (object_store still reads
    /// `AZURITE_BLOB_STORAGE_URL` when the emulator setting is on.)
    pub fn without_environment() -> Self {
        StoreOptions {
            read_environment: false,
            ..StoreOptions::default()
        }
    }

    /// Adds an object_store configuration key, e.g. `("aws_endpoint", "http://127.0.0.1:9000")`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// How often and how long one request is retried inside the client
    /// before an error is returned (default 3 times within 30 s).
    pub fn with_retries(mut self, max_retries: usize, timeout: Duration) -> Self {
        self.max_retries = max_retries;
        self.retry_timeout = timeout;
        self
    }

    pub(crate) fn retry_config(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
            ..object_store::RetryConfig::default()
        }
    }
}
