//! Report exporters (SPEC §5): `stdout` (one JSON line per aggregation) and
//! `configmap` (the report under key `report` of a ConfigMap).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use megamon_core::config::{ConfigMapRef, Exporter};
use megamon_core::report::Report;
use tokio::sync::watch;

/// A ConfigMap holds at most 1 MiB of data; leave room for the object itself.
pub const CONFIGMAP_REPORT_LIMIT: usize = 1024 * 1024 - 4 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("report is {size} bytes, more than a ConfigMap can hold ({limit} bytes); not exported")]
    TooLarge { size: usize, limit: usize },
    #[error("ConfigMap {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
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
            let api = Api::<ConfigMap>::namespaced(client.clone(), &target.namespace);
            tokio::spawn(write_configmap(api, target.clone(), rx, on_error));
            tx
        });
        Exporters {
            stdout: exporters.contains(&Exporter::Stdout),
            configmap,
        }
    }

    pub fn export(&self, report: &Report) -> Result<(), ExportError> {
        if !self.stdout && self.configmap.is_none() {
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
    api: Api<ConfigMap>,
    target: ConfigMapRef,
    mut rx: watch::Receiver<Option<Arc<String>>>,
    on_error: Arc<dyn Fn(&ExportError) + Send + Sync>,
) {
    while rx.changed().await.is_ok() {
        let Some(report) = rx.borrow_and_update().clone() else {
            continue;
        };
        if let Err(err) = put_report(&api, &target, &report).await {
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

async fn put_report(
    api: &Api<ConfigMap>,
    target: &ConfigMapRef,
    report: &str,
) -> Result<(), ExportError> {
    check_size(report)?;
    let api_err = |source: kube::Error| ExportError::Api {
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        source: Box::new(source),
    };
    let data = BTreeMap::from([("report".to_string(), report.to_string())]);
    match api.get_opt(&target.name).await.map_err(api_err)? {
        Some(mut cm) => {
            cm.data.get_or_insert_with(BTreeMap::new).extend(data);
            api.replace(&target.name, &PostParams::default(), &cm)
                .await
                .map_err(api_err)?;
        }
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(target.name.clone()),
                    namespace: Some(target.namespace.clone()),
                    ..ObjectMeta::default()
                },
                data: Some(data),
                ..ConfigMap::default()
            };
            api.create(&PostParams::default(), &cm)
                .await
                .map_err(api_err)?;
        }
    }
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
