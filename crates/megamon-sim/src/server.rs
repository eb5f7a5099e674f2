//! HTTP routing: health, discovery, OpenAPI, resource verbs and `/_sim/` fault injection.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::auth;
use crate::discovery;
use crate::error::ApiError;
use crate::faults::FaultConfig;
use crate::handlers::{self, Reply};
use crate::openapi;
use crate::options::{ListOptions, WriteOptions, WriteVerb};
use crate::request::{self, Query, Representation, Target, parse_body};
use crate::resources::Special;
use crate::state::Sim;
use crate::watch;

/// Largest request body accepted.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new().fallback(handle).with_state(sim)
}

async fn handle(State(sim): State<Arc<Sim>>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let response = dispatch(&sim, req).await;
    let status = response.status();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::warn!(%method, %uri, status = status.as_u16(), elapsed_ms, "request failed");
    } else {
        tracing::debug!(%method, %uri, status = status.as_u16(), elapsed_ms, "request");
    }
    response
}

fn reply(r: Reply) -> Response {
    let mut response = Response::new(Body::from(r.body));
    *response.status_mut() =
        StatusCode::from_u16(r.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn json_reply(code: u16, value: &Value) -> Response {
    reply(Reply::json(code, value))
}

fn error_reply(err: &ApiError) -> Response {
    let mut response = reply(Reply::error(err));
    if err.code == 429 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn text_reply(text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn dispatch(sim: &Arc<Sim>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if let Some(op) = path.strip_prefix("/_sim/") {
        let method = req.method().clone();
        let body = match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
            Ok(b) => b,
            Err(e) => return error_reply(&ApiError::bad_request(format!("cannot read body: {e}"))),
        };
        return sim_endpoint(sim, &method, op, &body);
    }
    let health = ["/healthz", "/livez", "/readyz"];
    if health
        .iter()
        .any(|h| path == *h || path.starts_with(&format!("{h}/")))
    {
        return text_reply("ok");
    }
    let is_watch = path.contains("/watch/") || Query::parse(req.uri().query()).flag("watch");
    let (delay, fault) = sim.faults.draw(is_watch);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(fault) = fault {
        return error_reply(&fault);
    }
    match api(sim, req, &path).await {
        Ok(response) => response,
        Err(err) => error_reply(&err),
    }
}

fn sim_endpoint(sim: &Sim, method: &Method, op: &str, body: &[u8]) -> Response {
    match (method.as_str(), op) {
        ("POST", "drop-watches") => {
            sim.store.drop_watches();
            tracing::info!("fault injection: dropped every open watch");
            json_reply(200, &json!({"droppedWatches": true}))
        }
        ("POST", "compact") => {
            sim.store.compact();
            let rv = sim.store.current_rv();
            tracing::info!("fault injection: compacted history at resourceVersion {rv}");
            json_reply(200, &json!({"compactedAt": rv.to_string()}))
        }
        ("POST", "faults") => {
            let config: FaultConfig = if body.iter().all(u8::is_ascii_whitespace) {
                FaultConfig::default()
            } else {
                match serde_json::from_slice(body) {
                    Ok(c) => c,
                    Err(e) => {
                        return error_reply(&ApiError::bad_request(format!(
                            "fault settings must look like {{\"errorRate\":0.1,\"status\":500,\"latencyMs\":0}}: {e}"
                        )));
                    }
                }
            };
            if let Err(e) = config.validate() {
                return error_reply(&e);
            }
            tracing::info!(?config, "fault injection: new settings");
            sim.faults.set(config.clone());
            json_reply(200, &serde_json::to_value(&config).unwrap_or_default())
        }
        ("GET", "faults") => json_reply(
            200,
            &serde_json::to_value(sim.faults.get()).unwrap_or_default(),
        ),
        (_, "drop-watches" | "compact" | "faults") => error_reply(&ApiError::method_not_allowed()),
        _ => error_reply(&ApiError::no_route()),
    }
}

async fn api(sim: &Arc<Sim>, req: Request, path: &str) -> Result<Response, ApiError> {
    let trimmed = path.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    let is_get = req.method() == Method::GET;
    match segments.as_slice() {
        [""] if is_get => return Ok(json_reply(200, &discovery::root_paths(&sim.registry))),
        ["version"] if is_get => return Ok(json_reply(200, &discovery::version())),
        ["api"] if is_get => {
            return Ok(json_reply(
                200,
                &discovery::core_versions(&sim.server_address),
            ));
        }
        ["apis"] if is_get => return Ok(json_reply(200, &discovery::group_list(&sim.registry))),
        ["api", version] if is_get => {
            return discovery::resource_list(&sim.registry, "", version)
                .map(|doc| json_reply(200, &doc))
                .ok_or_else(ApiError::no_route);
        }
        ["apis", group] if is_get => {
            return discovery::group(&sim.registry, group)
                .map(|doc| json_reply(200, &doc))
                .ok_or_else(ApiError::no_route);
        }
        ["apis", group, version] if is_get => {
            return discovery::resource_list(&sim.registry, group, version)
                .map(|doc| json_reply(200, &doc))
                .ok_or_else(ApiError::no_route);
        }
        ["openapi", "v2"] if is_get => {
            let doc = openapi::v2_document(&sim.registry, &sim.store);
            let accept = header_str(req.headers(), header::ACCEPT).unwrap_or_default();
            // client-go asks for gnostic's protobuf only (OpenAPISchema()).
            if accept.contains("application/com.github.proto-openapi.spec.v2") {
                let mut response = Response::new(Body::from(crate::gnostic::encode(&doc)));
                // As kube-openapi answers it: `@` is not valid in a media type.
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                    ),
                );
                return Ok(response);
            }
            return Ok(json_reply(200, &doc));
        }
        ["openapi", "v3"] if is_get => return Ok(json_reply(200, &openapi::root(&sim.registry))),
        ["openapi", "v3", rest @ ..] if is_get => {
            return openapi::group_version_doc(&sim.registry, &sim.store, &rest.join("/"))
                .map(|doc| json_reply(200, &doc))
                .ok_or_else(ApiError::no_route);
        }
        _ => {}
    }
    let Some(target) = request::resolve(&sim.registry, path)? else {
        return Err(ApiError::no_route());
    };
    let method = req.method().clone();
    let query = Query::parse(req.uri().query());
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .map_err(|e| {
            ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("cannot read the request body: {e}"),
            )
        })?;
    let warning = target.def.deprecation_warning.clone();
    let mut response = match resource(sim, &method, target, &query, &headers, body) {
        Ok(response) => response,
        Err(err) if query.pretty() => {
            let mut response = reply(prettified(Reply::error(&err)));
            if err.code == 429 {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
        Err(err) => error_reply(&err),
    };
    // As kube-apiserver does for deprecated versions; kubectl prints it.
    if let Some(warning) = warning
        && let Ok(value) = HeaderValue::from_str(&format!("299 - {warning:?}"))
    {
        response.headers_mut().insert(header::WARNING, value);
    }
    Ok(response)
}

fn resource(
    sim: &Arc<Sim>,
    method: &Method,
    target: Target,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let def = target.def.clone();
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("application/json");
    if def.is_review() {
        if method != Method::POST || target.name.is_some() {
            return Err(ApiError::method_not_allowed());
        }
        let review = parse_body(content_type, &body)?;
        request::check_kind(&def, &review)?;
        let answer = match def.special {
            Special::TokenReview => auth::token_review(&sim.tokens, &review),
            Special::SubjectAccessReview => auth::subject_access_review(&sim.store, &review),
            _ => auth::self_subject_access_review(&review),
        };
        return Ok(json_reply(201, &answer));
    }
    let wants_repr = || {
        let repr = request::representation(header_str(headers, header::ACCEPT))?;
        if repr == Representation::Table {
            crate::options::check_table_options(query)?;
        }
        Ok::<_, ApiError>(repr)
    };
    let write_repr = || wants_repr().unwrap_or(Representation::Object);
    let is_item = target.name.is_some();
    let answer = match (method.as_str(), is_item) {
        // The legacy single-object watch: a watch of the collection narrowed by name.
        ("GET", true) if query.flag("watch") => {
            let mut options = ListOptions::from_query(query)?;
            let name = target.name.clone().unwrap_or_default();
            options.field_selector = match options.field_selector.as_str() {
                "" => format!("metadata.name={name}"),
                other => format!("metadata.name={name},{other}"),
            };
            let target = Target {
                name: None,
                ..target
            };
            return watch_response(sim, target, &options, query, wants_repr()?);
        }
        ("GET", true) => handlers::get(sim, &target, query, wants_repr()?)?,
        ("GET", false) => {
            let options = ListOptions::from_query(query)?;
            if options.watch {
                return watch_response(sim, target, &options, query, wants_repr()?);
            }
            handlers::list(sim, &target, &options, query, wants_repr()?)?
        }
        ("POST", false) => {
            if def.namespaced && target.namespace.is_none() {
                return Err(ApiError::no_route());
            }
            let options = WriteOptions::from_query(query, WriteVerb::Create)?;
            let obj = parse_body(content_type, &body)?;
            let stored =
                handlers::create(sim, &def, target.namespace.as_deref(), obj, options.dry_run)?;
            handlers::written_reply(201, &def, &stored, write_repr(), query)?
        }
        ("PUT", true) => {
            let options = WriteOptions::from_query(query, WriteVerb::Update)?;
            let obj = parse_body(content_type, &body)?;
            let updated = handlers::update(sim, &target, obj, options.dry_run)?;
            let code = if updated.created { 201 } else { 200 };
            handlers::written_reply(code, &def, &updated.stored, write_repr(), query)?
        }
        ("PATCH", true) => {
            let updated = handlers::patch(sim, &target, query, content_type, &body)?;
            let code = if updated.created { 201 } else { 200 };
            handlers::written_reply(code, &def, &updated.stored, write_repr(), query)?
        }
        ("DELETE", true) => handlers::delete(sim, &target, query, &body)?,
        ("DELETE", false) => handlers::delete_collection(sim, &target, query, &body)?,
        _ => return Err(ApiError::method_not_allowed()),
    };
    Ok(reply(if query.pretty() {
        prettified(answer)
    } else {
        answer
    }))
}

/// `?pretty=true`: indented JSON, as kube-apiserver writes it then.
fn prettified(answer: Reply) -> Reply {
    match serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| serde_json::to_vec_pretty(&v).ok())
    {
        Some(body) => Reply {
            code: answer.code,
            body: Bytes::from(body),
        },
        None => answer,
    }
}

fn watch_response(
    sim: &Arc<Sim>,
    target: Target,
    options: &ListOptions,
    query: &Query,
    repr: Representation,
) -> Result<Response, ApiError> {
    let rx = watch::start(sim, target, options, query, repr)?;
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
