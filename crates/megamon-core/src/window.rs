//! A timeline summarised over a time window **[ours]** (`megamon report
//! --since/--until`, SPEC §3.3): the timeline as if MegaMon had watched only
//! during the window, knowing the entity's state at its start.
//!
//! - Up and down time: the part of the entity's life (first event to its end,
//!   or to the window's end while it lives) inside the window, by state.
//! - Interruptions and recoveries: those that happened inside the window
//!   (after `since`, at or before `until`), so adjacent windows never count
//!   one twice. The up-run an interruption ended and the down-run a recovery
//!   ended count only their part inside the window.
//! - The time to first up counts only its part inside the window; the
//!   provisioning state and duration are the entity's as of the window's end.
//!
//! Over a window that holds the whole life, the result is the plain summary
//! (SPEC §3.1) at the window's end.

use std::time::Duration;

use jiff::Timestamp;

use crate::cause::CauseCounts;
use crate::duration::elapsed;
use crate::timeline::{Episode, Summary, UpEvent, episodes, summarize};

/// `since` (none: from the beginning) to `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: Option<Timestamp>,
    pub until: Timestamp,
}

impl Window {
    /// Everything up to `until`.
    pub fn until(until: Timestamp) -> Window {
        Window { since: None, until }
    }

    /// Whether the moment `at` is inside it (both ends included).
    pub fn contains(&self, at: Timestamp) -> bool {
        at <= self.until && self.since.is_none_or(|s| at >= s)
    }

    /// Whether a life from `started` to `ended` (none: still going) overlaps it.
    pub fn overlaps(&self, started: Timestamp, ended: Option<Timestamp>) -> bool {
        started <= self.until && self.since.is_none_or(|s| ended.is_none_or(|e| e >= s))
    }
}

/// The summary of `events` inside `window`, for an entity that ended at
/// `ended` (none: it still exists); `None` when its life does not overlap the
/// window (or it has no events).
pub fn summarize_window(
    events: &[UpEvent],
    ended: Option<Timestamp>,
    window: &Window,
) -> Option<Summary> {
    let first = events.first()?;
    if !window.overlaps(first.timestamp, ended) {
        return None;
    }
    // The original's guard (SPEC §3.1): a timeline must start down.
    if first.up {
        return Some(Summary::default());
    }
    let life_end = ended.map_or(window.until, |e| e.min(window.until));
    let lo = window
        .since
        .map_or(first.timestamp, |s| s.max(first.timestamp));
    let hi = life_end.max(lo);
    let life = Life {
        events,
        end: life_end,
    };

    let mut s = Summary {
        up_time: life.time_in(lo, hi, true),
        down_time: life.time_in(lo, hi, false),
        ..Summary::default()
    };
    if let Some(first_up) = events.iter().find(|e| e.up && e.timestamp <= hi) {
        s.down_time_provisioned = clip(first.timestamp, first_up.timestamp, lo, hi);
    }
    let inside = |at: Timestamp| window.since.is_none_or(|since| at > since) && at <= hi;
    for episode in episodes(events) {
        match episode {
            Episode::Interruption { at, up_run, .. } if inside(at) => {
                let run = up_run.min(life.time_in(lo, at, true));
                s.interruption_count += 1;
                s.total_up_time_between_interruption += run;
                s.latest_up_time_between_interruption = run;
            }
            Episode::Recovery { at, down_run } if inside(at) => {
                let run = down_run.min(elapsed(lo, at));
                s.recovery_count += 1;
                s.total_down_time_between_recovery += run;
                s.latest_down_time_between_recovery = run;
            }
            _ => {}
        }
    }
    s.set_means();
    // Provisioning is the entity's own, as of the window's end.
    let known = events.partition_point(|e| e.timestamp <= hi);
    let whole = summarize(&events[..known.max(1)], hi);
    s.provisioning_state = whole.provisioning_state;
    s.provisioning_duration = whole.provisioning_duration;
    Some(s)
}

/// The causes of the interruptions of `events` inside `window` (the ones
/// [`summarize_window`] counts): they add up to its interruption count.
pub fn causes_in_window(events: &[UpEvent], window: &Window) -> CauseCounts {
    let mut counts = CauseCounts::default();
    if events.first().is_none_or(|e| e.up) {
        return counts;
    }
    for episode in episodes(events) {
        if let Episode::Interruption { at, cause, .. } = episode
            && window.since.is_none_or(|since| at > since)
            && at <= window.until
        {
            counts.add(cause);
        }
    }
    counts
}

/// A timeline and when the entity's life ends (for its last state).
struct Life<'a> {
    events: &'a [UpEvent],
    end: Timestamp,
}

impl Life<'_> {
    /// Time spent up (or down) between `from` and `to`: each event's state
    /// lasts until the next event, the last one until the life's end.
    fn time_in(&self, from: Timestamp, to: Timestamp, up: bool) -> Duration {
        let mut total = Duration::ZERO;
        for (i, e) in self.events.iter().enumerate() {
            if e.up != up {
                continue;
            }
            let next = self.events.get(i + 1).map_or(self.end, |n| n.timestamp);
            total += clip(e.timestamp, next, from, to);
        }
        total
    }
}

/// The length of `[start, end]` inside `[lo, hi]`.
fn clip(start: Timestamp, end: Timestamp, lo: Timestamp, hi: Timestamp) -> Duration {
    elapsed(start.max(lo), end.min(hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> Timestamp {
        let base: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        base + jiff::SignedDuration::from_mins(minutes)
    }

    fn m(minutes: u64) -> Duration {
        Duration::from_secs(minutes * 60)
    }

    /// Down 0, up 10, interrupted 40, recovered 50, interrupted 80, recovered 100.
    fn flapping() -> Vec<UpEvent> {
        vec![
            UpEvent::down(t(0)),
            UpEvent::up(t(10)),
            UpEvent::down(t(40)),
            UpEvent::up(t(50)),
            UpEvent::down(t(80)),
            UpEvent::up(t(100)),
        ]
    }

    #[test]
    fn the_whole_life_is_the_plain_summary() {
        let events = flapping();
        let w = Window::until(t(120));
        assert_eq!(
            summarize_window(&events, None, &w),
            Some(summarize(&events, t(120)))
        );
        let w = Window {
            since: Some(t(-60)),
            until: t(120),
        };
        assert_eq!(
            summarize_window(&events, None, &w),
            Some(summarize(&events, t(120)))
        );
        // An ended entity: its life stops at its end, whatever the window.
        let w = Window::until(t(500));
        assert_eq!(
            summarize_window(&events, Some(t(120)), &w),
            Some(summarize(&events, t(120)))
        );
    }

    #[test]
    fn a_window_that_cuts_the_timeline_in_half() {
        // 60 to 120: the second half. Up 60..80, down 80..100, up 100..120.
        let w = Window {
            since: Some(t(60)),
            until: t(120),
        };
        let s = summarize_window(&flapping(), None, &w).unwrap();
        assert_eq!(s.up_time, m(40));
        assert_eq!(s.down_time, m(20));
        assert_eq!(s.down_time_provisioned, Duration::ZERO);
        assert_eq!((s.interruption_count, s.recovery_count), (1, 1));
        // The up-run the interruption at 80 ended began at 50: 20m of it inside.
        assert_eq!(s.latest_up_time_between_interruption, m(20));
        assert_eq!(s.mean_up_time_between_interruption, m(20));
        assert_eq!(s.mean_down_time_between_recovery, m(20));
        // 0 to 60: the first half. Provisioning 10, up 10..40 and 50..60.
        let w = Window {
            since: Some(t(0)),
            until: t(60),
        };
        let s = summarize_window(&flapping(), None, &w).unwrap();
        assert_eq!(s.up_time, m(40));
        assert_eq!(s.down_time, m(20));
        assert_eq!(s.down_time_provisioned, m(10));
        assert_eq!((s.interruption_count, s.recovery_count), (1, 1));
        assert_eq!(s.mean_up_time_between_interruption, m(30));
        assert_eq!(s.mean_down_time_between_recovery, m(10));
    }

    #[test]
    fn a_recovery_after_the_start_counts_its_part_inside() {
        // Down from 40 to 50; the window starts at 45.
        let w = Window {
            since: Some(t(45)),
            until: t(60),
        };
        let s = summarize_window(&flapping(), None, &w).unwrap();
        assert_eq!(s.interruption_count, 0);
        assert_eq!(s.recovery_count, 1);
        assert_eq!(s.mean_down_time_between_recovery, m(5));
        assert_eq!((s.down_time, s.up_time), (m(5), m(10)));
    }

    #[test]
    fn lives_outside_the_window_are_left_out() {
        let events = flapping();
        let before = Window {
            since: Some(t(200)),
            until: t(300),
        };
        assert_eq!(summarize_window(&events, Some(t(150)), &before), None);
        let after = Window {
            since: Some(t(-100)),
            until: t(-50),
        };
        assert_eq!(summarize_window(&events, None, &after), None);
        assert_eq!(summarize_window(&[], None, &Window::until(t(0))), None);
        // A live entity overlaps every later window.
        assert!(summarize_window(&events, None, &before).is_some());
    }

    #[test]
    fn provisioning_is_the_entitys_as_of_the_windows_end() {
        let events = flapping();
        let w = Window {
            since: Some(t(2)),
            until: t(5),
        };
        let s = summarize_window(&events, None, &w).unwrap();
        assert_eq!(s.provisioning_state.as_str(), "provisioning");
        assert_eq!(s.provisioning_duration, m(5));
        assert_eq!(s.down_time, m(3));
        let w = Window {
            since: Some(t(60)),
            until: t(70),
        };
        let s = summarize_window(&events, None, &w).unwrap();
        assert_eq!(s.provisioning_state.as_str(), "success");
        assert_eq!(s.provisioning_duration, m(10));
    }

    #[test]
    fn causes_inside_the_window_add_up_to_its_interruptions() {
        use crate::cause::{Cause, Why};
        let mut events = flapping();
        events[2] = UpEvent::down(t(40)).because(Why::new(Cause::Preemption, "spot VM reclaimed"));
        events[4] = UpEvent::down(t(80)).because(Why::new(Cause::Maintenance, ""));
        let second_half = Window {
            since: Some(t(60)),
            until: t(120),
        };
        let c = causes_in_window(&events, &second_half);
        assert_eq!((c.get(Cause::Maintenance), c.total()), (1, 1));
        let all = Window::until(t(120));
        let c = causes_in_window(&events, &all);
        assert_eq!(c.get(Cause::Preemption), 1);
        assert_eq!(
            c.total(),
            summarize_window(&events, None, &all)
                .unwrap()
                .interruption_count
        );
    }

    #[test]
    fn planned_downs_are_neither_interruptions_nor_recoveries() {
        let events = [
            UpEvent::down(t(0)),
            UpEvent::up(t(10)),
            UpEvent::down(t(20)).planned(),
            UpEvent::up(t(30)),
            UpEvent::down(t(40)),
        ];
        let w = Window {
            since: Some(t(15)),
            until: t(50),
        };
        let s = summarize_window(&events, None, &w).unwrap();
        assert_eq!((s.interruption_count, s.recovery_count), (1, 0));
        // The up-run paused over the planned down: 15..20 and 30..40.
        assert_eq!(s.latest_up_time_between_interruption, m(15));
        assert_eq!((s.up_time, s.down_time), (m(15), m(20)));
    }
}
