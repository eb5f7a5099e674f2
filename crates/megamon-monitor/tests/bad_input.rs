//! The monitor's own parsers of outside input against arbitrary input: the
//! lean watched types (their hand-written metadata and condition readers)
//! and upstream's slice -> owner map. No panic; bounded for CI (proptest's
//! default of 256 cases), longer with `PROPTEST_CASES=100000`.

use megamon_monitor::resources::{
    JobSetResource, LeaderWorkerSetResource, NodeResource, PodResource, SliceResource, Watched,
};
use megamon_monitor::slice_owners;
use proptest::prelude::*;
use serde_json::{Value, json};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "metadata",
                    "name",
                    "namespace",
                    "uid",
                    "labels",
                    "resourceVersion",
                    "spec",
                    "status",
                    "conditions",
                    "type",
                    "status",
                    "lastTransitionTime",
                    "nodeName",
                    "replicatedJobs",
                    "replicas",
                    "leaderWorkerTemplate",
                    "readyReplicas",
                    "x",
                ]),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn check<R: Watched>(value: &Value) {
    if let Ok(r) = serde_json::from_value::<R>(value.clone()) {
        let _ = r.key();
        let _ = r.facts();
    }
}

proptest! {
    #[test]
    fn watched_objects_never_panic(doc in any_json()) {
        check::<NodeResource>(&doc);
        check::<PodResource>(&doc);
        check::<JobSetResource>(&doc);
        check::<SliceResource>(&doc);
        check::<LeaderWorkerSetResource>(&doc);
    }

    #[test]
    fn oversized_labels_and_odd_conditions(
        labels in prop::collection::btree_map("[a-z./-]{1,80}", ".{0,400}", 0..60),
        status in ".{0,12}",
    ) {
        let node = json!({"metadata": {"name": "n", "labels": labels},
            "status": {"conditions": [{"type": "Ready", "status": status, "lastTransitionTime": status}]}});
        let r: NodeResource = serde_json::from_value(node).unwrap();
        prop_assert!(r.facts().is_some());
    }

    #[test]
    fn the_slice_owner_map_never_panics(text in ".{0,200}", doc in any_json()) {
        let _ = slice_owners::parse(&text);
        let _ = slice_owners::parse(&doc.to_string());
    }
}
