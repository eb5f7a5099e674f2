//! Shared test helpers: an in-process simulator, kubectl against it, a kube-rs client.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use megamon_sim::{RunningSim, SimOptions, Simulator};
use serde_json::Value;

/// A simulator on 127.0.0.1:0 with its kubeconfig in a temporary directory.
pub struct TestSim {
    pub sim: RunningSim,
    pub dir: tempfile::TempDir,
}

impl TestSim {
    pub async fn start() -> TestSim {
        Self::start_with(SimOptions::default()).await
    }

    pub async fn start_with(mut options: SimOptions) -> TestSim {
        let dir = tempfile::tempdir().expect("tempdir");
        options.kubeconfig_out = Some(dir.path().join("kubeconfig"));
        let sim = Simulator::start(options).await.expect("simulator starts");
        TestSim { sim, dir }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Writes `text` to a file in the test directory.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }

    /// Runs kubectl with default flags against the simulator.
    pub async fn kubectl(&self, args: &[&str]) -> KubectlOutput {
        self.kubectl_stdin(args, None).await
    }

    pub async fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> KubectlOutput {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("kubectl runs");
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
        }
        drop(pipe);
        let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("kubectl finishes within 30s")
            .expect("kubectl output");
        KubectlOutput {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs kubectl and insists it succeeds; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        out.assert_ok();
        out.stdout
    }

    /// `kubectl get ... -o json`, parsed.
    pub async fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.ok(&all).await).expect("kubectl printed JSON")
    }

    pub async fn client(&self) -> kube::Client {
        client_for(&self.sim.base_url())
    }
}

pub fn client_for(base_url: &str) -> kube::Client {
    client_with(base_url, true)
}

/// A client that does not retry 429/503/504 (kube-rs does by default), to see faults.
pub fn client_without_retries(base_url: &str) -> kube::Client {
    client_with(base_url, false)
}

fn client_with(base_url: &str, retry: bool) -> kube::Client {
    let mut config = kube::Config::new(base_url.parse().expect("url"));
    config.default_retry = retry;
    config.default_namespace = "default".into();
    config.read_timeout = Some(Duration::from_secs(60));
    kube::Client::try_from(config).expect("client")
}

#[derive(Debug)]
pub struct KubectlOutput {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl KubectlOutput {
    pub fn assert_ok(&self) {
        assert_eq!(
            self.code,
            Some(0),
            "kubectl {:?} failed:\nstdout: {}\nstderr: {}",
            self.args,
            self.stdout,
            self.stderr
        );
    }
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn crd_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/crds"))
}
