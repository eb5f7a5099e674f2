//! One transition of a timeline, in the stored format (SPEC §3.2), and the
//! state it records.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::cause::{Cause, Why};

/// An entity's state as a timeline records it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    pub up: bool,
    /// Planned downtime: going down in this state is not an interruption
    /// (JobSet `Completed`, pool `STOPPING`/`DELETING`, ...).
    pub expected_down: bool,
    /// Failed (JobSet `Failed`, pool `ERROR`/`RUNNING_WITH_ERROR`): upstream
    /// v1.2.0's `f`. Decides the provisioning state of an entity that was
    /// never up; it is not an interruption by itself.
    pub failed: bool,
}

impl State {
    pub const UP: State = State {
        up: true,
        expected_down: false,
        failed: false,
    };
    pub const DOWN: State = State {
        up: false,
        expected_down: false,
        failed: false,
    };

    /// This state, planned (expected down).
    pub fn planned(self) -> State {
        State {
            expected_down: true,
            ..self
        }
    }

    /// This state, failed.
    pub fn failed(self) -> State {
        State {
            failed: true,
            ..self
        }
    }
}

/// One transition. JSON shape is the original's stored format,
/// `{"up":false,"ed":true,"ts":"2024-01-01T00:00:00Z"}`, plus upstream
/// v1.2.0's `"f":true`, and ours on an interruption: `"cause"` and
/// `"detail"`; `ed` and `f` are omitted when false, the others when absent.
/// Go's JSON decoding ignores the fields the original does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpEvent {
    pub up: bool,
    #[serde(rename = "ed", default, skip_serializing_if = "std::ops::Not::not")]
    pub expected_down: bool,
    #[serde(rename = "f", default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    #[serde(rename = "ts")]
    pub timestamp: Timestamp,
    /// Why an interruption happened **[ours]**.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl UpEvent {
    pub fn new(state: State, timestamp: Timestamp) -> UpEvent {
        UpEvent {
            up: state.up,
            expected_down: state.expected_down,
            failed: state.failed,
            timestamp,
            cause: None,
            detail: None,
        }
    }

    /// This event, with why it happened.
    pub fn because(self, why: Why) -> UpEvent {
        UpEvent {
            cause: Some(why.cause),
            detail: Some(why.detail).filter(|d| !d.is_empty()),
            ..self
        }
    }

    /// An unplanned down event.
    pub fn down(timestamp: Timestamp) -> UpEvent {
        UpEvent::new(State::DOWN, timestamp)
    }

    /// An up event.
    pub fn up(timestamp: Timestamp) -> UpEvent {
        UpEvent::new(State::UP, timestamp)
    }

    /// This event, planned.
    pub fn planned(self) -> UpEvent {
        UpEvent {
            expected_down: true,
            ..self
        }
    }

    /// This event, failed.
    pub fn failed(self) -> UpEvent {
        UpEvent {
            failed: true,
            ..self
        }
    }

    pub fn state(&self) -> State {
        State {
            up: self.up,
            expected_down: self.expected_down,
            failed: self.failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_omits_false_flags_and_reads_upstream_f() {
        let at: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let json = serde_json::to_string(&UpEvent::down(at).failed()).unwrap();
        assert_eq!(json, r#"{"up":false,"f":true,"ts":"2024-01-01T00:00:00Z"}"#);
        let json = serde_json::to_string(&UpEvent::up(at)).unwrap();
        assert_eq!(json, r#"{"up":true,"ts":"2024-01-01T00:00:00Z"}"#);
        let back: UpEvent =
            serde_json::from_str(r#"{"up":false,"ed":false,"f":true,"ts":"2024-01-01T00:00:00Z"}"#)
                .unwrap();
        assert_eq!(back, UpEvent::down(at).failed());
        assert_eq!(back.state(), State::DOWN.failed());
    }

    #[test]
    fn causes_are_optional_fields() {
        let at: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let e = UpEvent::down(at).because(Why::new(Cause::Preemption, "2 spot nodes deleted"));
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"up":false,"ts":"2024-01-01T00:00:00Z","cause":"preemption","detail":"2 spot nodes deleted"}"#
        );
        assert_eq!(serde_json::from_str::<UpEvent>(&json).unwrap(), e);
    }
}
