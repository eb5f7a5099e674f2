//! The archive of ended entities **[ours]** (SPEC §3.4): when an entity ends
//! (deleted, or removed as planned), its final timeline, labels and summary
//! are kept as one JSON line in `archive/<kind>/<YYYY-MM-DD>.jsonl`, the day
//! (UTC) it ended, beside the four original files, which stay as the
//! original's readers expect them.
//!
//! A line: `{"kind":"jobsets","key":"<uid>","endedAt":"<RFC 3339>",
//! "attrs":{...},"summary":{...},"timeline":{"upEvents":[...]}}`; `summary`
//! is the plain summary (SPEC §3.1) at `endedAt`, `timeline` the stored
//! format (SPEC §3.2). Unknown fields are ignored, so later versions may add
//! some.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::history::HistoryError;
use crate::kind::EntityKind;
use crate::timeline::{Summary, Timeline};
use crate::upness::Attrs;
use crate::window::{Window, summarize_window};

/// Where the archive lives, below a cluster's prefix.
pub const ARCHIVE_DIR: &str = "archive";

/// One ended entity, as archived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchivedEntity {
    #[serde(with = "kind_name")]
    pub kind: EntityKind,
    pub key: String,
    /// When MegaMon saw it gone (for an entity that went while no MegaMon
    /// was watching, when the next one found it gone).
    pub ended_at: Timestamp,
    #[serde(default)]
    pub attrs: Attrs,
    pub summary: Summary,
    pub timeline: Timeline,
}

impl ArchivedEntity {
    /// The archive line of an entity that ended at `ended_at`: its labels
    /// come from the timeline (as last recorded), its summary is at the end.
    pub fn new(kind: EntityKind, key: &str, timeline: &Timeline, ended_at: Timestamp) -> Self {
        ArchivedEntity {
            kind,
            key: key.to_string(),
            ended_at,
            attrs: timeline.attrs().cloned().unwrap_or_default(),
            summary: timeline.summarize(ended_at),
            timeline: Timeline::from_events(timeline.events().to_vec()),
        }
    }

    /// When its life began: its first event (its end when it has none).
    pub fn started(&self) -> Timestamp {
        self.timeline
            .events()
            .first()
            .map_or(self.ended_at, |e| e.timestamp)
    }

    /// Whether `other` records the same life of the same entity: same kind
    /// and key, and lives that overlap (an entity cannot live twice at once;
    /// a pool deleted and created again under its name is a new life). Two
    /// replicas, or a monitor before and after a restart, may record one end
    /// at different times; this is how the archive keeps only one of them.
    pub fn same_life(&self, other: &ArchivedEntity) -> bool {
        self.kind == other.kind
            && self.key == other.key
            && (self.started() == other.started()
                || (self.started() < other.ended_at && other.started() < self.ended_at))
    }

    /// The day file it belongs in: the UTC day it ended.
    pub fn day(&self) -> Date {
        day_of(self.ended_at)
    }

    /// Its summary inside `window`; `None` when its life does not overlap it.
    pub fn summarize_in(&self, window: &Window) -> Option<Summary> {
        summarize_window(self.timeline.events(), Some(self.ended_at), window)
    }

    /// The JSON line, newline included.
    pub fn to_line(&self) -> String {
        // Strings, numbers, booleans and timestamps always serialise.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

/// The UTC day of `at`.
pub fn day_of(at: Timestamp) -> Date {
    at.to_zoned(TimeZone::UTC).date()
}

/// A day file's name: `2024-05-01.jsonl`.
pub fn day_file_name(day: Date) -> String {
    format!("{day}.jsonl")
}

/// The day a file name stands for; `None` for anything else (a file kept
/// aside, a lock file).
pub fn day_of_file_name(name: &str) -> Option<Date> {
    name.strip_suffix(".jsonl")?.parse().ok()
}

/// The lines of a day file; `file` names it in errors, which give the line.
pub fn parse_day(file: &str, bytes: &[u8]) -> Result<Vec<ArchivedEntity>, HistoryError> {
    let text = std::str::from_utf8(bytes).map_err(|e| HistoryError::Invalid {
        file: file.to_string(),
        message: format!("not UTF-8: {e}"),
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entity = serde_json::from_str(line).map_err(|err| {
            let full = err.to_string();
            let message = match full.rfind(" at line ") {
                Some(cut) => full[..cut].to_string(),
                None => full,
            };
            HistoryError::Malformed {
                file: file.to_string(),
                line: i + 1,
                column: err.column(),
                message,
            }
        })?;
        out.push(entity);
    }
    Ok(out)
}

/// A family's name in JSON (`"jobsets"`).
mod kind_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::kind::EntityKind;

    pub fn serialize<S: Serializer>(kind: &EntityKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<EntityKind, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::UpEvent;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ended(key: &str, start: &str, end: &str) -> ArchivedEntity {
        let mut t = Timeline::from_events(vec![
            UpEvent::down(at(start)),
            UpEvent::up(at(start) + jiff::SignedDuration::from_mins(5)),
        ]);
        t.set_attrs(
            Attrs {
                node_pool_name: key.into(),
                tpu_accelerator: "tpu-v5p-slice".into(),
                tpu_chip_count: 16,
                ..Attrs::default()
            }
            .into(),
        );
        ArchivedEntity::new(EntityKind::NodePools, key, &t, at(end))
    }

    #[test]
    fn a_line_round_trips_and_names_its_day() {
        let e = ended("pool-a", "2024-05-01T22:00:00Z", "2024-05-01T23:59:59.5Z");
        let line = e.to_line();
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        assert!(
            line.starts_with(r#"{"kind":"node-pools","key":"pool-a","endedAt":"2024-05-01T23:59:59.5Z","attrs":{"tpuAccelerator":"tpu-v5p-slice","tpuChipCount":16,"nodePoolName":"pool-a"},"summary":{"#),
            "{line}"
        );
        assert!(
            line.contains(r#""timeline":{"upEvents":[{"up":false,"ts":"2024-05-01T22:00:00Z"}"#),
            "{line}"
        );
        // The summary is at the end: 5m provisioning, then up until the end.
        assert_eq!(e.summary.down_time_provisioned.as_secs(), 300);
        assert_eq!(e.summary.up_time.as_millis(), (2 * 3600 - 300) * 1000 - 500);
        assert_eq!(day_file_name(e.day()), "2024-05-01.jsonl");
        let back = parse_day("d", line.as_bytes()).unwrap();
        assert_eq!(back, [e]);
        assert_eq!(
            day_of_file_name("2024-05-01.jsonl"),
            Some(jiff::civil::date(2024, 5, 1))
        );
        assert_eq!(day_of_file_name("2024-05-01.jsonl.corrupt-x"), None);
        assert_eq!(day_of_file_name(".2024-05-01.jsonl.lock"), None);
    }

    #[test]
    fn same_life_is_the_same_key_with_overlapping_lives() {
        let a = ended("pool-a", "2024-05-01T10:00:00Z", "2024-05-01T12:00:00Z");
        // Recorded by another replica: first seen a little later, gone a little later.
        let b = ended("pool-a", "2024-05-01T10:00:00.2Z", "2024-05-01T12:00:03Z");
        assert!(a.same_life(&b) && b.same_life(&a));
        // Created again under its name after it ended: a new life.
        let again = ended("pool-a", "2024-05-01T12:00:03Z", "2024-05-01T14:00:00Z");
        assert!(!a.same_life(&again));
        let other = ended("pool-b", "2024-05-01T10:00:00Z", "2024-05-01T12:00:00Z");
        assert!(!a.same_life(&other));
    }

    #[test]
    fn a_bad_line_names_the_file_and_line() {
        let good = ended("p", "2024-05-01T10:00:00Z", "2024-05-01T12:00:00Z").to_line();
        let doc = format!("{good}\n{{\"kind\":\"pods\"}}\n");
        let err = parse_day("archive/node-pools/2024-05-01.jsonl", doc.as_bytes()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("archive/node-pools/2024-05-01.jsonl: line 3, column "),
            "{text}"
        );
        assert!(parse_day("f", b"\xff").is_err());
        assert_eq!(parse_day("f", b"\n\n").unwrap(), []);
    }
}
