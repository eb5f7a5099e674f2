//! The registry of served resources: built-in kinds and those defined by CRDs.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

/// What a resource is beyond plain storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// Stored objects with the usual verbs.
    None,
    /// `namespaces`: deleting one deletes its contents.
    Namespace,
    /// `customresourcedefinitions`: creating one serves new resources.
    Crd,
    /// `tokenreviews`: create-only, answered from the token file.
    TokenReview,
    /// `subjectaccessreviews` and `selfsubjectaccessreviews`: create-only.
    SubjectAccessReview,
    SelfSubjectAccessReview,
}

/// A CRD `additionalPrinterColumns` entry (or a built-in equivalent).
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub column_type: String,
    pub json_path: String,
    pub description: String,
    pub priority: i64,
}

/// One served resource at one version.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// `/status` is a subresource: main writes ignore `.status`, `/status` writes only it.
    pub status_subresource: bool,
    /// Keep `.status` given on create (nodes: kubelets register with a status).
    pub keep_status_on_create: bool,
    /// Built-in kind: strategic merge patch is accepted.
    pub builtin: bool,
    pub special: Special,
    /// Field selectors accepted besides `metadata.name` and `metadata.namespace`.
    pub selectable_fields: Vec<String>,
    /// Extra table columns (CRD `additionalPrinterColumns`); empty means Name and Age.
    pub printer_columns: Vec<PrinterColumn>,
    /// For CRD resources: the CRD's name.
    pub crd_name: Option<String>,
    /// For deprecated CRD versions: the warning every response carries.
    pub deprecation_warning: Option<String>,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The key objects are stored under: the same for every version of a resource.
    pub fn storage_key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn is_review(&self) -> bool {
        matches!(
            self.special,
            Special::TokenReview | Special::SubjectAccessReview | Special::SelfSubjectAccessReview
        )
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        if self.is_review() {
            vec!["create"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }

    /// Whether `field` may be used in a field selector for this resource.
    pub fn field_selectable(&self, field: &str) -> bool {
        field == "metadata.name"
            || (field == "metadata.namespace" && self.namespaced)
            || self.selectable_fields.iter().any(|f| f == field)
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short_names: &[&str],
    status_subresource: bool,
    selectable: &[&str],
) -> ResourceDef {
    ResourceDef {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        namespaced,
        short_names: short_names.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        status_subresource,
        keep_status_on_create: false,
        builtin: true,
        special: Special::None,
        selectable_fields: selectable.iter().map(|s| s.to_string()).collect(),
        printer_columns: Vec::new(),
        crd_name: None,
        deprecation_warning: None,
    }
}

/// The built-in resources this simulator serves.
pub fn builtin_resources() -> Vec<ResourceDef> {
    let mut defs = vec![
        builtin(
            "",
            "v1",
            "namespaces",
            "Namespace",
            false,
            &["ns"],
            true,
            &["status.phase"],
        ),
        builtin(
            "",
            "v1",
            "nodes",
            "Node",
            false,
            &["no"],
            true,
            &["spec.unschedulable"],
        ),
        builtin(
            "",
            "v1",
            "pods",
            "Pod",
            true,
            &["po"],
            true,
            &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ],
        ),
        builtin(
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            true,
            &["cm"],
            false,
            &[],
        ),
        builtin("", "v1", "secrets", "Secret", true, &[], false, &["type"]),
        builtin(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            true,
            &["sa"],
            false,
            &[],
        ),
        builtin("", "v1", "services", "Service", true, &["svc"], true, &[]),
        builtin(
            "",
            "v1",
            "events",
            "Event",
            true,
            &["ev"],
            false,
            &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
        ),
        builtin(
            "events.k8s.io",
            "v1",
            "events",
            "Event",
            true,
            &["ev"],
            false,
            &[
                "regarding.kind",
                "regarding.namespace",
                "regarding.name",
                "regarding.uid",
                "reason",
                "reportingController",
                "type",
            ],
        ),
        builtin(
            "batch",
            "v1",
            "jobs",
            "Job",
            true,
            &[],
            true,
            &["status.successful"],
        ),
        builtin(
            "batch",
            "v1",
            "cronjobs",
            "CronJob",
            true,
            &["cj"],
            true,
            &[],
        ),
        builtin(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            true,
            &["deploy"],
            true,
            &[],
        ),
        builtin(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            true,
            &[],
            false,
            &[],
        ),
        builtin(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
            &["pdb"],
            true,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "Role",
            true,
            &[],
            false,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
            &[],
            false,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
            &[],
            false,
            &[],
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            &[],
            false,
            &[],
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            true,
            &[],
        ),
        builtin(
            "authentication.k8s.io",
            "v1",
            "tokenreviews",
            "TokenReview",
            false,
            &[],
            false,
            &[],
        ),
        builtin(
            "authorization.k8s.io",
            "v1",
            "subjectaccessreviews",
            "SubjectAccessReview",
            false,
            &[],
            false,
            &[],
        ),
        builtin(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
            &[],
            false,
            &[],
        ),
    ];
    for def in &mut defs {
        match def.plural.as_str() {
            "namespaces" => def.special = Special::Namespace,
            "nodes" => def.keep_status_on_create = true,
            "customresourcedefinitions" => def.special = Special::Crd,
            "tokenreviews" => def.special = Special::TokenReview,
            "subjectaccessreviews" => def.special = Special::SubjectAccessReview,
            "selfsubjectaccessreviews" => def.special = Special::SelfSubjectAccessReview,
            "pods" | "services" | "deployments" | "jobs" | "cronjobs" => {
                def.categories = vec!["all".into()]
            }
            _ => {}
        }
    }
    defs
}

/// Why a CRD object cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdError {
    pub field: String,
    pub problem: String,
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut at = value;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str()
}

fn strings_at(value: &Value, path: &[&str]) -> Vec<String> {
    let mut at = value;
    for key in path {
        match at.get(key) {
            Some(next) => at = next,
            None => return Vec::new(),
        }
    }
    at.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The resources a CRD object defines, one per served version.
pub fn crd_resources(crd: &Value) -> Result<Vec<ResourceDef>, CrdError> {
    let err = |field: &str, problem: &str| CrdError {
        field: field.into(),
        problem: problem.into(),
    };
    let group = str_at(crd, &["spec", "group"])
        .filter(|g| !g.is_empty())
        .ok_or_else(|| err("spec.group", "Required value"))?;
    let plural = str_at(crd, &["spec", "names", "plural"])
        .filter(|p| !p.is_empty())
        .ok_or_else(|| err("spec.names.plural", "Required value"))?;
    let kind = str_at(crd, &["spec", "names", "kind"])
        .filter(|k| !k.is_empty())
        .ok_or_else(|| err("spec.names.kind", "Required value"))?;
    let name = str_at(crd, &["metadata", "name"]).unwrap_or_default();
    if name != format!("{plural}.{group}") {
        return Err(err(
            "metadata.name",
            &format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let singular = str_at(crd, &["spec", "names", "singular"])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let list_kind = str_at(crd, &["spec", "names", "listKind"])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kind}List"));
    let namespaced = match str_at(crd, &["spec", "scope"]) {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => {
            return Err(err(
                "spec.scope",
                "Unsupported value: must be \"Cluster\" or \"Namespaced\"",
            ));
        }
    };
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| err("spec.versions", "Required value"))?;
    let mut defs = Vec::new();
    for (i, version) in versions.iter().enumerate() {
        let vname = version
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| err(&format!("spec.versions[{i}].name"), "Required value"))?;
        if !version
            .get("served")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            continue;
        }
        let printer_columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .filter_map(|c| {
                        Some(PrinterColumn {
                            name: c.get("name")?.as_str()?.to_string(),
                            column_type: c
                                .get("type")
                                .and_then(Value::as_str)
                                .unwrap_or("string")
                                .to_string(),
                            json_path: c.get("jsonPath")?.as_str()?.to_string(),
                            description: c
                                .get("description")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let selectable_fields = version
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| f.get("jsonPath")?.as_str())
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect()
            })
            .unwrap_or_default();
        defs.push(ResourceDef {
            group: group.into(),
            version: vname.into(),
            plural: plural.into(),
            singular: singular.clone(),
            kind: kind.into(),
            list_kind: list_kind.clone(),
            namespaced,
            short_names: strings_at(crd, &["spec", "names", "shortNames"]),
            categories: strings_at(crd, &["spec", "names", "categories"]),
            status_subresource: version.pointer("/subresources/status").is_some(),
            keep_status_on_create: false,
            builtin: false,
            special: Special::None,
            selectable_fields,
            printer_columns,
            crd_name: Some(name.to_string()),
            deprecation_warning: version
                .get("deprecated")
                .and_then(Value::as_bool)
                .filter(|d| *d)
                .map(|_| {
                    version
                        .get("deprecationWarning")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{group}/{vname} {kind} is deprecated"))
                }),
        });
    }
    Ok(defs)
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first, then others.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn rank(v: &str) -> (u8, u64, u64, String) {
        let Some(rest) = v.strip_prefix('v') else {
            return (0, 0, 0, v.to_string());
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(major) = digits.parse::<u64>() else {
            return (0, 0, 0, v.to_string());
        };
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return (3, major, 0, String::new());
        }
        for (prefix, level) in [("beta", 2u8), ("alpha", 1u8)] {
            if let Some(n) = tail.strip_prefix(prefix)
                && let Ok(minor) = n.parse::<u64>()
            {
                return (level, major, minor, String::new());
            }
        }
        (0, 0, 0, v.to_string())
    }
    let (ra, rb) = (rank(a), rank(b));
    // Higher rank first; among unranked, alphabetical.
    rb.0.cmp(&ra.0)
        .then(rb.1.cmp(&ra.1))
        .then(rb.2.cmp(&ra.2))
        .then(ra.3.cmp(&rb.3))
}

/// A served group with its versions, preferred first.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub name: String,
    pub versions: Vec<String>,
}

#[derive(Default)]
struct Inner {
    /// (group, version, plural) → definition.
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceDef>>,
    /// Group names in the order they were first served.
    group_order: Vec<String>,
    /// Bumped on every change, so OpenAPI hashes change with the served set.
    generation: u64,
}

/// Everything served, shared by handlers; CRD writes change it.
#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let registry = Registry::default();
        for def in builtin_resources() {
            registry.add(def);
        }
        registry
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, def: ResourceDef) {
        let mut inner = self.write();
        if !inner.group_order.contains(&def.group) {
            inner.group_order.push(def.group.clone());
        }
        inner.by_gvr.insert(
            (def.group.clone(), def.version.clone(), def.plural.clone()),
            Arc::new(def),
        );
        inner.generation += 1;
    }

    /// Replaces everything defined by the CRD `crd_name` with `defs`.
    pub fn set_crd(&self, crd_name: &str, defs: Vec<ResourceDef>) {
        self.remove_crd(crd_name);
        for def in defs {
            self.add(def);
        }
    }

    pub fn remove_crd(&self, crd_name: &str) {
        let mut inner = self.write();
        inner
            .by_gvr
            .retain(|_, def| def.crd_name.as_deref() != Some(crd_name));
        let groups: Vec<String> = inner.by_gvr.keys().map(|k| k.0.clone()).collect();
        inner.group_order.retain(|g| groups.contains(g));
        inner.generation += 1;
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.read()
            .by_gvr
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Any served version of the resource stored under `storage_key`.
    pub fn any_version_of(&self, group: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.read()
            .by_gvr
            .values()
            .find(|d| d.group == group && d.plural == plural)
            .cloned()
    }

    /// The resource serving `kind` at `group`/`version`.
    pub fn find_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        self.read()
            .by_gvr
            .values()
            .find(|d| d.group == group && d.version == version && d.kind == kind)
            .cloned()
    }

    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    /// Resources served at one group version.
    pub fn resources_of(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.read()
            .by_gvr
            .values()
            .filter(|d| d.group == group && d.version == version)
            .cloned()
            .collect()
    }

    /// Served groups (core group `""` included) with versions, preferred first.
    pub fn groups(&self) -> Vec<GroupInfo> {
        let inner = self.read();
        inner
            .group_order
            .iter()
            .map(|group| {
                let mut versions: Vec<String> = inner
                    .by_gvr
                    .keys()
                    .filter(|k| &k.0 == group)
                    .map(|k| k.1.clone())
                    .collect();
                versions.dedup();
                versions.sort_by(|a, b| compare_versions(a, b));
                versions.dedup();
                GroupInfo {
                    name: group.clone(),
                    versions,
                }
            })
            .filter(|g| !g.versions.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priority_follows_kubernetes() {
        let mut v = vec![
            "v1alpha1", "v1", "v2beta1", "v1beta2", "foo", "v1beta1", "v2",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            vec![
                "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"
            ]
        );
    }

    #[test]
    fn crd_defines_one_resource_per_served_version() {
        let crd: Value =
            serde_saphyr::from_str(include_str!("../crds/accelerator.gke.io_slices.yaml"))
                .expect("slice CRD parses");
        let defs = crd_resources(&crd).expect("slice CRD is valid");
        assert_eq!(defs.len(), 2);
        assert!(defs.iter().all(|d| !d.namespaced && d.status_subresource));
        assert_eq!(defs[0].printer_columns.len(), 4);
    }
}
