//! OTLP gRPC push of the same instruments, received by a real gRPC server
//! started by the test on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::otlp_receiver::*;
use common::*;
use megamon_core::{EntityKind, Summary};
use megamon_metrics::{
    Metrics, MetricsError, MetricsOptions, OtlpOptions, SERIES_LIMIT_PER_INSTRUMENT,
};
use opentelemetry_proto::tonic::metrics::v1::metric;

/// How long a push may take to arrive: pushes are every 200 ms here, so only
/// a push that never comes crosses it.
const PUSH_LIMIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_push_reaches_a_local_receiver() {
    let mut receiver = Receiver::start().await;
    let metrics = Arc::new(
        Metrics::new(MetricsOptions {
            prefix: "megamon".into(),
            build: build_info(),
            otlp: Some(OtlpOptions {
                endpoint: receiver.endpoint.clone(),
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
    let first = receiver
        .wait_for("megamon.jobset.up for a and b", PUSH_LIMIT, |r| {
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
    let later = receiver
        .wait_for("megamon.jobset.up for a only", PUSH_LIMIT, |r| {
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
    receiver.stop().await;
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

/// Set in the child process of [`otlp_options_come_from_the_environment`]:
/// the endpoint `from_env` must return, or `-` for none.
const FROM_ENV_CHILD: &str = "MEGAMON_TEST_OTLP_FROM_ENV_EXPECT";

/// `OtlpOptions::from_env` against real process environments. The test
/// re-runs its own binary (this test only) with `OTEL_EXPORTER_OTLP_ENDPOINT`
/// set, padded, empty, blank and unset, so it neither depends on nor changes
/// the environment of the test run.
#[test]
fn otlp_options_come_from_the_environment() {
    let interval = Duration::from_secs(7);
    if let Ok(expect) = std::env::var(FROM_ENV_CHILD) {
        let want = (expect != "-").then_some(OtlpOptions {
            endpoint: expect,
            interval,
        });
        assert_eq!(
            OtlpOptions::from_env(interval),
            want,
            "{}={:?}",
            OtlpOptions::ENDPOINT_ENV,
            std::env::var(OtlpOptions::ENDPOINT_ENV)
        );
        return;
    }
    let cases = [
        (Some("http://collector:4317"), "http://collector:4317"),
        (Some("  http://127.0.0.1:4317\n"), "http://127.0.0.1:4317"),
        (Some(""), "-"),
        (Some("   "), "-"),
        (None, "-"),
    ];
    for (value, expect) in cases {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "otlp_options_come_from_the_environment",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(FROM_ENV_CHILD, expect);
        match value {
            Some(v) => child.env(OtlpOptions::ENDPOINT_ENV, v),
            None => child.env_remove(OtlpOptions::ENDPOINT_ENV),
        };
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // A filter that matched nothing would also exit 0: the one test must have run.
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{}={value:?}: {stdout}{}",
            OtlpOptions::ENDPOINT_ENV,
            String::from_utf8_lossy(&out.stderr)
        );
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
    // and returns instead of hanging. The SDK gives up on its final push
    // after 5 s: only a shutdown that hangs crosses 15 s.
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let result = metrics.shutdown();
        let text = metrics.render_prometheus();
        drop(metrics);
        (result, text)
    })
    .await
    .unwrap();
    let took = started.elapsed();
    eprintln!("shutdown with an unreachable collector took {took:?}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    let err = result
        .0
        .expect_err("the final push cannot have succeeded, yet shutdown reported no failure");
    assert!(matches!(err, MetricsError::OtlpShutdown { .. }), "{err:?}");
    assert!(err.to_string().contains(&endpoint), "{err}");
    // Scrapes keep working whatever happens to the push.
    assert!(result.1.unwrap().contains("jobset_uid=\"uid-a\""));
}

/// More series than the OpenTelemetry SDK keeps by default (2000 per
/// instrument, the rest folded into one `otel.metric.overflow` series) all
/// arrive over OTLP: the pipeline raises the limit to
/// `SERIES_LIMIT_PER_INSTRUMENT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_series_than_the_sdk_default_arrive_without_overflow() {
    const SDK_DEFAULT_LIMIT: usize = 2000;
    const JOBSETS: usize = SDK_DEFAULT_LIMIT + 500;
    const { assert!(JOBSETS < SERIES_LIMIT_PER_INSTRUMENT) };
    let mut receiver = Receiver::start().await;
    let metrics = Metrics::new(MetricsOptions {
        prefix: "megamon".into(),
        build: build_info(),
        otlp: Some(OtlpOptions {
            endpoint: receiver.endpoint.clone(),
            interval: Duration::from_millis(500),
        }),
    })
    .unwrap();
    let uids: Vec<String> = (0..JOBSETS).map(|i| format!("uid-{i:05}")).collect();
    metrics.publish(snapshot(vec![(
        EntityKind::JobSets,
        uids.iter()
            .map(|uid| jobset(uid, uid, true, Summary::default()))
            .collect(),
    )]));

    let pushed = receiver
        .wait_for("megamon.jobset.up points", PUSH_LIMIT, |r| {
            !gauge_points(r, "megamon.jobset.up").is_empty()
        })
        .await;
    let keys = all_point_attribute_keys(&pushed);
    assert!(
        !keys.iter().any(|k| k == "otel.metric.overflow"),
        "series were folded into an overflow series: {keys:?}"
    );
    for name in ["megamon.jobset.up", "megamon.jobset.up.time"] {
        let pushed_uids: Vec<String> = gauge_points(&pushed, name)
            .into_iter()
            .filter_map(|(attrs, _)| {
                attrs
                    .into_iter()
                    .find(|(k, _)| k == "jobset.uid")
                    .map(|(_, v)| v)
            })
            .collect();
        assert_eq!(pushed_uids.len(), JOBSETS, "{name}");
        assert_eq!(pushed_uids, uids, "{name}: every JobSet, once");
    }
    eprintln!(
        "one push carried {JOBSETS} series per instrument ({} metrics)",
        metrics_of(&pushed).len()
    );

    // Not a test of shutdown: its final push of every series may outlast the
    // SDK's 5 s shutdown timeout on a loaded machine.
    tokio::task::spawn_blocking(move || {
        let _ = metrics.shutdown();
        drop(metrics);
    })
    .await
    .unwrap();
    receiver.stop().await;
}
