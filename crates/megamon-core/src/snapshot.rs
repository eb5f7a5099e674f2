//! A snapshot: what one aggregation knows, per entity family. The monitor builds
//! it; metrics, exporters and the web view read it.
//!
//! Its entities and its scheduling are shared (`Arc`): a snapshot published
//! for one change shares everything that change did not touch with the
//! snapshot before it, so publishing costs what changed, not the fleet.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;

use crate::cause::CauseCounts;
use crate::kind::EntityKind;
use crate::report::{Report, ScheduledJob, UpnessSummary};
use crate::timeline::Summary;
use crate::upness::Upness;

/// One entity at the snapshot's time.
#[derive(Debug, Clone, PartialEq)]
pub struct EntitySnapshot {
    /// The timeline key: JobSet uid, pool name, slice name.
    pub key: String,
    pub upness: Upness,
    /// The up rule's verdict for `upness` (SPEC §2).
    pub up: bool,
    pub summary: Summary,
    /// Its interruptions by cause **[ours]**; they add up to
    /// `summary.interruption_count`.
    pub causes: CauseCounts,
}

/// All current entities of one family, sorted by key. A family that is
/// switched off (slices without `SliceEnabled`, JobSet nodes with it) is
/// absent from the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilySnapshot {
    pub kind: EntityKind,
    pub entities: Vec<Arc<EntitySnapshot>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub taken_at: Timestamp,
    pub families: Vec<FamilySnapshot>,
    /// Node pool → the JobSet leader job scheduled on it (SPEC §2.6).
    pub scheduling: Arc<BTreeMap<String, ScheduledJob>>,
}

impl Snapshot {
    pub fn family(&self, kind: EntityKind) -> Option<&FamilySnapshot> {
        self.families.iter().find(|f| f.kind == kind)
    }

    /// The report in the original's JSON shape (SPEC §5).
    pub fn to_report(&self) -> Report {
        let mut report = Report {
            node_pool_scheduling: (*self.scheduling).clone(),
            ..Report::default()
        };
        for family in &self.families {
            let part = report.families.entry(family.kind).or_default();
            for e in &family.entities {
                part.up.insert(e.key.clone(), e.upness.clone());
                part.summaries.insert(
                    e.key.clone(),
                    UpnessSummary {
                        attrs: (*e.upness.attrs).clone(),
                        summary: e.summary,
                    },
                );
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upness::Attrs;

    #[test]
    fn report_places_each_family() {
        let entity = |key: &str| {
            Arc::new(EntitySnapshot {
                key: key.into(),
                upness: Upness {
                    expected_count: 1,
                    ready_count: 1,
                    attrs: Attrs {
                        slice_name: key.into(),
                        ..Attrs::default()
                    }
                    .into(),
                    ..Upness::default()
                },
                up: true,
                summary: Summary {
                    recovery_count: 3,
                    ..Summary::default()
                },
                causes: CauseCounts::default(),
            })
        };
        let snap = Snapshot {
            taken_at: "2024-01-01T00:00:00Z".parse().unwrap(),
            families: vec![
                FamilySnapshot {
                    kind: EntityKind::Slices,
                    entities: vec![entity("s1")],
                },
                FamilySnapshot {
                    kind: EntityKind::NodePools,
                    entities: vec![entity("p1"), entity("p2")],
                },
            ],
            scheduling: Default::default(),
        };
        let r = snap.to_report();
        let slices = r.family(EntityKind::Slices);
        assert_eq!(slices.up.len(), 1);
        assert_eq!(slices.summaries["s1"].summary.recovery_count, 3);
        assert_eq!(slices.summaries["s1"].attrs.slice_name, "s1");
        assert_eq!(r.family(EntityKind::NodePools).up.len(), 2);
        assert!(r.family(EntityKind::JobSets).up.is_empty());
        assert!(snap.family(EntityKind::JobSets).is_none());
    }
}
