//! Every parser of outside input against arbitrary input (issue 9): no
//! panic, and an error that names what and where. Bounded for CI (proptest's
//! default of 256 cases each); a longer run: `PROPTEST_CASES=100000 cargo
//! test --release -p megamon-core --test bad_input`.

use megamon_core::config;
use megamon_core::entity::jobset::{JobSetFacts, JobSetObject};
use megamon_core::entity::lws::{LeaderWorkerSetFacts, LeaderWorkerSetObject};
use megamon_core::entity::node::{NodeFacts, NodeObject};
use megamon_core::entity::slice::{SliceFacts, SliceObject};
use megamon_core::history;
use megamon_core::topology::{chips, chips_per_node};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Arbitrary JSON, a few levels deep, with the odd huge string.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        (0usize..3).prop_map(|n| Value::String("x".repeat(n * 20_000))),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z./-]{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object shaped like a Kubernetes one, with any value where a field
/// goes: missing fields, wrong types, nonsense statuses, oversized labels.
fn object_like() -> impl Strategy<Value = Value> {
    (
        any_json(),
        any_json(),
        any_json(),
        prop::collection::btree_map("[a-z./-]{1,60}", ".{0,300}", 0..50),
    )
        .prop_map(|(spec, status, extra, labels)| {
            json!({
                "metadata": {"name": "x", "namespace": "ns", "uid": "u", "labels": labels},
                "spec": spec,
                "status": status,
                "extra": extra,
            })
        })
}

proptest! {
    #[test]
    fn config_never_panics_and_names_the_file(doc in any_json()) {
        let text = doc.to_string();
        if let Err(e) = config::parse("c.json", text.as_bytes()) {
            prop_assert!(e.to_string().starts_with("config c.json:"), "{e}");
        }
    }

    #[test]
    fn config_keys_with_any_value(
        key in prop::sample::select(vec![
            "MetricsPrefix", "AggregationIntervalSeconds", "Exporters", "ReportConfigMapRef",
            "EventsStoreURL", "UnknownCountThreshold", "NodeUnknownGracePeriodSeconds", "GKE",
            "SliceOwnerMapConfigMapRef", "LeaderWorkerSetSupport", "MetricsAddr", "SecureMetrics",
        ]),
        value in any_json(),
    ) {
        let doc = json!({ key: value });
        if let Err(e) = config::parse("c.json", doc.to_string().as_bytes()) {
            // The error names the key (or a sub-key of it).
            prop_assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn config_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = config::parse("c.json", &bytes);
    }

    #[test]
    fn topologies_and_machine_types_never_panic(s in ".{0,40}", n in any::<u64>()) {
        let _ = chips(&s);
        let _ = chips_per_node(&s);
        // Dimensions that overflow are errors, not wrapped counts.
        let big = format!("{n}x{n}x{n}");
        if let Ok(c) = chips(&big) {
            prop_assert_eq!(u128::from(c), u128::from(n).pow(3));
        }
        let _ = chips_per_node(&format!("ct5p-hightpu-{n}t"));
    }

    #[test]
    fn stored_history_never_panics_and_names_the_file(doc in any_json()) {
        if let Err(e) = history::parse("jobsets.json", doc.to_string().as_bytes()) {
            prop_assert!(e.to_string().starts_with("jobsets.json"), "{e}");
        }
    }

    #[test]
    fn stored_history_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = history::parse("f.json", &bytes);
    }

    #[test]
    fn api_objects_never_panic(obj in object_like()) {
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        if let Ok(js) = serde_json::from_value::<JobSetObject>(obj.clone()) {
            let f = JobSetFacts::from(&js);
            let _ = (f.upness(), f.topology_errors());
        }
        if let Ok(n) = serde_json::from_value::<NodeObject>(obj.clone()) {
            let _ = NodeFacts::from_object(&n, None, now);
        }
        if let Ok(s) = serde_json::from_value::<SliceObject>(obj.clone()) {
            let f = SliceFacts::from(&s);
            let _ = (f.owner(), f.deleted_upness());
        }
        if let Ok(l) = serde_json::from_value::<LeaderWorkerSetObject>(obj) {
            let f = LeaderWorkerSetFacts::from(&l);
            let _ = (f.upness(), f.topology_error());
        }
    }
}

#[test]
fn objects_missing_every_optional_field_still_count() {
    let empty = json!({});
    let js: JobSetObject = serde_json::from_value(empty.clone()).unwrap();
    assert_eq!(JobSetFacts::from(&js).upness().expected_count, 0);
    let n: NodeObject = serde_json::from_value(empty.clone()).unwrap();
    let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    assert!(!NodeFacts::from_object(&n, None, now).is_tpu());
    let s: SliceObject = serde_json::from_value(empty.clone()).unwrap();
    assert_eq!(SliceFacts::from(&s).owner(), None);
    let l: LeaderWorkerSetObject = serde_json::from_value(empty).unwrap();
    assert_eq!(LeaderWorkerSetFacts::from(&l).upness().expected_count, 1);
    // Nonsense statuses are not up.
    let js: JobSetObject = serde_json::from_value(json!({
        "spec": {"replicatedJobs": [{"replicas": 2}]},
        "status": {"conditions": [{"type": "Completed", "status": "Maybe"}], "replicatedJobsStatus": [{"ready": 1}]}
    }))
    .unwrap();
    let u = JobSetFacts::from(&js).upness();
    assert!(!u.is_up(1.0) && !u.expected_down);
}
