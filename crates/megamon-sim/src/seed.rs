//! Seeding: objects from YAML/JSON files (multi-document, `kind: List`, directories)
//! created before the simulator serves, CRDs first, then namespaces, then the rest.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::handlers;
use crate::objects::meta_str;
use crate::state::Sim;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read seed {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("seed {path} is not valid {format}: {message}")]
    Parse {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
    #[error("seed {path}: object {index} ({what}): {message}")]
    Object {
        path: PathBuf,
        index: usize,
        what: String,
        message: String,
    },
}

/// An object with where it came from, for error messages.
struct Seeded {
    path: PathBuf,
    index: usize,
    object: Value,
}

fn files_of(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), SeedError> {
    let read_err = |source| SeedError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let is_dir = entry.is_dir();
        let ext = entry
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if is_dir || matches!(ext.as_str(), "yaml" | "yml" | "json") {
            files_of(&entry, out)?;
        }
    }
    Ok(())
}

/// Parses a document stream: JSON (one value, an array, or concatenated values) or
/// multi-document YAML.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, (&'static str, String)> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let mut docs = Vec::new();
        for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            match value.map_err(|e| ("JSON", e.to_string()))? {
                Value::Array(items) => docs.extend(items),
                other => docs.push(other),
            }
        }
        return Ok(docs);
    }
    let mut options = serde_saphyr::Options::default();
    // Seeds may hold tens of thousands of objects; the default budget is for configs.
    options.budget = None;
    serde_saphyr::from_multiple_with_options::<Value>(text, options)
        .map_err(|e| ("YAML", e.to_string()))
}

fn flatten(value: Value, out: &mut Vec<Value>) {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array);
    match value {
        Value::Object(mut map) if is_list => {
            if let Some(Value::Array(items)) = map.remove("items") {
                for item in items {
                    flatten(item, out);
                }
            }
        }
        Value::Null => {}
        other => out.push(other),
    }
}

fn load(paths: &[PathBuf]) -> Result<Vec<Seeded>, SeedError> {
    let mut files = Vec::new();
    for path in paths {
        files_of(path, &mut files)?;
    }
    let mut seeded = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| SeedError::Read {
            path: path.clone(),
            source,
        })?;
        let docs = parse_documents(&text).map_err(|(format, message)| SeedError::Parse {
            path: path.clone(),
            format,
            message,
        })?;
        let mut objects = Vec::new();
        for doc in docs {
            flatten(doc, &mut objects);
        }
        seeded.extend(
            objects
                .into_iter()
                .enumerate()
                .map(|(index, object)| Seeded {
                    path: path.clone(),
                    index,
                    object,
                }),
        );
    }
    Ok(seeded)
}

fn rank(obj: &Value) -> u8 {
    match obj.get("kind").and_then(Value::as_str) {
        Some("CustomResourceDefinition") => 0,
        Some("Namespace") => 1,
        _ => 2,
    }
}

/// Creates the objects of `paths`; returns how many were created.
pub fn seed(sim: &Sim, paths: &[PathBuf]) -> Result<usize, SeedError> {
    let mut seeded = load(paths)?;
    seeded.sort_by_key(|s| rank(&s.object));
    let mut created = 0;
    for item in seeded {
        let what = format!(
            "{} {:?}",
            item.object
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("<no kind>"),
            meta_str(&item.object, "name").unwrap_or_default()
        );
        let fail = |message: String| SeedError::Object {
            path: item.path.clone(),
            index: item.index,
            what: what.clone(),
            message,
        };
        let api_version = item
            .object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = item
            .object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let def = sim
            .registry
            .find_kind(group, version, kind)
            .ok_or_else(|| fail(format!("no resource serves {api_version}, Kind={kind}")))?;
        if def.namespaced {
            let ns = meta_str(&item.object, "namespace")
                .filter(|n| !n.is_empty())
                .unwrap_or("default")
                .to_string();
            ensure_seeded_namespace(sim, &ns).map_err(|e| fail(e.to_string()))?;
        }
        handlers::create(sim, &def, None, item.object, false).map_err(|e| fail(e.message))?;
        created += 1;
    }
    Ok(created)
}

/// Seeds may put objects in namespaces they do not create; create those namespaces.
fn ensure_seeded_namespace(sim: &Sim, ns: &str) -> Result<(), crate::error::ApiError> {
    let key = (String::new(), ns.to_string());
    if sim.store.get("/namespaces", &key).is_some() {
        return Ok(());
    }
    let Some(def) = sim.registry.get("", "v1", "namespaces") else {
        return Ok(());
    };
    tracing::info!("seed: creating namespace {ns:?} for seeded objects");
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    handlers::create(sim, &def, None, obj, false).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_come_from_yaml_json_and_lists() {
        let yaml = "a: 1\n---\nkind: List\nitems:\n- b: 2\n- c: 3\n---\n";
        let mut out = Vec::new();
        for doc in parse_documents(yaml).expect("yaml") {
            flatten(doc, &mut out);
        }
        assert_eq!(out.len(), 3);
        let json = r#"[{"a":1},{"b":2}] {"c":3}"#;
        assert_eq!(parse_documents(json).expect("json").len(), 3);
        assert!(parse_documents("a: [").is_err());
    }
}
