//! Helpers shared by the store tests.
#![allow(dead_code)]

pub mod azurite;
pub mod conformance;
pub mod emulator;
pub mod fake_gcs;
pub mod gcs_emulator;
pub mod http;
pub mod moto;

use std::time::{Duration, Instant};

use jiff::Timestamp;
use megamon_core::Timelines;

/// Timelines with `entities` keys, each with `events` alternating transitions.
pub fn timelines(entities: usize, events: usize) -> Timelines {
    let mut t = Timelines::new();
    let start: Timestamp = "2024-01-01T00:00:00.25Z".parse().unwrap();
    for e in 0..entities {
        let key = format!("uid-{e:06}");
        for i in 0..events {
            let at = start + jiff::SignedDuration::from_secs((i * 60) as i64);
            t.observe(
                &key,
                megamon_core::State {
                    up: i % 2 == 1,
                    expected_down: i % 4 == 2,
                    failed: false,
                },
                at,
            );
        }
    }
    t
}

pub fn sample() -> Timelines {
    timelines(2, 3)
}

/// A document the original MegaMon wrote: indented, `ed` present and absent,
/// whole and fractional seconds, an offset, a null event list.
pub const ORIGINAL_DOCUMENT: &str = r#"{
  "6f1c0e0a-1111-4c1b-9a55-000000000001": {
    "upEvents": [
      {"up": false, "ts": "2024-04-30T10:00:00Z"},
      {"up": true, "ts": "2024-04-30T10:12:31.123456789Z"},
      {"up": false, "ed": true, "ts": "2024-04-30T13:00:00+02:00"},
      {"up": true, "ed": false, "ts": "2024-04-30T11:30:00.5Z"}
    ]
  },
  "6f1c0e0a-1111-4c1b-9a55-000000000002": {"upEvents": null}
}
"#;

/// Timelines written out: per key, each event's (up, expected down, timestamp in UTC).
pub type WrittenOut = Vec<(String, Vec<(bool, bool, String)>)>;

/// [`ORIGINAL_DOCUMENT`] as it must load, written out by hand: per key, the
/// events' (up, expected down, timestamp in UTC).
pub fn original_document_expected() -> WrittenOut {
    let events = |list: &[(bool, bool, &str)]| {
        list.iter()
            .map(|&(up, ed, ts)| (up, ed, ts.to_string()))
            .collect()
    };
    vec![
        (
            "6f1c0e0a-1111-4c1b-9a55-000000000001".to_string(),
            events(&[
                (false, false, "2024-04-30T10:00:00Z"),
                (true, false, "2024-04-30T10:12:31.123456789Z"),
                (false, true, "2024-04-30T11:00:00Z"),
                (true, false, "2024-04-30T11:30:00.5Z"),
            ]),
        ),
        (
            "6f1c0e0a-1111-4c1b-9a55-000000000002".to_string(),
            events(&[]),
        ),
    ]
}

/// Timelines as (key, events) with each event's fields written out, to
/// compare with literal expectations.
pub fn written_out(timelines: &Timelines) -> WrittenOut {
    timelines
        .iter()
        .map(|(key, timeline)| {
            let events = timeline
                .events()
                .iter()
                .map(|e| (e.up, e.expected_down, e.timestamp.to_string()))
                .collect();
            (key.to_string(), events)
        })
        .collect()
}

/// [`sample`] in the stored format, as another client must read it.
pub const SAMPLE_BYTES: &str = concat!(
    r#"{"uid-000000":{"upEvents":[{"up":false,"ts":"2024-01-01T00:00:00.25Z"},"#,
    r#"{"up":true,"ts":"2024-01-01T00:01:00.25Z"},"#,
    r#"{"up":false,"ed":true,"ts":"2024-01-01T00:02:00.25Z"}]},"#,
    r#""uid-000001":{"upEvents":[{"up":false,"ts":"2024-01-01T00:00:00.25Z"},"#,
    r#"{"up":true,"ts":"2024-01-01T00:01:00.25Z"},"#,
    r#"{"up":false,"ed":true,"ts":"2024-01-01T00:02:00.25Z"}]}}"#
);

/// Polls `probe` until it yields a value, failing the test after `limit`.
pub async fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A port the OS considers free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
