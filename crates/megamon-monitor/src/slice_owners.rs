//! Upstream v1.2.0's slice → owner map, kept where upstream keeps it (key
//! `slice-owner-map.json` of `SliceOwnerMapConfigMapRef`), so deleted slices
//! are still recognised after a restart or a switch from upstream: read at
//! start, written whenever it changes.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Client;
use megamon_core::config::ConfigMapRef;
use megamon_core::entity::slice::OwnerRef;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::configmap::ConfigMapKey;

/// The ConfigMap key upstream uses.
pub const KEY: &str = "slice-owner-map.json";

/// How one owner is written: upstream's Go field names.
#[derive(Debug, Serialize, Deserialize)]
struct OwnerJson {
    #[serde(rename = "Kind", default)]
    kind: String,
    #[serde(rename = "Namespace", default)]
    namespace: String,
    #[serde(rename = "Name", default)]
    name: String,
}

/// Parses the map; entries without a kind or name are left out.
pub fn parse(text: &str) -> Result<BTreeMap<String, OwnerRef>, serde_json::Error> {
    let raw: BTreeMap<String, OwnerJson> = serde_json::from_str(text)?;
    Ok(raw
        .into_iter()
        .filter(|(_, o)| !o.kind.is_empty() && !o.name.is_empty())
        .map(|(slice, o)| {
            let owner = OwnerRef {
                kind: o.kind,
                namespace: o.namespace,
                name: o.name,
            };
            (slice, owner)
        })
        .collect())
}

pub fn to_json(map: &BTreeMap<String, OwnerRef>) -> String {
    let raw: BTreeMap<&str, OwnerJson> = map
        .iter()
        .map(|(slice, o)| {
            let owner = OwnerJson {
                kind: o.kind.clone(),
                namespace: o.namespace.clone(),
                name: o.name.clone(),
            };
            (slice.as_str(), owner)
        })
        .collect();
    // A map of strings always serialises.
    serde_json::to_string(&raw).unwrap_or_else(|_| "{}".to_string())
}

/// Reads the saved map. A missing ConfigMap is an empty map; one that cannot
/// be read or parsed is logged and taken as empty (deleted slices whose
/// owner still runs are then forgotten, as without the map).
pub async fn load(client: &Client, target: &ConfigMapRef) -> BTreeMap<String, OwnerRef> {
    let key = ConfigMapKey::new(client, target, KEY);
    match key.get().await {
        Ok(None) => BTreeMap::new(),
        Ok(Some(text)) => match parse(&text) {
            Ok(map) => {
                tracing::info!(slices = map.len(), configmap = %format!("{}/{}", target.namespace, target.name), "slice owner map loaded");
                map
            }
            Err(e) => {
                tracing::error!(configmap = %format!("{}/{}", target.namespace, target.name), key = KEY, error = %e, "slice owner map is not valid JSON; starting without it");
                BTreeMap::new()
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the slice owner map; starting without it");
            BTreeMap::new()
        }
    }
}

/// Starts the writer; send it the map whenever it changes. A failed write
/// is retried (with the latest map) until it succeeds.
pub fn spawn(
    client: &Client,
    target: &ConfigMapRef,
) -> watch::Sender<Option<BTreeMap<String, OwnerRef>>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(write(ConfigMapKey::new(client, target, KEY), rx));
    tx
}

async fn write(key: ConfigMapKey, mut rx: watch::Receiver<Option<BTreeMap<String, OwnerRef>>>) {
    const RETRY: Duration = Duration::from_secs(5);
    while rx.changed().await.is_ok() {
        loop {
            let Some(map) = rx.borrow_and_update().clone() else {
                break;
            };
            match key.put(&to_json(&map)).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot save the slice owner map; retrying");
                    // Retry, or sooner with a newer map; stop when the
                    // monitor does.
                    if let Ok(Err(_)) = tokio::time::timeout(RETRY, rx.changed()).await {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_shape_round_trips_and_skips_incomplete_entries() {
        let text = r#"{"s1":{"Kind":"JobSet","Namespace":"ml","Name":"train"},
                       "s2":{"Kind":"LeaderWorkerSet","Namespace":"serve","Name":"infer"},
                       "s3":{"Kind":"","Name":"x"}, "s4":{"Namespace":"x"}}"#;
        let map = parse(text).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map["s1"].name, "train");
        assert_eq!(map["s2"].kind, "LeaderWorkerSet");
        let json = to_json(&map);
        assert_eq!(
            json,
            r#"{"s1":{"Kind":"JobSet","Namespace":"ml","Name":"train"},"s2":{"Kind":"LeaderWorkerSet","Namespace":"serve","Name":"infer"}}"#
        );
        assert_eq!(parse(&json).unwrap(), map);
        assert!(parse("[1]").is_err());
    }
}
