//! `meta.k8s.io/v1 Table` responses, which `kubectl get` asks for.

use serde_json::{Value, json};

use crate::objects::{cell_text, human_age, json_path, meta_str};
use crate::resources::ResourceDef;

/// How much of each object a table row carries (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> IncludeObject {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

struct Column {
    name: &'static str,
    kind: &'static str,
    priority: i64,
    cell: fn(&Value) -> Value,
}

fn age(obj: &Value) -> Value {
    Value::String(
        meta_str(obj, "creationTimestamp")
            .map(human_age)
            .unwrap_or_else(|| "<unknown>".into()),
    )
}

fn text(obj: &Value, path: &str) -> String {
    cell_text(&json_path(obj, path))
}

fn or_none(s: String) -> Value {
    Value::String(if s.is_empty() { "<none>".into() } else { s })
}

fn pod_ready(obj: &Value) -> Value {
    let total = obj
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = obj
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(0, |s| {
            s.iter()
                .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                .count()
        });
    Value::String(format!("{ready}/{total}"))
}

fn pod_status(obj: &Value) -> Value {
    if meta_str(obj, "deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let reason = text(obj, ".status.reason");
    if !reason.is_empty() {
        return reason.into();
    }
    let phase = text(obj, ".status.phase");
    Value::String(if phase.is_empty() {
        "Pending".into()
    } else {
        phase
    })
}

fn pod_restarts(obj: &Value) -> Value {
    let n: i64 = obj
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(0, |s| {
            s.iter()
                .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                .sum()
        });
    json!(n)
}

fn node_status(obj: &Value) -> Value {
    let ready = text(obj, r#".status.conditions[?(@.type=="Ready")].status"#);
    let mut status = match ready.as_str() {
        "True" => "Ready".to_string(),
        "False" => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    Value::String(status)
}

fn node_roles(obj: &Value) -> Value {
    let roles: Vec<&str> = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect()
        })
        .unwrap_or_default();
    or_none(roles.join(","))
}

fn builtin_columns(def: &ResourceDef) -> Vec<Column> {
    let col = |name, kind, priority, cell| Column {
        name,
        kind,
        priority,
        cell,
    };
    let mut cols = match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => vec![
            col("Ready", "string", 0, pod_ready),
            col("Status", "string", 0, pod_status),
            col("Restarts", "string", 0, pod_restarts),
        ],
        ("", "nodes") => vec![
            col("Status", "string", 0, node_status),
            col("Roles", "string", 0, node_roles),
        ],
        ("", "namespaces") => vec![col("Status", "string", 0, |o| {
            text(o, ".status.phase").into()
        })],
        ("", "configmaps") => vec![col("Data", "integer", 0, |o| {
            json!(
                o.get("data")
                    .and_then(Value::as_object)
                    .map_or(0, |d| d.len())
            )
        })],
        ("batch", "jobs") => vec![col("Completions", "string", 0, |o| {
            let done = o
                .pointer("/status/succeeded")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let want = o
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            format!("{done}/{want}").into()
        })],
        ("apps", "deployments") => vec![col("Ready", "string", 0, |o| {
            let ready = o
                .pointer("/status/readyReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let want = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            format!("{ready}/{want}").into()
        })],
        ("coordination.k8s.io", "leases") => vec![col("Holder", "string", 0, |o| {
            text(o, ".spec.holderIdentity").into()
        })],
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            return vec![col("Created At", "date", 0, |o| {
                meta_str(o, "creationTimestamp").unwrap_or_default().into()
            })];
        }
        _ => Vec::new(),
    };
    cols.push(col("Age", "string", 0, age));
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => {
            cols.push(col("IP", "string", 1, |o| {
                or_none(text(o, ".status.podIP"))
            }));
            cols.push(col("Node", "string", 1, |o| {
                or_none(text(o, ".spec.nodeName"))
            }));
        }
        ("", "nodes") => {
            cols.push(col("Version", "string", 0, |o| {
                text(o, ".status.nodeInfo.kubeletVersion").into()
            }));
        }
        _ => {}
    }
    cols
}

/// The `columnDefinitions` of a table of `def`.
pub fn column_definitions(def: &ResourceDef) -> Vec<Value> {
    let mut defs = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace.",
    })];
    if def.printer_columns.is_empty() {
        defs.extend(builtin_columns(def).iter().map(|c| {
            json!({"name": c.name, "type": c.kind, "format": "", "description": c.name, "priority": c.priority})
        }));
    } else {
        defs.extend(def.printer_columns.iter().map(|c| {
            let kind = if c.column_type == "date" { "date" } else { &c.column_type };
            json!({"name": c.name, "type": kind, "format": "", "description": c.description, "priority": c.priority})
        }));
    }
    defs
}

/// One table row for `obj`.
pub fn row(def: &ResourceDef, obj: &Value, include: IncludeObject) -> Value {
    let mut cells = vec![Value::String(
        meta_str(obj, "name").unwrap_or_default().to_string(),
    )];
    if def.printer_columns.is_empty() {
        cells.extend(builtin_columns(def).iter().map(|c| (c.cell)(obj)));
    } else {
        for c in &def.printer_columns {
            let values = json_path(obj, &c.json_path);
            let cell = if values.is_empty() {
                Value::Null
            } else if c.column_type == "date" {
                match &values[0] {
                    Value::String(s) => Value::String(human_age(s)),
                    _ => Value::Null,
                }
            } else if values.len() == 1 && c.column_type != "string" {
                values[0].clone()
            } else {
                Value::String(cell_text(&values))
            };
            cells.push(cell);
        }
    }
    let object = match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => partial_metadata(obj),
    };
    json!({"cells": cells, "object": object})
}

/// `PartialObjectMetadata` for `obj`.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A whole table.
pub fn table(def: &ResourceDef, rows: Vec<Value>, list_meta: Value, with_columns: bool) -> Value {
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "rows": rows,
    });
    if with_columns && let Some(map) = t.as_object_mut() {
        map.insert(
            "columnDefinitions".into(),
            Value::Array(column_definitions(def)),
        );
    }
    t
}
