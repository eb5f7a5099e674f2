//! The JSON API behind the page (`/api/v1/...`, documented in `docs/api.md`).
//!
//! Field names follow the report: up-ness and summaries keep the original's
//! names and integer-nanosecond durations, so one parser reads both.

use std::collections::BTreeMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jiff::Timestamp;
use megamon_core::Attrs;
use megamon_core::cause::CauseCounts;
use megamon_core::kind::UnknownKind;
use megamon_core::report::ScheduledJob;
use megamon_core::{EntityKind, EntitySnapshot, Snapshot, Summary, UpEvent, Upness};
use megamon_monitor::view::{EndedQuery, FleetView};
use serde::{Deserialize, Serialize};

pub fn router(view: FleetView) -> Router {
    Router::new()
        .route("/api/v1/fleet", get(fleet))
        .route("/api/v1/entities/{kind}/{key}", get(entity))
        .route("/api/v1/history", get(history))
        .route("/api/v1", get(unknown_endpoint))
        .route("/api/v1/", get(unknown_endpoint))
        .route("/api/v1/{*rest}", get(unknown_endpoint))
        .with_state(view)
}

/// Why a request got no data; each becomes a JSON `{"error": "..."}` body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Before the monitor's first aggregation there is nothing to show.
    #[error("not ready")]
    NotReady,
    #[error(transparent)]
    BadKind(#[from] UnknownKind),
    #[error("no {kind} entity with key {key:?} in the latest snapshot")]
    UnknownEntity { kind: EntityKind, key: String },
    #[error("bad request path: {0}")]
    BadPath(String),
    #[error("no API endpoint at {0} (see docs/api.md)")]
    NoSuchEndpoint(String),
    #[error("this monitor keeps no history store, so it has no archive of ended entities")]
    NoArchive,
    #[error("bad query: {0}")]
    BadQuery(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadKind(_) | ApiError::BadPath(_) | ApiError::BadQuery(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::UnknownEntity { .. } | ApiError::NoSuchEndpoint(_) | ApiError::NoArchive => {
                StatusCode::NOT_FOUND
            }
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.to_string(),
        };
        (self.status(), no_store(), Json(body)).into_response()
    }
}

/// Every answer reflects the live fleet: never cache it.
fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

/// `GET /api/v1/fleet`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetBody<'a> {
    pub taken_at: Timestamp,
    pub families: Vec<FamilyBody<'a>>,
    /// Node pool → the JobSet leader job scheduled on it.
    pub scheduling: &'a BTreeMap<String, ScheduledJob>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FamilyBody<'a> {
    /// `jobsets`, `jobset-nodes`, `node-pools`, `slices` or `leader-worker-sets`.
    pub kind: &'static str,
    /// The metric family: `jobset`, `jobset.nodes`, `nodepool`, `slice`,
    /// `leaderworkerset`.
    pub family: &'static str,
    /// What the page calls one entity and several.
    pub title: &'static str,
    pub title_plural: &'static str,
    pub entities: Vec<EntityBody<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityBody<'a> {
    pub key: &'a str,
    pub up: bool,
    pub state: &'static str,
    pub upness: &'a Upness,
    pub summary: &'a Summary,
    /// Interruptions by cause, `{"preemption": 2}`; they add up to
    /// `summary.interruptionCount`.
    pub causes: &'a CauseCounts,
    /// Up time over observed time, in percent; `null` before any time passed.
    pub up_percent: Option<f64>,
}

impl<'a> EntityBody<'a> {
    pub fn new(e: &'a EntitySnapshot) -> Self {
        EntityBody {
            key: &e.key,
            up: e.up,
            state: state(e),
            upness: &e.upness,
            summary: &e.summary,
            causes: &e.causes,
            up_percent: up_percent(&e.summary),
        }
    }
}

/// `GET /api/v1/entities/{kind}/{key}`: the entity as in the fleet, plus where it
/// belongs and its stored transitions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityDetailBody<'a> {
    pub kind: &'static str,
    pub family: &'static str,
    pub taken_at: Timestamp,
    #[serde(flatten)]
    pub entity: EntityBody<'a>,
    /// The JobSet scheduled on this node pool, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<&'a ScheduledJob>,
    pub events: Vec<UpEvent>,
}

/// `up`, `down`, `down (planned)` for planned downtime (a completed JobSet,
/// a pool being stopped or deleted), or `down (failed)` (a failed JobSet, a
/// pool in error).
pub fn state(e: &EntitySnapshot) -> &'static str {
    if e.up {
        "up"
    } else if e.upness.expected_down {
        "down (planned)"
    } else if e.upness.failed {
        "down (failed)"
    } else {
        "down"
    }
}

pub fn up_percent(s: &Summary) -> Option<f64> {
    let total = (s.up_time + s.down_time).as_secs_f64();
    (total > 0.0).then(|| 100.0 * s.up_time.as_secs_f64() / total)
}

fn latest(view: &FleetView) -> Result<std::sync::Arc<Snapshot>, ApiError> {
    view.latest().ok_or(ApiError::NotReady)
}

/// `GET /api/v1/fleet`. The page polls it every two seconds while the fleet may
/// not have changed, so it carries an ETag (the aggregation's time) and answers
/// `304 Not Modified` to a matching `If-None-Match` without serialising anything.
async fn fleet(State(view): State<FleetView>, request: HeaderMap) -> Result<Response, ApiError> {
    let snapshot = latest(&view)?;
    let etag = format!("\"{}\"", snapshot.taken_at.as_nanosecond());
    let revalidate = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, "no-cache".to_string()),
    ];
    if matches_etag(&request, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, revalidate).into_response());
    }
    let body = FleetBody {
        taken_at: snapshot.taken_at,
        families: snapshot
            .families
            .iter()
            .map(|f| FamilyBody {
                kind: f.kind.name(),
                family: f.kind.metric_family(),
                title: f.kind.names().title,
                title_plural: f.kind.names().title_plural,
                entities: f.entities.iter().map(|e| EntityBody::new(e)).collect(),
            })
            .collect(),
        scheduling: &snapshot.scheduling,
    };
    Ok((revalidate, Json(body)).into_response())
}

/// Whether `If-None-Match` names `etag` (weak or strong) or is `*`.
fn matches_etag(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

async fn entity(
    State(view): State<FleetView>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((kind, key)) = path.map_err(|e| ApiError::BadPath(e.body_text()))?;
    let kind: EntityKind = kind.parse()?;
    let snapshot = latest(&view)?;
    let unknown = || ApiError::UnknownEntity {
        kind,
        key: key.clone(),
    };
    let found = snapshot
        .family(kind)
        .and_then(|f| f.entities.iter().find(|e| e.key == key))
        .ok_or_else(unknown)?;
    // No timeline only while the monitor stops: the entity is still worth showing.
    let events = view
        .timeline(kind, &key)
        .await
        .map(|t| t.events().to_vec())
        .unwrap_or_default();
    let scheduled = match kind {
        EntityKind::NodePools => snapshot.scheduling.get(&key),
        _ => None,
    };
    let body = EntityDetailBody {
        kind: kind.name(),
        family: kind.metric_family(),
        taken_at: snapshot.taken_at,
        entity: EntityBody::new(found),
        scheduled,
        events,
    };
    Ok((no_store(), Json(body)).into_response())
}

/// Ended entities the history view shows when asked for no limit.
pub const HISTORY_DEFAULT_LIMIT: usize = 200;
/// The most it shows at once.
pub const HISTORY_MAX_LIMIT: usize = 2000;

/// `GET /api/v1/history?q=&kind=&limit=` parameters.
#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    #[serde(default)]
    q: String,
    kind: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/history`: ended entities from the archive, the latest first.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryBody {
    pub ended: Vec<EndedBody>,
    /// More matched than `limit`.
    pub truncated: bool,
    /// Day files that could not be read (the rest are shown).
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndedBody {
    pub kind: &'static str,
    pub family: &'static str,
    pub key: String,
    pub ended_at: Timestamp,
    pub attrs: Attrs,
    /// At its end.
    pub summary: Summary,
    pub causes: BTreeMap<&'static str, u64>,
    pub up_percent: Option<f64>,
    /// Its timeline, as stored.
    pub events: Vec<UpEvent>,
}

async fn history(
    State(view): State<FleetView>,
    params: Result<Query<HistoryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let kind = params.kind.as_deref().map(str::parse).transpose()?;
    let limit = params
        .limit
        .unwrap_or(HISTORY_DEFAULT_LIMIT)
        .clamp(1, HISTORY_MAX_LIMIT);
    let query = EndedQuery {
        kind,
        search: params.q,
        limit,
    };
    let found = view.ended(&query).await.ok_or(ApiError::NoArchive)?;
    let ended = found
        .entities
        .into_iter()
        .map(|e| EndedBody {
            kind: e.kind.name(),
            family: e.kind.metric_family(),
            causes: e
                .timeline
                .causes()
                .iter()
                .map(|(c, n)| (c.as_str(), n))
                .collect(),
            up_percent: up_percent(&e.summary),
            events: e.timeline.events().to_vec(),
            key: e.key,
            ended_at: e.ended_at,
            attrs: e.attrs,
            summary: e.summary,
        })
        .collect();
    let body = HistoryBody {
        ended,
        truncated: found.truncated,
        errors: found.errors,
    };
    Ok((no_store(), Json(body)).into_response())
}

async fn unknown_endpoint(uri: Uri) -> ApiError {
    ApiError::NoSuchEndpoint(uri.path().to_string())
}
