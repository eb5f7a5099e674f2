//! Metric labels (OpenTelemetry attributes) of entities, scheduled jobs and the
//! build (SPEC §4).

use std::sync::Arc;

use megamon_core::Attrs;
use megamon_core::report::ScheduledJob;
use opentelemetry::{Key, KeyValue, Value};

/// What the binary was built from; `build.info` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The binary's `CARGO_PKG_VERSION`.
    pub version: String,
    /// The git commit the binary was built from; rendered `none` when absent.
    pub commit: Option<String>,
    /// When the binary was built; rendered `unknown` when absent.
    pub date: Option<String>,
}

impl BuildInfo {
    /// `build.info`'s labels, sorted by key. `none` and `unknown` are what
    /// the original printed for a build without that information (the usual
    /// Go release-tool defaults).
    pub(crate) fn labels(&self) -> [(&'static str, String); 3] {
        let or = |v: &Option<String>, missing: &str| match v.as_deref() {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => missing.to_string(),
        };
        let version = if self.version.is_empty() {
            "unknown".to_string()
        } else {
            self.version.clone()
        };
        [
            ("commit", or(&self.commit, "none")),
            ("date", or(&self.date, "unknown")),
            ("version", version),
        ]
    }

    /// [`BuildInfo::labels`] as OpenTelemetry attributes.
    pub(crate) fn attributes(&self) -> Vec<KeyValue> {
        self.labels()
            .into_iter()
            .map(|(key, value)| KeyValue::new(Key::from_static_str(key), value))
            .collect()
    }
}

fn string_value(s: &str) -> Value {
    // Reference-counted so the SDK's per-collection attribute clones are cheap.
    Value::from(Arc::<str>::from(s))
}

/// Reads one label's value from an entity's attributes.
pub(crate) type ReadLabel = fn(&Attrs) -> &str;

/// An entity's label keys (OpenTelemetry attribute names), sorted by key,
/// with how to read each from its attributes; empty means absent. Both the
/// OTLP attributes and the Prometheus labels come from this table.
pub(crate) const ENTITY_LABELS: [(&str, ReadLabel); 18] = [
    ("block.id", |a| &a.block_id),
    ("block.name", |a| &a.block_name),
    ("jobset.name", |a| &a.jobset_name),
    ("jobset.namespace", |a| &a.jobset_namespace),
    ("jobset.uid", |a| &a.jobset_uid),
    ("lws.name", |a| &a.lws_name),
    ("lws.namespace", |a| &a.lws_namespace),
    ("lws.uid", |a| &a.lws_uid),
    ("nodepool.name", |a| &a.node_pool_name),
    ("slice.name", |a| &a.slice_name),
    ("slice.owner.kind", |a| &a.slice_owner_kind),
    ("slice.owner.name", |a| &a.slice_owner_name),
    ("slice.owner.namespace", |a| &a.slice_owner_namespace),
    // Only when true.
    ("spot", |a| if a.spot { "true" } else { "" }),
    ("subblock.id", |a| &a.subblock_id),
    ("subblock.name", |a| &a.subblock_name),
    ("tpu.accelerator", |a| &a.tpu_accelerator),
    ("tpu.topology", |a| &a.tpu_topology),
];

/// The values of [`ENTITY_LABELS`] for `attrs`, in the same order.
pub(crate) fn entity_label_values(attrs: &Attrs) -> [&str; ENTITY_LABELS.len()] {
    ENTITY_LABELS.map(|(_, read)| read(attrs))
}

/// The label keys of `nodepool.job.scheduled`, sorted; see [`scheduled_label_values`].
pub(crate) const SCHEDULED_LABELS: [&str; 7] = [
    "block.id",
    "block.name",
    "job.name",
    "jobset.name",
    "nodepool.name",
    "subblock.id",
    "subblock.name",
];

/// The values of [`SCHEDULED_LABELS`] for one pool; empty means absent.
pub(crate) fn scheduled_label_values<'a>(pool: &'a str, job: &'a ScheduledJob) -> [&'a str; 7] {
    let b = &job.blocks;
    [
        &b.block_id,
        &b.block_name,
        &job.job_name,
        &job.jobset_name,
        pool,
        &b.subblock_id,
        &b.subblock_name,
    ]
}

/// The extra label of `provisioning.duration` (upstream v1.2.0).
pub(crate) const PROVISIONING_STATE_LABEL: &str = "provisioning.state";

/// The extra label of `interruptions.by.cause` and of
/// `time.between.interruptions` **[ours]**.
pub(crate) const CAUSE_LABEL: &str = "cause";

/// An entity's label keys with `extra`, sorted.
pub(crate) fn entity_label_keys_with(extra: &'static str) -> Vec<&'static str> {
    let mut keys: Vec<&str> = ENTITY_LABELS.iter().map(|(k, _)| *k).collect();
    keys.push(extra);
    keys.sort();
    keys
}

/// The values of [`entity_label_keys_with`]`(extra)` for an entity whose
/// `extra` label is `value`: an array, not a vector, because sorting a
/// family's series builds one per entity (at 65,536 nodes, 10,240 vectors
/// were 6 MB of the monitor's peak).
pub(crate) fn entity_label_values_with<'a>(
    attrs: &'a Attrs,
    extra: &'static str,
    value: &'a str,
) -> [&'a str; ENTITY_LABELS.len() + 1] {
    // ENTITY_LABELS is sorted by key: `extra` goes where it sorts.
    let at = ENTITY_LABELS.partition_point(|(k, _)| *k < extra);
    let mut values = [""; ENTITY_LABELS.len() + 1];
    for (i, (_, read)) in ENTITY_LABELS.iter().enumerate() {
        values[i + usize::from(i >= at)] = read(attrs);
    }
    values[at] = value;
    values
}

/// An entity's label keys with [`PROVISIONING_STATE_LABEL`], sorted.
pub(crate) fn provisioning_label_keys() -> Vec<&'static str> {
    entity_label_keys_with(PROVISIONING_STATE_LABEL)
}

/// The values of [`provisioning_label_keys`] for an entity in `state`.
pub(crate) fn provisioning_label_values<'a>(
    attrs: &'a Attrs,
    state: &'a str,
) -> [&'a str; ENTITY_LABELS.len() + 1] {
    entity_label_values_with(attrs, PROVISIONING_STATE_LABEL, state)
}

/// The labels of `time.to.recover`, sorted: low-cardinality entity labels
/// only, never a per-entity one.
pub(crate) const TIME_TO_RECOVER_LABELS: [&str; 3] = ["spot", "tpu.accelerator", "tpu.topology"];

/// The labels of `time.between.interruptions`: the same and the cause.
pub(crate) const TIME_BETWEEN_INTERRUPTIONS_LABELS: [&str; 4] =
    [CAUSE_LABEL, "spot", "tpu.accelerator", "tpu.topology"];

/// The values of [`TIME_TO_RECOVER_LABELS`] for an entity.
pub(crate) fn episode_label_values(attrs: &Attrs) -> [&str; 3] {
    [
        if attrs.spot { "true" } else { "" },
        &attrs.tpu_accelerator,
        &attrs.tpu_topology,
    ]
}

/// The label key of `export.errors`.
pub(crate) const EXPORTER_LABEL: &str = "exporter";

/// An entity's labels: only non-empty ones, `spot` only when true.
///
/// Keys come out sorted, which lets the SDK find the attribute set with a
/// single lookup on every collection.
pub(crate) fn entity_attributes(attrs: &Attrs) -> Vec<KeyValue> {
    attributes(
        &ENTITY_LABELS.map(|(key, _)| key),
        &entity_label_values(attrs),
    )
}

/// Labels of `provisioning.duration` for an entity in `state` (sorted by key).
pub(crate) fn provisioning_attributes(attrs: &Attrs, state: &str) -> Vec<KeyValue> {
    attributes(
        &provisioning_label_keys(),
        &provisioning_label_values(attrs, state),
    )
}

/// Labels of `interruptions.by.cause` for an entity's `cause` (sorted by key).
pub(crate) fn cause_attributes(attrs: &Attrs, cause: &str) -> Vec<KeyValue> {
    attributes(
        &entity_label_keys_with(CAUSE_LABEL),
        &entity_label_values_with(attrs, CAUSE_LABEL, cause),
    )
}

/// Labels of `nodepool.job.scheduled` for one pool (sorted by key).
pub(crate) fn scheduled_attributes(pool: &str, job: &ScheduledJob) -> Vec<KeyValue> {
    attributes(&SCHEDULED_LABELS, &scheduled_label_values(pool, job))
}

pub(crate) fn attributes(keys: &[&'static str], values: &[&str]) -> Vec<KeyValue> {
    keys.iter()
        .zip(values)
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| KeyValue::new(Key::from_static_str(key), string_value(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kvs: &[KeyValue]) -> Vec<&str> {
        kvs.iter().map(|kv| kv.key.as_str()).collect()
    }

    #[test]
    fn values_with_an_extra_label_line_up_with_its_sorted_keys() {
        let attrs = Attrs {
            block_id: "b1".into(),
            node_pool_name: "pool".into(),
            tpu_topology: "4x4".into(),
            spot: true,
            ..Attrs::default()
        };
        for extra in [CAUSE_LABEL, PROVISIONING_STATE_LABEL] {
            let keys = entity_label_keys_with(extra);
            let values = entity_label_values_with(&attrs, extra, "X");
            let pairs: Vec<(&str, &str)> = keys
                .into_iter()
                .zip(values)
                .filter(|(_, v)| !v.is_empty())
                .collect();
            let mut expected = vec![
                ("block.id", "b1"),
                ("nodepool.name", "pool"),
                ("spot", "true"),
                ("tpu.topology", "4x4"),
                (extra, "X"),
            ];
            expected.sort();
            assert_eq!(pairs, expected, "{extra}");
        }
    }

    #[test]
    fn all_labels_sorted_when_all_set() {
        let attrs = Attrs {
            jobset_name: "a".into(),
            jobset_namespace: "b".into(),
            jobset_uid: "c".into(),
            tpu_topology: "2x2".into(),
            tpu_accelerator: "tpu-v5".into(),
            tpu_chip_count: 4,
            spot: true,
            node_pool_name: "p".into(),
            slice_name: "s".into(),
            slice_owner_kind: "k".into(),
            slice_owner_name: "n".into(),
            slice_owner_namespace: "ns".into(),
            block_id: "b".into(),
            subblock_id: "sb".into(),
            block_name: "bn".into(),
            subblock_name: "sbn".into(),
            lws_name: "l".into(),
            lws_namespace: "lns".into(),
            lws_uid: "lu".into(),
        };
        let kvs = entity_attributes(&attrs);
        let k = keys(&kvs);
        let mut sorted = k.clone();
        sorted.sort();
        assert_eq!(k, sorted);
        assert_eq!(k.len(), 18);
        let kvs = provisioning_attributes(&attrs, "success");
        let k = keys(&kvs);
        let mut sorted = k.clone();
        sorted.sort();
        assert_eq!(k, sorted);
        assert!(k.contains(&"provisioning.state"));
        let spot = kvs.iter().find(|kv| kv.key.as_str() == "spot").unwrap();
        assert_eq!(spot.value.as_str(), "true");
    }

    #[test]
    fn empty_labels_and_false_spot_are_left_out() {
        let attrs = Attrs {
            jobset_name: "a".into(),
            spot: false,
            ..Attrs::default()
        };
        assert_eq!(keys(&entity_attributes(&attrs)), ["jobset.name"]);
        assert!(entity_attributes(&Attrs::default()).is_empty());
    }

    #[test]
    fn build_info_defaults() {
        let info = BuildInfo {
            version: "1.2.3".into(),
            commit: None,
            date: Some(String::new()),
        };
        let kvs = info.attributes();
        let got: Vec<(String, String)> = kvs
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("commit".to_string(), "none".to_string()),
                ("date".to_string(), "unknown".to_string()),
                ("version".to_string(), "1.2.3".to_string()),
            ]
        );
    }
}
