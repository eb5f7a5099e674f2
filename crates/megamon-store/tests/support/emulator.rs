//! Storage emulators run as child processes: found on PATH or through an
//! environment variable that scripts/test exports, started on a free loopback
//! port, polled until they answer, killed when dropped. A missing emulator
//! fails the test with the command that installs it: no silent skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Emulator {
    name: &'static str,
    child: Child,
    pub port: u16,
    // The emulator's stderr, shown when it fails to start.
    log: tempfile::NamedTempFile,
    // Its working directory, removed with it.
    _dir: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a program is: `$env_var` if set (it must exist), else the first of
/// `names` on PATH, else whatever `fallback` finds. Panics naming the install step.
pub fn find_program(
    what: &str,
    env_var: &str,
    names: &[&str],
    fallback: impl FnOnce() -> Option<PathBuf>,
    install: &str,
) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{env_var}={} does not name a file; the {what} tests need {what} ({install}; scripts/test does)",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(fallback).unwrap_or_else(|| {
        panic!(
            "the {what} tests need {what}, which is not installed: {install} \
             (scripts/test does), or set {env_var} to its path"
        )
    })
}

impl Emulator {
    /// Starts `program args` in a fresh directory and waits (at most 30 s)
    /// until `ready(port)` holds.
    pub async fn start(
        name: &'static str,
        program: &Path,
        args: &[String],
        port: u16,
        ready: impl Fn(u16) -> bool,
    ) -> Emulator {
        let dir = tempfile::tempdir().expect("a working directory for the emulator");
        let log = tempfile::NamedTempFile::new().expect("a log file for the emulator");
        let stderr = log.reopen().expect("reopen the log file");
        let child = Command::new(program)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        let mut emulator = Emulator {
            name,
            child,
            port,
            log,
            _dir: dir,
        };
        super::wait_for(
            &format!("{name} to answer on port {port}"),
            Duration::from_secs(30),
            async || {
                if let Ok(Some(status)) = emulator.child.try_wait() {
                    panic!(
                        "{} exited early ({status}); its stderr:\n{}",
                        emulator.name,
                        emulator.log_tail()
                    );
                }
                ready(port).then_some(())
            },
        )
        .await;
        emulator
    }

    /// The last lines the emulator wrote to stderr.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}
