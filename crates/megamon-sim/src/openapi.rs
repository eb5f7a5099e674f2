//! OpenAPI v3 documents, as far as kubectl needs them: with the default
//! `--validate=strict`, kubectl looks in `/openapi/v3/<group version>` for a PATCH
//! operation of the kind that takes a `fieldValidation` query parameter, and then leaves
//! validation to the server. There are no schemas: objects are stored as given.

use serde_json::{Map, Value, json};

use crate::resources::{Registry, ResourceDef};

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
pub fn group_version_doc(registry: &Registry, path: &str) -> Option<Value> {
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
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-megamon-sim"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
