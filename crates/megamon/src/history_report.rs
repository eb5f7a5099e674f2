//! `megamon report` over a time window and over many clusters **[ours]**
//! (SPEC §3.3–§3.5): `--since` / `--until` add the archived (ended)
//! entities whose lives overlap the window and summarise every timeline
//! clipped to it; a `--store` prefix holding one folder per cluster reports
//! each cluster and a fleet roll-up. Without either, `report.rs` answers as
//! it always has.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use megamon_core::archive::{ArchivedEntity, day_of};
use megamon_core::cause::CauseCounts;
use megamon_core::distribution::{DistributionBuilder, accelerator_in};
use megamon_core::rollup::Rollup;
use megamon_core::timeline::Episode;
use megamon_core::window::{Window, causes_in_window, summarize_window};
use megamon_core::{Attrs, EntityKind, Summary};
use megamon_store::{HistoryStore, Layout, StoreError};
use serde::Serialize;

use crate::check_config::EXIT_BAD_INPUT;
use crate::report::{
    Format, ReportArgs, TABLE_HEADER, aligned, causes_cell, causes_table, csv_field, mean_or_dash,
    state, table_cells,
};

/// How many clusters are read at once.
const CONCURRENT_CLUSTERS: usize = 8;

/// Answers `args` when it asks for a window or names many clusters; `None`
/// leaves it to the plain report.
pub fn run(args: &ReportArgs, kinds: &[EntityKind]) -> Option<ExitCode> {
    let now = args.now.unwrap_or_else(Timestamp::now);
    let window = match window(args, now) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("megamon report: {e}");
            return Some(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("megamon report: cannot start the I/O runtime: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    let query = Query {
        kinds: kinds.to_vec(),
        window,
        now,
    };
    let outcome = runtime.block_on(async {
        let store = HistoryStore::open(&args.store)?;
        match store.layout().await? {
            Layout::Cluster if window.is_none() => Ok(None),
            Layout::Cluster => Ok(Some(Fleet::One(load_cluster(&store, &query).await?))),
            Layout::Clusters(names) => Ok(Some(Fleet::Many(
                load_clusters(&store, names, &query).await,
            ))),
        }
    });
    let fleet = match outcome {
        Ok(None) => return None,
        Ok(Some(fleet)) => fleet,
        Err::<_, StoreError>(e) => {
            eprintln!("megamon report: {e}");
            return Some(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let out = match (&fleet, args.format) {
        _ if args.percentiles => percentiles(&fleet, kinds, args.format),
        (Fleet::One(rows), Format::Json) => json_one(rows, kinds),
        (Fleet::Many(clusters), Format::Json) => json_many(clusters, kinds, window),
        (_, Format::Csv) => csv(&fleet),
        (_, Format::Table) => table(&fleet, &query),
    };
    print!("{out}");
    if let Fleet::Many(clusters) = &fleet {
        for (name, c) in clusters {
            if let Err(e) = c {
                eprintln!("megamon report: cluster {name}: {e}");
            }
        }
    }
    Some(ExitCode::SUCCESS)
}

/// What to report: which kinds, over which window, as of when.
struct Query {
    kinds: Vec<EntityKind>,
    window: Option<Window>,
    now: Timestamp,
}

/// `--since` / `--until`: RFC 3339, or a duration back from now (`7d`,
/// `12h`, `90m`); `until` defaults to now. `None` without `--since` and
/// `--until`.
fn window(args: &ReportArgs, now: Timestamp) -> Result<Option<Window>, String> {
    if args.since.is_none() && args.until.is_none() {
        return Ok(None);
    }
    let since = args
        .since
        .as_deref()
        .map(|s| moment("--since", s, now))
        .transpose()?;
    let until = match args.until.as_deref() {
        Some(u) => moment("--until", u, now)?.min(now),
        None => now,
    };
    if since.is_some_and(|s| s >= until) {
        return Err(format!(
            "--since ({}) must be before --until ({until})",
            since.map(|s| s.to_string()).unwrap_or_default()
        ));
    }
    Ok(Some(Window { since, until }))
}

fn moment(flag: &str, text: &str, now: Timestamp) -> Result<Timestamp, String> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    let back = parse_back(text).ok_or_else(|| {
        format!(
            "{flag} {text:?} is neither an RFC 3339 time (2024-05-01T00:00:00Z) nor a duration back from now (7d, 12h, 90m)"
        )
    })?;
    now.checked_sub(back)
        .map_err(|e| format!("{flag} {text:?}: {e}"))
}

/// `7d`, `12h`, `90m`, `30s`, `1d12h`: days are 24 hours.
fn parse_back(text: &str) -> Option<SignedDuration> {
    let mut total = SignedDuration::ZERO;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = std::mem::take(&mut digits).parse().ok()?;
        let secs = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(SignedDuration::from_secs(n.checked_mul(secs)?))?;
    }
    (digits.is_empty() && !total.is_zero() && !text.trim().is_empty()).then_some(total)
}

/// One line of the report.
#[derive(Debug, Clone)]
struct Row {
    kind: EntityKind,
    key: String,
    state: &'static str,
    summary: Summary,
    attrs: Attrs,
    /// Its interruptions (inside the window) by cause.
    causes: CauseCounts,
    ended_at: Option<Timestamp>,
    /// Its interruptions and recoveries that happened inside the window
    /// (for `--percentiles`).
    episodes: Vec<Episode>,
}

/// One cluster (a `--store` that is one) or many (by name, each its rows
/// or why they cannot be read).
enum Fleet {
    One(Vec<Row>),
    Many(BTreeMap<String, ClusterRows>),
}

/// One cluster's rows, or why they cannot be read.
type ClusterRows = Result<Vec<Row>, String>;

/// Reads every cluster, [`CONCURRENT_CLUSTERS`] at a time.
async fn load_clusters(
    store: &HistoryStore,
    names: Vec<String>,
    query: &Query,
) -> BTreeMap<String, ClusterRows> {
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CLUSTERS));
    let query = Arc::new(Query {
        kinds: query.kinds.clone(),
        ..*query
    });
    let mut reads = tokio::task::JoinSet::new();
    let mut names_of = std::collections::HashMap::new();
    for name in names {
        let (store, permits, query) = (store.clone(), permits.clone(), query.clone());
        let task_name = name.clone();
        let task = reads.spawn(async move {
            let _permit = permits.acquire().await;
            match store.child(&task_name) {
                Ok(cluster) => load_cluster(&cluster, &query).await,
                Err(e) => Err(e),
            }
        });
        names_of.insert(task.id(), name);
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = reads.join_next_with_id().await {
        let (id, rows) = match joined {
            Ok((id, rows)) => (id, rows.map_err(|e| e.to_string())),
            // A read that panicked is that cluster's error, not the run's.
            Err(e) => (e.id(), Err(format!("reading it failed: {e}"))),
        };
        if let Some(name) = names_of.remove(&id) {
            out.insert(name, rows);
        }
    }
    out
}

/// One cluster's rows: its current entities and, with a window, its
/// archived ones whose lives overlap it.
async fn load_cluster(store: &HistoryStore, query: &Query) -> Result<Vec<Row>, StoreError> {
    let mut rows = Vec::new();
    for &kind in &query.kinds {
        let timelines = store.load(kind).await?.unwrap_or_default();
        let mut kind_rows: Vec<Row> = Vec::new();
        for (key, t) in timelines.iter() {
            let (summary, causes) = match &query.window {
                Some(w) => match summarize_window(t.events(), None, w) {
                    Some(s) => (s, causes_in_window(t.events(), w)),
                    None => continue,
                },
                None => (t.summarize(query.now), t.causes()),
            };
            kind_rows.push(Row {
                kind,
                key: key.to_string(),
                state: state(&timelines, key, &summary),
                summary,
                attrs: t.attrs().cloned().unwrap_or_default(),
                causes,
                ended_at: None,
                episodes: episodes_in(t.episodes(), query.window.as_ref()),
            });
        }
        if let Some(w) = &query.window {
            let from = w.since.map(day_of);
            let mut seen: Vec<ArchivedEntity> = Vec::new();
            for e in store.read_archive(kind, from).await? {
                let Some(summary) = e.summarize_in(w) else {
                    continue;
                };
                if seen.iter().any(|s| s.same_life(&e)) {
                    continue;
                }
                // Still in the current file too (its end was archived as the
                // last writer stopped): it ended, the archive says so.
                let started = e.started();
                kind_rows.retain(|r| {
                    !(r.ended_at.is_none()
                        && r.key == e.key
                        && timelines
                            .get(&r.key)
                            .and_then(|t| t.events().first())
                            .is_some_and(|f| f.timestamp == started))
                });
                let key = if kind_rows.iter().any(|r| r.key == e.key) {
                    // A name used again: this life is told apart by its end.
                    format!("{}@{}", e.key, e.ended_at)
                } else {
                    e.key.clone()
                };
                kind_rows.push(Row {
                    kind,
                    key,
                    state: "ended",
                    summary,
                    attrs: e.attrs.clone(),
                    causes: causes_in_window(e.timeline.events(), w),
                    ended_at: Some(e.ended_at),
                    episodes: episodes_in(e.timeline.episodes(), Some(w)),
                });
                seen.push(e);
            }
        }
        rows.extend(kind_rows);
    }
    Ok(rows)
}

/// The episodes that happened inside `window` (all without one). A recovery
/// inside counts its whole down run, even when the down began before.
fn episodes_in(episodes: Vec<Episode>, window: Option<&Window>) -> Vec<Episode> {
    match window {
        Some(w) => episodes
            .into_iter()
            .filter(|e| w.contains(e.at()))
            .collect(),
        None => episodes,
    }
}

/// `--percentiles` over the rows of every cluster that could be read,
/// pooled per family and accelerator (the fleet's distributions).
fn percentiles(fleet: &Fleet, kinds: &[EntityKind], format: Format) -> String {
    let mut builder = DistributionBuilder::default();
    let mut add = |rows: &[Row]| {
        for r in rows {
            builder.add_episodes(r.kind, accelerator_in(&r.attrs), &r.episodes);
        }
    };
    match fleet {
        Fleet::One(rows) => add(rows),
        Fleet::Many(clusters) => clusters.values().flatten().for_each(|rows| add(rows)),
    }
    crate::percentiles::render_distributions(kinds, &builder.build(), format)
}

/// A summary in the report's JSON, with when the entity ended if it did.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RowJson<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    causes: BTreeMap<&'static str, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_at: Option<Timestamp>,
}

type KindsJson<'a> = BTreeMap<&'static str, BTreeMap<&'a str, RowJson<'a>>>;

fn kinds_json<'a>(rows: &'a [Row], kinds: &[EntityKind]) -> KindsJson<'a> {
    let mut doc: KindsJson = kinds.iter().map(|k| (k.name(), BTreeMap::new())).collect();
    for r in rows {
        doc.entry(r.kind.name()).or_default().insert(
            &r.key,
            RowJson {
                summary: &r.summary,
                causes: r.causes.iter().map(|(c, n)| (c.as_str(), n)).collect(),
                ended_at: r.ended_at,
            },
        );
    }
    doc
}

fn pretty(doc: &impl Serialize) -> String {
    // Maps of strings, numbers and timestamps always serialise.
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    text
}

/// One cluster: `{"<kind>": {"<key>": summary}}`, as the plain report.
fn json_one(rows: &[Row], kinds: &[EntityKind]) -> String {
    pretty(&kinds_json(rows, kinds))
}

/// Many: `{"window", "clusters": {"<cluster>": {"<kind>": {"<key>": summary}}},
/// "fleet": roll-up, "errors": {"<cluster>": "..."}}`.
fn json_many(
    clusters: &BTreeMap<String, ClusterRows>,
    kinds: &[EntityKind],
    window: Option<Window>,
) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        window: Option<WindowJson>,
        clusters: BTreeMap<&'a str, KindsJson<'a>>,
        fleet: Rollup,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        errors: BTreeMap<&'a str, String>,
    }
    #[derive(Serialize)]
    struct WindowJson {
        since: Option<Timestamp>,
        until: Timestamp,
    }
    let mut doc = Doc {
        window: window.map(|w| WindowJson {
            since: w.since,
            until: w.until,
        }),
        clusters: BTreeMap::new(),
        fleet: rollup(clusters),
        errors: BTreeMap::new(),
    };
    for (name, c) in clusters {
        match c {
            Ok(rows) => {
                doc.clusters.insert(name, kinds_json(rows, kinds));
            }
            Err(e) => {
                doc.errors.insert(name, e.clone());
            }
        }
    }
    pretty(&doc)
}

fn rollup(clusters: &BTreeMap<String, ClusterRows>) -> Rollup {
    let mut r = Rollup::new();
    for row in clusters.values().flatten().flatten() {
        r.add(row.kind, &row.attrs, &row.summary);
    }
    r
}

/// (cluster, row) in order: no cluster for a single one.
fn lines(fleet: &Fleet) -> Vec<(Option<&str>, &Row)> {
    match fleet {
        Fleet::One(rows) => rows.iter().map(|r| (None, r)).collect(),
        Fleet::Many(clusters) => clusters
            .iter()
            .filter_map(|(name, c)| c.as_ref().ok().map(|rows| (name, rows)))
            .flat_map(|(name, rows)| rows.iter().map(move |r| (Some(name.as_str()), r)))
            .collect(),
    }
}

/// The plain report's CSV, with a `cluster` column first over many clusters
/// and `endedAt` after `causes`.
fn csv(fleet: &Fleet) -> String {
    let many = matches!(fleet, Fleet::Many(_));
    let mut out = String::new();
    if many {
        out.push_str("cluster,");
    }
    out.push_str("kind,key,state,provisioningState,interruptionCount,recoveryCount");
    for (name, _) in Summary::default().durations() {
        let _ = write!(out, ",{name}Seconds");
    }
    out.push_str(",causes,endedAt\n");
    for (cluster, r) in lines(fleet) {
        if let Some(c) = cluster {
            let _ = write!(out, "{},", csv_field(c));
        }
        let s = &r.summary;
        let _ = write!(
            out,
            "{},{},{},{},{},{}",
            r.kind.name(),
            csv_field(&r.key),
            r.state,
            s.provisioning_state.as_str(),
            s.interruption_count,
            s.recovery_count
        );
        for (_, d) in s.durations() {
            let _ = write!(out, ",{}", d.as_secs_f64());
        }
        let ended = r.ended_at.map(|t| t.to_string()).unwrap_or_default();
        let _ = writeln!(out, ",{},{ended}", causes_cell(&r.causes));
    }
    out
}

/// The plain report's table, with a CLUSTER column over many clusters,
/// then (over many) the fleet roll-up.
fn table(fleet: &Fleet, query: &Query) -> String {
    let many = matches!(fleet, Fleet::Many(_));
    let mut header = if many { vec!["CLUSTER"] } else { vec![] };
    header.extend(TABLE_HEADER);
    let mut cells = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for (cluster, r) in lines(fleet) {
        let mut line = cluster.map(|c| vec![c.to_string()]).unwrap_or_default();
        line.extend(table_cells(r.kind, r.key.clone(), r.state, &r.summary));
        cells.push(line);
    }
    let mut out = String::new();
    if let Some(w) = &query.window {
        let since = w
            .since
            .map_or("the beginning".to_string(), |s| s.to_string());
        let _ = writeln!(out, "window: {since} to {}", w.until);
    }
    if cells.len() == 1 {
        let _ = writeln!(out, "no stored timelines in this window");
    } else {
        out.push_str(&aligned(&cells));
    }
    let mut by_cause = BTreeMap::new();
    for (_, r) in lines(fleet) {
        for (cause, n) in r.causes.iter() {
            *by_cause.entry((r.kind, cause)).or_default() += n;
        }
    }
    out.push_str(&causes_table(by_cause));
    if let Fleet::Many(clusters) = fleet {
        let r = rollup(clusters);
        if !r.is_empty() {
            let mut cells = vec![
                [
                    "FLEET",
                    "ACCELERATOR",
                    "ENTITIES",
                    "CHIPS",
                    "AVAILABILITY%",
                    "INTERRUPTIONS",
                    "MTBI",
                    "RECOVERIES",
                    "MTTR",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for (kind, accelerator, g) in r.iter() {
                cells.push(vec![
                    kind.to_string(),
                    accelerator.to_string(),
                    g.entities.to_string(),
                    g.chips.to_string(),
                    g.availability
                        .map_or("-".to_string(), |a| format!("{:.2}", 100.0 * a)),
                    g.interruption_count.to_string(),
                    mean_or_dash(g.interruption_count, g.mean_up_time_between_interruption),
                    g.recovery_count.to_string(),
                    mean_or_dash(g.recovery_count, g.mean_down_time_between_recovery),
                ]);
            }
            out.push('\n');
            out.push_str(&aligned(&cells));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_back_from_now() {
        assert_eq!(parse_back("7d"), Some(SignedDuration::from_hours(7 * 24)));
        assert_eq!(parse_back("1d12h"), Some(SignedDuration::from_hours(36)));
        assert_eq!(parse_back("90m"), Some(SignedDuration::from_mins(90)));
        for bad in ["", "7", "d", "7w", "-1d", "0d", "1.5h"] {
            assert_eq!(parse_back(bad), None, "{bad}");
        }
        let now: Timestamp = "2024-05-08T00:00:00Z".parse().unwrap();
        assert_eq!(
            moment("--since", "7d", now).unwrap(),
            "2024-05-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            moment("--since", "2024-05-02T00:00:00Z", now).unwrap(),
            "2024-05-02T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        let err = moment("--since", "last week", now).unwrap_err();
        assert!(err.contains("--since \"last week\""), "{err}");
    }
}
