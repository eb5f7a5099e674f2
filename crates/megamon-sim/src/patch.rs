//! The patch types kube-apiserver accepts, as pure functions over `serde_json::Value`:
//!
//! * [`merge_patch`]: `application/merge-patch+json` (RFC 7386);
//! * [`json_patch`]: `application/json-patch+json` (RFC 6902, via the `json-patch` crate);
//! * [`strategic_merge_patch`]: `application/strategic-merge-patch+json`, with a table of
//!   merge keys for built-in kinds ([`BuiltinSchema`]) standing in for the Go struct tags;
//! * [`apply_patch`]: `application/apply-patch+yaml` (server-side apply), tracking
//!   ownership in `metadata.managedFields`.
//!
//! The strategic merge follows `k8s.io/apimachinery/pkg/util/strategicpatch` as the API
//! server runs it (`MergeParallelList` and `IgnoreUnmatchedNulls` on), including its
//! ordering rules: items named in the patch keep the patch's order and are interleaved
//! with server-only items by their live order, which puts a brand-new list item *first*
//! (as the "Update API Objects in Place" docs show for an added container).
//!
//! Pure code: no I/O, no async (only [`apply_patch`] reads the clock).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// Why a patch could not be applied. `Display` is fit for the response body's `message`;
/// [`PatchError::http_status`] suggests the status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document itself is malformed (not an object, a JSON patch that isn't a
    /// list of operations, a bad `$retainKeys`/`$setElementOrder` directive...). 400.
    #[error("{0}")]
    Malformed(String),
    /// A well-formed RFC 6902 patch failed to apply (failed `test`, missing path...),
    /// with the `json-patch` crate's message. 422.
    #[error("{0}")]
    JsonPatchFailed(String),
    /// A strategic merge patch doesn't fit the object (missing merge key, unknown
    /// `$patch` value, list element types that can't be merged). 422.
    #[error("{0}")]
    Strategic(String),
}

impl PatchError {
    /// The HTTP status the API server would answer with: 400 for malformed documents,
    /// 422 for patches that don't apply.
    pub fn http_status(&self) -> u16 {
        match self {
            PatchError::Malformed(_) => 400,
            PatchError::JsonPatchFailed(_) | PatchError::Strategic(_) => 422,
        }
    }
}

// ---------------------------------------------------------------------------
// RFC 7386 merge patch and RFC 6902 JSON patch.
// ---------------------------------------------------------------------------

/// RFC 7386 JSON merge patch: `null` deletes, objects merge recursively, anything else
/// (arrays included) replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        unreachable!("target was just made an object")
    };
    for (k, v) in p {
        if v.is_null() {
            t.shift_remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// RFC 6902 JSON patch. Atomic: on error `target` is left unchanged.
///
/// A patch that isn't a list of valid operations is [`PatchError::Malformed`]; an
/// operation that fails (including `test`) is [`PatchError::JsonPatchFailed`].
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::Malformed(format!("invalid JSON patch: {e}")))?;
    json_patch::patch(target, &ops).map_err(|e| PatchError::JsonPatchFailed(e.to_string()))
}

// ---------------------------------------------------------------------------
// Strategic merge patch: schema.
// ---------------------------------------------------------------------------

/// How a list field is merged by a strategic merge patch (the Go struct tags'
/// `patchStrategy`/`patchMergeKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListStrategy {
    /// No patch strategy: the patch's list replaces the live one (e.g. `tolerations`, `args`).
    Atomic,
    /// `patchStrategy:"merge" patchMergeKey:"<key>"`: items are matched by this field.
    MergeByKey(&'static str),
    /// `patchStrategy:"merge"` on a list of primitives: set union (e.g. `finalizers`).
    MergePrimitives,
}

/// Where the merge strategies of list fields come from.
pub trait MergeSchema {
    /// The strategy of the list at `path`: the JSON field names from the object's root to
    /// the list field, with list positions left out. E.g. a Deployment's container env is
    /// `["spec", "template", "spec", "containers", "env"]`.
    fn list_strategy(&self, path: &[String]) -> ListStrategy;
}

/// Merge keys of the built-in kinds (core/v1, apps/v1, batch/v1 ...), keyed by the list's
/// field name and, where the name is ambiguous, its parent path. See the table in
/// [`BuiltinSchema::list_strategy`]; everything else is atomic.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinSchema;

/// Every list is atomic: strategic merge degenerates to a JSON merge patch that still
/// honours `$patch`/`$retainKeys` in maps. The right schema for custom resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct AtomicListsSchema;

impl MergeSchema for AtomicListsSchema {
    fn list_strategy(&self, _path: &[String]) -> ListStrategy {
        ListStrategy::Atomic
    }
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

impl MergeSchema for BuiltinSchema {
    fn list_strategy(&self, path: &[String]) -> ListStrategy {
        use ListStrategy::{Atomic, MergeByKey, MergePrimitives};
        let n = path.len();
        let Some(last) = path.last().map(String::as_str) else {
            return Atomic;
        };
        let parent = if n >= 2 { path[n - 2].as_str() } else { "" };
        let in_container = CONTAINER_LISTS.contains(&parent);
        let is = |p: &[&str]| path.iter().map(String::as_str).eq(p.iter().copied());
        match last {
            // PodSpec (also under spec.template.spec, spec.jobTemplate.spec.template.spec).
            "containers" | "initContainers" | "ephemeralContainers" => MergeByKey("name"),
            "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims"
                if parent == "spec" =>
            {
                MergeByKey("name")
            }
            "hostAliases" if parent == "spec" => MergeByKey("ip"),
            "topologySpreadConstraints" if parent == "spec" => MergeByKey("topologyKey"),
            // Container.
            "env" if in_container => MergeByKey("name"),
            "ports" if in_container => MergeByKey("containerPort"),
            "volumeMounts" if in_container => MergeByKey("mountPath"),
            "volumeDevices" if in_container => MergeByKey("devicePath"),
            // Service.
            "ports" if is(&["spec", "ports"]) => MergeByKey("port"),
            // ServiceAccount.
            "secrets" if is(&["secrets"]) => MergeByKey("name"),
            // Pod, Node, Deployment, Job, Namespace, ... status.
            "conditions" => MergeByKey("type"),
            "addresses" if is(&["status", "addresses"]) => MergeByKey("type"),
            "podIPs" | "hostIPs" if parent == "status" => MergeByKey("ip"),
            // ObjectMeta (also spec.template.metadata).
            "ownerReferences" if parent == "metadata" => MergeByKey("uid"),
            "finalizers" if parent == "metadata" => MergePrimitives,
            _ => Atomic,
        }
    }
}

// ---------------------------------------------------------------------------
// Strategic merge patch: algorithm.
// ---------------------------------------------------------------------------

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Applies a Kubernetes strategic merge patch to `target` (an object), using `schema` for
/// list merge keys ([`BuiltinSchema`] for built-in kinds). Atomic: on error `target` is
/// left unchanged.
///
/// Supported: `null` deletes a key; maps merge recursively; keyed lists merge by key;
/// primitive `merge` lists are a set union; other lists are replaced. Directives:
/// `$patch: replace|delete|merge` in maps and list items (`{"$patch":"replace"}` as a
/// list item replaces the whole list), `$retainKeys`, `$deleteFromPrimitiveList/<f>`,
/// `$setElementOrder/<f>`. The result never contains a `$`-prefixed key.
///
/// Deliberate differences from upstream: `$patch: merge` is accepted as a no-op (upstream
/// rejects it), and a `$setElementOrder` list that disagrees with the patch list's order is
/// not rejected (the order list wins).
pub fn strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    schema: &dyn MergeSchema,
) -> Result<(), PatchError> {
    let Value::Object(p) = patch else {
        return Err(PatchError::Malformed("invalid JSON document".to_string()));
    };
    let original = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut smp = Smp {
        schema,
        path: Vec::new(),
    };
    let merged = smp.merge_map(original, p.clone())?;
    *target = Value::Object(merged);
    Ok(())
}

struct Smp<'a> {
    schema: &'a dyn MergeSchema,
    /// Field names from the root to the map being merged.
    path: Vec<String>,
}

#[derive(PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Number,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    }
}

/// Equality as Go's `==` on decoded JSON: numbers compare by value.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn no_merge_key(item: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Strategic(format!(
        "map: {} does not contain declared merge key: {key}",
        compact(&Value::Object(item.clone()))
    ))
}

fn bad_patch_type(t: &Value, m: &Map<String, Value>) -> PatchError {
    let t = match t {
        Value::String(s) => s.clone(),
        other => compact(other),
    };
    PatchError::Strategic(format!(
        "unknown patch type: {t} in map: {}",
        compact(&Value::Object(m.clone()))
    ))
}

fn take_map(v: &mut Value) -> Map<String, Value> {
    match std::mem::take(v) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn take_vec(v: &mut Value) -> Vec<Value> {
    match std::mem::take(v) {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

impl Smp<'_> {
    fn strategy(&mut self, field: &str) -> ListStrategy {
        self.path.push(field.to_string());
        let s = self.schema.list_strategy(&self.path);
        self.path.pop();
        s
    }

    fn merge_map(
        &mut self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(d) = patch.shift_remove(DIRECTIVE) {
            match d.as_str() {
                // Process the replacement itself so its nested directives are honoured
                // and stripped.
                Some("replace") => return self.merge_map(Map::new(), patch),
                Some("delete") => return Ok(Map::new()),
                Some("merge") => {}
                _ => return Err(bad_patch_type(&d, &patch)),
            }
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_set_element_order(&mut original, &mut patch)?;

        for (k, pv) in patch {
            let (key, is_delete_list) = match k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                Some(rest) => (rest.to_string(), true),
                None => (k, false),
            };
            if key.starts_with('$') || (is_delete_list && key.is_empty()) {
                // Unknown directive: never let it into the object.
                continue;
            }
            if pv.is_null() {
                original.shift_remove(&key);
                continue;
            }
            let Some(ov) = original.get_mut(&key) else {
                if !is_delete_list {
                    let v = self.fresh(&key, pv)?;
                    original.insert(key, v);
                }
                continue;
            };
            if kind(ov) != kind(&pv) {
                if !is_delete_list {
                    *ov = self.fresh(&key, pv)?;
                }
                continue;
            }
            match pv {
                Value::Object(pm) => {
                    let om = take_map(ov);
                    self.path.push(key);
                    let r = self.merge_map(om, pm);
                    self.path.pop();
                    *ov = Value::Object(r?);
                }
                Value::Array(pa) => {
                    let strategy = self.strategy(&key);
                    let oa = take_vec(ov);
                    self.path.push(key);
                    let r = if is_delete_list || strategy != ListStrategy::Atomic {
                        self.merge_slice(oa, pa, &strategy, is_delete_list)
                    } else {
                        self.fresh_items(pa)
                    };
                    self.path.pop();
                    *ov = Value::Array(r?);
                }
                other => *ov = other,
            }
        }
        Ok(original)
    }

    /// A patch value for a key the original doesn't have (or has with another type):
    /// merged into an empty value so directives are processed and nulls dropped.
    fn fresh(&mut self, key: &str, v: Value) -> Result<Value, PatchError> {
        match v {
            Value::Object(m) => {
                self.path.push(key.to_string());
                let r = self.merge_map(Map::new(), m);
                self.path.pop();
                Ok(Value::Object(r?))
            }
            Value::Array(a) => {
                let strategy = self.strategy(key);
                self.path.push(key.to_string());
                let r = self.fresh_list(a, &strategy);
                self.path.pop();
                Ok(Value::Array(r?))
            }
            other => Ok(other),
        }
    }

    /// A new list at the current path (already pushed).
    fn fresh_list(
        &mut self,
        a: Vec<Value>,
        strategy: &ListStrategy,
    ) -> Result<Vec<Value>, PatchError> {
        if *strategy == ListStrategy::Atomic {
            self.fresh_items(a)
        } else {
            self.merge_slice(Vec::new(), a, strategy, false)
        }
    }

    /// Items of a replaced (atomic) list, with directives in their maps processed.
    fn fresh_items(&mut self, a: Vec<Value>) -> Result<Vec<Value>, PatchError> {
        a.into_iter()
            .map(|item| match item {
                Value::Object(m) => Ok(Value::Object(self.merge_map(Map::new(), m)?)),
                other => Ok(other),
            })
            .collect()
    }

    /// `mergeSlice`: merges two lists of the field at the current path.
    fn merge_slice(
        &mut self,
        original: Vec<Value>,
        patch: Vec<Value>,
        strategy: &ListStrategy,
        is_delete_list: bool,
    ) -> Result<Vec<Value>, PatchError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        let is_maps = self.elements_are_maps(&original, &patch)?;
        if !is_maps {
            if is_delete_list {
                return Ok(delete_from_slice(original, &patch));
            }
            let mut merged: Vec<Value> = Vec::new();
            for v in original.iter().chain(patch.iter()) {
                if !merged.iter().any(|m| json_eq(m, v)) {
                    merged.push(v.clone());
                }
            }
            let (patch_items, server_only) = partition(merged, &patch, None);
            return Ok(normalize_element_order(
                patch_items,
                server_only,
                &patch,
                &original,
                None,
            ));
        }
        if is_delete_list {
            return Ok(delete_from_slice(original, &patch));
        }
        let ListStrategy::MergeByKey(key) = *strategy else {
            return Err(PatchError::Strategic(format!(
                "cannot merge lists without merge key for {}",
                self.path.join(".")
            )));
        };
        let (original, patch) = self.merge_special_elements(original, patch, key)?;
        let merged = self.merge_without_special_elements(original.clone(), &patch, key)?;
        let (patch_items, server_only) = partition(merged, &patch, Some(key));
        Ok(normalize_element_order(
            patch_items,
            server_only,
            &patch,
            &original,
            Some(key),
        ))
    }

    fn elements_are_maps(&self, original: &[Value], patch: &[Value]) -> Result<bool, PatchError> {
        let mut seen: Option<bool> = None;
        for v in original.iter().chain(patch) {
            if v.is_array() {
                return Err(PatchError::Strategic(format!(
                    "lists of lists are not supported (at {})",
                    self.path.join(".")
                )));
            }
            let is_map = v.is_object();
            match seen {
                None => seen = Some(is_map),
                Some(s) if s != is_map => {
                    return Err(PatchError::Strategic(format!(
                        "mismatched element types in list {}: cannot merge maps with primitives",
                        self.path.join(".")
                    )));
                }
                _ => {}
            }
        }
        Ok(seen.unwrap_or(false))
    }

    /// `mergeSliceWithSpecialElements`: handles `$patch: delete|replace|merge` items.
    fn merge_special_elements(
        &mut self,
        mut original: Vec<Value>,
        patch: Vec<Value>,
        key: &str,
    ) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
        let mut without = Vec::new();
        let mut replace = false;
        for v in patch {
            let Value::Object(mut m) = v else {
                unreachable!("elements_are_maps checked every item")
            };
            let Some(d) = m.get(DIRECTIVE).cloned() else {
                without.push(Value::Object(m));
                continue;
            };
            match d.as_str() {
                Some("delete") => {
                    let Some(kv) = m.get(key) else {
                        return Err(no_merge_key(&m, key));
                    };
                    original.retain(|o| !o.get(key).is_some_and(|ov| json_eq(ov, kv)));
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    m.shift_remove(DIRECTIVE);
                    without.push(Value::Object(m));
                }
                _ => return Err(bad_patch_type(&d, &m)),
            }
        }
        if replace {
            return Ok((self.fresh_items(without)?, Vec::new()));
        }
        Ok((original, without))
    }

    /// `mergeSliceWithoutSpecialElements`: merges items with the same key, appends new ones.
    fn merge_without_special_elements(
        &mut self,
        mut original: Vec<Value>,
        patch: &[Value],
        key: &str,
    ) -> Result<Vec<Value>, PatchError> {
        for v in patch {
            let Value::Object(m) = v else {
                unreachable!("elements_are_maps checked every item")
            };
            let Some(kv) = m.get(key) else {
                return Err(no_merge_key(m, key));
            };
            match original
                .iter()
                .position(|o| o.get(key).is_some_and(|ov| json_eq(ov, kv)))
            {
                Some(i) => {
                    let om = take_map(&mut original[i]);
                    original[i] = Value::Object(self.merge_map(om, m.clone())?);
                }
                None => original.push(Value::Object(self.merge_map(Map::new(), m.clone())?)),
            }
        }
        Ok(original)
    }

    /// `mergePatchIntoOriginal`: handles every `$setElementOrder/<field>` in `patch`,
    /// merging that field's list and ordering it; the field is then removed from `patch`.
    fn merge_set_element_order(
        &mut self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
    ) -> Result<(), PatchError> {
        let directives: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
            .cloned()
            .collect();
        for dk in directives {
            let order = match patch.shift_remove(&dk) {
                Some(Value::Array(a)) => a,
                _ => {
                    return Err(PatchError::Malformed(
                        "invalid patch format of setElementOrder list".to_string(),
                    ));
                }
            };
            let field = dk[SET_ELEMENT_ORDER.len()..].to_string();
            if field.is_empty() {
                continue;
            }
            let original_list = match original.get(&field) {
                Some(Value::Array(a)) => Some(a.clone()),
                _ => None,
            };
            let patch_list = match patch.get(&field) {
                Some(Value::Array(a)) => Some(a.clone()),
                // A non-list (e.g. null) is left to the ordinary merge.
                Some(_) => continue,
                None => None,
            };
            let strategy = self.strategy(&field);
            let key = match strategy {
                ListStrategy::MergeByKey(k) => Some(k),
                _ => None,
            };
            self.path.push(field.clone());
            let merged = match (&original_list, patch_list) {
                (Some(o), None) => Ok(o.clone()),
                (None, Some(p)) => self.fresh_list(p, &strategy),
                (Some(o), Some(p)) => {
                    if strategy == ListStrategy::Atomic {
                        self.fresh_items(p)
                    } else {
                        self.merge_slice(o.clone(), p, &strategy, false)
                    }
                }
                (None, None) => {
                    self.path.pop();
                    continue;
                }
            };
            self.path.pop();
            let merged = merged?;
            let (patch_items, server_only) = partition(merged, &order, key);
            let server_order = original_list.unwrap_or_default();
            let both =
                normalize_element_order(patch_items, server_only, &order, &server_order, key);
            original.insert(field.clone(), Value::Array(both));
            patch.shift_remove(&field);
        }
        Ok(())
    }
}

/// `applyRetainKeysDirective`: drops keys of `original` not listed in `$retainKeys`.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad = || PatchError::Malformed("invalid patch format of retainKeys".to_string());
    let Value::Array(list) = retain else {
        return Err(bad());
    };
    let keep: BTreeSet<&str> = list.iter().filter_map(Value::as_str).collect();
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
            || k == DIRECTIVE
        {
            continue;
        }
        if !keep.contains(k.as_str()) {
            return Err(bad());
        }
    }
    original.retain(|k, _| keep.contains(k.as_str()));
    Ok(())
}

fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    current
        .into_iter()
        .filter(|v| !to_delete.iter().any(|d| json_eq(d, v)))
        .collect()
}

/// The identity of a list item: its merge key value for keyed lists, itself otherwise.
fn ident<'v>(v: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        Some(k) => v.get(k),
        None => Some(v),
    }
}

fn index_of(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    let id = ident(item, key)?;
    list.iter()
        .position(|v| ident(v, key).is_some_and(|x| json_eq(x, id)))
}

/// Splits `merged` into (items present in `by`, server-only items).
fn partition(merged: Vec<Value>, by: &[Value], key: Option<&str>) -> (Vec<Value>, Vec<Value>) {
    merged
        .into_iter()
        .partition(|v| index_of(by, v, key).is_some())
}

/// `normalizeElementOrder`: sorts patch items by `patch_order`, server-only items by
/// `server_order`, then interleaves them (`mergeSortedSlice`).
fn normalize_element_order(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    patch_items.sort_by_key(|v| index_of(patch_order, v, key).unwrap_or(usize::MAX));
    server_only.sort_by_key(|v| index_of(server_order, v, key).unwrap_or(usize::MAX));
    let (left, right) = (server_only, patch_items);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        if i >= left.len() {
            out.push(right[j].clone());
            j += 1;
        } else if j >= right.len() {
            out.push(left[i].clone());
            i += 1;
        } else {
            let li = index_of(server_order, &left[i], key);
            let ri = index_of(server_order, &right[j], key);
            match (li, ri) {
                (Some(l), Some(r)) if l < r => {
                    out.push(left[i].clone());
                    i += 1;
                }
                _ => {
                    out.push(right[j].clone());
                    j += 1;
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Server-side apply.
// ---------------------------------------------------------------------------

/// `metadata` fields that never appear in managed fields (upstream strips them).
const UNMANAGED_METADATA: [&str; 10] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "selfLink",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Server-side apply (`PATCH` with `application/apply-patch+yaml`) by `manager`, at the
/// current time. See [`apply_patch_at`].
pub fn apply_patch(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    strategic: bool,
) -> Result<Value, PatchError> {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    apply_patch_at(live, applied, manager, strategic, &now)
}

/// Server-side apply with an explicit timestamp (RFC 3339, e.g. `2025-01-02T03:04:05Z`)
/// for the `managedFields` entry.
///
/// * No live object: the applied configuration becomes the object.
/// * Live object: the applied configuration is merged in (strategic merge with
///   [`BuiltinSchema`] when `strategic`, for built-in kinds; otherwise maps merge
///   recursively and lists are replaced, as for custom resources without list-type
///   markers), then every field this manager's previous `Apply` entry owned that the new
///   configuration no longer sets is removed, unless another managedFields entry owns it
///   (or something below it).
/// * `metadata.managedFields` gets this manager's `Apply` entry, in the real `FieldsV1`
///   format, replacing its previous one. A re-apply that changes nothing returns the live
///   object unchanged (timestamp included).
///
/// Not modelled: conflicts with other managers (upstream answers 409 unless `force=true`;
/// here the applier always wins, as with `--force-conflicts`), and ownership by `Update`
/// operations (entries the server records itself are still honoured when removing).
/// `apiVersion`, `kind`, `metadata.name`/`namespace`/`uid`/... are never owned. The caller
/// should check name/namespace/kind and drop `status` for resources with a status
/// subresource, as the API server does.
pub fn apply_patch_at(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    strategic: bool,
    now: &str,
) -> Result<Value, PatchError> {
    let Value::Object(applied) = applied else {
        return Err(PatchError::Malformed(
            "the apply configuration must be an object".to_string(),
        ));
    };
    let mut applied = applied.clone();
    if let Some(Value::Object(md)) = applied.get_mut("metadata") {
        md.shift_remove("managedFields");
    }
    let builtin = BuiltinSchema;
    let atomic = AtomicListsSchema;
    let schema: &dyn MergeSchema = if strategic { &builtin } else { &atomic };
    let new_set = field_set(&applied, schema, strategic);
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let applied = Value::Object(applied);
    let entry = |set: &BTreeSet<Vec<String>>| {
        serde_json::json!({
            "manager": manager,
            "operation": "Apply",
            "apiVersion": api_version,
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": set_to_fields_v1(set),
        })
    };

    let merge_into = |obj: &mut Value| -> Result<(), PatchError> {
        if strategic {
            strategic_merge_patch(obj, &applied, schema)
        } else {
            merge_patch(obj, &applied);
            Ok(())
        }
    };

    let Some(live) = live.filter(|v| v.is_object()) else {
        let mut obj = Value::Object(Map::new());
        merge_into(&mut obj)?;
        let entries = if new_set.is_empty() {
            Vec::new()
        } else {
            vec![entry(&new_set)]
        };
        set_managed_fields(&mut obj, entries);
        return Ok(obj);
    };

    let mut obj = live.clone();
    let entries = take_managed_fields(&mut obj);
    let live_without_mf = obj.clone();
    let prev_idx = entries.iter().position(|e| {
        e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
    });
    let prev_set = prev_idx
        .and_then(|i| entries[i].get("fieldsV1"))
        .map(fields_v1_to_set)
        .unwrap_or_default();
    let mut others: BTreeSet<Vec<String>> = BTreeSet::new();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) != prev_idx
            && let Some(f) = e.get("fieldsV1")
        {
            others.extend(fields_v1_to_set(f));
        }
    }

    merge_into(&mut obj)?;

    // Shorter paths first: removing an item makes removing its fields a no-op.
    for path in prev_set.difference(&new_set) {
        let owned_by_others = others.iter().any(|o| o.starts_with(path));
        if !owned_by_others {
            remove_path(&mut obj, path, strategic);
        }
    }

    let mut entries = entries;
    let unchanged = obj == live_without_mf
        && prev_idx.is_some_and(|i| {
            let e = &entries[i];
            e.get("fieldsV1") == Some(&set_to_fields_v1(&new_set))
                && e.get("apiVersion").and_then(Value::as_str) == Some(api_version.as_str())
        });
    if !unchanged {
        match (prev_idx, new_set.is_empty()) {
            (Some(i), false) => entries[i] = entry(&new_set),
            (Some(i), true) => {
                entries.remove(i);
            }
            (None, false) => entries.push(entry(&new_set)),
            (None, true) => {}
        }
    }
    set_managed_fields(&mut obj, entries);
    Ok(obj)
}

fn take_managed_fields(obj: &mut Value) -> Vec<Value> {
    let Some(Value::Object(md)) = obj.get_mut("metadata") else {
        return Vec::new();
    };
    match md.shift_remove("managedFields") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}

fn set_managed_fields(obj: &mut Value, entries: Vec<Value>) {
    if entries.is_empty() {
        if let Some(Value::Object(md)) = obj.get_mut("metadata") {
            md.shift_remove("managedFields");
        }
        return;
    }
    let Value::Object(root) = obj else { return };
    let md = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !md.is_object() {
        *md = Value::Object(Map::new());
    }
    if let Value::Object(md) = md {
        md.insert("managedFields".to_string(), Value::Array(entries));
    }
}

/// The set of field paths an apply configuration sets, as path-element strings
/// (`f:<field>`, `k:<compact JSON of the merge key>`, `v:<compact JSON value>`).
fn field_set(
    applied: &Map<String, Value>,
    schema: &dyn MergeSchema,
    strategic: bool,
) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let mut prefix = Vec::new();
    let mut spath = Vec::new();
    collect_fields(
        applied,
        &mut prefix,
        &mut spath,
        schema,
        strategic,
        &mut out,
    );
    out
}

fn collect_fields(
    m: &Map<String, Value>,
    prefix: &mut Vec<String>,
    spath: &mut Vec<String>,
    schema: &dyn MergeSchema,
    strategic: bool,
    out: &mut BTreeSet<Vec<String>>,
) {
    for (k, v) in m {
        if k.starts_with('$') {
            continue;
        }
        if prefix.is_empty() && (k == "apiVersion" || k == "kind") {
            continue;
        }
        if prefix.len() == 1
            && prefix[0] == "f:metadata"
            && UNMANAGED_METADATA.contains(&k.as_str())
        {
            continue;
        }
        prefix.push(format!("f:{k}"));
        spath.push(k.clone());
        match v {
            // A LabelSelector is an atomic struct in every built-in kind.
            Value::Object(c)
                if strategic
                    && k == "selector"
                    && (c.contains_key("matchLabels") || c.contains_key("matchExpressions")) =>
            {
                out.insert(prefix.clone());
            }
            Value::Object(c) if !c.is_empty() => {
                collect_fields(c, prefix, spath, schema, strategic, out);
            }
            Value::Array(items) if !items.is_empty() => match schema.list_strategy(spath) {
                ListStrategy::MergeByKey(key) if items.iter().all(|i| i.get(key).is_some()) => {
                    for item in items {
                        let Value::Object(im) = item else { continue };
                        let mut kv = Map::new();
                        kv.insert(key.to_string(), im[key].clone());
                        prefix.push(format!("k:{}", compact(&Value::Object(kv))));
                        out.insert(prefix.clone());
                        collect_fields(im, prefix, spath, schema, strategic, out);
                        prefix.pop();
                    }
                }
                ListStrategy::MergePrimitives
                    if items.iter().all(|i| !i.is_object() && !i.is_array()) =>
                {
                    for item in items {
                        prefix.push(format!("v:{}", compact(item)));
                        out.insert(prefix.clone());
                        prefix.pop();
                    }
                }
                _ => {
                    out.insert(prefix.clone());
                }
            },
            _ => {
                out.insert(prefix.clone());
            }
        }
        prefix.pop();
        spath.pop();
    }
}

#[derive(Default)]
struct FieldNode {
    member: bool,
    children: BTreeMap<String, FieldNode>,
}

fn node_to_json(n: &FieldNode) -> Value {
    let mut m = Map::new();
    if n.member && !n.children.is_empty() {
        m.insert(".".to_string(), Value::Object(Map::new()));
    }
    for (k, c) in &n.children {
        m.insert(k.clone(), node_to_json(c));
    }
    Value::Object(m)
}

/// Serializes a set of paths as `fieldsV1`: `{"f:metadata":{"f:labels":{"f:app":{}}}}`,
/// with `".": {}` marking a node that is itself a member and has children.
fn set_to_fields_v1(set: &BTreeSet<Vec<String>>) -> Value {
    let mut root = FieldNode::default();
    for path in set {
        let mut n = &mut root;
        for el in path {
            n = n.children.entry(el.clone()).or_default();
        }
        n.member = true;
    }
    node_to_json(&root)
}

fn fields_v1_to_set(v: &Value) -> BTreeSet<Vec<String>> {
    fn walk(v: &Value, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
        let Value::Object(m) = v else { return };
        if m.is_empty() && !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        for (k, c) in m {
            if k == "." {
                if !prefix.is_empty() {
                    out.insert(prefix.clone());
                }
            } else {
                prefix.push(k.clone());
                walk(c, prefix, out);
                prefix.pop();
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// The position of a path element in a container.
enum Slot {
    Key(String),
    Index(usize),
}

fn find_slot(cur: &Value, el: &str) -> Option<Slot> {
    let (kind, rest) = el.split_at_checked(2)?;
    match (kind, cur) {
        ("f:", Value::Object(m)) => m.contains_key(rest).then(|| Slot::Key(rest.to_string())),
        ("k:", Value::Array(a)) => {
            let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(rest) else {
                return None;
            };
            a.iter()
                .position(|item| {
                    keys.iter()
                        .all(|(k, kv)| item.get(k).is_some_and(|iv| json_eq(iv, kv)))
                })
                .map(Slot::Index)
        }
        ("v:", Value::Array(a)) => {
            let want: Value = serde_json::from_str(rest).ok()?;
            a.iter()
                .position(|item| json_eq(item, &want))
                .map(Slot::Index)
        }
        ("i:", Value::Array(a)) => rest
            .parse::<usize>()
            .ok()
            .filter(|i| *i < a.len())
            .map(Slot::Index),
        _ => None,
    }
}

fn remove_slot(cur: &mut Value, slot: &Slot) {
    match (cur, slot) {
        (Value::Object(m), Slot::Key(k)) => {
            m.shift_remove(k);
        }
        (Value::Array(a), Slot::Index(i)) => {
            a.remove(*i);
        }
        _ => {}
    }
}

fn child_mut<'v>(cur: &'v mut Value, slot: &Slot) -> Option<&'v mut Value> {
    match (cur, slot) {
        (Value::Object(m), Slot::Key(k)) => m.get_mut(k),
        (Value::Array(a), Slot::Index(i)) => a.get_mut(*i),
        _ => None,
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Removes the value at `path`; maps and lists emptied by the removal are removed too
/// (as `omitempty` makes them vanish from a real server's output), except top-level
/// fields of custom resources and `metadata`/`spec`/`status`.
fn remove_path(root: &mut Value, path: &[String], strategic: bool) {
    fn go(cur: &mut Value, path: &[String], depth: usize, strategic: bool) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        let Some(slot) = find_slot(cur, first) else {
            return false;
        };
        if rest.is_empty() {
            remove_slot(cur, &slot);
            return true;
        }
        let Some(child) = child_mut(cur, &slot) else {
            return false;
        };
        let removed = go(child, rest, depth + 1, strategic);
        if removed && is_empty_container(child) {
            let keep = depth == 0
                && (!strategic || matches!(first.as_str(), "f:metadata" | "f:spec" | "f:status"));
            if !keep {
                remove_slot(cur, &slot);
            }
        }
        removed
    }
    go(root, path, 0, strategic);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trip() {
        let set: BTreeSet<Vec<String>> = [
            vec!["f:metadata", "f:labels", "f:app"],
            vec!["f:spec", "f:containers", "k:{\"name\":\"a\"}"],
            vec!["f:spec", "f:containers", "k:{\"name\":\"a\"}", "f:image"],
        ]
        .into_iter()
        .map(|p| p.into_iter().map(String::from).collect())
        .collect();
        let v = set_to_fields_v1(&set);
        assert_eq!(
            v,
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:image": {}}}}
            })
        );
        assert_eq!(fields_v1_to_set(&v), set);
    }

    #[test]
    fn remove_path_prunes_emptied_maps_but_not_metadata() {
        let mut obj = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}});
        remove_path(
            &mut obj,
            &["f:metadata".into(), "f:labels".into(), "f:a".into()],
            true,
        );
        assert_eq!(obj, json!({"metadata": {}, "spec": {"x": 1}}));
    }

    #[test]
    fn remove_path_by_key_and_value() {
        let mut obj = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                             "metadata": {"finalizers": ["x", "y"]}});
        remove_path(
            &mut obj,
            &[
                "f:spec".into(),
                "f:containers".into(),
                "k:{\"name\":\"a\"}".into(),
            ],
            true,
        );
        remove_path(
            &mut obj,
            &["f:metadata".into(), "f:finalizers".into(), "v:\"y\"".into()],
            true,
        );
        assert_eq!(
            obj,
            json!({"spec": {"containers": [{"name": "b"}]}, "metadata": {"finalizers": ["x"]}})
        );
    }
}
