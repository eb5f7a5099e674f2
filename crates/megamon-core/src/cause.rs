//! Why an entity was interrupted **[ours]**: one class of a small fixed
//! vocabulary, decided from what the monitor saw at that moment, with a short
//! human detail. Each maps to the `interruption_type` GKE's Cloud Monitoring
//! uses for node interruptions, where there is one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The class of an interruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    /// Nodes went `NotReady` (or stayed `Unknown` past the grace period).
    NodeNotReady,
    /// Nodes went `Unknown` (the kubelet stopped reporting).
    NodeUnknown,
    /// Nodes were deleted.
    NodeDeleted,
    /// Spot nodes were reclaimed: deleted, or tainted
    /// `cloud.google.com/impending-node-termination`.
    Preemption,
    /// Nodes under maintenance (`cloud.google.com/scheduled-maintenance-time`,
    /// `cloud.google.com/active-node-maintenance=ONGOING`, maintenance taints).
    Maintenance,
    /// The GKE node pool is in `ERROR` or `RUNNING_WITH_ERROR`.
    PoolError,
    /// The JobSet failed (its `Failed` condition).
    WorkloadFailed,
    /// The JobSet restarted (`status.restarts` went up).
    WorkloadRestart,
    /// The slice's `Ready` condition went `False` or `Unknown`.
    SliceDegraded,
    /// The slice was deleted while its owner ran.
    SliceDeleted,
    /// Nothing the monitor saw explains it.
    Unknown,
}

impl Cause {
    pub const ALL: [Cause; 11] = [
        Cause::NodeNotReady,
        Cause::NodeUnknown,
        Cause::NodeDeleted,
        Cause::Preemption,
        Cause::Maintenance,
        Cause::PoolError,
        Cause::WorkloadFailed,
        Cause::WorkloadRestart,
        Cause::SliceDegraded,
        Cause::SliceDeleted,
        Cause::Unknown,
    ];

    /// The stored and exported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::NodeNotReady => "node-not-ready",
            Cause::NodeUnknown => "node-unknown",
            Cause::NodeDeleted => "node-deleted",
            Cause::Preemption => "preemption",
            Cause::Maintenance => "maintenance",
            Cause::PoolError => "pool-error",
            Cause::WorkloadFailed => "workload-failed",
            Cause::WorkloadRestart => "workload-restart",
            Cause::SliceDegraded => "slice-degraded",
            Cause::SliceDeleted => "slice-deleted",
            Cause::Unknown => "unknown",
        }
    }

    /// GKE Cloud Monitoring's `interruption_type` of the same event, where
    /// GKE has one (`node/interruption_count`).
    pub fn gke_interruption_type(self) -> Option<&'static str> {
        match self {
            Cause::NodeNotReady | Cause::NodeUnknown | Cause::NodeDeleted => {
                Some("TerminationEvent")
            }
            Cause::Preemption => Some("PreemptionEvent"),
            Cause::Maintenance => Some("MaintenanceEvent"),
            _ => None,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Cause {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A name this version does not know (a newer MegaMon's) reads as
/// `unknown`: a stored file never fails to load over it.
impl<'de> Deserialize<'de> for Cause {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Cause::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .unwrap_or(Cause::Unknown))
    }
}

/// A cause and its detail, as recorded with an interruption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Why {
    pub cause: Cause,
    /// Short, for people: "2 of 16 nodes NotReady: n1, n2".
    pub detail: String,
}

impl Why {
    pub fn new(cause: Cause, detail: impl Into<String>) -> Why {
        let mut detail = detail.into();
        // Stored with every interruption: keep it short.
        if detail.len() > MAX_DETAIL {
            let mut end = MAX_DETAIL;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
            detail.push('…');
        }
        Why { cause, detail }
    }
}

/// Longest detail kept, in bytes.
pub const MAX_DETAIL: usize = 200;

/// "a, b, c and 4 more": names for a detail.
pub fn name_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 3;
    let names: Vec<&str> = names.into_iter().collect();
    let mut out = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_read_as_unknown() {
        for c in Cause::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Cause>(&json).unwrap(), c);
        }
        assert_eq!(
            serde_json::from_str::<Cause>("\"cosmic-ray\"").unwrap(),
            Cause::Unknown
        );
        assert_eq!(
            Cause::Preemption.gke_interruption_type(),
            Some("PreemptionEvent")
        );
    }

    #[test]
    fn details_are_short_and_lists_are_cut() {
        let long = Why::new(Cause::Unknown, "é".repeat(500));
        assert!(long.detail.len() <= MAX_DETAIL + '…'.len_utf8());
        assert_eq!(name_list(["a", "b"]), "a, b");
        assert_eq!(name_list(["a", "b", "c", "d", "e"]), "a, b, c and 2 more");
    }
}
