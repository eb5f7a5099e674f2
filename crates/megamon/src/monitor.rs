//! `megamon` with no subcommand: the monitor.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use megamon_metrics::BuildInfo;
use megamon_monitor::{MonitorOptions, gke};

use crate::check_config::EXIT_BAD_INPUT;

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// GKE API endpoint for the node pools list.
    #[arg(long, env = "MEGAMON_GKE_ENDPOINT", default_value = gke::DEFAULT_ENDPOINT)]
    pub gke_endpoint: String,

    /// Overrides the config's MetricsAddr (`:8080`, `127.0.0.1:0`, `0` to disable).
    #[arg(long = "metrics-bind-address", value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// Overrides the config's ProbeAddr.
    #[arg(long = "health-probe-bind-address", value_name = "ADDR")]
    pub probe_addr: Option<String>,

    /// With SecureMetrics: a directory with `tls.crt` and `tls.key` (as a
    /// cert-manager Secret mounts them), reloaded when they change; without
    /// it, a self-signed certificate is made at start.
    #[arg(long, env = "MEGAMON_METRICS_CERT_DIR", value_name = "DIR")]
    pub metrics_cert_dir: Option<std::path::PathBuf>,

    /// With EnableLeaderElection: how long a Lease that stopped changing
    /// still counts as held (controller-runtime's default).
    #[arg(long, env = "MEGAMON_LEADER_ELECT_LEASE_DURATION", value_name = "DURATION",
          default_value = "15s", value_parser = duration)]
    pub leader_elect_lease_duration: Duration,

    /// How long the leader keeps trying to renew before it steps down.
    #[arg(long, env = "MEGAMON_LEADER_ELECT_RENEW_DEADLINE", value_name = "DURATION",
          default_value = "10s", value_parser = duration)]
    pub leader_elect_renew_deadline: Duration,

    /// How often candidates try to take the Lease and the leader renews it.
    #[arg(long, env = "MEGAMON_LEADER_ELECT_RETRY_PERIOD", value_name = "DURATION",
          default_value = "2s", value_parser = duration)]
    pub leader_elect_retry_period: Duration,
}

/// `15s`, `1.5s`, `500ms`, `2m`.
fn duration(text: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = text
        .parse()
        .map_err(|e| format!("{text:?} is not a duration like 15s or 500ms: {e}"))?;
    Duration::try_from(d).map_err(|_| format!("{text:?} must not be negative"))
}

/// Checks a listen-address override the way the config file's are checked.
fn listen_override(flag: &str, addr: &Option<String>) -> Result<Option<String>, String> {
    match addr {
        None => Ok(None),
        Some(a) if a == "0" || megamon_core::config::parse_listen_port(a).is_some() => {
            Ok(Some(a.clone()))
        }
        Some(a) => Err(format!(
            "--{flag}: {a:?} is not a listen address like \":8080\" or \"127.0.0.1:8080\""
        )),
    }
}

/// The web view and its JSON API, served beside /metrics.
pub fn web_routes() -> Option<megamon_monitor::ExtraRoutes> {
    Some(Box::new(megamon_web::router))
}

pub fn build_info() -> BuildInfo {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: non_empty(env!("MEGAMON_GIT_COMMIT")),
        date: non_empty(env!("MEGAMON_BUILD_DATE")),
    }
}

pub fn run(config_path: &Path, args: &MonitorArgs) -> ExitCode {
    let mut loaded = match megamon_core::config::load(config_path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let overrides = listen_override("metrics-bind-address", &args.metrics_addr).and_then(|m| {
        Ok((
            m,
            listen_override("health-probe-bind-address", &args.probe_addr)?,
        ))
    });
    match overrides {
        Ok((metrics, probes)) => {
            if let Some(a) = metrics {
                loaded.config.metrics_addr = a;
            }
            if let Some(a) = probes {
                loaded.config.probe_addr = a;
            }
        }
        Err(e) => {
            eprintln!("megamon: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    let election = megamon_monitor::leader::ElectionTimings {
        lease_duration: args.leader_elect_lease_duration,
        renew_deadline: args.leader_elect_renew_deadline,
        retry_period: args.leader_elect_retry_period,
    };
    if let Err(e) = election.validate() {
        eprintln!("megamon: leader election: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    for key in &loaded.unknown_keys {
        tracing::warn!(key = %key, "config key is not a MegaMon setting; ignored");
    }
    let build = build_info();
    tracing::info!(version = %build.version, commit = build.commit.as_deref().unwrap_or("none"), config = %config_path.display(), "starting MegaMon");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("megamon: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = MonitorOptions {
        config: loaded.config,
        gke_endpoint: args.gke_endpoint.clone(),
        build,
        extra_routes: web_routes(),
        kubeconfig: None,
        metrics_listening: None,
        election,
        metrics_cert_dir: args.metrics_cert_dir.clone(),
    };
    match runtime.block_on(megamon_monitor::run(options, crate::cli::shutdown_signal())) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot run");
            eprintln!("megamon: {e}");
            ExitCode::FAILURE
        }
    }
}
