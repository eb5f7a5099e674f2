//! A small stand-in for Google Cloud Storage's XML API: `PUT`, `GET` and
//! `HEAD` of `/{bucket}/{object}`, with generations, ETags and the
//! `x-goog-if-generation-match` precondition (0: must not exist; 412 on a
//! mismatch), which is all object_store's GCS client uses for our files.
//! Anything else is answered 501 and recorded, so a test notices.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use megamon_store::StoreOptions;
use tokio::sync::oneshot;

#[derive(Clone)]
struct Object {
    data: Bytes,
    generation: u64,
}

#[derive(Default)]
struct Buckets {
    objects: HashMap<(String, String), Object>,
    next_generation: u64,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub bucket: String,
    pub object: String,
    pub if_generation_match: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    buckets: Mutex<Buckets>,
    log: Mutex<Vec<Seen>>,
}

pub struct FakeGcs {
    pub port: u16,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl FakeGcs {
    pub async fn start() -> FakeGcs {
        let shared = Arc::new(Shared::default());
        shared.buckets.lock().unwrap().next_generation = 1_700_000_000_000_000;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        FakeGcs {
            port,
            shared,
            shutdown: Some(tx),
        }
    }

    /// Store options that point object_store's GCS client here, without OAuth.
    pub fn options(&self) -> StoreOptions {
        let key = format!(
            r#"{{"private_key": "", "private_key_id": "", "client_email": "test@example.invalid",
                "disable_oauth": true, "gcs_base_url": "http://127.0.0.1:{}"}}"#,
            self.port
        );
        StoreOptions::without_environment()
            .with("google_service_account_key", key)
            .with("google_allow_http", "true")
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn object(&self, bucket: &str, object: &str) -> Option<(Bytes, u64)> {
        let buckets = self.shared.buckets.lock().unwrap();
        buckets
            .objects
            .get(&(bucket.to_string(), object.to_string()))
            .map(|o| (o.data.clone(), o.generation))
    }

    /// Stores an object as another client would, bypassing preconditions.
    pub fn put_object(&self, bucket: &str, object: &str, data: &[u8]) {
        let mut buckets = self.shared.buckets.lock().unwrap();
        buckets.next_generation += 1;
        let generation = buckets.next_generation;
        buckets.objects.insert(
            (bucket.to_string(), object.to_string()),
            Object {
                data: Bytes::copy_from_slice(data),
                generation,
            },
        );
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [("content-type", "application/xml")], body).into_response()
}

fn object_headers(object: &Object) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let etag = format!("\"g{}\"", object.generation);
    let modified = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&jiff::Timestamp::now())
        .unwrap();
    headers.insert("etag", HeaderValue::from_str(&etag).unwrap());
    headers.insert("x-goog-generation", object.generation.into());
    headers.insert("x-goog-metageneration", 1.into());
    headers.insert("last-modified", HeaderValue::from_str(&modified).unwrap());
    headers
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches('/');
    let (bucket, object) = path.split_once('/').unwrap_or((path, ""));
    let (bucket, object) = (percent_decode(bucket), percent_decode(object));
    let precondition = headers
        .get("x-goog-if-generation-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = respond(
        &shared,
        &method,
        &bucket,
        &object,
        precondition.as_deref(),
        body,
    );
    shared.log.lock().unwrap().push(Seen {
        method: method.to_string(),
        bucket,
        object,
        if_generation_match: precondition,
        status: response.status().as_u16(),
    });
    response
}

fn respond(
    shared: &Shared,
    method: &Method,
    bucket: &str,
    object: &str,
    precondition: Option<&str>,
    body: Bytes,
) -> Response {
    if object.is_empty() {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "bucket operations",
        );
    }
    let key = (bucket.to_string(), object.to_string());
    let mut buckets = shared.buckets.lock().unwrap();
    match *method {
        Method::GET | Method::HEAD => match buckets.objects.get(&key) {
            None => error(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            ),
            Some(o) => {
                let mut headers = object_headers(o);
                headers.insert("content-length", o.data.len().into());
                if *method == Method::HEAD {
                    (StatusCode::OK, headers).into_response()
                } else {
                    (StatusCode::OK, headers, o.data.clone()).into_response()
                }
            }
        },
        Method::PUT => {
            let current = buckets.objects.get(&key).map(|o| o.generation).unwrap_or(0);
            if let Some(wanted) = precondition
                && wanted.parse::<u64>().ok() != Some(current)
            {
                return error(
                    StatusCode::PRECONDITION_FAILED,
                    "PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold.",
                );
            }
            buckets.next_generation += 1;
            let stored = Object {
                data: body,
                generation: buckets.next_generation,
            };
            let headers = object_headers(&stored);
            buckets.objects.insert(key, stored);
            (StatusCode::OK, headers).into_response()
        }
        _ => error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            method.as_str(),
        ),
    }
}
