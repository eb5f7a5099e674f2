//! Injected faults for reliability tests: a share of API requests fail or slow down.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// `POST /_sim/faults` body; `{}` clears everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultConfig {
    /// Share of API requests that fail, 0.0 to 1.0.
    #[serde(default)]
    pub error_rate: f64,
    /// Status code of failed requests (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Delay added to every API request.
    #[serde(default)]
    pub latency_ms: u64,
    /// Apply the faults to watch requests only, so that clients can still
    /// change objects while every watch is cut off (to force re-lists).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub watches_only: bool,
}

impl FaultConfig {
    pub fn validate(&self) -> Result<(), ApiError> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(ApiError::bad_request(format!(
                "errorRate must be between 0.0 and 1.0, got {}",
                self.error_rate
            )));
        }
        if let Some(status) = self.status
            && !(400..=599).contains(&status)
        {
            return Err(ApiError::bad_request(format!(
                "status must be an HTTP error code (400-599), got {status}"
            )));
        }
        Ok(())
    }
}

/// The current fault settings and a cheap random source.
#[derive(Default)]
pub struct Faults {
    config: RwLock<FaultConfig>,
    counter: AtomicU64,
}

impl Faults {
    pub fn set(&self, config: FaultConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    pub fn get(&self) -> FaultConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A uniform number in [0, 1) (splitmix64 over a counter seeded from a UUID).
    fn random(&self) -> f64 {
        let seed = self
            .counter
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let seed = if seed == 0 {
            let s = uuid::Uuid::new_v4().as_u64_pair().0 | 1;
            self.counter.store(s, Ordering::Relaxed);
            s
        } else {
            seed
        };
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The delay to add and, if this request is chosen to fail, its error.
    pub fn draw(&self, is_watch: bool) -> (Option<Duration>, Option<ApiError>) {
        let config = self.get();
        if config.watches_only && !is_watch {
            return (None, None);
        }
        let delay = (config.latency_ms > 0).then(|| Duration::from_millis(config.latency_ms));
        let fail = config.error_rate > 0.0 && self.random() < config.error_rate;
        let error = fail.then(|| {
            let code = config.status.unwrap_or(500);
            ApiError::new(
                code,
                ApiError::reason_for_code(code),
                format!("injected fault (status {code})"),
            )
        });
        (delay, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_roughly_honoured() {
        let faults = Faults::default();
        faults.set(FaultConfig {
            error_rate: 0.25,
            status: Some(503),
            latency_ms: 0,
            watches_only: false,
        });
        let failed = (0..4000).filter(|_| faults.draw(false).1.is_some()).count();
        assert!((800..1200).contains(&failed), "{failed} of 4000 failed");
        faults.set(FaultConfig::default());
        assert!((0..100).all(|_| faults.draw(false).1.is_none()));
    }

    #[test]
    fn watches_only_spares_other_requests() {
        let faults = Faults::default();
        faults.set(FaultConfig {
            error_rate: 1.0,
            watches_only: true,
            ..FaultConfig::default()
        });
        assert!((0..100).all(|_| faults.draw(false).1.is_none()));
        assert!((0..100).all(|_| faults.draw(true).1.is_some()));
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = FaultConfig {
            error_rate: 1.5,
            ..FaultConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
