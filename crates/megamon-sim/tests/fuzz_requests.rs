//! Property tests of the simulator's request parsing, over real HTTP: any
//! body (bytes, JSON, object-shaped JSON with wrong types, protobuf-framed
//! garbage) on every write verb and content type, and any selector or query
//! parameter, is answered with a Status (never a 5xx, never a crash), and the
//! objects already stored are left as they were by what was refused.
//!
//! CI runs proptest's default number of cases per property (256); a longer
//! run: `PROPTEST_CASES=20000 cargo nextest run -p megamon-sim --test fuzz_requests`.

mod common;

use std::sync::LazyLock;

use common::TestSim;
use proptest::prelude::*;
use serde_json::{Value, json};

/// One simulator and runtime for every case of this file.
struct Shared {
    runtime: tokio::runtime::Runtime,
    /// Kept alive: the simulator stops when it drops.
    _sim: TestSim,
    client: kube::Client,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sim = runtime.block_on(TestSim::start());
    // The client's buffer task lives on this runtime.
    let client = {
        let _inside = runtime.enter();
        common::client_without_retries(&sim.sim.base_url())
    };
    let shared = Shared {
        runtime,
        _sim: sim,
        client,
    };
    // The objects every case may target.
    for (path, body) in [
        ("/api/v1/nodes", node("n0")),
        (
            "/api/v1/namespaces/default/pods",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p0"},
                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        ),
        (
            "/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets",
            json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
                   "metadata": {"name": "j0"}, "spec": {"replicatedJobs": []}}),
        ),
    ] {
        let (code, answer) = shared.send("POST", path, JSON, body.to_string().into_bytes());
        assert_eq!(code, 201, "{path}: {answer}");
    }
    shared
});

const JSON: &str = "application/json";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

fn node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name,
           "labels": {"cloud.google.com/gke-nodepool": "p"}},
           "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
}

impl Shared {
    fn send(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        self.runtime.block_on(async {
            let request = http::Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", content_type)
                .header("accept", JSON)
                .body(kube::client::Body::from(body))
                .expect("request");
            let response = self
                .client
                .send(request)
                .await
                .expect("the simulator answers");
            let code = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect_bytes()
                .await
                .expect("a whole body");
            (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        })
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, JSON, Vec::new())
    }
}

/// Refused with a Status naming the same code, or accepted; never a 5xx.
fn answered_properly(what: &str, (code, body): &(u16, Value)) -> Result<(), TestCaseError> {
    prop_assert!(*code < 500, "{what}: {code} {body}");
    if *code >= 400 {
        prop_assert_eq!(&body["kind"], "Status", "{}: {} {}", what, code, body);
        prop_assert_eq!(&body["code"], &json!(code), "{}: {}", what, body);
        prop_assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: a Status without a message: {body}"
        );
    }
    Ok(())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("metadata".to_string()),
        Just("name".to_string()),
        Just("labels".to_string()),
        Just("spec".to_string()),
        Just("status".to_string()),
        Just("conditions".to_string()),
        Just("resourceVersion".to_string()),
        Just("$patch".to_string()),
        "[a-zA-Z$/.]{1,6}",
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        // Oversized values: labels and names past every limit.
        (1000usize..70_000).prop_map(|n| Value::String("x".repeat(n))),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Something shaped like an object of a kind the simulator serves, with any
/// field of any type, or missing.
fn object_like() -> impl Strategy<Value = Value> {
    let api = prop_oneof![
        Just(json!("v1")),
        Just(json!("jobset.x-k8s.io/v1alpha2")),
        Just(json!("accelerator.gke.io/v1beta1")),
        any_json(),
    ];
    let kind = prop_oneof![
        Just(json!("Node")),
        Just(json!("Pod")),
        Just(json!("JobSet")),
        Just(json!("Slice")),
        Just(json!("List")),
        any_json(),
    ];
    let name = prop_oneof![
        Just(json!("n0")),
        Just(json!("p0")),
        Just(json!("j0")),
        "[a-z0-9.-]{0,80}".prop_map(Value::String),
        any_json(),
    ];
    (
        api,
        kind,
        name,
        any_json(),
        any_json(),
        any_json(),
        prop::option::of(any_json()),
    )
        .prop_map(|(api, kind, name, labels, spec, status, items)| {
            let mut o = json!({"apiVersion": api, "kind": kind,
                "metadata": {"name": name, "labels": labels}, "spec": spec, "status": status});
            if let Some(items) = items {
                o["items"] = items;
            }
            o
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        any_json().prop_map(|v| v.to_string().into_bytes()),
        object_like().prop_map(|v| v.to_string().into_bytes()),
        // JSON patches: operations with any paths and values.
        prop::collection::vec(
            ("(add|remove|replace|move|copy|test|x)", "(/[a-z~01]{0,8}){0,4}", any_json()),
            0..4
        )
        .prop_map(|ops| {
            let ops: Vec<Value> = ops
                .into_iter()
                .map(|(op, path, value)| json!({"op": op, "path": path, "from": "/metadata", "value": value}))
                .collect();
            Value::Array(ops).to_string().into_bytes()
        }),
        // Protobuf-framed garbage (the `k8s\0` magic, then anything).
        prop::collection::vec(any::<u8>(), 0..256).prop_map(|rest| {
            let mut b = b"k8s\x00".to_vec();
            b.extend(rest);
            b
        }),
    ]
}

/// Every write verb, on plain objects, status subresources and collections.
fn target() -> impl Strategy<Value = (&'static str, &'static str, &'static str)> {
    let paths = prop_oneof![
        Just("/api/v1/nodes"),
        Just("/api/v1/nodes/n0"),
        Just("/api/v1/nodes/n0/status"),
        Just("/api/v1/namespaces/default/pods"),
        Just("/api/v1/namespaces/default/pods/p0"),
        Just("/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets"),
        Just("/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets/j0"),
        Just("/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets/j0/status"),
        Just("/apis/accelerator.gke.io/v1beta1/slices"),
    ];
    let verb = prop_oneof![
        Just(("POST", JSON)),
        Just(("POST", PROTOBUF)),
        Just(("POST", "application/yaml")),
        Just(("PUT", JSON)),
        Just(("PUT", PROTOBUF)),
        Just(("PATCH", "application/merge-patch+json")),
        Just(("PATCH", "application/strategic-merge-patch+json")),
        Just(("PATCH", "application/json-patch+json")),
        Just(("PATCH", "application/apply-patch+yaml")),
        Just(("PATCH", "text/plain")),
    ];
    (paths, verb).prop_map(|(path, (method, ct))| (method, path, ct))
}

/// `%XX` for every byte outside the unreserved set.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn selector() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9=!,()<> ./_-]{0,40}",
        "[a-z]{1,5}( in | notin )\\([a-z, ]{0,10}\\)",
        "(metadata.name|spec.nodeName|status.phase|x)(=|==|!=)[a-z0-9]{0,5}",
        ".{0,20}",
    ]
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("true".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        "[a-zA-Z0-9]{0,8}",
        ".{0,10}",
    ]
}

proptest! {
    #[test]
    fn any_body_on_any_write_is_answered_with_a_status_and_loses_nothing(
        (method, path, content_type) in target(),
        body in body(),
    ) {
        let shared = &*SHARED;
        let before = shared.get("/api/v1/nodes/n0");
        let what = format!("{method} {path} ({content_type})");
        let answer = shared.send(method, path, content_type, body);
        answered_properly(&what, &answer)?;
        // A refused write changes nothing.
        if answer.0 >= 400 {
            let after = shared.get("/api/v1/nodes/n0");
            prop_assert_eq!(&before, &after, "{} changed n0 though refused", what);
        }
        // And the simulator still serves (n0 may have been replaced by a
        // valid write, never lost by an invalid one).
        let list = shared.get("/api/v1/nodes");
        prop_assert_eq!(list.0, 200, "{}", list.1);
    }

    #[test]
    fn any_selector_is_a_list_or_a_bad_request(
        labels in selector(),
        fields in selector(),
        resource in prop_oneof![
            Just("/api/v1/nodes"),
            Just("/api/v1/namespaces/default/pods"),
            Just("/apis/jobset.x-k8s.io/v1alpha2/jobsets"),
        ],
    ) {
        let shared = &*SHARED;
        for query in [
            format!("labelSelector={}", encode(&labels)),
            format!("fieldSelector={}", encode(&fields)),
            format!("labelSelector={}&fieldSelector={}", encode(&labels), encode(&fields)),
        ] {
            let path = format!("{resource}?{query}");
            let answer = shared.get(&path);
            answered_properly(&path, &answer)?;
            prop_assert!(answer.0 == 200 || answer.0 == 400, "{}: {:?}", path, answer);
        }
    }

    #[test]
    fn any_query_parameter_value_is_answered_with_a_status(
        params in prop::collection::vec((
            prop_oneof![
                Just("limit"), Just("continue"), Just("resourceVersion"),
                Just("resourceVersionMatch"), Just("timeoutSeconds"),
                Just("allowWatchBookmarks"), Just("sendInitialEvents"), Just("pretty"),
                Just("dryRun"), Just("fieldManager"), Just("fieldValidation"),
                Just("propagationPolicy"), Just("gracePeriodSeconds"), Just("force"),
            ],
            query_value(),
        ), 1..4),
    ) {
        let shared = &*SHARED;
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let path = format!("/api/v1/nodes?{}", query.join("&"));
        answered_properly(&path, &shared.get(&path))?;
        let path = format!("/api/v1/nodes/n0?{}", query.join("&"));
        answered_properly(&path, &shared.get(&path))?;
    }
}
