#![forbid(unsafe_code)]
//! The `megamon` binary: parse arguments, set up logging, run a command.

mod check_config;
mod cli;
mod demo;
mod history_report;
mod logging;
mod monitor;
mod percentiles;
mod report;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // One TLS crypto provider for every client (kube, object stores, GKE).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = cli::Cli::parse();
    cli::run(args)
}
