//! What `GET /metrics` shows: the Prometheus text of the latest published
//! snapshot, written straight from it and from what [`Recorded`] keeps. No
//! OpenTelemetry pipeline sits behind it (the SDK sizes a table per
//! instrument for the most series it may ever see), so memory follows the
//! series that exist and a scrape reads the snapshot once per family.
//!
//! The text is what the SDK and [`crate::prometheus_text`]'s rules made of
//! the same instruments (`conformance_tests` checks it against
//! `opentelemetry-prometheus`).

use std::cmp::Ordering;
use std::sync::Arc;

use megamon_core::{EntityKind, EntitySnapshot, Snapshot};
use opentelemetry_sdk::Resource;

use crate::instruments::{
    BUILD_INFO, ENTITY_GAUGES, EXPORT_ERRORS, EntityGauge, HISTOGRAMS, HistogramId,
    INTERRUPTIONS_BY_CAUSE, InstrumentSpec, LEADER, NODEPOOL_JOB_SCHEDULED, PROVISIONING_DURATION,
    SOURCE_LABEL, SOURCE_STALE,
};
use crate::labels::{
    BuildInfo, CAUSE_LABEL, ENTITY_LABELS, EXPORTER_LABEL, SCHEDULED_LABELS,
    entity_label_keys_with, entity_label_values, entity_label_values_with, provisioning_label_keys,
    provisioning_label_values, scheduled_label_values,
};
use crate::metrics::SCOPE_NAME;
use crate::prometheus_text::{
    FamilyType, label_name, merged_labels, metric_name, write_go_float, write_header, write_labels,
    write_value,
};
use crate::recorded::Recorded;

const TARGET_INFO: &str = "target_info";
const TARGET_INFO_HELP: &str = "Target metadata";

/// On every series but `target_info`: the scope has no version.
const SCOPE_LABELS: [(&str, &str); 2] =
    [("otel_scope_name", SCOPE_NAME), ("otel_scope_version", "")];

/// One series of `interruptions.by.cause`: (family, entity, the entity's
/// n-th cause) in the snapshot.
type CauseItem = (usize, usize, usize);

/// One series order per entity kind present, shared with the publication
/// before when it still holds.
type KindOrders<T> = Vec<(EntityKind, Arc<SeriesOrder<T>>)>;

/// A published snapshot with the order /metrics shows its series in,
/// worked out once per snapshot instead of on every scrape, and kept from
/// the snapshot before when its entities' labels did not change.
pub(crate) struct Published {
    pub(crate) snapshot: Arc<Snapshot>,
    /// Per kind present: (family index, entity index) in the snapshot.
    entities: KindOrders<(usize, usize)>,
    /// The same for `provisioning.duration`, whose extra label sorts among
    /// the others and so may order the series differently.
    provisioning: KindOrders<(usize, usize)>,
    /// The same for `interruptions.by.cause`: (family, entity, the
    /// entity's n-th cause).
    causes: KindOrders<CauseItem>,
    /// Positions in the snapshot's `scheduling` (in its iteration order).
    scheduled: Arc<SeriesOrder<usize>>,
}

/// Everything of /metrics that does not change after start-up: the
/// families in name order and how their series are labelled.
pub(crate) struct Exposition {
    families: Vec<Family>,
    entity_labels: LabelLayout,
    provisioning_labels: LabelLayout,
    cause_labels: LabelLayout,
    /// Same order as [`HISTOGRAMS`].
    histogram_labels: Vec<LabelLayout>,
    scheduled_labels: LabelLayout,
    exporter_labels: LabelLayout,
    source_labels: LabelLayout,
    /// `build.info`'s labels, rendered.
    build_info: String,
    /// `target_info`'s labels, rendered; `None` for an empty resource.
    target_info: Option<String>,
}

struct Family {
    /// The Prometheus name, suffixes included.
    name: String,
    help: String,
    kind: FamilyType,
    source: Source,
}

enum Source {
    Entity(EntityKind, EntityGauge),
    Provisioning(EntityKind),
    Causes(EntityKind),
    Scheduled,
    BuildInfo,
    Leader,
    Staleness,
    Histogram(HistogramId),
    ExportErrors,
    TargetInfo,
}

impl Exposition {
    pub(crate) fn new(prefix: &str, build: &BuildInfo, resource: &Resource) -> Exposition {
        let spec = |spec: &InstrumentSpec, kind: FamilyType, source: Source| {
            let help = spec.help.to_string();
            let name = metric_name(&spec.name(prefix), spec.unit);
            Family {
                name: if kind == FamilyType::Counter {
                    format!("{name}_total")
                } else {
                    name
                },
                help,
                kind,
                source,
            }
        };
        let mut families: Vec<Family> = EntityKind::ALL
            .into_iter()
            .flat_map(|kind| ENTITY_GAUGES.map(|gauge| (kind, gauge)))
            .map(|(kind, gauge)| Family {
                name: metric_name(&gauge.name(prefix, kind), gauge.unit()),
                help: gauge.help(kind),
                kind: FamilyType::Gauge,
                source: Source::Entity(kind, gauge),
            })
            .collect();
        families.extend(EntityKind::ALL.into_iter().map(|kind| Family {
            name: metric_name(
                &PROVISIONING_DURATION.name(prefix, kind),
                PROVISIONING_DURATION.unit(),
            ),
            help: PROVISIONING_DURATION.help(kind),
            kind: FamilyType::Gauge,
            source: Source::Provisioning(kind),
        }));
        families.extend(EntityKind::ALL.into_iter().map(|kind| Family {
            name: metric_name(&INTERRUPTIONS_BY_CAUSE.name(prefix, kind), ""),
            help: INTERRUPTIONS_BY_CAUSE.help(kind),
            kind: FamilyType::Gauge,
            source: Source::Causes(kind),
        }));
        families.extend([
            spec(
                &NODEPOOL_JOB_SCHEDULED,
                FamilyType::Gauge,
                Source::Scheduled,
            ),
            spec(&BUILD_INFO, FamilyType::Gauge, Source::BuildInfo),
            spec(&LEADER, FamilyType::Gauge, Source::Leader),
            spec(&SOURCE_STALE, FamilyType::Gauge, Source::Staleness),
            spec(&EXPORT_ERRORS, FamilyType::Counter, Source::ExportErrors),
        ]);
        for id in HistogramId::all() {
            families.push(spec(
                &id.spec().spec,
                FamilyType::Histogram,
                Source::Histogram(id),
            ));
        }
        let target_info = (!resource.is_empty()).then(|| {
            let labels = merged_labels(resource.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let mut out = String::new();
            write_labels(
                &mut out,
                labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            out
        });
        if target_info.is_some() {
            families.push(Family {
                name: TARGET_INFO.to_string(),
                help: TARGET_INFO_HELP.to_string(),
                kind: FamilyType::Gauge,
                source: Source::TargetInfo,
            });
        }
        families.sort_by(|a, b| a.name.cmp(&b.name));
        // The names cannot collide (fixed suffixes under one prefix); the
        // first definition of a name would win, as in the Go exporter.
        families.dedup_by(|later, first| later.name == first.name);

        let build_keys = build.labels().map(|(key, _)| key);
        let build_values = build.labels().map(|(_, value)| value);
        let build_layout = LabelLayout::new(&build_keys, false);
        let mut build_info = String::new();
        write_labels(
            &mut build_info,
            build_layout.labels(&build_values.each_ref().map(String::as_str)),
        );

        Exposition {
            families,
            entity_labels: LabelLayout::new(&ENTITY_LABELS.map(|(key, _)| key), true),
            provisioning_labels: LabelLayout::new(&provisioning_label_keys(), true),
            cause_labels: LabelLayout::new(&entity_label_keys_with(CAUSE_LABEL), true),
            // Empty values are left out, as the OpenTelemetry attributes do.
            histogram_labels: HISTOGRAMS
                .iter()
                .map(|h| LabelLayout::new(h.labels, true))
                .collect(),
            scheduled_labels: LabelLayout::new(&SCHEDULED_LABELS, true),
            exporter_labels: LabelLayout::new(&[EXPORTER_LABEL], false),
            source_labels: LabelLayout::new(&[SOURCE_LABEL], false),
            build_info,
            target_info,
        }
    }

    /// Works out the order of `snapshot`'s series. Cost: sorting each
    /// family's entities by their labels, O(n log n); a family whose
    /// entities have the labels they had in `previous` (most publications:
    /// a change flips an entity up or down, it does not relabel it) keeps
    /// its order, for one comparison per entity (none for an entity
    /// `previous` shares).
    pub(crate) fn prepare(
        &self,
        snapshot: Arc<Snapshot>,
        previous: Option<&Published>,
    ) -> Published {
        let mut entities: KindOrders<(usize, usize)> = Vec::new();
        let mut provisioning: KindOrders<(usize, usize)> = Vec::new();
        let mut causes: KindOrders<CauseItem> = Vec::new();
        for kind in EntityKind::ALL {
            // What each order sorts by: the entity's labels; with its
            // provisioning state; with each of its causes.
            let held = |what: fn(&EntitySnapshot, &EntitySnapshot) -> bool| {
                previous.filter(|p| orders_hold(&p.snapshot, &snapshot, kind, what))
            };
            let kept_entities = held(same_labels);
            let kept_provisioning = held(same_provisioning);
            let kept_causes = held(same_causes);
            let items: Vec<(usize, usize)> = snapshot
                .families
                .iter()
                .enumerate()
                .filter(|(_, family)| family.kind == kind)
                .flat_map(|(f, family)| (0..family.entities.len()).map(move |e| (f, e)))
                .collect();
            if items.is_empty() {
                continue;
            }
            match kept_provisioning {
                Some(p) => {
                    provisioning.extend(p.provisioning.iter().find(|(k, _)| *k == kind).cloned())
                }
                None => {
                    let with_state = |&(f, e): &(usize, usize)| {
                        let entity = &snapshot.families[f].entities[e];
                        provisioning_label_values(
                            &entity.upness.attrs,
                            entity.summary.provisioning_state.as_str(),
                        )
                    };
                    let order = SeriesOrder::by_key(items.clone(), with_state, |a, b| {
                        self.provisioning_labels.cmp(a, b)
                    });
                    provisioning.push((kind, Arc::new(order)));
                }
            }
            let cause_values = |&(f, e, c): &CauseItem| {
                let entity = &snapshot.families[f].entities[e];
                let cause = entity.causes.iter().nth(c).map_or("", |(c, _)| c.as_str());
                entity_label_values_with(&entity.upness.attrs, CAUSE_LABEL, cause)
            };
            let cause_count =
                |f: usize, e: usize| snapshot.families[f].entities[e].causes.iter().count();
            // Under churn, entities get their first interruption of a cause
            // one by one: each would sort the kind's cause series again (at
            // 65,536 nodes a fifth of the monitor's CPU). A few changed
            // entities are taken out and put back where they sort instead.
            let updated = || {
                let p = previous?;
                let (_, order) = p.causes.iter().find(|(k, _)| *k == kind)?;
                let changed = cause_changes(&p.snapshot, &snapshot, kind)?;
                if changed.len() * 16 > items.len() {
                    return None;
                }
                let added: Vec<CauseItem> = changed
                    .iter()
                    .flat_map(|&(f, e)| (0..cause_count(f, e)).map(move |c| (f, e, c)))
                    .collect();
                order.with_changed(
                    |&(f, e, _)| changed.binary_search(&(f, e)).is_ok(),
                    added,
                    cause_values,
                    |a, b| self.cause_labels.cmp(a, b),
                )
            };
            match kept_causes {
                Some(p) => causes.extend(p.causes.iter().find(|(k, _)| *k == kind).cloned()),
                None if let Some(order) = updated() => {
                    if order.len() > 0 {
                        causes.push((kind, Arc::new(order)));
                    }
                }
                None => {
                    let with_cause: Vec<(usize, usize, usize)> = items
                        .iter()
                        .flat_map(|&(f, e)| (0..cause_count(f, e)).map(move |c| (f, e, c)))
                        .collect();
                    if !with_cause.is_empty() {
                        let order = SeriesOrder::by_key(with_cause, cause_values, |a, b| {
                            self.cause_labels.cmp(a, b)
                        });
                        causes.push((kind, Arc::new(order)));
                    }
                }
            }
            match kept_entities {
                Some(p) => entities.extend(p.entities.iter().find(|(k, _)| *k == kind).cloned()),
                None => {
                    let values = |&(f, e): &(usize, usize)| {
                        entity_label_values(&snapshot.families[f].entities[e].upness.attrs)
                    };
                    let order =
                        SeriesOrder::by_key(items, values, |a, b| self.entity_labels.cmp(a, b));
                    entities.push((kind, Arc::new(order)));
                }
            }
        }
        let scheduled = match previous {
            Some(p) if Arc::ptr_eq(&p.snapshot.scheduling, &snapshot.scheduling) => {
                p.scheduled.clone()
            }
            _ => {
                let pools: Vec<_> = snapshot.scheduling.iter().collect();
                Arc::new(SeriesOrder::new((0..pools.len()).collect(), |&a, &b| {
                    let (pa, ja) = pools[a];
                    let (pb, jb) = pools[b];
                    self.scheduled_labels.cmp(
                        &scheduled_label_values(pa, ja),
                        &scheduled_label_values(pb, jb),
                    )
                }))
            }
        };
        Published {
            snapshot,
            entities,
            provisioning,
            causes,
            scheduled,
        }
    }

    /// The Prometheus text of `published` (nothing of a snapshot before the
    /// first, nor on a standby: only the leader shows entity series) and of
    /// `recorded`, in one string.
    pub(crate) fn render(
        &self,
        published: Option<&Published>,
        recorded: &Recorded,
        leader: bool,
    ) -> String {
        let mut all = String::new();
        self.render_chunks(published, recorded, leader, usize::MAX, &mut |chunk| {
            if all.is_empty() {
                all = chunk;
            } else {
                all.push_str(&chunk);
            }
            true
        });
        all
    }

    /// The same text in chunks of about `chunk` bytes (a series line is never
    /// split), each handed to `emit` as soon as it is written, so that a
    /// scrape never holds the whole text (24 MB at 65,536 nodes); stops
    /// early when `emit` returns false (the scraper went away).
    pub(crate) fn render_chunks(
        &self,
        published: Option<&Published>,
        recorded: &Recorded,
        leader: bool,
        chunk: usize,
        emit: &mut dyn FnMut(String) -> bool,
    ) {
        let published = published.filter(|_| leader);
        let series: usize = published.map_or(0, |p| {
            p.entities.iter().map(|(_, o)| o.len()).sum::<usize>() * ENTITY_GAUGES.len()
                + p.scheduled.len()
        });
        // About what a series line of an entity gauge takes.
        let capacity = (series * 256 + 4096).min(chunk.saturating_add(4096));
        let mut out = String::with_capacity(capacity);
        // Hands `out` on once it holds a chunk; false when the reader left.
        let mut flush = |out: &mut String, at_least: usize| {
            if out.len() < at_least {
                return true;
            }
            emit(std::mem::replace(out, String::with_capacity(capacity)))
        };
        let export_errors = recorded.export_errors();
        let pools: Vec<_> = published
            .map(|p| p.snapshot.scheduling.iter().collect())
            .unwrap_or_default();

        for family in &self.families {
            if !flush(&mut out, chunk) {
                return;
            }
            let mut header = Header(family, false);
            match &family.source {
                Source::Entity(kind, gauge) => {
                    let Some(p) = published else { continue };
                    let Some((_, order)) = p.entities.iter().find(|(k, _)| k == kind) else {
                        continue;
                    };
                    for run in order.runs() {
                        // Entities with the same labels are one series with
                        // the last observed value, as in the SDK.
                        let Some((entity, value)) = run.iter().rev().find_map(|&(f, e)| {
                            let entity = &p.snapshot.families[f].entities[e];
                            gauge.value(entity).map(|value| (entity, value))
                        }) else {
                            continue;
                        };
                        header.write(&mut out);
                        out.push_str(&family.name);
                        let values = entity_label_values(&entity.upness.attrs);
                        write_labels(&mut out, self.entity_labels.labels(&values));
                        write_value(&mut out, value);
                        if !flush(&mut out, chunk) {
                            return;
                        }
                    }
                }
                Source::Scheduled => {
                    let Some(p) = published else { continue };
                    for run in p.scheduled.runs() {
                        let Some(&(pool, job)) = run.last().and_then(|&i| pools.get(i)) else {
                            continue;
                        };
                        header.write(&mut out);
                        out.push_str(&family.name);
                        let values = scheduled_label_values(pool, job);
                        write_labels(&mut out, self.scheduled_labels.labels(&values));
                        write_value(&mut out, 1.0);
                    }
                }
                Source::BuildInfo => {
                    header.write(&mut out);
                    out.push_str(&family.name);
                    out.push_str(&self.build_info);
                    write_value(&mut out, 1.0);
                }
                Source::Staleness => {
                    // One label each: sorted by source is the Go order.
                    for (source, seconds) in recorded.source_ages() {
                        header.write(&mut out);
                        out.push_str(&family.name);
                        write_labels(&mut out, self.source_labels.labels(&[&source]));
                        write_value(&mut out, seconds);
                    }
                }
                Source::Leader => {
                    header.write(&mut out);
                    out.push_str(&family.name);
                    write_labels(&mut out, self.histogram_labels[0].labels(&[]));
                    write_value(&mut out, if leader { 1.0 } else { 0.0 });
                }
                Source::Provisioning(kind) => {
                    let Some(p) = published else { continue };
                    let Some((_, order)) = p.provisioning.iter().find(|(k, _)| k == kind) else {
                        continue;
                    };
                    for run in order.runs() {
                        let Some(&(f, e)) = run.last() else { continue };
                        let entity = &p.snapshot.families[f].entities[e];
                        header.write(&mut out);
                        out.push_str(&family.name);
                        let values = provisioning_label_values(
                            &entity.upness.attrs,
                            entity.summary.provisioning_state.as_str(),
                        );
                        write_labels(&mut out, self.provisioning_labels.labels(&values));
                        write_value(&mut out, entity.summary.provisioning_duration.as_secs_f64());
                    }
                }
                Source::Causes(kind) => {
                    let Some(p) = published else { continue };
                    let Some((_, order)) = p.causes.iter().find(|(k, _)| k == kind) else {
                        continue;
                    };
                    for run in order.runs() {
                        let Some(&(f, e, c)) = run.last() else {
                            continue;
                        };
                        let entity = &p.snapshot.families[f].entities[e];
                        let Some((cause, n)) = entity.causes.iter().nth(c) else {
                            continue;
                        };
                        header.write(&mut out);
                        out.push_str(&family.name);
                        let values = entity_label_values_with(
                            &entity.upness.attrs,
                            CAUSE_LABEL,
                            cause.as_str(),
                        );
                        write_labels(&mut out, self.cause_labels.labels(&values));
                        write_value(&mut out, n as f64);
                    }
                }
                Source::Histogram(id) if id.is_per_family() && !leader => {}
                Source::Histogram(id) => {
                    let bounds = id.spec().buckets;
                    let layout = &self.histogram_labels[id.index()];
                    let recorded = recorded.histogram(*id);
                    let mut series: Vec<(Vec<&str>, &crate::recorded::Histogram)> = recorded
                        .iter()
                        .map(|(labels, h)| (labels.iter().map(String::as_str).collect(), h))
                        .collect();
                    // The Go order: by label count, then values.
                    series.sort_by(|a, b| layout.cmp(&a.0, &b.0));
                    // Zero-count series are the time-to-recover series of
                    // entities yet to recover (see `Metrics::publish`).
                    for (values, histogram) in &series {
                        header.write(&mut out);
                        let mut le = String::new();
                        let buckets = histogram
                            .cumulative_buckets(bounds)
                            .map(|(bound, cumulative)| (Some(bound), cumulative))
                            .chain([(None, histogram.count())]);
                        for (bound, cumulative) in buckets {
                            le.clear();
                            match bound {
                                Some(bound) => write_go_float(&mut le, bound),
                                None => le.push_str("+Inf"),
                            }
                            out.push_str(&family.name);
                            out.push_str("_bucket");
                            write_labels(
                                &mut out,
                                layout.labels(values).chain([("le", le.as_str())]),
                            );
                            write_value(&mut out, cumulative as f64);
                        }
                        out.push_str(&family.name);
                        out.push_str("_sum");
                        write_labels(&mut out, layout.labels(values));
                        write_value(&mut out, histogram.sum());
                        out.push_str(&family.name);
                        out.push_str("_count");
                        write_labels(&mut out, layout.labels(values));
                        write_value(&mut out, histogram.count() as f64);
                    }
                }
                Source::ExportErrors => {
                    // One label each: sorted by exporter is the Go order.
                    for (exporter, count) in &export_errors {
                        header.write(&mut out);
                        out.push_str(&family.name);
                        write_labels(&mut out, self.exporter_labels.labels(&[exporter]));
                        write_value(&mut out, *count as f64);
                    }
                }
                Source::TargetInfo => {
                    let Some(labels) = &self.target_info else {
                        continue;
                    };
                    header.write(&mut out);
                    out.push_str(&family.name);
                    out.push_str(labels);
                    write_value(&mut out, 1.0);
                }
            }
        }
        flush(&mut out, 1);
    }
}

/// A family's HELP and TYPE, written before its first series: a family
/// without series is left out.
struct Header<'a>(&'a Family, bool);

impl Header<'_> {
    fn write(&mut self, out: &mut String) {
        if !self.1 {
            write_header(out, &self.0.name, &self.0.help, self.0.kind);
            self.1 = true;
        }
    }
}

/// Where a series' labels come from, in the order Prometheus shows them
/// (sorted by name): one of the series' own values, or the scope's.
struct LabelLayout {
    slots: Vec<(String, Slot)>,
    /// Leave out own values that are empty (entity and scheduling labels;
    /// their OpenTelemetry attributes leave them out too).
    skip_empty: bool,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    /// The value at this index of the series' values (keys' order).
    Own(usize),
    Scope(&'static str),
}

impl LabelLayout {
    /// For series whose own labels are `keys` (OpenTelemetry attribute names).
    fn new(keys: &[&str], skip_empty: bool) -> LabelLayout {
        let mut slots: Vec<(String, Slot)> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| (label_name(key), Slot::Own(i)))
            .chain(
                SCOPE_LABELS
                    .iter()
                    .map(|&(name, value)| (name.to_string(), Slot::Scope(value))),
            )
            .collect();
        slots.sort_by(|a, b| a.0.cmp(&b.0));
        LabelLayout { slots, skip_empty }
    }

    /// The labels of a series whose own values are `values` (keys' order).
    fn labels<'a>(
        &'a self,
        values: &'a [&'a str],
    ) -> impl Iterator<Item = (&'a str, &'a str)> + Clone + 'a {
        self.slots
            .iter()
            .filter_map(move |(name, slot)| match *slot {
                Slot::Scope(value) => Some((name.as_str(), value)),
                Slot::Own(i) => {
                    let value = values.get(i).copied().unwrap_or("");
                    (!(self.skip_empty && value.is_empty())).then_some((name.as_str(), value))
                }
            })
    }

    /// The Go client's order of series: by label count, then label values
    /// in turn.
    fn cmp(&self, a: &[&str], b: &[&str]) -> Ordering {
        let (a, b) = (self.labels(a), self.labels(b));
        a.clone()
            .count()
            .cmp(&b.clone().count())
            .then_with(|| a.map(|(_, v)| v).cmp(b.map(|(_, v)| v)))
    }
}

/// An entity's (family, entity) place, as it was and as it is.
type EntityPair<'a> = (
    (usize, usize),
    &'a Arc<EntitySnapshot>,
    &'a Arc<EntitySnapshot>,
);

/// The entities of `kind` in `old` and in `new` side by side, with their
/// (family, entity) places, when both have the same families in the same
/// places and as many entities of `kind`; `None` otherwise.
fn entity_pairs<'a>(
    old: &'a Snapshot,
    new: &'a Snapshot,
    kind: EntityKind,
) -> Option<impl Iterator<Item = EntityPair<'a>>> {
    let aligned = old.families.len() == new.families.len()
        && old.families.iter().zip(&new.families).all(|(a, b)| {
            a.kind == b.kind && (a.kind != kind || a.entities.len() == b.entities.len())
        });
    aligned.then(|| {
        old.families
            .iter()
            .zip(&new.families)
            .enumerate()
            .filter(move |(_, (a, _))| a.kind == kind)
            .flat_map(|(f, (a, b))| {
                a.entities
                    .iter()
                    .zip(&b.entities)
                    .enumerate()
                    .map(move |(e, (x, y))| ((f, e), x, y))
            })
    })
}

/// Whether an order of `old`'s entities of `kind` holds for `new`'s: the
/// same families in the same places and, entity by entity, `same` (what the
/// order sorts by did not change).
fn orders_hold(
    old: &Snapshot,
    new: &Snapshot,
    kind: EntityKind,
    same: fn(&EntitySnapshot, &EntitySnapshot) -> bool,
) -> bool {
    entity_pairs(old, new, kind)
        .is_some_and(|mut pairs| pairs.all(|(_, x, y)| Arc::ptr_eq(x, y) || same(x, y)))
}

/// The entities of `kind` whose causes changed from `old` to `new`, as
/// (family, entity) places, when nothing else an order of their cause series
/// depends on changed: the same entities in the same places, with the same
/// labels. `None` otherwise.
fn cause_changes(old: &Snapshot, new: &Snapshot, kind: EntityKind) -> Option<Vec<(usize, usize)>> {
    let mut changed = Vec::new();
    for (place, x, y) in entity_pairs(old, new, kind)? {
        if Arc::ptr_eq(x, y) {
            continue;
        }
        if x.key != y.key || !same_labels(x, y) {
            return None;
        }
        if !same_causes(x, y) {
            changed.push(place);
        }
    }
    Some(changed)
}

/// The entity series' labels.
fn same_labels(a: &EntitySnapshot, b: &EntitySnapshot) -> bool {
    a.upness.attrs == b.upness.attrs
}

/// `provisioning.duration`'s labels.
fn same_provisioning(a: &EntitySnapshot, b: &EntitySnapshot) -> bool {
    same_labels(a, b) && a.summary.provisioning_state == b.summary.provisioning_state
}

/// `interruptions.by.cause`'s labels.
fn same_causes(a: &EntitySnapshot, b: &EntitySnapshot) -> bool {
    same_labels(a, b)
        && a.causes
            .iter()
            .map(|(c, _)| c)
            .eq(b.causes.iter().map(|(c, _)| c))
}

/// The items (what series are made of) of one family in the order /metrics
/// shows their series.
struct SeriesOrder<T> {
    /// Stable-sorted: items with the same labels keep the snapshot's order.
    sorted: Vec<T>,
    /// Where each run of items with the same labels starts, when some run
    /// is longer than one; empty when every item is a series of its own.
    run_starts: Vec<usize>,
}

impl<T> SeriesOrder<T> {
    fn new(mut items: Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) -> SeriesOrder<T> {
        items.sort_by(&cmp);
        let shared = items.windows(2).any(|w| cmp(&w[0], &w[1]).is_eq());
        let run_starts = if shared {
            (0..items.len())
                .filter(|&i| i == 0 || cmp(&items[i - 1], &items[i]).is_ne())
                .collect()
        } else {
            Vec::new()
        };
        SeriesOrder {
            sorted: items,
            run_starts,
        }
    }

    /// Like [`Self::new`], with each item's labels worked out once: a
    /// comparator that builds them builds them O(n log n) times (at 65,536
    /// nodes that sort was half the monitor's CPU under churn).
    fn by_key<'a, K: AsRef<[&'a str]>>(
        items: Vec<T>,
        key: impl Fn(&T) -> K,
        cmp: impl Fn(&[&'a str], &[&'a str]) -> Ordering,
    ) -> SeriesOrder<T> {
        let mut keyed: Vec<(K, T)> = items.into_iter().map(|t| (key(&t), t)).collect();
        // Stable, as in `new`.
        keyed.sort_by(|a, b| cmp(a.0.as_ref(), b.0.as_ref()));
        let same = |i: usize| cmp(keyed[i - 1].0.as_ref(), keyed[i].0.as_ref()).is_eq();
        let run_starts = if (1..keyed.len()).any(same) {
            (0..keyed.len()).filter(|&i| i == 0 || !same(i)).collect()
        } else {
            Vec::new()
        };
        SeriesOrder {
            sorted: keyed.into_iter().map(|(_, t)| t).collect(),
            run_starts,
        }
    }

    /// This order without the items `gone` picks and with `added` put where
    /// they sort: what [`Self::by_key`] would give for the same items, for
    /// O(added · log n) keys instead of n. `None` (sort instead) when an
    /// added item has the labels of another, or the order already has runs
    /// of such items: working out runs needs every neighbour.
    fn with_changed<'a, K: AsRef<[&'a str]>>(
        &self,
        gone: impl Fn(&T) -> bool,
        added: Vec<T>,
        key: impl Fn(&T) -> K,
        cmp: impl Fn(&[&'a str], &[&'a str]) -> Ordering,
    ) -> Option<SeriesOrder<T>>
    where
        T: Copy,
    {
        if !self.run_starts.is_empty() {
            return None;
        }
        let mut sorted: Vec<T> = self.sorted.iter().copied().filter(|t| !gone(t)).collect();
        for item in added {
            let k = key(&item);
            let at = sorted.partition_point(|probe| cmp(key(probe).as_ref(), k.as_ref()).is_lt());
            if sorted
                .get(at)
                .is_some_and(|next| cmp(key(next).as_ref(), k.as_ref()).is_eq())
            {
                return None;
            }
            sorted.insert(at, item);
        }
        Some(SeriesOrder {
            sorted,
            run_starts: Vec::new(),
        })
    }

    fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The items of each series, in order.
    fn runs(&self) -> impl Iterator<Item = &[T]> + '_ {
        let runs = if self.run_starts.is_empty() {
            self.sorted.len()
        } else {
            self.run_starts.len()
        };
        (0..runs).map(move |k| {
            if self.run_starts.is_empty() {
                &self.sorted[k..=k]
            } else {
                let start = self.run_starts[k];
                let end = self
                    .run_starts
                    .get(k + 1)
                    .copied()
                    .unwrap_or(self.sorted.len());
                &self.sorted[start..end]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_of_each_layout_are_distinct() {
        for keys in [
            &ENTITY_LABELS.map(|(key, _)| key)[..],
            &SCHEDULED_LABELS[..],
            &[EXPORTER_LABEL][..],
            &["commit", "date", "version"][..],
        ] {
            let layout = LabelLayout::new(keys, false);
            let mut names: Vec<&str> = layout.slots.iter().map(|(n, _)| n.as_str()).collect();
            let before = names.len();
            names.dedup();
            assert_eq!(names.len(), before, "{names:?}");
        }
    }

    #[test]
    fn series_order_is_by_label_count_then_values() {
        let layout = LabelLayout::new(&["b", "a"], true);
        let items = [["x", "2"], ["", "9"], ["x", "1"], ["y", ""], ["x", "1"]];
        let order = SeriesOrder::new((0..items.len()).collect(), |&i, &j| {
            layout.cmp(&items[i], &items[j])
        });
        // ["", "9"] and ["y", ""] have 3 labels (a or b, and the scope's);
        // the others 4, ordered by a's value, then b's.
        let runs: Vec<Vec<usize>> = order.runs().map(<[usize]>::to_vec).collect();
        assert_eq!(runs, [vec![1], vec![3], vec![2, 4], vec![0]]);
    }

    #[test]
    fn an_order_with_items_changed_is_the_order_sorted_again() {
        let layout = LabelLayout::new(&["b", "a"], true);
        // Distinct labels, some with a label missing (fewer labels sort first).
        let labels: Vec<[String; 2]> = (0..200)
            .map(|i| {
                let b = if i % 7 == 0 {
                    String::new()
                } else {
                    format!("b{}", i % 13)
                };
                [b, format!("a{i:03}")]
            })
            .collect();
        let key = |&i: &usize| [labels[i][0].as_str(), labels[i][1].as_str()];
        let cmp = |a: &[&str], b: &[&str]| layout.cmp(a, b);
        // A small generator, so that the test is the same every run.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..200 {
            let mut present: Vec<usize> = (0..200).filter(|_| next(3) > 0).collect();
            let order = SeriesOrder::by_key(present.clone(), key, cmp);
            let gone: Vec<usize> = (0..next(8)).map(|_| present[next(present.len())]).collect();
            present.retain(|i| !gone.contains(i));
            let added: Vec<usize> = (0..200)
                .filter(|i| !present.contains(i) && next(20) == 0)
                .collect();
            present.extend(&added);
            let changed = order
                .with_changed(|i| gone.contains(i), added, key, cmp)
                .expect("distinct labels: no runs");
            let sorted = SeriesOrder::by_key(present, key, cmp);
            assert_eq!(changed.sorted, sorted.sorted);
            assert!(changed.run_starts.is_empty());
        }
        // An added item with another's labels makes a run: sort instead.
        let same = [["x", "1"], ["y", "2"], ["x", "1"]];
        let key = |&i: &usize| same[i];
        let order = SeriesOrder::by_key(vec![0, 1], key, cmp);
        assert!(order.with_changed(|_| false, vec![2], key, cmp).is_none());
        let order = SeriesOrder::by_key(vec![0, 1, 2], key, cmp);
        assert!(order.with_changed(|&i| i == 1, vec![], key, cmp).is_none());
    }
}
