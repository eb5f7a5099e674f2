//! Which store the configuration selects (SPEC §3.2, §5).

use megamon_core::config::Config;

use crate::StoreError;

/// The store URL a configuration selects, in this order:
///
/// 1. `EventsStoreURL` when set (honoured in simulation too);
/// 2. in simulation (`EnableSimulation`), `memory://`: no GCS access, events
///    are lost on restart, as in the original;
/// 3. `gs://{EventsBucketName}/{EventsBucketPath}` (the path defaulting to
///    `megamon/clusters/<cluster>`), as in the original;
/// 4. otherwise an error: production needs somewhere durable to keep history.
pub fn history_url(config: &Config) -> Result<String, StoreError> {
    if let Some(url) = &config.events_store_url {
        return Ok(url.clone());
    }
    if config.enable_simulation {
        return Ok("memory://".to_string());
    }
    if !config.events_bucket_name.is_empty() {
        let path = config.effective_events_bucket_path();
        return Ok(format!(
            "gs://{}/{}",
            config.events_bucket_name,
            path.trim_matches('/')
        ));
    }
    Err(StoreError::NotConfigured {
        problem: "EventsBucketName or EventsStoreURL is required unless EnableSimulation is true"
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        megamon_core::config::parse("config.json", json.as_bytes())
            .unwrap()
            .config
    }

    #[test]
    fn selection_order() {
        let c = config(r#"{"EventsBucketName": "b", "GKE": {"ClusterName": "c1"}}"#);
        assert_eq!(history_url(&c).unwrap(), "gs://b/megamon/clusters/c1");
        let c = config(r#"{"EventsBucketName": "b", "EventsBucketPath": "/x/y/"}"#);
        assert_eq!(history_url(&c).unwrap(), "gs://b/x/y");
        let c = config(r#"{"EventsBucketName": "b", "EventsStoreURL": "s3://s/p"}"#);
        assert_eq!(history_url(&c).unwrap(), "s3://s/p");
        let c = config(r#"{"EnableSimulation": true, "EventsBucketName": "b"}"#);
        assert_eq!(history_url(&c).unwrap(), "memory://");
        let c = config(r#"{"EnableSimulation": true, "EventsStoreURL": "file:///var/lib/m"}"#);
        assert_eq!(history_url(&c).unwrap(), "file:///var/lib/m");
        let err = history_url(&config("{}")).unwrap_err().to_string();
        assert!(
            err.contains("EventsBucketName or EventsStoreURL is required"),
            "{err}"
        );
    }
}
