//! How to reach S3 and Google Cloud Storage beyond what the URL says.

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
///
/// Explicit settings (object_store configuration keys such as `aws_endpoint`,
/// `aws_allow_http`, `google_base_url`, `google_service_account_key`) override
/// the environment.
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
    /// Options that ignore `AWS_*` and `GOOGLE_*` variables: only explicit settings count.
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
