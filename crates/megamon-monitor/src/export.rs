//! Report exporters (SPEC §5): `stdout` (one JSON line per aggregation) and
//! `configmap` (the report under key `report` of a ConfigMap).

use std::sync::Arc;

use kube::Client;
use megamon_core::config::{ConfigMapRef, Exporter};
use megamon_core::report::Report;
use tokio::sync::watch;

use crate::configmap::{ConfigMapError, ConfigMapKey};

/// A ConfigMap holds at most 1 MiB of data; leave room for the object itself.
pub const CONFIGMAP_REPORT_LIMIT: usize = 1024 * 1024 - 4 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("report is {size} bytes, more than a ConfigMap can hold ({limit} bytes); not exported")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Api(#[from] ConfigMapError),
    #[error("cannot serialise the report: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// The configured exporters.
pub struct Exporters {
    stdout: bool,
    configmap: Option<watch::Sender<Option<Arc<String>>>>,
}

impl Exporters {
    /// Starts the exporters; the ConfigMap one runs in its own task so a slow
    /// API server never holds up the event loop.
    pub fn start(
        exporters: &[Exporter],
        client: &Client,
        target: &ConfigMapRef,
        on_error: Arc<dyn Fn(&ExportError) + Send + Sync>,
    ) -> Self {
        let configmap = exporters.contains(&Exporter::ConfigMap).then(|| {
            let (tx, rx) = watch::channel(None);
            let key = ConfigMapKey::new(client, target, "report");
            tokio::spawn(write_configmap(key, rx, on_error));
            tx
        });
        Exporters {
            stdout: exporters.contains(&Exporter::Stdout),
            configmap,
        }
    }

    /// Whether any exporter is set (else the report need not be built).
    pub fn any(&self) -> bool {
        self.stdout || self.configmap.is_some()
    }

    pub fn export(&self, report: &Report) -> Result<(), ExportError> {
        if !self.any() {
            return Ok(());
        }
        let json = serde_json::to_string(report)?;
        if self.stdout {
            println!("{json}");
        }
        if let Some(tx) = &self.configmap {
            tx.send_replace(Some(Arc::new(json)));
        }
        Ok(())
    }
}

async fn write_configmap(
    key: ConfigMapKey,
    mut rx: watch::Receiver<Option<Arc<String>>>,
    on_error: Arc<dyn Fn(&ExportError) + Send + Sync>,
) {
    while rx.changed().await.is_ok() {
        let Some(report) = rx.borrow_and_update().clone() else {
            continue;
        };
        if let Err(err) = put_report(&key, &report).await {
            tracing::error!(exporter = "configmap", error = %err, "report export failed");
            on_error(&err);
        }
    }
}

/// A report a ConfigMap cannot hold is refused before any API call.
fn check_size(report: &str) -> Result<(), ExportError> {
    if report.len() > CONFIGMAP_REPORT_LIMIT {
        return Err(ExportError::TooLarge {
            size: report.len(),
            limit: CONFIGMAP_REPORT_LIMIT,
        });
    }
    Ok(())
}

async fn put_report(key: &ConfigMapKey, report: &str) -> Result<(), ExportError> {
    check_size(report)?;
    key.put(report).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_too_large_for_a_configmap_are_refused() {
        assert!(check_size(&"x".repeat(CONFIGMAP_REPORT_LIMIT)).is_ok());
        let err = check_size(&"x".repeat(CONFIGMAP_REPORT_LIMIT + 1)).unwrap_err();
        assert!(
            err.to_string().contains("more than a ConfigMap can hold"),
            "{err}"
        );
    }
}
