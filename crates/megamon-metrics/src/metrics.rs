//! [`Metrics`]: the published snapshot that /metrics renders directly, and
//! the optional OTLP push pipeline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use megamon_core::cause::Cause;
use megamon_core::{Attrs, EntityKind, Episode, Snapshot};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{Instrument, PeriodicReader, SdkMeterProvider, Stream};

use crate::error::MetricsError;
use crate::exposition::{Exposition, Published};
use crate::instruments::{Frame, FrameSlot, HistogramId, Instruments};
use crate::labels::{BuildInfo, episode_label_values};
use crate::recorded::Recorded;

/// The instrumentation scope of every instrument: `otel_scope_name="megamon"`,
/// no version (`otel_scope_version=""`), as the original.
pub const SCOPE_NAME: &str = "megamon";

/// Most series one instrument keeps per OTLP push. The SDK's default (2000)
/// would fold a fleet of more JobSets into one overflow series; the SDK sizes
/// a table for this many per instrument up front (its pages become resident
/// as series land in it), so it is not unlimited. /metrics has no such
/// limit and no such table.
pub const SERIES_LIMIT_PER_INSTRUMENT: usize = 100_000;

/// How metrics are named and where else they go.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    /// `MetricsPrefix` (SPEC §5), e.g. `megamon`; dots allowed.
    pub prefix: String,
    pub build: BuildInfo,
    /// Push over OTLP gRPC as well, when set.
    pub otlp: Option<OtlpOptions>,
}

/// OTLP gRPC push of the same instruments (dotted names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpOptions {
    /// A gRPC endpoint, e.g. `http://collector:4317`.
    pub endpoint: String,
    /// How often to push; the monitor uses its aggregation interval.
    pub interval: Duration,
}

impl OtlpOptions {
    /// The environment variable naming the OTLP endpoint.
    pub const ENDPOINT_ENV: &'static str = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// Push to `OTEL_EXPORTER_OTLP_ENDPOINT` every `interval`, when that is set
    /// and not empty.
    pub fn from_env(interval: Duration) -> Option<OtlpOptions> {
        let endpoint = std::env::var(Self::ENDPOINT_ENV).ok()?;
        let endpoint = endpoint.trim();
        (!endpoint.is_empty()).then(|| OtlpOptions {
            endpoint: endpoint.to_string(),
            interval,
        })
    }
}

/// MegaMon's metrics (SPEC §4). Publish each new snapshot; scrapes and pushes
/// then report exactly the entities of the latest one.
///
/// With OTLP, [`Metrics::shutdown`] and dropping the value wait for the final
/// push (bounded by the exporter's timeout) and need the Tokio runtime's
/// other workers to drive the gRPC channel: call them from a blocking context
/// (`spawn_blocking`) on a multi-thread runtime.
pub struct Metrics {
    /// What /metrics shows; swapped whole, so a scrape sees one snapshot.
    latest: RwLock<Option<Arc<Published>>>,
    ready: AtomicBool,
    /// Whether this replica leads: only then are entity series shown.
    leader: Arc<AtomicBool>,
    exposition: Exposition,
    recorded: Recorded,
    otlp: Option<OtlpPipeline>,
}

struct OtlpPipeline {
    endpoint: String,
    provider: SdkMeterProvider,
    instruments: Instruments,
    /// What the push's gauges report: the latest snapshot at its time.
    latest: Arc<FrameSlot>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("ready", &self.ready())
            .field("otlp", &self.otlp.as_ref().map(|o| &o.endpoint))
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Sets up the instruments. With OTLP, this must run inside a Tokio
    /// runtime (the gRPC channel's worker is spawned on it).
    pub fn new(options: MetricsOptions) -> Result<Metrics, MetricsError> {
        validate_prefix(&options.prefix)?;
        let resource = resource();
        let exposition = Exposition::new(&options.prefix, &options.build, &resource);
        let leader = Arc::new(AtomicBool::new(true));
        let recorded = Recorded::default();
        let otlp = match &options.otlp {
            None => None,
            Some(otlp) => Some(OtlpPipeline::new(
                otlp,
                resource,
                &options,
                &leader,
                &recorded.sources,
            )?),
        };
        Ok(Metrics {
            latest: RwLock::new(None),
            ready: AtomicBool::new(false),
            leader,
            exposition,
            recorded,
            otlp,
        })
    }

    /// Makes `snapshot` what metrics report from now on. Entities absent from
    /// it have no series any more. Cost: sorting its series for /metrics,
    /// O(n log n) in its entities; with OTLP also building their
    /// attributes, O(entities).
    pub fn publish(&self, snapshot: Arc<Snapshot>) {
        if let Some(otlp) = &self.otlp
            && self.is_leader()
        {
            otlp.latest
                .set(Some(Arc::new(Frame::new(Arc::clone(&snapshot)))));
        }
        if self.is_leader() {
            self.ensure_time_to_recover(&snapshot);
        }
        let published = Arc::new(self.exposition.prepare(snapshot));
        // A poisoned lock still holds a whole `Arc`: nothing half-written.
        *self.latest.write().unwrap_or_else(|e| e.into_inner()) = Some(published);
        self.ready.store(true, Ordering::Release);
    }

    /// /metrics shows a `time.to.recover` series at zero for the labels of
    /// every current entity before its first recovery: Prometheus' rate()
    /// and increase() see a series' first sample as its start, so a series
    /// born with its first recovery would never count that one. (The OTLP
    /// push cannot do this: the SDK has no empty points.)
    fn ensure_time_to_recover(&self, snapshot: &Snapshot) {
        for family in &snapshot.families {
            let label_sets: std::collections::BTreeSet<[&str; 3]> = family
                .entities
                .iter()
                .map(|e| episode_label_values(&e.upness.attrs))
                .collect();
            for labels in label_sets {
                self.recorded
                    .ensure(HistogramId::time_to_recover(family.kind), &labels);
            }
        }
    }

    /// Records how long one aggregation took (`<prefix>.aggregation.duration`).
    pub fn record_aggregation_duration(&self, duration: Duration) {
        self.record(HistogramId::AGGREGATION_DURATION, &[], duration);
    }

    /// Records how long a history store call took (`<prefix>.gcs.latency`,
    /// by `operation`: `read` or `write`), whatever the backend.
    pub fn record_store_latency(&self, operation: &str, duration: Duration) {
        self.record(HistogramId::STORE_LATENCY, &[operation], duration);
    }

    /// Records how long a GKE API call took (`<prefix>.gke.latency`).
    pub fn record_gke_latency(&self, duration: Duration) {
        self.record(HistogramId::GKE_LATENCY, &[], duration);
    }

    /// Records an interruption (in `<prefix>.<family>.time.between.interruptions`:
    /// the up time it ended, by cause) or a recovery (in
    /// `<prefix>.<family>.time.to.recover`: the down time it ended) of an
    /// entity of `kind` labelled `attrs`.
    pub fn record_episode(&self, kind: EntityKind, episode: &Episode, attrs: &Attrs) {
        let [spot, accelerator, topology] = episode_label_values(attrs);
        match episode {
            Episode::Recovery { down_run, .. } => self.record(
                HistogramId::time_to_recover(kind),
                &[spot, accelerator, topology],
                *down_run,
            ),
            Episode::Interruption { up_run, cause, .. } => {
                let cause = cause.unwrap_or(Cause::Unknown).as_str();
                self.record(
                    HistogramId::time_between_interruptions(kind),
                    &[cause, spot, accelerator, topology],
                    *up_run,
                )
            }
        }
    }

    fn record(&self, id: HistogramId, labels: &[&str], duration: Duration) {
        let seconds = duration.as_secs_f64();
        self.recorded.record(id, labels, seconds);
        if let Some(otlp) = &self.otlp {
            otlp.instruments.record(id, labels, seconds);
        }
    }

    /// Counts a report an exporter could not deliver (`exporter`: `configmap`, `stdout`).
    pub fn record_export_error(&self, exporter: &str) {
        self.recorded.record_export_error(exporter);
        if let Some(otlp) = &self.otlp {
            otlp.instruments.record_export_error(exporter);
        }
    }

    /// `source` (a watched resource, the GKE API) listed or watched fine:
    /// `<prefix>.source.stale{source}` is 0.
    pub fn source_current(&self, source: &str) {
        self.recorded.sources.current(source);
    }

    /// `source` failed: its last good data, still served, ages from now (or
    /// from its first failure since it was last current).
    pub fn source_failing(&self, source: &str) {
        self.recorded
            .sources
            .failing(source, std::time::SystemTime::now());
    }

    /// Whether this replica leads (`<prefix>.leader`). A standby's metrics
    /// carry no entity series, so that `sum()` over replicas never counts an
    /// entity twice; until told otherwise, a replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Release);
        if let Some(otlp) = &self.otlp
            && !leader
        {
            otlp.latest.set(None);
        }
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// Whether a snapshot has been published (/metrics answers 503 until then).
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The Prometheus text exposition (format 0.0.4) of the latest snapshot.
    /// It cannot fail any more; the `Result` keeps the API.
    pub fn render_prometheus(&self) -> Result<String, MetricsError> {
        let published = self
            .latest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(self
            .exposition
            .render(published.as_deref(), &self.recorded, self.is_leader()))
    }

    /// Pushes what is pending over OTLP now and stops pushing. Call it before
    /// exiting; without OTLP it does nothing.
    pub fn shutdown(&self) -> Result<(), MetricsError> {
        if let Some(otlp) = &self.otlp {
            otlp.provider
                .shutdown()
                .map_err(|source| MetricsError::OtlpShutdown {
                    endpoint: otlp.endpoint.clone(),
                    source,
                })?;
        }
        Ok(())
    }
}

impl OtlpPipeline {
    fn new(
        options: &OtlpOptions,
        resource: Resource,
        metrics: &MetricsOptions,
        leader: &Arc<AtomicBool>,
        sources: &Arc<crate::recorded::SourceHealth>,
    ) -> Result<OtlpPipeline, MetricsError> {
        let endpoint = options.endpoint.clone();
        if options.interval.is_zero() {
            return Err(MetricsError::OtlpInterval {
                interval: options.interval,
            });
        }
        // tonic's lazy channel spawns its worker on the current runtime and
        // would panic without one.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MetricsError::OtlpNeedsRuntime { endpoint });
        }
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|source| MetricsError::OtlpExporter {
                endpoint: endpoint.clone(),
                source,
            })?;
        let reader = PeriodicReader::builder(exporter)
            .with_interval(options.interval)
            .build();
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(reader)
            .with_view(series_limit)
            .build();
        let latest = Arc::new(FrameSlot::default());
        let instruments = Instruments::register(
            &provider.meter(SCOPE_NAME),
            &metrics.prefix,
            &metrics.build,
            &latest,
            leader,
            sources,
        );
        Ok(OtlpPipeline {
            endpoint,
            provider,
            instruments,
            latest,
        })
    }
}

/// `service.name` is `megamon` unless `OTEL_SERVICE_NAME` says otherwise; the
/// SDK adds its own `telemetry.sdk.*` attributes. /metrics shows these as
/// `target_info`, like the Go exporter did.
pub(crate) fn resource() -> Resource {
    let builder = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder.build()
    } else {
        builder.with_service_name(SCOPE_NAME).build()
    }
}

fn series_limit(_: &Instrument) -> Option<Stream> {
    Stream::builder()
        .with_cardinality_limit(SERIES_LIMIT_PER_INSTRUMENT)
        .build()
        .ok()
}

/// The SDK's instrument-name rules (first an ASCII letter, then letters,
/// digits, `_ . - /`, at most 255 in all) applied to the prefix, so a bad
/// `MetricsPrefix` fails at start-up instead of silently dropping instruments.
fn validate_prefix(prefix: &str) -> Result<(), MetricsError> {
    let invalid = |reason| {
        Err(MetricsError::InvalidPrefix {
            prefix: prefix.to_string(),
            reason,
        })
    };
    // The longest name: `<prefix>.leaderworkerset.up.time.between.interruption.latest`.
    const LONGEST_SUFFIX: usize = ".leaderworkerset.up.time.between.interruption.latest".len();
    if prefix.is_empty() {
        return invalid("it is empty");
    }
    if !prefix.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return invalid("it must start with an ASCII letter");
    }
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    {
        return invalid("only ASCII letters, digits, '_', '.', '-' and '/' are allowed");
    }
    if prefix.ends_with('.') {
        return invalid("it must not end with '.'");
    }
    if prefix.len() + LONGEST_SUFFIX > 255 {
        return invalid("it is too long: metric names must stay within 255 characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for ok in ["megamon", "mega.mon", "a_b-c/d", "m2"] {
            assert!(validate_prefix(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1x", ".x", "x.", "x y", "mégamon", &"a".repeat(250)] {
            let err = validate_prefix(bad).unwrap_err().to_string();
            assert!(err.contains("MetricsPrefix"), "{err}");
        }
    }
}
