//! OpenAPI v3 documents, as far as kubectl needs them: with the default
//! `--validate=strict`, kubectl looks in `/openapi/v3/<group version>` for a PATCH
//! operation of the kind that takes a `fieldValidation` query parameter, and then leaves
//! validation to the server. Custom resources carry their CRD's schema (so that
//! `kubectl explain` works for them); built-in kinds have none. Objects are stored as
//! given either way.

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

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(def: &ResourceDef, action: &str, params: &[&str]) -> Value {
    json!({
        "operationId": format!("{action}{}", def.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": def.group, "version": def.version, "kind": def.kind},
        "parameters": params.iter().map(|p| query_param(p)).collect::<Vec<_>>(),
        "responses": {"200": {"description": "OK"}},
    })
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
    let write_params = ["dryRun", "fieldManager", "fieldValidation"];
    let mut paths = Map::new();
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
                "get": operation(def, "list", &["labelSelector", "fieldSelector", "limit", "continue", "watch"]),
                "post": operation(def, "post", &write_params),
                "delete": operation(def, "deletecollection", &["labelSelector", "fieldSelector"]),
            }),
        );
        let patch_params = ["dryRun", "fieldManager", "fieldValidation", "force"];
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "get": operation(def, "get", &[]),
                "put": operation(def, "put", &write_params),
                "patch": operation(def, "patch", &patch_params),
                "delete": operation(def, "delete", &["dryRun"]),
            }),
        );
        if def.status_subresource {
            paths.insert(
                format!("{collection}/{{name}}/status"),
                json!({
                    "get": operation(def, "get", &[]),
                    "put": operation(def, "put", &write_params),
                    "patch": operation(def, "patch", &patch_params),
                }),
            );
        }
    }
    for def in defs.iter().filter(|d| d.is_review()) {
        paths.insert(
            format!("/{}/{}", gv_path(&def.group, &def.version), def.plural),
            json!({"post": operation(def, "post", &write_params)}),
        );
    }
    let mut schemas = Map::new();
    for def in &defs {
        if let Some(schema) = crd_schema(store, def) {
            schemas.insert(
                format!("{}.{}.{}", def.group, def.version, def.kind),
                schema,
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-megamon-sim"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
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
