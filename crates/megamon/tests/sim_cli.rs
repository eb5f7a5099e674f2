//! `megamon sim` as a user runs it: it writes a kubeconfig when ready, kubectl works
//! against it, and SIGTERM stops it with exit status 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn megamon_sim_serves_kubectl_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let seed = dir.path().join("seed.yaml");
    std::fs::write(
        &seed,
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: seeded-node\n",
    )
    .expect("write seed");
    let mut sim = Command::new(env!("CARGO_BIN_EXE_megamon"))
        .args(["sim", "--addr", "127.0.0.1:0", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .arg("--seed")
        .arg(&seed)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("megamon sim starts");

    let deadline = Instant::now() + Duration::from_secs(20);
    while !kubeconfig.exists() {
        if let Some(status) = sim.try_wait().expect("poll") {
            panic!("megamon sim exited early: {status}");
        }
        assert!(Instant::now() < deadline, "no kubeconfig within 20s");
        std::thread::sleep(Duration::from_millis(20));
    }

    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(["get", "nodes", "-o", "name"])
        .output()
        .expect("kubectl runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "node/seeded-node"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &sim.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = sim.try_wait().expect("poll") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "megamon sim did not stop within 10s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
}
