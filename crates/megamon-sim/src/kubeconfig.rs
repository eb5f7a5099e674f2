//! The kubeconfig for a running simulator, written atomically.

use std::path::Path;

/// A kubeconfig pointing at `server` (e.g. `http://127.0.0.1:6443`).
pub fn render(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: megamon-sim
  cluster:
    server: {server}
contexts:
- name: megamon-sim
  context:
    cluster: megamon-sim
    user: megamon-sim
    namespace: default
current-context: megamon-sim
preferences: {{}}
users:
- name: megamon-sim
  user: {{}}
"
    )
}

/// Writes the kubeconfig to a temporary file beside `path` and renames it into place,
/// so a file that exists is complete.
pub fn write(path: &Path, server: &str) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kubeconfig".into());
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, render(server))?;
    std::fs::rename(&tmp, path)
}
