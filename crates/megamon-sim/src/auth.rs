//! TokenReviews (from a kube-apiserver `--token-auth-file`) and SubjectAccessReviews.
//!
//! SubjectAccessReview policy (the simulator does not enforce it on its own API; it only
//! answers reviews, so that MegaMon's secure metrics can be tested for real):
//! 1. a user in group `system:masters` may do anything;
//! 2. otherwise the stored RBAC objects decide, as the RBAC authorizer does:
//!    ClusterRoleBindings grant their ClusterRole everywhere (resource and non-resource
//!    URLs), RoleBindings grant their Role or ClusterRole in their namespace. Subjects
//!    match by `User` name, `Group` name, or `ServiceAccount` (as user
//!    `system:serviceaccount:NS:NAME`). Rules match verbs, apiGroups, resources
//!    (`res/sub` for subresources), resourceNames and nonResourceURLs (`*` and trailing
//!    `*` prefixes) like upstream;
//! 3. everything else is denied.
//!
//! SelfSubjectAccessReviews are always allowed: the simulator lets everyone do everything.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::store::Store;

/// A user from the token file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUser {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

/// Tokens from a kube-apiserver `--token-auth-file`: `token,user,uid[,"group1,group2"]`.
#[derive(Debug, Clone, Default)]
pub struct TokenFile {
    users: HashMap<String, TokenUser>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("cannot read token file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("token file {path}, line {line}: {problem}")]
    Line {
        path: String,
        line: usize,
        problem: String,
    },
}

/// Splits one CSV record, honouring double quotes.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    fields.push(field);
    Ok(fields)
}

impl TokenFile {
    pub fn load(path: &Path) -> Result<TokenFile, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|(line, problem)| TokenFileError::Line {
            path: path.display().to_string(),
            line,
            problem,
        })
    }

    pub fn parse(text: &str) -> Result<TokenFile, (usize, String)> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields = csv_fields(trimmed).map_err(|p| (line_no, p))?;
            if fields.len() < 3 {
                return Err((
                    line_no,
                    format!(
                        "expected at least 3 columns (token,user,uid), found {}",
                        fields.len()
                    ),
                ));
            }
            let token = fields[0].trim().to_string();
            if token.is_empty() {
                return Err((line_no, "empty token".into()));
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            users.insert(
                token,
                TokenUser {
                    name: fields[1].trim().to_string(),
                    uid: fields[2].trim().to_string(),
                    groups,
                },
            );
        }
        Ok(TokenFile { users })
    }

    pub fn lookup(&self, token: &str) -> Option<&TokenUser> {
        self.users.get(token)
    }
}

/// The `status` of a TokenReview for `review`.
pub fn token_review(tokens: &TokenFile, review: &Value) -> Value {
    let token = review
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let audiences = review
        .pointer("/spec/audiences")
        .cloned()
        .unwrap_or(Value::Null);
    let status = match tokens.lookup(token) {
        Some(user) => {
            let mut groups = user.groups.clone();
            if !groups.iter().any(|g| g == "system:authenticated") {
                groups.push("system:authenticated".into());
            }
            let mut status = json!({
                "authenticated": true,
                "user": {"username": user.name, "uid": user.uid, "groups": groups},
            });
            if let (Some(map), Value::Array(a)) = (status.as_object_mut(), &audiences) {
                map.insert("audiences".into(), Value::Array(a.clone()));
            }
            status
        }
        None => json!({"authenticated": false, "user": {}, "error": "invalid bearer token"}),
    };
    answered(review, "authentication.k8s.io/v1", "TokenReview", status)
}

fn answered(review: &Value, api_version: &str, kind: &str, status: Value) -> Value {
    let mut metadata = review.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = metadata.as_object_mut() {
        m.insert("creationTimestamp".into(), Value::Null);
    }
    json!({
        "kind": kind,
        "apiVersion": api_version,
        "metadata": metadata,
        "spec": review.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": status,
    })
}

pub fn self_subject_access_review(review: &Value) -> Value {
    answered(
        review,
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        json!({"allowed": true, "reason": "megamon sim allows every request"}),
    )
}

fn strs(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Who is asking, and for what.
struct Request<'a> {
    user: &'a str,
    groups: Vec<&'a str>,
    resource: Option<&'a Value>,
    non_resource: Option<&'a Value>,
}

impl Request<'_> {
    fn subject_matches(&self, subject: &Value, binding_ns: &str) -> bool {
        let kind = subject
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = subject
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match kind {
            "User" => name == self.user,
            "Group" => self.groups.contains(&name),
            "ServiceAccount" => {
                let ns = subject
                    .get("namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(binding_ns);
                self.user == format!("system:serviceaccount:{ns}:{name}")
            }
            _ => false,
        }
    }

    fn rule_allows(&self, rule: &Value, cluster_wide: bool) -> bool {
        let verbs = strs(rule.get("verbs"));
        let verb_ok = |verb: &str| verbs.iter().any(|v| *v == "*" || *v == verb);
        if let Some(attrs) = self.resource {
            let get = |k: &str| attrs.get(k).and_then(Value::as_str).unwrap_or_default();
            let resource = match get("subresource") {
                "" => get("resource").to_string(),
                sub => format!("{}/{sub}", get("resource")),
            };
            let groups = strs(rule.get("apiGroups"));
            let resources = strs(rule.get("resources"));
            let names = strs(rule.get("resourceNames"));
            return verb_ok(get("verb"))
                && groups.iter().any(|g| *g == "*" || *g == get("group"))
                && resources.iter().any(|r| {
                    *r == "*"
                        || *r == resource
                        || r.strip_suffix("/*")
                            .is_some_and(|base| base == get("resource"))
                        || r.strip_prefix("*/")
                            .is_some_and(|sub| sub == get("subresource"))
                })
                && (names.is_empty() || names.contains(&get("name")));
        }
        if let Some(attrs) = self.non_resource
            && cluster_wide
        {
            let get = |k: &str| attrs.get(k).and_then(Value::as_str).unwrap_or_default();
            let path = get("path");
            return verb_ok(get("verb"))
                && strs(rule.get("nonResourceURLs")).iter().any(|u| {
                    *u == "*"
                        || *u == path
                        || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
                });
        }
        false
    }
}

fn rules_of(store: &Store, kind: &str, namespace: &str, name: &str) -> Vec<Value> {
    let (resource, ns) = match kind {
        "ClusterRole" => ("rbac.authorization.k8s.io/clusterroles", ""),
        "Role" => ("rbac.authorization.k8s.io/roles", namespace),
        _ => return Vec::new(),
    };
    store
        .get(resource, &(ns.to_string(), name.to_string()))
        .and_then(|s| s.value().ok())
        .and_then(|v| v.get("rules").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

/// Answers a SubjectAccessReview with the policy described at the top of this module.
pub fn subject_access_review(store: &Store, review: &Value) -> Value {
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let request = Request {
        user: spec.get("user").and_then(Value::as_str).unwrap_or_default(),
        groups: strs(spec.get("groups")),
        resource: spec.get("resourceAttributes"),
        non_resource: spec.get("nonResourceAttributes"),
    };
    let decision = decide(store, &request);
    let status = match decision {
        Some(reason) => json!({"allowed": true, "reason": reason}),
        None => json!({"allowed": false, "reason": "no RBAC policy matched"}),
    };
    answered(
        review,
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        status,
    )
}

fn decide(store: &Store, request: &Request<'_>) -> Option<String> {
    if request.groups.contains(&"system:masters") {
        return Some("the user is a member of system:masters".into());
    }
    let bindings = |resource: &str| {
        store
            .all(resource)
            .into_iter()
            .filter_map(|(key, s)| s.value().ok().map(|v| (key.0, v)))
    };
    for (_, binding) in bindings("rbac.authorization.k8s.io/clusterrolebindings") {
        if granted(store, request, &binding, "", true) {
            return Some(format!(
                "allowed by ClusterRoleBinding {:?}",
                binding
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ));
        }
    }
    let namespace = request
        .resource
        .and_then(|r| r.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if namespace.is_empty() {
        return None;
    }
    for (ns, binding) in bindings("rbac.authorization.k8s.io/rolebindings") {
        if ns == namespace && granted(store, request, &binding, namespace, false) {
            return Some(format!(
                "allowed by RoleBinding {:?} in namespace {namespace:?}",
                binding
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ));
        }
    }
    None
}

fn granted(store: &Store, request: &Request<'_>, binding: &Value, ns: &str, cluster: bool) -> bool {
    let subjects = binding.get("subjects").and_then(Value::as_array);
    if !subjects.is_some_and(|s| s.iter().any(|s| request.subject_matches(s, ns))) {
        return false;
    }
    let kind = binding
        .pointer("/roleRef/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = binding
        .pointer("/roleRef/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    rules_of(store, kind, ns, name)
        .iter()
        .any(|rule| request.rule_allows(rule, cluster))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_reads_the_kube_apiserver_format() {
        let file =
            TokenFile::parse("# comment\nsecret1,alice,1001,\"admins,devs\"\nsecret2,bob,1002\n")
                .expect("valid");
        assert_eq!(
            file.lookup("secret1"),
            Some(&TokenUser {
                name: "alice".into(),
                uid: "1001".into(),
                groups: vec!["admins".into(), "devs".into()]
            })
        );
        assert!(file.lookup("secret2").is_some_and(|u| u.groups.is_empty()));
        assert_eq!(TokenFile::parse("x,y\n").expect_err("short").0, 1);
    }
}
