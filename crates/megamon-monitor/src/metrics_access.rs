//! Who may read `MetricsAddr` with `SecureMetrics` (SPEC §5), as
//! controller-runtime's authentication/authorization filter decides it: the
//! bearer token is authenticated with a TokenReview, the user authorised with
//! a SubjectAccessReview for the request's non-resource URL path and its
//! HTTP method, lowercased, as the verb (`get` for a scrape). Anonymous
//! requests are refused.
//!
//! Answers: 401 without a token or with one the API server does not accept;
//! 403 without permission; 500 when the API server cannot be asked. Results
//! are cached as controller-runtime does: authenticated tokens for 1 minute,
//! allowed decisions for 5 minutes, denied ones for 30 seconds.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

const TOKEN_TTL: Duration = Duration::from_secs(60);
const ALLOWED_TTL: Duration = Duration::from_secs(300);
const DENIED_TTL: Duration = Duration::from_secs(30);
/// Most entries a cache keeps: scrapers are few; a flood of distinct
/// tokens must not grow memory without bound.
const CACHE_LIMIT: usize = 4096;

/// An authenticated user, as the TokenReview said.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct User {
    name: String,
    uid: String,
    groups: Vec<String>,
}

/// What a decision is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Question {
    user: User,
    path: String,
    verb: String,
}

/// Entries that expire, bounded.
#[derive(Debug)]
struct Cache<K, V>(HashMap<K, (V, Instant)>);

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    fn get(&mut self, key: &K) -> Option<V> {
        match self.0.get(key) {
            Some((v, until)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                self.0.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&mut self, key: K, value: V, ttl: Duration) {
        if self.0.len() >= CACHE_LIMIT {
            let now = Instant::now();
            self.0.retain(|_, (_, until)| *until > now);
            if self.0.len() >= CACHE_LIMIT {
                self.0.clear();
            }
        }
        self.0.insert(key, (value, Instant::now() + ttl));
    }
}

/// The filter's state: an API client and its caches.
pub struct Access {
    client: Client,
    /// SHA-256 of the token → its user; tokens themselves are not kept.
    tokens: Mutex<Cache<[u8; 32], User>>,
    decisions: Mutex<Cache<Question, bool>>,
}

/// Why a request was not let through.
#[derive(Debug)]
enum Refused {
    Unauthenticated(&'static str),
    Forbidden(String),
    Unavailable(String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Refused::Unauthenticated(why) => (StatusCode::UNAUTHORIZED, why.to_string()),
            Refused::Forbidden(why) => (StatusCode::FORBIDDEN, why),
            Refused::Unavailable(why) => (StatusCode::INTERNAL_SERVER_ERROR, why),
        };
        let mut response = (status, format!("{text}\n")).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each cache operation is one step: a poisoned cache is still whole.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Access {
    pub fn new(client: Client) -> Arc<Access> {
        Arc::new(Access {
            client,
            tokens: Mutex::new(Cache(HashMap::new())),
            decisions: Mutex::new(Cache(HashMap::new())),
        })
    }

    async fn authenticate(&self, token: &str) -> Result<User, Refused> {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        if let Some(user) = lock(&self.tokens).get(&key) {
            return Ok(user);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let answer = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| Refused::Unavailable(format!("cannot review the token: {e}")))?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Err(Refused::Unauthenticated(
                "the bearer token was not accepted",
            ));
        }
        let info = status.user.unwrap_or_default();
        let user = User {
            name: info.username.unwrap_or_default(),
            uid: info.uid.unwrap_or_default(),
            groups: info.groups.unwrap_or_default(),
        };
        lock(&self.tokens).put(key, user.clone(), TOKEN_TTL);
        Ok(user)
    }

    async fn authorize(&self, question: Question) -> Result<bool, Refused> {
        if let Some(allowed) = lock(&self.decisions).get(&question) {
            return Ok(allowed);
        }
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(question.user.name.clone()),
                uid: Some(question.user.uid.clone()).filter(|u| !u.is_empty()),
                groups: Some(question.user.groups.clone()),
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(question.path.clone()),
                    verb: Some(question.verb.clone()),
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| Refused::Unavailable(format!("cannot review the access: {e}")))?;
        let allowed = answer.status.is_some_and(|s| s.allowed);
        let ttl = if allowed { ALLOWED_TTL } else { DENIED_TTL };
        lock(&self.decisions).put(question, allowed, ttl);
        Ok(allowed)
    }

    /// `token` (from `Authorization: Bearer`) may `verb` `path`.
    async fn check(
        &self,
        token: Option<String>,
        path: String,
        verb: String,
    ) -> Result<(), Refused> {
        let token = token.ok_or(Refused::Unauthenticated(
            "a bearer token is required (Authorization: Bearer <token>)",
        ))?;
        let user = self.authenticate(&token).await?;
        let question = Question { path, verb, user };
        let (name, verb, path) = (
            question.user.name.clone(),
            question.verb.clone(),
            question.path.clone(),
        );
        if self.authorize(question).await? {
            Ok(())
        } else {
            Err(Refused::Forbidden(format!(
                "{name:?} may not {verb} {path} (grant it with a ClusterRole like megamon-metrics-reader)"
            )))
        }
    }
}

/// The filter, for `axum::middleware::from_fn_with_state`.
pub async fn require(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let path = request.uri().path().to_string();
    let verb = request.method().as_str().to_ascii_lowercase();
    match access.check(token, path.clone(), verb).await {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            tracing::debug!(%path, ?refused, "metrics request refused");
            refused.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_entries_expire_and_the_cache_stays_bounded() {
        let mut c: Cache<u32, bool> = Cache(HashMap::new());
        c.put(1, true, Duration::from_secs(60));
        c.put(2, false, Duration::ZERO);
        assert_eq!(c.get(&1), Some(true));
        assert_eq!(c.get(&2), None, "expired");
        for i in 0..(CACHE_LIMIT as u32 * 2) {
            c.put(i, true, Duration::from_secs(60));
        }
        assert!(c.0.len() <= CACHE_LIMIT);
    }
}
