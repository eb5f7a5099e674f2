//! Property tests of windowed summaries (SPEC §3.3): a window holding the
//! whole life is the plain summary, and two adjacent windows split time and
//! episodes without losing or doubling any.

use jiff::{SignedDuration, Timestamp};
use megamon_core::window::{Window, summarize_window};
use megamon_core::{State, UpEvent};
use proptest::prelude::*;

fn at(seconds: i64) -> Timestamp {
    let base: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    base + SignedDuration::from_secs(seconds)
}

/// Timelines as the monitor records them: first sight down, then each event
/// changes up-ness or (while down) the planned / failed flags.
fn recorded() -> impl Strategy<Value = (Vec<UpEvent>, i64)> {
    (
        prop::collection::vec((1i64..10_000, 0u8..4), 0..30),
        0i64..10_000,
    )
        .prop_map(|(steps, tail)| {
            let mut t = 0;
            let mut events = vec![UpEvent::down(at(0))];
            for (gap, what) in steps {
                t += gap;
                let last = events[events.len() - 1].state();
                let next = match what {
                    0 | 1 if !last.up => State::UP,
                    0 => State::DOWN,
                    1 => State::DOWN.planned(),
                    2 if !last.up => State {
                        expected_down: !last.expected_down,
                        ..last
                    },
                    _ if !last.up => State {
                        failed: !last.failed,
                        ..last
                    },
                    _ => State::DOWN.failed(),
                };
                events.push(UpEvent::new(next, at(t)));
            }
            (events, t + tail)
        })
}

proptest! {
    #[test]
    fn the_whole_life_is_the_plain_summary((events, end) in recorded()) {
        let now = at(end);
        let plain = megamon_core::timeline::summarize(&events, now);
        prop_assert_eq!(summarize_window(&events, None, &Window::until(now)), Some(plain));
        let ended = Window { since: Some(at(-1)), until: at(end + 5_000) };
        prop_assert_eq!(summarize_window(&events, Some(now), &ended), Some(plain));
    }

    #[test]
    fn adjacent_windows_add_up((events, end) in recorded(), cut in 0i64..1_000_000) {
        let cut = cut % (end + 1);
        let now = at(end);
        let whole = summarize_window(&events, None, &Window::until(now)).unwrap();
        let first = summarize_window(&events, None, &Window { since: None, until: at(cut) }).unwrap();
        let second = summarize_window(&events, None, &Window { since: Some(at(cut)), until: now }).unwrap();
        prop_assert_eq!(first.up_time + second.up_time, whole.up_time);
        prop_assert_eq!(first.down_time + second.down_time, whole.down_time);
        prop_assert_eq!(first.interruption_count + second.interruption_count, whole.interruption_count);
        prop_assert_eq!(first.recovery_count + second.recovery_count, whole.recovery_count);
        // Before the first up the time to first up is not known yet (SPEC §3.1).
        prop_assert!(first.down_time_provisioned + second.down_time_provisioned <= whole.down_time_provisioned);
        // Clipped runs never exceed the whole ones.
        prop_assert!(first.total_down_time_between_recovery + second.total_down_time_between_recovery
            <= whole.total_down_time_between_recovery);
        prop_assert!(first.total_up_time_between_interruption + second.total_up_time_between_interruption
            <= whole.total_up_time_between_interruption);
    }
}
