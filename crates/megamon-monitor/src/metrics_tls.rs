//! HTTPS for `MetricsAddr` with `SecureMetrics` (SPEC §5): the certificate
//! and key from a directory (`tls.crt`, `tls.key`, the layout of a
//! cert-manager or `kubernetes.io/tls` Secret), reloaded when they change, or
//! a self-signed certificate made at start when no directory is given.
//! HTTP/2 is offered (ALPN) only with `EnableHTTP2`, as controller-runtime.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How often the certificate directory is checked for a new pair.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("metrics TLS: cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("metrics TLS: {path}: {problem}")]
    Pem { path: String, problem: String },
    #[error(
        "metrics TLS: the key in {dir} does not fit the certificate or is not usable: {source}"
    )]
    Key {
        dir: String,
        #[source]
        source: rustls::Error,
    },
    #[error("metrics TLS: cannot make a self-signed certificate: {0}")]
    SelfSigned(#[from] rcgen::Error),
    #[error("metrics TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// `tls.crt` and `tls.key` in this directory, reloaded when they change.
    Dir(PathBuf),
    /// Made at start for `localhost` and these names.
    SelfSigned(Vec<String>),
}

/// The certificate in use; swapped whole when the files change.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock still holds a whole Arc.
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the pair in `dir`.
fn load_dir(dir: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let (crt, key) = (read("tls.crt")?, read("tls.key")?);
    let pem_err = |name: &str, problem: String| TlsError::Pem {
        path: dir.join(name).display().to_string(),
        problem,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&crt)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err("tls.crt", e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_err("tls.crt", "no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| pem_err("tls.key", e.to_string()))?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|source| TlsError::Key {
        dir: dir.display().to_string(),
        source,
    })
}

fn self_signed(names: &[String]) -> Result<CertifiedKey, TlsError> {
    let mut all = vec!["localhost".to_string()];
    all.extend(names.iter().filter(|n| !n.is_empty()).cloned());
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(all)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "megamon");
    let cert = params.self_signed(&key)?;
    let key_der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    Ok(CertifiedKey::from_der(
        vec![cert.der().clone()],
        key_der,
        &provider(),
    )?)
}

/// Modification time and length of both files: what says they changed.
fn stamp(dir: &Path) -> Option<[(SystemTime, u64); 2]> {
    let one = |name: &str| {
        let m = std::fs::metadata(dir.join(name)).ok()?;
        Some((m.modified().ok()?, m.len()))
    };
    Some([one("tls.crt")?, one("tls.key")?])
}

/// The acceptor for `source`; with a directory, a task reloads the pair when
/// it changes until `stop`. A pair that cannot be read at start is an error;
/// later, a bad pair (half written) is logged and the last good one kept.
pub fn acceptor(
    source: &CertSource,
    http2: bool,
    stop: CancellationToken,
) -> Result<TlsAcceptor, TlsError> {
    let first = match source {
        CertSource::Dir(dir) => load_dir(dir)?,
        CertSource::SelfSigned(names) => self_signed(names)?,
    };
    let current = Arc::new(Current(RwLock::new(Arc::new(first))));
    if let CertSource::Dir(dir) = source {
        tokio::spawn(reload(dir.clone(), current.clone(), stop));
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(current);
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn reload(dir: PathBuf, current: Arc<Current>, stop: CancellationToken) {
    let mut seen = stamp(&dir);
    let mut tick = tokio::time::interval(RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = stamp(&dir);
        if now == seen {
            continue;
        }
        match load_dir(&dir) {
            Ok(pair) => {
                *current.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(pair);
                seen = now;
                tracing::info!(dir = %dir.display(), "metrics certificate reloaded");
            }
            // Perhaps half written: keep the last good pair, look again.
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload the metrics certificate; keeping the last one")
            }
        }
    }
}

/// Serves `router` over TLS on `listener` until `stop`.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    http2: bool,
    stop: CancellationToken,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a metrics connection");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let mut builder = Builder::new(TokioExecutor::new());
            if !http2 {
                builder = builder.http1_only();
            }
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "metrics connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
        std::fs::write(dir.join("tls.key"), key.serialize_pem()).unwrap();
        cert.der().to_vec()
    }

    #[test]
    fn a_pair_from_a_directory_and_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let der = write_pair(dir.path(), "a.example");
        let pair = load_dir(dir.path()).unwrap();
        assert_eq!(pair.cert[0].as_ref(), der.as_slice());
        // A key of another certificate does not fit.
        let other = tempfile::tempdir().unwrap();
        write_pair(other.path(), "b.example");
        std::fs::copy(other.path().join("tls.key"), dir.path().join("tls.key")).unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("does not fit"), "{err}");
        std::fs::write(dir.path().join("tls.crt"), "not pem").unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("tls.crt"), "{err}");
        std::fs::remove_file(dir.path().join("tls.key")).unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("tls.key") && err.contains("cannot read"),
            "{err}"
        );
    }

    #[test]
    fn self_signed_covers_localhost_and_the_names_given() {
        let pair = self_signed(&["megamon.megamon-system.svc".into()]).unwrap();
        assert_eq!(pair.cert.len(), 1);
    }
}
