//! The MegaMon monitor: follows the cluster through watches, folds events into
//! small indexes, keeps exact timelines and publishes snapshots (SPEC §2–§6).
#![forbid(unsafe_code)]

pub mod archiver;
pub mod configmap;
pub mod engine;
pub mod export;
pub mod fleet;
pub mod http;
pub mod labelling;
pub mod leader;
pub mod metrics_access;
pub mod metrics_tls;
pub mod persist;
pub mod resources;
pub mod slice_owners;
pub mod sources;
pub mod view;

pub use sources::gke;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use megamon_core::config::Config;
use megamon_metrics::{BuildInfo, Metrics, MetricsOptions, OtlpOptions};
use megamon_store::{HistoryStore, HistoryWriter};
use tokio::sync::{mpsc, watch as watch_channel};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::fleet::{Fleet, FleetSettings, Stamped};

/// Routes served beside `/metrics` on `MetricsAddr`, built from the fleet view
/// (the web view and its JSON API).
pub type ExtraRoutes = Box<dyn FnOnce(view::FleetView) -> axum::Router + Send>;

/// Everything the monitor is started with.
pub struct MonitorOptions {
    pub config: Config,
    /// GKE API endpoint (node pools), overridable for tests.
    pub gke_endpoint: String,
    pub build: BuildInfo,
    pub extra_routes: Option<ExtraRoutes>,
    /// A kubeconfig to use instead of the standard rules (the demo's simulator).
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Told the metrics listener's bound address once it listens.
    pub metrics_listening: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
    /// Lease timings, with `EnableLeaderElection`.
    pub election: leader::ElectionTimings,
    /// `tls.crt` and `tls.key` for `SecureMetrics` (else self-signed).
    pub metrics_cert_dir: Option<std::path::PathBuf>,
}

/// Why the monitor could not start.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("cannot connect to Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error(transparent)]
    Gke(#[from] gke::GkeError),
    #[error(transparent)]
    Store(#[from] megamon_store::StoreError),
    #[error(transparent)]
    Metrics(#[from] megamon_metrics::MetricsError),
    #[error("{0}")]
    Listen(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    MetricsTls(#[from] metrics_tls::TlsError),
}

/// Runs the monitor until `shutdown` resolves, then flushes history.
pub async fn run(
    options: MonitorOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), MonitorError> {
    let mut config = options.config;
    log_compatibility(&config);
    let stop = CancellationToken::new();
    let ready = Arc::new(AtomicBool::new(false));
    let election = Arc::new(std::sync::OnceLock::new());

    // Probes first, so the pod is seen alive while history loads.
    if let Some(addr) = http::parse_listen(&config.probe_addr).map_err(MonitorError::Listen)? {
        let probes = http::probes(ready.clone(), election.clone());
        http::serve("probes", addr, probes, stop.clone())
            .await
            .map_err(|e| MonitorError::Listen(format!("ProbeAddr {addr}: {e}")))?;
    }

    let client = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)?;
            let config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
            kube::Client::try_from(config)?
        }
        None => kube::Client::try_default().await?,
    };
    let http_client = reqwest::Client::builder().build()?;
    let metrics = Arc::new(Metrics::new(MetricsOptions {
        prefix: config.metrics_prefix.clone(),
        build: options.build,
        otlp: OtlpOptions::from_env(config.aggregation_interval),
    })?);

    // Which cluster: needed for the node pools API and the default bucket path.
    let node_pools = if config.enable_simulation {
        tracing::info!("simulation mode: node pools are inferred from node labels; no GKE access");
        None
    } else {
        let metadata = gke::MetadataServer::from_env(http_client.clone());
        config.gke = metadata.complete(&config.gke).await?;
        tracing::info!(project = %config.gke.project_id, location = %config.gke.cluster_location, cluster = %config.gke.cluster_name, "GKE cluster");
        Some(
            gke::NodePoolsApi::new(http_client, &options.gke_endpoint, &config.gke, metadata)
                .with_metrics(metrics.clone()),
        )
    };

    let settings = FleetSettings::from_config(&config);
    let families = Fleet::new(settings.clone(), Default::default()).families();

    let url = megamon_store::history_url(&config)?;
    let mut writer = HistoryWriter::new(HistoryStore::open(&url)?);
    let history = load_history(&mut writer, &families, &metrics).await?;
    tracing::info!(store = %url, entities = history.values().map(|t| t.len()).sum::<usize>(), "history loaded");
    let mut fleet = Fleet::new(settings.clone(), history);
    let owner_map = &config.slice_owner_map_config_map_ref;
    let slice_owners = if config.slice_enabled {
        fleet = fleet.with_slice_owners(slice_owners::load(&client, owner_map).await);
        Some(slice_owners::spawn(&client, owner_map))
    } else {
        None
    };
    let (snapshots, snapshot_rx) = watch_channel::channel(None);
    let (view_tx, view_requests) = mpsc::channel(64);
    let fleet_view =
        view::FleetView::new(snapshot_rx, view_tx).with_history(writer.store().clone());
    if let Some(addr) = http::parse_listen(&config.metrics_addr).map_err(MonitorError::Listen)? {
        let mut router = metrics.clone().router();
        if let Some(extra) = options.extra_routes {
            router = router.merge(extra(fleet_view));
        }
        let bound = if config.secure_metrics {
            // HTTPS, and every request authenticated and authorised.
            let access = metrics_access::Access::new(client.clone());
            router = router.layer(axum::middleware::from_fn_with_state(
                access,
                metrics_access::require,
            ));
            let source = match &options.metrics_cert_dir {
                Some(dir) => metrics_tls::CertSource::Dir(dir.clone()),
                None => metrics_tls::CertSource::SelfSigned(vec![
                    std::env::var("POD_NAME").unwrap_or_default(),
                ]),
            };
            let acceptor = metrics_tls::acceptor(&source, config.enable_http2, stop.clone())?;
            http::serve_tls(addr, acceptor, router, config.enable_http2, stop.clone()).await
        } else {
            http::serve("metrics", addr, router, stop.clone()).await
        }
        .map_err(|e| MonitorError::Listen(format!("MetricsAddr {addr}: {e}")))?;
        if let Some(tell) = options.metrics_listening {
            let _ = tell.send(bound);
        }
    }

    // Standbys keep their watches warm; only the leader publishes and writes.
    let election_stop = CancellationToken::new();
    let (leadership, election_task) = if config.enable_leader_election {
        let candidate = leader::Candidate {
            namespace: leader::pod_namespace(),
            lease_name: leader::lease_name(&config.optional_controller_suffix),
            identity: leader::identity(),
            timings: options.election.clone(),
        };
        let (leadership, task) = leader::spawn(client.clone(), candidate, election_stop.clone());
        (leadership, Some(task))
    } else {
        (leader::Leadership::sole(), None)
    };
    let _ = election.set(leadership.clone());

    let (tx, rx) = mpsc::channel::<Stamped>(8192);
    let mut tasks = sources::kube::spawn_all(&client, &settings, &tx, &metrics);
    if let Some(api) = node_pools {
        tasks.push(tokio::spawn(gke::poll_node_pools(
            api,
            config.aggregation_interval,
            tx.clone(),
        )));
    }
    drop(tx);

    let counted = metrics.clone();
    let exporters = export::Exporters::start(
        &config.exporters,
        &client,
        &config.report_config_map_ref,
        Arc::new(move |_| counted.record_export_error("configmap")),
    );
    let labeller =
        (!config.disable_node_pool_job_labelling).then(|| labelling::spawn(client.clone()));
    let (persister, persist_events) =
        persist::spawn(writer, config.aggregation_interval, metrics.clone());
    let engine = Engine {
        fleet,
        metrics: metrics.clone(),
        exporters,
        persister: Some(persister),
        persist_events: Some(persist_events),
        leadership,
        slice_owners,
        labeller,
        ready,
        snapshots,
        interval: config.aggregation_interval,
        view_requests,
        history_retention_days: config.history_retention_days,
        last_prune: None,
    };

    let stop_engine = stop.clone();
    let engine_task = tokio::spawn(engine.run(rx, stop_engine));
    shutdown.await;
    tracing::info!("shutting down: stopping watches, flushing history");
    for t in &tasks {
        t.abort();
    }
    stop.cancel();
    let _ = engine_task.await;
    // After the final flush: give the Lease up so a standby takes over now.
    election_stop.cancel();
    if let Some(task) = election_task {
        let _ = task.await;
    }
    // The final OTLP push blocks: keep it off the async workers.
    let final_push = tokio::task::spawn_blocking(move || metrics.shutdown()).await;
    if let Ok(Err(e)) = final_push {
        tracing::warn!(error = %e, "metrics shutdown");
    }
    Ok(())
}

/// Loads stored history, retrying while the store is unreachable: starting
/// from empty would later overwrite it. A file that cannot be read is kept
/// aside and its kind starts empty (see [`persist::load`]).
async fn load_history(
    writer: &mut HistoryWriter,
    families: &[megamon_core::EntityKind],
    metrics: &Metrics,
) -> Result<
    std::collections::BTreeMap<megamon_core::EntityKind, megamon_core::Timelines>,
    MonitorError,
> {
    let mut wait = Duration::from_millis(500);
    loop {
        match persist::load(writer, families, metrics).await {
            Ok(history) => return Ok(history),
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, retry_in = ?wait, "cannot load history yet");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Settings the original accepted that this build treats differently.
fn log_compatibility(config: &Config) {
    if config.enable_leader_election {
        tracing::info!(
            lease = %leader::lease_name(&config.optional_controller_suffix),
            "leader election is on: only the leader publishes entity series and writes history"
        );
    }
    if config.secure_metrics {
        tracing::info!(
            "metrics are served over HTTPS; requests need a bearer token allowed by a SubjectAccessReview (SecureMetrics)"
        );
    } else {
        tracing::info!("metrics are served over plain HTTP (SecureMetrics is not set)");
    }
    if config.enable_http2 {
        tracing::info!("EnableHTTP2 is set: HTTP/2 is accepted alongside HTTP/1.1");
    }
}
