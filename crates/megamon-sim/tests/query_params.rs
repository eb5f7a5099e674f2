//! Every query parameter the simulator reads, decoded and validated as kube-apiserver
//! does (see `megamon_sim::options`): one row per parameter and value, with the status
//! code and what the answer must be.

mod common;

use std::time::Duration;

use common::TestSim;
use megamon_sim::SimOptions;
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// What an answer must be, beyond its status code.
enum Expect {
    /// A watch stream: newline-separated events, the first of these types in order.
    Watch(&'static [&'static str]),
    /// A watch stream with a BOOKMARK among its events.
    WatchWithBookmark,
    /// A watch stream without a BOOKMARK.
    WatchWithoutBookmark,
    /// A plain list (one JSON document).
    List,
    /// A page of one item.
    Paged,
    /// A Status whose message is exactly this.
    Message(&'static str),
    /// A Status whose message starts with this.
    MessageStarts(&'static str),
    /// Indented JSON.
    Pretty,
    /// Compact JSON.
    Compact,
    /// Anything with that status.
    Any,
}

struct Row {
    method: &'static str,
    /// Path and query after the configmaps collection (`?...` or `/name?...`).
    suffix: &'static str,
    content_type: &'static str,
    body: &'static str,
    status: u16,
    expect: Expect,
}

const fn get(suffix: &'static str, status: u16, expect: Expect) -> Row {
    Row {
        method: "GET",
        suffix,
        content_type: "application/json",
        body: "",
        status,
        expect,
    }
}

const CM: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"made"}}"#;
const PUT_CM: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#;
const APPLY: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: v\n";

fn rows() -> Vec<Row> {
    use Expect::*;
    let write = |method, suffix, content_type, body, status, expect| Row {
        method,
        suffix,
        content_type,
        body,
        status,
        expect,
    };
    vec![
        // watch: apimachinery's Convert_Slice_string_To_bool, not strconv.ParseBool.
        get("?watch=true&timeoutSeconds=1", 200, Watch(&["ADDED"])),
        get("?watch=True&timeoutSeconds=1", 200, Watch(&["ADDED"])),
        get("?watch=TRUE&timeoutSeconds=1", 200, Watch(&["ADDED"])),
        get("?watch=1&timeoutSeconds=1", 200, Watch(&["ADDED"])),
        get("?watch=t&timeoutSeconds=1", 200, Watch(&["ADDED"])),
        get("?watch=yes&timeoutSeconds=1", 200, Watch(&["ADDED"])),
        get("?watch=&timeoutSeconds=1", 200, Watch(&["ADDED"])),
        get("?watch=false", 200, List),
        get("?watch=False", 200, List),
        get("?watch=FALSE", 200, List),
        get("?watch=0", 200, List),
        get("?watch=false&watch=true", 200, List),
        // allowWatchBookmarks: the same boolean rules.
        get(
            "?watch=1&allowWatchBookmarks=True&timeoutSeconds=1",
            200,
            WatchWithBookmark,
        ),
        get(
            "?watch=1&allowWatchBookmarks=0&timeoutSeconds=1",
            200,
            WatchWithoutBookmark,
        ),
        // timeoutSeconds: strconv.ParseInt; negative has already passed.
        get(
            "?watch=1&timeoutSeconds=1.5",
            400,
            Message(r#"strconv.ParseInt: parsing "1.5": invalid syntax"#),
        ),
        get(
            "?watch=1&timeoutSeconds=",
            400,
            Message(r#"strconv.ParseInt: parsing "": invalid syntax"#),
        ),
        get("?watch=1&timeoutSeconds=-1", 200, Watch(&["ADDED"])),
        // limit: strconv.ParseInt; zero or negative is no limit.
        get(
            "?limit=ten",
            400,
            Message(r#"strconv.ParseInt: parsing "ten": invalid syntax"#),
        ),
        get("?limit=-1", 200, List),
        get("?limit=1", 200, Paged),
        // continue and resourceVersion are parsed where used.
        get(
            "?continue=garbage",
            400,
            MessageStarts("continue key is not valid"),
        ),
        get(
            "?resourceVersion=abc",
            400,
            MessageStarts("invalid resource version"),
        ),
        // resourceVersionMatch and sendInitialEvents: ValidateListOptions (422).
        get(
            "?resourceVersionMatch=Exact",
            422,
            Message(
                r#"ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"#,
            ),
        ),
        get(
            "?resourceVersion=0&resourceVersionMatch=Exact",
            422,
            Message(
                r#"ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0""#,
            ),
        ),
        get(
            "?resourceVersion=1&resourceVersionMatch=exact",
            422,
            Message(
                r#"ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "exact": supported values: "Exact", "NotOlderThan", """#,
            ),
        ),
        get(
            "?resourceVersion=1&resourceVersionMatch=NotOlderThan",
            200,
            List,
        ),
        get(
            "?sendInitialEvents=true",
            422,
            Message(
                r#"ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"#,
            ),
        ),
        get(
            "?watch=1&resourceVersionMatch=NotOlderThan",
            422,
            Message(
                r#"ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"#,
            ),
        ),
        get(
            "?watch=1&sendInitialEvents=1&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
            200,
            Watch(&["ADDED", "BOOKMARK"]),
        ),
        // Selectors: parse errors are 400.
        get("?labelSelector=a%20in%20(b", 400, Any),
        get(
            "?fieldSelector=spec.bogus%3Dx",
            400,
            Message("field label not supported: spec.bogus"),
        ),
        // includeObject: only read for Table requests (see the Table rows below).
        get("?includeObject=bogus", 200, List),
        // pretty: strconv.ParseBool, anything else is false.
        get("?pretty=true", 200, Pretty),
        get("/x?pretty=1", 200, Pretty),
        get("?pretty=yes", 200, Compact),
        // dryRun: every value must be All (CreateOptions, 422).
        write("POST", "?dryRun=All", "application/json", CM, 201, Any),
        write(
            "POST",
            "?dryRun=all",
            "application/json",
            CM,
            422,
            Message(
                r#"CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"all"}: supported values: "All""#,
            ),
        ),
        write(
            "POST",
            "?dryRun=All&dryRun=x",
            "application/json",
            CM,
            422,
            MessageStarts(
                r#"CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"All", "x"}"#,
            ),
        ),
        // fieldValidation: "", Ignore, Warn, Strict, case-sensitive.
        write(
            "POST",
            "?dryRun=All&fieldValidation=Strict",
            "application/json",
            CM,
            201,
            Any,
        ),
        write(
            "POST",
            "?fieldValidation=strict",
            "application/json",
            CM,
            422,
            Message(
                r#"CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn""#,
            ),
        ),
        write(
            "PUT",
            "/x?fieldValidation=Bogus",
            "application/json",
            PUT_CM,
            422,
            MessageStarts(
                r#"UpdateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus""#,
            ),
        ),
        // fieldManager: at most 128 bytes.
        write(
            "POST",
            "?fieldManager=mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm",
            "application/json",
            CM,
            422,
            Message(
                r#"CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes"#,
            ),
        ),
        // force: only for apply; apply needs a fieldManager (PatchOptions, 422).
        write(
            "PATCH",
            "/x?force=true",
            "application/merge-patch+json",
            "{}",
            422,
            Message(
                r#"PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch"#,
            ),
        ),
        write(
            "PATCH",
            "/x",
            "application/apply-patch+yaml",
            APPLY,
            422,
            Message(
                r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#,
            ),
        ),
        write(
            "PATCH",
            "/x?fieldManager=t&force=TRUE",
            "application/apply-patch+yaml",
            APPLY,
            200,
            Any,
        ),
        // DELETE: propagationPolicy, orphanDependents, gracePeriodSeconds, dryRun.
        write(
            "DELETE",
            "/x?propagationPolicy=Sideways",
            "application/json",
            "",
            422,
            Message(
                r#"DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan", "nil""#,
            ),
        ),
        write(
            "DELETE",
            "/x?propagationPolicy=Orphan&orphanDependents=false",
            "application/json",
            "",
            422,
            Message(
                r#"DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set"#,
            ),
        ),
        write(
            "DELETE",
            "/x?gracePeriodSeconds=soon",
            "application/json",
            "",
            400,
            Message(r#"strconv.ParseInt: parsing "soon": invalid syntax"#),
        ),
        write(
            "DELETE",
            "/x?dryRun=All&gracePeriodSeconds=-1&propagationPolicy=Foreground",
            "application/json",
            "",
            200,
            Any,
        ),
        write(
            "DELETE",
            "?labelSelector=nothing%3Dmatches&propagationPolicy=Background",
            "application/json",
            "",
            200,
            Any,
        ),
    ]
}

async fn send(client: &kube::Client, row: &Row) -> (u16, String) {
    let request = http::Request::builder()
        .method(row.method)
        .uri(format!("{CMS}{}", row.suffix))
        .header("content-type", row.content_type)
        .body(kube::client::Body::from(row.body.as_bytes().to_vec()))
        .expect("request");
    let response = client.send(request).await.expect("the server answers");
    let code = response.status().as_u16();
    // Watches end by their timeoutSeconds (1 s at most here).
    let bytes = tokio::time::timeout(
        Duration::from_secs(10),
        response.into_body().collect_bytes(),
    )
    .await
    .expect("the answer ends")
    .expect("body");
    (code, String::from_utf8_lossy(&bytes).into_owned())
}

fn events(body: &str) -> Vec<Value> {
    body.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON event per line"))
        .collect()
}

fn types(body: &str) -> Vec<String> {
    events(body)
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_parameters_parse_and_validate_as_kube_apiserver() {
    let t = TestSim::start_with(SimOptions {
        bookmark_interval: Duration::from_millis(100),
        ..SimOptions::default()
    })
    .await;
    let client = t.client().await;
    for row in rows() {
        // Each row starts from one configmap, `x`.
        let reset = http::Request::delete(CMS)
            .body(kube::client::Body::empty())
            .expect("request");
        client.send(reset).await.expect("deletecollection");
        let create = http::Request::post(CMS)
            .header("content-type", "application/json")
            .body(kube::client::Body::from(PUT_CM.as_bytes().to_vec()))
            .expect("request");
        assert_eq!(client.send(create).await.expect("create").status(), 201);

        let (code, body) = send(&client, &row).await;
        let what = format!("{} {}{}", row.method, CMS, row.suffix);
        assert_eq!(code, row.status, "{what}: {body}");
        let status = || -> Value {
            let v: Value = serde_json::from_str(&body).expect("a JSON Status");
            assert_eq!(v["kind"], "Status", "{what}: {body}");
            assert_eq!(v["code"], row.status, "{what}: {body}");
            v
        };
        match row.expect {
            Expect::Watch(want) => {
                let seen = types(&body);
                assert!(seen.len() >= want.len(), "{what}: {seen:?}");
                assert_eq!(&seen[..want.len()], want, "{what}: {body}");
            }
            Expect::WatchWithBookmark => {
                assert!(
                    types(&body).iter().any(|t| t == "BOOKMARK"),
                    "{what}: {body}"
                )
            }
            Expect::WatchWithoutBookmark => {
                let seen = types(&body);
                assert!(
                    !seen.is_empty() && !seen.iter().any(|t| t == "BOOKMARK"),
                    "{what}: {body}"
                )
            }
            Expect::List => {
                let v: Value = serde_json::from_str(&body).expect("one JSON list");
                assert_eq!(v["kind"], "ConfigMapList", "{what}");
                assert_eq!(v["items"][0]["metadata"]["name"], "x", "{what}");
            }
            Expect::Paged => {
                let v: Value = serde_json::from_str(&body).expect("one JSON list");
                assert_eq!(v["items"].as_array().map(Vec::len), Some(1), "{what}");
            }
            Expect::Message(m) => assert_eq!(status()["message"], m, "{what}"),
            Expect::MessageStarts(m) => {
                let v = status();
                let message = v["message"].as_str().unwrap_or_default();
                assert!(message.starts_with(m), "{what}: {message}");
            }
            Expect::Pretty => assert!(body.contains("\n  \""), "{what}: {body}"),
            Expect::Compact => assert!(!body.contains('\n'), "{what}: {body}"),
            Expect::Any => {}
        }
        if row.status >= 400 && row.status != 404 {
            // A refused write changes nothing.
            let (_, list) = send(&client, &get("", 200, Expect::Any)).await;
            let v: Value = serde_json::from_str(&list).expect("list");
            assert_eq!(v["items"].as_array().map(Vec::len), Some(1), "{what}");
        }
    }
    // includeObject, for Table requests (kubectl get): TableOptions, 400 when refused.
    for (include, status) in [("Object", 200), ("None", 200), ("bogus", 400)] {
        let request = http::Request::get(format!("{CMS}?includeObject={include}"))
            .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            .body(kube::client::Body::empty())
            .expect("request");
        let response = client.send(request).await.expect("answer");
        assert_eq!(
            response.status().as_u16(),
            status,
            "includeObject={include}"
        );
        let body: Value =
            serde_json::from_slice(&response.into_body().collect_bytes().await.expect("body"))
                .expect("JSON");
        if status == 400 {
            assert_eq!(
                body["message"],
                r#"Unable to convert to Table as requested: includeObject: Unsupported value: "bogus": supported values: "Metadata", "None", "Object", """#
            );
        } else {
            assert_eq!(body["kind"], "Table", "{body}");
        }
    }
    // dryRun=All stores nothing; a dry-run delete deletes nothing.
    let (_, list) = send(&client, &get("", 200, Expect::Any)).await;
    let v: Value = serde_json::from_str(&list).expect("list");
    assert_eq!(
        v["items"].as_array().map(|items| items
            .iter()
            .map(|i| i["metadata"]["name"].clone())
            .collect::<Vec<_>>()),
        Some(vec![json!("x")])
    );
    t.sim.shutdown().await.expect("clean shutdown");
}
