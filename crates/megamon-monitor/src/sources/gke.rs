//! GKE: the node pools API (`projects.locations.clusters.nodePools.list`,
//! v1beta1 fields) and the metadata server, over plain REST.
//!
//! Authentication: an OAuth access token from `GOOGLE_OAUTH_ACCESS_TOKEN` if set
//! (handy outside GKE: `gcloud auth print-access-token`), else from the metadata
//! server's default service account (GKE Workload Identity, the deployment
//! target). Endpoints: `--gke-endpoint` (default
//! `https://container.googleapis.com`) and `GCE_METADATA_HOST` (default
//! `metadata.google.internal`), so both can be pointed at local servers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use megamon_core::config::GkeConfig;
use megamon_core::entity::nodepool::NodePoolFacts;
use megamon_metrics::Metrics;
use serde::Deserialize;
use tokio::sync::{Mutex, mpsc};

use crate::fleet::{Stamped, Update};

pub const DEFAULT_ENDPOINT: &str = "https://container.googleapis.com";

/// This source's name in `source.stale`.
pub const SOURCE: &str = "gke-node-pools";
const METADATA_HOST: &str = "metadata.google.internal";

#[derive(Debug, thiserror::Error)]
pub enum GkeError {
    #[error("GKE {what}: {source}")]
    Http {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GKE {what}: HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("GKE {what}: unexpected response: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "GKE cluster is not identified: {0} is not configured and the metadata server did not say ({1})"
    )]
    Unidentified(&'static str, String),
}

/// Reads the GKE metadata server.
#[derive(Debug, Clone)]
pub struct MetadataServer {
    http: reqwest::Client,
    base: String,
}

impl MetadataServer {
    /// `GCE_METADATA_HOST` (host:port) or the standard host.
    pub fn from_env(http: reqwest::Client) -> Self {
        let host = std::env::var("GCE_METADATA_HOST").unwrap_or_else(|_| METADATA_HOST.to_string());
        MetadataServer {
            http,
            base: format!("http://{host}/computeMetadata/v1"),
        }
    }

    async fn get(&self, path: &str) -> Result<String, GkeError> {
        let what = format!("metadata {path}");
        let request = self
            .http
            .get(format!("{}/{path}", self.base))
            .header("Metadata-Flavor", "Google")
            .timeout(Duration::from_secs(5));
        let (status, body) = send(request, &what).await?;
        if status != 200 {
            return Err(GkeError::Status {
                what,
                status,
                body: truncate(body),
            });
        }
        Ok(body.trim().to_string())
    }

    /// Fills empty project / location / cluster name from the metadata server.
    pub async fn complete(&self, gke: &GkeConfig) -> Result<GkeConfig, GkeError> {
        let mut out = gke.clone();
        for (field, value, path) in [
            ("GKE.ProjectID", &mut out.project_id, "project/project-id"),
            (
                "GKE.ClusterLocation",
                &mut out.cluster_location,
                "instance/attributes/cluster-location",
            ),
            (
                "GKE.ClusterName",
                &mut out.cluster_name,
                "instance/attributes/cluster-name",
            ),
        ] {
            if value.is_empty() {
                *value = self
                    .get(path)
                    .await
                    .map_err(|e| GkeError::Unidentified(field, e.to_string()))?;
            }
        }
        Ok(out)
    }

    async fn token(&self) -> Result<AccessToken, GkeError> {
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            #[serde(default)]
            expires_in: u64,
        }
        let body = self.get("instance/service-accounts/default/token").await?;
        let token: Token = serde_json::from_str(&body).map_err(|source| GkeError::Decode {
            what: "metadata token".into(),
            source,
        })?;
        Ok(AccessToken {
            value: token.access_token,
            // Refresh a minute early.
            valid_until: Instant::now() + Duration::from_secs(token.expires_in.saturating_sub(60)),
        })
    }
}

#[derive(Debug, Clone)]
struct AccessToken {
    value: String,
    valid_until: Instant,
}

/// Lists a cluster's node pools.
#[derive(Debug)]
pub struct NodePoolsApi {
    http: reqwest::Client,
    url: String,
    metadata: MetadataServer,
    fixed_token: Option<String>,
    token: Mutex<Option<AccessToken>>,
    /// Where each call's latency goes (`<prefix>.gke.latency`).
    metrics: Option<Arc<Metrics>>,
}

impl NodePoolsApi {
    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        cluster: &GkeConfig,
        metadata: MetadataServer,
    ) -> Self {
        NodePoolsApi {
            url: format!(
                "{}/v1beta1/projects/{}/locations/{}/clusters/{}/nodePools",
                endpoint.trim_end_matches('/'),
                cluster.project_id,
                cluster.cluster_location,
                cluster.cluster_name
            ),
            http,
            metadata,
            fixed_token: std::env::var("GOOGLE_OAUTH_ACCESS_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            token: Mutex::new(None),
            metrics: None,
        }
    }

    /// Records the latency of every call in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    async fn bearer(&self) -> Result<String, GkeError> {
        if let Some(t) = &self.fixed_token {
            return Ok(t.clone());
        }
        let mut cached = self.token.lock().await;
        match cached.as_ref() {
            Some(t) if t.valid_until > Instant::now() => Ok(t.value.clone()),
            _ => {
                let fresh = self.metadata.token().await?;
                let value = fresh.value.clone();
                *cached = Some(fresh);
                Ok(value)
            }
        }
    }

    /// All TPU node pools of the cluster (following `nextPageToken`).
    pub async fn list(&self) -> Result<Vec<NodePoolFacts>, GkeError> {
        let what = "nodePools.list".to_string();
        let token = self.bearer().await?;
        let mut pools = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut req = self
                .http
                .get(&self.url)
                .bearer_auth(&token)
                .timeout(Duration::from_secs(30));
            if let Some(p) = &page_token {
                req = req.query(&[("pageToken", p)]);
            }
            let started = Instant::now();
            let sent = send(req, &what).await;
            if let Some(m) = &self.metrics {
                m.record_gke_latency(started.elapsed());
            }
            let (status, body) = sent?;
            if status != 200 {
                if status == 401 {
                    // A revoked or expired token: fetch a new one next time.
                    *self.token.lock().await = None;
                }
                return Err(GkeError::Status {
                    what,
                    status,
                    body: truncate(body),
                });
            }
            let page: ListResponse =
                serde_json::from_str(&body).map_err(|source| GkeError::Decode {
                    what: what.clone(),
                    source,
                })?;
            pools.extend(page.node_pools.into_iter().map(NodePoolFacts::from));
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => page_token = Some(t),
                None => break,
            }
        }
        Ok(pools)
    }
}

/// Sends a request and reads the whole answer: (status, body).
async fn send(request: reqwest::RequestBuilder, what: &str) -> Result<(u16, String), GkeError> {
    let http = |source| GkeError::Http {
        what: what.to_string(),
        source,
    };
    let response = request.send().await.map_err(http)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(http)?;
    Ok((status, body))
}

/// Error bodies can be whole HTML pages: keep the start.
fn truncate(mut s: String) -> String {
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The response of `nodePools.list`, only the fields the rules read.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListResponse {
    node_pools: Vec<NodePool>,
    next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NodePool {
    name: String,
    config: NodeConfig,
    placement_policy: PlacementPolicy,
    status: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NodeConfig {
    machine_type: String,
    spot: bool,
    resource_labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PlacementPolicy {
    tpu_topology: String,
}

impl From<NodePool> for NodePoolFacts {
    fn from(p: NodePool) -> Self {
        NodePoolFacts {
            name: p.name,
            tpu_topology: p.placement_policy.tpu_topology,
            machine_type: p.config.machine_type,
            status: p.status,
            spot: p.config.spot,
            accelerator: p
                .config
                .resource_labels
                .get("goog-gke-accelerator-type")
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// Polls the GKE API each interval; a failure keeps the last known pools.
pub async fn poll_node_pools(api: NodePoolsApi, interval: Duration, tx: mpsc::Sender<Stamped>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match api.list().await {
            Ok(pools) => {
                if let Some(m) = &api.metrics {
                    m.source_current(SOURCE);
                }
                let update = Stamped {
                    at: jiff::Timestamp::now(),
                    update: Update::NodePools(pools),
                };
                if tx.send(update).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if let Some(m) = &api.metrics {
                    m.source_failing(SOURCE);
                }
                tracing::warn!(error = %e, "cannot list node pools; keeping the last known ones")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_real_response_shape() {
        // Trimmed from a real v1beta1 nodePools.list response.
        let body = r#"{
          "nodePools": [
            {
              "name": "tpu-v5e-pool",
              "config": {
                "machineType": "ct5lp-hightpu-4t", "diskSizeGb": 100,
                "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
                "spot": true,
                "resourceLabels": {"goog-gke-accelerator-type": "tpu-v5-lite-podslice", "goog-gke-tpu-node-pool-type": "multi-host"}
              },
              "initialNodeCount": 64,
              "placementPolicy": {"type": "COMPACT", "tpuTopology": "16x16"},
              "status": "RUNNING",
              "version": "1.30.5-gke.1014001"
            },
            {"name": "default-pool", "config": {"machineType": "e2-standard-8"}, "status": "RUNNING"}
          ]
        }"#;
        let page: ListResponse = serde_json::from_str(body).unwrap();
        let pools: Vec<NodePoolFacts> = page.node_pools.into_iter().map(Into::into).collect();
        assert_eq!(pools.len(), 2);
        assert_eq!(pools[0].tpu_topology, "16x16");
        assert!(pools[0].spot);
        assert_eq!(pools[0].accelerator, "tpu-v5-lite-podslice");
        assert_eq!(pools[0].expected_nodes(), Ok(64));
        assert!(!pools[1].is_tpu());
    }
}
