//! The processes under measurement (the simulator, the monitor, kubectl) and
//! what Linux says about them in /proc: resident memory and its peak, CPU time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::BenchError;

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak of resident memory since start.
    pub hwm_kib: u64,
    /// `RssAnon`: resident memory of its own (heap, stacks); the rest of
    /// `VmRSS` is mapped files, mostly the binary's code.
    pub anon_kib: u64,
}

/// `VmRSS` and `VmHWM` of `pid`.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        anon_kib: field("RssAnon:")?,
    })
}

/// User plus system CPU time of `pid` so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces, in parentheses):
    // state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

/// `CLK_TCK`, the unit of /proc CPU times (100 on every Linux we run on).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// A child process whose output lines are collected; killed when dropped.
pub struct Proc {
    name: &'static str,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn spawn(name: &'static str, mut cmd: Command) -> Result<Proc, BenchError> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|source| BenchError::Spawn { what: name, source })?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let streams: [Option<Box<dyn std::io::Read + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as _),
            child.stderr.take().map(|s| Box::new(s) as _),
        ];
        for stream in streams.into_iter().flatten() {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut l) = sink.lock() {
                        l.push(line);
                    }
                }
            });
        }
        Ok(Proc { name, child, lines })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A copy of the lines printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The last lines printed, for error messages.
    pub fn tail(&self) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Fails if the process has exited.
    pub fn check_running(&mut self) -> Result<(), BenchError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(BenchError::Exited {
                what: self.name,
                status: status.to_string(),
                tail: self.tail(),
            }),
            Err(source) => Err(BenchError::Spawn {
                what: self.name,
                source,
            }),
        }
    }

    /// The first JSON log line whose `fields.KEY` is `value`.
    pub fn find_log(&self, key: &str, value: &str) -> Option<serde_json::Value> {
        let lines = self.lines.lock().ok()?;
        lines.iter().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["fields"][key] == value).then_some(v)
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every `every` until it returns `Some`, for at most `limit`,
/// failing early if `proc` exits.
pub fn wait_for<T>(
    what: &'static str,
    proc: &mut Proc,
    limit: Duration,
    every: Duration,
    mut check: impl FnMut(&Proc) -> Option<T>,
) -> Result<T, BenchError> {
    let start = Instant::now();
    loop {
        if let Some(v) = check(proc) {
            return Ok(v);
        }
        proc.check_running()?;
        if start.elapsed() > limit {
            return Err(BenchError::Timeout {
                what,
                after: limit,
                tail: proc.tail(),
            });
        }
        std::thread::sleep(every);
    }
}

/// The `server:` address of a kubeconfig the simulator wrote (`host:port`).
pub fn kubeconfig_addr(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))?
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    Some(
        server
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
    )
}
