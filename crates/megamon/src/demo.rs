//! `megamon demo`: a live fleet without a cluster.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the web view and /metrics listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where to write the simulator's kubeconfig (default: a file in the temp directory).
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Seed of the scenario: the same seed replays the same fleet story.
    #[arg(long, default_value_t = 42)]
    pub random_seed: u64,
    /// Scenario pace (2 = twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Enable slices (SliceEnabled): the slice family replaces JobSet nodes.
    #[arg(long)]
    pub slices: bool,
    /// Also log every transition and scenario call (info level) to standard
    /// error, not only the story.
    #[arg(long, short)]
    pub verbose: bool,
}

pub fn run(args: DemoArgs) -> ExitCode {
    let kubeconfig_out = args.kubeconfig_out.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("megamon-demo-{}.kubeconfig", std::process::id()))
    });
    let options = megamon_demo::DemoOptions {
        listen: args.listen,
        kubeconfig_out,
        random_seed: args.random_seed,
        speed: args.speed,
        slices: args.slices,
        build: crate::monitor::build_info(),
        extra_routes: crate::monitor::web_routes(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("megamon demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(megamon_demo::run(options, crate::cli::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("megamon demo: {e}");
            ExitCode::FAILURE
        }
    }
}
