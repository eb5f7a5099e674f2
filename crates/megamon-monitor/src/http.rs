//! HTTP listeners: metrics (`MetricsAddr`) and probes (`ProbeAddr`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::leader::Leadership;

/// A Go-style listen address (`:8080`, `host:8080`, `[::1]:8080`); `None` for
/// `"0"`, which disables the listener as in controller-runtime.
pub fn parse_listen(addr: &str) -> Result<Option<SocketAddr>, String> {
    if addr == "0" {
        return Ok(None);
    }
    let full = match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_string(),
    };
    full.parse::<SocketAddr>()
        .map(Some)
        .or_else(|_| {
            // A host name: resolve it once.
            std::net::ToSocketAddrs::to_socket_addrs(&full)
                .map_err(|e| e.to_string())?
                .next()
                .map(Some)
                .ok_or_else(|| "resolves to no address".to_string())
        })
        .map_err(|e| format!("listen address {addr:?}: {e}"))
}

/// `/healthz` (alive: fails when the leader election loop is wedged) and
/// `/readyz` (after the first aggregation, on a standby too, so that a
/// Deployment can roll).
pub fn probes(ready: Arc<AtomicBool>, election: Arc<OnceLock<Leadership>>) -> Router {
    let alive = move || {
        let ok = election.get().is_none_or(Leadership::is_alive);
        async move {
            if ok {
                (StatusCode::OK, "ok")
            } else {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the leader election loop has not run for too long",
                )
            }
        }
    };
    Router::new()
        .route("/healthz", get(alive.clone()))
        .route("/livez", get(alive))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::Acquire);
                async move {
                    if ready {
                        (StatusCode::OK, "ok")
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "waiting for the first aggregation",
                        )
                    }
                }
            }),
        )
}

/// Binds `addr` and serves `router` until `shutdown` fires. Returns the bound
/// address (port 0 picks one).
pub async fn serve(
    name: &'static str,
    addr: SocketAddr,
    router: Router,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(listener = name, addr = %bound, "serving");
    tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::error!(listener = name, error = %e, "HTTP server failed");
        }
    });
    Ok(bound)
}

/// Like [`serve`], over TLS (`SecureMetrics`).
pub async fn serve_tls(
    addr: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
    http2: bool,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(listener = "metrics", addr = %bound, tls = true, "serving");
    tokio::spawn(crate::metrics_tls::serve(
        listener, acceptor, router, http2, shutdown,
    ));
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_listen_addresses() {
        assert_eq!(
            parse_listen(":8080").unwrap(),
            Some("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(
            parse_listen("127.0.0.1:0").unwrap(),
            Some("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse_listen("[::1]:9").unwrap(),
            Some("[::1]:9".parse().unwrap())
        );
        assert_eq!(parse_listen("0").unwrap(), None);
        assert!(parse_listen("nonsense").is_err());
    }
}
