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
    /// The JobSet was suspended (its `Suspended` condition): by a user, or
    /// by a queue (Kueue) preempting it.
    WorkloadSuspended,
    /// The slice's `Ready` condition went `False` or `Unknown`.
    SliceDegraded,
    /// The slice was deleted while its owner ran.
    SliceDeleted,
    /// Nothing the monitor saw explains it.
    Unknown,
}

impl Cause {
    pub const ALL: [Cause; 12] = [
        Cause::NodeNotReady,
        Cause::NodeUnknown,
        Cause::NodeDeleted,
        Cause::Preemption,
        Cause::Maintenance,
        Cause::PoolError,
        Cause::WorkloadFailed,
        Cause::WorkloadRestart,
        Cause::WorkloadSuspended,
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
            Cause::WorkloadSuspended => "workload-suspended",
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

/// What the cause rules read of a node besides its readiness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NodeSignals {
    /// Label `cloud.google.com/scheduled-maintenance-time`,
    /// `cloud.google.com/active-node-maintenance=ONGOING`, or a maintenance
    /// taint.
    pub maintenance: bool,
    /// Taint `cloud.google.com/impending-node-termination` (a spot VM being
    /// reclaimed, or a node being shut down).
    pub terminating: bool,
}

/// A node that is not ready, as the cause rules see it.
#[derive(Debug, Clone, Copy)]
pub struct DownNode<'a> {
    pub name: &'a str,
    /// Its Ready condition is `Unknown` (or missing), rather than `False`.
    pub unknown: bool,
    pub signals: NodeSignals,
}

/// Why an entity that needs `expected` nodes is down, given its nodes that
/// are not ready and how many it has at all (`present`); `spot` for a spot
/// pool, whose deleted nodes were reclaimed. Most telling first:
/// maintenance, preemption, deleted nodes, `NotReady`, `Unknown`. `None`
/// when no node explains it.
pub fn explain_nodes<'a>(
    down: impl IntoIterator<Item = DownNode<'a>>,
    present: u64,
    expected: u64,
    spot: bool,
) -> Option<Why> {
    let down: Vec<DownNode<'a>> = down.into_iter().collect();
    let names = |keep: fn(&DownNode<'_>) -> bool| -> Vec<&'a str> {
        down.iter().filter(|n| keep(n)).map(|n| n.name).collect()
    };
    let of = |n: usize, what: &str, names: &[&str]| {
        format!(
            "{n} of {expected} nodes {what}: {}",
            name_list(names.iter().copied())
        )
    };
    let maintenance = names(|n| n.signals.maintenance);
    if !maintenance.is_empty() {
        let detail = of(maintenance.len(), "under maintenance", &maintenance);
        return Some(Why::new(Cause::Maintenance, detail));
    }
    let terminating = names(|n| n.signals.terminating);
    let missing = expected.saturating_sub(present);
    if !terminating.is_empty() {
        let mut detail = of(terminating.len(), "being terminated", &terminating);
        if spot && missing > 0 {
            detail.push_str(&format!("; {missing} reclaimed"));
        }
        return Some(Why::new(Cause::Preemption, detail));
    }
    if missing > 0 {
        return Some(if spot {
            Why::new(
                Cause::Preemption,
                format!("{missing} of {expected} spot nodes reclaimed (deleted)"),
            )
        } else {
            Why::new(
                Cause::NodeDeleted,
                format!("{missing} of {expected} nodes deleted"),
            )
        });
    }
    let not_ready = names(|n| !n.unknown);
    if !not_ready.is_empty() {
        let detail = of(not_ready.len(), "NotReady", &not_ready);
        return Some(Why::new(Cause::NodeNotReady, detail));
    }
    let unknown = names(|n| n.unknown);
    if !unknown.is_empty() {
        let detail = of(unknown.len(), "Unknown", &unknown);
        return Some(Why::new(Cause::NodeUnknown, detail));
    }
    None
}

/// Interruptions per cause, as a metric and a report count them: one
/// without a recorded cause (history older than causes) counts as
/// `unknown`, so the counts add up to the interruption count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CauseCounts(Vec<(Cause, u64)>);

impl CauseCounts {
    pub fn add(&mut self, cause: Option<Cause>) {
        let cause = cause.unwrap_or(Cause::Unknown);
        match self.0.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, n)) => *n += 1,
            None => {
                self.0.push((cause, 1));
                self.0.sort();
            }
        }
    }

    /// Causes that occurred, in [`Cause::ALL`] order, with their counts.
    pub fn iter(&self) -> impl Iterator<Item = (Cause, u64)> + '_ {
        self.0.iter().copied()
    }

    pub fn get(&self, cause: Cause) -> u64 {
        self.0
            .iter()
            .find(|(c, _)| *c == cause)
            .map_or(0, |(_, n)| *n)
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &CauseCounts) {
        for (cause, n) in other.iter() {
            for _ in 0..n {
                self.add(Some(cause));
            }
        }
    }
}

/// `{"<cause>": count}`, causes that occurred only.
impl Serialize for CauseCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(c, n)| (c.as_str(), n)))
    }
}

impl FromIterator<Option<Cause>> for CauseCounts {
    fn from_iter<I: IntoIterator<Item = Option<Cause>>>(iter: I) -> Self {
        let mut counts = CauseCounts::default();
        for c in iter {
            counts.add(c);
        }
        counts
    }
}

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

    fn down(name: &str, unknown: bool, signals: NodeSignals) -> DownNode<'_> {
        DownNode {
            name,
            unknown,
            signals,
        }
    }

    #[test]
    fn node_causes_most_telling_first() {
        let plain = NodeSignals::default();
        let maint = NodeSignals {
            maintenance: true,
            ..plain
        };
        let term = NodeSignals {
            terminating: true,
            ..plain
        };
        let why = |d: Vec<DownNode<'_>>, present, spot| explain_nodes(d, present, 4, spot);

        assert_eq!(why(vec![], 4, false), None);
        let w = why(
            vec![down("n1", false, plain), down("n2", true, maint)],
            4,
            false,
        )
        .unwrap();
        assert_eq!(w.cause, Cause::Maintenance);
        assert_eq!(w.detail, "1 of 4 nodes under maintenance: n2");
        let w = why(vec![down("n1", false, term)], 3, true).unwrap();
        assert_eq!(w.cause, Cause::Preemption);
        assert_eq!(w.detail, "1 of 4 nodes being terminated: n1; 1 reclaimed");
        let w = why(vec![down("n1", false, plain)], 3, true).unwrap();
        assert_eq!(w.cause, Cause::Preemption);
        assert_eq!(w.detail, "1 of 4 spot nodes reclaimed (deleted)");
        let w = why(vec![down("n1", false, plain)], 2, false).unwrap();
        assert_eq!(w.cause, Cause::NodeDeleted);
        assert_eq!(w.detail, "2 of 4 nodes deleted");
        let w = why(
            vec![down("n1", true, plain), down("n2", false, plain)],
            4,
            false,
        )
        .unwrap();
        assert_eq!(
            (w.cause, w.detail.as_str()),
            (Cause::NodeNotReady, "1 of 4 nodes NotReady: n2")
        );
        let w = why(vec![down("n1", true, plain)], 4, false).unwrap();
        assert_eq!(
            (w.cause, w.detail.as_str()),
            (Cause::NodeUnknown, "1 of 4 nodes Unknown: n1")
        );
    }

    #[test]
    fn counts_add_up_and_missing_causes_count_as_unknown() {
        let counts: CauseCounts = [
            Some(Cause::Preemption),
            None,
            Some(Cause::Unknown),
            Some(Cause::Maintenance),
            Some(Cause::Preemption),
        ]
        .into_iter()
        .collect();
        let got: Vec<(Cause, u64)> = counts.iter().collect();
        assert_eq!(
            got,
            [
                (Cause::Preemption, 2),
                (Cause::Maintenance, 1),
                (Cause::Unknown, 2)
            ]
        );
        assert_eq!(counts.total(), 5);
        assert_eq!(counts.get(Cause::NodeDeleted), 0);
    }

    #[test]
    fn details_are_short_and_lists_are_cut() {
        let long = Why::new(Cause::Unknown, "é".repeat(500));
        assert!(long.detail.len() <= MAX_DETAIL + '…'.len_utf8());
        assert_eq!(name_list(["a", "b"]), "a, b");
        assert_eq!(name_list(["a", "b", "c", "d", "e"]), "a, b, c and 2 more");
    }
}
