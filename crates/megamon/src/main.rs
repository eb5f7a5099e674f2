#![forbid(unsafe_code)]
//! The `megamon` binary: parse arguments, set up logging, run a command.

mod check_config;
mod cli;
mod logging;
mod report;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::run(args)
}
