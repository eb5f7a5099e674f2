//! Query parameters as kube-apiserver decodes and validates them: first the
//! `url.Values` conversions of k8s.io/apimachinery (`Convert_url_Values_To_v1_ListOptions`
//! and friends, built on `runtime.Convert_Slice_string_To_*`), where a value that does
//! not convert is a 400 `BadRequest` carrying Go's error text, then `ValidateListOptions`,
//! `ValidateCreateOptions`, `ValidatePatchOptions` and `ValidateDeleteOptions`, whose
//! findings are a 422 `Invalid` on `ListOptions.meta.k8s.io` (or `CreateOptions`, ...).
//!
//! | parameter | read as (upstream) | a bad value |
//! |---|---|---|
//! | `watch`, `allowWatchBookmarks`, `orphanDependents`, `force`, `sendInitialEvents` | bool: absent, `0` or any case of `false` is false, anything else (`yes`, the empty string) is true (`Convert_Slice_string_To_bool`, `..._Pointer_bool`) | never an error |
//! | `timeoutSeconds`, `limit`, `gracePeriodSeconds` | `strconv.ParseInt(v, 10, 64)` | 400 `strconv.ParseInt: parsing "x": invalid syntax` / `value out of range` |
//! | `resourceVersion`, `continue`, `labelSelector`, `fieldSelector` | strings, parsed where used | 400 from the parser |
//! | `resourceVersionMatch`, `sendInitialEvents` | `ValidateListOptions` | 422 |
//! | `dryRun` (repeatable) | every value must be `All` | 422 `Unsupported value` |
//! | `fieldManager` | at most 128 bytes, printable | 422 |
//! | `fieldValidation` | `""`, `Ignore`, `Warn`, `Strict` (case-sensitive) | 422 `Unsupported value` |
//! | `propagationPolicy` | `Foreground`, `Background`, `Orphan` | 422 `Unsupported value` |
//! | `pretty` | `strconv.ParseBool`; anything else is false | never an error |
//! | `includeObject` (Table requests) | `None`, `Metadata`, `Object` | 400 `Unable to convert to Table as requested: ...` |
//!
//! Repeated parameters: the first value counts, as `Convert_Slice_string_To_*` read
//! `values[0]`. DELETE reads its options from the query only when the body is empty.

use serde_json::Value;

use crate::error::ApiError;
use crate::request::{Query, parse_body};

const EXACT: &str = "Exact";
const NOT_OLDER_THAN: &str = "NotOlderThan";

/// One `field.Error` of upstream's validation, as its `Error()` text prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    /// The Status cause reason (`FieldValueForbidden`, ...).
    pub reason: &'static str,
    /// `Forbidden: ...`, `Unsupported value: ...`: upstream's `ErrorBody()`.
    pub body: String,
}

impl FieldProblem {
    fn forbidden(field: &'static str, detail: &str) -> Self {
        FieldProblem {
            field,
            reason: "FieldValueForbidden",
            body: format!("Forbidden: {detail}"),
        }
    }

    fn required(field: &'static str, detail: &str) -> Self {
        FieldProblem {
            field,
            reason: "FieldValueRequired",
            body: format!("Required value: {detail}"),
        }
    }

    fn invalid(field: &'static str, value: &str, detail: &str) -> Self {
        FieldProblem {
            field,
            reason: "FieldValueInvalid",
            body: format!("Invalid value: {}: {detail}", go_quote(value)),
        }
    }

    fn too_long(field: &'static str, max: usize) -> Self {
        FieldProblem {
            field,
            reason: "FieldValueTooLong",
            body: format!("Too long: may not be more than {max} bytes"),
        }
    }

    /// `value` is already printed the way Go's `%q` / `%#v` prints it.
    fn not_supported(field: &'static str, value: String, supported: &[&str]) -> Self {
        let supported: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
        FieldProblem {
            field,
            reason: "FieldValueNotSupported",
            body: format!(
                "Unsupported value: {value}: supported values: {}",
                supported.join(", ")
            ),
        }
    }
}

/// `%q`-like quoting, close enough to Go's for the values clients send.
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// The 422 `Invalid` error upstream builds with `errors.NewInvalid(GroupKind{meta.k8s.io, kind}, "", errs)`.
pub fn invalid_options(kind: &str, problems: &[FieldProblem]) -> ApiError {
    let texts: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.body))
        .collect();
    // utilerrors.Aggregate prints one error bare and several in brackets.
    let aggregate = match texts.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    let causes: Vec<Value> = problems
        .iter()
        .map(|p| serde_json::json!({"reason": p.reason, "message": p.body, "field": p.field}))
        .collect();
    let mut err = ApiError::new(
        422,
        "Invalid",
        format!("{kind}.meta.k8s.io \"\" is invalid: {aggregate}"),
    );
    err.details = Some(serde_json::json!({
        "group": "meta.k8s.io", "kind": kind, "causes": causes,
    }));
    err
}

fn check(kind: &str, problems: Vec<FieldProblem>) -> Result<(), ApiError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(invalid_options(kind, &problems))
    }
}

/// `strconv.ParseInt(s, 10, 64)`, with Go's error text.
pub fn parse_int64(s: &str) -> Result<i64, String> {
    s.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        format!("strconv.ParseInt: parsing {}: {why}", go_quote(s))
    })
}

/// `Convert_Slice_string_To_bool` on one value.
pub fn parse_bool(s: &str) -> bool {
    !(s == "0" || s.eq_ignore_ascii_case("false"))
}

impl Query {
    /// A boolean parameter: false when absent.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(parse_bool)
    }

    /// A `*bool` parameter: `None` when absent.
    pub fn optional_flag(&self, key: &str) -> Option<bool> {
        self.get(key).map(parse_bool)
    }

    /// An int64 parameter; `None` when absent; 400 when it does not parse.
    pub fn int64(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|v| parse_int64(v).map_err(ApiError::bad_request))
            .transpose()
    }

    /// `?pretty=`: Go's `strconv.ParseBool`, where anything it refuses is false.
    pub fn pretty(&self) -> bool {
        matches!(
            self.get("pretty"),
            Some("1" | "t" | "T" | "TRUE" | "true" | "True")
        )
    }

    /// Every `dryRun` value, checked.
    fn dry_run_values(&self, problems: &mut Vec<FieldProblem>) -> bool {
        dry_run_check(self.values("dryRun"), problems)
    }
}

fn dry_run_check(values: &[String], problems: &mut Vec<FieldProblem>) -> bool {
    if values.iter().any(|v| v != "All") {
        let printed: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
        problems.push(FieldProblem::not_supported(
            "dryRun",
            format!("[]string{{{}}}", printed.join(", ")),
            &["All"],
        ));
    }
    !values.is_empty()
}

/// The options of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label_selector: String,
    pub field_selector: String,
    pub watch: bool,
    pub allow_watch_bookmarks: bool,
    pub resource_version: String,
    pub resource_version_match: String,
    pub timeout_seconds: Option<i64>,
    pub limit: i64,
    pub continue_token: String,
    pub send_initial_events: Option<bool>,
}

impl ListOptions {
    /// Decodes (400 on a value that does not convert) and validates (422).
    pub fn from_query(query: &Query) -> Result<ListOptions, ApiError> {
        let text = |key: &str| query.get(key).unwrap_or_default().to_string();
        let options = ListOptions {
            label_selector: text("labelSelector"),
            field_selector: text("fieldSelector"),
            watch: query.flag("watch"),
            allow_watch_bookmarks: query.flag("allowWatchBookmarks"),
            resource_version: text("resourceVersion"),
            resource_version_match: text("resourceVersionMatch"),
            timeout_seconds: query.int64("timeoutSeconds")?,
            limit: query.int64("limit")?.unwrap_or(0),
            continue_token: text("continue"),
            send_initial_events: query.optional_flag("sendInitialEvents"),
        };
        check("ListOptions", options.problems())?;
        Ok(options)
    }

    /// `ValidateListOptions` (with the WatchList feature on, as in 1.32).
    fn problems(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        let rvm = self.resource_version_match.as_str();
        if self.watch {
            if self.send_initial_events.is_some() && rvm != NOT_OLDER_THAN {
                problems.push(FieldProblem::forbidden(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                ));
            }
            if self.send_initial_events == Some(true) && !self.allow_watch_bookmarks {
                problems.push(FieldProblem::forbidden(
                    "allowWatchBookmarks",
                    "sendInitialEvents requires setting allowWatchBookmarks=true",
                ));
            }
            if !rvm.is_empty() {
                if self.send_initial_events.is_none() {
                    problems.push(FieldProblem::forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                    ));
                }
                if rvm != NOT_OLDER_THAN {
                    problems.push(FieldProblem::not_supported(
                        "resourceVersionMatch",
                        go_quote(rvm),
                        &[NOT_OLDER_THAN],
                    ));
                }
                if !self.continue_token.is_empty() {
                    problems.push(FieldProblem::forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden when continue is provided",
                    ));
                }
            }
            return problems;
        }
        if !rvm.is_empty() {
            if self.resource_version.is_empty() {
                problems.push(FieldProblem::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if !self.continue_token.is_empty() {
                problems.push(FieldProblem::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if rvm != EXACT && rvm != NOT_OLDER_THAN {
                problems.push(FieldProblem::not_supported(
                    "resourceVersionMatch",
                    go_quote(rvm),
                    &[EXACT, NOT_OLDER_THAN, ""],
                ));
            }
            if rvm == EXACT && self.resource_version == "0" {
                problems.push(FieldProblem::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if self.send_initial_events.is_some() {
            problems.push(FieldProblem::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            ));
        }
        problems
    }

    /// `limit`, when it asks for pages (zero and negative values do not).
    pub fn page_size(&self) -> Option<usize> {
        usize::try_from(self.limit).ok().filter(|l| *l > 0)
    }
}

/// `TableOptions` (`includeObject`), read only when a Table is asked for; upstream
/// answers a bad value with 400 (`ValidateTableOptions` in its table conversion).
pub fn check_table_options(query: &Query) -> Result<(), ApiError> {
    let value = query.get("includeObject").unwrap_or_default();
    if matches!(value, "" | "None" | "Metadata" | "Object") {
        return Ok(());
    }
    let problem = FieldProblem::not_supported(
        "includeObject",
        go_quote(value),
        &["Metadata", "None", "Object", ""],
    );
    Err(ApiError::bad_request(format!(
        "Unable to convert to Table as requested: {}: {}",
        problem.field, problem.body
    )))
}

/// Which write a `WriteOptions` is for: upstream validates each with its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteVerb {
    Create,
    Update,
    /// A PATCH; `true` for server-side apply.
    Patch {
        apply: bool,
    },
}

/// `CreateOptions`, `UpdateOptions` or `PatchOptions`, as far as the simulator acts
/// on them (`fieldValidation` and `force` are checked, then have nothing to change:
/// objects are stored as given and apply reports no conflicts).
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: String,
}

impl WriteOptions {
    pub fn from_query(query: &Query, verb: WriteVerb) -> Result<WriteOptions, ApiError> {
        let mut problems = Vec::new();
        let dry_run = query.dry_run_values(&mut problems);
        let field_manager = query.get("fieldManager").unwrap_or_default().to_string();
        let field_validation = query.get("fieldValidation").unwrap_or_default().to_string();
        let force = query.optional_flag("force");
        let kind = match verb {
            WriteVerb::Create => "CreateOptions",
            WriteVerb::Update => "UpdateOptions",
            WriteVerb::Patch { apply } => {
                if !apply && force.is_some() {
                    problems.push(FieldProblem::forbidden(
                        "force",
                        "may not be specified for non-apply patch",
                    ));
                }
                if apply && field_manager.is_empty() {
                    problems.push(FieldProblem::required(
                        "fieldManager",
                        "is required for apply patch",
                    ));
                }
                "PatchOptions"
            }
        };
        // ValidateFieldManager.
        if field_manager.len() > 128 {
            problems.push(FieldProblem::too_long("fieldManager", 128));
        }
        for (i, c) in field_manager.char_indices() {
            if c.is_control() {
                problems.push(FieldProblem::invalid(
                    "fieldManager",
                    &field_manager,
                    &format!("invalid character U+{:04X} (at position {i})", u32::from(c)),
                ));
            }
        }
        if !matches!(field_validation.as_str(), "" | "Ignore" | "Warn" | "Strict") {
            problems.push(FieldProblem::not_supported(
                "fieldValidation",
                go_quote(&field_validation),
                &["", "Ignore", "Strict", "Warn"],
            ));
        }
        check(kind, problems)?;
        Ok(WriteOptions {
            dry_run,
            field_manager,
        })
    }
}

/// `DeleteOptions`, from the body when there is one, else from the query.
/// `gracePeriodSeconds` is checked but changes nothing: deletions are immediate (and
/// upstream reads a negative one as 1 s).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub propagation_policy: Option<String>,
    pub orphan_dependents: Option<bool>,
    pub preconditions: Option<Value>,
}

impl DeleteOptions {
    pub fn read(query: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
        let mut problems = Vec::new();
        let options = if body.iter().all(u8::is_ascii_whitespace) {
            query.int64("gracePeriodSeconds")?;
            DeleteOptions {
                dry_run: query.dry_run_values(&mut problems),
                propagation_policy: query.get("propagationPolicy").map(str::to_string),
                orphan_dependents: query.optional_flag("orphanDependents"),
                preconditions: None,
            }
        } else {
            Self::from_body(body, &mut problems)?
        };
        if options.orphan_dependents.is_some()
            && let Some(policy) = &options.propagation_policy
        {
            problems.push(FieldProblem::invalid(
                "propagationPolicy",
                policy,
                "orphanDependents and deletionPropagation cannot be both set",
            ));
        }
        if let Some(policy) = &options.propagation_policy
            && !matches!(policy.as_str(), "Foreground" | "Background" | "Orphan")
        {
            problems.push(FieldProblem::not_supported(
                "propagationPolicy",
                go_quote(policy),
                &["Foreground", "Background", "Orphan", "nil"],
            ));
        }
        check("DeleteOptions", problems)?;
        Ok(options)
    }

    fn from_body(body: &[u8], problems: &mut Vec<FieldProblem>) -> Result<Self, ApiError> {
        let value = parse_body("application/json", body)?;
        let Some(map) = value.as_object() else {
            return Err(ApiError::bad_request("DeleteOptions must be a JSON object"));
        };
        let wrong = |field: &str, want: &str| {
            ApiError::bad_request(format!(
                "json: cannot unmarshal DeleteOptions.{field}: expected {want}"
            ))
        };
        let dry_run: Vec<String> = match map.get("dryRun") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| wrong("dryRun", "a list of strings"))?,
            Some(_) => return Err(wrong("dryRun", "a list of strings")),
        };
        if map
            .get("gracePeriodSeconds")
            .is_some_and(|v| !v.is_null() && !v.is_i64())
        {
            return Err(wrong("gracePeriodSeconds", "an integer"));
        }
        let propagation_policy = match map.get("propagationPolicy") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| wrong("propagationPolicy", "a string"))?
                    .to_string(),
            ),
        };
        let orphan_dependents = match map.get("orphanDependents") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_bool()
                    .ok_or_else(|| wrong("orphanDependents", "a boolean"))?,
            ),
        };
        Ok(DeleteOptions {
            dry_run: dry_run_check(&dry_run, problems),
            propagation_policy,
            orphan_dependents,
            preconditions: map.get("preconditions").filter(|p| !p.is_null()).cloned(),
        })
    }

    /// Whether dependents are to be left alone.
    pub fn orphan(&self) -> bool {
        self.propagation_policy.as_deref() == Some("Orphan") || self.orphan_dependents == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(raw: &str) -> Query {
        Query::parse(Some(raw))
    }

    #[test]
    fn booleans_convert_as_apimachinery_does() {
        for (raw, want) in [
            ("watch=true", true),
            ("watch=True", true),
            ("watch=1", true),
            ("watch=yes", true),
            ("watch=", true),
            ("watch", true),
            ("watch=false", false),
            ("watch=FALSE", false),
            ("watch=0", false),
            ("other=1", false),
            ("watch=0&watch=1", false),
        ] {
            assert_eq!(query(raw).flag("watch"), want, "{raw}");
        }
    }

    #[test]
    fn integers_parse_as_go_parse_int() {
        assert_eq!(query("limit=%2B5").int64("limit").expect("ok"), Some(5));
        assert_eq!(query("limit=-5").int64("limit").expect("ok"), Some(-5));
        let err = query("limit=ten").int64("limit").expect_err("bad");
        assert_eq!(
            (err.code, err.message.as_str()),
            (400, r#"strconv.ParseInt: parsing "ten": invalid syntax"#)
        );
        let err = query("limit=9223372036854775808")
            .int64("limit")
            .expect_err("too big");
        assert!(err.message.ends_with("value out of range"), "{err}");
        assert!(query("limit=").int64("limit").is_err());
    }

    #[test]
    fn list_options_validate_as_upstream() {
        let err = ListOptions::from_query(&query("resourceVersionMatch=Exact")).expect_err("no rv");
        assert_eq!(
            err.message,
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
        );
        let err = ListOptions::from_query(&query("resourceVersion=5&resourceVersionMatch=bogus"))
            .expect_err("bad match");
        assert_eq!(
            err.message,
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Unsupported value: \"bogus\": supported values: \"Exact\", \"NotOlderThan\", \"\""
        );
        let err = ListOptions::from_query(&query("watch=1&sendInitialEvents=true"))
            .expect_err("two problems");
        assert!(
            err.message.contains(": [resourceVersionMatch: Forbidden"),
            "{err}"
        );
        assert_eq!(err.code, 422);
    }

    #[test]
    fn write_and_delete_options_validate_as_upstream() {
        let err = WriteOptions::from_query(&query("dryRun=bogus"), WriteVerb::Create)
            .expect_err("bad dry run");
        assert_eq!(
            err.message,
            "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"bogus\"}: supported values: \"All\""
        );
        let err = WriteOptions::from_query(&query("fieldValidation=strict"), WriteVerb::Update)
            .expect_err("case matters");
        assert!(
            err.message.starts_with("UpdateOptions.meta.k8s.io"),
            "{err}"
        );
        let ok = WriteOptions::from_query(
            &query("dryRun=All&fieldManager=me&force=true"),
            WriteVerb::Patch { apply: true },
        )
        .expect("valid apply");
        assert!(ok.dry_run && ok.field_manager == "me");
        assert!(
            WriteOptions::from_query(&query("force=true"), WriteVerb::Patch { apply: false })
                .is_err()
        );
        let err = DeleteOptions::read(&query("propagationPolicy=Sideways"), b"").expect_err("bad");
        assert!(
            err.message
                .contains("supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""),
            "{err}"
        );
        let body = br#"{"propagationPolicy":"Orphan"}"#;
        assert!(
            DeleteOptions::read(&query("propagationPolicy=Sideways"), body)
                .expect("the body wins")
                .orphan()
        );
        assert!(DeleteOptions::read(&query("gracePeriodSeconds=-1"), b"").is_ok());
        assert_eq!(
            DeleteOptions::read(&query("gracePeriodSeconds=soon"), b"")
                .expect_err("not a number")
                .code,
            400
        );
    }
}
