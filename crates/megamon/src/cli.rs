//! Command-line interface: the subcommands and how each is run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "megamon",
    version,
    about = "Up-ness, timelines, MTTR and MTBI for TPU workloads on Kubernetes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The configuration file (JSON, the original MegaMon's keys).
    #[arg(
        long,
        global = true,
        env = "MEGAMON_CONFIG_PATH",
        default_value = "/etc/megamon/config.json"
    )]
    pub config_path: PathBuf,

    #[command(flatten)]
    pub logging: crate::logging::LogArgs,

    #[command(flatten)]
    pub monitor: crate::monitor::MonitorArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a Kubernetes API server simulator.
    Sim(SimArgs),
    /// Summarise stored history (uptime, interruptions, MTBI, MTTR) per entity.
    Report(crate::report::ReportArgs),
    /// Validate a configuration file and print the effective configuration.
    CheckConfig,
    /// Run a simulated TPU fleet, the monitor and its web view, in one process.
    Demo(crate::demo::DemoArgs),
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to serve on (HOST:PORT; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Write a kubeconfig for the simulator here once it is ready.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Objects to create at start (YAML/JSON file or directory); repeatable.
    #[arg(long = "seed")]
    pub seeds: Vec<PathBuf>,
    /// Do not install the JobSet and Slice CRDs at start.
    #[arg(long)]
    pub no_default_crds: bool,
    /// Install the LeaderWorkerSet CRD at start.
    #[arg(long)]
    pub leader_worker_sets: bool,
    /// Token file in kube-apiserver's --token-auth-file CSV format.
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate.
    #[arg(long)]
    pub tls: bool,
}

pub fn run(cli: Cli) -> ExitCode {
    // The demo's terminal is its story (URLs, one line per step); the
    // monitor's transition logs come back with --verbose.
    let default_filter = match &cli.command {
        Some(Command::Demo(args)) if !args.verbose => "warn",
        _ => "info",
    };
    crate::logging::init(&cli.logging, default_filter);
    match cli.command {
        Some(Command::Sim(args)) => run_sim(args),
        Some(Command::Report(args)) => crate::report::run(args),
        Some(Command::CheckConfig) => crate::check_config::run(&cli.config_path),
        Some(Command::Demo(args)) => crate::demo::run(args),
        None => crate::monitor::run(&cli.config_path, &cli.monitor),
    }
}

fn run_sim(args: SimArgs) -> ExitCode {
    let options = megamon_sim::SimOptions {
        addr: args.addr,
        kubeconfig_out: args.kubeconfig_out,
        seeds: args.seeds,
        default_crds: !args.no_default_crds,
        leader_worker_sets: args.leader_worker_sets,
        token_auth_file: args.token_auth_file,
        tls: args.tls,
        ..Default::default()
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("megamon sim: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(megamon_sim::run(options, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("megamon sim: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
