//! OpenAPI documents, as far as kubectl needs them: with the default
//! `--validate=strict`, kubectl looks in `/openapi/v3/<group version>` for a PATCH
//! operation of the kind that takes a `fieldValidation` query parameter, and then leaves
//! validation to the server. A `kind: List` (what `kubectl get -o yaml` writes) it
//! validates itself, item by item, against `/openapi/v2`, which it asks for as
//! protobuf (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`: gnostic's
//! `openapi.v2.Document`, see `gnostic`). Both versions hold the same operations and
//! schemas: custom resources carry their CRD's schema (so that `kubectl explain` works
//! for them, and kubectl checks List items against it); built-in kinds have none, so
//! kubectl skips them. Objects are stored as given either way.

use serde_json::{Map, Value, json};

use crate::resources::{Registry, ResourceDef};
use crate::store::Store;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: where each group version's document is.
pub fn root(registry: &Registry) -> Value {
    let generation = registry.generation();
    let mut paths = Map::new();
    for group in registry.groups() {
        for version in &group.versions {
            let path = gv_path(&group.name, version);
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={generation:016X}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// Which OpenAPI version a document is for: parameters are written differently.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spec {
    V2,
    V3,
}

fn query_param(name: &str, spec: Spec) -> Value {
    match spec {
        Spec::V3 => {
            json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
        }
        Spec::V2 => json!({"name": name, "in": "query", "type": "string", "uniqueItems": true}),
    }
}

fn operation(def: &ResourceDef, action: &str, params: &[&str], spec: Spec) -> Value {
    json!({
        "operationId": format!("{action}{}", def.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": def.group, "version": def.version, "kind": def.kind},
        "parameters": params.iter().map(|p| query_param(p, spec)).collect::<Vec<_>>(),
        "responses": {"200": {"description": "OK"}},
    })
}

/// The paths of the resources `defs`, with the operations kubectl looks for.
fn paths(defs: &[std::sync::Arc<ResourceDef>], spec: Spec, paths: &mut Map<String, Value>) {
    let op =
        |def: &ResourceDef, action: &str, params: &[&str]| operation(def, action, params, spec);
    let write_params = ["dryRun", "fieldManager", "fieldValidation"];
    for def in defs.iter().filter(|d| !d.is_review()) {
        let prefix = format!("/{}", gv_path(&def.group, &def.version));
        let collection = if def.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", def.plural)
        } else {
            format!("{prefix}/{}", def.plural)
        };
        paths.insert(
            collection.clone(),
            json!({
                "get": op(def, "list", &["labelSelector", "fieldSelector", "limit", "continue", "watch"]),
                "post": op(def, "post", &write_params),
                "delete": op(def, "deletecollection", &["labelSelector", "fieldSelector"]),
            }),
        );
        let patch_params = ["dryRun", "fieldManager", "fieldValidation", "force"];
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "get": op(def, "get", &[]),
                "put": op(def, "put", &write_params),
                "patch": op(def, "patch", &patch_params),
                "delete": op(def, "delete", &["dryRun"]),
            }),
        );
        if def.status_subresource {
            paths.insert(
                format!("{collection}/{{name}}/status"),
                json!({
                    "get": op(def, "get", &[]),
                    "put": op(def, "put", &write_params),
                    "patch": op(def, "patch", &patch_params),
                }),
            );
        }
    }
    for def in defs.iter().filter(|d| d.is_review()) {
        paths.insert(
            format!("/{}/{}", gv_path(&def.group, &def.version), def.plural),
            json!({"post": op(def, "post", &write_params)}),
        );
    }
}

fn definition_name(def: &ResourceDef) -> String {
    format!("{}.{}.{}", def.group, def.version, def.kind)
}

/// `/openapi/v3/<api/v1 | apis/G/V>`, or `None` for a group version not served.
pub fn group_version_doc(registry: &Registry, store: &Store, path: &str) -> Option<Value> {
    let (group, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", version] => (String::new(), version.to_string()),
        ["apis", group, version] => (group.to_string(), version.to_string()),
        _ => return None,
    };
    let defs = registry.resources_of(&group, &version);
    if defs.is_empty() {
        return None;
    }
    let mut doc_paths = Map::new();
    paths(&defs, Spec::V3, &mut doc_paths);
    let mut schemas = Map::new();
    for def in &defs {
        if let Some(schema) = crd_schema(store, def) {
            schemas.insert(definition_name(def), schema);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-megamon-sim"},
        "paths": doc_paths,
        "components": {"schemas": schemas},
    }))
}

/// `/openapi/v2`: one Swagger 2.0 document for every served group version, with the
/// same operations and schemas as the v3 documents.
pub fn v2_document(registry: &Registry, store: &Store) -> Value {
    let mut doc_paths = Map::new();
    let mut definitions = Map::new();
    for group in registry.groups() {
        for version in &group.versions {
            let defs = registry.resources_of(&group.name, version);
            paths(&defs, Spec::V2, &mut doc_paths);
            for def in &defs {
                if let Some(schema) = crd_schema(store, def) {
                    definitions.insert(definition_name(def), v2_schema(schema));
                }
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-megamon-sim"},
        "paths": doc_paths,
        "definitions": definitions,
    })
}

/// A CRD's (OpenAPI v3) schema as Swagger 2.0 can say it, as kube-apiserver publishes
/// CRD schemas in v2: `nullable`, `anyOf`, `oneOf` and `not` go (an int-or-string
/// field is then untyped: anything goes).
fn v2_schema(mut schema: Value) -> Value {
    match &mut schema {
        Value::Object(map) => {
            for v3_only in ["nullable", "anyOf", "oneOf", "not"] {
                map.shift_remove(v3_only);
            }
            for (key, value) in map.iter_mut() {
                // Only schema-valued keywords hold schemas; vendor extensions and
                // defaults are values.
                match key.as_str() {
                    "properties" | "patternProperties" | "definitions" => {
                        if let Value::Object(children) = value {
                            for child in children.values_mut() {
                                *child = v2_schema(child.take());
                            }
                        }
                    }
                    "items" | "additionalProperties" | "allOf" => *value = v2_schema(value.take()),
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = v2_schema(item.take());
            }
        }
        _ => {}
    }
    schema
}

/// The `openAPIV3Schema` of a custom resource's version, tagged with its kind.
fn crd_schema(store: &Store, def: &ResourceDef) -> Option<Value> {
    let crd_name = def.crd_name.as_ref()?;
    let crd = store
        .get(
            "apiextensions.k8s.io/customresourcedefinitions",
            &(String::new(), crd_name.clone()),
        )?
        .value()
        .ok()?;
    let version = crd
        .pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(def.version.as_str()))?;
    let mut schema = version.pointer("/schema/openAPIV3Schema")?.clone();
    schema.as_object_mut()?.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([{"group": def.group, "version": def.version, "kind": def.kind}]),
    );
    Some(schema)
}
