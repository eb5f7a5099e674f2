//! The REST verbs on stored resources: get, list, create, update, patch, delete,
//! deletecollection (watch is in `watch`).

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::objects::{
    meta_str, metadata_mut, name_problem, new_uid, now_timestamp, random_suffix, spec_changed,
};
use crate::options::{DeleteOptions, ListOptions, WriteOptions, WriteVerb};
use crate::patch::{self, BuiltinSchema};
use crate::request::{Query, Representation, Target, check_kind, parse_body};
use crate::resources::{ResourceDef, Special, crd_resources};
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::Sim;
use crate::store::{ListQuery, ObjKey, Stored, Write};
use crate::table::{self, IncludeObject};

/// A response body with its status code, always JSON.
pub struct Reply {
    pub code: u16,
    pub body: Bytes,
}

impl Reply {
    pub fn json(code: u16, value: &Value) -> Reply {
        Reply {
            code,
            body: Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    pub fn error(err: &ApiError) -> Reply {
        Reply::json(err.code, &err.to_status())
    }
}

/// Label and field selectors of a list or watch.
pub struct Filter {
    label: LabelSelector,
    field: FieldSelector,
}

impl Filter {
    pub fn new(def: &ResourceDef, options: &ListOptions) -> Result<Filter, ApiError> {
        let label = LabelSelector::parse(&options.label_selector)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let field = FieldSelector::parse(&options.field_selector)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if let Some(bad) = field.fields().find(|f| !def.field_selectable(f)) {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {bad}"
            )));
        }
        Ok(Filter { label, field })
    }

    pub fn is_empty(&self) -> bool {
        self.label.is_empty() && self.field.is_empty()
    }

    pub fn matches(&self, stored: &Stored) -> bool {
        self.label.matches(stored.labels.as_deref())
            && self.field.matches(|f| stored.fields.get(f).cloned())
    }
}

/// The object as served at `def`'s version: custom resources stored at another version
/// get their `apiVersion` rewritten (conversion strategy `None`, as for our CRDs).
pub fn rendered(def: &ResourceDef, stored: &Stored) -> Result<Bytes, ApiError> {
    if def.builtin {
        return Ok(stored.json.clone());
    }
    let expected = format!("\"apiVersion\":\"{}\"", def.api_version());
    if stored
        .json
        .windows(expected.len())
        .any(|w| w == expected.as_bytes())
    {
        return Ok(stored.json.clone());
    }
    let mut value = stored.value()?;
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(def.api_version()));
    }
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|e| ApiError::internal(format!("cannot serialize object: {e}")))
}

fn rendered_value(def: &ResourceDef, stored: &Stored) -> Result<Value, ApiError> {
    let mut value = stored.value()?;
    if !def.builtin
        && let Some(map) = value.as_object_mut()
    {
        map.insert("apiVersion".into(), Value::String(def.api_version()));
    }
    Ok(value)
}

/// One object in the representation asked for.
fn object_reply(
    code: u16,
    def: &ResourceDef,
    stored: &Stored,
    repr: Representation,
    query: &Query,
) -> Result<Reply, ApiError> {
    match repr {
        Representation::Object => Ok(Reply {
            code,
            body: rendered(def, stored)?,
        }),
        Representation::PartialMetadata => Ok(Reply::json(
            code,
            &table::partial_metadata(&rendered_value(def, stored)?),
        )),
        Representation::Table => {
            let value = rendered_value(def, stored)?;
            let include = IncludeObject::parse(query.get("includeObject"));
            let row = table::row(def, &value, include);
            Ok(Reply::json(
                code,
                &table::table(
                    def,
                    vec![row],
                    json!({"resourceVersion": stored.rv.to_string()}),
                    true,
                ),
            ))
        }
    }
}

fn key_of(target: &Target) -> Result<ObjKey, ApiError> {
    let name = target
        .name
        .clone()
        .ok_or_else(ApiError::method_not_allowed)?;
    Ok((target.namespace.clone().unwrap_or_default(), name))
}

pub fn get(
    sim: &Sim,
    target: &Target,
    query: &Query,
    repr: Representation,
) -> Result<Reply, ApiError> {
    let def = &target.def;
    let key = key_of(target)?;
    let stored = sim
        .store
        .get(&def.storage_key(), &key)
        .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, &key.1))?;
    object_reply(200, def, &stored, repr, query)
}

// ---------------------------------------------------------------------------
// Lists and continue tokens.
// ---------------------------------------------------------------------------

fn encode_continue(rv: u64, after: &ObjKey) -> String {
    let token =
        json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{}/{}\u{0}", after.0, after.1)});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(u64, ObjKey), ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad("not base64"))?;
    let value: Value = serde_json::from_slice(&raw).map_err(|_| bad("not JSON"))?;
    if value.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    let rv = value
        .get("rv")
        .and_then(Value::as_u64)
        .filter(|rv| *rv > 0)
        .ok_or_else(|| bad("incorrect encoded start resourceVersion"))?;
    let start = value
        .get("start")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_suffix('\u{0}'))
        .and_then(|s| s.split_once('/'))
        .ok_or_else(|| bad("incorrect start key"))?;
    Ok((rv, (start.0.to_string(), start.1.to_string())))
}

/// A parsed `resourceVersion` parameter; `None` for unset or empty.
pub fn parse_rv(resource_version: &str) -> Result<Option<u64>, ApiError> {
    match Some(resource_version).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v:?}"))),
    }
}

pub fn list(
    sim: &Sim,
    target: &Target,
    options: &ListOptions,
    query: &Query,
    repr: Representation,
) -> Result<Reply, ApiError> {
    let def = &target.def;
    let filter = Filter::new(def, options)?;
    let limit = options.page_size();
    let rv = parse_rv(&options.resource_version)?;
    // ValidateListOptions has already refused what upstream refuses.
    let rv_match = Some(options.resource_version_match.as_str()).filter(|m| !m.is_empty());
    let (at, after) = match Some(options.continue_token.as_str()).filter(|c| !c.is_empty()) {
        Some(token) => {
            if rv.is_some_and(|rv| rv != 0) {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            let (rv, after) = decode_continue(token)?;
            (Some(rv), Some(after))
        }
        None => {
            let at = match (rv_match, rv) {
                (Some("Exact"), Some(rv)) => Some(rv),
                // Legacy: a non-zero version with a limit reads exactly at that version.
                (None, Some(rv)) if rv > 0 && limit.is_some() => Some(rv),
                _ => None,
            };
            (at, None)
        }
    };
    let matches = |s: &Stored| filter.matches(s);
    let page = sim
        .store
        .list(&ListQuery {
            resource: &def.storage_key(),
            namespace: target.namespace.as_deref(),
            at,
            after: after.as_ref(),
            limit,
            filter: &matches,
            unfiltered: filter.is_empty(),
        })
        .map_err(|e| {
            if after.is_some() && e.code == 410 {
                ApiError::gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
            } else {
                e
            }
        })?;
    let mut list_meta = Map::new();
    list_meta.insert("resourceVersion".into(), page.rv.to_string().into());
    if let Some(next) = &page.next {
        list_meta.insert("continue".into(), encode_continue(page.rv, next).into());
        if let Some(remaining) = page.remaining {
            list_meta.insert("remainingItemCount".into(), remaining.into());
        }
    }
    match repr {
        Representation::Object => {
            let mut body = Vec::with_capacity(
                128 + page.items.iter().map(|s| s.json.len() + 1).sum::<usize>(),
            );
            body.extend_from_slice(b"{\"kind\":");
            body.extend_from_slice(Value::String(def.list_kind.clone()).to_string().as_bytes());
            body.extend_from_slice(b",\"apiVersion\":");
            body.extend_from_slice(Value::String(def.api_version()).to_string().as_bytes());
            body.extend_from_slice(b",\"metadata\":");
            body.extend_from_slice(Value::Object(list_meta).to_string().as_bytes());
            body.extend_from_slice(b",\"items\":[");
            for (i, item) in page.items.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&rendered(def, item)?);
            }
            body.extend_from_slice(b"]}");
            Ok(Reply {
                code: 200,
                body: Bytes::from(body),
            })
        }
        Representation::PartialMetadata => {
            let items = page
                .items
                .iter()
                .map(|s| rendered_value(def, s).map(|v| table::partial_metadata(&v)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Reply::json(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                        "metadata": list_meta, "items": items}),
            ))
        }
        Representation::Table => {
            let include = IncludeObject::parse(query.get("includeObject"));
            let rows = page
                .items
                .iter()
                .map(|s| rendered_value(def, s).map(|v| table::row(def, &v, include)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Reply::json(
                200,
                &table::table(def, rows, Value::Object(list_meta), true),
            ))
        }
    }
}

// ---------------------------------------------------------------------------
// Create.
// ---------------------------------------------------------------------------

/// Refuses objects in a namespace that does not exist (`default` always does).
fn ensure_namespace(sim: &Sim, def: &ResourceDef, namespace: &str) -> Result<(), ApiError> {
    if !def.namespaced || namespace == "default" {
        return Ok(());
    }
    let key = (String::new(), namespace.to_string());
    if sim.store.get("/namespaces", &key).is_none() {
        return Err(ApiError::not_found("", "namespaces", namespace));
    }
    Ok(())
}

/// The namespace an object to create goes to, checked against the path's.
fn namespace_for(
    def: &ResourceDef,
    path_ns: Option<&str>,
    obj: &Value,
) -> Result<String, ApiError> {
    if !def.namespaced {
        return Ok(String::new());
    }
    let body_ns = meta_str(obj, "namespace").filter(|s| !s.is_empty());
    match (path_ns, body_ns) {
        (Some(p), Some(b)) if p != b => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        (Some(p), _) => Ok(p.to_string()),
        (None, Some(b)) => Ok(b.to_string()),
        (None, None) => Ok("default".to_string()),
    }
}

/// Fills in what the server owns on a new object (all but its resourceVersion).
fn prepare_new(def: &ResourceDef, namespace: &str, mut obj: Value) -> Result<Value, ApiError> {
    let name = meta_str(&obj, "name").unwrap_or_default().to_string();
    if let Some(problem) = name_problem(&name, def.special == Special::Namespace) {
        return Err(ApiError::invalid(
            &def.group,
            &def.kind,
            &name,
            "metadata.name",
            &problem,
        ));
    }
    if def.status_subresource
        && !def.keep_status_on_create
        && let Some(map) = obj.as_object_mut()
    {
        map.shift_remove("status");
    }
    let meta = metadata_mut(&mut obj);
    if def.namespaced {
        meta.insert("namespace".into(), namespace.into());
    } else {
        meta.shift_remove("namespace");
    }
    meta.insert("uid".into(), new_uid().into());
    meta.insert("creationTimestamp".into(), now_timestamp().into());
    meta.insert("generation".into(), 1.into());
    for server_owned in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.shift_remove(server_owned);
    }
    match (def.special, def.plural.as_str()) {
        (Special::Namespace, _) => {
            // What kube-apiserver's namespace admission and strategy add.
            set_path(
                &mut obj,
                &["metadata", "labels", "kubernetes.io/metadata.name"],
                name.clone().into(),
            );
            if obj.pointer("/spec/finalizers").is_none() {
                set_path(&mut obj, &["spec", "finalizers"], json!(["kubernetes"]));
            }
            set_path(&mut obj, &["status", "phase"], "Active".into());
        }
        (Special::Crd, _) => {
            crd_status(def, &mut obj)?;
        }
        // Defaulting, as the API server does for Secrets.
        (_, "secrets")
            if def.builtin
                && obj
                    .get("type")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty) =>
        {
            set_path(&mut obj, &["type"], "Opaque".into());
        }
        (_, "pods") if def.builtin && obj.pointer("/status/phase").is_none() => {
            set_path(&mut obj, &["status", "phase"], "Pending".into());
        }
        _ => {}
    }
    Ok(obj)
}

fn set_path(obj: &mut Value, path: &[&str], value: Value) {
    let mut at = obj;
    for (i, key) in path.iter().enumerate() {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(map) = at else { return };
        if i + 1 == path.len() {
            map.insert(key.to_string(), value);
            return;
        }
        at = map
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Validates a CRD and sets the status a real server reports once it is established.
fn crd_status(def: &ResourceDef, crd: &mut Value) -> Result<(), ApiError> {
    let name = meta_str(crd, "name").unwrap_or_default().to_string();
    crd_resources(crd)
        .map_err(|e| ApiError::invalid(&def.group, &def.kind, &name, &e.field, &e.problem))?;
    let now = now_timestamp();
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let names = crd.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    set_path(
        crd,
        &["status"],
        json!({
            "acceptedNames": names,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now,
                 "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": now,
                 "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
            ],
            "storedVersions": stored,
        }),
    );
    Ok(())
}

fn stamp(value: &mut Value, rv: u64) {
    metadata_mut(value).insert("resourceVersion".into(), rv.to_string().into());
}

/// After a CRD write, serve (or stop serving) what it defines.
fn sync_crd(sim: &Sim, def: &ResourceDef, stored: Option<&Stored>) {
    if def.special != Special::Crd {
        return;
    }
    let Some(stored) = stored else { return };
    let Ok(value) = stored.value() else { return };
    let name = meta_str(&value, "name").unwrap_or_default().to_string();
    if let Ok(defs) = crd_resources(&value) {
        sim.registry.set_crd(&name, defs);
    }
}

/// Creates `obj` as a `def`; `path_ns` is the namespace of the request path.
pub fn create(
    sim: &Sim,
    def: &Arc<ResourceDef>,
    path_ns: Option<&str>,
    mut obj: Value,
    dry_run: bool,
) -> Result<Stored, ApiError> {
    check_kind(def, &obj)?;
    let namespace = namespace_for(def, path_ns, &obj)?;
    ensure_namespace(sim, def, &namespace)?;
    let generate = meta_str(&obj, "generateName")
        .filter(|g| !g.is_empty())
        .map(str::to_string);
    let has_name = meta_str(&obj, "name").is_some_and(|n| !n.is_empty());
    let attempts = if has_name || generate.is_none() { 1 } else { 8 };
    let storage_key = def.storage_key();
    for attempt in 0..attempts {
        if !has_name && let Some(prefix) = &generate {
            metadata_mut(&mut obj)
                .insert("name".into(), format!("{prefix}{}", random_suffix()).into());
        }
        // Only generated names may need another attempt (and so the original).
        let candidate = if attempts > 1 {
            obj.clone()
        } else {
            std::mem::take(&mut obj)
        };
        let prepared = prepare_new(def, &namespace, candidate)?;
        let name = meta_str(&prepared, "name").unwrap_or_default().to_string();
        let key = (namespace.clone(), name.clone());
        let result = sim.store.write(&storage_key, &key, dry_run, |current, rv| {
            if current.is_some() {
                return Err(ApiError::already_exists(&def.group, &def.plural, &name));
            }
            let mut value = prepared;
            stamp(&mut value, rv);
            Ok(Write::Put(Stored::new(&value, rv, &def.selectable_fields)?))
        });
        match result {
            Ok(written) => {
                let stored = written
                    .object
                    .ok_or_else(|| ApiError::internal("create stored nothing"))?;
                if !dry_run {
                    sync_crd(sim, def, Some(&stored));
                }
                return Ok(stored);
            }
            Err(e) if e.code == 409 && attempt + 1 < attempts => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::internal("could not generate a unique name"))
}

// ---------------------------------------------------------------------------
// Update and patch.
// ---------------------------------------------------------------------------

/// Decides the stored result of replacing `old` by `new` (a main-resource write, or a
/// `/status` write when `status_only`): server-owned metadata is kept, `.status` or
/// everything else is taken from `old` as the subresource rules say, `generation` is
/// bumped on spec changes, and a write that changes nothing is a no-op.
fn commit_update(
    def: &ResourceDef,
    old: &Value,
    new: Value,
    status_only: bool,
    rv: u64,
) -> Result<Write, ApiError> {
    let name = meta_str(old, "name").unwrap_or_default().to_string();
    let old_rv = meta_str(old, "resourceVersion").unwrap_or_default();
    if let Some(given) = meta_str(&new, "resourceVersion").filter(|s| !s.is_empty())
        && given != old_rv
    {
        return Err(ApiError::conflict(&def.group, &def.plural, &name));
    }
    if !new.is_object() {
        return Err(ApiError::bad_request("the object must be a JSON object"));
    }
    let mut result = if status_only {
        let mut result = old.clone();
        if let (Some(map), Some(new_map)) = (result.as_object_mut(), new.as_object()) {
            match new_map.get("status") {
                Some(status) => {
                    map.insert("status".into(), status.clone());
                }
                None => {
                    map.shift_remove("status");
                }
            }
        }
        result
    } else {
        let mut result = new;
        if def.status_subresource
            && let Some(map) = result.as_object_mut()
        {
            match old.get("status") {
                Some(status) => {
                    map.insert("status".into(), status.clone());
                }
                None => {
                    map.shift_remove("status");
                }
            }
        }
        // Server-owned metadata survives whatever the client sent.
        let old_meta = old.get("metadata").and_then(Value::as_object);
        let meta = metadata_mut(&mut result);
        for owned in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.and_then(|m| m.get(owned)) {
                Some(v) => {
                    meta.insert(owned.into(), v.clone());
                }
                None => {
                    meta.shift_remove(owned);
                }
            }
        }
        if !meta.contains_key("managedFields")
            && let Some(mf) = old_meta.and_then(|m| m.get("managedFields"))
        {
            meta.insert("managedFields".into(), mf.clone());
        }
        result
    };
    if def.special == Special::Namespace {
        // Namespace admission keeps this label on every write.
        set_path(
            &mut result,
            &["metadata", "labels", "kubernetes.io/metadata.name"],
            name.clone().into(),
        );
    }
    if def.special == Special::Crd && !status_only {
        let crd_name = name.clone();
        crd_resources(&result).map_err(|e| {
            ApiError::invalid(&def.group, &def.kind, &crd_name, &e.field, &e.problem)
        })?;
    }
    if spec_changed(old, &result, def.status_subresource) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        metadata_mut(&mut result).insert("generation".into(), (generation + 1).into());
    }
    // With the old version stamped in, equality means the write changes nothing.
    stamp(&mut result, old_rv.parse().unwrap_or(0));
    if *old == result {
        return Ok(Write::Unchanged);
    }
    stamp(&mut result, rv);
    let finalizers_gone = result
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    let stored = Stored::new(&result, rv, &def.selectable_fields)?;
    if meta_str(&result, "deletionTimestamp").is_some() && finalizers_gone {
        return Ok(Write::Delete(stored));
    }
    Ok(Write::Put(stored))
}

/// What an update or patch did: the object now stored and whether it was created.
pub struct Updated {
    pub stored: Stored,
    pub created: bool,
}

pub fn update(sim: &Sim, target: &Target, obj: Value, dry_run: bool) -> Result<Updated, ApiError> {
    let def = &target.def;
    check_kind(def, &obj)?;
    let key = key_of(target)?;
    if let Some(name) = meta_str(&obj, "name")
        && name != key.1
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            key.1
        )));
    }
    if def.namespaced
        && let Some(ns) = meta_str(&obj, "namespace").filter(|n| !n.is_empty())
        && ns != key.0
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let status_only = target.subresource.as_deref() == Some("status");
    let written = sim
        .store
        .write(&def.storage_key(), &key, dry_run, |current, rv| {
            let current =
                current.ok_or_else(|| ApiError::not_found(&def.group, &def.plural, &key.1))?;
            commit_update(def, &current.value()?, obj, status_only, rv)
        })?;
    let stored = written
        .object
        .ok_or_else(|| ApiError::internal("update stored nothing"))?;
    if !dry_run {
        after_write(sim, def, &key, written.kind, &stored);
    }
    Ok(Updated {
        stored,
        created: false,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

const PATCH_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

fn patch_kind(def: &ResourceDef, content_type: &str) -> Result<PatchKind, ApiError> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let kind = match media.as_str() {
        "application/json-patch+json" => PatchKind::Json,
        "application/merge-patch+json" => PatchKind::Merge,
        "application/strategic-merge-patch+json" if def.builtin => PatchKind::Strategic,
        "application/apply-patch+yaml" => PatchKind::Apply,
        _ => {
            let accepted: Vec<&str> = PATCH_TYPES
                .iter()
                .copied()
                .filter(|t| def.builtin || !t.contains("strategic"))
                .collect();
            return Err(ApiError::unsupported_media_type(&media, &accepted));
        }
    };
    Ok(kind)
}

fn patch_error(e: patch::PatchError) -> ApiError {
    match e.http_status() {
        400 => ApiError::bad_request(e.to_string()),
        code => ApiError::new(code, "Invalid", e.to_string()),
    }
}

pub fn patch(
    sim: &Sim,
    target: &Target,
    query: &Query,
    content_type: &str,
    body: &[u8],
) -> Result<Updated, ApiError> {
    let def = &target.def;
    let kind = patch_kind(def, content_type)?;
    let options = WriteOptions::from_query(
        query,
        WriteVerb::Patch {
            apply: kind == PatchKind::Apply,
        },
    )?;
    let key = key_of(target)?;
    let dry_run = options.dry_run;
    let status_only = target.subresource.as_deref() == Some("status");
    let doc = match kind {
        PatchKind::Apply => parse_body("application/yaml", body)?,
        _ => parse_body("application/json", body)?,
    };
    if kind == PatchKind::Apply {
        check_kind(def, &doc)?;
        if let Some(name) = meta_str(&doc, "name")
            && name != key.1
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                key.1
            )));
        }
        ensure_namespace(sim, def, &key.0)?;
    }
    let manager = options.field_manager;
    let mut created = false;
    let written = sim
        .store
        .write(&def.storage_key(), &key, dry_run, |current, rv| {
            let Some(current) = current else {
                if kind != PatchKind::Apply || status_only {
                    return Err(ApiError::not_found(&def.group, &def.plural, &key.1));
                }
                let mut obj =
                    patch::apply_patch(None, &doc, &manager, def.builtin).map_err(patch_error)?;
                metadata_mut(&mut obj).insert("name".into(), key.1.clone().into());
                let mut value = prepare_new(def, &key.0, obj)?;
                stamp(&mut value, rv);
                created = true;
                return Ok(Write::Put(Stored::new(&value, rv, &def.selectable_fields)?));
            };
            let old = current.value()?;
            let mut patched = old.clone();
            match kind {
                PatchKind::Json => patch::json_patch(&mut patched, &doc).map_err(patch_error)?,
                PatchKind::Merge => patch::merge_patch(&mut patched, &doc),
                PatchKind::Strategic => {
                    patch::strategic_merge_patch(&mut patched, &doc, &BuiltinSchema)
                        .map_err(patch_error)?
                }
                PatchKind::Apply => {
                    patched = patch::apply_patch(Some(&old), &doc, &manager, def.builtin)
                        .map_err(patch_error)?
                }
            }
            commit_update(def, &old, patched, status_only, rv)
        })?;
    let stored = written
        .object
        .ok_or_else(|| ApiError::internal("patch stored nothing"))?;
    if !dry_run {
        after_write(sim, def, &key, written.kind, &stored);
    }
    Ok(Updated { stored, created })
}

// ---------------------------------------------------------------------------
// Delete.
// ---------------------------------------------------------------------------

/// What a delete did.
pub struct Deleted {
    /// The last state (or the state now waiting for finalizers).
    pub stored: Stored,
    /// Whether the object is gone (not waiting for finalizers).
    pub gone: bool,
}

fn delete_one(
    sim: &Sim,
    def: &ResourceDef,
    key: &ObjKey,
    preconditions: Option<&Value>,
    dry_run: bool,
    orphan: bool,
) -> Result<Deleted, ApiError> {
    if def.special == Special::Namespace && !dry_run {
        terminate_namespace(sim, def, key)?;
    }
    let written = sim
        .store
        .write(&def.storage_key(), key, dry_run, |current, rv| {
            let current =
                current.ok_or_else(|| ApiError::not_found(&def.group, &def.plural, &key.1))?;
            let mut value = current.value()?;
            if let Some(pre) = preconditions {
                let check = |field: &str| {
                    pre.get(field)
                        .and_then(Value::as_str)
                        .is_some_and(|want| meta_str(&value, field) != Some(want))
                };
                if check("uid") {
                    return Err(ApiError::conflict_because(
                        &def.group,
                        &def.plural,
                        &key.1,
                        "the UID in the precondition does not match the UID in record. The object might have been deleted and then recreated",
                    ));
                }
                if check("resourceVersion") {
                    return Err(ApiError::conflict_because(
                        &def.group,
                        &def.plural,
                        &key.1,
                        "the ResourceVersion in the precondition does not match the ResourceVersion in record. The object might have been modified",
                    ));
                }
            }
            let has_finalizers = value
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            if has_finalizers {
                if meta_str(&value, "deletionTimestamp").is_some() {
                    return Ok(Write::Unchanged);
                }
                let meta = metadata_mut(&mut value);
                meta.insert("deletionTimestamp".into(), now_timestamp().into());
                meta.insert("deletionGracePeriodSeconds".into(), 0.into());
                stamp(&mut value, rv);
                return Ok(Write::Put(Stored::new(&value, rv, &def.selectable_fields)?));
            }
            stamp(&mut value, rv);
            Ok(Write::Delete(Stored::new(&value, rv, &def.selectable_fields)?))
        })?;
    let gone = written.kind == Some(crate::store::EventKind::Deleted);
    let stored = written
        .object
        .ok_or_else(|| ApiError::internal("delete found nothing"))?;
    if gone && !dry_run {
        after_delete(sim, def, key);
        if !orphan && def.namespaced {
            collect_garbage(sim, &key.0, &stored);
        }
    }
    Ok(Deleted { stored, gone })
}

/// Deletes the dependents of a deleted namespaced object (those naming it in their
/// ownerReferences), as the garbage collector does for background propagation, but at
/// once. Dependents with finalizers wait for them like any deletion.
fn collect_garbage(sim: &Sim, namespace: &str, owner: &Stored) {
    let Ok(value) = owner.value() else { return };
    let Some(uid) = meta_str(&value, "uid") else {
        return;
    };
    for (resource, key) in sim.store.dependents_in_namespace(namespace, uid) {
        let Some((group, plural)) = resource.split_once('/') else {
            continue;
        };
        if let Some(def) = sim.registry.any_version_of(group, plural) {
            let _ = delete_one(sim, &def, &key, None, false, false);
        }
    }
}

/// Marks a namespace Terminating and deletes its contents, as the namespace controller
/// does before the namespace goes (here at once).
fn terminate_namespace(sim: &Sim, def: &ResourceDef, key: &ObjKey) -> Result<(), ApiError> {
    sim.store
        .write(&def.storage_key(), key, false, |current, rv| {
            let current =
                current.ok_or_else(|| ApiError::not_found(&def.group, &def.plural, &key.1))?;
            let mut value = current.value()?;
            if meta_str(&value, "deletionTimestamp").is_some() {
                return Ok(Write::Unchanged);
            }
            metadata_mut(&mut value).insert("deletionTimestamp".into(), now_timestamp().into());
            set_path(&mut value, &["status", "phase"], "Terminating".into());
            stamp(&mut value, rv);
            Ok(Write::Put(Stored::new(&value, rv, &def.selectable_fields)?))
        })?;
    for (resource, obj_key) in sim.store.keys_in_namespace(&key.1) {
        let Some((group, plural)) = resource.split_once('/') else {
            continue;
        };
        if let Some(def) = sim.registry.any_version_of(group, plural) {
            // Contents go whatever their finalizers say: nothing else would remove them.
            let _ = force_delete(sim, &def.storage_key(), &obj_key);
        }
    }
    Ok(())
}

/// Removes an object regardless of finalizers.
fn force_delete(sim: &Sim, storage_key: &str, key: &ObjKey) -> Result<(), ApiError> {
    sim.store.write(storage_key, key, false, |current, rv| {
        let Some(current) = current else {
            return Ok(Write::Unchanged);
        };
        let mut value = current.value()?;
        stamp(&mut value, rv);
        Ok(Write::Delete(Stored {
            json: Bytes::from(serde_json::to_vec(&value).unwrap_or_default()),
            rv,
            ..current.clone()
        }))
    })?;
    Ok(())
}

/// After an update or patch: a CRD change changes what is served; a write that
/// removed the last finalizer of a deleted object completes its deletion.
fn after_write(
    sim: &Sim,
    def: &ResourceDef,
    key: &ObjKey,
    kind: Option<crate::store::EventKind>,
    stored: &Stored,
) {
    if kind == Some(crate::store::EventKind::Deleted) {
        after_delete(sim, def, key);
        if def.namespaced {
            collect_garbage(sim, &key.0, stored);
        }
    } else {
        sync_crd(sim, def, Some(stored));
    }
}

/// Cascades: a CRD takes its custom resources along.
fn after_delete(sim: &Sim, def: &ResourceDef, key: &ObjKey) {
    if def.special != Special::Crd {
        return;
    }
    let Some((plural, group)) = key.1.split_once('.') else {
        return;
    };
    let storage_key = format!("{group}/{plural}");
    sim.registry.remove_crd(&key.1);
    for (obj_key, _) in sim.store.all(&storage_key) {
        let _ = force_delete(sim, &storage_key, &obj_key);
    }
}

pub fn delete(sim: &Sim, target: &Target, query: &Query, body: &[u8]) -> Result<Reply, ApiError> {
    let def = &target.def;
    let key = key_of(target)?;
    let options = DeleteOptions::read(query, body)?;
    let deleted = delete_one(
        sim,
        def,
        &key,
        options.preconditions.as_ref(),
        options.dry_run,
        options.orphan(),
    )?;
    Ok(Reply {
        code: 200,
        body: rendered(def, &deleted.stored)?,
    })
}

pub fn delete_collection(
    sim: &Sim,
    target: &Target,
    query: &Query,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let def = &target.def;
    let list_options = ListOptions::from_query(query)?;
    let options = DeleteOptions::read(query, body)?;
    let filter = Filter::new(def, &list_options)?;
    let matches = |s: &Stored| filter.matches(s);
    let page = sim.store.list(&ListQuery {
        resource: &def.storage_key(),
        namespace: target.namespace.as_deref(),
        at: None,
        after: None,
        limit: None,
        filter: &matches,
        unfiltered: filter.is_empty(),
    })?;
    let dry_run = options.dry_run;
    let mut items = Vec::new();
    for stored in page.items {
        let value = stored.value()?;
        let key = (
            meta_str(&value, "namespace")
                .unwrap_or_default()
                .to_string(),
            meta_str(&value, "name").unwrap_or_default().to_string(),
        );
        match delete_one(sim, def, &key, None, dry_run, options.orphan()) {
            Ok(deleted) => items.push(rendered_value(def, &deleted.stored)?),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Reply::json(
        200,
        &json!({"kind": def.list_kind, "apiVersion": def.api_version(),
                "metadata": {"resourceVersion": sim.store.current_rv().to_string()}, "items": items}),
    ))
}

/// Answers a stored-object write with the representation asked for.
pub fn written_reply(
    code: u16,
    def: &ResourceDef,
    stored: &Stored,
    repr: Representation,
    query: &Query,
) -> Result<Reply, ApiError> {
    object_reply(code, def, stored, repr, query)
}
