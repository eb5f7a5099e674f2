//! `megamon report --percentiles`: exact TTR and TBI percentiles of stored
//! history per family and per accelerator, in every output format.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use megamon_core::EntityKind;
use megamon_core::distribution::{Distribution, DistributionBuilder, Percentiles};
use megamon_core::duration::human;

use crate::report::{Format, KindHistory, aligned};

/// Per family, per accelerator (and `all`).
fn distributions(
    histories: &[KindHistory],
) -> BTreeMap<EntityKind, BTreeMap<String, Distribution>> {
    let mut builder = DistributionBuilder::default();
    for h in histories {
        for (_, timeline) in h.timelines.iter() {
            builder.add(h.kind, timeline);
        }
    }
    builder.build()
}

pub(crate) fn render(histories: &[KindHistory], format: Format) -> String {
    let kinds: Vec<EntityKind> = histories.iter().map(|h| h.kind).collect();
    render_distributions(&kinds, &distributions(histories), format)
}

/// Renders distributions already gathered (e.g. over a window, from many
/// clusters) for `kinds`.
pub(crate) fn render_distributions(
    kinds: &[EntityKind],
    d: &BTreeMap<EntityKind, BTreeMap<String, Distribution>>,
    format: Format,
) -> String {
    match format {
        Format::Json => json(kinds, d),
        Format::Csv => csv(d),
        Format::Table => table(d),
    }
}

/// `{"<kind>": {"<accelerator>": {"ttr": {count, p50, p90, p99, max},
/// "tbi": {...}}}}`, durations in integer nanoseconds like the rest of the
/// report; a kind without history is `{}`.
fn json(kinds: &[EntityKind], d: &BTreeMap<EntityKind, BTreeMap<String, Distribution>>) -> String {
    let none = BTreeMap::new();
    let doc: BTreeMap<&str, &BTreeMap<String, Distribution>> = kinds
        .iter()
        .map(|k| (k.name(), d.get(k).unwrap_or(&none)))
        .collect();
    // Maps of strings and integers always serialise.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// One row per (kind, accelerator, measure); seconds, decimal.
fn csv(d: &BTreeMap<EntityKind, BTreeMap<String, Distribution>>) -> String {
    let mut out = String::from(
        "kind,accelerator,measure,count,p50Seconds,p90Seconds,p99Seconds,maxSeconds\n",
    );
    for (kind, accelerator, measure, p) in rows(d) {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            kind.name(),
            accelerator,
            measure,
            p.count,
            p.p50.as_secs_f64(),
            p.p90.as_secs_f64(),
            p.p99.as_secs_f64(),
            p.max.as_secs_f64()
        );
    }
    out
}

fn table(d: &BTreeMap<EntityKind, BTreeMap<String, Distribution>>) -> String {
    let mut lines = vec![
        [
            "KIND",
            "ACCELERATOR",
            "MEASURE",
            "COUNT",
            "P50",
            "P90",
            "P99",
            "MAX",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (kind, accelerator, measure, p) in rows(d) {
        let figure = |v| {
            if p.count == 0 {
                "-".to_string()
            } else {
                human(v)
            }
        };
        lines.push(vec![
            kind.name().to_string(),
            accelerator.to_string(),
            measure.to_string(),
            p.count.to_string(),
            figure(p.p50),
            figure(p.p90),
            figure(p.p99),
            figure(p.max),
        ]);
    }
    if lines.len() == 1 {
        return "no stored timelines\n".to_string();
    }
    aligned(&lines)
}

/// (kind, accelerator, "ttr" or "tbi", its percentiles), the `all` row
/// of each kind first.
fn rows(
    d: &BTreeMap<EntityKind, BTreeMap<String, Distribution>>,
) -> Vec<(EntityKind, &str, &'static str, Percentiles)> {
    let mut out = Vec::new();
    for (kind, by_accelerator) in d {
        let all = by_accelerator.get_key_value(megamon_core::distribution::ALL_ACCELERATORS);
        let others = by_accelerator
            .iter()
            .filter(|(a, _)| a.as_str() != megamon_core::distribution::ALL_ACCELERATORS);
        for (accelerator, dist) in all.into_iter().chain(others) {
            out.push((*kind, accelerator.as_str(), "ttr", dist.ttr));
            out.push((*kind, accelerator.as_str(), "tbi", dist.tbi));
        }
    }
    out
}
