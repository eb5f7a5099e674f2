//! What can go wrong setting up and pushing metrics.

/// Errors of [`crate::Metrics`].
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("invalid MetricsPrefix {prefix:?}: {reason}")]
    InvalidPrefix {
        prefix: String,
        reason: &'static str,
    },

    #[error(
        "OTLP push to {endpoint} needs a Tokio runtime: create the metrics inside one \
         (the gRPC channel runs on it)"
    )]
    OtlpNeedsRuntime { endpoint: String },

    #[error("building the OTLP gRPC exporter for {endpoint}: {source}")]
    OtlpExporter {
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },

    #[error("invalid OTLP push interval {interval:?}: it must be more than zero")]
    OtlpInterval { interval: std::time::Duration },

    #[error("shutting down OTLP push to {endpoint}: {source}")]
    OtlpShutdown {
        endpoint: String,
        #[source]
        source: opentelemetry_sdk::error::OTelSdkError,
    },
}
