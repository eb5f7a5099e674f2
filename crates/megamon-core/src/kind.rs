//! The entity families MegaMon keeps timelines for: one row each, with every
//! name a family goes by (command line, stored file, metrics, report, view).
//! Adding a family is a variant and a row here; everything that lists or
//! names families reads this table.

use std::fmt;
use std::str::FromStr;

/// An entity family: each has its own timelines, stored file and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    JobSets,
    JobSetNodes,
    NodePools,
    Slices,
    LeaderWorkerSets,
}

/// Everything a family is called.
#[derive(Debug, PartialEq, Eq)]
pub struct FamilyNames {
    /// On the command line, as `megamon report`'s JSON key, in the web API.
    pub name: &'static str,
    /// The stored-history file (SPEC §3.2), the original's (or upstream's) name.
    pub file_name: &'static str,
    /// The metric family (SPEC §4): `<prefix>.<family>.up` and so on.
    pub metric_family: &'static str,
    /// What one entity is, in metric help texts ("1 if the {noun} is up").
    pub noun: &'static str,
    /// Headings for people (web view), one and many.
    pub title: &'static str,
    pub title_plural: &'static str,
    /// The report's keys (SPEC §5): up-ness and summaries maps.
    pub report_up: &'static str,
    pub report_summaries: &'static str,
}

/// One row per family, in [`EntityKind::ALL`] order.
const FAMILIES: [FamilyNames; 5] = [
    FamilyNames {
        name: "jobsets",
        file_name: "jobsets.json",
        metric_family: "jobset",
        noun: "JobSet",
        title: "JobSet",
        title_plural: "JobSets",
        report_up: "jobSetsUp",
        report_summaries: "jobSetsUpSummaries",
    },
    FamilyNames {
        name: "jobset-nodes",
        file_name: "jobset-nodes.json",
        metric_family: "jobset.nodes",
        noun: "set of nodes of a JobSet",
        title: "JobSet nodes",
        title_plural: "JobSet nodes",
        report_up: "jobSetNodesUp",
        report_summaries: "jobSetNodesUpSummaries",
    },
    FamilyNames {
        name: "node-pools",
        file_name: "node-pools.json",
        metric_family: "nodepool",
        noun: "TPU node pool",
        title: "Node pool",
        title_plural: "Node pools",
        report_up: "nodePoolsUp",
        report_summaries: "nodePoolsUpSummaries",
    },
    FamilyNames {
        name: "slices",
        file_name: "slices.json",
        metric_family: "slice",
        noun: "TPU slice",
        title: "Slice",
        title_plural: "Slices",
        report_up: "slicesUp",
        report_summaries: "slicesUpSummaries",
    },
    FamilyNames {
        name: "leader-worker-sets",
        file_name: "leader-worker-sets.json",
        metric_family: "leaderworkerset",
        noun: "LeaderWorkerSet",
        title: "LeaderWorkerSet",
        title_plural: "LeaderWorkerSets",
        report_up: "leaderWorkerSetsUp",
        report_summaries: "leaderWorkerSetsUpSummaries",
    },
];

impl EntityKind {
    pub const ALL: [EntityKind; 5] = [
        EntityKind::JobSets,
        EntityKind::JobSetNodes,
        EntityKind::NodePools,
        EntityKind::Slices,
        EntityKind::LeaderWorkerSets,
    ];

    /// This family's row.
    pub fn names(self) -> &'static FamilyNames {
        &FAMILIES[self as usize]
    }

    /// See [`FamilyNames::name`].
    pub fn name(self) -> &'static str {
        self.names().name
    }

    /// See [`FamilyNames::file_name`].
    pub fn file_name(self) -> &'static str {
        self.names().file_name
    }

    /// See [`FamilyNames::metric_family`].
    pub fn metric_family(self) -> &'static str {
        self.names().metric_family
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An entity kind name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entity kind {0:?} (expected {names})", names = known_names())]
pub struct UnknownKind(pub String);

fn known_names() -> String {
    let names: Vec<&str> = EntityKind::ALL.iter().map(|k| k.name()).collect();
    names.join(", ")
}

impl FromStr for EntityKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_in_kind_order_and_names_round_trip() {
        for k in EntityKind::ALL {
            assert_eq!(k.name().parse::<EntityKind>(), Ok(k));
        }
        assert!("pods".parse::<EntityKind>().is_err());
        let err = "pods".parse::<EntityKind>().unwrap_err().to_string();
        assert!(
            err.contains("jobsets, jobset-nodes, node-pools, slices, leader-worker-sets"),
            "{err}"
        );
    }

    #[test]
    fn file_names_match_the_original_and_upstream() {
        let names: Vec<_> = EntityKind::ALL.iter().map(|k| k.file_name()).collect();
        assert_eq!(
            names,
            [
                "jobsets.json",
                "jobset-nodes.json",
                "node-pools.json",
                "slices.json",
                "leader-worker-sets.json"
            ]
        );
    }
}
