//! Property tests of the timeline and summary rules (SPEC §3).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use megamon_core::history;
use megamon_core::{ProvisioningState, State, Timeline, Timelines, UpEvent};
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
            let mut events = vec![UpEvent::new(
                State {
                    expected_down: first_ed,
                    ..State::DOWN
                },
                at(0),
            )];
            for (i, (gap, ed)) in steps.into_iter().enumerate() {
                t += gap;
                let up = i % 2 == 0;
                let state = State {
                    up,
                    expected_down: !up && ed,
                    failed: false,
                };
                events.push(UpEvent::new(state, at(t)));
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
                .map(|(up, ed, t)| {
                    let state = State {
                        up,
                        expected_down: ed,
                        failed: t % 3 == 0,
                    };
                    UpEvent::new(state, at(t))
                })
                .collect();
            (events, at(now))
        })
}

proptest! {
    /// `is_in` is what lets a full evaluation skip copying a shared
    /// timeline: it must say "nothing to record" exactly when observing
    /// records nothing, for any history, also a malformed one.
    #[test]
    fn is_in_is_observing_without_recording(
        (events, now) in arbitrary_events(),
        up in any::<bool>(),
        expected_down in any::<bool>(),
        failed in any::<bool>(),
    ) {
        let state = State { up, expected_down, failed };
        let t = Timeline::from_events(events);
        let mut observed = t.clone();
        let unchanged = observed.observe(state, now) == megamon_core::timeline::Observed::Unchanged;
        prop_assert_eq!(t.is_in(state), unchanged);
        prop_assert_eq!(unchanged, observed == t);
    }

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
    fn episodes_are_what_the_summary_counts((events, now) in well_formed()) {
        let t = Timeline::from_events(events);
        let s = t.summarize(now);
        let episodes = t.episodes();
        let interruptions: Vec<Duration> = episodes.iter().filter_map(|e| match e {
            megamon_core::Episode::Interruption { up_run, .. } => Some(*up_run),
            _ => None,
        }).collect();
        let recoveries: Vec<Duration> = episodes.iter().filter_map(|e| match e {
            megamon_core::Episode::Recovery { down_run, .. } => Some(*down_run),
            _ => None,
        }).collect();
        prop_assert_eq!(interruptions.len() as u64, s.interruption_count);
        prop_assert_eq!(recoveries.len() as u64, s.recovery_count);
        prop_assert_eq!(interruptions.iter().sum::<Duration>(), s.total_up_time_between_interruption);
        prop_assert_eq!(recoveries.iter().sum::<Duration>(), s.total_down_time_between_recovery);
        if let Some(last) = recoveries.last() {
            prop_assert_eq!(*last, s.latest_down_time_between_recovery);
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
        let last = events.last().unwrap().clone();
        let when = now + SignedDuration::from_nanos(later);
        prop_assert!(!t.observe(last.state(), when).changed());
        if last.up {
            // Flags of an up entity are not recorded.
            prop_assert!(!t.observe(State::UP.failed(), when).changed());
        }
        prop_assert_eq!(t.events(), &events[..]);
    }

    #[test]
    fn observations_build_well_formed_timelines(
        states in prop::collection::vec(
            (any::<bool>(), any::<bool>(), any::<bool>(), 0i64..1_000_000_000),
            1..50,
        )
    ) {
        let mut t = Timeline::default();
        let mut clock = 0i64;
        for (up, expected_down, failed, gap) in states {
            clock += gap;
            t.observe(State { up, expected_down, failed }, at(clock));
        }
        let ev = t.events();
        prop_assert!(!ev[0].up);
        for w in ev.windows(2) {
            prop_assert!(w[0].timestamp <= w[1].timestamp);
            // Never two ups in a row; two downs only when their flags differ.
            prop_assert!(!(w[0].up && w[1].up));
            prop_assert!(w[0].state() != w[1].state());
        }
    }

    #[test]
    fn flag_changes_while_down_change_no_count_or_time(
        (events, now) in well_formed(),
        inserts in prop::collection::vec((any::<prop::sample::Index>(), 0.0f64..1.0, any::<bool>()), 0..6),
    ) {
        // Upstream v1.2.0 appends a down event when only a flag changes while
        // down. Inserting such events anywhere inside down runs leaves every
        // count and duration as it was (the provisioning state aside).
        let plain = Timeline::from_events(events.clone()).summarize(now);
        let mut with_flags = events.clone();
        for (index, fraction, planned) in inserts {
            let i = index.index(with_flags.len());
            let e = with_flags[i].clone();
            if e.up {
                continue;
            }
            let next = with_flags.get(i + 1).map_or(now, |n| n.timestamp);
            let gap = next.as_nanosecond() - e.timestamp.as_nanosecond();
            let ts = e.timestamp + SignedDuration::from_nanos((gap as f64 * fraction) as i64);
            let flagged = UpEvent {
                failed: !e.failed,
                expected_down: if i == 0 { e.expected_down } else { planned },
                ..UpEvent::new(e.state(), ts)
            };
            with_flags.insert(i + 1, flagged);
        }
        let flagged = Timeline::from_events(with_flags).summarize(now);
        let strip = |s: megamon_core::Summary| megamon_core::Summary {
            provisioning_state: ProvisioningState::Provisioning,
            provisioning_duration: Duration::ZERO,
            ..s
        };
        prop_assert_eq!(strip(flagged), strip(plain));
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
