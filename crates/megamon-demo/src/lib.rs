//! `megamon demo`: the simulator, the monitor and a scenario that keeps a small
//! TPU fleet busy, in one process, so MegaMon can be seen working without a
//! cluster.
#![forbid(unsafe_code)]

pub mod rng;
pub mod scenario;
pub mod story;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use megamon_core::config::Config;
use megamon_metrics::BuildInfo;
use megamon_monitor::{ExtraRoutes, MonitorOptions};
use megamon_sim::{SimOptions, Simulator};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("simulator: {0}")]
    Sim(#[from] megamon_sim::SimError),
    #[error("monitor: {0}")]
    Monitor(#[from] megamon_monitor::MonitorError),
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("cannot connect the scenario to the simulator: {0}")]
    Kube(#[from] kube::Error),
    #[error("the monitor stopped before it was listening")]
    MonitorGone,
    #[error("--speed must be a positive number, got {0}")]
    Speed(f64),
}

/// `megamon demo`'s flags.
pub struct DemoOptions {
    /// Web view and `/metrics`.
    pub listen: SocketAddr,
    /// Where the simulator's kubeconfig goes (`kubectl get jobsets` works with it).
    pub kubeconfig_out: PathBuf,
    pub random_seed: u64,
    /// Scenario pace: 2.0 runs it twice as fast.
    pub speed: f64,
    /// Publish the slice family (and not the JobSet-nodes one).
    pub slices: bool,
    pub build: BuildInfo,
    pub extra_routes: Option<ExtraRoutes>,
}

/// The monitor's configuration for the demo: simulation mode, history in memory.
pub fn demo_config(listen: SocketAddr, slices: bool) -> Config {
    Config {
        enable_simulation: true,
        metrics_addr: listen.to_string(),
        probe_addr: "0".to_string(),
        aggregation_interval: Duration::from_secs(5),
        unknown_count_threshold: 0.1,
        slice_enabled: slices,
        leader_worker_set_support: true,
        disable_node_pool_job_labelling: false,
        ..Config::default()
    }
}

/// Runs until `shutdown` resolves.
pub async fn run(
    options: DemoOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DemoError> {
    if !(options.speed.is_finite() && options.speed > 0.0) {
        return Err(DemoError::Speed(options.speed));
    }
    let sim = Simulator::start(SimOptions {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        kubeconfig_out: Some(options.kubeconfig_out.clone()),
        leader_worker_sets: true,
        ..SimOptions::default()
    })
    .await?;

    let stop = CancellationToken::new();
    let (listening, bound) = tokio::sync::oneshot::channel();
    let monitor_options = MonitorOptions {
        config: demo_config(options.listen, options.slices),
        gke_endpoint: String::new(),
        build: options.build,
        extra_routes: options.extra_routes,
        kubeconfig: Some(options.kubeconfig_out.clone()),
        metrics_listening: Some(listening),
        election: Default::default(),
        metrics_cert_dir: None,
    };
    let monitor_stop = stop.clone();
    let monitor = tokio::spawn(async move {
        megamon_monitor::run(
            monitor_options,
            async move { monitor_stop.cancelled().await },
        )
        .await
    });
    let addr = match bound.await {
        Ok(addr) => addr,
        Err(_) => {
            return match monitor.await {
                Ok(Err(e)) => Err(e.into()),
                _ => Err(DemoError::MonitorGone),
            };
        }
    };

    let kubeconfig =
        kube::config::Kubeconfig::read_from(&options.kubeconfig_out).map_err(|source| {
            DemoError::Kubeconfig {
                path: options.kubeconfig_out.display().to_string(),
                source,
            }
        })?;
    let client_config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|source| DemoError::Kubeconfig {
            path: options.kubeconfig_out.display().to_string(),
            source,
        })?;
    let client = kube::Client::try_from(client_config)?;
    let kc = options.kubeconfig_out.display();
    println!(
        "MegaMon demo is running (random seed {}, speed {}x).",
        options.random_seed, options.speed
    );
    println!("  web view:   http://{addr}/");
    println!("  metrics:    http://{addr}/metrics");
    println!("  kubeconfig: {kc}");
    println!("              KUBECONFIG={kc} kubectl get jobsets,leaderworkersets,nodes");
    println!(
        "Every family shows within 30 s; the web view names the cause of each interruption. \
         Press Ctrl-C to stop (--verbose logs every transition)."
    );
    let scenario = tokio::spawn(scenario::drive(
        client,
        options.random_seed,
        options.speed,
        options.slices,
        story::Story::stdout(),
    ));

    shutdown.await;
    scenario.abort();
    stop.cancel();
    let stopped = monitor.await;
    let _ = sim.shutdown().await;
    match stopped {
        Ok(Err(e)) => Err(e.into()),
        _ => Ok(()),
    }
}
