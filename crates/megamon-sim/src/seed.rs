//! Seeding: objects from YAML/JSON files (multi-document, `kind: List`, directories)
//! created before the simulator serves.
//!
//! Objects are created as they are read, so a 65,536-node JSON list never exists as one
//! big in-memory tree. Objects of kinds not served yet (custom resources whose CRD comes
//! later) wait until every file is read, which amounts to "CRDs first". Namespaces that
//! seeded objects use are created on demand; a seeded Namespace read later replaces the
//! one made on demand.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::handlers;
use crate::objects::meta_str;
use crate::request::Target;
use crate::resources::{ResourceDef, Special};
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

/// Whether `map` is a `...List` with `items`.
fn is_list(map: &Map<String, Value>) -> bool {
    map.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
}

/// Hands every object of `value` to `each`, unwrapping lists.
fn flatten(value: Value, each: &mut dyn FnMut(Value)) {
    match value {
        Value::Object(mut map)
            if is_list(&map) && map.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = map.remove("items") {
                for item in items {
                    flatten(item, each);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten(item, each);
            }
        }
        Value::Null => {}
        other => each(other),
    }
}

/// Streams the objects of one JSON value: arrays and `...List` items are handed over
/// one element at a time, never built as a whole.
struct Objects<'a, 'f> {
    each: &'a mut (dyn FnMut(Value) + 'f),
}

impl<'de> DeserializeSeed<'de> for Objects<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Objects<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object, a List, or an array of them")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Objects {
                each: &mut *self.each,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        let mut map = Map::new();
        let mut streamed = false;
        while let Some(key) = access.next_key::<String>()? {
            if key == "items" && is_list(&map) {
                access.next_value_seed(Objects {
                    each: &mut *self.each,
                })?;
                streamed = true;
            } else {
                let value: Value = access.next_value()?;
                map.insert(key, value);
            }
        }
        if !streamed {
            flatten(Value::Object(map), self.each);
        }
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        (self.each)(Value::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        (self.each)(Value::from(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        (self.each)(Value::from(v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        (self.each)(Value::from(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        (self.each)(Value::String(v.to_string()));
        Ok(())
    }
}

/// Hands every object of a document stream to `each`: JSON (one value, an array, or
/// concatenated values; streamed) or multi-document YAML.
pub fn each_object(text: &str, each: &mut dyn FnMut(Value)) -> Result<(), (&'static str, String)> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let mut de = serde_json::Deserializer::from_str(text);
        loop {
            // Stop at the end of input; anything else must be another value.
            if de_at_end(&mut de).map_err(|e| ("JSON", e.to_string()))? {
                return Ok(());
            }
            Objects { each: &mut *each }
                .deserialize(&mut de)
                .map_err(|e| ("JSON", e.to_string()))?;
        }
    }
    let mut options = serde_saphyr::Options::default();
    // Seeds may hold thousands of objects; the default budget is for config files.
    options.budget = None;
    let docs = serde_saphyr::from_multiple_with_options::<Value>(text, options)
        .map_err(|e| ("YAML", e.to_string()))?;
    for doc in docs {
        flatten(doc, each);
    }
    Ok(())
}

fn de_at_end(
    de: &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>,
) -> serde_json::Result<bool> {
    // `end` succeeds only when nothing but whitespace is left.
    Ok(de.end().is_ok())
}

/// Creates seeded objects, deferring kinds not served yet.
struct Seeder<'a> {
    sim: &'a Sim,
    created: usize,
    deferred: Vec<(Arc<PathBuf>, usize, Value)>,
    /// Namespaces made on demand, which a seeded Namespace may still replace.
    on_demand: HashSet<String>,
}

fn describe(obj: &Value) -> String {
    format!(
        "{} {:?}",
        obj.get("kind")
            .and_then(Value::as_str)
            .unwrap_or("<no kind>"),
        meta_str(obj, "name").unwrap_or_default()
    )
}

impl Seeder<'_> {
    fn def_of(&self, obj: &Value) -> Option<Arc<ResourceDef>> {
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.sim.registry.find_kind(group, version, kind)
    }

    /// Creates `obj` now, or later if its kind is not served yet (unless `last_chance`).
    fn offer(
        &mut self,
        path: &Arc<PathBuf>,
        index: usize,
        obj: Value,
        last_chance: bool,
    ) -> Result<(), SeedError> {
        let fail = |obj: &Value, message: String| SeedError::Object {
            path: path.to_path_buf(),
            index,
            what: describe(obj),
            message,
        };
        let Some(def) = self.def_of(&obj) else {
            if last_chance {
                let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
                let message = format!("no resource serves {api_version}, Kind={kind}");
                return Err(fail(&obj, message));
            }
            self.deferred.push((path.clone(), index, obj));
            return Ok(());
        };
        let what = describe(&obj);
        self.create(&def, obj).map_err(|e| SeedError::Object {
            path: path.to_path_buf(),
            index,
            what,
            message: e.message,
        })?;
        self.created += 1;
        Ok(())
    }

    fn create(&mut self, def: &Arc<ResourceDef>, obj: Value) -> Result<(), ApiError> {
        if def.special == Special::Namespace
            && let Some(name) = meta_str(&obj, "name").map(str::to_string)
            && self.on_demand.remove(&name)
        {
            let target = Target {
                def: def.clone(),
                namespace: None,
                name: Some(name),
                subresource: None,
            };
            return handlers::update(self.sim, &target, obj, false).map(|_| ());
        }
        if def.namespaced {
            let ns = meta_str(&obj, "namespace")
                .filter(|n| !n.is_empty())
                .unwrap_or("default")
                .to_string();
            self.ensure_namespace(&ns)?;
        }
        handlers::create(self.sim, def, None, obj, false).map(|_| ())
    }

    fn ensure_namespace(&mut self, ns: &str) -> Result<(), ApiError> {
        let key = (String::new(), ns.to_string());
        if self.sim.store.get("/namespaces", &key).is_some() {
            return Ok(());
        }
        let Some(def) = self.sim.registry.get("", "v1", "namespaces") else {
            return Ok(());
        };
        tracing::info!("seed: creating namespace {ns:?} for seeded objects");
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        handlers::create(self.sim, &def, None, obj, false)?;
        self.on_demand.insert(ns.to_string());
        Ok(())
    }
}

/// Creates the objects of `paths`; returns how many were created.
pub fn seed(sim: &Sim, paths: &[PathBuf]) -> Result<usize, SeedError> {
    let mut files = Vec::new();
    for path in paths {
        files_of(path, &mut files)?;
    }
    let mut seeder = Seeder {
        sim,
        created: 0,
        deferred: Vec::new(),
        on_demand: HashSet::new(),
    };
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| SeedError::Read {
            path: path.clone(),
            source,
        })?;
        let path = Arc::new(path);
        let mut index = 0;
        let mut failure = None;
        let mut each = |obj: Value| {
            if failure.is_none()
                && let Err(e) = seeder.offer(&path, index, obj, false)
            {
                failure = Some(e);
            }
            index += 1;
        };
        each_object(&text, &mut each).map_err(|(format, message)| SeedError::Parse {
            path: path.to_path_buf(),
            format,
            message,
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
    }
    // Kinds defined by CRDs read after their objects: serve them now or fail.
    for (path, index, obj) in std::mem::take(&mut seeder.deferred) {
        seeder.offer(&path, index, obj, true)?;
    }
    Ok(seeder.created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(text: &str) -> Result<Vec<Value>, (&'static str, String)> {
        let mut out = Vec::new();
        each_object(text, &mut |v| out.push(v))?;
        Ok(out)
    }

    #[test]
    fn documents_come_from_yaml_json_and_lists() {
        let yaml = "a: 1\n---\nkind: List\nitems:\n- b: 2\n- c: 3\n---\n";
        assert_eq!(objects(yaml).expect("yaml").len(), 3);
        let json = r#"[{"a":1},{"b":2}] {"kind":"List","items":[{"c":3},{"kind":"List","items":[{"d":4}]}]}"#;
        assert_eq!(
            objects(json).expect("json"),
            vec![
                json!({"a": 1}),
                json!({"b": 2}),
                json!({"c": 3}),
                json!({"d": 4})
            ]
        );
        // A list whose kind comes after its items is still unwrapped.
        let late_kind = r#"{"items":[{"e":5}],"kind":"NodeList"}"#;
        assert_eq!(objects(late_kind).expect("json"), vec![json!({"e": 5})]);
        assert!(objects("a: [").is_err());
        assert!(objects(r#"{"kind":"List","items":[{"a":1}"#).is_err());
    }
}
