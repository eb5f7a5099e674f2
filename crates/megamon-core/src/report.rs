//! The report (SPEC §5): what the `stdout` and `configmap` exporters publish, in
//! the original's JSON shape, and the per-kind summaries of `megamon report`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::summary::Summary;
use crate::timeline::Timelines;
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
}

/// One aggregation's report. Maps are keyed by entity key and sorted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub job_sets_up: BTreeMap<String, Upness>,
    pub job_sets_up_summaries: BTreeMap<String, UpnessSummary>,
    pub job_set_nodes_up: BTreeMap<String, Upness>,
    pub job_set_nodes_up_summaries: BTreeMap<String, UpnessSummary>,
    pub node_pools_up: BTreeMap<String, Upness>,
    pub node_pools_up_summaries: BTreeMap<String, UpnessSummary>,
    pub slices_up: BTreeMap<String, Upness>,
    pub slices_up_summaries: BTreeMap<String, UpnessSummary>,
    pub node_pool_scheduling: BTreeMap<String, ScheduledJob>,
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
                "nodePoolScheduling"
            ]
        );
    }

    #[test]
    fn summaries_flatten_attrs_and_durations() {
        let mut report = Report::default();
        report.node_pools_up_summaries.insert(
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
        t.observe("a", true, false, at);
        t.observe("b", false, false, at);
        let now = at + jiff::SignedDuration::from_secs(60);
        let all = summarize_all(&t, now);
        assert_eq!(all.len(), 2);
        assert_eq!(all["a"].up_time.as_secs(), 60);
        assert_eq!(all["b"].down_time.as_secs(), 60);
    }
}
