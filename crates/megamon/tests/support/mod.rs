//! End-to-end harness: the built `megamon` binary as simulator and monitor,
//! driven with the real `kubectl`. Every process is stopped when its handle drops.
#![allow(dead_code)]

#[allow(dead_code)]
pub mod https;
#[allow(dead_code)]
pub mod proxy;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_megamon");

/// Polls `check` every 25 ms until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A child process whose stderr is collected; killed on drop.
pub struct Process {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    name: &'static str,
}

impl Process {
    /// Spawns `cmd`, collecting its output lines.
    pub fn spawn_named(name: &'static str, cmd: Command) -> Process {
        Process::spawn(name, cmd)
    }

    fn spawn(name: &'static str, mut cmd: Command) -> Process {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn megamon");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Process { child, lines, name }
    }

    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The first JSON log line whose fields contain `key: value`, as JSON.
    pub fn find_log(&self, key: &str, value: &str) -> Option<serde_json::Value> {
        self.log().iter().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["fields"][key] == value).then_some(v)
        })
    }

    /// SIGTERM, then the exit code.
    pub fn terminate(self) -> Option<i32> {
        self.signal("-TERM")
    }

    /// SIGINT (Ctrl-C), then the exit code.
    pub fn interrupt(self) -> Option<i32> {
        self.signal("-INT")
    }

    fn signal(mut self, signal: &str) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args([signal, &pid]).status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!(
                    "{} did not exit after SIGTERM; log:\n{}",
                    self.name,
                    self.log().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `megamon sim` and a kubectl pointed at it.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub sim: Process,
}

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::start_seeded(&[])
    }

    /// A simulator that starts with `objects` (written to a seed file).
    pub fn start_seeded(objects: &[serde_json::Value]) -> Cluster {
        Cluster::start_with(objects, &[])
    }

    /// A simulator without the JobSet and Slice CRDs.
    pub fn start_without_crds() -> Cluster {
        Cluster::start_with(&[], &["--no-default-crds"])
    }

    /// A simulator that also serves the LeaderWorkerSet CRD.
    pub fn start_with_lws() -> Cluster {
        Cluster::start_with(&[], &["--leader-worker-sets"])
    }

    /// A simulator started with extra `megamon sim` arguments.
    pub fn start_args(args: &[&str]) -> Cluster {
        Cluster::start_with(&[], args)
    }

    fn start_with(objects: &[serde_json::Value], args: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let mut cmd = Command::new(BIN);
        cmd.args(["sim", "--addr", "127.0.0.1:0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .args(args);
        if !objects.is_empty() {
            let seed = dir.path().join("seed.json");
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
            std::fs::write(&seed, list.to_string()).unwrap();
            cmd.arg("--seed").arg(&seed);
        }
        cmd.env("RUST_LOG", "warn");
        let sim = Process::spawn("megamon sim", cmd);
        wait_for(
            "the simulator's kubeconfig",
            Duration::from_secs(20),
            || kubeconfig.exists().then_some(()),
        );
        Cluster {
            dir,
            kubeconfig,
            sim,
        }
    }

    /// Runs kubectl; panics with its output if it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_stdin(args, None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl on PATH");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// `kubectl apply -f -` of JSON objects, as a stream of documents.
    pub fn apply(&self, objects: &[serde_json::Value]) {
        let stream: Vec<String> = objects.iter().map(|o| o.to_string()).collect();
        self.kubectl_stdin(&["apply", "-f", "-"], Some(&stream.join("\n")));
    }

    /// Sets a node's Ready condition through the status subresource.
    pub fn set_node_ready(&self, name: &str, status: &str) {
        self.patch_status(
            "node",
            name,
            serde_json::json!({"conditions": [{"type": "Ready", "status": status}]}),
        );
    }

    /// `kubectl patch KIND NAME --subresource=status --type=merge` with `{"status": status}`.
    pub fn patch_status(&self, kind: &str, name: &str, status: serde_json::Value) {
        let patch = serde_json::json!({ "status": status });
        self.kubectl(&[
            "patch",
            kind,
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch.to_string(),
        ]);
    }

    /// Starts the monitor with `config` (JSON). Metrics and probes listen on
    /// free ports, read back from its log.
    pub fn monitor(&self, config: serde_json::Value) -> Monitor {
        self.monitor_with_env(config, &[])
    }

    pub fn monitor_with_env(&self, mut config: serde_json::Value, env: &[(&str, &str)]) -> Monitor {
        config["MetricsAddr"] = "127.0.0.1:0".into();
        config["ProbeAddr"] = "127.0.0.1:0".into();
        let path = self
            .dir
            .path()
            .join(format!("config-{}.json", rand_suffix()));
        std::fs::write(&path, config.to_string()).unwrap();
        self.monitor_process(&path, &[], env)
    }

    /// Starts the monitor on a config file as it is, with extra arguments.
    pub fn monitor_process(&self, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Monitor {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config-path")
            .arg(config)
            .args(["--log-format", "json"])
            .args(args);
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "info,kube=warn");
        cmd.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let process = Process::spawn("megamon", cmd);
        let addr = |p: &Process, name: &str| -> Option<String> {
            p.find_log("listener", name)
                .and_then(|v| v["fields"]["addr"].as_str().map(str::to_string))
        };
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let metrics = wait_for(
                "the monitor's metrics listener",
                Duration::from_secs(20),
                || addr(&process, "metrics"),
            );
            let probes = wait_for(
                "the monitor's probe listener",
                Duration::from_secs(20),
                || addr(&process, "probes"),
            );
            (metrics, probes)
        }));
        match found {
            Ok((metrics, probes)) => Monitor {
                process,
                metrics,
                probes,
            },
            Err(_) => panic!(
                "the monitor did not start; log:\n{}",
                process.log().join("\n")
            ),
        }
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

pub struct Monitor {
    pub process: Process,
    pub metrics: String,
    pub probes: String,
}

impl Monitor {
    /// The current `/metrics`, parsed; `None` while it answers 503.
    pub fn scrape(&self) -> Option<Metrics> {
        let (status, body) = http_get(&self.metrics, "/metrics")?;
        (status == 200).then(|| Metrics::parse(&body))
    }

    pub fn wait_ready(&self) -> Metrics {
        wait_for("the first aggregation", Duration::from_secs(20), || {
            self.scrape()
        })
    }

    /// Waits until `check` holds on a scrape; returns that scrape.
    pub fn wait_metrics(&self, what: &str, check: impl Fn(&Metrics) -> bool) -> Metrics {
        let mut last = None;
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(what, Duration::from_secs(15), || {
                let m = self.scrape()?;
                let ok = check(&m);
                last = Some(m.clone());
                ok.then_some(m)
            })
        }));
        match found {
            Ok(m) => m,
            Err(_) => panic!(
                "timed out waiting for {what}; last scrape:\n{}\nmonitor log:\n{}",
                last.map(|m| m.text).unwrap_or_default(),
                self.process.log().join("\n")
            ),
        }
    }
}

/// A plain HTTP/1.1 GET on loopback: (status, body).
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Prometheus text, parsed into series.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub text: String,
    pub series: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut series = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (name_labels, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match name_labels.split_once('{') {
                Some((n, rest)) => (n, parse_labels(rest.trim_end_matches('}'))),
                None => (name_labels, BTreeMap::new()),
            };
            series.push((name.to_string(), labels, value.parse().unwrap_or(f64::NAN)));
        }
        Metrics {
            text: text.to_string(),
            series,
        }
    }

    /// Values of `name` whose labels include all of `labels`.
    pub fn values(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.series
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .collect()
    }

    /// The single value of `name` with `labels`, if exactly one series matches.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.values(name, labels).as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }

    pub fn has_family(&self, prefix: &str) -> bool {
        self.series.iter().any(|(n, _, _)| n.starts_with(prefix))
    }

    /// All series mentioning a label value (e.g. an entity's uid).
    pub fn mentioning(&self, value: &str) -> Vec<String> {
        self.series
            .iter()
            .filter(|(_, l, _)| l.values().any(|v| v == value))
            .map(|(n, _, _)| n.clone())
            .collect()
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    out
}

/// A TPU node of pool `pool` (16x16, 4 chips per node).
pub fn tpu_node(name: &str, pool: &str, ready: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "cloud.google.com/gke-nodepool": pool,
            "cloud.google.com/gke-tpu-topology": "16x16",
            "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
            "cloud.google.com/gke-accelerator-count": "4"
        }},
        "status": {"conditions": [{"type": "Ready", "status": ready}]}
    })
}

/// Reads a stored-history file from a `file://` store directory.
pub fn stored(dir: &Path, file: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap()
}

/// A plain HTTP/1.1 POST on loopback with a JSON body: the status.
pub fn http_post(addr: &str, path: &str, body: &str) -> Option<u16> {
    http_send(addr, "POST", path, "application/json", body).map(|(status, _)| status)
}

/// A plain HTTP/1.1 request with a body on loopback: (status, raw answer).
pub fn http_send(
    addr: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text))
}

impl Cluster {
    /// The simulator's `host:port`, from its kubeconfig.
    pub fn sim_addr(&self) -> String {
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let server = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server:"))
            .expect("server in kubeconfig")
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        server
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }
}

/// A local stand-in for the GKE node pools API and the metadata server,
/// answering in the real JSON shapes. The node pools answer can be changed.
pub struct FakeGke {
    pub addr: String,
    answer: Arc<Mutex<(u16, String)>>,
    pub pool_requests: Arc<std::sync::atomic::AtomicUsize>,
}

pub const GKE_PROJECT: &str = "my-project";
pub const GKE_LOCATION: &str = "us-central2";
pub const GKE_CLUSTER: &str = "tpu-cluster";
const GKE_TOKEN: &str = "ya29.test-token";

impl FakeGke {
    pub fn start() -> FakeGke {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let answer = Arc::new(Mutex::new((200, r#"{"nodePools": []}"#.to_string())));
        let pool_requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (a, n) = (answer.clone(), pool_requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (a, n) = (a.clone(), n.clone());
                std::thread::spawn(move || serve_gke(stream, &a, &n));
            }
        });
        FakeGke {
            addr,
            answer,
            pool_requests,
        }
    }

    /// What `nodePools.list` answers from now on.
    pub fn answer(&self, status: u16, body: serde_json::Value) {
        *self.answer.lock().unwrap() = (status, body.to_string());
    }

    /// Environment pointing the monitor here.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GCE_METADATA_HOST", self.addr.clone()),
            ("MEGAMON_GKE_ENDPOINT", format!("http://{}", self.addr)),
        ]
    }
}

fn serve_gke(
    mut stream: std::net::TcpStream,
    answer: &Mutex<(u16, String)>,
    pool_requests: &std::sync::atomic::AtomicUsize,
) {
    use std::io::{Read, Write};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        })
    };
    let pools_path = format!(
        "/v1beta1/projects/{GKE_PROJECT}/locations/{GKE_LOCATION}/clusters/{GKE_CLUSTER}/nodePools"
    );
    let (status, body, kind) = if let Some(meta) = path.strip_prefix("/computeMetadata/v1/") {
        if header("Metadata-Flavor").as_deref() != Some("Google") {
            (403, "missing Metadata-Flavor".to_string(), "text/plain")
        } else {
            match meta {
                "project/project-id" => (200, GKE_PROJECT.to_string(), "text/plain"),
                "instance/attributes/cluster-location" => {
                    (200, GKE_LOCATION.to_string(), "text/plain")
                }
                "instance/attributes/cluster-name" => (200, GKE_CLUSTER.to_string(), "text/plain"),
                "instance/service-accounts/default/token" => (
                    200,
                    format!(
                        r#"{{"access_token":"{GKE_TOKEN}","expires_in":3599,"token_type":"Bearer"}}"#
                    ),
                    "application/json",
                ),
                _ => (404, "not found".to_string(), "text/plain"),
            }
        }
    } else if path.split('?').next() == Some(pools_path.as_str()) {
        pool_requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if header("Authorization").as_deref() != Some(&format!("Bearer {GKE_TOKEN}")) {
            (401, r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#.to_string(), "application/json")
        } else {
            let (s, b) = answer.lock().unwrap().clone();
            (s, b, "application/json")
        }
    } else {
        (404, format!("no route {path}"), "text/plain")
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A GKE TPU node pool in the API's JSON shape.
pub fn gke_pool(name: &str, topology: &str, machine: &str, status: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "config": {
            "machineType": machine, "diskSizeGb": 100, "spot": true,
            "resourceLabels": {"goog-gke-accelerator-type": "tpu-v5-lite-podslice", "goog-gke-node-pool-provisioning-model": "spot"}
        },
        "initialNodeCount": 64,
        "placementPolicy": {"type": "COMPACT", "tpuTopology": topology},
        "status": status,
        "version": "1.31.1-gke.1678000",
        "selfLink": format!("https://container.googleapis.com/v1beta1/projects/{GKE_PROJECT}/locations/{GKE_LOCATION}/clusters/{GKE_CLUSTER}/nodePools/{name}")
    })
}

impl Process {
    /// SIGKILL: no chance to flush or release anything, as a node failure.
    pub fn kill(self) {
        let _ = self.signal("-KILL");
    }
}

/// A local S3 (moto's server, `pip install 'moto[server]'`, as scripts/test
/// installs it) on a free port; killed when dropped.
pub struct Moto {
    pub port: u16,
    _process: Process,
}

impl Moto {
    pub fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ]);
        let process = Process::spawn("moto", cmd);
        let addr = format!("127.0.0.1:{port}");
        let up = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for("moto's server", Duration::from_secs(30), || {
                http_get(&addr, "/").filter(|(s, _)| *s == 200).map(|_| ())
            })
        }));
        if up.is_err() {
            panic!(
                "moto's server did not start (pip install 'moto[server]'; scripts/test does); log:\n{}",
                process.log().join("\n")
            );
        }
        Moto {
            port,
            _process: process,
        }
    }

    /// Creates `bucket` (moto takes an unsigned request).
    pub fn create_bucket(&self, bucket: &str) {
        let addr = format!("127.0.0.1:{}", self.port);
        assert_eq!(http_put(&addr, &format!("/{bucket}"), b""), Some(200));
    }

    /// An object's bytes, read with moto's test credentials.
    pub fn get(&self, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let addr = format!("127.0.0.1:{}", self.port);
        let mut s = std::net::TcpStream::connect(&addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        // moto reads the access key from the header without checking the signature.
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        (head.split_whitespace().nth(1)? == "200").then(|| body.to_string())
    }
}

/// A plain HTTP/1.1 PUT on loopback: the status.
pub fn http_put(addr: &str, path: &str, body: &[u8]) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A JobSet of one replicated job (`replicas` child Jobs) on v6e 4x4.
pub fn jobset(name: &str, replicas: u64) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicatedJobs": [{"name": "workers", "replicas": replicas, "template": {"spec": {
            "parallelism": 1, "completions": 1,
            "template": {"spec": {
                "nodeSelector": {
                    "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
                    "cloud.google.com/gke-tpu-topology": "4x4"
                },
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox"}]
            }}
        }}}]}
    })
}

/// A slice owned by JobSet `owner`.
pub fn slice(name: &str, owner: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "accelerator.gke.io/v1beta1", "kind": "Slice",
        "metadata": {"name": name, "labels": {
            "tpu-provisioner.cloud.google.com/owner-kind": "JobSet",
            "tpu-provisioner.cloud.google.com/owner-name": owner,
            "tpu-provisioner.cloud.google.com/owner-namespace": "default"
        }},
        "spec": {"type": "tpu7x", "topology": "4x4x4", "partitionIds": ["p0"]}
    })
}

impl Cluster {
    /// `config` with its history in a `file://` store in the test directory.
    pub fn with_store(&self, mut config: serde_json::Value) -> (serde_json::Value, PathBuf) {
        let store = self.dir.path().join("history");
        std::fs::create_dir_all(&store).unwrap();
        config["EventsStoreURL"] = format!("file://{}", store.display()).into();
        (config, store)
    }
}
