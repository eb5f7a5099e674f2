//! The four entity families MegaMon keeps timelines for.

use std::fmt;
use std::str::FromStr;

/// An entity family: each has its own timelines, stored file and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    JobSets,
    JobSetNodes,
    NodePools,
    Slices,
}

impl EntityKind {
    pub const ALL: [EntityKind; 4] = [
        EntityKind::JobSets,
        EntityKind::JobSetNodes,
        EntityKind::NodePools,
        EntityKind::Slices,
    ];

    /// The name used on the command line and as the JSON key of `megamon report`.
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::JobSets => "jobsets",
            EntityKind::JobSetNodes => "jobset-nodes",
            EntityKind::NodePools => "node-pools",
            EntityKind::Slices => "slices",
        }
    }

    /// The stored-history file (SPEC §3.2), the same names as the original.
    pub fn file_name(self) -> &'static str {
        match self {
            EntityKind::JobSets => "jobsets.json",
            EntityKind::JobSetNodes => "jobset-nodes.json",
            EntityKind::NodePools => "node-pools.json",
            EntityKind::Slices => "slices.json",
        }
    }

    /// The metric family (SPEC §4): `<prefix>.<family>.up` and so on.
    pub fn metric_family(self) -> &'static str {
        match self {
            EntityKind::JobSets => "jobset",
            EntityKind::JobSetNodes => "jobset.nodes",
            EntityKind::NodePools => "nodepool",
            EntityKind::Slices => "slice",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An entity kind name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entity kind {0:?} (expected jobsets, jobset-nodes, node-pools or slices)")]
pub struct UnknownKind(pub String);

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
    fn names_round_trip() {
        for k in EntityKind::ALL {
            assert_eq!(k.name().parse::<EntityKind>(), Ok(k));
        }
        assert!("pods".parse::<EntityKind>().is_err());
    }

    #[test]
    fn file_names_match_the_original() {
        let names: Vec<_> = EntityKind::ALL.iter().map(|k| k.file_name()).collect();
        assert_eq!(
            names,
            [
                "jobsets.json",
                "jobset-nodes.json",
                "node-pools.json",
                "slices.json"
            ]
        );
    }
}
