//! Bad requests get the status codes and `Status` reasons a real API server gives,
//! never a crash; fault injection answers as configured.

mod common;

use std::time::{Duration, Instant};

use common::TestSim;
use serde_json::{Value, json};

/// Sends a raw request; returns the status code and the parsed body (`Null` if not JSON).
async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .expect("request");
    let response = client.send(request).await.expect("the server answers");
    let code = response.status().as_u16();
    let bytes = response.into_body().collect_bytes().await.expect("body");
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn assert_status(answer: &(u16, Value), code: u16, reason: &str) {
    assert_eq!(answer.0, code, "{answer:?}");
    assert_eq!(answer.1["kind"], "Status", "{answer:?}");
    assert_eq!(answer.1["code"], code, "{answer:?}");
    assert_eq!(answer.1["reason"], reason, "{answer:?}");
}

const JSON: &str = "application/json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_real_status_codes() {
    let t = TestSim::start().await;
    let c = t.client().await;
    let pods = "/api/v1/namespaces/default/pods";

    assert_status(
        &raw(&c, "POST", pods, JSON, "{not json").await,
        400,
        "BadRequest",
    );
    assert_status(
        &raw(&c, "POST", pods, JSON, "[1,2]").await,
        400,
        "BadRequest",
    );
    assert_status(&raw(&c, "POST", pods, JSON, "").await, 400, "BadRequest");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    assert_status(
        &raw(&c, "POST", pods, JSON, &cm.to_string()).await,
        400,
        "BadRequest",
    );
    let no_kind = json!({"metadata": {"name": "x"}});
    assert_status(
        &raw(&c, "POST", pods, JSON, &no_kind.to_string()).await,
        400,
        "BadRequest",
    );

    let unknown = raw(&c, "GET", "/api/v1/widgets", JSON, "").await;
    assert_status(&unknown, 404, "NotFound");
    assert_status(
        &raw(&c, "GET", "/apis/nope.example.com/v1/things", JSON, "").await,
        404,
        "NotFound",
    );
    assert_status(
        &raw(&c, "GET", "/apis/nope.example.com/v1", JSON, "").await,
        404,
        "NotFound",
    );
    assert_status(
        &raw(&c, "GET", "/api/v1/namespaces/default/nodes/n", JSON, "").await,
        404,
        "NotFound",
    );

    let bad_label = raw(
        &c,
        "GET",
        &format!("{pods}?labelSelector=a%20in%20(b"),
        JSON,
        "",
    )
    .await;
    assert_status(&bad_label, 400, "BadRequest");
    assert_status(
        &raw(
            &c,
            "GET",
            &format!("{pods}?fieldSelector=spec.nodeName"),
            JSON,
            "",
        )
        .await,
        400,
        "BadRequest",
    );
    let unsupported = raw(
        &c,
        "GET",
        &format!("{pods}?fieldSelector=spec.bogus%3Dx"),
        JSON,
        "",
    )
    .await;
    assert_status(&unsupported, 400, "BadRequest");
    assert_eq!(
        unsupported.1["message"],
        "field label not supported: spec.bogus"
    );
    assert_status(
        &raw(&c, "GET", &format!("{pods}?limit=ten"), JSON, "").await,
        400,
        "BadRequest",
    );
    assert_status(
        &raw(&c, "GET", &format!("{pods}?continue=garbage"), JSON, "").await,
        400,
        "BadRequest",
    );
    assert_status(
        &raw(&c, "GET", &format!("{pods}?resourceVersion=abc"), JSON, "").await,
        400,
        "BadRequest",
    );

    // Conventions: 404, 409 and 422 as Status objects naming the object.
    let missing = raw(&c, "GET", &format!("{pods}/nope"), JSON, "").await;
    assert_status(&missing, 404, "NotFound");
    assert_eq!(missing.1["message"], "pods \"nope\" not found");
    assert_eq!(missing.1["details"]["name"], "nope");
    let cms = "/api/v1/namespaces/default/configmaps";
    assert_eq!(raw(&c, "POST", cms, JSON, &cm.to_string()).await.0, 201);
    let dup = raw(&c, "POST", cms, JSON, &cm.to_string()).await;
    assert_status(&dup, 409, "AlreadyExists");
    assert_eq!(dup.1["message"], "configmaps \"x\" already exists");
    let invalid = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "UPPER"}});
    assert_status(
        &raw(&c, "POST", cms, JSON, &invalid.to_string()).await,
        422,
        "Invalid",
    );
    let nameless = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
    assert_status(
        &raw(&c, "POST", cms, JSON, &nameless.to_string()).await,
        422,
        "Invalid",
    );
    let elsewhere = raw(
        &c,
        "POST",
        "/api/v1/namespaces/missing/configmaps",
        JSON,
        &cm.to_string(),
    )
    .await;
    assert_status(&elsewhere, 404, "NotFound");
    assert_eq!(elsewhere.1["message"], "namespaces \"missing\" not found");
    let wrong_ns = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y", "namespace": "kube-system"}});
    assert_status(
        &raw(&c, "POST", cms, JSON, &wrong_ns.to_string()).await,
        400,
        "BadRequest",
    );
    let stale = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "resourceVersion": "1"}});
    assert_status(
        &raw(&c, "PUT", &format!("{cms}/x"), JSON, &stale.to_string()).await,
        409,
        "Conflict",
    );
    let renamed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}});
    assert_status(
        &raw(&c, "PUT", &format!("{cms}/x"), JSON, &renamed.to_string()).await,
        400,
        "BadRequest",
    );
    assert_status(
        &raw(
            &c,
            "PUT",
            &format!("{cms}/ghost"),
            JSON,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost"}})
                .to_string(),
        )
        .await,
        404,
        "NotFound",
    );
    assert_status(
        &raw(&c, "DELETE", &format!("{cms}/ghost"), JSON, "").await,
        404,
        "NotFound",
    );
    assert_status(
        &raw(&c, "PUT", cms, JSON, "{}").await,
        405,
        "MethodNotAllowed",
    );

    // Patches: unknown types, strategic merge on custom resources, failing JSON patches.
    let patch = format!("{cms}/x");
    assert_status(
        &raw(&c, "PATCH", &patch, "text/plain", "{}").await,
        415,
        "UnsupportedMediaType",
    );
    assert_status(
        &raw(&c, "PATCH", &patch, "application/merge-patch+json", "{oops").await,
        400,
        "BadRequest",
    );
    let failing = r#"[{"op":"test","path":"/data/missing","value":"x"}]"#;
    assert_eq!(
        raw(&c, "PATCH", &patch, "application/json-patch+json", failing)
            .await
            .0,
        422
    );
    let js = json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": {"name": "j"}, "spec": {}});
    let jobsets = "/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets";
    assert_eq!(raw(&c, "POST", jobsets, JSON, &js.to_string()).await.0, 201);
    let smp = raw(
        &c,
        "PATCH",
        &format!("{jobsets}/j"),
        "application/strategic-merge-patch+json",
        "{}",
    )
    .await;
    assert_status(&smp, 415, "UnsupportedMediaType");
    assert_status(
        &raw(
            &c,
            "PATCH",
            &format!("{jobsets}/ghost"),
            "application/merge-patch+json",
            "{}",
        )
        .await,
        404,
        "NotFound",
    );
    let apply_without_manager = raw(
        &c,
        "PATCH",
        &format!("{jobsets}/j"),
        "application/apply-patch+yaml",
        &js.to_string(),
    )
    .await;
    assert_status(&apply_without_manager, 422, "Invalid");
    assert_eq!(
        apply_without_manager.1["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );

    // Protobuf bodies: malformed ones are 400 naming the problem; custom resources have
    // no protobuf form (415), as on a real server.
    const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
    let truncated = raw(&c, "POST", pods, PROTOBUF, "k8s\u{0}\n\u{7f}").await;
    assert_status(&truncated, 400, "BadRequest");
    let message = truncated.1["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("the protobuf request body is malformed"),
        "{message}"
    );
    let no_magic = raw(&c, "POST", pods, PROTOBUF, "\n\u{2}v1").await;
    assert_status(&no_magic, 400, "BadRequest");
    assert_eq!(
        no_magic.1["message"],
        "the protobuf request body is malformed: missing the k8s protobuf magic prefix"
    );
    // k8s\0, then runtime.Unknown{typeMeta{apiVersion, kind}}, for a JobSet.
    let type_meta = "\n\u{18}jobset.x-k8s.io/v1alpha2\u{12}\u{6}JobSet";
    let envelope = format!(
        "k8s\0\n{}{type_meta}",
        char::from(u8::try_from(type_meta.len()).expect("short"))
    );
    assert_status(
        &raw(&c, "POST", jobsets, PROTOBUF, &envelope).await,
        415,
        "UnsupportedMediaType",
    );

    // Extreme numbers are not a crash; past int64 they are refused, as by Go's ParseInt.
    let huge = i64::MAX;
    let far = raw(
        &c,
        "GET",
        &format!("{cms}?watch=1&resourceVersion={huge}&timeoutSeconds=1"),
        JSON,
        "",
    )
    .await;
    assert_eq!(far.0, 200);
    let request = http::Request::get(format!("{cms}?watch=1&timeoutSeconds={huge}"))
        .body(kube::client::Body::empty())
        .expect("request");
    assert_eq!(c.send(request).await.expect("watch").status(), 200);
    assert_eq!(
        raw(&c, "GET", &format!("{cms}?limit={huge}"), JSON, "")
            .await
            .0,
        200
    );
    for too_big in [u64::MAX.to_string(), "99999999999999999999999".to_string()] {
        let refused = raw(&c, "GET", &format!("{cms}?limit={too_big}"), JSON, "").await;
        assert_status(&refused, 400, "BadRequest");
        assert_eq!(
            refused.1["message"],
            format!("strconv.ParseInt: parsing \"{too_big}\": value out of range")
        );
    }

    // The server is still fine.
    assert_eq!(raw(&c, "GET", "/readyz", JSON, "").await.0, 200);
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_fail_and_slow_requests() {
    let t = TestSim::start().await;
    let c = common::client_without_retries(&t.sim.base_url());
    let cms = "/api/v1/namespaces/default/configmaps";
    let set = raw(
        &c,
        "POST",
        "/_sim/faults",
        JSON,
        r#"{"errorRate":1.0,"status":503}"#,
    )
    .await;
    assert_eq!(set.0, 200, "{set:?}");
    assert_status(
        &raw(&c, "GET", cms, JSON, "").await,
        503,
        "ServiceUnavailable",
    );
    // Health and the fault endpoints themselves are not affected.
    assert_eq!(raw(&c, "GET", "/healthz", JSON, "").await.0, 200);
    assert_eq!(
        raw(
            &c,
            "POST",
            "/_sim/faults",
            JSON,
            r#"{"errorRate":0.5,"status":429}"#
        )
        .await
        .0,
        200
    );
    let mut codes = std::collections::BTreeMap::new();
    for _ in 0..200 {
        *codes
            .entry(raw(&c, "GET", cms, JSON, "").await.0)
            .or_insert(0) += 1;
    }
    assert!(
        codes.get(&429).is_some_and(|n| (50..150).contains(n)),
        "{codes:?}"
    );
    assert!(
        codes.get(&200).is_some_and(|n| (50..150).contains(n)),
        "{codes:?}"
    );
    assert_eq!(
        raw(&c, "POST", "/_sim/faults", JSON, r#"{"latencyMs":1000}"#)
            .await
            .0,
        200
    );
    let started = Instant::now();
    assert_eq!(raw(&c, "GET", cms, JSON, "").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(1000));
    // Cleared, a request is not delayed any more: with ten minutes of latency
    // set before clearing, only a request still delayed takes 30 s.
    assert_eq!(
        raw(&c, "POST", "/_sim/faults", JSON, r#"{"latencyMs":600000}"#)
            .await
            .0,
        200
    );
    assert_eq!(raw(&c, "POST", "/_sim/faults", JSON, "{}").await.0, 200);
    assert_eq!(
        raw(&c, "GET", "/_sim/faults", JSON, "").await.1["latencyMs"],
        0
    );
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(30), raw(&c, "GET", cms, JSON, ""))
        .await
        .expect("a GET after clearing the latency is not delayed");
    assert_eq!(answer.0, 200);
    eprintln!(
        "a GET after clearing the faults took {:?}",
        started.elapsed()
    );
    // Bad fault settings are refused.
    assert_status(
        &raw(&c, "POST", "/_sim/faults", JSON, r#"{"errorRate":2}"#).await,
        400,
        "BadRequest",
    );
    assert_status(
        &raw(&c, "POST", "/_sim/faults", JSON, r#"{"errorRate":"x"}"#).await,
        400,
        "BadRequest",
    );
    assert_status(
        &raw(&c, "GET", "/_sim/compact", JSON, "").await,
        405,
        "MethodNotAllowed",
    );
    assert_status(
        &raw(&c, "POST", "/_sim/unknown", JSON, "").await,
        404,
        "NotFound",
    );
    t.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_access_reviews_answer_from_the_token_file_and_rbac() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        "admin-token,admin,1,\"system:masters\"\nscraper-token,prometheus,2,monitoring\n",
    )
    .expect("write tokens");
    let t = TestSim::start_with(megamon_sim::SimOptions {
        token_auth_file: Some(tokens),
        ..megamon_sim::SimOptions::default()
    })
    .await;
    let c = t.client().await;
    let review = |token: &str| {
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}).to_string()
    };
    let tr = "/apis/authentication.k8s.io/v1/tokenreviews";
    let ok = raw(&c, "POST", tr, JSON, &review("scraper-token")).await;
    assert_eq!(ok.0, 201);
    assert_eq!(ok.1["status"]["authenticated"], true);
    assert_eq!(ok.1["status"]["user"]["username"], "prometheus");
    assert_eq!(
        ok.1["status"]["user"]["groups"],
        json!(["monitoring", "system:authenticated"])
    );
    let bad = raw(&c, "POST", tr, JSON, &review("wrong")).await;
    assert_eq!(bad.1["status"]["authenticated"], false);

    let sar = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let metrics = |user: &str, groups: Value| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
               "spec": {"user": user, "groups": groups, "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}})
        .to_string()
    };
    let admin = raw(
        &c,
        "POST",
        sar,
        JSON,
        &metrics("admin", json!(["system:masters"])),
    )
    .await;
    assert_eq!(admin.0, 201);
    assert_eq!(admin.1["status"]["allowed"], true);
    let denied = raw(
        &c,
        "POST",
        sar,
        JSON,
        &metrics("prometheus", json!(["monitoring"])),
    )
    .await;
    assert_eq!(denied.1["status"]["allowed"], false);
    // Stored RBAC grants it.
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "metrics-reader"}, "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]});
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "monitoring-metrics"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "metrics-reader"},
        "subjects": [{"kind": "Group", "name": "monitoring"}]});
    assert_eq!(
        raw(
            &c,
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            JSON,
            &role.to_string()
        )
        .await
        .0,
        201
    );
    assert_eq!(
        raw(
            &c,
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            JSON,
            &binding.to_string()
        )
        .await
        .0,
        201
    );
    let allowed = raw(
        &c,
        "POST",
        sar,
        JSON,
        &metrics("prometheus", json!(["monitoring"])),
    )
    .await;
    assert_eq!(allowed.1["status"]["allowed"], true, "{allowed:?}");
    let other_path = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "prometheus", "groups": ["monitoring"], "nonResourceAttributes": {"path": "/debug", "verb": "get"}}});
    assert_eq!(
        raw(&c, "POST", sar, JSON, &other_path.to_string()).await.1["status"]["allowed"],
        false
    );
    assert_status(
        &raw(&c, "GET", sar, JSON, "").await,
        405,
        "MethodNotAllowed",
    );
    t.sim.shutdown().await.expect("clean shutdown");
}
