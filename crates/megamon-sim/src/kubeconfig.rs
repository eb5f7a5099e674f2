//! The kubeconfig for a running simulator, written atomically.

use std::path::Path;

use base64::Engine;

/// A kubeconfig pointing at `server` (e.g. `http://127.0.0.1:6443`), trusting
/// `ca_pem` when the server uses TLS. The token is not checked (the simulator allows
/// everyone); it is there because kubectl prompts for a password over HTTPS without one.
pub fn render(server: &str, ca_pem: Option<&str>) -> String {
    let ca = ca_pem
        .map(|pem| {
            format!(
                "\n    certificate-authority-data: {}",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: megamon-sim
  cluster:
    server: {server}{ca}
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
  user:
    token: megamon-sim
"
    )
}

/// Writes the kubeconfig to a temporary file beside `path` and renames it into place,
/// so a file that exists is complete.
pub fn write(path: &Path, server: &str, ca_pem: Option<&str>) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kubeconfig".into());
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, render(server, ca_pem))?;
    std::fs::rename(&tmp, path)
}
