//! Decoding of the protobuf request bodies kubectl's typed clients send.
//!
//! `kubectl create namespace|configmap|secret|serviceaccount` and `kubectl auth can-i`
//! post `application/vnd.kubernetes.protobuf` bodies: the `k8s\0` magic, then a
//! `runtime.Unknown` envelope (type meta + raw message). We decode the raw message for
//! those few kinds with hand-written field tables (from `k8s.io/api` `generated.proto`)
//! into the JSON the rest of the server works with. Other kinds are refused with 415.

use base64::Engine;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// How to read one protobuf field as JSON.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
    /// `metav1.Time` (whole seconds) or `metav1.MicroTime` when `true`.
    Time(bool),
    Msg(&'static [F]),
    MapStr,
    MapBytes,
    RepStr,
    RepMsg(&'static [F]),
}

/// Field number, JSON name, type.
struct F(u64, &'static str, Ty);

const OWNER_REFERENCE: &[F] = &[
    F(1, "kind", Ty::Str),
    F(3, "name", Ty::Str),
    F(4, "uid", Ty::Str),
    F(5, "apiVersion", Ty::Str),
    F(6, "controller", Ty::Bool),
    F(7, "blockOwnerDeletion", Ty::Bool),
];

const OBJECT_META: &[F] = &[
    F(1, "name", Ty::Str),
    F(2, "generateName", Ty::Str),
    F(3, "namespace", Ty::Str),
    F(5, "uid", Ty::Str),
    F(6, "resourceVersion", Ty::Str),
    F(7, "generation", Ty::Int),
    F(11, "labels", Ty::MapStr),
    F(12, "annotations", Ty::MapStr),
    F(13, "ownerReferences", Ty::RepMsg(OWNER_REFERENCE)),
    F(14, "finalizers", Ty::RepStr),
];

const NAMESPACE: &[F] = &[
    F(1, "metadata", Ty::Msg(OBJECT_META)),
    F(2, "spec", Ty::Msg(&[F(1, "finalizers", Ty::RepStr)])),
];

const CONFIG_MAP: &[F] = &[
    F(1, "metadata", Ty::Msg(OBJECT_META)),
    F(2, "data", Ty::MapStr),
    F(3, "binaryData", Ty::MapBytes),
    F(4, "immutable", Ty::Bool),
];

const SECRET: &[F] = &[
    F(1, "metadata", Ty::Msg(OBJECT_META)),
    F(2, "data", Ty::MapBytes),
    F(3, "type", Ty::Str),
    F(4, "stringData", Ty::MapStr),
    F(5, "immutable", Ty::Bool),
];

const OBJECT_REFERENCE: &[F] = &[
    F(1, "kind", Ty::Str),
    F(2, "namespace", Ty::Str),
    F(3, "name", Ty::Str),
];

const SERVICE_ACCOUNT: &[F] = &[
    F(1, "metadata", Ty::Msg(OBJECT_META)),
    F(2, "secrets", Ty::RepMsg(OBJECT_REFERENCE)),
    F(3, "imagePullSecrets", Ty::RepMsg(&[F(1, "name", Ty::Str)])),
    F(4, "automountServiceAccountToken", Ty::Bool),
];

const RESOURCE_ATTRIBUTES: &[F] = &[
    F(1, "namespace", Ty::Str),
    F(2, "verb", Ty::Str),
    F(3, "group", Ty::Str),
    F(4, "version", Ty::Str),
    F(5, "resource", Ty::Str),
    F(6, "subresource", Ty::Str),
    F(7, "name", Ty::Str),
];

const NON_RESOURCE_ATTRIBUTES: &[F] = &[F(1, "path", Ty::Str), F(2, "verb", Ty::Str)];

const SELF_SUBJECT_ACCESS_REVIEW: &[F] = &[
    F(1, "metadata", Ty::Msg(OBJECT_META)),
    F(
        2,
        "spec",
        Ty::Msg(&[
            F(1, "resourceAttributes", Ty::Msg(RESOURCE_ATTRIBUTES)),
            F(2, "nonResourceAttributes", Ty::Msg(NON_RESOURCE_ATTRIBUTES)),
        ]),
    ),
];

const SUBJECT_ACCESS_REVIEW: &[F] = &[
    F(1, "metadata", Ty::Msg(OBJECT_META)),
    F(
        2,
        "spec",
        Ty::Msg(&[
            F(1, "resourceAttributes", Ty::Msg(RESOURCE_ATTRIBUTES)),
            F(2, "nonResourceAttributes", Ty::Msg(NON_RESOURCE_ATTRIBUTES)),
            F(3, "user", Ty::Str),
            F(4, "groups", Ty::RepStr),
            F(6, "uid", Ty::Str),
        ]),
    ),
];

const TOKEN_REVIEW: &[F] = &[
    F(1, "metadata", Ty::Msg(OBJECT_META)),
    F(
        2,
        "spec",
        Ty::Msg(&[F(1, "token", Ty::Str), F(2, "audiences", Ty::RepStr)]),
    ),
];

const LEASE: &[F] = &[
    F(1, "metadata", Ty::Msg(OBJECT_META)),
    F(
        2,
        "spec",
        Ty::Msg(&[
            F(1, "holderIdentity", Ty::Str),
            F(2, "leaseDurationSeconds", Ty::Int),
            F(3, "acquireTime", Ty::Time(true)),
            F(4, "renewTime", Ty::Time(true)),
            F(5, "leaseTransitions", Ty::Int),
        ]),
    ),
];

fn schema_for(kind: &str) -> Option<&'static [F]> {
    Some(match kind {
        "Namespace" => NAMESPACE,
        "ConfigMap" => CONFIG_MAP,
        "Secret" => SECRET,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "SelfSubjectAccessReview" => SELF_SUBJECT_ACCESS_REVIEW,
        "SubjectAccessReview" => SUBJECT_ACCESS_REVIEW,
        "TokenReview" => TOKEN_REVIEW,
        "Lease" => LEASE,
        _ => return None,
    })
}

fn malformed(why: &str) -> ApiError {
    ApiError::bad_request(format!("the protobuf request body is malformed: {why}"))
}

/// A cursor over protobuf wire data.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .data
                .get(self.pos)
                .ok_or_else(|| malformed("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ApiError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| malformed("truncated field"))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The next field: number, wire type, and its varint value or bytes.
    fn field(&mut self) -> Result<(u64, Wire<'a>), ApiError> {
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| malformed("length"))?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed
            }
            other => return Err(malformed(&format!("unsupported wire type {other}"))),
        };
        Ok((key >> 3, wire))
    }
}

enum Wire<'a> {
    Varint(u64),
    /// 32- and 64-bit fields: none of the decoded kinds use them; skipped.
    Fixed,
    Bytes(&'a [u8]),
}

fn text(bytes: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| malformed("a string is not UTF-8"))
}

fn time(bytes: &[u8], micro: bool) -> Result<Value, ApiError> {
    let mut r = Reader::new(bytes);
    let (mut seconds, mut nanos) = (0i64, 0i64);
    while !r.done() {
        match r.field()? {
            (1, Wire::Varint(v)) => seconds = v as i64,
            (2, Wire::Varint(v)) => nanos = v as i64,
            _ => {}
        }
    }
    let ts = jiff::Timestamp::new(seconds, nanos as i32).map_err(|e| malformed(&e.to_string()))?;
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(ts.strftime(format).to_string()))
}

fn map_entry(bytes: &[u8], value_as_bytes: bool) -> Result<(String, Value), ApiError> {
    let mut r = Reader::new(bytes);
    let (mut key, mut value) = (String::new(), Value::String(String::new()));
    while !r.done() {
        match r.field()? {
            (1, Wire::Bytes(b)) => key = text(b)?,
            (2, Wire::Bytes(b)) if value_as_bytes => {
                value = Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            (2, Wire::Bytes(b)) => value = Value::String(text(b)?),
            _ => {}
        }
    }
    Ok((key, value))
}

fn message(bytes: &[u8], schema: &[F]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let mut r = Reader::new(bytes);
    while !r.done() {
        let (number, wire) = r.field()?;
        let Some(F(_, name, ty)) = schema.iter().find(|f| f.0 == number) else {
            continue;
        };
        let name = name.to_string();
        match (ty, wire) {
            (Ty::Str, Wire::Bytes(b)) => {
                out.insert(name, Value::String(text(b)?));
            }
            (Ty::Int, Wire::Varint(v)) => {
                out.insert(name, Value::from(v as i64));
            }
            (Ty::Bool, Wire::Varint(v)) => {
                out.insert(name, Value::Bool(v != 0));
            }
            (Ty::Time(micro), Wire::Bytes(b)) => {
                out.insert(name, time(b, *micro)?);
            }
            (Ty::Msg(inner), Wire::Bytes(b)) => {
                out.insert(name, Value::Object(message(b, inner)?));
            }
            (Ty::MapStr | Ty::MapBytes, Wire::Bytes(b)) => {
                let (key, value) = map_entry(b, matches!(ty, Ty::MapBytes))?;
                if let Value::Object(map) =
                    out.entry(name).or_insert_with(|| Value::Object(Map::new()))
                {
                    map.insert(key, value);
                }
            }
            (Ty::RepStr, Wire::Bytes(b)) => {
                let item = Value::String(text(b)?);
                if let Value::Array(items) = out.entry(name).or_insert_with(|| Value::Array(vec![]))
                {
                    items.push(item);
                }
            }
            (Ty::RepMsg(inner), Wire::Bytes(b)) => {
                let item = Value::Object(message(b, inner)?);
                if let Value::Array(items) = out.entry(name).or_insert_with(|| Value::Array(vec![]))
                {
                    items.push(item);
                }
            }
            _ => {
                return Err(malformed(&format!(
                    "field {name} has an unexpected wire type"
                )));
            }
        }
    }
    Ok(out)
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into its JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| malformed("missing the k8s protobuf magic prefix"))?;
    let mut r = Reader::new(envelope);
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while !r.done() {
        match r.field()? {
            (1, Wire::Bytes(type_meta)) => {
                let mut t = Reader::new(type_meta);
                while !t.done() {
                    match t.field()? {
                        (1, Wire::Bytes(b)) => api_version = text(b)?,
                        (2, Wire::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let schema = schema_for(&kind).ok_or_else(|| {
        ApiError::unsupported_media_type(
            "application/vnd.kubernetes.protobuf",
            &["application/json", "application/yaml"],
        )
    })?;
    let mut object = message(raw, schema)?;
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_configmap_like_kubectl_create_sends() {
        let meta = [field(1, b"settings"), field(3, b"default")].concat();
        let entry = [field(1, b"mode"), field(2, b"fast")].concat();
        let raw = [field(1, &meta), field(2, &entry)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        let value = decode(&body).expect("decodes");
        assert_eq!(
            value,
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "default"}, "data": {"mode": "fast"}})
        );
        assert!(decode(b"k8s\0\x0a\xff").is_err());
        assert!(decode(b"{}").is_err());
    }
}
