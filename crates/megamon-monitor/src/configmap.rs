//! One key of one ConfigMap: read it, or write it (creating the ConfigMap if
//! needed, keeping its other keys). The report exporter and the slice →
//! owner map both keep their JSON this way.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use megamon_core::config::ConfigMapRef;

/// A ConfigMap key that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("ConfigMap {namespace}/{name}: {source}")]
pub struct ConfigMapError {
    pub namespace: String,
    pub name: String,
    #[source]
    pub source: Box<kube::Error>,
}

/// A key of a ConfigMap.
#[derive(Clone)]
pub struct ConfigMapKey {
    api: Api<ConfigMap>,
    target: ConfigMapRef,
    key: &'static str,
}

impl ConfigMapKey {
    pub fn new(client: &Client, target: &ConfigMapRef, key: &'static str) -> Self {
        ConfigMapKey {
            api: Api::namespaced(client.clone(), &target.namespace),
            target: target.clone(),
            key,
        }
    }

    pub fn target(&self) -> &ConfigMapRef {
        &self.target
    }

    fn error(&self, source: kube::Error) -> ConfigMapError {
        ConfigMapError {
            namespace: self.target.namespace.clone(),
            name: self.target.name.clone(),
            source: Box::new(source),
        }
    }

    /// The key's value; `None` when the ConfigMap or the key is missing.
    pub async fn get(&self) -> Result<Option<String>, ConfigMapError> {
        let cm = self
            .api
            .get_opt(&self.target.name)
            .await
            .map_err(|e| self.error(e))?;
        Ok(cm.and_then(|cm| cm.data?.remove(self.key)))
    }

    /// Sets the key to `value`.
    pub async fn put(&self, value: &str) -> Result<(), ConfigMapError> {
        let data = BTreeMap::from([(self.key.to_string(), value.to_string())]);
        let name = &self.target.name;
        match self.api.get_opt(name).await.map_err(|e| self.error(e))? {
            Some(mut cm) => {
                cm.data.get_or_insert_with(BTreeMap::new).extend(data);
                self.api
                    .replace(name, &PostParams::default(), &cm)
                    .await
                    .map_err(|e| self.error(e))?;
            }
            None => {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(self.target.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    data: Some(data),
                    ..ConfigMap::default()
                };
                self.api
                    .create(&PostParams::default(), &cm)
                    .await
                    .map_err(|e| self.error(e))?;
            }
        }
        Ok(())
    }
}
