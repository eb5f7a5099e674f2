//! A real OTLP gRPC metrics receiver on 127.0.0.1, started by the test, and
//! readers for what it receives. Also used by the binary's end-to-end tests
//! (`crates/megamon/tests/e2e_monitor.rs`), so it depends on nothing but the
//! OTLP types.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use tokio::sync::{mpsc, oneshot};

/// Hands every export request to the test.
struct Service(mpsc::UnboundedSender<ExportMetricsServiceRequest>);

#[tonic::async_trait]
impl MetricsService for Service {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

/// A running receiver; stop it with [`Receiver::stop`].
pub struct Receiver {
    /// `http://127.0.0.1:<port>`, what `OTEL_EXPORTER_OTLP_ENDPOINT` takes.
    pub endpoint: String,
    requests: mpsc::UnboundedReceiver<ExportMetricsServiceRequest>,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Receiver {
    /// Starts a receiver on a free port of the current Tokio runtime.
    pub async fn start() -> Receiver {
        let (tx, requests) = mpsc::unbounded_channel();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        // Thousands of series make requests larger than tonic's 4 MiB default.
        let service = MetricsServiceServer::new(Service(tx)).max_decoding_message_size(256 << 20);
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        Receiver {
            endpoint: format!("http://{addr}"),
            requests,
            stop,
            server,
        }
    }

    /// Waits (at most `limit`) for a pushed request that satisfies `accept`;
    /// requests before it are dropped.
    pub async fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        accept: impl Fn(&ExportMetricsServiceRequest) -> bool,
    ) -> ExportMetricsServiceRequest {
        let deadline = Instant::now() + limit;
        let mut seen = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.requests.recv()).await {
                Ok(Some(request)) if accept(&request) => return request,
                Ok(Some(_)) => seen += 1,
                Ok(None) => panic!("receiver closed while waiting for {what}"),
                Err(_) => panic!(
                    "no OTLP push with {what} within {limit:?} ({seen} other pushes received)"
                ),
            }
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
    }
}

/// A string attribute value, or its debug form.
pub fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// Attributes as sorted (key, value) pairs.
pub fn attributes(kvs: &[KeyValue]) -> Vec<(String, String)> {
    let mut out: Vec<_> = kvs
        .iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect();
    out.sort();
    out
}

/// Every metric of a request with its scope name.
pub fn metrics_of(request: &ExportMetricsServiceRequest) -> Vec<(&str, &Metric)> {
    request
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| {
            let scope = sm.scope.as_ref().map(|s| s.name.as_str()).unwrap_or("");
            sm.metrics.iter().map(move |m| (scope, m))
        })
        .collect()
}

/// Gauge points of `name`, sorted: (attributes, value as f64).
pub fn gauge_points(
    request: &ExportMetricsServiceRequest,
    name: &str,
) -> Vec<(Vec<(String, String)>, f64)> {
    let mut points = metrics_of(request)
        .into_iter()
        .filter(|(_, m)| m.name == name)
        .flat_map(|(_, m)| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.clone(),
            _ => Vec::new(),
        })
        .map(|p| {
            let value = match p.value {
                Some(number_data_point::Value::AsInt(i)) => i as f64,
                Some(number_data_point::Value::AsDouble(d)) => d,
                None => f64::NAN,
            };
            (attributes(&p.attributes), value)
        })
        .collect::<Vec<_>>();
    points.sort_by(|x, y| x.0.cmp(&y.0));
    points
}

/// Every attribute key of every data point (gauges, sums, histograms) of a request.
pub fn all_point_attribute_keys(request: &ExportMetricsServiceRequest) -> Vec<String> {
    let mut keys = Vec::new();
    for (_, m) in metrics_of(request) {
        let attrs: Vec<&[KeyValue]> = match &m.data {
            Some(metric::Data::Gauge(g)) => {
                g.data_points.iter().map(|p| &p.attributes[..]).collect()
            }
            Some(metric::Data::Sum(s)) => s.data_points.iter().map(|p| &p.attributes[..]).collect(),
            Some(metric::Data::Histogram(h)) => {
                h.data_points.iter().map(|p| &p.attributes[..]).collect()
            }
            _ => Vec::new(),
        };
        keys.extend(attrs.into_iter().flatten().map(|kv| kv.key.clone()));
    }
    keys.sort();
    keys.dedup();
    keys
}

pub fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}
