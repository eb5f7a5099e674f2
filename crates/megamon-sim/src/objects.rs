//! Object metadata conventions: names, timestamps, generation, printer-column paths.

use serde_json::{Map, Value};

/// Now, as Kubernetes writes timestamps (RFC 3339, whole seconds, UTC).
pub fn now_timestamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Why `name` is not a valid object name, if it is not. Namespaces must be DNS labels;
/// everything else DNS subdomains.
pub fn name_problem(name: &str, dns_label: bool) -> Option<String> {
    let max = if dns_label { 63 } else { 253 };
    if name.is_empty() {
        return Some("Required value: name or generateName is required".into());
    }
    if name.len() > max {
        return Some(format!(
            "Invalid value: \"{name}\": must be no more than {max} characters"
        ));
    }
    let ok_char = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (!dns_label && c == '.')
    };
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !name.chars().all(ok_char) || !ends_ok(name.chars().next()) || !ends_ok(name.chars().last())
    {
        let what = if dns_label {
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        } else {
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        };
        return Some(format!("Invalid value: \"{name}\": {what}"));
    }
    None
}

/// Five random characters, from the alphabet kube-apiserver uses for `generateName`.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn metadata(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

/// `metadata` as a mutable map, created if absent or not an object.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = match obj {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

pub fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    metadata(obj)?.get(key)?.as_str()
}

/// Whether anything but `metadata` (and `status`, when it is a subresource) differs:
/// such changes bump `metadata.generation`.
pub fn spec_changed(old: &Value, new: &Value, ignore_status: bool) -> bool {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return old != new;
    };
    let skip = |k: &str| k == "metadata" || (ignore_status && k == "status");
    old.keys()
        .chain(new.keys())
        .filter(|k| !skip(k))
        .any(|k| old.get(k) != new.get(k))
}

/// Age as kubectl prints it (`45s`, `3m10s`, `25m`, `5h`, `3d`, ...).
pub fn human_age(timestamp: &str) -> String {
    let Ok(then) = timestamp.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - then.as_second()).max(0);
    human_duration(secs)
}

pub fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        match secs % 60 {
            0 => format!("{m}m"),
            s => format!("{m}m{s}s"),
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            mm => format!("{h}h{mm}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        match h % 24 {
            0 => format!("{d}d"),
            hh => format!("{d}d{hh}h"),
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

/// Evaluates the JSONPath subset used by printer columns: `.a.b`, `.a[0]`,
/// `.a[*].b` and `.a[?(@.k=="v")].b`. Multiple results are joined with commas.
pub fn json_path(obj: &Value, path: &str) -> Vec<Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut current = vec![obj.clone()];
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            rest = &r[end..];
            if key.is_empty() {
                continue;
            }
            current = current.iter().filter_map(|v| v.get(key).cloned()).collect();
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Vec::new();
            };
            let inner = &r[..end];
            rest = &r[end + 1..];
            current = select(current, inner);
        } else {
            return Vec::new();
        }
    }
    current
}

fn select(values: Vec<Value>, selector: &str) -> Vec<Value> {
    let items = values.into_iter().flat_map(|v| match v {
        Value::Array(items) => items,
        _ => Vec::new(),
    });
    if selector == "*" {
        return items.collect();
    }
    if let Ok(index) = selector.parse::<usize>() {
        return items.skip(index).take(1).collect();
    }
    // ?(@.key=="value") or ?(@.key==value)
    let filter = selector
        .strip_prefix("?(")
        .and_then(|s| s.strip_suffix(')'))
        .and_then(|s| s.strip_prefix("@."));
    let Some(filter) = filter else {
        return Vec::new();
    };
    let Some((key, want)) = filter.split_once("==") else {
        return items.filter(|i| i.get(filter.trim()).is_some()).collect();
    };
    let want = want.trim().trim_matches('"').trim_matches('\'');
    let key = key.trim();
    items
        .filter(|i| {
            i.get(key).is_some_and(|v| match v {
                Value::String(s) => s == want,
                other => *other == want,
            })
        })
        .collect()
}

/// A printer-column cell: strings as they are, other values printed.
pub fn cell_text(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_path_handles_printer_column_forms() {
        let obj = json!({"status": {"conditions": [
            {"type": "Ready", "reason": "Up"}, {"type": "Other", "reason": "No"}]},
            "spec": {"type": "tpu", "n": 3}});
        assert_eq!(
            json_path(&obj, r#".status.conditions[?(@.type=="Ready")].reason"#),
            vec![json!("Up")]
        );
        assert_eq!(json_path(&obj, ".spec.type"), vec![json!("tpu")]);
        assert_eq!(cell_text(&json_path(&obj, ".spec.n")), "3");
        assert!(json_path(&obj, ".spec.missing").is_empty());
    }

    #[test]
    fn names_follow_dns_rules() {
        assert!(name_problem("node-1.example", false).is_none());
        assert!(name_problem("node-1.example", true).is_some());
        assert!(name_problem("Bad", false).is_some());
        assert!(name_problem("-x", false).is_some());
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(190), "3m10s");
        assert_eq!(human_duration(1500), "25m");
        assert_eq!(human_duration(5 * 3600), "5h");
        assert_eq!(human_duration(3 * 86400), "3d");
    }
}
