//! MegaMon's metrics (SPEC §4).
//!
//! The monitor [`Metrics::publish`]es each snapshot it computes; metrics
//! report the entities of the latest one, so a series is gone as soon as its
//! entity is. Prometheus scrapes `GET /metrics` ([`Metrics::router`]),
//! rendered straight from that snapshot in the original's exact names and
//! labels (`megamon_jobset_up_time_seconds{…,otel_scope_name="megamon",otel_scope_version="",…}`);
//! with [`OtlpOptions`] the same instruments (one table) are also pushed
//! over OTLP gRPC with dotted names, through the OpenTelemetry SDK, which
//! only exists then.
//!
//! Build information comes from the binary: `version` is its
//! `CARGO_PKG_VERSION`; `commit` and `date` are optional (a build script may
//! provide them) and show as `none` and `unknown` when absent.
#![forbid(unsafe_code)]

mod error;
mod exposition;
mod http;
mod instruments;
mod labels;
mod metrics;
mod prometheus_text;
mod recorded;

pub use error::MetricsError;
pub use http::PROMETHEUS_CONTENT_TYPE;
pub use instruments::AGGREGATION_DURATION_BUCKETS;
pub use labels::BuildInfo;
pub use metrics::{Metrics, MetricsOptions, OtlpOptions, SCOPE_NAME, SERIES_LIMIT_PER_INSTRUMENT};

#[cfg(test)]
mod conformance_tests;
