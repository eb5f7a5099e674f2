//! MegaMon's web view, served beside `/metrics`: a single page (fleet table,
//! per-entity up/down timelines) and the JSON API it reads (`docs/api.md`).
//!
//! The page is hand-written HTML, CSS and JavaScript embedded in the binary: no
//! CDN, no build step.
#![forbid(unsafe_code)]

pub mod api;
mod assets;

use axum::Router;
use megamon_monitor::view::FleetView;

/// All routes of the web view: `/`, `/assets/*` and `/api/v1/*`.
pub fn router(view: FleetView) -> Router {
    Router::new()
        .merge(assets::router())
        .merge(api::router(view))
}
