//! `GET /metrics` for Prometheus.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;

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
    // async workers. The text is streamed as it is written, a chunk at a
    // time: at 65,536 nodes it is 24 MB, which a scrape (two at once make
    // two) would otherwise hold whole.
    // A text of one chunk (a small fleet) goes out whole, with its length.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1);
    tokio::task::spawn_blocking(move || {
        metrics.render_prometheus_chunks(CHUNK, &mut |chunk| tx.blocking_send(chunk).is_ok());
    });
    let first = rx.recv().await.unwrap_or_default();
    let body = match rx.recv().await {
        None => Body::from(first),
        Some(second) => {
            let rest = futures::stream::unfold(rx, |mut rx| async move {
                let chunk = rx.recv().await?;
                Some((chunk, rx))
            });
            let chunks = futures::stream::iter([first, second])
                .chain(rest)
                .map(Ok::<_, std::convert::Infallible>);
            Body::from_stream(chunks)
        }
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        body,
    )
        .into_response()
}

/// Bytes of /metrics text per streamed chunk.
const CHUNK: usize = 256 * 1024;
