//! The report (SPEC §5): what the `stdout` and `configmap` exporters publish, in
//! the original's JSON shape, and the per-kind summaries of `megamon report`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::entity::blocks::BlockLabels;
use crate::kind::EntityKind;
use crate::timeline::{Summary, Timelines};
use crate::upness::{Attrs, Upness};

/// A summary with the entity's labels, as the original's report lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpnessSummary {
    #[serde(flatten)]
    pub attrs: Attrs,
    #[serde(flatten)]
    pub summary: Summary,
}

/// Where a JobSet's leader pod runs (SPEC §2.6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledJob {
    pub job_name: String,
    pub jobset_name: String,
    /// The block labels of the leader pod's node, for the metric's labels
    /// (not in the report: upstream's report has none).
    #[serde(skip)]
    pub blocks: BlockLabels,
}

/// One family's part of the report: up-ness and summaries by entity key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FamilyReport {
    pub up: BTreeMap<String, Upness>,
    pub summaries: BTreeMap<String, UpnessSummary>,
}

/// One aggregation's report. JSON: the original's top-level maps
/// (`jobSetsUp`, `jobSetsUpSummaries`, ..., from each family's row in
/// [`crate::kind`]) in family order, every family present (empty when
/// switched off), then `nodePoolScheduling`. Maps are sorted by key.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub families: BTreeMap<EntityKind, FamilyReport>,
    pub node_pool_scheduling: BTreeMap<String, ScheduledJob>,
}

/// Every family, empty.
impl Default for Report {
    fn default() -> Self {
        Report {
            families: EntityKind::ALL
                .into_iter()
                .map(|k| (k, FamilyReport::default()))
                .collect(),
            node_pool_scheduling: BTreeMap::new(),
        }
    }
}

impl Report {
    /// The part of `kind` (empty when the family is absent).
    pub fn family(&self, kind: EntityKind) -> &FamilyReport {
        static EMPTY: FamilyReport = FamilyReport {
            up: BTreeMap::new(),
            summaries: BTreeMap::new(),
        };
        self.families.get(&kind).unwrap_or(&EMPTY)
    }
}

const SCHEDULING_KEY: &str = "nodePoolScheduling";

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(EntityKind::ALL.len() * 2 + 1))?;
        for kind in EntityKind::ALL {
            let family = self.family(kind);
            map.serialize_entry(kind.names().report_up, &family.up)?;
            map.serialize_entry(kind.names().report_summaries, &family.summaries)?;
        }
        map.serialize_entry(SCHEDULING_KEY, &self.node_pool_scheduling)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Report {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ReportVisitor;
        impl<'de> serde::de::Visitor<'de> for ReportVisitor {
            type Value = Report;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a MegaMon report object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Report, A::Error> {
                let mut report = Report::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == SCHEDULING_KEY {
                        report.node_pool_scheduling = map.next_value()?;
                        continue;
                    }
                    let up = EntityKind::ALL
                        .into_iter()
                        .find(|k| k.names().report_up == key);
                    let summaries = EntityKind::ALL
                        .into_iter()
                        .find(|k| k.names().report_summaries == key);
                    match (up, summaries) {
                        (Some(kind), _) => {
                            report.families.entry(kind).or_default().up = map.next_value()?
                        }
                        (_, Some(kind)) => {
                            report.families.entry(kind).or_default().summaries = map.next_value()?
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(report)
            }
        }
        d.deserialize_map(ReportVisitor)
    }
}

/// Summaries of every timeline of a kind at `now`.
pub fn summarize_all(timelines: &Timelines, now: Timestamp) -> BTreeMap<String, Summary> {
    timelines
        .iter()
        .map(|(key, t)| (key.to_string(), t.summarize(now)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_json_has_the_original_top_level_keys() {
        let json = serde_json::to_value(Report::default()).unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "jobSetsUp",
                "jobSetsUpSummaries",
                "jobSetNodesUp",
                "jobSetNodesUpSummaries",
                "nodePoolsUp",
                "nodePoolsUpSummaries",
                "slicesUp",
                "slicesUpSummaries",
                "leaderWorkerSetsUp",
                "leaderWorkerSetsUpSummaries",
                "nodePoolScheduling"
            ]
        );
    }

    #[test]
    fn summaries_flatten_attrs_and_durations() {
        let mut report = Report::default();
        let pools = report.families.entry(EntityKind::NodePools).or_default();
        pools.summaries.insert(
            "p".into(),
            UpnessSummary {
                attrs: Attrs {
                    node_pool_name: "p".into(),
                    ..Attrs::default()
                },
                summary: Summary {
                    interruption_count: 2,
                    up_time: std::time::Duration::from_secs(1),
                    ..Summary::default()
                },
            },
        );
        report.node_pool_scheduling.insert(
            "p".into(),
            ScheduledJob {
                job_name: "js-a-0".into(),
                jobset_name: "js".into(),
                blocks: BlockLabels::default(),
            },
        );
        let json = serde_json::to_value(&report).unwrap();
        let s = &json["nodePoolsUpSummaries"]["p"];
        assert_eq!(s["nodePoolName"], "p");
        assert_eq!(s["interruptionCount"], 2);
        assert_eq!(s["upTime"], 1_000_000_000i64);
        assert_eq!(json["nodePoolScheduling"]["p"]["jobsetName"], "js");
        assert_eq!(json["nodePoolScheduling"]["p"]["jobName"], "js-a-0");
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn summarize_all_covers_every_timeline() {
        let mut t = Timelines::new();
        let at: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        t.observe("a", crate::timeline::State::UP, at);
        t.observe("b", crate::timeline::State::DOWN, at);
        let now = at + jiff::SignedDuration::from_secs(60);
        let all = summarize_all(&t, now);
        assert_eq!(all.len(), 2);
        assert_eq!(all["a"].up_time.as_secs(), 60);
        assert_eq!(all["b"].down_time.as_secs(), 60);
    }
}
