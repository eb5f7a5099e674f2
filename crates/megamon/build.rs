//! Records the git commit and its date for `megamon.build.info`.
//! `MEGAMON_GIT_COMMIT` / `MEGAMON_BUILD_DATE` override (e.g. in a container
//! build without `.git`).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    let commit = std::env::var("MEGAMON_GIT_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    let date = std::env::var("MEGAMON_BUILD_DATE")
        .ok()
        .or_else(|| git(&["log", "-1", "--format=%cI"]));
    println!(
        "cargo:rustc-env=MEGAMON_GIT_COMMIT={}",
        commit.unwrap_or_default()
    );
    println!(
        "cargo:rustc-env=MEGAMON_BUILD_DATE={}",
        date.unwrap_or_default()
    );
    println!("cargo:rerun-if-env-changed=MEGAMON_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=MEGAMON_BUILD_DATE");
    for path in [
        "../../.git/HEAD",
        "../../.git/refs/heads",
        "../../.git/packed-refs",
    ] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
