//! `"SecureMetrics": true` end to end (issue 9): HTTPS on MetricsAddr,
//! bearer tokens reviewed by the API server (TokenReview), access decided by
//! SubjectAccessReviews against the shipped `megamon-metrics-reader` role,
//! a certificate directory reloaded when it changes, HTTP/2 only when asked.
//! The built binary against `megamon sim --token-auth-file`.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::https::{self, Answer};
use support::{Cluster, Monitor, wait_for};

/// Users of the simulator's token file.
const TOKENS: &str = "reader-token,metrics-reader,uid-reader,\nfresh-token,metrics-reader,uid-reader,\nnobody-token,nobody,uid-nobody,\n";

fn cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, TOKENS).unwrap();
    let cluster = Cluster::start_args(&["--token-auth-file", tokens.to_str().unwrap()]);
    std::mem::forget(dir); // the file is read at start; keep it for the test's life
    // The shipped reader role, bound to the scraping user.
    let role = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/kustomize/default/metrics-reader.yaml"
    );
    cluster.kubectl(&["apply", "-f", role]);
    cluster.apply(&[json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "scraper-reads-megamon"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "megamon-metrics-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "metrics-reader"}]
    })]);
    cluster
}

fn secure_config(http2: bool) -> Value {
    json!({"EnableSimulation": true, "AggregationIntervalSeconds": 1, "SecureMetrics": true, "EnableHTTP2": http2})
}

fn get(m: &Monitor, path: &str, token: Option<&str>) -> Answer {
    https::get(&m.metrics, path, token, &[b"http/1.1"]).expect("an HTTPS answer")
}

#[test]
fn tokens_are_reviewed_and_access_is_authorised() {
    let cluster = cluster();
    let m = cluster.monitor(secure_config(false));
    // Ready over HTTPS for an allowed reader.
    let ok = wait_for("metrics over HTTPS", Duration::from_secs(20), || {
        let a = https::get(&m.metrics, "/metrics", Some("reader-token"), &[b"http/1.1"])?;
        (a.status == 200).then_some(a)
    });
    assert!(ok.body.contains("megamon_build_info"), "{}", ok.body);
    assert!(ok.body.contains("\nmegamon_leader{"), "{}", ok.body);

    // No token, a token the API server refuses: 401 with a Bearer challenge.
    let none = get(&m, "/metrics", None);
    assert_eq!(none.status, 401, "{none:?}");
    assert!(
        none.headers
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{}",
        none.headers
    );
    assert_eq!(get(&m, "/metrics", Some("bad-token")).status, 401);
    // Authenticated but not allowed: 403, naming the path.
    let nobody = get(&m, "/metrics", Some("nobody-token"));
    assert_eq!(nobody.status, 403, "{nobody:?}");
    assert!(nobody.body.contains("/metrics"), "{}", nobody.body);
    // The web view and its API are behind the same check.
    for path in ["/", "/api/v1/fleet"] {
        assert_eq!(get(&m, path, Some("nobody-token")).status, 403, "{path}");
        assert_eq!(get(&m, path, None).status, 401, "{path}");
        assert_eq!(get(&m, path, Some("reader-token")).status, 200, "{path}");
    }
    // Plain HTTP to the metrics port gets no metrics.
    let plain = support::http_get(&m.metrics, "/metrics");
    assert!(
        plain.as_ref().is_none_or(|(status, _)| *status != 200),
        "{plain:?}"
    );
    // Probes stay plain HTTP.
    let (status, _) = support::http_get(&m.probes, "/readyz").expect("readyz over HTTP");
    assert_eq!(status, 200);

    // The API server cannot be asked: a token not yet reviewed gets 500; one
    // reviewed and allowed a moment ago is answered from the caches.
    let sim = cluster.sim_addr();
    assert_eq!(
        support::http_post(&sim, "/_sim/faults", r#"{"errorRate": 1.0, "status": 500}"#),
        Some(200)
    );
    let fresh = get(&m, "/metrics", Some("fresh-token"));
    assert_eq!(fresh.status, 500, "{fresh:?}");
    assert_eq!(
        get(&m, "/metrics", Some("reader-token")).status,
        200,
        "cached"
    );
    assert_eq!(support::http_post(&sim, "/_sim/faults", "{}"), Some(200));
    assert_eq!(get(&m, "/metrics", Some("fresh-token")).status, 200);
    assert_eq!(m.process.terminate(), Some(0));
}

/// A CA and a server certificate for `localhost` with `cn`, written as
/// `tls.crt` (leaf then CA) and `tls.key`; returns the leaf (DER).
fn write_pair(dir: &Path, cn: &str) -> Vec<u8> {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    // Written beside, then renamed: as a Secret volume swaps its files.
    let tmp = dir.join("..new");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(
        tmp.join("tls.crt"),
        format!("{}{}", cert.pem(), ca_cert.pem()),
    )
    .unwrap();
    std::fs::write(tmp.join("tls.key"), key.serialize_pem()).unwrap();
    std::fs::rename(tmp.join("tls.key"), dir.join("tls.key")).unwrap();
    std::fs::rename(tmp.join("tls.crt"), dir.join("tls.crt")).unwrap();
    cert.der().to_vec()
}

#[test]
fn a_certificate_directory_is_reloaded_and_http2_only_when_enabled() {
    let cluster = cluster();
    let certs = cluster.dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let first = write_pair(&certs, "first");
    let config = cluster.dir.path().join("secure.json");
    let mut doc = secure_config(false);
    doc["MetricsAddr"] = json!("127.0.0.1:0");
    doc["ProbeAddr"] = json!("127.0.0.1:0");
    std::fs::write(&config, doc.to_string()).unwrap();
    let m = cluster.monitor_process(
        &config,
        &["--metrics-cert-dir", certs.to_str().unwrap()],
        &[],
    );
    let a = wait_for(
        "HTTPS with the first certificate",
        Duration::from_secs(20),
        || {
            https::get(
                &m.metrics,
                "/metrics",
                Some("reader-token"),
                &[b"h2", b"http/1.1"],
            )
        },
    );
    assert_eq!(a.certificate, first);
    // Without EnableHTTP2, h2 is not offered.
    assert_eq!(a.alpn.as_deref(), Some(&b"http/1.1"[..]), "{:?}", a.alpn);
    // cert-manager rotates the certificate: served without a restart.
    let second = write_pair(&certs, "second");
    wait_for("the new certificate", Duration::from_secs(15), || {
        let a = https::get(&m.metrics, "/metrics", Some("reader-token"), &[b"http/1.1"])?;
        (a.certificate == second && a.status == 200).then_some(())
    });
    assert_eq!(m.process.terminate(), Some(0));

    // With EnableHTTP2, ALPN picks h2.
    let mut doc = secure_config(true);
    doc["MetricsAddr"] = json!("127.0.0.1:0");
    doc["ProbeAddr"] = json!("127.0.0.1:0");
    std::fs::write(&config, doc.to_string()).unwrap();
    let m = cluster.monitor_process(&config, &[], &[]);
    // Only the handshake matters here: what ALPN chose.
    let offer: [&[u8]; 2] = [b"h2", b"http/1.1"];
    let alpn = wait_for("an HTTPS handshake", Duration::from_secs(20), || {
        https::handshake_alpn(&m.metrics, &offer)
    });
    assert_eq!(alpn, b"h2");
    assert_eq!(m.process.terminate(), Some(0));
}
