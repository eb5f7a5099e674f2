//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), as kubectl's typed
//! commands send them: `kubectl run`, `create job|deployment|cronjob|namespace|
//! configmap|secret|serviceaccount`, `auth can-i`, ...
//!
//! A body is the `k8s\0` magic, then a `runtime.Unknown` envelope (type meta + the raw
//! message). The message is decoded by reflection (prost-reflect) over upstream's
//! `generated.proto` files, vendored in `proto/` and compiled at build time by protox
//! (`build.rs`), then written as the JSON the rest of the server stores. Every
//! built-in kind of those files decodes, every field included; custom resources have
//! no protobuf form, so their bodies are refused with 415, as by kube-apiserver.
//!
//! Why not kube-rs's `k8s-pb`, which has every message as a prost struct: it has no
//! JSON mapping (no serde, no reflection, no conversion to k8s-openapi types), so
//! turning its structs into the JSON we store would mean a hand-written conversion
//! for each of the 150 message types reachable from Pod, Job, Deployment and CronJob.
//! Measured on this machine (2 cores), a crate holding only the dependency: k8s-pb
//! adds one 24 s (debug) / 36 s (release) compile unit, decoding four kinds links
//! 0.98 MB; prost-reflect + protox build in 23 s / 31 s spread over many small units,
//! and the descriptor set of the files used here is 82 KB.
//!
//! What this module (with `gnostic` and `/openapi/v2`) cost, before and after, on a
//! shared machine (so CPU time, not wall time): a clean debug build of megamon-sim
//! 113 s -> 156 s of CPU (143 -> 167 compile units; protox and its parser, logos
//! and miette, are build-time only); the stripped release `megamon` binary
//! 24.10 MB -> 25.13 MB (131.3 MB -> 137.4 MB with its line tables).
//!
//! Upstream's JSON forms of the special types are kept: `Time`/`MicroTime` as RFC 3339
//! (zero time as null), `Duration` as Go prints it, `IntOrString` as a number or a
//! string, `Quantity` as its string, `RawExtension`/`FieldsV1` as the JSON they carry.

use std::sync::OnceLock;

use base64::Engine;
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, ReflectMessage, Value as PbValue};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The compiled `proto/` files.
static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kubernetes.fds"));

/// Why the descriptors cannot be used (a build problem, reported per request).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the built-in protobuf descriptors do not load: {0}")]
pub struct DescriptorError(String);

fn pool() -> Result<&'static DescriptorPool, ApiError> {
    static POOL: OnceLock<Result<DescriptorPool, DescriptorError>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(DESCRIPTORS).map_err(|e| DescriptorError(e.to_string()))
    })
    .as_ref()
    .map_err(|e| ApiError::internal(e.to_string()))
}

fn malformed(why: &str) -> ApiError {
    ApiError::bad_request(format!("the protobuf request body is malformed: {why}"))
}

fn unsupported() -> ApiError {
    ApiError::unsupported_media_type(
        "application/vnd.kubernetes.protobuf",
        &["application/json", "application/yaml"],
    )
}

/// The message type of a kind: `apps/v1` `Deployment` is `api.apps.v1.Deployment`
/// (the vendored files drop upstream's `k8s.io.` package prefix).
fn message_name(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let package = match group.split('.').next() {
        Some("") | None => "core",
        Some(first) => first,
    };
    format!("api.{package}.{version}.{kind}")
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into its JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| malformed("missing the k8s protobuf magic prefix"))?;
    let pool = pool()?;
    let unknown = pool
        .get_message_by_name("apimachinery.pkg.runtime.Unknown")
        .ok_or_else(|| ApiError::internal("runtime.Unknown is not in the descriptors"))?;
    let unknown =
        DynamicMessage::decode(unknown, envelope).map_err(|e| malformed(&e.to_string()))?;
    let text = |msg: &DynamicMessage, field: &str| -> String {
        msg.get_field_by_name(field)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let type_meta = unknown
        .get_field_by_name("typeMeta")
        .and_then(|v| v.as_message().cloned());
    let (api_version, kind) = type_meta
        .map(|t| (text(&t, "apiVersion"), text(&t, "kind")))
        .unwrap_or_default();
    let raw = unknown
        .get_field_by_name("raw")
        .and_then(|v| v.as_bytes().cloned())
        .unwrap_or_default();
    let descriptor = pool
        .get_message_by_name(&message_name(&api_version, &kind))
        .ok_or_else(unsupported)?;
    let message = DynamicMessage::decode(descriptor, raw).map_err(|e| malformed(&e.to_string()))?;
    let mut object = match message_json(&message)? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    Ok(Value::Object(object))
}

/// Go's `time.Time{}` as protobuf: `-62135596800` seconds (year 1).
const GO_ZERO_TIME: i64 = -62_135_596_800;

fn int_field(msg: &DynamicMessage, name: &str) -> i64 {
    match msg.get_field_by_name(name).as_deref() {
        Some(PbValue::I64(v)) => *v,
        Some(PbValue::I32(v)) => i64::from(*v),
        _ => 0,
    }
}

fn bytes_field(msg: &DynamicMessage, name: &str) -> Vec<u8> {
    msg.get_field_by_name(name)
        .and_then(|v| v.as_bytes().map(|b| b.to_vec()))
        .unwrap_or_default()
}

/// One message as upstream's JSON writes it.
fn message_json(msg: &DynamicMessage) -> Result<Value, ApiError> {
    let full_name = msg.descriptor().full_name().to_string();
    match full_name.as_str() {
        "apimachinery.pkg.apis.meta.v1.Time" | "apimachinery.pkg.apis.meta.v1.MicroTime" => {
            let (seconds, nanos) = (int_field(msg, "seconds"), int_field(msg, "nanos"));
            if seconds == GO_ZERO_TIME && nanos == 0 {
                return Ok(Value::Null);
            }
            let nanos = i32::try_from(nanos).map_err(|_| malformed("time nanos out of range"))?;
            let ts = jiff::Timestamp::new(seconds, nanos).map_err(|e| malformed(&e.to_string()))?;
            let format = if full_name.ends_with("MicroTime") {
                "%Y-%m-%dT%H:%M:%S%.6fZ"
            } else {
                "%Y-%m-%dT%H:%M:%SZ"
            };
            Ok(Value::String(ts.strftime(format).to_string()))
        }
        "apimachinery.pkg.apis.meta.v1.Duration" => {
            Ok(Value::String(go_duration(int_field(msg, "duration"))))
        }
        "apimachinery.pkg.util.intstr.IntOrString" => Ok(if int_field(msg, "type") == 1 {
            msg.get_field_by_name("strVal")
                .and_then(|v| v.as_str().map(|s| Value::String(s.to_string())))
                .unwrap_or_else(|| Value::String(String::new()))
        } else {
            Value::from(int_field(msg, "intVal"))
        }),
        "apimachinery.pkg.api.resource.Quantity" => Ok(msg
            .get_field_by_name("string")
            .and_then(|v| v.as_str().map(|s| Value::String(s.to_string())))
            .unwrap_or(Value::Null)),
        "apimachinery.pkg.runtime.RawExtension" | "apimachinery.pkg.apis.meta.v1.FieldsV1" => {
            let raw = bytes_field(msg, "raw");
            if raw.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_slice(&raw).map_err(|e| malformed(&format!("embedded JSON: {e}")))
        }
        _ => {
            let mut out = Map::new();
            for (field, value) in msg.fields() {
                out.insert(field.name().to_string(), value_json(value)?);
            }
            Ok(Value::Object(out))
        }
    }
}

fn value_json(value: &PbValue) -> Result<Value, ApiError> {
    Ok(match value {
        PbValue::Bool(b) => Value::Bool(*b),
        PbValue::I32(v) => Value::from(*v),
        PbValue::I64(v) => Value::from(*v),
        PbValue::U32(v) => Value::from(*v),
        PbValue::U64(v) => Value::from(*v),
        PbValue::F32(v) => serde_json::Number::from_f64(f64::from(*v))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        PbValue::F64(v) => serde_json::Number::from_f64(*v)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        PbValue::String(s) => Value::String(s.clone()),
        // []byte fields are base64 in JSON (Secret data, ConfigMap binaryData).
        PbValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        PbValue::EnumNumber(n) => Value::from(*n),
        PbValue::Message(m) => message_json(m)?,
        PbValue::List(items) => {
            Value::Array(items.iter().map(value_json).collect::<Result<_, _>>()?)
        }
        PbValue::Map(entries) => {
            let mut out = Map::new();
            for (key, value) in entries {
                let key = match key {
                    MapKey::String(s) => s.clone(),
                    MapKey::Bool(b) => b.to_string(),
                    MapKey::I32(v) => v.to_string(),
                    MapKey::I64(v) => v.to_string(),
                    MapKey::U32(v) => v.to_string(),
                    MapKey::U64(v) => v.to_string(),
                };
                out.insert(key, value_json(value)?);
            }
            Value::Object(out)
        }
    })
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `500ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", trim_fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", trim_fraction(n, 1_000_000));
    }
    let (hours, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (minutes, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let seconds = trim_fraction(rest, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

fn trim_fraction(value: u64, unit: u64) -> String {
    let (whole, fraction) = (value / unit, value % unit);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = unit.ilog10() as usize;
    let fraction = format!("{fraction:0digits$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    fn envelope(api_version: &[u8], kind: &[u8], raw: &[u8]) -> Vec<u8> {
        let type_meta = [field(1, api_version), field(2, kind)].concat();
        [b"k8s\0".to_vec(), field(1, &type_meta), field(2, raw)].concat()
    }

    #[test]
    fn decodes_a_configmap_like_kubectl_create_sends() {
        let meta = [field(1, b"settings"), field(3, b"default")].concat();
        let entry = [field(1, b"mode"), field(2, b"fast")].concat();
        let raw = [field(1, &meta), field(2, &entry)].concat();
        let value = decode(&envelope(b"v1", b"ConfigMap", &raw)).expect("decodes");
        assert_eq!(
            value,
            serde_json::json!({"metadata": {"name": "settings", "namespace": "default"},
                "data": {"mode": "fast"}, "apiVersion": "v1", "kind": "ConfigMap"})
        );
        assert_eq!(decode(b"k8s\0\x0a\xff").expect_err("truncated").code, 400);
        assert_eq!(decode(b"{}").expect_err("no magic").code, 400);
        assert_eq!(
            decode(&envelope(b"example.com/v1", b"Widget", b""))
                .expect_err("no protobuf for custom resources")
                .code,
            415
        );
    }

    #[test]
    fn special_types_take_their_json_forms() {
        // A CronJob with a schedule, a container port as IntOrString and a quantity.
        let quantity = field(1, b"500m");
        let limits = [field(1, b"cpu"), field(2, &quantity)].concat();
        let resources = field(1, &limits);
        let container = [field(1, b"c"), field(2, b"busybox"), field(8, &resources)].concat();
        let pod_spec = field(2, &container);
        let template = field(2, &pod_spec);
        let job_spec = field(6, &template);
        let job_template = field(2, &job_spec);
        let spec = [field(1, b"*/5 * * * *"), field(5, &job_template)].concat();
        let raw = [field(1, &field(1, b"tick")), field(2, &spec)].concat();
        let value = decode(&envelope(b"batch/v1", b"CronJob", &raw)).expect("decodes");
        assert_eq!(value["spec"]["schedule"], "*/5 * * * *");
        let container = &value["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "busybox");
        assert_eq!(container["resources"]["limits"]["cpu"], "500m");
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(2_000_000), "2ms");
    }
}
