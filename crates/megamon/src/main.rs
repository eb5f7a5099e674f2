// Unsafe code is denied, except for the one allocator call in `alloc.rs`.
#![deny(unsafe_code)]
//! The `megamon` binary: parse arguments, set up logging, run a command.

mod alloc;
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
    // First, before any thread exists.
    alloc::tune();
    // One TLS crypto provider for every client (kube, object stores, GKE).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = cli::Cli::parse();
    cli::run(args)
}
