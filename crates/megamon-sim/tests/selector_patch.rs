//! Tests of the selector and patch modules through their public API.

use megamon_sim::patch::{
    AtomicListsSchema, BuiltinSchema, ListStrategy, MergeSchema, PatchError, apply_patch,
    apply_patch_at, json_patch, merge_patch, strategic_merge_patch,
};
use megamon_sim::selector::{
    FieldOperator, FieldSelector, LabelOperator, LabelSelector, SelectorError, escape_field_value,
};
use serde_json::{Map, Value, json};

// ===========================================================================
// Label selectors
// ===========================================================================

fn labels(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn sel(s: &str) -> LabelSelector {
    LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn err(s: &str) -> String {
    match LabelSelector::parse(s) {
        Ok(p) => panic!("{s:?} should not parse, got {p:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn empty_label_selector_matches_everything() {
    for s in ["", "   ", "\t\n"] {
        let l = sel(s);
        assert!(l.is_empty());
        assert!(l.matches(None));
        assert!(l.matches(Some(&labels(json!({"a": "b"})))));
    }
}

#[test]
fn equality_operators() {
    let web = labels(json!({"app": "web", "tier": "fe"}));
    let db = labels(json!({"app": "db"}));
    for s in ["app=web", "app==web", " app = web ", "app  ==  web"] {
        let l = sel(s);
        assert!(l.matches(Some(&web)), "{s}");
        assert!(!l.matches(Some(&db)), "{s}");
        assert!(!l.matches(None), "{s}");
    }
    assert_eq!(sel("app=web").requirements()[0].op, LabelOperator::Equals);
    assert_eq!(
        sel("app==web").requirements()[0].op,
        LabelOperator::DoubleEquals
    );

    let ne = sel("app!=web");
    assert_eq!(ne.requirements()[0].op, LabelOperator::NotEquals);
    assert!(!ne.matches(Some(&web)));
    assert!(ne.matches(Some(&db)));
    // != matches objects without the key, and objects without labels at all.
    assert!(ne.matches(Some(&labels(json!({"other": "x"})))));
    assert!(ne.matches(None));
}

#[test]
fn empty_value_equality() {
    let l = sel("app=");
    assert_eq!(l.requirements()[0].values, vec![String::new()]);
    assert!(l.matches(Some(&labels(json!({"app": ""})))));
    assert!(!l.matches(Some(&labels(json!({"app": "x"})))));
    assert!(!l.matches(None));
    let l = sel("a=,b= ");
    assert_eq!(l.requirements().len(), 2);
}

#[test]
fn set_operators() {
    let l = sel("env in (prod, staging)");
    assert_eq!(l.requirements()[0].op, LabelOperator::In);
    assert_eq!(l.requirements()[0].values, vec!["prod", "staging"]);
    assert!(l.matches(Some(&labels(json!({"env": "prod"})))));
    assert!(l.matches(Some(&labels(json!({"env": "staging"})))));
    assert!(!l.matches(Some(&labels(json!({"env": "dev"})))));
    assert!(!l.matches(None));

    let l = sel("env notin (prod,staging)");
    assert_eq!(l.requirements()[0].op, LabelOperator::NotIn);
    assert!(!l.matches(Some(&labels(json!({"env": "prod"})))));
    assert!(l.matches(Some(&labels(json!({"env": "dev"})))));
    // notin matches objects without the key.
    assert!(l.matches(Some(&labels(json!({"x": "y"})))));
    assert!(l.matches(None));

    // Values are sorted and de-duplicated like upstream's sets.String.
    assert_eq!(
        sel("k in (c,a,b,a)").requirements()[0].values,
        vec!["a", "b", "c"]
    );
    // "in" and "notin" are ordinary identifiers in value and key positions.
    assert!(sel("k in (in,notin)").matches(Some(&labels(json!({"k": "notin"})))));
    assert!(sel("in").matches(Some(&labels(json!({"in": "x"})))));
    assert!(sel("k=in").matches(Some(&labels(json!({"k": "in"})))));
}

#[test]
fn empty_value_set_follows_upstream() {
    // Upstream's parser turns `()` into the set {""} (`handles "()"` in parseValues), so
    // `x in ()` is accepted and means `x in ("")`; `notin ()` likewise. The empty-set
    // error of NewRequirement cannot be reached from the string syntax.
    let l = sel("x in ()");
    assert_eq!(l.requirements()[0].values, vec![String::new()]);
    assert!(l.matches(Some(&labels(json!({"x": ""})))));
    assert!(!l.matches(Some(&labels(json!({"x": "a"})))));
    assert!(!l.matches(None));
    let l = sel("x notin ( )");
    assert!(l.matches(Some(&labels(json!({"x": "a"})))));
    assert!(!l.matches(Some(&labels(json!({"x": ""})))));
    // Empty members in a list: (a,,b), (,a), (a,).
    assert_eq!(
        sel("x in (a,,b)").requirements()[0].values,
        vec!["", "a", "b"]
    );
    assert_eq!(sel("x in (,a)").requirements()[0].values, vec!["", "a"]);
    assert_eq!(sel("x in (a,)").requirements()[0].values, vec!["", "a"]);
}

#[test]
fn exists_and_does_not_exist() {
    let l = sel("gpu");
    assert_eq!(l.requirements()[0].op, LabelOperator::Exists);
    assert!(l.matches(Some(&labels(json!({"gpu": ""})))));
    assert!(!l.matches(Some(&labels(json!({"cpu": "1"})))));
    assert!(!l.matches(None));

    for s in ["!gpu", "! gpu", "  !gpu  "] {
        let l = sel(s);
        assert_eq!(l.requirements()[0].op, LabelOperator::DoesNotExist);
        assert!(!l.matches(Some(&labels(json!({"gpu": "x"})))));
        assert!(l.matches(Some(&labels(json!({"cpu": "1"})))));
        assert!(l.matches(None));
    }
}

#[test]
fn greater_and_less_than() {
    let l = sel("replicas>2");
    assert_eq!(l.requirements()[0].op, LabelOperator::GreaterThan);
    assert!(l.matches(Some(&labels(json!({"replicas": "3"})))));
    assert!(!l.matches(Some(&labels(json!({"replicas": "2"})))));
    assert!(!l.matches(Some(&labels(json!({"replicas": "abc"})))));
    assert!(!l.matches(None));
    let l = sel("replicas < 2");
    assert_eq!(l.requirements()[0].op, LabelOperator::LessThan);
    assert!(l.matches(Some(&labels(json!({"replicas": "1"})))));
    assert!(l.matches(Some(&labels(json!({"replicas": "-5"})))));
    assert!(!l.matches(Some(&labels(json!({"replicas": "2"})))));
    let l = sel("a>1,a<5");
    assert!(l.matches(Some(&labels(json!({"a": "3"})))));
    assert!(!l.matches(Some(&labels(json!({"a": "5"})))));
}

#[test]
fn requirements_are_anded_and_sorted_by_key() {
    let l = sel("tier=fe, app in (web,api),!legacy");
    let keys: Vec<&str> = l.requirements().iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, vec!["app", "legacy", "tier"]);
    assert!(l.matches(Some(&labels(json!({"app": "web", "tier": "fe"})))));
    assert!(!l.matches(Some(&labels(json!({"app": "web", "tier": "be"})))));
    assert!(!l.matches(Some(&labels(
        json!({"app": "web", "tier": "fe", "legacy": "1"})
    ))));
}

#[test]
fn prefixed_keys() {
    let l = sel("app.kubernetes.io/name=megamon,cloud.google.com/gke-tpu-topology in (2x2x1)");
    assert!(l.matches(Some(&labels(json!({
        "app.kubernetes.io/name": "megamon",
        "cloud.google.com/gke-tpu-topology": "2x2x1"
    })))));
}

#[test]
fn syntax_errors_have_upstream_messages() {
    assert_eq!(err("x=a,"), "found '', expected: identifier after ','");
    assert_eq!(err("x=a b"), "found 'b', expected: ',' or 'end of string'");
    assert_eq!(
        err(",x"),
        "found ',', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(err("x=a,,y"), "found ',', expected: identifier after ','");
    assert_eq!(err("!x=a"), "found '=', expected: ',' or 'end of string'");
    assert_eq!(
        err("(x)"),
        "found '(', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        err("x (a)"),
        "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        err("x a"),
        "unable to parse requirement: found 'a', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        err("x in a"),
        "unable to parse requirement: found 'a' expected: '('"
    );
    assert_eq!(
        err("x in (a"),
        "unable to parse requirement: found '', expected: ',' or ')'"
    );
    assert_eq!(
        err("x in (a b)"),
        "unable to parse requirement: found 'b', expected: ',' or ')'"
    );
    assert_eq!(
        err("x in (=)"),
        "unable to parse requirement: found '=', expected: ',', ')' or identifier"
    );
    assert_eq!(
        err("x in (a,=)"),
        "unable to parse requirement: found '=', expected: ',', or identifier"
    );
    assert_eq!(
        err("x==="),
        "unable to parse requirement: found '=', expected: identifier"
    );
    assert_eq!(
        err("!"),
        "unable to parse requirement: found '', expected: identifier"
    );
    assert_eq!(err("x=a=b"), "found '=', expected: ',' or 'end of string'");
    // Errors are typed: syntax vs requirement.
    assert!(matches!(
        LabelSelector::parse("x=a,"),
        Err(SelectorError::Syntax(_))
    ));
    assert!(matches!(
        LabelSelector::parse("x a"),
        Err(SelectorError::Requirement(_))
    ));
}

const NAME_REGEX_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_REGEX_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

#[test]
fn invalid_keys() {
    assert_eq!(
        err("a_=b"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"a_\": name part {NAME_REGEX_MSG}"
        )
    );
    assert_eq!(
        err("-a"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"-a\": name part {NAME_REGEX_MSG}"
        )
    );
    let long = "k".repeat(64);
    assert_eq!(
        err(&format!("{long}=v")),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 characters"
        )
    );
    assert!(LabelSelector::parse(&format!("{}=v", "k".repeat(63))).is_ok());
    assert_eq!(
        err("/a"),
        "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
    );
    assert_eq!(
        err("Example.com/a"),
        "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
    assert_eq!(
        err("example.com/"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"example.com/\": name part must be non-empty; name part {NAME_REGEX_MSG}"
        )
    );
    assert_eq!(
        err("a/b/c"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name {NAME_REGEX_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        )
    );
    // A bad key in `!key` and in set requirements is caught the same way.
    assert!(err("!a_").starts_with("unable to parse requirement: <nil>: Invalid value: \"a_\""));
    assert!(
        err("a_ in (x)").starts_with("unable to parse requirement: <nil>: Invalid value: \"a_\"")
    );
}

#[test]
fn invalid_values() {
    assert_eq!(
        err("app=web$"),
        format!(
            "unable to parse requirement: values[0][app]: Invalid value: \"web$\": {VALUE_REGEX_MSG}"
        )
    );
    assert_eq!(
        err("app in (ok,-bad)"),
        format!(
            "unable to parse requirement: values[0][app]: Invalid value: \"-bad\": {VALUE_REGEX_MSG}"
        )
    );
    let long = "v".repeat(64);
    assert_eq!(
        err(&format!("app={long}")),
        format!(
            "unable to parse requirement: values[0][app]: Invalid value: \"{long}\": must be no more than 63 characters"
        )
    );
    assert!(LabelSelector::parse(&format!("app={}", "v".repeat(63))).is_ok());
    assert_eq!(
        err("n>a"),
        "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    // Both errors of one requirement are aggregated as upstream does.
    assert_eq!(
        err("n<-1"),
        format!(
            "unable to parse requirement: values[0][n]: Invalid value: \"-1\": {VALUE_REGEX_MSG}"
        )
    );
    assert_eq!(
        err("n>1.5x_"),
        format!(
            "unable to parse requirement: [values[0]: Invalid value: \"1.5x_\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][n]: Invalid value: \"1.5x_\": {VALUE_REGEX_MSG}]"
        )
    );
}

#[test]
fn error_precedence() {
    // The key is checked before the operator and the value.
    assert!(err("a_=b$").contains("\"a_\""));
    assert!(!err("a_=b$").contains("b$"));
    // Requirements are parsed left to right: the first bad one is reported.
    assert!(err("x>a,b_").contains("must be an integer"));
    assert!(err("b_,x>a").contains("\"b_\""));
    // A requirement error beats the syntax error that follows it.
    assert!(err("x>a y").contains("must be an integer"));
}

// ===========================================================================
// Field selectors
// ===========================================================================

fn fsel(s: &str) -> FieldSelector {
    FieldSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn lookup<'a>(fields: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |f| {
        fields
            .iter()
            .find(|(k, _)| *k == f)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn field_selector_operators() {
    let f = fsel("metadata.name=foo");
    assert_eq!(f.requirements()[0].op, FieldOperator::Equals);
    assert!(f.matches(lookup(&[("metadata.name", "foo")])));
    assert!(!f.matches(lookup(&[("metadata.name", "bar")])));

    let f = fsel("metadata.name==foo");
    assert_eq!(f.requirements()[0].op, FieldOperator::DoubleEquals);
    assert_eq!(f.requirements()[0].value, "foo");
    assert!(f.matches(lookup(&[("metadata.name", "foo")])));

    let f = fsel("status.phase!=Running");
    assert_eq!(f.requirements()[0].op, FieldOperator::NotEquals);
    assert!(f.matches(lookup(&[("status.phase", "Pending")])));
    assert!(!f.matches(lookup(&[("status.phase", "Running")])));
    assert!(f.matches(lookup(&[])));
}

#[test]
fn field_selector_missing_field_is_empty_string() {
    let f = fsel("spec.nodeName=");
    assert_eq!(f.requirements()[0].value, "");
    assert!(f.matches(lookup(&[])));
    assert!(!f.matches(lookup(&[("spec.nodeName", "n1")])));
    let f = fsel("spec.nodeName!=");
    assert!(!f.matches(lookup(&[])));
    assert!(f.matches(lookup(&[("spec.nodeName", "n1")])));
}

#[test]
fn field_selector_and_sorted_terms_and_fields() {
    let f = fsel("spec.nodeName=n1,metadata.namespace!=kube-system,,");
    let fields: Vec<&str> = f.fields().collect();
    assert_eq!(fields, vec!["metadata.namespace", "spec.nodeName"]);
    assert!(f.matches(lookup(&[
        ("spec.nodeName", "n1"),
        ("metadata.namespace", "default")
    ])));
    assert!(!f.matches(lookup(&[
        ("spec.nodeName", "n1"),
        ("metadata.namespace", "kube-system")
    ])));
    assert!(!f.matches(lookup(&[
        ("spec.nodeName", "n2"),
        ("metadata.namespace", "default")
    ])));

    let empty = fsel("");
    assert!(empty.is_empty());
    assert!(empty.matches(lookup(&[])));
    assert_eq!(empty.fields().count(), 0);
    // Not trimmed, as upstream: the server will reject "a " as an unsupported field.
    assert_eq!(fsel("a = b").requirements()[0].field, "a ");
    assert_eq!(fsel("a = b").requirements()[0].value, " b");
}

#[test]
fn field_selector_escaping() {
    let f = fsel(r"metadata.name=a\,b\=c\\d,spec.x=y");
    assert_eq!(f.requirements().len(), 2);
    assert_eq!(f.requirements()[0].field, "metadata.name");
    assert_eq!(f.requirements()[0].value, r"a,b=c\d");
    assert!(f.matches(lookup(&[("metadata.name", r"a,b=c\d"), ("spec.x", "y")])));
    assert_eq!(escape_field_value(r"a,b=c\d"), r"a\,b\=c\\d");
    let round = fsel(&format!("x={}", escape_field_value(r"\=,,=\")));
    assert_eq!(round.requirements()[0].value, r"\=,,=\");
    // The first operator splits: field `a`, `!=`, value `b\=\=c` unescaped to `b==c`.
    assert_eq!(
        FieldSelector::parse("a!=b\\=\\=c").unwrap().requirements()[0].value,
        "b==c"
    );
}

#[test]
fn field_selector_errors() {
    assert_eq!(
        FieldSelector::parse("foo").unwrap_err().to_string(),
        "invalid selector: 'foo'; can't understand 'foo'"
    );
    assert_eq!(
        FieldSelector::parse("a=b,foo").unwrap_err(),
        SelectorError::FieldTerm {
            selector: "a=b,foo".into(),
            term: "foo".into()
        }
    );
    // Upstream prints the unescaped rune with %v: its code point.
    assert_eq!(
        FieldSelector::parse("a=b=c").unwrap_err().to_string(),
        "invalid field selector: unescaped character in value: 61"
    );
    assert_eq!(
        FieldSelector::parse(r"a=b\x").unwrap_err().to_string(),
        r"invalid field selector: invalid escape sequence: \x"
    );
    assert_eq!(
        FieldSelector::parse(r"a=b\").unwrap_err().to_string(),
        r"invalid field selector: invalid escape sequence: \"
    );
    assert!(matches!(
        FieldSelector::parse("a==b=c"),
        Err(SelectorError::UnescapedRune('='))
    ));
}

// ===========================================================================
// JSON merge patch (RFC 7386 appendix A)
// ===========================================================================

#[test]
fn merge_patch_rfc7386_appendix_a() {
    let cases = [
        (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
        (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
        (json!({"a":"b"}), json!({"a":null}), json!({})),
        (
            json!({"a":"b","b":"c"}),
            json!({"a":null}),
            json!({"b":"c"}),
        ),
        (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
        (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
        (
            json!({"a":{"b":"c"}}),
            json!({"a":{"b":"d","c":null}}),
            json!({"a":{"b":"d"}}),
        ),
        (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a":"b"}), json!(["c"]), json!(["c"])),
        (json!({"a":"foo"}), json!(null), json!(null)),
        (json!({"a":"foo"}), json!("bar"), json!("bar")),
        (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
        (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
        (
            json!({}),
            json!({"a":{"bb":{"ccc":null}}}),
            json!({"a":{"bb":{}}}),
        ),
    ];
    for (target, patch, want) in cases {
        let mut t = target.clone();
        merge_patch(&mut t, &patch);
        assert_eq!(t, want, "{target} + {patch}");
    }
}

// ===========================================================================
// JSON patch (RFC 6902)
// ===========================================================================

#[test]
fn json_patch_operations() {
    let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 2, 3]}});
    json_patch(
        &mut doc,
        &json!([
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "replace", "path": "/spec/list/0", "value": 10},
            {"op": "add", "path": "/spec/list/-", "value": 4},
            {"op": "move", "from": "/spec/list/1", "path": "/spec/moved"},
            {"op": "copy", "from": "/metadata/labels", "path": "/spec/copied"},
            {"op": "test", "path": "/spec/moved", "value": 2}
        ]),
    )
    .unwrap();
    assert_eq!(
        doc,
        json!({
            "metadata": {"labels": {"b": "2"}},
            "spec": {"list": [10, 3, 4], "moved": 2, "copied": {"b": "2"}}
        })
    );
}

#[test]
fn json_patch_failures_leave_target_unchanged() {
    let orig = json!({"a": 1, "b": [1]});
    let mut doc = orig.clone();
    let e = json_patch(
        &mut doc,
        &json!([
            {"op": "replace", "path": "/a", "value": 2},
            {"op": "test", "path": "/a", "value": 3}
        ]),
    )
    .unwrap_err();
    assert!(matches!(e, PatchError::JsonPatchFailed(_)));
    assert_eq!(e.http_status(), 422);
    assert!(e.to_string().contains("value did not match"), "{e}");
    assert_eq!(doc, orig);

    let e = json_patch(&mut doc, &json!([{"op": "remove", "path": "/nope"}])).unwrap_err();
    assert!(matches!(e, PatchError::JsonPatchFailed(_)));
    assert!(e.to_string().contains("/nope"), "{e}");
    assert_eq!(doc, orig);

    for bad in [
        json!({"op": "add"}),
        json!([{"op": "frobnicate", "path": "/a"}]),
        json!([{"op": "add", "path": "/a"}]),
        json!([{"op": "add", "path": "a", "value": 1}]),
    ] {
        let e = json_patch(&mut doc, &bad).unwrap_err();
        assert!(matches!(e, PatchError::Malformed(_)), "{bad}: {e:?}");
        assert_eq!(e.http_status(), 400);
        assert_eq!(doc, orig);
    }
}

// ===========================================================================
// Strategic merge patch
// ===========================================================================

fn smp(target: Value, patch: Value) -> Value {
    let mut t = target;
    strategic_merge_patch(&mut t, &patch, &BuiltinSchema).unwrap();
    assert_no_directives(&t);
    t
}

fn assert_no_directives(v: &Value) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                assert!(!k.starts_with('$'), "directive {k} left in result");
                assert_no_directives(c);
            }
        }
        Value::Array(a) => a.iter().for_each(assert_no_directives),
        _ => {}
    }
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
        "spec": {
            "containers": [
                {"name": "main", "image": "nginx:1", "args": ["-x", "-y"],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80, "name": "http"}]},
                {"name": "sidecar", "image": "envoy:1"}
            ],
            "tolerations": [{"key": "a", "operator": "Exists"}]
        },
        "status": {"conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "Initialized", "status": "True"}
        ]}
    })
}

#[test]
fn containers_merge_by_name() {
    let out = smp(
        pod(),
        json!({"spec": {"containers": [{"name": "main", "image": "nginx:2"}]}}),
    );
    let cs = &out["spec"]["containers"];
    assert_eq!(cs.as_array().unwrap().len(), 2);
    assert_eq!(cs[0]["name"], "main");
    assert_eq!(cs[0]["image"], "nginx:2");
    assert_eq!(cs[0]["args"], json!(["-x", "-y"]), "untouched fields stay");
    assert_eq!(cs[1], json!({"name": "sidecar", "image": "envoy:1"}));
}

#[test]
fn new_container_is_placed_first_like_upstream() {
    // As in "Update API Objects in Place Using kubectl patch": the added container is
    // listed before the existing one.
    let out = smp(
        pod(),
        json!({"spec": {"containers": [{"name": "new", "image": "redis"}]}}),
    );
    let names: Vec<&str> = out["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["new", "main", "sidecar"]);
}

#[test]
fn conditions_merge_by_type() {
    let out = smp(
        pod(),
        json!({"status": {"conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "PodScheduled", "status": "True"}
        ]}}),
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([
            {"type": "Ready", "status": "True"},
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"}
        ])
    );
}

#[test]
fn nested_keyed_lists_in_a_deployment_template() {
    let deploy = json!({
        "spec": {"template": {"spec": {"containers": [
            {"name": "c", "env": [{"name": "A", "value": "1"}],
             "ports": [{"containerPort": 80}, {"containerPort": 443}],
             "volumeMounts": [{"mountPath": "/a", "name": "va"}]}
        ], "volumes": [{"name": "va", "emptyDir": {}}]}}}
    });
    let out = smp(
        deploy,
        json!({"spec": {"template": {"spec": {
            "containers": [{"name": "c",
                "env": [{"name": "A", "value": "2"}],
                "ports": [{"containerPort": 443, "name": "https"}],
                "volumeMounts": [{"mountPath": "/a", "readOnly": true}]}],
            "volumes": [{"name": "vb", "configMap": {"name": "cm"}}]
        }}}}),
    );
    let c = &out["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["env"], json!([{"name": "A", "value": "2"}]));
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 80}, {"containerPort": 443, "name": "https"}])
    );
    assert_eq!(
        c["volumeMounts"],
        json!([{"mountPath": "/a", "name": "va", "readOnly": true}])
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "vb", "configMap": {"name": "cm"}}, {"name": "va", "emptyDir": {}}])
    );
}

#[test]
fn service_ports_merge_by_port() {
    let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
    let out = smp(
        svc,
        json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
    );
}

#[test]
fn patch_delete_directive_on_container() {
    let out = smp(
        pod(),
        json!({"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}),
    );
    let cs = out["spec"]["containers"].as_array().unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0]["name"], "main");
}

#[test]
fn patch_delete_directive_without_merge_key_is_an_error() {
    let mut t = pod();
    let e = strategic_merge_patch(
        &mut t,
        &json!({"spec": {"containers": [{"$patch": "delete", "image": "x"}]}}),
        &BuiltinSchema,
    )
    .unwrap_err();
    assert!(matches!(e, PatchError::Strategic(_)));
    assert!(
        e.to_string()
            .contains("does not contain declared merge key: name"),
        "{e}"
    );
    assert_eq!(t, pod(), "target untouched on error");
}

#[test]
fn patch_replace_directive_on_a_map() {
    let out = smp(
        pod(),
        json!({"metadata": {"labels": {"$patch": "replace", "new": "x"}}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"new": "x"}));
    assert_eq!(out["metadata"]["name"], "p", "siblings untouched");
}

#[test]
fn patch_replace_directive_in_a_list() {
    let out = smp(
        pod(),
        json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "busybox"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "only", "image": "busybox"}])
    );
}

#[test]
fn patch_delete_directive_on_a_map() {
    let out = smp(
        json!({"spec": {"a": {"b": 1}, "c": 2}}),
        json!({"spec": {"a": {"$patch": "delete"}}}),
    );
    assert_eq!(out, json!({"spec": {"a": {}, "c": 2}}));
}

#[test]
fn patch_merge_directive_is_a_plain_merge() {
    let out = smp(
        pod(),
        json!({"metadata": {"labels": {"$patch": "merge", "x": "y"}},
               "spec": {"containers": [{"$patch": "merge", "name": "main", "image": "nginx:3"}]}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "x": "y"}));
    assert_eq!(out["spec"]["containers"][0]["image"], "nginx:3");
    assert_eq!(out["spec"]["containers"].as_array().unwrap().len(), 2);
}

#[test]
fn unknown_patch_directive_is_an_error() {
    let mut t = pod();
    let e = strategic_merge_patch(
        &mut t,
        &json!({"spec": {"$patch": "frobnicate"}}),
        &BuiltinSchema,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("unknown patch type: frobnicate in map"),
        "{e}"
    );
}

#[test]
fn retain_keys_directive() {
    let target =
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let out = smp(
        target,
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
    );
    assert_eq!(out, json!({"spec": {"strategy": {"type": "Recreate"}}}));

    // A key in the patch that isn't retained is a malformed patch.
    let mut t = json!({"spec": {"strategy": {"type": "RollingUpdate"}}});
    let e = strategic_merge_patch(
        &mut t,
        &json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
        &BuiltinSchema,
    )
    .unwrap_err();
    assert_eq!(
        e,
        PatchError::Malformed("invalid patch format of retainKeys".into())
    );
    assert_eq!(e.http_status(), 400);
}

#[test]
fn delete_from_primitive_list_directive() {
    let out = smp(
        pod(),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    // Deleting from a missing list is a no-op and adds nothing.
    let out = smp(
        json!({"metadata": {}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    );
    assert_eq!(out, json!({"metadata": {}}));
}

#[test]
fn set_element_order_reorders() {
    let out = smp(
        pod(),
        json!({"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "main"}]}}),
    );
    let names: Vec<&str> = out["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["sidecar", "main"]);
    assert_eq!(
        out["spec"]["containers"][1]["image"], "nginx:1",
        "contents kept"
    );
}

#[test]
fn set_element_order_as_kubectl_sends_it() {
    // kubectl apply (client-side) removing "main" and adding "new" between the others.
    let mut target = pod();
    target["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "third", "image": "t"}));
    let out = smp(
        target,
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "new"}, {"name": "third"}],
            "containers": [{"name": "new", "image": "n"}, {"$patch": "delete", "name": "main"}]
        }}),
    );
    let names: Vec<&str> = out["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["sidecar", "new", "third"]);

    // Primitive lists: order plus deletions.
    let out = smp(
        json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        json!({"metadata": {
            "$setElementOrder/finalizers": ["c", "d", "a"],
            "$deleteFromPrimitiveList/finalizers": ["b"],
            "finalizers": ["d"]
        }}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "d", "a"]));
}

#[test]
fn null_deletes_keys() {
    let out = smp(
        pod(),
        json!({"metadata": {"labels": {"app": null}},
               "spec": {"tolerations": null, "containers": [{"name": "main", "args": null}]}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({}));
    assert!(out["spec"].get("tolerations").is_none());
    assert!(out["spec"]["containers"][0].get("args").is_none());
    assert_eq!(out["spec"]["containers"][0]["image"], "nginx:1");
}

#[test]
fn atomic_lists_are_replaced() {
    let out = smp(
        pod(),
        json!({"spec": {
            "containers": [{"name": "main", "args": ["-z"]}],
            "tolerations": [{"key": "b", "operator": "Exists"}]
        }}),
    );
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["-z"]));
    assert_eq!(
        out["spec"]["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
}

#[test]
fn finalizers_are_a_set_union() {
    let out = smp(pod(), json!({"metadata": {"finalizers": ["b", "c"]}}));
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    // Upstream puts items that are new to the live list before server-only ones.
    let out = smp(pod(), json!({"metadata": {"finalizers": ["z"]}}));
    assert_eq!(out["metadata"]["finalizers"], json!(["z", "a", "b"]));
}

#[test]
fn node_taints_are_atomic_like_upstream() {
    // NodeSpec.Taints has no patchStrategy (+listType=atomic); kubectl taint relies on
    // the whole list being replaced to remove a taint.
    let node = json!({"spec": {"taints": [
        {"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoSchedule"}
    ]}});
    let out = smp(
        node,
        json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}}),
    );
    assert_eq!(
        out["spec"]["taints"],
        json!([{"key": "a", "effect": "NoSchedule"}])
    );
}

#[test]
fn node_addresses_and_owner_references() {
    let node = json!({"status": {"addresses": [
        {"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}
    ]}});
    let out = smp(
        node,
        json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}),
    );
    assert_eq!(
        out["status"]["addresses"],
        json!([{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n1"}])
    );
    let obj = json!({"metadata": {"ownerReferences": [{"uid": "u1", "name": "a"}]}});
    let out = smp(
        obj,
        json!({"metadata": {"ownerReferences": [{"uid": "u2", "name": "b"}]}}),
    );
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([{"uid": "u2", "name": "b"}, {"uid": "u1", "name": "a"}])
    );
}

#[test]
fn new_values_have_directives_processed() {
    let out = smp(
        json!({"spec": {}}),
        json!({"spec": {
            "initContainers": [{"name": "i", "env": [{"name": "X", "value": "1"}], "extra": null}],
            "nodeSelector": {"$patch": "replace", "k": "v", "gone": null}
        }}),
    );
    assert_eq!(
        out,
        json!({"spec": {
            "initContainers": [{"name": "i", "env": [{"name": "X", "value": "1"}]}],
            "nodeSelector": {"k": "v"}
        }})
    );
}

#[test]
fn strategic_patch_errors() {
    let mut t = pod();
    let e = strategic_merge_patch(&mut t, &json!([1]), &BuiltinSchema).unwrap_err();
    assert_eq!(e, PatchError::Malformed("invalid JSON document".into()));
    let e = strategic_merge_patch(
        &mut t,
        &json!({"spec": {"containers": [{"image": "no-name"}]}}),
        &BuiltinSchema,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("does not contain declared merge key: name")
    );
    let e = strategic_merge_patch(
        &mut t,
        &json!({"metadata": {"finalizers": [{"a": 1}]}}),
        &BuiltinSchema,
    )
    .unwrap_err();
    assert!(matches!(e, PatchError::Strategic(_)), "{e:?}");
    let e = strategic_merge_patch(
        &mut t,
        &json!({"spec": {"$setElementOrder/containers": "x"}}),
        &BuiltinSchema,
    )
    .unwrap_err();
    assert_eq!(
        e,
        PatchError::Malformed("invalid patch format of setElementOrder list".into())
    );
    assert_eq!(t, pod());
}

#[test]
fn atomic_lists_schema_replaces_every_list() {
    let mut t = pod();
    strategic_merge_patch(
        &mut t,
        &json!({"spec": {"containers": [{"name": "x"}]}}),
        &AtomicListsSchema,
    )
    .unwrap();
    assert_eq!(t["spec"]["containers"], json!([{"name": "x"}]));
}

#[test]
fn builtin_schema_table() {
    let p = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
    let s = BuiltinSchema;
    assert_eq!(
        s.list_strategy(&p("spec.containers")),
        ListStrategy::MergeByKey("name")
    );
    assert_eq!(
        s.list_strategy(&p("spec.template.spec.initContainers.ports")),
        ListStrategy::MergeByKey("containerPort")
    );
    assert_eq!(
        s.list_strategy(&p("spec.ports")),
        ListStrategy::MergeByKey("port")
    );
    assert_eq!(
        s.list_strategy(&p("metadata.finalizers")),
        ListStrategy::MergePrimitives
    );
    assert_eq!(
        s.list_strategy(&p("spec.tolerations")),
        ListStrategy::Atomic
    );
    assert_eq!(
        s.list_strategy(&p("spec.containers.args")),
        ListStrategy::Atomic
    );
    assert_eq!(
        s.list_strategy(&p("status.conditions")),
        ListStrategy::MergeByKey("type")
    );
    assert_eq!(
        s.list_strategy(&p("spec.template.spec.topologySpreadConstraints")),
        ListStrategy::MergeByKey("topologyKey")
    );
}

// ===========================================================================
// Server-side apply
// ===========================================================================

const T1: &str = "2025-01-01T00:00:00Z";
const T2: &str = "2025-01-02T00:00:00Z";

fn cm_config(labels: Value, data: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default", "labels": labels},
        "data": data
    })
}

#[test]
fn apply_creates_with_managed_fields() {
    let applied = cm_config(json!({"app": "x", "tier": "fe"}), json!({"k": "v"}));
    let out = apply_patch_at(None, &applied, "kubectl", true, T1).unwrap();
    let mut expect = applied.clone();
    expect["metadata"]["managedFields"] = json!([{
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "v1",
        "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:data": {"f:k": {}},
            "f:metadata": {"f:labels": {"f:app": {}, "f:tier": {}}}
        }
    }]);
    assert_eq!(out, expect);
}

#[test]
fn apply_managed_fields_for_keyed_lists() {
    let applied = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "finalizers": ["f1"]},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}},
                         "spec": {"containers": [{"name": "c", "image": "i", "args": ["a"]}]}}
        }
    });
    let out = apply_patch_at(None, &applied, "kubectl", true, T1).unwrap();
    assert_eq!(
        out["metadata"]["managedFields"][0]["fieldsV1"],
        json!({
            "f:metadata": {"f:finalizers": {"v:\"f1\"": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {
                        ".": {}, "f:args": {}, "f:image": {}, "f:name": {}
                    }}}
                }
            }
        })
    );
    assert_eq!(out["metadata"]["managedFields"][0]["apiVersion"], "apps/v1");
}

#[test]
fn reapply_is_a_no_op() {
    let applied = cm_config(json!({"app": "x"}), json!({"k": "v"}));
    let first = apply_patch_at(None, &applied, "kubectl", true, T1).unwrap();
    let second = apply_patch_at(Some(&first), &applied, "kubectl", true, T2).unwrap();
    assert_eq!(second, first, "identical, timestamp included");
    // The clock-reading variant too.
    let third = apply_patch(Some(&first), &applied, "kubectl", true).unwrap();
    assert_eq!(third, first);
}

#[test]
fn reapply_without_a_label_removes_it_but_keeps_others_labels() {
    let v1 = cm_config(json!({"app": "x", "tier": "fe"}), json!({"k": "v"}));
    let live = apply_patch_at(None, &v1, "kubectl", true, T1).unwrap();
    // Someone else adds a label with a merge patch.
    let mut live = live;
    merge_patch(
        &mut live,
        &json!({"metadata": {"labels": {"owner": "ops"}}}),
    );

    let v2 = cm_config(json!({"app": "y"}), json!({"k": "v"}));
    let out = apply_patch_at(Some(&live), &v2, "kubectl", true, T2).unwrap();
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "y", "owner": "ops"})
    );
    assert_eq!(out["data"], json!({"k": "v"}));
    let mf = out["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0]["time"], T2);
    assert_eq!(
        mf[0]["fieldsV1"],
        json!({"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:app": {}}}})
    );
}

#[test]
fn reapply_removing_all_labels_drops_the_empty_map() {
    let v1 = cm_config(json!({"app": "x"}), json!({"k": "v"}));
    let live = apply_patch_at(None, &v1, "kubectl", true, T1).unwrap();
    let v2 = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "cfg", "namespace": "default"}, "data": {"k": "v"}});
    let out = apply_patch_at(Some(&live), &v2, "kubectl", true, T2).unwrap();
    assert!(out["metadata"].get("labels").is_none(), "{out}");
    assert_eq!(out["metadata"]["name"], "cfg");
}

#[test]
fn fields_owned_by_another_applier_are_kept() {
    let a = cm_config(json!({"shared": "1", "a": "1"}), json!({}));
    let live = apply_patch_at(None, &a, "alice", true, T1).unwrap();
    let b = cm_config(json!({"shared": "1"}), json!({}));
    let live = apply_patch_at(Some(&live), &b, "bob", true, T1).unwrap();
    assert_eq!(
        live["metadata"]["managedFields"].as_array().unwrap().len(),
        2
    );
    let a2 = cm_config(json!({}), json!({}));
    let out = apply_patch_at(Some(&live), &a2, "alice", true, T2).unwrap();
    assert_eq!(
        out["metadata"]["labels"],
        json!({"shared": "1"}),
        "bob still owns it"
    );
}

#[test]
fn reapply_removes_a_container_but_keeps_one_added_by_others() {
    let dep = |containers: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"template": {"spec": {"containers": containers}}}})
    };
    let v1 = dep(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]));
    let mut live = apply_patch_at(None, &v1, "kubectl", true, T1).unwrap();
    strategic_merge_patch(
        &mut live,
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "debug", "image": "busybox"}]}}}}),
        &BuiltinSchema,
    )
    .unwrap();
    let v2 = dep(json!([{"name": "a", "image": "a:2"}]));
    let out = apply_patch_at(Some(&live), &v2, "kubectl", true, T2).unwrap();
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["debug", "a"]);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][1]["image"],
        "a:2"
    );
}

#[test]
fn apply_to_custom_resource_replaces_lists_and_removes_fields() {
    let cr = |spec: Value| {
        json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
               "metadata": {"name": "js"}, "spec": spec})
    };
    let v1 = cr(
        json!({"suspend": true, "replicatedJobs": [{"name": "a"}, {"name": "b"}],
                      "network": {"enableDNSHostnames": true}}),
    );
    let live = apply_patch_at(None, &v1, "kubectl", false, T1).unwrap();
    assert_eq!(
        live["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:spec": {"f:network": {"f:enableDNSHostnames": {}},
                          "f:replicatedJobs": {}, "f:suspend": {}}})
    );
    let v2 = cr(json!({"replicatedJobs": [{"name": "c"}]}));
    let out = apply_patch_at(Some(&live), &v2, "kubectl", false, T2).unwrap();
    assert_eq!(out["spec"], json!({"replicatedJobs": [{"name": "c"}]}));
}

#[test]
fn apply_keeps_server_fields_and_other_entries() {
    let applied = cm_config(json!({"app": "x"}), json!({"k": "v"}));
    let mut live = apply_patch_at(None, &applied, "kubectl", true, T1).unwrap();
    live["metadata"]["uid"] = json!("u-1");
    live["metadata"]["resourceVersion"] = json!("7");
    live["metadata"]["managedFields"]
        .as_array_mut()
        .unwrap()
        .insert(
            0,
            json!({"manager": "ctrl", "operation": "Update", "apiVersion": "v1",
                          "time": T1, "fieldsType": "FieldsV1",
                          "fieldsV1": {"f:data": {"f:other": {}}}}),
        );
    live["data"]["other"] = json!("o");
    let v2 = cm_config(json!({"app": "x"}), json!({"k": "v2"}));
    let out = apply_patch_at(Some(&live), &v2, "kubectl", true, T2).unwrap();
    assert_eq!(out["metadata"]["uid"], "u-1");
    assert_eq!(out["data"], json!({"k": "v2", "other": "o"}));
    let mf = out["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(mf.len(), 2);
    assert_eq!(mf[0]["manager"], "ctrl");
    assert_eq!(mf[1]["manager"], "kubectl");
    assert_eq!(mf[1]["time"], T2);
}

#[test]
fn apply_stamps_the_current_time_in_seconds() {
    let applied = cm_config(json!({"app": "x"}), json!({"k": "v"}));
    let out = apply_patch(None, &applied, "kube-rs", true).unwrap();
    let mf = &out["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "kube-rs");
    let t = mf["time"].as_str().unwrap();
    let b = t.as_bytes();
    assert_eq!(b.len(), 20, "{t}");
    assert!(
        t.starts_with("20") && t.ends_with('Z') && b[10] == b'T',
        "{t}"
    );
}

#[test]
fn apply_rejects_non_objects() {
    let e = apply_patch_at(None, &json!([1]), "kubectl", true, T1).unwrap_err();
    assert_eq!(e.http_status(), 400);
}

// ===========================================================================
// Properties
// ===========================================================================

mod props {
    use super::*;
    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![Just("a".to_string()), Just("b".to_string()), "[a-z]{1,3}"]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|i| json!(i)),
            "[a-z0-9]{0,4}".prop_map(Value::String),
        ]
    }

    /// Any JSON value (nulls included) for targets.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![Just(Value::Null), scalar()];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Null-free values for patches.
    fn no_null_value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn no_null_object() -> impl Strategy<Value = Value> {
        prop::collection::btree_map(key(), no_null_value(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    /// Every leaf of `b` (non-object value, or empty object) is at the same path in `r`.
    fn contains_leaves(r: &Value, b: &Value) -> bool {
        match b {
            Value::Object(bm) if !bm.is_empty() => bm
                .iter()
                .all(|(k, bv)| r.get(k).is_some_and(|rv| contains_leaves(rv, bv))),
            Value::Object(_) => r.is_object(),
            other => r == other,
        }
    }

    proptest! {
        #[test]
        fn merge_patch_result_contains_all_leaves_of_a_null_free_patch(
            a in any_value(), b in no_null_object()
        ) {
            let mut r = a.clone();
            merge_patch(&mut r, &b);
            prop_assert!(contains_leaves(&r, &b), "a={a} b={b} r={r}");
            // Applying the same patch again changes nothing.
            let mut again = r.clone();
            merge_patch(&mut again, &b);
            prop_assert_eq!(again, r.clone());
            // With every list atomic, a strategic merge is the same as a merge patch.
            let mut s = a.clone();
            strategic_merge_patch(&mut s, &b, &AtomicListsSchema).unwrap();
            prop_assert_eq!(s, r);
        }
    }
}
