//! A Kubernetes API server simulator that real clients (kubectl, kube-rs) cannot tell
//! from a cluster for the resources MegaMon and its tests use.
//!
//! Start one in-process with [`Simulator::start`], or run it until a signal with [`run`]
//! (what `megamon sim` does). Besides the Kubernetes API it serves fault injection for
//! reliability tests: `POST /_sim/drop-watches`, `POST /_sim/compact` and
//! `POST /_sim/faults` with `{"errorRate":0.1,"status":500,"latencyMs":0}` (`{}` clears).
#![forbid(unsafe_code)]

pub mod patch;
pub mod selector;

pub mod auth;
pub mod discovery;
pub mod error;
pub mod faults;
mod gnostic;
pub mod handlers;
pub mod kubeconfig;
pub mod objects;
pub mod openapi;
mod options;
pub mod protobuf;
pub mod request;
pub mod resources;
pub mod seed;
pub mod server;
pub mod state;
pub mod store;
pub mod table;
pub mod tls;
pub mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch as signal;

use crate::resources::Registry;
use crate::state::Sim;
use crate::store::Store;

/// The JobSet and Slice CRDs, installed at start unless told otherwise.
pub const DEFAULT_CRDS: [(&str, &str); 2] = [
    (
        "jobset.x-k8s.io_jobsets.yaml",
        include_str!("../crds/jobset.x-k8s.io_jobsets.yaml"),
    ),
    (
        "accelerator.gke.io_slices.yaml",
        include_str!("../crds/accelerator.gke.io_slices.yaml"),
    ),
];

/// The LeaderWorkerSet CRD, installed with [`SimOptions::leader_worker_sets`]:
/// clusters have it only when LWS is deployed, and parsing its 1.3 MB of
/// schema would add about half a second to every start.
pub const LEADER_WORKER_SET_CRD: (&str, &str) = (
    "leaderworkerset.x-k8s.io_leaderworkersets.yaml",
    include_str!("../crds/leaderworkerset.x-k8s.io_leaderworkersets.yaml"),
);

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
    /// Install the LeaderWorkerSet CRD at start.
    pub leader_worker_sets: bool,
    /// kube-apiserver `--token-auth-file` CSV for TokenReviews.
    pub token_auth_file: Option<PathBuf>,
    /// Serve HTTPS (instead of HTTP) with a self-signed certificate made at start.
    pub tls: bool,
    /// How often watches that allow bookmarks get a BOOKMARK event.
    pub bookmark_interval: Duration,
    /// Events kept for watches and consistent pagination; older versions get 410.
    pub history_limit: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            kubeconfig_out: None,
            seeds: Vec::new(),
            default_crds: true,
            leader_worker_sets: false,
            token_auth_file: None,
            tls: false,
            bookmark_interval: Duration::from_secs(10),
            history_limit: 100_000,
        }
    }
}

/// Errors that stop the simulator from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    TokenFile(#[from] auth::TokenFileError),
    #[error(transparent)]
    Seed(#[from] seed::SeedError),
    #[error("built-in CRD {file} cannot be installed: {message}")]
    DefaultCrd { file: &'static str, message: String },
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Builds the simulator.
pub struct Simulator;

/// A simulator serving in the background; stop it with [`RunningSim::shutdown`].
pub struct RunningSim {
    addr: SocketAddr,
    scheme: &'static str,
    certificate_pem: Option<String>,
    kubeconfig: Option<PathBuf>,
    sim: Arc<Sim>,
    stop: signal::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), std::io::Error>>,
}

impl RunningSim {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (`https://` with `--tls`).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// With `--tls`: the self-signed server certificate (PEM), to trust as a CA.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    pub fn kubeconfig_path(&self) -> Option<&Path> {
        self.kubeconfig.as_deref()
    }

    /// The state, for tests that want to look behind the API.
    pub fn state(&self) -> &Arc<Sim> {
        &self.sim
    }

    /// Stops serving: open watches end, then the server.
    pub async fn shutdown(self) -> Result<(), SimError> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SimError::Serve(e)),
            Err(e) => Err(SimError::Serve(std::io::Error::other(e))),
        }
    }
}

fn default_namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

impl Simulator {
    /// Creates the state (default namespaces, CRDs, seeds), binds, writes the kubeconfig
    /// and serves in the background.
    pub async fn start(options: SimOptions) -> Result<RunningSim, SimError> {
        let tokens = match &options.token_auth_file {
            Some(path) => auth::TokenFile::load(path)?,
            None => auth::TokenFile::default(),
        };
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: options.addr,
                source,
            })?;
        let local = listener.local_addr().map_err(|source| SimError::Bind {
            addr: options.addr,
            source,
        })?;
        // A wildcard listen address is reached through loopback.
        let addr = if local.ip().is_unspecified() {
            SocketAddr::new(
                if local.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                },
                local.port(),
            )
        } else {
            local
        };
        let (stop, stopped) = signal::channel(false);
        let sim = Arc::new(Sim {
            registry: Registry::with_builtins(),
            store: Store::new(options.history_limit),
            faults: faults::Faults::default(),
            tokens,
            bookmark_interval: options.bookmark_interval.max(Duration::from_millis(10)),
            shutdown: stopped.clone(),
            server_address: addr.to_string(),
        });
        populate(&sim, &options)?;
        let material = if options.tls {
            Some(tls::self_signed(addr)?)
        } else {
            None
        };
        let scheme = if material.is_some() { "https" } else { "http" };
        let certificate_pem = material.as_ref().map(|m| m.certificate_pem.clone());
        let server_url = format!("{scheme}://{addr}");
        if let Some(path) = &options.kubeconfig_out {
            kubeconfig::write(path, &server_url, certificate_pem.as_deref()).map_err(|source| {
                SimError::Kubeconfig {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        let app = server::router(sim.clone());
        let mut stopped_signal = stopped;
        let task = match material {
            Some(material) => {
                tokio::spawn(tls::serve(listener, material.acceptor, app, stopped_signal))
            }
            None => tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped_signal.wait_for(|s| *s).await;
                    })
                    .await
            }),
        };
        tracing::info!(
            "megamon sim serving the Kubernetes API on {server_url}{}",
            options
                .kubeconfig_out
                .as_ref()
                .map(|p| format!(" (kubeconfig: {})", p.display()))
                .unwrap_or_default()
        );
        Ok(RunningSim {
            addr,
            scheme,
            certificate_pem,
            kubeconfig: options.kubeconfig_out.clone(),
            sim,
            stop,
            task,
        })
    }
}

/// Default namespaces, default CRDs, then seeds.
fn populate(sim: &Sim, options: &SimOptions) -> Result<(), SimError> {
    if let Some(def) = sim.registry.get("", "v1", "namespaces") {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            handlers::create(sim, &def, None, default_namespace(ns), false).map_err(|e| {
                SimError::Serve(std::io::Error::other(format!(
                    "cannot create namespace {ns}: {e}"
                )))
            })?;
        }
    }
    let mut crds: Vec<(&str, &str)> = Vec::new();
    if options.default_crds {
        crds.extend(DEFAULT_CRDS);
    }
    if options.leader_worker_sets {
        crds.push(LEADER_WORKER_SET_CRD);
    }
    if let Some(def) = sim
        .registry
        .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    {
        for (file, text) in crds {
            let crd: Value = serde_saphyr::from_str(text).map_err(|e| SimError::DefaultCrd {
                file,
                message: e.to_string(),
            })?;
            handlers::create(sim, &def, None, crd, false).map_err(|e| SimError::DefaultCrd {
                file,
                message: e.message,
            })?;
        }
    }
    if !options.seeds.is_empty() {
        let started = Instant::now();
        let created = seed::seed(sim, &options.seeds)?;
        tracing::info!(
            "seeded {created} objects in {:.2}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Runs the simulator until `shutdown` resolves.
pub async fn run(
    options: SimOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    let running = Simulator::start(options).await?;
    shutdown.await;
    tracing::info!("megamon sim shutting down");
    running.shutdown().await
}
