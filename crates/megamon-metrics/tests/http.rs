//! `GET /metrics` over real HTTP: 503 before the first publish, then 200.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use megamon_core::{EntityKind, Summary};
use megamon_metrics::PROMETHEUS_CONTENT_TYPE;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 GET with `Connection: close`, read to the end.
async fn get(addr: SocketAddr, path: &str) -> Reply {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("HTTP exchange timed out");
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_is_503_until_the_first_publish_then_200() {
    let metrics = Arc::new(metrics());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, Arc::clone(&metrics).router())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );

    let before = get(addr, "/metrics").await;
    assert_eq!(before.status, 503);
    assert!(before.body.contains("not ready"), "{}", before.body);
    assert!(!before.body.contains("megamon_"));

    metrics.publish(snapshot(vec![(
        EntityKind::JobSets,
        vec![jobset("uid-a", "a", true, Summary::default())],
    )]));
    let after = get(addr, "/metrics").await;
    assert_eq!(after.status, 200);
    assert_eq!(after.header("content-type"), Some(PROMETHEUS_CONTENT_TYPE));
    assert_eq!(
        PROMETHEUS_CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        after.body.contains(
            "megamon_jobset_up{jobset_name=\"a\",jobset_namespace=\"default\",jobset_uid=\"uid-a\",otel_scope_name=\"megamon\",otel_scope_version=\"\",tpu_topology=\"2x4\"} 1\n"
        ),
        "{}",
        after.body
    );

    // The next scrape follows the next snapshot.
    metrics.publish(snapshot(vec![(EntityKind::JobSets, vec![])]));
    let emptied = get(addr, "/metrics").await;
    assert_eq!(emptied.status, 200);
    assert!(!emptied.body.contains("uid-a"));

    assert_eq!(get(addr, "/other").await.status, 404);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
