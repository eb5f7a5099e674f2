//! `GET /metrics` for Prometheus.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::Metrics;

/// The content type of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

impl Metrics {
    /// `GET /metrics`: 503 until the first snapshot is published, then the
    /// Prometheus text of the latest one.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/metrics", get(metrics_handler))
            .with_state(self)
    }
}

async fn metrics_handler(State(metrics): State<Arc<Metrics>>) -> Response {
    if !metrics.ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            "metrics not ready: the first aggregation has not finished yet\n",
        )
            .into_response();
    }
    // Rendering a large fleet takes milliseconds of CPU: keep it off the
    // async workers.
    let rendered = tokio::task::spawn_blocking(move || metrics.render_prometheus()).await;
    match rendered {
        Ok(Ok(text)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Ok(Err(err)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            format!("{err}\n"),
        )
            .into_response(),
        Err(join) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            format!("rendering metrics failed: {join}\n"),
        )
            .into_response(),
    }
}
