//! What the monitor records besides snapshots, kept for /metrics: how long
//! aggregations took (`aggregation.duration`) and reports an exporter could
//! not deliver (`export.errors`). Cumulative, like the SDK's pull reader.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::instruments::AGGREGATION_DURATION_BUCKETS;

/// `aggregation.duration` and `export.errors` since start-up.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    aggregation_duration: Mutex<DurationHistogram>,
    /// Count per exporter.
    export_errors: Mutex<BTreeMap<String, u64>>,
}

impl Recorded {
    pub(crate) fn record_aggregation_duration(&self, duration: Duration) {
        lock(&self.aggregation_duration).record(duration.as_secs_f64());
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

    /// A copy of the histogram, so a render does not hold the lock.
    pub(crate) fn aggregation_duration(&self) -> DurationHistogram {
        lock(&self.aggregation_duration).clone()
    }

    /// A copy of the counts per exporter, sorted by exporter.
    pub(crate) fn export_errors(&self) -> BTreeMap<String, u64> {
        lock(&self.export_errors).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each update is a single step: a poisoned value is still whole.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A histogram over [`AGGREGATION_DURATION_BUCKETS`], with the SDK's
/// explicit-bucket rule: a value lands in the first bucket whose upper bound
/// is at least the value.
#[derive(Debug, Clone, Default)]
pub(crate) struct DurationHistogram {
    /// Per bucket, then the one above the last bound; not cumulative.
    counts: [u64; AGGREGATION_DURATION_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl DurationHistogram {
    fn record(&mut self, seconds: f64) {
        // Like the SDK: what cannot be summed is not recorded.
        if !seconds.is_finite() {
            return;
        }
        let bucket = AGGREGATION_DURATION_BUCKETS.partition_point(|&bound| bound < seconds);
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
        self.sum += seconds;
        self.count = self.count.saturating_add(1);
    }

    /// (upper bound, cumulative count) of each bucket, without `+Inf`.
    pub(crate) fn cumulative_buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let mut cumulative = 0u64;
        AGGREGATION_DURATION_BUCKETS
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

    #[test]
    fn a_value_on_a_bound_belongs_to_that_bucket() {
        let recorded = Recorded::default();
        for secs in [0.01, 0.011, 60.0, 61.0] {
            recorded.record_aggregation_duration(Duration::from_secs_f64(secs));
        }
        let h = recorded.aggregation_duration();
        let buckets: Vec<(f64, u64)> = h.cumulative_buckets().collect();
        assert_eq!(buckets[0], (0.01, 1));
        assert_eq!(buckets[1], (0.05, 2));
        assert_eq!(buckets[10], (60.0, 3));
        assert_eq!(h.count(), 4);
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
