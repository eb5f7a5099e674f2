#![forbid(unsafe_code)]
//! `megamon-bench`: the fleet-scale benchmark. Build both binaries in release
//! first; the monitor and the simulator are the `megamon` beside this one:
//!
//! ```sh
//! cargo build --release -p megamon -p megamon-bench
//! target/release/megamon-bench --nodes 8192,16384,32768,65536
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "megamon-bench",
    about = "MegaMon at fleet scale, with references measured in the same run"
)]
struct Args {
    /// Fleet sizes in nodes (pools of 16), comma-separated; one run each.
    #[arg(long, value_delimiter = ',', default_value = "8192")]
    nodes: Vec<usize>,
    /// The megamon binary; default: the one beside this program.
    #[arg(long)]
    megamon: Option<PathBuf>,
    /// JobSets per pool: one runs, the others wait for capacity (4 with
    /// 16,384 nodes is the render target's 4,096 JobSets on 1,024 pools).
    #[arg(long, default_value_t = 1)]
    jobsets_per_pool: usize,
    #[arg(long, default_value = "kubectl")]
    kubectl: PathBuf,
    /// Skip the kubectl reference (quick experiments; the table then lacks it).
    #[arg(long)]
    no_kubectl: bool,
    /// Seconds of steady churn (1 % of nodes flip per minute, JobSets come and go).
    #[arg(long, default_value_t = 60)]
    churn_seconds: u64,
    /// Node changes timed to /metrics.
    #[arg(long, default_value_t = 40)]
    freshness_samples: usize,
    /// /metrics renders timed.
    #[arg(long, default_value_t = 10)]
    render_samples: usize,
    /// The monitor's AggregationIntervalSeconds.
    #[arg(long, default_value_t = 10)]
    aggregation_interval: u64,
    /// Skip the empty-cluster measurement.
    #[arg(long)]
    no_empty: bool,
    /// Keep the seed, store and configs here (one sub-directory per size).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// KEY=VALUE in the monitor's environment only (e.g. MALLOC_ARENA_MAX=2); repeatable.
    #[arg(long = "monitor-env", value_name = "KEY=VALUE")]
    monitor_env: Vec<String>,
    /// Run the monitor under this command (a profiler), split on spaces:
    /// --monitor-wrapper "heaptrack -o /tmp/monitor".
    #[arg(long)]
    monitor_wrapper: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let megamon = match args.megamon.clone().or_else(beside_me) {
        Some(p) => p,
        None => {
            eprintln!("megamon-bench: cannot find the megamon binary; pass --megamon");
            return ExitCode::FAILURE;
        }
    };
    let mut reports = Vec::new();
    for (i, &nodes) in args.nodes.iter().enumerate() {
        let mut opts = megamon_bench::Options::new(megamon.clone(), nodes);
        opts.kubectl = (!args.no_kubectl).then(|| args.kubectl.clone());
        opts.jobsets_per_pool = args.jobsets_per_pool;
        opts.churn = Duration::from_secs(args.churn_seconds);
        opts.freshness_samples = args.freshness_samples;
        opts.render_samples = args.render_samples;
        opts.aggregation_interval = Duration::from_secs(args.aggregation_interval);
        // The empty cluster does not depend on the size: measure it once.
        opts.empty_cluster = !args.no_empty && i == 0;
        opts.work_dir = args.work_dir.as_ref().map(|d| d.join(nodes.to_string()));
        opts.monitor_env = args
            .monitor_env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        opts.monitor_wrapper = args
            .monitor_wrapper
            .iter()
            .flat_map(|w| w.split_whitespace())
            .map(str::to_string)
            .collect();
        let started = std::time::Instant::now();
        match megamon_bench::run(&opts, &mut |msg| {
            eprintln!("[{:>7.1}s] {nodes}: {msg}", started.elapsed().as_secs_f64())
        }) {
            Ok(mut report) => {
                // Measured once, with the first size: the same for all.
                if report.empty.is_none() {
                    report.empty = reports
                        .first()
                        .and_then(|r: &megamon_bench::Report| r.empty);
                }
                println!("## {nodes} nodes\n\n{report}");
                reports.push(report);
            }
            Err(e) => {
                eprintln!("megamon-bench: {nodes} nodes: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if reports.len() > 1 {
        println!(
            "## All sizes\n\n{}",
            megamon_bench::markdown_table(&reports)
        );
    }
    ExitCode::SUCCESS
}

fn beside_me() -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.with_file_name("megamon");
    path.exists().then_some(path)
}
