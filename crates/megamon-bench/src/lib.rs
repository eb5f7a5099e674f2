//! The fleet-scale benchmark (issue 10): a realistic TPU fleet seeded into
//! `megamon sim`, the monitor started as its own process (so its memory is its
//! own, read from /proc), then every figure of the table measured with
//! a reference from the same run:
//!
//! | figure | reference |
//! |---|---|
//! | peak RSS after sync, RSS per node | the JSON the API served for the same objects |
//! | empty-cluster RSS | the same monitor's binary size |
//! | start → `/readyz` 200 | `kubectl get nodes,jobsets,pods -A -o json` against the same simulator |
//! | freshness: a change → `/metrics` | the same change seen by a bare watch |
//! | CPU under churn | the simulator's CPU for the same churn |
//! | `/metrics` render | its size and series count |
//! | store bytes written | the bytes of the transitions themselves |
//!
//! Nothing here asserts a target: the harness prints what it measured.

pub mod fleet;
pub mod http;
pub mod process;
mod report;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use fleet::{Fleet, NAMESPACE, SeedSize};
use http::Conn;
use process::{Memory, Proc, wait_for};

pub use report::{Report, markdown_table};

/// Why a benchmark run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{what} exited ({status}); its last output:\n{tail}")]
    Exited {
        what: &'static str,
        status: String,
        tail: String,
    },
    #[error("timed out after {after:?} waiting for {what}; last output:\n{tail}")]
    Timeout {
        what: &'static str,
        after: Duration,
        tail: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error("{what}: the server answered {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("{what}: {message}")]
    Unexpected { what: String, message: String },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
    let what = what.into();
    move |source| BenchError::Io { what, source }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `megamon` binary (simulator and monitor).
    pub megamon: PathBuf,
    /// `None` skips the kubectl reference (for quick experiments).
    pub kubectl: Option<PathBuf>,
    /// Nodes, rounded up to whole pools of 16.
    pub nodes: usize,
    /// JobSets per pool (1: each pool runs one; more wait for capacity).
    pub jobsets_per_pool: usize,
    /// How long the steady churn runs.
    pub churn: Duration,
    /// Changes timed from the simulator to `/metrics` (half down, half up).
    pub freshness_samples: usize,
    pub render_samples: usize,
    /// Whether to measure the monitor on an empty cluster first.
    pub empty_cluster: bool,
    /// The monitor's `AggregationIntervalSeconds` (its store write pace).
    pub aggregation_interval: Duration,
    /// Where to keep the seed, the store and the logs; a temporary directory if unset.
    pub work_dir: Option<PathBuf>,
    /// Environment for the monitor only (allocator settings, `LD_PRELOAD`).
    pub monitor_env: Vec<(String, String)>,
    /// A command the monitor runs under (a profiler), e.g. `heaptrack -o FILE`.
    pub monitor_wrapper: Vec<String>,
}

impl Options {
    pub fn new(megamon: PathBuf, nodes: usize) -> Options {
        Options {
            megamon,
            kubectl: Some(PathBuf::from("kubectl")),
            nodes,
            jobsets_per_pool: 1,
            churn: Duration::from_secs(60),
            freshness_samples: 40,
            render_samples: 10,
            empty_cluster: true,
            aggregation_interval: Duration::from_secs(10),
            work_dir: None,
            monitor_env: Vec::new(),
            monitor_wrapper: Vec::new(),
        }
    }
}

/// Runs the whole benchmark at one scale.
pub fn run(opts: &Options, log: &mut dyn FnMut(&str)) -> Result<Report, BenchError> {
    let temp;
    let dir = match &opts.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(io_err(format!("create {}", d.display())))?;
            d.clone()
        }
        None => {
            temp = tempfile::tempdir().map_err(io_err("create a temporary directory"))?;
            temp.path().to_path_buf()
        }
    };
    let fleet = Fleet::with_nodes(opts.nodes).with_jobsets_per_pool(opts.jobsets_per_pool);
    let mut report = Report {
        nodes: fleet.nodes(),
        pools: fleet.pools,
        jobsets: fleet.jobsets(),
        leader_pods: fleet.leader_pods(),
        slices: fleet.slices(),
        binary_bytes: std::fs::metadata(&opts.megamon)
            .map(|m| m.len())
            .map_err(io_err(format!("{}", opts.megamon.display())))?,
        ..Report::default()
    };

    if opts.empty_cluster {
        log("empty cluster: simulator and monitor");
        report.empty = Some(measure_empty(opts, &dir.join("empty"))?);
    }

    log(&format!(
        "writing the seed: {} nodes, {} JobSets and leader pods, {} slices",
        report.nodes, report.jobsets, report.slices
    ));
    let seed_path = dir.join("fleet.json");
    let started = Instant::now();
    report.seed = write_seed(fleet, &seed_path)?;
    report.seed_write = started.elapsed();

    log("starting the simulator with the seed");
    let started = Instant::now();
    let (mut sim, sim_addr, kubeconfig) = start_sim(opts, &dir.join("sim"), Some(&seed_path))?;
    report.sim_start = started.elapsed();
    report.sim_memory = process::memory(sim.pid()).unwrap_or_default();
    let started = Instant::now();
    set_statuses(&sim_addr, fleet)?;
    report.status_patches = started.elapsed();
    sim.check_running()?;

    if let Some(kubectl) = &opts.kubectl {
        log("reference: kubectl get nodes,jobsets,pods -A -o json");
        // A reference that fails (kubectl out of memory on a big fleet) is
        // reported as such; the monitor's figures still count.
        match kubectl_list(kubectl, &kubeconfig) {
            Ok(k) => report.kubectl = k,
            Err(e) => {
                log(&format!("kubectl failed: {e}"));
                report.kubectl_error = Some(e.to_string());
            }
        }
    }

    log("starting the monitor");
    let store = dir.join("store");
    std::fs::create_dir_all(&store).map_err(io_err("create the store directory"))?;
    let started = Instant::now();
    let mut monitor = start_monitor(opts, &dir, &kubeconfig, &store)?;
    let probes = listener(&mut monitor.proc, "probes")?;
    let metrics_addr = listener(&mut monitor.proc, "metrics")?;
    let mut probe_conn = Conn::new(&probes);
    let limit = Duration::from_secs(60) + Duration::from_millis(report.nodes as u64 * 5);
    wait_for(
        "/readyz 200",
        &mut monitor.proc,
        limit,
        Duration::from_millis(5),
        |_| probe_conn.get("/readyz").ok().filter(|r| r.status == 200),
    )?;
    report.ready = started.elapsed();
    report.at_ready = process::memory(monitor.proc.pid()).unwrap_or_default();
    log(&format!(
        "ready after {:.2}s, VmHWM {} MiB",
        report.ready.as_secs_f64(),
        report.at_ready.hwm_kib / 1024
    ));

    // The first aggregation writes every family's history: let it land.
    wait_for(
        "the first history files",
        &mut monitor.proc,
        Duration::from_secs(60),
        Duration::from_millis(50),
        |_| {
            // JobSet nodes are not a family when slices are enabled.
            ["jobsets.json", "node-pools.json", "slices.json"]
                .iter()
                .all(|f| store.join(f).exists())
                .then_some(())
        },
    )?;
    // Synced: listed, aggregated, history written; nothing scraped yet.
    report.after_sync = process::memory(monitor.proc.pid()).unwrap_or_default();
    let mut metrics = Conn::new(&metrics_addr);
    let reads_at_ready = store_reads(&mut metrics)?;

    log("timing /metrics renders");
    report.render = measure_render(&mut metrics, opts.render_samples)?;
    report.after_render = process::memory(monitor.proc.pid()).unwrap_or_default();

    log("freshness: node changes in the simulator, timed to /metrics");
    report.freshness = measure_freshness(opts, fleet, &sim_addr, &mut metrics, &mut monitor.proc)?;

    log(&format!("steady churn for {}s", opts.churn.as_secs_f64()));
    let churn = measure_churn(
        opts,
        fleet,
        &sim_addr,
        &mut sim,
        &mut monitor.proc,
        &store,
        &mut metrics,
    )?;
    report.churn = churn.0;
    report.store = churn.1;
    report.store.reads_after_start = store_reads(&mut metrics)?.saturating_sub(reads_at_ready);
    report.at_end = process::memory(monitor.proc.pid()).unwrap_or_default();
    monitor.proc.check_running()?;
    sim.check_running()?;
    Ok(report)
}

fn write_seed(fleet: Fleet, path: &Path) -> Result<SeedSize, BenchError> {
    let file = std::fs::File::create(path).map_err(io_err(format!("create {}", path.display())))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let size = fleet::write_seed(fleet, &mut out).map_err(io_err("write the seed"))?;
    std::io::Write::flush(&mut out).map_err(io_err("write the seed"))?;
    Ok(size)
}

fn start_sim(
    opts: &Options,
    dir: &Path,
    seed: Option<&Path>,
) -> Result<(Proc, String, PathBuf), BenchError> {
    std::fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
    let kubeconfig = dir.join("kubeconfig");
    let mut cmd = Command::new(&opts.megamon);
    cmd.args(["sim", "--addr", "127.0.0.1:0", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .env("RUST_LOG", "warn");
    if let Some(seed) = seed {
        cmd.arg("--seed").arg(seed);
    }
    let mut sim = Proc::spawn("megamon sim", cmd)?;
    // Seeding parses about 0.9 GB at 65,536 nodes.
    wait_for(
        "the simulator's kubeconfig",
        &mut sim,
        Duration::from_secs(900),
        Duration::from_millis(10),
        |_| kubeconfig.exists().then_some(()),
    )?;
    let addr = process::kubeconfig_addr(&kubeconfig).ok_or_else(|| BenchError::Unexpected {
        what: "the simulator's kubeconfig".into(),
        message: "no server address".into(),
    })?;
    Ok((sim, addr, kubeconfig))
}

struct Monitor {
    proc: Proc,
}

fn start_monitor(
    opts: &Options,
    dir: &Path,
    kubeconfig: &Path,
    store: &Path,
) -> Result<Monitor, BenchError> {
    let config = json!({
        "EnableSimulation": true,
        "SliceEnabled": true,
        "AggregationIntervalSeconds": opts.aggregation_interval.as_secs().max(1),
        "EventsStoreURL": format!("file://{}", store.display()),
        "MetricsAddr": "127.0.0.1:0",
        "ProbeAddr": "127.0.0.1:0",
        "Exporters": [],
    });
    let path = dir.join(format!(
        "monitor-{}.json",
        store
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config")
    ));
    std::fs::write(&path, config.to_string()).map_err(io_err("write the monitor's config"))?;
    let mut cmd = match opts.monitor_wrapper.split_first() {
        Some((wrapper, args)) => {
            let mut cmd = Command::new(wrapper);
            cmd.args(args).arg(&opts.megamon);
            cmd
        }
        None => Command::new(&opts.megamon),
    };
    cmd.envs(opts.monitor_env.iter().map(|(k, v)| (k, v)));
    cmd.arg("--config-path")
        .arg(&path)
        .args(["--log-format", "json"])
        .env("KUBECONFIG", kubeconfig)
        // Transitions log one line each: keep info, as deployed.
        .env("RUST_LOG", "info,kube=warn")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    Ok(Monitor {
        proc: Proc::spawn("the monitor", cmd)?,
    })
}

/// The address a listener of the monitor bound, from its log.
fn listener(proc: &mut Proc, name: &'static str) -> Result<String, BenchError> {
    wait_for(
        "the monitor's listeners",
        proc,
        Duration::from_secs(60),
        Duration::from_millis(2),
        |p| {
            p.find_log("listener", name)
                .and_then(|v| v["fields"]["addr"].as_str().map(str::to_string))
        },
    )
}

fn measure_empty(opts: &Options, dir: &Path) -> Result<Memory, BenchError> {
    let (_sim, _, kubeconfig) = start_sim(opts, dir, None)?;
    let store = dir.join("store");
    std::fs::create_dir_all(&store).map_err(io_err("create the store directory"))?;
    let mut monitor = start_monitor(opts, dir, &kubeconfig, &store)?;
    let probes = listener(&mut monitor.proc, "probes")?;
    let mut conn = Conn::new(&probes);
    wait_for(
        "/readyz 200 (empty cluster)",
        &mut monitor.proc,
        Duration::from_secs(60),
        Duration::from_millis(10),
        |_| conn.get("/readyz").ok().filter(|r| r.status == 200),
    )?;
    // Let the first aggregation's writes and any lazy start-up finish.
    std::thread::sleep(Duration::from_secs(2));
    let metrics = listener(&mut monitor.proc, "metrics")?;
    Conn::new(&metrics).get("/metrics")?;
    Ok(process::memory(monitor.proc.pid()).unwrap_or_default())
}

/// What `kubectl get ... -o json` took.
#[derive(Debug, Clone, Default)]
pub struct Kubectl {
    pub elapsed: Duration,
    pub bytes: u64,
    /// Its peak RSS, sampled every 20 ms while it ran.
    pub hwm_kib: u64,
}

fn kubectl_list(kubectl: &Path, kubeconfig: &Path) -> Result<Kubectl, BenchError> {
    let mut cmd = Command::new(kubectl);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "nodes,jobsets,pods", "-A", "-o", "json"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|source| BenchError::Spawn {
        what: "kubectl",
        source,
    })?;
    let pid = child.id();
    let mut stdout = child.stdout.take().ok_or_else(|| BenchError::Unexpected {
        what: "kubectl".into(),
        message: "no stdout".into(),
    })?;
    let counter = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let mut hwm = 0;
    let status = loop {
        if let Some(m) = process::memory(pid) {
            hwm = hwm.max(m.hwm_kib);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(source) => {
                return Err(BenchError::Spawn {
                    what: "kubectl",
                    source,
                });
            }
        }
    };
    let elapsed = started.elapsed();
    let bytes = counter
        .join()
        .map_err(|_| BenchError::Unexpected {
            what: "kubectl".into(),
            message: "the output reader panicked".into(),
        })?
        .map_err(io_err("read kubectl's output"))?;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        return Err(BenchError::Unexpected {
            what: "kubectl get".into(),
            message: format!("{status}: {err}"),
        });
    }
    Ok(Kubectl {
        elapsed,
        bytes,
        hwm_kib: hwm,
    })
}

fn check(what: impl Into<String>, r: http::Response) -> Result<http::Response, BenchError> {
    if (200..300).contains(&r.status) {
        Ok(r)
    } else {
        Err(BenchError::Status {
            what: what.into(),
            status: r.status,
            body: r.text().chars().take(500).collect(),
        })
    }
}

const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const JOBSETS: &str = "/apis/jobset.x-k8s.io/v1alpha2/namespaces";
const SLICES: &str = "/apis/accelerator.gke.io/v1beta1/slices";

/// Sets what a create drops: running JobSets, ready slices (two connections).
fn set_statuses(sim: &str, fleet: Fleet) -> Result<(), BenchError> {
    let jobset_status = fleet::jobset_running_status().to_string();
    let slice_status = fleet::slice_ready_status().to_string();
    let mut paths: Vec<(String, &str)> = (0..fleet.jobsets())
        .map(|p| {
            (
                format!(
                    "{JOBSETS}/{NAMESPACE}/jobsets/{}/status",
                    fleet::jobset_name(p)
                ),
                jobset_status.as_str(),
            )
        })
        .collect();
    paths.extend(fleet.slice_pools().map(|p| {
        (
            format!("{SLICES}/{}/status", fleet::slice_name(p)),
            slice_status.as_str(),
        )
    }));
    let half = paths.len().div_ceil(2);
    std::thread::scope(|s| {
        let workers: Vec<_> = paths
            .chunks(half.max(1))
            .map(|chunk| {
                s.spawn(move || -> Result<(), BenchError> {
                    let mut conn = Conn::new(sim);
                    for (path, body) in chunk {
                        check(
                            format!("PATCH {path}"),
                            conn.send("PATCH", path, Some(MERGE), body.as_bytes())?,
                        )?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| BenchError::Unexpected {
                what: "status patches".into(),
                message: "a worker panicked".into(),
            })??;
        }
        Ok(())
    })
}

/// `/metrics` render times.
#[derive(Debug, Clone, Default)]
pub struct Render {
    pub samples: usize,
    pub median: Duration,
    pub max: Duration,
    pub bytes: usize,
    pub series: usize,
}

fn measure_render(metrics: &mut Conn, samples: usize) -> Result<Render, BenchError> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..samples.max(1) {
        let started = Instant::now();
        let r = check("GET /metrics", metrics.get("/metrics")?)?;
        times.push(started.elapsed());
        last = Some(r);
    }
    times.sort();
    let body = last.map(|r| r.text()).unwrap_or_default();
    Ok(Render {
        samples: times.len(),
        median: percentile(&times, 0.5),
        max: times.last().copied().unwrap_or_default(),
        bytes: body.len(),
        series: body
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count(),
    })
}

/// The count of store reads the monitor made (`gcs.latency`, operation `read`).
fn store_reads(metrics: &mut Conn) -> Result<u64, BenchError> {
    let body = check("GET /metrics", metrics.get("/metrics")?)?.text();
    Ok(body
        .lines()
        .filter(|l| {
            l.starts_with("megamon_gcs_latency")
                && l.contains("_count")
                && l.contains("operation=\"read\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A pool's `nodepool_up` in a scrape.
fn pool_up(text: &str, pool: &str) -> Option<f64> {
    let needle = format!("nodepool_name=\"{pool}\"");
    text.lines()
        .filter(|l| l.starts_with("megamon_nodepool_up{") && l.contains(&needle))
        .find_map(|l| l.rsplit_once(' ')?.1.parse().ok())
}

/// Change → `/metrics` latencies.
#[derive(Debug, Clone, Default)]
pub struct Freshness {
    pub samples: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// The same changes seen by a plain watch on the simulator.
    pub watch_p50: Duration,
    pub watch_p99: Duration,
}

/// When a bare node watch saw each node reach each Ready status.
type Seen = Arc<Mutex<HashMap<(String, String), Instant>>>;

/// Follows nodes from the current version on a thread of its own.
fn watch_nodes(sim: &str, stop: Arc<AtomicBool>) -> Result<Seen, BenchError> {
    let list = check(
        "GET /api/v1/nodes?limit=1",
        Conn::new(sim).get("/api/v1/nodes?limit=1")?,
    )?;
    let list: Value = serde_json::from_slice(&list.body).map_err(|e| BenchError::Unexpected {
        what: "the node list".into(),
        message: e.to_string(),
    })?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let addr = sim.to_string();
    std::thread::spawn(move || {
        let path = format!("/api/v1/nodes?watch=true&resourceVersion={rv}");
        let _ = http::stream_lines(&addr, &path, |line| {
            let at = Instant::now();
            if let Ok(event) = serde_json::from_slice::<Value>(line) {
                let object = &event["object"];
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                let ready = object["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == "Ready")
                    .and_then(|c| c["status"].as_str())
                    .unwrap_or_default();
                if let Ok(mut s) = sink.lock() {
                    s.entry((name.to_string(), ready.to_string())).or_insert(at);
                }
            }
            !stop.load(Ordering::Relaxed)
        });
    });
    Ok(seen)
}

fn set_node_ready(conn: &mut Conn, node: &str, ready: bool, at: &str) -> Result<(), BenchError> {
    let patch = json!({"status": {"conditions": [fleet::ready_condition(ready, at)]}});
    let path = format!("/api/v1/nodes/{node}/status");
    check(
        format!("PATCH {path}"),
        conn.send(
            "PATCH",
            &path,
            Some(STRATEGIC),
            patch.to_string().as_bytes(),
        )?,
    )?;
    Ok(())
}

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn measure_freshness(
    opts: &Options,
    fleet: Fleet,
    sim: &str,
    metrics: &mut Conn,
    monitor: &mut Proc,
) -> Result<Freshness, BenchError> {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = watch_nodes(sim, stop.clone())?;
    let mut patches = Conn::new(sim);
    let pairs = opts.freshness_samples.div_ceil(2).max(1);
    let stride = (fleet.pools / pairs).max(1);
    let mut latencies = Vec::new();
    let mut watch = Vec::new();
    for i in 0..pairs {
        let pool = (i * stride + 1) % fleet.pools;
        let pool_name = fleet::pool_name(pool);
        let node = fleet::node_name(pool, 1);
        for ready in [false, true] {
            set_node_ready(&mut patches, &node, ready, &now_rfc3339())?;
            let changed = Instant::now();
            let want = if ready { 1.0 } else { 0.0 };
            // Scrapes back to back; the time counted ends when the first scrape
            // showing the change has been read whole (an upper bound).
            wait_for(
                "a node change in /metrics",
                monitor,
                Duration::from_secs(30),
                Duration::ZERO,
                |_| {
                    let body = metrics.get("/metrics").ok()?.text();
                    (pool_up(&body, &pool_name) == Some(want)).then_some(())
                },
            )?;
            latencies.push(changed.elapsed());
            let status = if ready { "True" } else { "False" };
            let key = (node.clone(), status.to_string());
            if let Some(at) = seen.lock().ok().and_then(|s| s.get(&key).copied()) {
                watch.push(at.saturating_duration_since(changed));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    latencies.sort();
    watch.sort();
    Ok(Freshness {
        samples: latencies.len(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        watch_p50: percentile(&watch, 0.5),
        watch_p99: percentile(&watch, 0.99),
    })
}

/// The steady-churn window.
#[derive(Debug, Clone, Default)]
pub struct Churn {
    pub duration: Duration,
    /// Nodes that went NotReady (each came back 10 s later: two changes).
    pub node_flips: usize,
    pub jobsets_created: usize,
    pub jobsets_deleted: usize,
    pub monitor_cpu: Duration,
    pub sim_cpu: Duration,
    /// The monitor's largest RSS sampled during the window.
    pub max_rss_kib: u64,
}

/// The store during the churn window.
#[derive(Debug, Clone, Default)]
pub struct StoreFigures {
    pub files_written: usize,
    pub bytes_written: u64,
    pub transitions: usize,
    /// The transitions as stored events (`{"up":..,"ed":..,"ts":..}` and a comma).
    pub transition_bytes: u64,
    /// History reads the monitor made after it was ready.
    pub reads_after_start: u64,
    /// How long the writes were counted: the churn and until the store was quiet.
    pub window: Duration,
}

/// New versions of the store's files, seen by polling (writes are atomic
/// renames, at most one per file per aggregation interval).
fn poll_store(
    dir: PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, u64, Instant)> {
    std::thread::spawn(move || {
        use std::os::unix::fs::MetadataExt;
        let mut known: HashMap<PathBuf, (u64, i64, i64, u64)> = HashMap::new();
        let scan = |known: &mut HashMap<PathBuf, (u64, i64, i64, u64)>| -> (usize, u64) {
            let mut new = (0, 0);
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let hidden = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_none_or(|n| n.starts_with('.'));
                let Ok(meta) = entry.metadata() else { continue };
                if hidden || !meta.is_file() {
                    continue;
                }
                let id = (meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len());
                if known.insert(path, id) != Some(id) {
                    new.0 += 1;
                    new.1 += meta.len();
                }
            }
            new
        };
        scan(&mut known);
        let (mut files, mut bytes) = (0, 0);
        let mut last_write = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            let (f, b) = scan(&mut known);
            if f > 0 {
                last_write = Instant::now();
            }
            files += f;
            bytes += b;
        }
        (files, bytes, last_write)
    })
}

/// Every stored event, per file and entity.
fn stored_events(dir: &Path) -> BTreeMap<(String, String), Vec<Value>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let Ok(doc) = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
        else {
            continue;
        };
        for (key, timeline) in doc.as_object().into_iter().flatten() {
            let events = timeline["upEvents"].as_array().cloned().unwrap_or_default();
            out.insert((name.clone(), key.clone()), events);
        }
    }
    out
}

fn measure_churn(
    opts: &Options,
    fleet: Fleet,
    sim_addr: &str,
    sim: &mut Proc,
    monitor: &mut Proc,
    store: &Path,
    metrics: &mut Conn,
) -> Result<(Churn, StoreFigures), BenchError> {
    // Start from a quiet store: every change so far written.
    std::thread::sleep(opts.aggregation_interval + Duration::from_secs(1));
    let before = stored_events(store);
    let stop = Arc::new(AtomicBool::new(false));
    let poller = poll_store(store.to_path_buf(), stop.clone());
    let mut conn = Conn::new(sim_addr);
    let mut churn = Churn::default();

    let flips_per_sec = fleet.nodes() as f64 * 0.01 / 60.0;
    let flip_gap = Duration::from_secs_f64(1.0 / flips_per_sec.max(0.01));
    let jobset_gap = Duration::from_secs(10);
    let down_for = Duration::from_secs(10);
    let mut down: std::collections::VecDeque<(Instant, String)> = Default::default();
    let mut churned: std::collections::VecDeque<String> = Default::default();
    let mut next_flip = Instant::now();
    let mut next_jobset = Instant::now();
    let mut flip_seq: u64 = 0;
    let mut jobset_seq = 0;

    let cpu = |p: &Proc| process::cpu_time(p.pid()).unwrap_or_default();
    let (monitor_cpu, sim_cpu) = (cpu(monitor), cpu(sim));
    let started = Instant::now();
    let end = started + opts.churn;
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_flip {
            // A pseudo-random node, never pool 0's (the freshness pools are odd).
            flip_seq += 1;
            let n = (flip_seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) as usize % fleet.nodes();
            let node = fleet::node_name(n / fleet::POOL_SIZE, n % fleet::POOL_SIZE);
            if !down.iter().any(|(_, d)| *d == node) {
                set_node_ready(&mut conn, &node, false, &now_rfc3339())?;
                down.push_back((now + down_for, node));
                churn.node_flips += 1;
            }
            next_flip += flip_gap;
        }
        while down.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, node)) = down.pop_front() {
                set_node_ready(&mut conn, &node, true, &now_rfc3339())?;
            }
        }
        if now >= next_jobset {
            let name = format!("churn-{jobset_seq:05}");
            let pool = jobset_seq % fleet.pools;
            jobset_seq += 1;
            create_jobset(&mut conn, &name, &fleet::node_name(pool, 0))?;
            churn.jobsets_created += 1;
            churned.push_back(name);
            if churned.len() > 3
                && let Some(old) = churned.pop_front()
            {
                delete_jobset(&mut conn, &old)?;
                churn.jobsets_deleted += 1;
            }
            next_jobset += jobset_gap;
        }
        if let Some(m) = process::memory(monitor.pid()) {
            churn.max_rss_kib = churn.max_rss_kib.max(m.rss_kib);
        }
        let wake = [next_flip, next_jobset]
            .into_iter()
            .chain(down.front().map(|(at, _)| *at))
            .min()
            .unwrap_or(end)
            .min(end);
        std::thread::sleep(
            wake.saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100)),
        );
    }
    churn.duration = started.elapsed();
    churn.monitor_cpu = cpu(monitor).saturating_sub(monitor_cpu);
    churn.sim_cpu = cpu(sim).saturating_sub(sim_cpu);
    // Leave the fleet as it was.
    for (_, node) in down.drain(..) {
        set_node_ready(&mut conn, &node, true, &now_rfc3339())?;
    }
    for name in churned.drain(..) {
        delete_jobset(&mut conn, &name)?;
    }
    monitor.check_running()?;

    // Until every transition is written: a write per aggregation at most.
    let quiet = opts.aggregation_interval + Duration::from_secs(2);
    std::thread::sleep(quiet);
    stop.store(true, Ordering::Relaxed);
    let (files, bytes, last_write) = poller.join().map_err(|_| BenchError::Unexpected {
        what: "the store poller".into(),
        message: "panicked".into(),
    })?;
    let after = stored_events(store);
    let mut store_figures = StoreFigures {
        files_written: files,
        bytes_written: bytes,
        window: last_write
            .saturating_duration_since(started)
            .max(churn.duration),
        ..StoreFigures::default()
    };
    for (key, events) in &after {
        let old = before.get(key).map_or(0, Vec::len);
        for event in events.iter().skip(old) {
            store_figures.transitions += 1;
            store_figures.transition_bytes +=
                serde_json::to_vec(event).map_or(0, |b| b.len()) as u64 + 1;
        }
    }
    let _ = metrics;
    Ok((churn, store_figures))
}

fn create_jobset(conn: &mut Conn, name: &str, node: &str) -> Result<(), BenchError> {
    let path = format!("{JOBSETS}/{NAMESPACE}/jobsets");
    check(
        format!("POST {path}"),
        conn.send(
            "POST",
            &path,
            Some("application/json"),
            fleet::jobset(name).to_string().as_bytes(),
        )?,
    )?;
    let status = format!("{path}/{name}/status");
    check(
        format!("PATCH {status}"),
        conn.send(
            "PATCH",
            &status,
            Some(MERGE),
            fleet::jobset_running_status().to_string().as_bytes(),
        )?,
    )?;
    let pods = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    check(
        format!("POST {pods}"),
        conn.send(
            "POST",
            &pods,
            Some("application/json"),
            fleet::leader_pod(name, node).to_string().as_bytes(),
        )?,
    )?;
    Ok(())
}

fn delete_jobset(conn: &mut Conn, name: &str) -> Result<(), BenchError> {
    let pod = format!(
        "/api/v1/namespaces/{NAMESPACE}/pods/{}",
        fleet::leader_pod_name(name)
    );
    check(
        format!("DELETE {pod}"),
        conn.send("DELETE", &pod, None, &[])?,
    )?;
    let path = format!("{JOBSETS}/{NAMESPACE}/jobsets/{name}");
    check(
        format!("DELETE {path}"),
        conn.send("DELETE", &path, None, &[])?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms =
            |v: &[u64]| -> Vec<Duration> { v.iter().map(|m| Duration::from_millis(*m)).collect() };
        let sorted = ms(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(percentile(&sorted, 0.5), Duration::from_millis(5));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_millis(10));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn pool_up_finds_the_pool_series() {
        let text = "# HELP x\nmegamon_nodepool_up{a=\"b\",nodepool_name=\"p-1\"} 1\nmegamon_nodepool_up{nodepool_name=\"p-10\"} 0\n";
        assert_eq!(pool_up(text, "p-1"), Some(1.0));
        assert_eq!(pool_up(text, "p-10"), Some(0.0));
        assert_eq!(pool_up(text, "p-2"), None);
    }

    #[test]
    fn rfc3339_now_is_well_formed() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
