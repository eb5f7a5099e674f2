//! The instruments of SPEC §4: one table of names, help texts, units and
//! readings that both /metrics ([`crate::exposition`]) and the OTLP push use,
//! and their registration on an OpenTelemetry meter for the push. There the
//! gauges are observable: their callbacks read the frame (prepared snapshot)
//! in a [`FrameSlot`], so a collection shows exactly the entities of that
//! snapshot and nothing older.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use megamon_core::{EntityKind, EntitySnapshot, Snapshot};
use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableGauge};
use opentelemetry::{Key, KeyValue};

use crate::labels::{
    BuildInfo, EXPORTER_LABEL, TIME_BETWEEN_INTERRUPTIONS_LABELS, TIME_TO_RECOVER_LABELS,
    attributes, cause_attributes, entity_attributes, provisioning_attributes, scheduled_attributes,
};

/// Buckets of `aggregation.duration`, in seconds (SPEC §4).
pub const AGGREGATION_DURATION_BUCKETS: [f64; 11] =
    [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

/// A snapshot with its labels built once, at publish time, instead of on
/// every collection of every instrument.
#[derive(Debug)]
pub(crate) struct Frame {
    snapshot: Arc<Snapshot>,
    /// Per family of `snapshot`, per entity: its labels (same indices).
    entity_attributes: Vec<Vec<Vec<KeyValue>>>,
    scheduled: Vec<Vec<KeyValue>>,
}

impl Frame {
    pub(crate) fn new(snapshot: Arc<Snapshot>) -> Frame {
        let entity_attributes = snapshot
            .families
            .iter()
            .map(|f| {
                f.entities
                    .iter()
                    .map(|e| entity_attributes(&e.upness.attrs))
                    .collect()
            })
            .collect();
        let scheduled = snapshot
            .scheduling
            .iter()
            .map(|(pool, job)| scheduled_attributes(pool, job))
            .collect();
        Frame {
            snapshot,
            entity_attributes,
            scheduled,
        }
    }

    /// The entities of `kind` with their labels; none when the family is absent.
    fn entities(
        &self,
        kind: EntityKind,
    ) -> impl Iterator<Item = (&EntitySnapshot, &[KeyValue])> + '_ {
        self.snapshot
            .families
            .iter()
            .zip(&self.entity_attributes)
            .filter(move |(family, _)| family.kind == kind)
            .flat_map(|(family, attrs)| family.entities.iter().zip(attrs.iter().map(Vec::as_slice)))
    }
}

/// The frame a set of instruments reports.
#[derive(Debug, Default)]
pub(crate) struct FrameSlot(RwLock<Option<Arc<Frame>>>);

impl FrameSlot {
    pub(crate) fn get(&self) -> Option<Arc<Frame>> {
        // A poisoned lock still holds a whole `Arc`: nothing half-written.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set(&self, frame: Option<Arc<Frame>>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = frame;
    }
}

/// How a per-entity gauge reads its value.
#[derive(Clone, Copy)]
pub(crate) enum Reading {
    /// An integer gauge without unit.
    Count(fn(&EntitySnapshot) -> u64),
    /// A float gauge in seconds.
    Seconds(fn(&EntitySnapshot) -> Duration),
}

#[derive(Clone, Copy)]
pub(crate) struct EntityGauge {
    /// Appended to `<prefix>.<family>.`.
    name: &'static str,
    /// `{e}` is replaced by what the family's entities are.
    help: &'static str,
    reading: Reading,
    /// Emitted only when non-zero (SPEC §4).
    only_non_zero: bool,
}

impl EntityGauge {
    /// `<prefix>.<family>.<name>`, e.g. `megamon.jobset.up.time`.
    pub(crate) fn name(&self, prefix: &str, kind: EntityKind) -> String {
        format!("{prefix}.{}.{}", kind.metric_family(), self.name)
    }

    pub(crate) fn help(&self, kind: EntityKind) -> String {
        self.help.replace("{e}", entity_noun(kind))
    }

    pub(crate) fn unit(&self) -> &'static str {
        match self.reading {
            Reading::Count(_) => "",
            Reading::Seconds(_) => SECONDS,
        }
    }

    /// What /metrics shows for `entity`, the value the SDK would report as a
    /// float; `None` when the gauge leaves it out (zero, only-non-zero).
    pub(crate) fn value(&self, entity: &EntitySnapshot) -> Option<f64> {
        match self.reading {
            Reading::Count(read) => {
                let value = read(entity);
                (!(self.only_non_zero && value == 0)).then(|| saturating_i64(value) as f64)
            }
            Reading::Seconds(read) => {
                let value = read(entity);
                (!(self.only_non_zero && value.is_zero())).then_some(value.as_secs_f64())
            }
        }
    }
}

/// The unit of every duration instrument.
const SECONDS: &str = "s";

/// An instrument that is not per entity (or, for a histogram, per family).
pub(crate) struct InstrumentSpec {
    /// Appended to `<prefix>.`.
    pub(crate) name: Cow<'static, str>,
    pub(crate) help: Cow<'static, str>,
    pub(crate) unit: &'static str,
}

impl InstrumentSpec {
    pub(crate) fn name(&self, prefix: &str) -> String {
        format!("{prefix}.{}", self.name)
    }
}

/// A gauge: 1 per (pool, job) of the snapshot's scheduling.
pub(crate) const NODEPOOL_JOB_SCHEDULED: InstrumentSpec = InstrumentSpec {
    name: Cow::Borrowed("nodepool.job.scheduled"),
    help: Cow::Borrowed("1 for each TPU node pool running the leader pod of a JobSet's job."),
    unit: "",
};

/// A gauge: 1 on the replica that leads, 0 on a standby.
pub(crate) const LEADER: InstrumentSpec = InstrumentSpec {
    name: Cow::Borrowed("leader"),
    help: Cow::Borrowed(
        "1 on the replica that leads (publishes the entity series, writes history and reports), 0 on a standby.",
    ),
    unit: "",
};

/// A gauge, always 1, labelled with [`BuildInfo::labels`].
pub(crate) const BUILD_INFO: InstrumentSpec = InstrumentSpec {
    name: Cow::Borrowed("build.info"),
    help: Cow::Borrowed("MegaMon's version, git commit and build date; always 1."),
    unit: "",
};

/// Buckets of the latency histograms (`gcs.latency`, `gke.latency`), in
/// seconds: from a local disk's milliseconds to a struggling bucket's tens
/// of seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A histogram the monitor records: how it is named, its buckets and its
/// label keys (sorted).
pub(crate) struct HistogramSpec {
    pub(crate) spec: InstrumentSpec,
    pub(crate) buckets: &'static [f64],
    pub(crate) labels: &'static [&'static str],
}

/// Which histogram of [`HISTOGRAMS`] (its index): three of the process,
/// then two per entity family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HistogramId(usize);

impl HistogramId {
    pub(crate) const AGGREGATION_DURATION: HistogramId = HistogramId(0);
    pub(crate) const STORE_LATENCY: HistogramId = HistogramId(1);
    pub(crate) const GKE_LATENCY: HistogramId = HistogramId(2);
    const FIRST_FAMILY: usize = 3;

    /// `<prefix>.<family>.time.to.recover`.
    pub(crate) fn time_to_recover(kind: EntityKind) -> HistogramId {
        HistogramId(Self::FIRST_FAMILY + 2 * kind_index(kind))
    }

    /// `<prefix>.<family>.time.between.interruptions`.
    pub(crate) fn time_between_interruptions(kind: EntityKind) -> HistogramId {
        HistogramId(Self::FIRST_FAMILY + 2 * kind_index(kind) + 1)
    }

    /// Whether this is one of a family's (time to recover, between
    /// interruptions): like the entity series, only the leader shows them.
    pub(crate) fn is_per_family(self) -> bool {
        self.0 >= Self::FIRST_FAMILY
    }

    pub(crate) fn all() -> impl Iterator<Item = HistogramId> {
        (0..HISTOGRAMS.len()).map(HistogramId)
    }

    pub(crate) fn index(self) -> usize {
        self.0
    }

    pub(crate) fn spec(self) -> &'static HistogramSpec {
        &HISTOGRAMS[self.0]
    }
}

fn kind_index(kind: EntityKind) -> usize {
    EntityKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default()
}

/// The label key of `gcs.latency`: the store call (`read`, `write`).
pub(crate) const OPERATION_LABEL: &str = "operation";

/// Buckets of `time.to.recover` and `time.between.interruptions`, in
/// seconds: 1 s to 1 week, about ×2–×3 apart (a node reboot takes minutes,
/// a repair hours, a slow re-provisioning days).
pub const EPISODE_BUCKETS: [f64; 19] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
    28800.0, 43200.0, 86400.0, 172800.0, 345600.0, 604800.0,
];

/// Every histogram, in [`HistogramId`] order.
pub(crate) static HISTOGRAMS: LazyLock<Vec<HistogramSpec>> = LazyLock::new(|| {
    let mut all = vec![
        HistogramSpec {
            spec: InstrumentSpec {
                name: Cow::Borrowed("aggregation.duration"),
                help: Cow::Borrowed("Time one aggregation took."),
                unit: SECONDS,
            },
            buckets: &AGGREGATION_DURATION_BUCKETS,
            labels: &[],
        },
        // Upstream's name: it only had Cloud Storage; ours covers every backend.
        HistogramSpec {
            spec: InstrumentSpec {
                name: Cow::Borrowed("gcs.latency"),
                help: Cow::Borrowed(
                    "Time each call to the history store took, by operation (read, write), whatever the backend.",
                ),
                unit: SECONDS,
            },
            buckets: &LATENCY_BUCKETS,
            labels: &[OPERATION_LABEL],
        },
        HistogramSpec {
            spec: InstrumentSpec {
                name: Cow::Borrowed("gke.latency"),
                help: Cow::Borrowed("Time each call to the GKE API (node pools) took."),
                unit: SECONDS,
            },
            buckets: &LATENCY_BUCKETS,
            labels: &[],
        },
    ];
    for kind in EntityKind::ALL {
        let family = kind.metric_family();
        let noun = entity_noun(kind);
        all.push(HistogramSpec {
            spec: InstrumentSpec {
                name: format!("{family}.time.to.recover").into(),
                help: format!(
                    "Time to recover of each {noun} recovery, observed when it recovers: the down time that ended."
                )
                .into(),
                unit: SECONDS,
            },
            buckets: &EPISODE_BUCKETS,
            labels: &TIME_TO_RECOVER_LABELS,
        });
        all.push(HistogramSpec {
            spec: InstrumentSpec {
                name: format!("{family}.time.between.interruptions").into(),
                help: format!(
                    "Time between interruptions of each {noun} interruption, observed when it is interrupted: the up time that ended, by cause."
                )
                .into(),
                unit: SECONDS,
            },
            buckets: &EPISODE_BUCKETS,
            labels: &TIME_BETWEEN_INTERRUPTIONS_LABELS,
        });
    }
    all
});

/// A counter by exporter.
pub(crate) const EXPORT_ERRORS: InstrumentSpec = InstrumentSpec {
    name: Cow::Borrowed("export.errors"),
    help: Cow::Borrowed(
        "Reports an exporter failed to deliver (e.g. too large for a ConfigMap), by exporter.",
    ),
    unit: "",
};

/// A gauge by source: how old its data is while it cannot be read.
pub(crate) const SOURCE_STALE: InstrumentSpec = InstrumentSpec {
    name: Cow::Borrowed("source.stale"),
    help: Cow::Borrowed(
        "How long a source (a watched resource, the GKE API) has failed to list or watch: its last good data, still served, is at least this old; 0 while it is current.",
    ),
    unit: SECONDS,
};

/// The label key of `source.stale`.
pub(crate) const SOURCE_LABEL: &str = "source";

/// `<prefix>.<family>.provisioning.duration` (upstream v1.2.0): labelled
/// with the entity's labels and its provisioning state.
pub(crate) const PROVISIONING_DURATION: EntityGauge = EntityGauge {
    name: "provisioning.duration",
    help: "Time the {e} took to come up the first time (provisioning_state=success), to fail before ever being up (failed), or has spent coming up so far (provisioning).",
    reading: Reading::Seconds(|e| e.summary.provisioning_duration),
    only_non_zero: false,
};

/// `<prefix>.<family>.interruptions.by.cause` **[ours]**: labelled with the
/// entity's labels and a cause, for the causes that occurred; summed over
/// causes they equal `interruption.count`.
pub(crate) const INTERRUPTIONS_BY_CAUSE: EntityGauge = EntityGauge {
    name: "interruptions.by.cause",
    help: "Number of interruptions of the {e} by cause (only causes that occurred; they add up to interruption.count).",
    reading: Reading::Count(|e| e.summary.interruption_count),
    only_non_zero: true,
};

pub(crate) const ENTITY_GAUGES: [EntityGauge; 13] = [
    EntityGauge {
        name: "up",
        help: "1 if the {e} is up, 0 if it is down.",
        reading: Reading::Count(|e| u64::from(e.up)),
        only_non_zero: false,
    },
    EntityGauge {
        name: "up.time",
        help: "Total time the {e} has been up.",
        reading: Reading::Seconds(|e| e.summary.up_time),
        only_non_zero: false,
    },
    EntityGauge {
        name: "down.time",
        help: "Total time the {e} has been down, including the time to first up.",
        reading: Reading::Seconds(|e| e.summary.down_time),
        only_non_zero: false,
    },
    EntityGauge {
        name: "interruption.count",
        help: "Number of unplanned downs of the {e} after it was up (interruptions).",
        reading: Reading::Count(|e| e.summary.interruption_count),
        only_non_zero: false,
    },
    EntityGauge {
        name: "recovery.count",
        help: "Number of times the {e} came back up after an interruption (recoveries).",
        reading: Reading::Count(|e| e.summary.recovery_count),
        only_non_zero: false,
    },
    EntityGauge {
        name: "down.time.initial",
        help: "Time from first sight of the {e} to its first up (time to provision).",
        reading: Reading::Seconds(|e| e.summary.down_time_provisioned),
        only_non_zero: true,
    },
    EntityGauge {
        name: "down.time.between.recovery",
        help: "Total down time of the {e} that ended in a recovery.",
        reading: Reading::Seconds(|e| e.summary.total_down_time_between_recovery),
        only_non_zero: true,
    },
    EntityGauge {
        name: "down.time.between.recovery.mean",
        help: "Mean time to recover (MTTR) of the {e}.",
        reading: Reading::Seconds(|e| e.summary.mean_down_time_between_recovery),
        only_non_zero: true,
    },
    EntityGauge {
        name: "down.time.between.recovery.latest",
        help: "Down time of the {e} before its latest recovery.",
        reading: Reading::Seconds(|e| e.summary.latest_down_time_between_recovery),
        only_non_zero: true,
    },
    EntityGauge {
        name: "up.time.between.interruption",
        help: "Total up time of the {e} that ended in an interruption.",
        reading: Reading::Seconds(|e| e.summary.total_up_time_between_interruption),
        only_non_zero: true,
    },
    EntityGauge {
        name: "up.time.between.interruption.mean",
        help: "Mean time between interruptions (MTBI) of the {e}.",
        reading: Reading::Seconds(|e| e.summary.mean_up_time_between_interruption),
        only_non_zero: true,
    },
    EntityGauge {
        name: "up.time.between.interruption.latest",
        help: "Up time of the {e} before its latest interruption.",
        reading: Reading::Seconds(|e| e.summary.latest_up_time_between_interruption),
        only_non_zero: true,
    },
    EntityGauge {
        name: "tpu.chip.count",
        help: "Number of TPU chips of the {e}.",
        reading: Reading::Count(|e| e.upness.attrs.tpu_chip_count),
        only_non_zero: true,
    },
];

fn entity_noun(kind: EntityKind) -> &'static str {
    kind.names().noun
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Instruments registered on one meter. The gauges live as long as this does.
pub(crate) struct Instruments {
    _int_gauges: Vec<ObservableGauge<i64>>,
    _float_gauges: Vec<ObservableGauge<f64>>,
    /// Same order as [`HISTOGRAMS`].
    histograms: Vec<Histogram<f64>>,
    export_errors: Counter<u64>,
}

impl Instruments {
    /// Registers every instrument of SPEC §4 named under `prefix`; gauges
    /// report the frame in `slot` at the time of each collection.
    pub(crate) fn register(
        meter: &Meter,
        prefix: &str,
        build: &BuildInfo,
        slot: &Arc<FrameSlot>,
        leader: &Arc<AtomicBool>,
        sources: &Arc<crate::recorded::SourceHealth>,
    ) -> Instruments {
        let mut int_gauges = Vec::new();
        let mut float_gauges = Vec::new();
        for kind in EntityKind::ALL {
            for gauge in ENTITY_GAUGES {
                let name = gauge.name(prefix, kind);
                let help = gauge.help(kind);
                let slot = Arc::clone(slot);
                let only_non_zero = gauge.only_non_zero;
                match gauge.reading {
                    Reading::Count(read) => int_gauges.push(
                        meter
                            .i64_observable_gauge(name)
                            .with_description(help)
                            .with_callback(move |observer| {
                                let Some(frame) = slot.get() else { return };
                                for (entity, attrs) in frame.entities(kind) {
                                    let value = read(entity);
                                    if !(only_non_zero && value == 0) {
                                        observer.observe(saturating_i64(value), attrs);
                                    }
                                }
                            })
                            .build(),
                    ),
                    Reading::Seconds(read) => float_gauges.push(
                        meter
                            .f64_observable_gauge(name)
                            .with_description(help)
                            .with_unit(gauge.unit())
                            .with_callback(move |observer| {
                                let Some(frame) = slot.get() else { return };
                                for (entity, attrs) in frame.entities(kind) {
                                    let value = read(entity);
                                    if !(only_non_zero && value.is_zero()) {
                                        observer.observe(value.as_secs_f64(), attrs);
                                    }
                                }
                            })
                            .build(),
                    ),
                }
            }
            let provisioning_slot = Arc::clone(slot);
            float_gauges.push(
                meter
                    .f64_observable_gauge(PROVISIONING_DURATION.name(prefix, kind))
                    .with_description(PROVISIONING_DURATION.help(kind))
                    .with_unit(SECONDS)
                    .with_callback(move |observer| {
                        let Some(frame) = provisioning_slot.get() else {
                            return;
                        };
                        for (entity, _) in frame.entities(kind) {
                            let state = entity.summary.provisioning_state.as_str();
                            observer.observe(
                                entity.summary.provisioning_duration.as_secs_f64(),
                                &provisioning_attributes(&entity.upness.attrs, state),
                            );
                        }
                    })
                    .build(),
            );
        }

        for kind in EntityKind::ALL {
            let causes_slot = Arc::clone(slot);
            int_gauges.push(
                meter
                    .i64_observable_gauge(INTERRUPTIONS_BY_CAUSE.name(prefix, kind))
                    .with_description(INTERRUPTIONS_BY_CAUSE.help(kind))
                    .with_callback(move |observer| {
                        let Some(frame) = causes_slot.get() else {
                            return;
                        };
                        for (entity, _) in frame.entities(kind) {
                            for (cause, n) in entity.causes.iter() {
                                observer.observe(
                                    saturating_i64(n),
                                    &cause_attributes(&entity.upness.attrs, cause.as_str()),
                                );
                            }
                        }
                    })
                    .build(),
            );
        }

        let scheduled_slot = Arc::clone(slot);
        int_gauges.push(
            meter
                .i64_observable_gauge(NODEPOOL_JOB_SCHEDULED.name(prefix))
                .with_description(NODEPOOL_JOB_SCHEDULED.help)
                .with_unit(NODEPOOL_JOB_SCHEDULED.unit)
                .with_callback(move |observer| {
                    let Some(frame) = scheduled_slot.get() else {
                        return;
                    };
                    for attrs in &frame.scheduled {
                        observer.observe(1, attrs);
                    }
                })
                .build(),
        );

        let leading = Arc::clone(leader);
        int_gauges.push(
            meter
                .i64_observable_gauge(LEADER.name(prefix))
                .with_description(LEADER.help)
                .with_unit(LEADER.unit)
                .with_callback(move |observer| {
                    observer.observe(i64::from(leading.load(Ordering::Acquire)), &[])
                })
                .build(),
        );

        let stale = Arc::clone(sources);
        float_gauges.push(
            meter
                .f64_observable_gauge(SOURCE_STALE.name(prefix))
                .with_description(SOURCE_STALE.help)
                .with_unit(SOURCE_STALE.unit)
                .with_callback(move |observer| {
                    for (source, seconds) in stale.ages(std::time::SystemTime::now()) {
                        observer.observe(
                            seconds,
                            &[KeyValue::new(Key::from_static_str(SOURCE_LABEL), source)],
                        );
                    }
                })
                .build(),
        );

        let build_attributes = build.attributes();
        int_gauges.push(
            meter
                .i64_observable_gauge(BUILD_INFO.name(prefix))
                .with_description(BUILD_INFO.help)
                .with_unit(BUILD_INFO.unit)
                .with_callback(move |observer| observer.observe(1, &build_attributes))
                .build(),
        );

        let histograms = HISTOGRAMS
            .iter()
            .map(|h| {
                meter
                    .f64_histogram(h.spec.name(prefix))
                    .with_description(h.spec.help.clone())
                    .with_unit(h.spec.unit)
                    .with_boundaries(h.buckets.to_vec())
                    .build()
            })
            .collect();

        let export_errors = meter
            .u64_counter(EXPORT_ERRORS.name(prefix))
            .with_description(EXPORT_ERRORS.help)
            .with_unit(EXPORT_ERRORS.unit)
            .build();

        Instruments {
            _int_gauges: int_gauges,
            _float_gauges: float_gauges,
            histograms,
            export_errors,
        }
    }

    pub(crate) fn record_export_error(&self, exporter: &str) {
        self.export_errors.add(
            1,
            &[KeyValue::new(
                Key::from_static_str(EXPORTER_LABEL),
                exporter.to_string(),
            )],
        );
    }

    /// Records `seconds` in histogram `id` under `labels` (its keys' order).
    pub(crate) fn record(&self, id: HistogramId, labels: &[&str], seconds: f64) {
        let attributes = attributes(id.spec().labels, labels);
        if let Some(h) = self.histograms.get(id.index()) {
            h.record(seconds, &attributes);
        }
    }
}
