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
    // As kubectl: a container's waiting or terminated reason says more than the phase.
    let statuses = obj
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    for status in statuses.into_iter().flatten() {
        for state in ["waiting", "terminated"] {
            if let Some(reason) = status
                .pointer(&format!("/state/{state}/reason"))
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                return reason.into();
            }
        }
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

fn count(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn job_status(obj: &Value) -> Value {
    let conditions = obj.pointer("/status/conditions").and_then(Value::as_array);
    for condition in conditions.into_iter().flatten() {
        let is_true = condition.get("status").and_then(Value::as_str) == Some("True");
        match condition.get("type").and_then(Value::as_str) {
            Some("Complete") if is_true => return "Complete".into(),
            Some("Failed") if is_true => return "Failed".into(),
            Some("Suspended") if is_true => return "Suspended".into(),
            _ => {}
        }
    }
    "Running".into()
}

fn service_ports(obj: &Value) -> Value {
    let ports: Vec<String> = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                    let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    format!("{port}/{protocol}")
                })
                .collect()
        })
        .unwrap_or_default();
    or_none(ports.join(","))
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
        ("", "secrets") => vec![
            col("Type", "string", 0, |o| text(o, ".type").into()),
            col("Data", "integer", 0, |o| {
                json!(
                    o.get("data")
                        .and_then(Value::as_object)
                        .map_or(0, |d| d.len())
                )
            }),
        ],
        ("", "services") => vec![
            col("Type", "string", 0, |o| {
                let t = text(o, ".spec.type");
                Value::String(if t.is_empty() { "ClusterIP".into() } else { t })
            }),
            col("Cluster-IP", "string", 0, |o| {
                or_none(text(o, ".spec.clusterIP"))
            }),
            col("External-IP", "string", 0, |o| {
                or_none(text(o, ".status.loadBalancer.ingress[*].ip"))
            }),
            col("Port(s)", "string", 0, service_ports),
        ],
        ("", "events") => {
            return vec![
                col("Last Seen", "string", 0, |o| {
                    let at = text(o, ".lastTimestamp");
                    let at = if at.is_empty() {
                        text(o, ".eventTime")
                    } else {
                        at
                    };
                    Value::String(if at.is_empty() {
                        "<unknown>".into()
                    } else {
                        human_age(&at)
                    })
                }),
                col("Type", "string", 0, |o| text(o, ".type").into()),
                col("Reason", "string", 0, |o| text(o, ".reason").into()),
                col("Object", "string", 0, |o| {
                    format!(
                        "{}/{}",
                        text(o, ".involvedObject.kind").to_ascii_lowercase(),
                        text(o, ".involvedObject.name")
                    )
                    .into()
                }),
                col("Message", "string", 0, |o| text(o, ".message").into()),
            ];
        }
        ("batch", "jobs") => vec![
            col("Status", "string", 0, job_status),
            col("Completions", "string", 0, |o| {
                let want = o
                    .pointer("/spec/completions")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                format!("{}/{want}", count(o, "/status/succeeded")).into()
            }),
        ],
        ("batch", "cronjobs") => vec![
            col("Schedule", "string", 0, |o| {
                text(o, ".spec.schedule").into()
            }),
            col("Timezone", "string", 0, |o| {
                or_none(text(o, ".spec.timeZone"))
            }),
            col("Suspend", "boolean", 0, |o| {
                json!(
                    o.pointer("/spec/suspend")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                )
            }),
            col("Active", "integer", 0, |o| {
                json!(
                    o.pointer("/status/active")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                )
            }),
            col("Last Schedule", "string", 0, |o| {
                let at = text(o, ".status.lastScheduleTime");
                Value::String(if at.is_empty() {
                    "<none>".into()
                } else {
                    human_age(&at)
                })
            }),
        ],
        ("apps", "deployments") => vec![
            col("Ready", "string", 0, |o| {
                let want = o
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                format!("{}/{want}", count(o, "/status/readyReplicas")).into()
            }),
            col("Up-to-date", "integer", 0, |o| {
                json!(count(o, "/status/updatedReplicas"))
            }),
            col("Available", "integer", 0, |o| {
                json!(count(o, "/status/availableReplicas"))
            }),
        ],
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
/// Events list their name last and only with `-o wide`, as kube-apiserver's printer does.
fn name_last(def: &ResourceDef) -> bool {
    def.builtin && def.plural == "events"
}

pub fn column_definitions(def: &ResourceDef) -> Vec<Value> {
    let name = json!({
        "name": "Name", "type": "string", "format": "name",
        "priority": if name_last(def) { 1 } else { 0 },
        "description": "Name must be unique within a namespace.",
    });
    let mut defs = Vec::new();
    if !name_last(def) {
        defs.push(name.clone());
    }
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
    if name_last(def) {
        defs.push(name);
    }
    defs
}

/// One table row for `obj`.
pub fn row(def: &ResourceDef, obj: &Value, include: IncludeObject) -> Value {
    let name = Value::String(meta_str(obj, "name").unwrap_or_default().to_string());
    let mut cells = Vec::new();
    if !name_last(def) {
        cells.push(name.clone());
    }
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
    if name_last(def) {
        cells.push(name);
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
