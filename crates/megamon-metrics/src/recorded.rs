//! What the monitor records besides snapshots, kept for /metrics: the
//! histograms of [`HISTOGRAMS`] (aggregation duration, store and GKE call
//! latency) and reports an exporter could not deliver (`export.errors`).
//! Cumulative, like the SDK's pull reader.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::instruments::{HISTOGRAMS, HistogramId};

/// Every histogram, `export.errors` since start-up and the sources' health.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub(crate) sources: std::sync::Arc<SourceHealth>,
    /// Per histogram of [`HISTOGRAMS`] (same index): per label values.
    histograms: Vec<Mutex<BTreeMap<Vec<String>, Histogram>>>,
    /// Count per exporter.
    export_errors: Mutex<BTreeMap<String, u64>>,
}

impl Default for Recorded {
    fn default() -> Self {
        Recorded {
            sources: Default::default(),
            histograms: HISTOGRAMS.iter().map(|_| Mutex::default()).collect(),
            export_errors: Mutex::default(),
        }
    }
}

impl Recorded {
    /// Records `seconds` in histogram `id` under `labels` (its label keys' order).
    pub(crate) fn record(&self, id: HistogramId, labels: &[&str], seconds: f64) {
        let Some(slot) = self.histograms.get(id.index()) else {
            return;
        };
        let spec = id.spec();
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        lock(slot)
            .entry(key)
            .or_insert_with(|| Histogram::new(spec.buckets))
            .record(spec.buckets, seconds);
    }

    /// Makes histogram `id` have a series for `labels`, at zero if it has
    /// none yet.
    pub(crate) fn ensure(&self, id: HistogramId, labels: &[&str]) {
        let Some(slot) = self.histograms.get(id.index()) else {
            return;
        };
        let mut map = lock(slot);
        if map
            .keys()
            .any(|k| k.iter().map(String::as_str).eq(labels.iter().copied()))
        {
            return;
        }
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        map.insert(key, Histogram::new(id.spec().buckets));
    }

    pub(crate) fn record_export_error(&self, exporter: &str) {
        let mut errors = lock(&self.export_errors);
        match errors.get_mut(exporter) {
            Some(count) => *count = count.saturating_add(1),
            None => {
                errors.insert(exporter.to_string(), 1);
            }
        }
    }

    /// A copy of histogram `id` per label values, so a render does not hold
    /// the lock.
    pub(crate) fn histogram(&self, id: HistogramId) -> BTreeMap<Vec<String>, Histogram> {
        self.histograms
            .get(id.index())
            .map(|m| lock(m).clone())
            .unwrap_or_default()
    }

    /// Each source's staleness now, sorted by source.
    pub(crate) fn source_ages(&self) -> Vec<(String, f64)> {
        self.sources.ages(SystemTime::now())
    }

    /// A copy of the counts per exporter, sorted by exporter.
    pub(crate) fn export_errors(&self) -> BTreeMap<String, u64> {
        lock(&self.export_errors).clone()
    }
}

/// Per source, since when it has failed (`None` while it is current).
#[derive(Debug, Default)]
pub(crate) struct SourceHealth(Mutex<BTreeMap<String, Option<SystemTime>>>);

impl SourceHealth {
    /// `source` listed or watched fine just now.
    pub(crate) fn current(&self, source: &str) {
        let mut map = lock(&self.0);
        match map.get_mut(source) {
            Some(since) => *since = None,
            None => {
                map.insert(source.to_string(), None);
            }
        }
    }

    /// `source` failed; its data is as old as its first failure since it
    /// was last current.
    pub(crate) fn failing(&self, source: &str, at: SystemTime) {
        let mut map = lock(&self.0);
        let since = map.entry(source.to_string()).or_insert(None);
        if since.is_none() {
            *since = Some(at);
        }
    }

    /// Each source and how long it has failed at `now`, in seconds.
    pub(crate) fn ages(&self, now: SystemTime) -> Vec<(String, f64)> {
        lock(&self.0)
            .iter()
            .map(|(source, since)| {
                let age = since
                    .and_then(|s| now.duration_since(s).ok())
                    .map_or(0.0, |d| d.as_secs_f64());
                (source.clone(), age)
            })
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each update is a single step: a poisoned value is still whole.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// An explicit-bucket histogram with the SDK's rule: a value lands in the
/// first bucket whose upper bound is at least the value.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    /// Per bucket, then the one above the last bound; not cumulative.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    fn record(&mut self, bounds: &[f64], seconds: f64) {
        // Like the SDK: what cannot be summed is not recorded.
        if !seconds.is_finite() {
            return;
        }
        let bucket = bounds.partition_point(|&bound| bound < seconds);
        if let Some(c) = self.counts.get_mut(bucket) {
            *c = c.saturating_add(1);
        }
        self.sum += seconds;
        self.count = self.count.saturating_add(1);
    }

    /// (upper bound, cumulative count) of each bucket of `bounds`, without `+Inf`.
    pub(crate) fn cumulative_buckets<'a>(
        &'a self,
        bounds: &'a [f64],
    ) -> impl Iterator<Item = (f64, u64)> + 'a {
        let mut cumulative = 0u64;
        bounds
            .iter()
            .zip(&self.counts)
            .map(move |(&bound, &count)| {
                cumulative = cumulative.saturating_add(count);
                (bound, cumulative)
            })
    }

    pub(crate) fn sum(&self) -> f64 {
        self.sum
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::AGGREGATION_DURATION_BUCKETS;

    #[test]
    fn a_value_on_a_bound_belongs_to_that_bucket() {
        let recorded = Recorded::default();
        for secs in [0.01, 0.011, 60.0, 61.0] {
            recorded.record(HistogramId::AGGREGATION_DURATION, &[], secs);
        }
        let all = recorded.histogram(HistogramId::AGGREGATION_DURATION);
        let h = &all[&Vec::<String>::new()];
        let buckets: Vec<(f64, u64)> = h
            .cumulative_buckets(&AGGREGATION_DURATION_BUCKETS)
            .collect();
        assert_eq!(buckets[0], (0.01, 1));
        assert_eq!(buckets[1], (0.05, 2));
        assert_eq!(buckets[10], (60.0, 3));
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn labelled_histograms_keep_one_series_per_label_values() {
        let recorded = Recorded::default();
        recorded.record(HistogramId::STORE_LATENCY, &["write"], 0.02);
        recorded.record(HistogramId::STORE_LATENCY, &["read"], 0.2);
        recorded.record(HistogramId::STORE_LATENCY, &["write"], 0.03);
        let all = recorded.histogram(HistogramId::STORE_LATENCY);
        let got: Vec<(String, u64)> = all.iter().map(|(k, h)| (k.join(","), h.count())).collect();
        assert_eq!(got, [("read".to_string(), 1), ("write".to_string(), 2)]);
        assert!((all[&vec!["write".to_string()]].sum() - 0.05).abs() < 1e-12);
    }

    #[test]
    fn a_source_is_stale_from_its_first_failure_until_it_is_current() {
        let h = SourceHealth::default();
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        h.current("nodes");
        h.failing("nodes", t0);
        h.failing("nodes", t0 + std::time::Duration::from_secs(5));
        let age = |h: &SourceHealth, now| {
            h.ages(now)
                .into_iter()
                .find(|(s, _)| s == "nodes")
                .unwrap()
                .1
        };
        assert_eq!(age(&h, t0 + std::time::Duration::from_secs(9)), 9.0);
        h.current("nodes");
        assert_eq!(age(&h, t0 + std::time::Duration::from_secs(20)), 0.0);
    }

    #[test]
    fn export_errors_per_exporter() {
        let recorded = Recorded::default();
        recorded.record_export_error("stdout");
        recorded.record_export_error("configmap");
        recorded.record_export_error("stdout");
        let got: Vec<(String, u64)> = recorded.export_errors().into_iter().collect();
        assert_eq!(
            got,
            [("configmap".to_string(), 1), ("stdout".to_string(), 2)]
        );
    }
}
