//! Property tests of the timeline and summary rules (SPEC §3).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use megamon_core::history;
use megamon_core::{Timeline, Timelines, UpEvent};
use proptest::prelude::*;

fn base() -> Timestamp {
    "2024-01-01T00:00:00Z".parse().unwrap()
}

fn at(nanos: i64) -> Timestamp {
    base() + SignedDuration::from_nanos(nanos)
}

/// A well-formed timeline: starts down, alternates, timestamps non-decreasing.
/// Returns the events and a `now` at or after the last one.
fn well_formed() -> impl Strategy<Value = (Vec<UpEvent>, Timestamp)> {
    (
        any::<bool>(),
        prop::collection::vec((0i64..10_000_000_000_000, any::<bool>()), 0..40),
        0i64..10_000_000_000_000,
    )
        .prop_map(|(first_ed, steps, tail)| {
            let mut t = 0i64;
            let mut events = vec![UpEvent {
                up: false,
                expected_down: first_ed,
                timestamp: at(0),
            }];
            for (i, (gap, ed)) in steps.into_iter().enumerate() {
                t += gap;
                let up = i % 2 == 0;
                events.push(UpEvent {
                    up,
                    expected_down: !up && ed,
                    timestamp: at(t),
                });
            }
            (events, at(t + tail))
        })
}

/// Any events at all: any order, any states.
fn arbitrary_events() -> impl Strategy<Value = (Vec<UpEvent>, Timestamp)> {
    (
        prop::collection::vec(
            (
                any::<bool>(),
                any::<bool>(),
                -1_000_000_000_000i64..1_000_000_000_000,
            ),
            0..30,
        ),
        -1_000_000_000_000i64..1_000_000_000_000,
    )
        .prop_map(|(raw, now)| {
            let events = raw
                .into_iter()
                .map(|(up, ed, t)| UpEvent {
                    up,
                    expected_down: ed,
                    timestamp: at(t),
                })
                .collect();
            (events, at(now))
        })
}

proptest! {
    #[test]
    fn up_plus_down_is_the_whole_span((events, now) in well_formed()) {
        let s = Timeline::from_events(events.clone()).summarize(now);
        let span = megamon_core::duration::elapsed(events[0].timestamp, now);
        prop_assert_eq!(s.up_time + s.down_time, span);
        prop_assert!(s.down_time_provisioned <= s.down_time);
        prop_assert!(s.total_down_time_between_recovery <= s.down_time);
        prop_assert!(s.total_up_time_between_interruption <= s.up_time);
    }

    #[test]
    fn counts_follow_the_planned_flags((events, now) in well_formed()) {
        let s = Timeline::from_events(events.clone()).summarize(now);
        if events.len() >= 2 {
            let interruptions = events[2..].iter().filter(|e| !e.up && !e.expected_down).count();
            let recoveries = events.windows(2).skip(1)
                .filter(|w| w[1].up && !w[0].expected_down).count();
            prop_assert_eq!(s.interruption_count, interruptions as u64);
            prop_assert_eq!(s.recovery_count, recoveries as u64);
        }
        if s.interruption_count > 0 {
            prop_assert!(s.mean_up_time_between_interruption <= s.total_up_time_between_interruption);
        } else {
            prop_assert_eq!(s.mean_up_time_between_interruption, Duration::ZERO);
        }
    }

    #[test]
    fn durations_are_never_negative_and_bounded((events, now) in arbitrary_events()) {
        // Any input at all, including unordered timestamps: no panic, and no
        // duration (as Go nanoseconds) negative or longer than the whole span.
        let s = Timeline::from_events(events.clone()).summarize(now);
        let earliest = events.iter().map(|e| e.timestamp).chain([now]).min().unwrap();
        let latest = events.iter().map(|e| e.timestamp).chain([now]).max().unwrap();
        let bound = megamon_core::duration::elapsed(earliest, latest) * (events.len() as u32 + 1);
        for (_, d) in s.durations() {
            prop_assert!(megamon_core::duration::as_go_nanos(d) >= 0);
            prop_assert!(d <= bound);
        }
    }

    #[test]
    fn observing_the_current_state_again_changes_nothing(
        (events, now) in well_formed(),
        later in 0i64..1_000_000_000_000,
    ) {
        let mut t = Timeline::from_events(events.clone());
        let last = *events.last().unwrap();
        let when = now + SignedDuration::from_nanos(later);
        prop_assert!(!t.observe(last.up, last.expected_down, when).changed());
        prop_assert!(!t.observe(last.up, !last.expected_down, when).changed());
        prop_assert_eq!(t.events(), &events[..]);
    }

    #[test]
    fn observations_build_well_formed_timelines(
        states in prop::collection::vec((any::<bool>(), any::<bool>(), 0i64..1_000_000_000), 1..50)
    ) {
        let mut t = Timeline::default();
        let mut clock = 0i64;
        for (up, ed, gap) in states {
            clock += gap;
            t.observe(up, ed, at(clock));
        }
        let ev = t.events();
        prop_assert!(!ev[0].up);
        prop_assert!(ev.windows(2).all(|w| w[0].up != w[1].up && w[0].timestamp <= w[1].timestamp));
    }

    #[test]
    fn stored_files_round_trip(
        entries in prop::collection::btree_map(
            "[a-z0-9-]{1,20}",
            well_formed().prop_map(|(events, _)| events),
            0..8,
        )
    ) {
        let timelines: Timelines = entries
            .into_iter()
            .map(|(k, ev)| (k, Timeline::from_events(ev)))
            .collect();
        let bytes = history::to_bytes(&timelines);
        let back = history::parse("round-trip.json", &bytes).unwrap();
        prop_assert_eq!(&back, &timelines);
        // And writing again is byte-identical.
        prop_assert_eq!(history::to_bytes(&back), bytes);
    }
}
