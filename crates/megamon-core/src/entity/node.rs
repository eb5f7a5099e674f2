//! Node readiness (SPEC §2.5) and the node fields MegaMon keeps.
//!
//! A 65,536-node cluster lists about 0.9 GB of Node JSON; MegaMon keeps a few
//! labels and the `Ready` condition of each. [`NodeObject`] is parsed straight
//! from the API's JSON, skipping everything else without allocating it, and
//! [`NodeFacts`] shares one copy of each distinct label set ([`NodeLabels`]):
//! the nodes of a pool carry the same values.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::blocks::BlockLabels;
use super::labels;
use super::or_null::OrNull;
use crate::cause::NodeSignals;

/// How long a node may be `Unknown` before it counts as not ready (SPEC §2.5).
pub const DEFAULT_UNKNOWN_GRACE: Duration = Duration::from_secs(180);

/// The labels of a node the rules read (SPEC §2.2, §2.3, §2.7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NodeLabels {
    /// `cloud.google.com/gke-nodepool`.
    pub node_pool: Option<String>,
    /// `cloud.google.com/gke-tpu-topology`: present only on TPU nodes.
    pub tpu_topology: Option<String>,
    pub tpu_accelerator: Option<String>,
    /// `cloud.google.com/gke-accelerator-count`, unparsed.
    pub accelerator_count: Option<String>,
    /// The JobSet the TPU provisioner made this node for.
    pub jobset_namespace: Option<String>,
    pub jobset_name: Option<String>,
    /// Empty strings where a label is absent.
    pub blocks: BlockLabels,
    /// `cloud.google.com/gke-spot=true`: a spot VM (simulated pools take it).
    pub spot: bool,
}

impl NodeLabels {
    /// The label keys the rules read.
    pub const KEYS: [&'static str; 11] = [
        labels::NODE_POOL,
        labels::TPU_TOPOLOGY,
        labels::TPU_ACCELERATOR,
        labels::ACCELERATOR_COUNT,
        labels::PROVISIONER_JOBSET_NAMESPACE,
        labels::PROVISIONER_JOBSET_NAME,
        labels::TOPOLOGY_BLOCK,
        labels::TOPOLOGY_SUBBLOCK,
        labels::RESERVATION_BLOCKS,
        labels::RESERVATION_SUBBLOCKS,
        labels::SPOT,
    ];

    /// Whether the rules read label `key`.
    pub fn reads(key: &str) -> bool {
        Self::KEYS.contains(&key)
    }

    /// Sets label `key` if the rules read it (else does nothing).
    pub fn set(&mut self, key: &str, value: String) {
        match key {
            labels::NODE_POOL => self.node_pool = Some(value),
            labels::TPU_TOPOLOGY => self.tpu_topology = Some(value),
            labels::TPU_ACCELERATOR => self.tpu_accelerator = Some(value),
            labels::ACCELERATOR_COUNT => self.accelerator_count = Some(value),
            labels::PROVISIONER_JOBSET_NAMESPACE => self.jobset_namespace = Some(value),
            labels::PROVISIONER_JOBSET_NAME => self.jobset_name = Some(value),
            labels::TOPOLOGY_BLOCK => self.blocks.block_id = value,
            labels::TOPOLOGY_SUBBLOCK => self.blocks.subblock_id = value,
            labels::RESERVATION_BLOCKS => self.blocks.block_name = value,
            labels::RESERVATION_SUBBLOCKS => self.blocks.subblock_name = value,
            labels::SPOT => self.spot = value == "true",
            _ => {}
        }
    }

    /// The labels the rules read out of all of a node's labels.
    pub fn from_map(all: &BTreeMap<String, String>) -> NodeLabels {
        let mut out = NodeLabels::default();
        for key in Self::KEYS {
            if let Some(v) = all.get(key) {
                out.set(key, v.clone());
            }
        }
        out
    }

    /// The JobSet the provisioner made the node for: (namespace, name).
    pub fn jobset(&self) -> Option<(&str, &str)> {
        Some((
            self.jobset_namespace.as_deref()?,
            self.jobset_name.as_deref()?,
        ))
    }

    /// Block labels, if the node has any.
    pub fn blocks(&self) -> Option<&BlockLabels> {
        (self.blocks != BlockLabels::default()).then_some(&self.blocks)
    }

    pub fn is_tpu(&self) -> bool {
        self.tpu_topology.is_some()
    }
}

/// The labels and taints GKE puts on a node that is about to go, or going,
/// away, and what they say (interruption causes). Kept as two flags per
/// node, not as the labels' values: a scheduled-maintenance time differs
/// from node to node and would split the shared label sets.
pub mod signals {
    use crate::cause::NodeSignals;

    /// Label: maintenance is scheduled for this time.
    pub const SCHEDULED_MAINTENANCE: &str = "cloud.google.com/scheduled-maintenance-time";
    /// Label (value `ONGOING`) and taint: maintenance is under way.
    pub const ACTIVE_MAINTENANCE: &str = "cloud.google.com/active-node-maintenance";
    /// Taint: the VM is being terminated (spot reclaim, shutdown).
    pub const IMPENDING_TERMINATION: &str = "cloud.google.com/impending-node-termination";

    /// Whether label `key` is one of the signals.
    pub fn reads_label(key: &str) -> bool {
        key == SCHEDULED_MAINTENANCE || key == ACTIVE_MAINTENANCE
    }

    /// Adds what label `key` with `value` says to `signals`.
    pub fn label(signals: &mut NodeSignals, key: &str, value: &str) {
        match key {
            SCHEDULED_MAINTENANCE => signals.maintenance = true,
            ACTIVE_MAINTENANCE if value == "ONGOING" => signals.maintenance = true,
            _ => {}
        }
    }

    /// Adds what a taint with `key` says to `signals`.
    pub fn taint(signals: &mut NodeSignals, key: &str) {
        match key {
            ACTIVE_MAINTENANCE => signals.maintenance = true,
            IMPENDING_TERMINATION => signals.terminating = true,
            _ => {}
        }
    }
}

/// A node's `Ready` condition as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyStatus {
    True,
    False,
    /// `Unknown` (or any other value), with its `lastTransitionTime` if it parses.
    Unknown {
        since: Option<Timestamp>,
    },
}

impl ReadyStatus {
    pub fn from_condition(status: &str, last_transition_time: Option<&str>) -> ReadyStatus {
        match status {
            "True" => ReadyStatus::True,
            "False" => ReadyStatus::False,
            _ => ReadyStatus::Unknown {
                since: last_transition_time.and_then(|t| t.parse().ok()),
            },
        }
    }
}

/// A core/v1 Node as MegaMon reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeObject {
    pub name: String,
    /// `metadata.resourceVersion`, for the watch that reads it.
    pub resource_version: Option<String>,
    pub labels: NodeLabels,
    /// Maintenance and termination, from labels and `spec.taints`.
    pub signals: NodeSignals,
    /// `None` without a `Ready` condition (a node still registering).
    pub ready: Option<ReadyStatus>,
}

/// A node's `Ready` condition as MegaMon keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyCondition {
    True,
    False,
    /// `Unknown` since `since`: its `lastTransitionTime`, or when MegaMon first
    /// saw it Unknown if the time is missing.
    Unknown {
        since: Timestamp,
    },
    /// No `Ready` condition (a node still registering).
    Missing,
}

/// How a node counts towards its entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady,
    Unknown,
}

impl ReadyCondition {
    /// The condition of a node reported `reported` at `observed_at`.
    /// `previous` is what was known of the same node, so that an Unknown
    /// without a transition time keeps the time it was first seen Unknown.
    pub fn observe(
        reported: Option<ReadyStatus>,
        previous: Option<ReadyCondition>,
        observed_at: Timestamp,
    ) -> ReadyCondition {
        match reported {
            None => ReadyCondition::Missing,
            Some(ReadyStatus::True) => ReadyCondition::True,
            Some(ReadyStatus::False) => ReadyCondition::False,
            Some(ReadyStatus::Unknown { since }) => {
                let since = match (since, previous) {
                    (Some(t), _) => t,
                    (None, Some(ReadyCondition::Unknown { since })) => since,
                    (None, _) => observed_at,
                };
                ReadyCondition::Unknown { since }
            }
        }
    }

    /// Readiness at `now`: Unknown turns into NotReady once it has lasted `grace`.
    pub fn readiness(self, now: Timestamp, grace: Duration) -> Readiness {
        match self {
            ReadyCondition::True => Readiness::Ready,
            ReadyCondition::False => Readiness::NotReady,
            ReadyCondition::Missing => Readiness::Unknown,
            ReadyCondition::Unknown { since } => {
                if crate::duration::elapsed(since, now) < grace {
                    Readiness::Unknown
                } else {
                    Readiness::NotReady
                }
            }
        }
    }

    /// When readiness will change by itself (an Unknown grace period ending),
    /// so that a caller can schedule a re-evaluation exactly then.
    pub fn expires_at(self, grace: Duration) -> Option<Timestamp> {
        match self {
            ReadyCondition::Unknown { since } => jiff::SignedDuration::try_from(grace)
                .ok()
                .and_then(|g| since.checked_add(g).ok()),
            _ => None,
        }
    }
}

/// What MegaMon keeps of a Node: its name, its labels (shared with the other
/// nodes that carry the same) and its readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: Arc<str>,
    pub labels: Arc<NodeLabels>,
    pub ready: ReadyCondition,
    /// Maintenance and termination (interruption causes).
    pub signals: NodeSignals,
}

impl NodeFacts {
    /// The facts of `node` observed at `observed_at`; `previous` is the same
    /// node's earlier facts, if any. Its labels are a copy of their own: an
    /// index that keeps many nodes shares them instead (see `NodeFacts::new`).
    pub fn from_object(
        node: &NodeObject,
        previous: Option<&NodeFacts>,
        observed_at: Timestamp,
    ) -> NodeFacts {
        NodeFacts {
            name: node.name.as_str().into(),
            labels: Arc::new(node.labels.clone()),
            ready: ReadyCondition::observe(node.ready, previous.map(|p| p.ready), observed_at),
            signals: node.signals,
        }
    }

    pub fn node_pool(&self) -> Option<&str> {
        self.labels.node_pool.as_deref()
    }

    pub fn tpu_topology(&self) -> Option<&str> {
        self.labels.tpu_topology.as_deref()
    }

    pub fn tpu_accelerator(&self) -> Option<&str> {
        self.labels.tpu_accelerator.as_deref()
    }

    pub fn accelerator_count(&self) -> Option<&str> {
        self.labels.accelerator_count.as_deref()
    }

    pub fn jobset(&self) -> Option<(&str, &str)> {
        self.labels.jobset()
    }

    pub fn blocks(&self) -> Option<&BlockLabels> {
        self.labels.blocks()
    }

    pub fn is_tpu(&self) -> bool {
        self.labels.is_tpu()
    }

    /// A spot VM (`cloud.google.com/gke-spot=true`).
    pub fn spot(&self) -> bool {
        self.labels.spot
    }
}

// Parsing: straight from the API's JSON into a `NodeObject`. Keys are
// borrowed from the input where it allows; values of labels and conditions
// the rules do not read are skipped without being built.

impl<'de> Deserialize<'de> for NodeObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NodeObject, D::Error> {
        d.deserialize_map(NodeVisitor)
    }
}

/// A string borrowed from the input when it has no escapes, else owned.
struct Text<'de>(std::borrow::Cow<'de, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

type Key<'de> = Text<'de>;

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeObject;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Node")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeObject, A::Error> {
        let mut node = NodeObject::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key {
                "metadata" => map.next_value_seed(OrNull(Metadata(&mut node)))?,
                "spec" => map.next_value_seed(OrNull(Spec(&mut node.signals)))?,
                "status" => node.ready = map.next_value_seed(OrNull(Status))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(node)
    }
}

/// `metadata`: name, resourceVersion and the labels the rules read.
struct Metadata<'a>(&'a mut NodeObject);

impl<'de> Visitor<'de> for Metadata<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("object metadata")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key {
                "name" => self.0.name = map.next_value::<Option<String>>()?.unwrap_or_default(),
                "resourceVersion" => self.0.resource_version = map.next_value()?,
                "labels" => map.next_value_seed(OrNull(Labels(self.0)))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `metadata.labels`: those the rules read, and the signals.
struct Labels<'a>(&'a mut NodeObject);

impl<'de> Visitor<'de> for Labels<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map of labels")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if NodeLabels::reads(&key) {
                let value: Option<String> = map.next_value()?;
                self.0.labels.set(&key, value.unwrap_or_default());
            } else if signals::reads_label(&key) {
                let value: Option<Text<'de>> = map.next_value()?;
                signals::label(
                    &mut self.0.signals,
                    &key,
                    value.as_deref().unwrap_or_default(),
                );
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// `spec`: the keys of its taints only.
struct Spec<'a>(&'a mut NodeSignals);

impl<'de> Visitor<'de> for Spec<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a node spec")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if &*key == "taints" {
                map.next_value_seed(OrNull(Taints(&mut *self.0)))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// `spec.taints`: each taint's key.
struct Taints<'a>(&'a mut NodeSignals);

impl<'de> Visitor<'de> for Taints<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of taints")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(taint) = seq.next_element::<TaintKey<'de>>()? {
            if let Some(key) = taint.0 {
                signals::taint(self.0, &key);
            }
        }
        Ok(())
    }
}

/// One taint: its key, borrowed from the input where it allows.
struct TaintKey<'de>(Option<Text<'de>>);

impl<'de> Deserialize<'de> for TaintKey<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TaintKey<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TaintKey<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a taint")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TaintKey<'de>, A::Error> {
                let mut key = None;
                while let Some(k) = map.next_key::<Key<'de>>()? {
                    if &*k == "key" {
                        key = map.next_value()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(TaintKey(key))
            }
        }
        d.deserialize_map(V)
    }
}

/// `status`: the `Ready` condition only.
struct Status;

impl<'de> Visitor<'de> for Status {
    type Value = Option<ReadyStatus>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a node status")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ready = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if &*key == "conditions" {
                ready = map.next_value_seed(OrNull(Conditions))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(ready)
    }
}

/// `status.conditions`: the first `Ready` one.
struct Conditions;

impl<'de> Visitor<'de> for Conditions {
    type Value = Option<ReadyStatus>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of conditions")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut ready = None;
        while let Some(condition) = seq.next_element::<Condition<'de>>()? {
            if ready.is_none() && condition.type_.as_deref() == Some("Ready") {
                ready = Some(ReadyStatus::from_condition(
                    condition.status.as_deref().unwrap_or_default(),
                    condition.last_transition_time.as_deref(),
                ));
            }
        }
        Ok(ready)
    }
}

/// One condition: the three fields read, borrowed from the input where it allows.
#[derive(Default)]
struct Condition<'de> {
    type_: Option<Text<'de>>,
    status: Option<Text<'de>>,
    last_transition_time: Option<Text<'de>>,
}

impl<'de> Deserialize<'de> for Condition<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Condition<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Condition<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a condition")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Condition<'de>, A::Error> {
                let mut c = Condition::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match &*key {
                        "type" => c.type_ = map.next_value()?,
                        "status" => c.status = map.next_value()?,
                        "lastTransitionTime" => c.last_transition_time = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn node(status: Option<&str>, ltt: Option<&str>) -> NodeObject {
        let mut conditions = vec![json!({"type": "MemoryPressure", "status": "False"})];
        if let Some(s) = status {
            let mut c = json!({"type": "Ready", "status": s});
            if let Some(t) = ltt {
                c["lastTransitionTime"] = json!(t);
            }
            conditions.push(c);
        }
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {
                "cloud.google.com/gke-nodepool": "pool-a",
                "cloud.google.com/gke-tpu-topology": "16x16",
                "cloud.google.com/gke-accelerator-count": "4",
                "google.com/tpu-provisioner-jobset-namespace": "default",
                "google.com/tpu-provisioner-jobset-name": "js"
            }},
            "spec": {"providerID": "gce://x"},
            "status": {"conditions": conditions, "capacity": {"google.com/tpu": "4"}}
        }))
        .unwrap()
    }

    const GRACE: Duration = DEFAULT_UNKNOWN_GRACE;

    #[test]
    fn maintenance_and_termination_signals() {
        let with = |labels: serde_json::Value, taints: serde_json::Value| {
            let n: NodeObject = serde_json::from_value(json!({
                "metadata": {"name": "n", "labels": labels},
                "spec": {"taints": taints}
            }))
            .unwrap();
            NodeFacts::from_object(&n, None, ts("2024-01-01T00:00:00Z")).signals
        };
        assert_eq!(with(json!({}), json!([])), NodeSignals::default());
        let maint = NodeSignals {
            maintenance: true,
            terminating: false,
        };
        assert_eq!(
            with(
                json!({"cloud.google.com/scheduled-maintenance-time": "1700000000"}),
                json!([])
            ),
            maint
        );
        assert_eq!(
            with(
                json!({"cloud.google.com/active-node-maintenance": "ONGOING"}),
                json!([])
            ),
            maint
        );
        assert_eq!(
            with(
                json!({"cloud.google.com/active-node-maintenance": "DONE"}),
                json!([])
            ),
            NodeSignals::default()
        );
        assert_eq!(
            with(
                json!({}),
                json!([{"key": "cloud.google.com/active-node-maintenance", "effect": "NoSchedule"}])
            ),
            maint
        );
        assert_eq!(
            with(
                json!({}),
                json!([{"key": "cloud.google.com/impending-node-termination", "effect": "NoSchedule"}])
            ),
            NodeSignals {
                maintenance: false,
                terminating: true
            }
        );
        // Null taints and a spec without them.
        assert_eq!(with(json!({}), json!(null)), NodeSignals::default());
    }

    #[test]
    fn spot_is_a_shared_label() {
        let n: NodeObject = serde_json::from_value(json!({
            "metadata": {"name": "n", "labels": {"cloud.google.com/gke-spot": "true"}}
        }))
        .unwrap();
        assert!(NodeFacts::from_object(&n, None, ts("2024-01-01T00:00:00Z")).spot());
        let n: NodeObject = serde_json::from_value(json!({
            "metadata": {"name": "n", "labels": {"cloud.google.com/gke-spot": "false"}}
        }))
        .unwrap();
        assert!(!NodeFacts::from_object(&n, None, ts("2024-01-01T00:00:00Z")).spot());
    }

    #[test]
    fn ready_and_not_ready() {
        let now = ts("2024-01-01T00:00:00Z");
        let f = NodeFacts::from_object(&node(Some("True"), None), None, now);
        assert_eq!(f.ready.readiness(now, GRACE), Readiness::Ready);
        let f = NodeFacts::from_object(&node(Some("False"), None), None, now);
        assert_eq!(f.ready.readiness(now, GRACE), Readiness::NotReady);
    }

    #[test]
    fn missing_ready_condition_is_unknown() {
        let now = ts("2024-01-01T00:00:00Z");
        let f = NodeFacts::from_object(&node(None, None), None, now);
        assert_eq!(f.ready, ReadyCondition::Missing);
        assert_eq!(f.ready.readiness(now, GRACE), Readiness::Unknown);
    }

    #[test]
    fn unknown_becomes_not_ready_after_the_grace_period() {
        let f = NodeFacts::from_object(
            &node(Some("Unknown"), Some("2024-01-01T00:00:00Z")),
            None,
            ts("2024-01-01T00:01:00Z"),
        );
        assert_eq!(
            f.ready.readiness(ts("2024-01-01T00:02:59Z"), GRACE),
            Readiness::Unknown
        );
        assert_eq!(
            f.ready.readiness(ts("2024-01-01T00:03:00Z"), GRACE),
            Readiness::NotReady
        );
        assert_eq!(f.ready.expires_at(GRACE), Some(ts("2024-01-01T00:03:00Z")));
    }

    #[test]
    fn unknown_without_transition_time_counts_from_first_sight() {
        let first = NodeFacts::from_object(
            &node(Some("Unknown"), None),
            None,
            ts("2024-01-01T00:10:00Z"),
        );
        // Seen again later: keeps the first time.
        let again = NodeFacts::from_object(
            &node(Some("Unknown"), None),
            Some(&first),
            ts("2024-01-01T00:12:00Z"),
        );
        assert_eq!(
            again.ready,
            ReadyCondition::Unknown {
                since: ts("2024-01-01T00:10:00Z")
            }
        );
        assert_eq!(
            again.ready.readiness(ts("2024-01-01T00:13:00Z"), GRACE),
            Readiness::NotReady
        );
        // An unparsable time is treated as missing.
        let bad = NodeFacts::from_object(
            &node(Some("Unknown"), Some("soon")),
            None,
            ts("2024-01-01T00:10:00Z"),
        );
        assert_eq!(
            bad.ready,
            ReadyCondition::Unknown {
                since: ts("2024-01-01T00:10:00Z")
            }
        );
    }

    #[test]
    fn odd_status_values_are_unknown() {
        let f =
            NodeFacts::from_object(&node(Some("Maybe"), None), None, ts("2024-01-01T00:00:00Z"));
        assert!(matches!(f.ready, ReadyCondition::Unknown { .. }));
    }

    #[test]
    fn labels_are_kept() {
        let f = NodeFacts::from_object(&node(Some("True"), None), None, ts("2024-01-01T00:00:00Z"));
        assert_eq!(f.node_pool(), Some("pool-a"));
        assert!(f.is_tpu());
        assert_eq!(f.accelerator_count(), Some("4"));
        assert_eq!(f.jobset(), Some(("default", "js")));
        assert_eq!(f.blocks(), None);
    }

    #[test]
    fn parsing_keeps_only_what_the_rules_read() {
        let n: NodeObject = serde_json::from_str(
            r#"{"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": "n\u0031", "resourceVersion": "42", "uid": "x",
                    "labels": {"cloud.google.com/gke-nodepool": "p", "kubernetes.io/hostname": "n1",
                               "cloud.google.com/gce-topology-block": "b7"},
                    "annotations": {"big": "xxxxxxxx"},
                    "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]},
                "spec": {"podCIDR": "10.0.0.0/24"},
                "status": {"conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                    {"type": "Ready", "status": "Unknown", "lastTransitionTime": "2024-01-01T00:00:00Z"}],
                    "images": [{"names": ["a"], "sizeBytes": 1}]}}"#,
        )
        .expect("parses");
        assert_eq!(n.name, "n1", "escapes are decoded");
        assert_eq!(n.resource_version.as_deref(), Some("42"));
        assert_eq!(
            n.labels,
            NodeLabels {
                node_pool: Some("p".into()),
                blocks: BlockLabels {
                    block_id: "b7".into(),
                    ..BlockLabels::default()
                },
                ..NodeLabels::default()
            }
        );
        assert_eq!(
            n.ready,
            Some(ReadyStatus::Unknown {
                since: Some(ts("2024-01-01T00:00:00Z"))
            })
        );
        // Nulls and missing parts.
        let bare: NodeObject = serde_json::from_str(
            r#"{"metadata": {"name": "m", "labels": null}, "status": {"conditions": null}}"#,
        )
        .expect("parses");
        assert_eq!(bare.labels, NodeLabels::default());
        assert_eq!(bare.ready, None);
        assert!(
            serde_json::from_str::<NodeObject>(
                r#"{"metadata": {"labels": {"cloud.google.com/gke-nodepool": 3}}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn labels_from_a_map_match_the_parsed_ones() {
        let all: BTreeMap<String, String> = [
            (labels::NODE_POOL, "p"),
            (labels::PROVISIONER_JOBSET_NAMESPACE, "ns"),
            (labels::RESERVATION_SUBBLOCKS, "rs"),
            ("other", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let l = NodeLabels::from_map(&all);
        assert_eq!(l.node_pool.as_deref(), Some("p"));
        assert_eq!(l.jobset(), None, "a JobSet needs both labels");
        assert_eq!(l.blocks().map(|b| b.subblock_name.as_str()), Some("rs"));
    }
}
