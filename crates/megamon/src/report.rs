//! `megamon report`: summaries of stored history, for people (table) and tools
//! (JSON, CSV).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use clap::{Args, ValueEnum};
use jiff::Timestamp;
use megamon_core::cause::{Cause, CauseCounts};
use megamon_core::duration::human;
use megamon_core::{EntityKind, Episode, ProvisioningState, Summary, Timeline, Timelines};
use megamon_store::HistoryStore;
use serde::Serialize;

use crate::check_config::EXIT_BAD_INPUT;

/// `--kind`: a family's name (from the family table) or `all`.
const ALL_KINDS: &str = "all";

fn kind_names() -> PossibleValuesParser {
    PossibleValuesParser::new(EntityKind::ALL.iter().map(|k| k.name()).chain([ALL_KINDS]))
}

/// The kinds `--kind` names.
fn kinds(arg: &str) -> Vec<EntityKind> {
    match arg.parse::<EntityKind>() {
        Ok(kind) => vec![kind],
        // The parser allows only the names and `all`.
        Err(_) => EntityKind::ALL.to_vec(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Where the history is: `gs://BUCKET/PATH`, `s3://BUCKET/PATH`,
    /// `az://CONTAINER/PATH`, `file:///abs/dir` or a directory holding
    /// jobsets.json, jobset-nodes.json, node-pools.json, slices.json and
    /// leader-worker-sets.json (a missing file is an empty kind).
    #[arg(long, env = "MEGAMON_STORE")]
    pub store: String,
    /// Which entity kind to summarise.
    #[arg(long, default_value = ALL_KINDS, value_parser = kind_names())]
    pub kind: String,
    /// Summarise as of this time (RFC 3339); default: now.
    #[arg(long)]
    pub now: Option<Timestamp>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Instead of one row per entity: p50/p90/p99 time to recover and time
    /// between interruptions per family and per accelerator, exact (every
    /// figure is an observed duration, nearest rank).
    #[arg(long)]
    pub percentiles: bool,
    /// Summarise over a window from this time (RFC 3339, or back from
    /// `--now`: `7d`, `12h`, `90m`), including ended (archived) entities.
    #[arg(long)]
    pub since: Option<String>,
    /// The window's end (RFC 3339 or back from `--now`); default: `--now`.
    #[arg(long)]
    pub until: Option<String>,
}

/// One kind's stored timelines.
pub(crate) struct KindHistory {
    pub kind: EntityKind,
    pub timelines: Timelines,
}

pub fn run(args: ReportArgs) -> ExitCode {
    // A window, or a prefix of many clusters: history_report.rs.
    if let Some(code) = crate::history_report::run(&args, &kinds(&args.kind)) {
        return code;
    }
    let now = args.now.unwrap_or_else(Timestamp::now);
    let histories = match load(&args) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("megamon report: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let out = match (args.percentiles, args.format) {
        (true, format) => crate::percentiles::render(&histories, format),
        (false, Format::Json) => json(&histories, now),
        (false, Format::Csv) => csv(&histories, now),
        (false, Format::Table) => table(&histories, now),
    };
    print!("{out}");
    ExitCode::SUCCESS
}

fn load(args: &ReportArgs) -> Result<Vec<KindHistory>, megamon_store::StoreError> {
    let store = HistoryStore::open(&args.store)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| megamon_store::StoreError::Url {
            url: args.store.clone(),
            problem: format!("cannot start the I/O runtime: {e}"),
        })?;
    runtime.block_on(async {
        let mut out = Vec::new();
        for kind in kinds(&args.kind) {
            // A kind never written is an empty kind, not an error.
            let timelines = store.load(kind).await?.unwrap_or_default();
            out.push(KindHistory { kind, timelines });
        }
        Ok(out)
    })
}

/// One entity in the JSON report: the original's summary fields, and
/// **[ours]** its interruptions by cause and each interruption.
#[derive(Serialize)]
struct EntityJson<'a> {
    #[serde(flatten)]
    summary: Summary,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    causes: BTreeMap<&'static str, u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    interruptions: Vec<InterruptionJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InterruptionJson<'a> {
    ts: Timestamp,
    cause: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    /// The up run it ended, in nanoseconds.
    #[serde(with = "megamon_core::duration::go_nanos")]
    up_time_before: std::time::Duration,
}

/// Each interruption of `t`, with the detail recorded on its event.
fn interruptions(t: &Timeline) -> Vec<InterruptionJson<'_>> {
    t.episodes()
        .into_iter()
        .filter_map(|e| match e {
            Episode::Interruption { at, up_run, cause } => {
                let event = t
                    .events()
                    .iter()
                    .find(|e| e.timestamp == at && !e.up && !e.expected_down);
                Some(InterruptionJson {
                    ts: at,
                    cause: cause.unwrap_or(Cause::Unknown).as_str(),
                    detail: event.and_then(|e| e.detail.as_deref()),
                    up_time_before: up_run,
                })
            }
            Episode::Recovery { .. } => None,
        })
        .collect()
}

/// `{"<kind>": {"<key>": {summary}}}`, durations in integer nanoseconds.
fn json(histories: &[KindHistory], now: Timestamp) -> String {
    let doc: BTreeMap<&str, BTreeMap<&str, EntityJson<'_>>> = histories
        .iter()
        .map(|h| {
            let entities = h
                .timelines
                .iter()
                .map(|(key, t)| {
                    let entity = EntityJson {
                        summary: t.summarize(now),
                        causes: t.causes().iter().map(|(c, n)| (c.as_str(), n)).collect(),
                        interruptions: interruptions(t),
                    };
                    (key, entity)
                })
                .collect();
            (h.kind.name(), entities)
        })
        .collect();
    // Maps of strings and integers always serialise.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The state an entity was last recorded in; before it was ever up, its
/// provisioning state.
pub(crate) fn state(timelines: &Timelines, key: &str, summary: &Summary) -> &'static str {
    match timelines.get(key).and_then(|t| t.last()) {
        None => "unknown",
        Some(e) if e.up => "up",
        Some(_) if summary.provisioning_state != ProvisioningState::Success => {
            summary.provisioning_state.as_str()
        }
        Some(e) if e.expected_down => "down (planned)",
        Some(e) if e.failed => "down (failed)",
        Some(_) => "down",
    }
}

/// One entity's row: kind, key, state, summary, interruptions by cause.
type Row = (EntityKind, String, &'static str, Summary, CauseCounts);

fn rows(histories: &[KindHistory], now: Timestamp) -> Vec<Row> {
    histories
        .iter()
        .flat_map(|h| {
            h.timelines.iter().map(move |(key, t)| {
                let summary = t.summarize(now);
                (
                    h.kind,
                    key.to_string(),
                    state(&h.timelines, key, &summary),
                    summary,
                    t.causes(),
                )
            })
        })
        .collect()
}

/// `preemption=2;node-not-ready=1`: a cell that needs no quoting.
pub(crate) fn causes_cell(causes: &CauseCounts) -> String {
    causes
        .iter()
        .map(|(c, n)| format!("{c}={n}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// CSV with a header row; durations in seconds (decimal) for spreadsheets.
fn csv(histories: &[KindHistory], now: Timestamp) -> String {
    let mut out = String::from("kind,key,state,provisioningState,interruptionCount,recoveryCount");
    for (name, _) in Summary::default().durations() {
        let _ = write!(out, ",{name}Seconds");
    }
    out.push_str(",causes\n");
    for (kind, key, state, s, causes) in rows(histories, now) {
        let _ = write!(
            out,
            "{},{},{},{},{},{}",
            kind.name(),
            csv_field(&key),
            state,
            s.provisioning_state.as_str(),
            s.interruption_count,
            s.recovery_count
        );
        for (_, d) in s.durations() {
            let _ = write!(out, ",{}", d.as_secs_f64());
        }
        let _ = writeln!(out, ",{}", causes_cell(&causes));
    }
    out
}

/// RFC 4180 quoting for the one free-text column.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A mean over zero events is undefined: show "-" rather than a misleading 0s.
pub(crate) fn mean_or_dash(count: u64, mean: std::time::Duration) -> String {
    if count == 0 {
        "-".to_string()
    } else {
        human(mean)
    }
}

/// The table's columns for one entity.
pub(crate) const TABLE_HEADER: [&str; 11] = [
    "KIND",
    "KEY",
    "STATE",
    "UP%",
    "TO-FIRST-UP",
    "UP",
    "DOWN",
    "INTERRUPTIONS",
    "MTBI",
    "RECOVERIES",
    "MTTR",
];

/// One entity's cells under [`TABLE_HEADER`].
pub(crate) fn table_cells(kind: EntityKind, key: String, state: &str, s: &Summary) -> [String; 11] {
    let total = (s.up_time + s.down_time).as_secs_f64();
    let up_pct = if total > 0.0 {
        format!("{:.1}", 100.0 * s.up_time.as_secs_f64() / total)
    } else {
        "-".to_string()
    };
    [
        kind.name().to_string(),
        key,
        state.to_string(),
        up_pct,
        human(s.down_time_provisioned),
        human(s.up_time),
        human(s.down_time),
        s.interruption_count.to_string(),
        mean_or_dash(s.interruption_count, s.mean_up_time_between_interruption),
        s.recovery_count.to_string(),
        mean_or_dash(s.recovery_count, s.mean_down_time_between_recovery),
    ]
}

fn table(histories: &[KindHistory], now: Timestamp) -> String {
    let mut lines: Vec<Vec<String>> = vec![TABLE_HEADER.map(String::from).to_vec()];
    let mut by_cause: BTreeMap<(EntityKind, Cause), u64> = BTreeMap::new();
    for (kind, key, state, s, causes) in rows(histories, now) {
        for (cause, n) in causes.iter() {
            *by_cause.entry((kind, cause)).or_default() += n;
        }
        lines.push(table_cells(kind, key, state, &s).to_vec());
    }
    if lines.len() == 1 {
        return format!("no stored timelines as of {now}\n");
    }
    let mut out = aligned(&lines);
    out.push_str(&causes_table(by_cause));
    out
}

/// The table's "Interruptions by cause" section (empty without any).
pub(crate) fn causes_table(by_cause: BTreeMap<(EntityKind, Cause), u64>) -> String {
    let mut out = String::new();
    if !by_cause.is_empty() {
        // Most frequent first within each kind.
        let mut causes: Vec<((EntityKind, Cause), u64)> = by_cause.into_iter().collect();
        causes
            .sort_by(|((ka, ca), na), ((kb, cb), nb)| ka.cmp(kb).then(nb.cmp(na)).then(ca.cmp(cb)));
        let mut lines = vec![vec![
            "KIND".to_string(),
            "CAUSE".to_string(),
            "INTERRUPTIONS".to_string(),
            "GKE INTERRUPTION TYPE".to_string(),
        ]];
        for ((kind, cause), n) in causes {
            lines.push(vec![
                kind.name().to_string(),
                cause.to_string(),
                n.to_string(),
                cause.gke_interruption_type().unwrap_or("-").to_string(),
            ]);
        }
        out.push_str("\nInterruptions by cause\n");
        out.push_str(&aligned(&lines));
    }
    out
}

/// `lines` as left-aligned columns two spaces apart.
pub(crate) fn aligned(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            lines
                .iter()
                .filter_map(|l| l.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
