//! A Kubernetes API server simulator that real clients (kubectl, kube-rs) cannot tell
//! from a cluster for the resources MegaMon and its tests use.
#![forbid(unsafe_code)]

pub mod patch;
pub mod selector;

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything `megamon sim` is told on its command line.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Address to listen on; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Where to write a kubeconfig for the running simulator (atomically).
    pub kubeconfig_out: Option<PathBuf>,
    /// Files or directories of objects to create before serving.
    pub seeds: Vec<PathBuf>,
    /// Install the JobSet and Slice CRDs at start.
    pub default_crds: bool,
    /// kube-apiserver `--token-auth-file` CSV for TokenReviews.
    pub token_auth_file: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate.
    pub tls: bool,
}

/// Errors that stop the simulator from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulator is not implemented yet")]
    NotImplemented,
}

/// Runs the simulator until `shutdown` resolves.
pub async fn run(
    _options: SimOptions,
    _shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    Err(SimError::NotImplemented)
}
