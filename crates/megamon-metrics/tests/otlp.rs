//! OTLP gRPC push of the same instruments, received by a real gRPC server
//! started by the test on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use megamon_core::{EntityKind, Summary};
use megamon_metrics::{Metrics, MetricsError, MetricsOptions, OtlpOptions};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use tokio::sync::mpsc;

/// An OTLP metrics receiver: hands every request to the test.
struct Receiver(mpsc::UnboundedSender<ExportMetricsServiceRequest>);

#[tonic::async_trait]
impl MetricsService for Receiver {
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

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn attributes(kvs: &[KeyValue]) -> Vec<(String, String)> {
    let mut out: Vec<_> = kvs
        .iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect();
    out.sort();
    out
}

/// Every metric of a request with its scope name.
fn metrics_of(request: &ExportMetricsServiceRequest) -> Vec<(&str, &Metric)> {
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
fn gauge_points(
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

/// Waits (bounded) for a pushed request that satisfies `accept`.
async fn wait_for(
    requests: &mut mpsc::UnboundedReceiver<ExportMetricsServiceRequest>,
    what: &str,
    accept: impl Fn(&ExportMetricsServiceRequest) -> bool,
) -> ExportMetricsServiceRequest {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, requests.recv()).await {
            Ok(Some(request)) if accept(&request) => return request,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("receiver closed while waiting for {what}"),
            Err(_) => panic!("no OTLP push with {what} within 15 s"),
        }
    }
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_push_reaches_a_local_receiver() {
    let (tx, mut requests) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MetricsServiceServer::new(Receiver(tx)))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    );

    let metrics = Arc::new(
        Metrics::new(MetricsOptions {
            prefix: "megamon".into(),
            build: build_info(),
            otlp: Some(OtlpOptions {
                endpoint: format!("http://{addr}"),
                interval: Duration::from_millis(200),
            }),
        })
        .unwrap(),
    );
    let summary = Summary {
        up_time: secs(42.5),
        ..Summary::default()
    };
    metrics.publish(snapshot(vec![(
        EntityKind::JobSets,
        vec![
            jobset("uid-a", "a", true, summary),
            jobset("uid-b", "b", false, summary),
        ],
    )]));
    metrics.record_aggregation_duration(secs(0.3));

    let a = vec![
        pair("jobset.name", "a"),
        pair("jobset.namespace", "default"),
        pair("jobset.uid", "uid-a"),
        pair("tpu.topology", "2x4"),
    ];
    let first = wait_for(&mut requests, "megamon.jobset.up for a and b", |r| {
        gauge_points(r, "megamon.jobset.up").len() == 2
    })
    .await;
    let up = gauge_points(&first, "megamon.jobset.up");
    assert_eq!(up[0], (a.clone(), 1.0));
    assert_eq!(up[1].1, 0.0);
    assert_eq!(
        gauge_points(&first, "megamon.jobset.up.time"),
        [(a.clone(), 42.5), (up[1].0.clone(), 42.5)]
    );
    let all = metrics_of(&first);
    assert!(all.iter().all(|(scope, _)| *scope == "megamon"));
    let unit = |name: &str| {
        all.iter()
            .find(|(_, m)| m.name == name)
            .map(|(_, m)| m.unit.clone())
    };
    assert_eq!(unit("megamon.jobset.up.time").as_deref(), Some("s"));
    assert_eq!(unit("megamon.jobset.up").as_deref(), Some(""));
    assert_eq!(
        gauge_points(&first, "megamon.build.info"),
        [(
            vec![
                pair("commit", "0123abc"),
                pair("date", "unknown"),
                pair("version", "1.2.3")
            ],
            1.0
        )]
    );
    let histogram = all
        .iter()
        .find(|(_, m)| m.name == "megamon.aggregation.duration")
        .and_then(|(_, m)| match &m.data {
            Some(metric::Data::Histogram(h)) => h.data_points.first().cloned(),
            _ => None,
        })
        .expect("aggregation.duration histogram pushed");
    assert_eq!(
        histogram.explicit_bounds,
        [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0]
    );
    assert_eq!(histogram.count, 1);
    let service = first.resource_metrics[0]
        .resource
        .as_ref()
        .map(|r| attributes(&r.attributes))
        .unwrap_or_default();
    assert!(
        service.contains(&pair("service.name", "megamon")),
        "{service:?}"
    );

    // b goes away: the next pushes carry a only.
    metrics.publish(snapshot(vec![(
        EntityKind::JobSets,
        vec![jobset("uid-a", "a", true, summary)],
    )]));
    let later = wait_for(&mut requests, "megamon.jobset.up for a only", |r| {
        gauge_points(r, "megamon.jobset.up").len() == 1
    })
    .await;
    assert_eq!(gauge_points(&later, "megamon.jobset.up"), [(a, 1.0)]);
    assert!(!format!("{later:?}").contains("uid-b"));

    // Shutting down flushes and blocks on the push: off the async workers.
    let m = Arc::clone(&metrics);
    tokio::task::spawn_blocking(move || m.shutdown())
        .await
        .unwrap()
        .unwrap();
    tokio::task::spawn_blocking(move || drop(metrics))
        .await
        .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[test]
fn otlp_outside_a_runtime_is_a_clear_error() {
    let err = Metrics::new(MetricsOptions {
        prefix: "megamon".into(),
        build: build_info(),
        otlp: Some(OtlpOptions {
            endpoint: "http://127.0.0.1:4317".into(),
            interval: Duration::from_secs(10),
        }),
    })
    .unwrap_err();
    assert!(
        matches!(err, MetricsError::OtlpNeedsRuntime { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("http://127.0.0.1:4317"));
}

#[test]
fn otlp_options_from_env_need_a_value() {
    // Only reads; the variable is not set in the test environment unless the
    // developer set it, in which case it must come back.
    let got = OtlpOptions::from_env(Duration::from_secs(10));
    match std::env::var(OtlpOptions::ENDPOINT_ENV) {
        Ok(v) if !v.trim().is_empty() => assert_eq!(got.unwrap().endpoint, v.trim()),
        _ => assert!(got.is_none()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_collector_does_not_disturb_prometheus() {
    // A port nobody listens on any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let metrics = Metrics::new(MetricsOptions {
        prefix: "megamon".into(),
        build: build_info(),
        otlp: Some(OtlpOptions {
            endpoint: endpoint.clone(),
            interval: Duration::from_millis(50),
        }),
    })
    .unwrap();
    metrics.publish(snapshot(vec![(
        EntityKind::JobSets,
        vec![jobset("uid-a", "a", true, Summary::default())],
    )]));
    assert!(
        metrics
            .render_prometheus()
            .unwrap()
            .contains("jobset_uid=\"uid-a\"")
    );

    // The final push fails; shutting down reports it (naming the endpoint)
    // and returns promptly instead of hanging.
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let result = metrics.shutdown();
        let text = metrics.render_prometheus();
        drop(metrics);
        (result, text)
    })
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    if let Err(err) = &result.0 {
        assert!(err.to_string().contains(&endpoint), "{err}");
    }
    // Scrapes keep working whatever happens to the push.
    assert!(result.1.unwrap().contains("jobset_uid=\"uid-a\""));
}
