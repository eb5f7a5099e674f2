//! `--tls`: HTTPS with a self-signed certificate that the written kubeconfig trusts.

mod common;

use std::time::Duration;

use common::TestSim;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchParams};
use megamon_sim::SimOptions;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_kubectl_and_kube_rs_through_the_kubeconfig() {
    let t = TestSim::start_with(SimOptions {
        tls: true,
        ..SimOptions::default()
    })
    .await;
    assert!(t.sim.base_url().starts_with("https://127.0.0.1:"));
    assert!(
        t.sim
            .certificate_pem()
            .is_some_and(|p| p.contains("BEGIN CERTIFICATE"))
    );
    let namespaces = t.ok(&["get", "namespaces", "-o", "name"]).await;
    assert!(namespaces.contains("namespace/default"), "{namespaces}");

    let kubeconfig = kube::config::Kubeconfig::read_from(t.kubeconfig()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(config).expect("client");
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "over-tls"}}),
    )
    .expect("configmap");
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create over TLS");
    // An open watch must not keep the server from shutting down.
    let mut events = api
        .watch(&WatchParams::default(), "0")
        .await
        .expect("watch")
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event");
    assert!(first.is_some());
    tokio::time::timeout(Duration::from_secs(10), t.sim.shutdown())
        .await
        .expect("shutdown within 10s")
        .expect("clean shutdown");
}
