//! Time-to-recover (TTR) and time-between-interruptions (TBI) distributions
//! of stored history **[ours]**: exact percentiles per family and per
//! accelerator, where the metrics' histograms can only interpolate between
//! buckets.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::duration::go_nanos;
use crate::kind::EntityKind;
use crate::timeline::{Episode, Timeline};
use crate::upness::Attrs;

/// The accelerator of entities whose history has no labels (written before
/// MegaMon kept them, or by the original).
pub const UNLABELLED: &str = "unlabelled";

/// Every accelerator of a family together.
pub const ALL_ACCELERATORS: &str = "all";

/// The percentiles of one set of durations (nearest rank: the smallest value
/// with at least p% of the values at or below it; every figure is one of
/// the observed durations). JSON durations are integer nanoseconds, like
/// the rest of the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub count: usize,
    #[serde(with = "go_nanos")]
    pub p50: Duration,
    #[serde(with = "go_nanos")]
    pub p90: Duration,
    #[serde(with = "go_nanos")]
    pub p99: Duration,
    #[serde(with = "go_nanos")]
    pub max: Duration,
}

impl Percentiles {
    /// Of `values`, in any order.
    pub fn of(mut values: Vec<Duration>) -> Percentiles {
        values.sort_unstable();
        Percentiles {
            count: values.len(),
            p50: nearest_rank(&values, 50),
            p90: nearest_rank(&values, 90),
            p99: nearest_rank(&values, 99),
            max: values.last().copied().unwrap_or_default(),
        }
    }
}

/// The `p`-th percentile (0 < p ≤ 100) of `sorted` by nearest rank; zero for
/// no values.
pub fn nearest_rank(sorted: &[Duration], p: u32) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // rank = ceil(p/100 · n), 1-based.
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// TTR and TBI of one group of entities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Distribution {
    /// Time to recover: each recovery's down time.
    pub ttr: Percentiles,
    /// Time between interruptions: each interruption's up run.
    pub tbi: Percentiles,
}

/// Durations collected per (family, accelerator) before percentiles are
/// taken.
#[derive(Debug, Default)]
pub struct DistributionBuilder {
    groups: BTreeMap<(EntityKind, String), (Vec<Duration>, Vec<Duration>)>,
}

impl DistributionBuilder {
    /// Adds the episodes of one entity's timeline, under its accelerator and
    /// under [`ALL_ACCELERATORS`].
    pub fn add(&mut self, kind: EntityKind, timeline: &Timeline) {
        self.add_episodes(kind, accelerator_of(timeline), &timeline.episodes());
    }

    /// Adds episodes of an entity of `kind` with accelerator `accelerator`.
    pub fn add_episodes(&mut self, kind: EntityKind, accelerator: &str, episodes: &[Episode]) {
        for group in [accelerator, ALL_ACCELERATORS] {
            let (ttr, tbi) = self.groups.entry((kind, group.to_string())).or_default();
            for e in episodes {
                match e {
                    Episode::Recovery { down_run, .. } => ttr.push(*down_run),
                    Episode::Interruption { up_run, .. } => tbi.push(*up_run),
                }
            }
        }
    }

    /// Per family, per accelerator (and [`ALL_ACCELERATORS`]).
    pub fn build(self) -> BTreeMap<EntityKind, BTreeMap<String, Distribution>> {
        let mut out: BTreeMap<EntityKind, BTreeMap<String, Distribution>> = BTreeMap::new();
        for ((kind, accelerator), (ttr, tbi)) in self.groups {
            out.entry(kind).or_default().insert(
                accelerator,
                Distribution {
                    ttr: Percentiles::of(ttr),
                    tbi: Percentiles::of(tbi),
                },
            );
        }
        out
    }
}

/// The accelerator a timeline's stored labels name.
pub fn accelerator_of(timeline: &Timeline) -> &str {
    timeline.attrs().map_or(UNLABELLED, accelerator_in)
}

/// The accelerator `attrs` name, [`UNLABELLED`] when they name none.
pub fn accelerator_in(attrs: &Attrs) -> &str {
    if attrs.tpu_accelerator.is_empty() {
        UNLABELLED
    } else {
        &attrs.tpu_accelerator
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{State, UpEvent};
    use crate::upness::Attrs;
    use jiff::{SignedDuration, Timestamp};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn nearest_rank_picks_observed_values() {
        let v: Vec<Duration> = (1..=10).map(secs).collect();
        assert_eq!(nearest_rank(&v, 50), secs(5));
        assert_eq!(nearest_rank(&v, 90), secs(9));
        assert_eq!(nearest_rank(&v, 99), secs(10));
        assert_eq!(nearest_rank(&[secs(7)], 50), secs(7));
        assert_eq!(nearest_rank(&[], 90), Duration::ZERO);
        let p = Percentiles::of(vec![secs(30), secs(10), secs(20)]);
        assert_eq!(
            (p.count, p.p50, p.p90, p.p99, p.max),
            (3, secs(20), secs(30), secs(30), secs(30))
        );
    }

    #[test]
    fn groups_by_family_and_accelerator() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let at = |m: i64| t0 + SignedDuration::from_mins(m);
        // Up 10 min, down 5, up 20, down 1, up.
        let mut t = Timeline::default();
        for (m, state) in [
            (0, State::UP),
            (10, State::DOWN),
            (15, State::UP),
            (35, State::DOWN),
            (36, State::UP),
        ] {
            t.observe(state, at(m));
        }
        t.set_attrs(
            Attrs {
                tpu_accelerator: "tpu-v5p-slice".into(),
                ..Attrs::default()
            }
            .into(),
        );
        let old = Timeline::from_events(vec![
            UpEvent::down(at(0)),
            UpEvent::up(at(1)),
            UpEvent::down(at(2)),
            UpEvent::up(at(62)),
        ]);
        let mut b = DistributionBuilder::default();
        b.add(EntityKind::JobSets, &t);
        b.add(EntityKind::JobSets, &old);
        let d = b.build();
        let js = &d[&EntityKind::JobSets];
        let v5p = js["tpu-v5p-slice"];
        assert_eq!(
            (v5p.ttr.count, v5p.ttr.p50, v5p.ttr.p90),
            (2, secs(60), secs(300))
        );
        assert_eq!(
            (v5p.tbi.count, v5p.tbi.p50, v5p.tbi.max),
            (2, secs(600), secs(1200))
        );
        assert_eq!(js[UNLABELLED].ttr.max, secs(3600));
        let all = js[ALL_ACCELERATORS];
        assert_eq!((all.ttr.count, all.ttr.p90), (3, secs(3600)));
        assert_eq!(all.tbi.count, 3);
    }
}
