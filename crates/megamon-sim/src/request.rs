//! Reading API requests: the resource a path names, query parameters, bodies, and the
//! representation the client accepts.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::error::ApiError;
use crate::resources::{Registry, ResourceDef};

/// The object or collection a resource path names.
#[derive(Debug, Clone)]
pub struct Target {
    pub def: Arc<ResourceDef>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Resolves `/api/v1/...` and `/apis/G/V/...` resource paths. `Ok(None)` when the path
/// is not a resource path at all.
pub fn resolve(registry: &Registry, path: &str) -> Result<Option<Target>, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return Ok(None),
    };
    if rest.iter().any(|s| s.is_empty()) {
        return Err(ApiError::no_route());
    }
    // `namespaces/NS/...` scopes to a namespace, except a namespace's own subresources.
    let (namespace, rest) = match rest {
        ["namespaces", ns, sub] if matches!(*sub, "status" | "finalize") => {
            (None, &["namespaces", *ns, *sub][..])
        }
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(ns.to_string()), tail),
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(ApiError::no_route()),
    };
    let def = registry
        .get(group, version, plural)
        .ok_or_else(ApiError::no_route)?;
    if namespace.is_some() && !def.namespaced {
        return Err(ApiError::no_route());
    }
    if def.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::no_route());
    }
    if let Some(sub) = &subresource {
        let ok = (sub == "status" && def.status_subresource)
            || (def.plural == "namespaces" && sub == "finalize");
        if !ok {
            return Err(ApiError::no_route());
        }
    }
    Ok(Some(Target {
        def,
        namespace,
        name,
        subresource,
    }))
}

/// Query parameters, every value of a repeated one kept in order (readers take the
/// first, as upstream's conversions do; see `options`).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, Vec<String>>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(raw) = raw {
            for pair in raw.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                map.entry(decode(k)).or_default().push(decode(v));
            }
        }
        Query(map)
    }

    /// This query with `key` set to `value` alone.
    pub fn with(&self, key: &str, value: String) -> Query {
        let mut map = self.0.clone();
        map.insert(key.to_string(), vec![value]);
        Query(map)
    }

    /// The first value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    /// Every value, in order.
    pub fn values(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    /// A non-empty first value.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }
}

/// Percent-decoding for query strings (`+` is a space).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The representation a GET answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Object,
    Table,
    PartialMetadata,
}

/// Reads `Accept`. JSON is always acceptable when the client lists it or `*/*`.
pub fn representation(accept: Option<&str>) -> Result<Representation, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Representation::Object);
    };
    let mut plain_json = false;
    for part in accept.split(',') {
        let part = part.trim();
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or_default();
        let params: Vec<&str> = params.collect();
        if media != "application/json" && media != "*/*" && media != "application/*" {
            continue;
        }
        let as_kind = params.iter().find_map(|p| p.strip_prefix("as="));
        match as_kind {
            Some("Table") => return Ok(Representation::Table),
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") => {
                return Ok(Representation::PartialMetadata);
            }
            Some(_) => {}
            None => plain_json = true,
        }
    }
    if plain_json {
        Ok(Representation::Object)
    } else {
        Err(ApiError::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json, application/yaml (asked for {accept:?})"
            ),
        ))
    }
}

/// Parses a request body: JSON, or YAML when the content type says so.
pub fn parse_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media == "application/vnd.kubernetes.protobuf" {
        return crate::protobuf::decode(body);
    }
    if media.contains("protobuf") || media.contains("cbor") {
        return Err(ApiError::unsupported_media_type(
            &media,
            &["application/json", "application/yaml"],
        ));
    }
    let parsed = if media.contains("yaml") {
        let text = std::str::from_utf8(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not UTF-8: {e}")))?;
        match serde_json::from_str::<Value>(text) {
            Ok(v) => v,
            Err(_) => serde_saphyr::from_str::<Value>(text).map_err(|e| {
                ApiError::bad_request(format!("the request body is not valid YAML: {e}"))
            })?,
        }
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?
    };
    Ok(parsed)
}

/// Checks that `obj` is an object of the kind the path serves.
pub fn check_kind(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let Some(map) = obj.as_object() else {
        return Err(ApiError::bad_request(format!(
            "the request body must be a JSON object, not {}",
            kind_of_json(obj)
        )));
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            truncate(&obj.to_string(), 200)
        )));
    }
    if api_version != def.api_version() || kind != def.kind {
        let group_of = |av: &str| av.rsplit_once('/').map_or("", |(g, _)| g).to_string();
        if kind != def.kind || group_of(api_version) != def.group {
            return Err(ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): {api_version}, Kind={kind}",
                def.kind
            )));
        }
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            def.api_version()
        )));
    }
    Ok(())
}

fn kind_of_json(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_resources() {
        let registry = Registry::with_builtins();
        let t = resolve(&registry, "/api/v1/namespaces/default/pods/p1/status")
            .expect("ok")
            .expect("resource path");
        assert_eq!(t.def.plural, "pods");
        assert_eq!(t.namespace.as_deref(), Some("default"));
        assert_eq!(t.name.as_deref(), Some("p1"));
        assert_eq!(t.subresource.as_deref(), Some("status"));
        let t = resolve(&registry, "/api/v1/namespaces/kube-system")
            .expect("ok")
            .expect("resource path");
        assert_eq!(t.def.plural, "namespaces");
        assert_eq!(t.name.as_deref(), Some("kube-system"));
        let t = resolve(&registry, "/apis/batch/v1/jobs")
            .expect("ok")
            .expect("path");
        assert!(t.namespace.is_none() && t.name.is_none());
        assert_eq!(
            resolve(&registry, "/api/v1/foos")
                .expect_err("unknown")
                .code,
            404
        );
        assert_eq!(
            resolve(&registry, "/api/v1/namespaces/x/nodes/n")
                .expect_err("scope")
                .code,
            404
        );
        assert!(resolve(&registry, "/api/v1").expect("ok").is_none());
    }

    #[test]
    fn query_strings_decode() {
        let q = Query::parse(Some("labelSelector=a%3Db%2Cc+in+(x)&watch=1&limit=5"));
        assert_eq!(q.get("labelSelector"), Some("a=b,c in (x)"));
        assert!(q.flag("watch"));
        assert_eq!(q.int64("limit").expect("number"), Some(5));
        let q = Query::parse(Some("dryRun=All&dryRun=x"));
        assert_eq!(q.get("dryRun"), Some("All"));
        assert_eq!(q.values("dryRun"), ["All", "x"]);
    }

    #[test]
    fn accept_headers_choose_a_representation() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            representation(Some(kubectl)).expect("ok"),
            Representation::Table
        );
        assert_eq!(
            representation(Some("application/json")).expect("ok"),
            Representation::Object
        );
        assert_eq!(
            representation(Some("application/vnd.kubernetes.protobuf"))
                .expect_err("protobuf only")
                .code,
            406
        );
    }
}
