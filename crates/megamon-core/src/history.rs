//! The stored-history format (SPEC §3.2): one JSON document per entity kind,
//! an object from entity key to `{"upEvents":[{"up":..,"ed":..,"ts":..}, ...]}`.
//!
//! Files written by the original load unchanged: RFC 3339 timestamps with or
//! without fractional seconds, `Z` or an offset, `ed` absent or present, `null`
//! event lists, and unknown extra fields (ignored).

use crate::timeline::Timelines;

/// A stored-history document that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{file}: line {line}, column {column}: {message}")]
    Malformed {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// Parses a stored-history document. `file` names it in errors.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Timelines, HistoryError> {
    // Deserialising straight from bytes keeps line and column in serde's errors.
    serde_json::from_slice::<Timelines>(bytes).map_err(|err| {
        let message = strip_position(&err);
        if err.line() == 0 {
            HistoryError::Invalid {
                file: file.to_string(),
                message,
            }
        } else {
            HistoryError::Malformed {
                file: file.to_string(),
                line: err.line(),
                column: err.column(),
                message,
            }
        }
    })
}

/// serde_json appends " at line L column C"; we print the position ourselves.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Serialises timelines in the stored format: compact JSON, keys sorted,
/// timestamps RFC 3339 in UTC with only the fractional digits needed.
pub fn to_bytes(timelines: &Timelines) -> Vec<u8> {
    // Serialising maps of strings, bools and timestamps cannot fail.
    serde_json::to_vec(timelines).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    #[test]
    fn loads_original_format_variants() {
        let doc = br#"{
          "uid-1": {"upEvents": [
            {"up": false, "ts": "2024-01-01T00:00:00Z"},
            {"up": true, "ts": "2024-01-01T00:10:00.123456789Z"},
            {"up": false, "ed": true, "ts": "2024-01-01T02:30:00+02:00"},
            {"up": true, "ed": false, "ts": "2024-01-01T00:40:00.5-00:00", "extra": 1}
          ], "someFutureField": {"x": 1}},
          "uid-2": {"upEvents": null},
          "uid-3": {}
        }"#;
        let timelines = parse("jobsets.json", doc).unwrap();
        assert_eq!(timelines.len(), 3);
        let events = timelines.get("uid-1").unwrap().events();
        assert_eq!(events.len(), 4);
        assert!(!events[0].expected_down);
        assert!(events[2].expected_down);
        let want: Timestamp = "2024-01-01T00:30:00Z".parse().unwrap();
        assert_eq!(events[2].timestamp, want);
        assert_eq!(
            events[1].timestamp.as_nanosecond() % 1_000_000_000,
            123_456_789
        );
        assert!(timelines.get("uid-2").unwrap().is_empty());
        assert!(timelines.get("uid-3").unwrap().is_empty());
    }

    #[test]
    fn writes_original_shape() {
        let doc = br#"{"b":{"upEvents":[{"up":false,"ed":true,"ts":"2024-01-01T00:00:00Z"},{"up":true,"ts":"2024-01-01T00:00:01.5Z"}]},"a":{"upEvents":[]}}"#;
        let timelines = parse("x", doc).unwrap();
        let out = String::from_utf8(to_bytes(&timelines)).unwrap();
        assert_eq!(
            out,
            r#"{"a":{"upEvents":[]},"b":{"upEvents":[{"up":false,"ed":true,"ts":"2024-01-01T00:00:00Z"},{"up":true,"ts":"2024-01-01T00:00:01.5Z"}]}}"#
        );
    }

    #[test]
    fn causes_and_attrs_leave_the_original_shape_readable() {
        use crate::cause::{Cause, Why};
        use crate::timeline::{State, Timeline, UpEvent};
        use crate::upness::Attrs;
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut t = Timeline::from_events(vec![
            UpEvent::down(at("2024-01-01T00:00:00Z")),
            UpEvent::up(at("2024-01-01T00:10:00Z")),
        ]);
        t.observe(State::DOWN, at("2024-01-01T00:20:00Z"));
        assert!(
            t.explain_interruption(Why::new(Cause::NodeNotReady, "1 of 16 nodes NotReady: n1"))
        );
        t.set_attrs(
            Attrs {
                node_pool_name: "p".into(),
                tpu_accelerator: "tpu-v5p-slice".into(),
                ..Attrs::default()
            }
            .into(),
        );
        let mut all = Timelines::new();
        all.insert("p".into(), t);
        let bytes = to_bytes(&all);
        // Ours reads it back whole.
        assert_eq!(parse("node-pools.json", &bytes).unwrap(), all);
        // The original's reader (Go's encoding/json: named fields, unknown
        // ones ignored) reads the same events.
        #[derive(serde::Deserialize)]
        struct GoEvent {
            up: bool,
            #[serde(default)]
            ed: bool,
            ts: Timestamp,
        }
        #[derive(serde::Deserialize)]
        struct GoTimeline {
            #[serde(rename = "upEvents")]
            up_events: Vec<GoEvent>,
        }
        let go: std::collections::BTreeMap<String, GoTimeline> =
            serde_json::from_slice(&bytes).unwrap();
        let events: Vec<(bool, bool, Timestamp)> = go["p"]
            .up_events
            .iter()
            .map(|e| (e.up, e.ed, e.ts))
            .collect();
        assert_eq!(
            events,
            [
                (false, false, at("2024-01-01T00:00:00Z")),
                (true, false, at("2024-01-01T00:10:00Z")),
                (false, false, at("2024-01-01T00:20:00Z")),
            ]
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains(r#""cause":"node-not-ready","detail":"1 of 16 nodes NotReady: n1""#),
            "{text}"
        );
        assert!(
            text.contains(r#""attrs":{"tpuAccelerator":"tpu-v5p-slice","nodePoolName":"p"}"#),
            "{text}"
        );
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let doc = b"{\n  \"a\": {\"upEvents\": [\n    {\"up\": false, \"ts\": \"2024-01-01T00:00:00Z\"},,\n  ]}\n}";
        let err = parse("node-pools.json", doc).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("node-pools.json: line 3, column "),
            "{text}"
        );
    }

    #[test]
    fn bad_timestamp_names_file_and_line() {
        let doc = b"{\"a\": {\"upEvents\": [\n{\"up\": true, \"ts\": \"yesterday\"}]}}";
        let err = parse("slices.json", doc).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("slices.json: line 2"), "{text}");
    }

    #[test]
    fn wrong_shapes_are_errors() {
        for doc in [
            &b"[]"[..],
            b"{\"a\": []}",
            b"{\"a\": {\"upEvents\": [{\"up\": \"yes\", \"ts\": \"2024-01-01T00:00:00Z\"}]}}",
            b"{\"a\": {\"upEvents\": [{\"ts\": \"2024-01-01T00:00:00Z\"}]}}",
            b"",
            b"{\"a\": {\"upEvents\": [{\"up\": true, \"ts\": \"2024-01-01T00:00:00\"}]}}",
        ] {
            assert!(
                parse("f.json", doc).is_err(),
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
    }
}
