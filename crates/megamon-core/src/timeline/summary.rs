//! The summary of a timeline at a given time (SPEC §3.1): up and down time,
//! provisioning (time to first up), interruptions (MTBI) and recoveries
//! (MTTR).

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::UpEvent;
use crate::cause::Cause;
use crate::duration::{elapsed, go_nanos, mean};

/// Field names and integer-nanosecond durations are the original's report JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Time from first sight to first up (time to provision).
    #[serde(with = "go_nanos")]
    pub down_time_provisioned: Duration,
    pub interruption_count: u64,
    pub recovery_count: u64,
    #[serde(with = "go_nanos")]
    pub down_time: Duration,
    #[serde(with = "go_nanos")]
    pub up_time: Duration,
    #[serde(with = "go_nanos")]
    pub total_down_time_between_recovery: Duration,
    #[serde(with = "go_nanos")]
    pub total_up_time_between_interruption: Duration,
    #[serde(with = "go_nanos")]
    pub latest_down_time_between_recovery: Duration,
    #[serde(with = "go_nanos")]
    pub latest_up_time_between_interruption: Duration,
    /// MTTR.
    #[serde(with = "go_nanos")]
    pub mean_down_time_between_recovery: Duration,
    /// MTBI.
    #[serde(with = "go_nanos")]
    pub mean_up_time_between_interruption: Duration,
    /// Upstream v1.2.0: time from first sight to first up (`success`), to the
    /// failure (`failed`), or so far (`provisioning`).
    #[serde(with = "go_nanos")]
    pub provisioning_duration: Duration,
    pub provisioning_state: ProvisioningState,
}

/// Where an entity stands in its first coming up (upstream v1.2.0's
/// `provisioning_state` label and `provisioningState` field).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisioningState {
    /// Never up yet.
    #[default]
    Provisioning,
    /// Has been up.
    Success,
    /// Failed before ever being up.
    Failed,
}

impl ProvisioningState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisioningState::Provisioning => "provisioning",
            ProvisioningState::Success => "success",
            ProvisioningState::Failed => "failed",
        }
    }
}

impl Summary {
    /// MTBI and MTTR from the totals and counts (zero without any).
    pub fn set_means(&mut self) {
        self.mean_up_time_between_interruption = mean(
            self.total_up_time_between_interruption,
            self.interruption_count,
        );
        self.mean_down_time_between_recovery =
            mean(self.total_down_time_between_recovery, self.recovery_count);
    }

    /// Every duration with its JSON field name, in the report's order.
    pub fn durations(&self) -> [(&'static str, Duration); 10] {
        [
            ("downTimeProvisioned", self.down_time_provisioned),
            ("downTime", self.down_time),
            ("upTime", self.up_time),
            (
                "totalDownTimeBetweenRecovery",
                self.total_down_time_between_recovery,
            ),
            (
                "totalUpTimeBetweenInterruption",
                self.total_up_time_between_interruption,
            ),
            (
                "latestDownTimeBetweenRecovery",
                self.latest_down_time_between_recovery,
            ),
            (
                "latestUpTimeBetweenInterruption",
                self.latest_up_time_between_interruption,
            ),
            (
                "meanDownTimeBetweenRecovery",
                self.mean_down_time_between_recovery,
            ),
            (
                "meanUpTimeBetweenInterruption",
                self.mean_up_time_between_interruption,
            ),
            ("provisioningDuration", self.provisioning_duration),
        ]
    }
}

/// An interruption or a recovery, as the summary counts them (SPEC §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Episode {
    /// An unplanned down after up time: the up-run it ended (planned downs
    /// pause an up-run), and why.
    Interruption {
        at: Timestamp,
        up_run: Duration,
        cause: Option<Cause>,
    },
    /// Back up after an interruption: the down time it ended.
    Recovery { at: Timestamp, down_run: Duration },
}

impl Episode {
    /// When it happened: the interruption's down, the recovery's up.
    pub fn at(&self) -> Timestamp {
        match self {
            Episode::Interruption { at, .. } | Episode::Recovery { at, .. } => *at,
        }
    }
}

/// Every interruption and recovery of `events`, in order.
pub fn episodes(events: &[UpEvent]) -> Vec<Episode> {
    let mut out = Vec::new();
    walk(events, |e| out.push(e));
    out
}

/// Summarises `events` as of `now`.
///
/// Events are read as runs of one up-ness: a down run starts with the event
/// that went down (an interruption unless planned) and lasts until the next
/// up (a recovery if the run was an interruption). Events inside a run only
/// change flags (planned, failed): they are never an interruption, a
/// recovery or up time. The interval between two events is spent in the state
/// of the earlier one, so a malformed timeline (two ups in a row) still adds
/// up.
pub fn summarize(events: &[UpEvent], now: Timestamp) -> Summary {
    let mut s = walk(events, |_| {});
    let Some(first) = events.first().filter(|e| !e.up) else {
        return s;
    };
    if s.provisioning_state != ProvisioningState::Success {
        // Never up: still provisioning, or failed.
        s.down_time = elapsed(first.timestamp, now);
        match failed_since(events) {
            Some(at) => {
                s.provisioning_state = ProvisioningState::Failed;
                s.provisioning_duration = elapsed(first.timestamp, at);
            }
            None => s.provisioning_duration = s.down_time,
        }
        return s;
    }
    if let Some(last) = events.last() {
        let trailing = elapsed(last.timestamp, now);
        if last.up {
            s.up_time += trailing;
        } else {
            s.down_time += trailing;
        }
    }
    s.set_means();
    s
}

/// The summary up to the last event (no trailing time, no means), telling
/// `episode` of each interruption and recovery on the way.
fn walk(events: &[UpEvent], mut episode: impl FnMut(Episode)) -> Summary {
    let mut s = Summary::default();
    // The original's guard: a timeline must start down.
    let Some(first) = events.first().filter(|e| !e.up) else {
        return s;
    };
    let Some(first_up) = events.iter().position(|e| e.up) else {
        return s;
    };
    s.down_time_provisioned = elapsed(first.timestamp, events[first_up].timestamp);
    s.down_time = s.down_time_provisioned;
    s.provisioning_state = ProvisioningState::Success;
    s.provisioning_duration = s.down_time_provisioned;

    // Up time since the last interruption; planned downs pause it.
    let mut up_run = Duration::ZERO;
    // The current down run: whether it was planned, and its length so far.
    let mut down_run: Option<(bool, Duration)> = None;
    for pair in events[first_up..].windows(2) {
        let (prev, cur) = (&pair[0], &pair[1]);
        let d = elapsed(prev.timestamp, cur.timestamp);
        if prev.up {
            s.up_time += d;
            up_run += d;
            if !cur.up {
                if !cur.expected_down {
                    s.interruption_count += 1;
                    s.latest_up_time_between_interruption = up_run;
                    s.total_up_time_between_interruption += up_run;
                    episode(Episode::Interruption {
                        at: cur.timestamp,
                        up_run,
                        cause: cur.cause,
                    });
                    up_run = Duration::ZERO;
                }
                down_run = Some((cur.expected_down, Duration::ZERO));
            }
        } else {
            s.down_time += d;
            let run = down_run.get_or_insert((prev.expected_down, Duration::ZERO));
            run.1 += d;
            if cur.up {
                let (planned, length) = *run;
                if !planned {
                    s.recovery_count += 1;
                    s.total_down_time_between_recovery += length;
                    s.latest_down_time_between_recovery = length;
                    episode(Episode::Recovery {
                        at: cur.timestamp,
                        down_run: length,
                    });
                }
                down_run = None;
            }
        }
    }
    s
}

/// When the trailing stretch of failed events began, if the last event is failed.
fn failed_since(events: &[UpEvent]) -> Option<Timestamp> {
    let failed = events.iter().rev().take_while(|e| e.failed).last()?;
    Some(failed.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60;

    fn t(minutes: u64) -> Timestamp {
        let base: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        base + jiff::SignedDuration::from_secs((minutes * MIN) as i64)
    }

    fn ev(up: bool, ed: bool, minutes: u64) -> UpEvent {
        let e = if up {
            UpEvent::up(t(minutes))
        } else {
            UpEvent::down(t(minutes))
        };
        if ed { e.planned() } else { e }
    }

    fn m(minutes: u64) -> Duration {
        Duration::from_secs(minutes * MIN)
    }

    #[test]
    fn empty_and_up_first_are_all_zero() {
        assert_eq!(summarize(&[], t(10)), Summary::default());
        assert_eq!(summarize(&[ev(true, false, 0)], t(10)), Summary::default());
    }

    #[test]
    fn single_down_event_is_all_down_time_and_provisioning() {
        let s = summarize(&[ev(false, false, 0)], t(10));
        assert_eq!(s.down_time, m(10));
        assert_eq!(s.down_time_provisioned, Duration::ZERO);
        assert_eq!(s.up_time, Duration::ZERO);
        assert_eq!(s.provisioning_state, ProvisioningState::Provisioning);
        assert_eq!(s.provisioning_duration, m(10));
    }

    #[test]
    fn provisioning_states() {
        // Became up after 7 minutes: success, 7 minutes, whatever follows.
        let s = summarize(
            &[ev(false, false, 0), ev(true, false, 7), ev(false, false, 9)],
            t(30),
        );
        assert_eq!(s.provisioning_state, ProvisioningState::Success);
        assert_eq!(s.provisioning_duration, m(7));
        // Failed after 4 minutes without ever being up: failed, 4 minutes,
        // and it stays 4 minutes as time goes on.
        let events = [ev(false, false, 0), ev(false, false, 4).failed()];
        for now in [t(5), t(50)] {
            let s = summarize(&events, now);
            assert_eq!(s.provisioning_state, ProvisioningState::Failed);
            assert_eq!(s.provisioning_duration, m(4));
        }
        // Failed from the start (an upstream file with `f` on the first event).
        let s = summarize(&[ev(false, false, 2).failed()], t(10));
        assert_eq!(s.provisioning_state, ProvisioningState::Failed);
        assert_eq!(s.provisioning_duration, Duration::ZERO);
        // No longer failed (a pool back from ERROR): provisioning again.
        let s = summarize(
            &[
                ev(false, false, 0),
                ev(false, false, 4).failed(),
                ev(false, false, 6),
            ],
            t(10),
        );
        assert_eq!(s.provisioning_state, ProvisioningState::Provisioning);
        assert_eq!(s.provisioning_duration, m(10));
    }

    #[test]
    fn flag_changes_while_down_are_not_interruptions_recoveries_or_up_time() {
        // Upstream v1.2.0 writes a second down event when a down entity
        // fails; its own summary then counts a second interruption and
        // credits the down time as up time. Ours does neither.
        let events = [
            ev(false, false, 0),
            ev(true, false, 10),
            ev(false, false, 20),          // interruption
            ev(false, false, 25).failed(), // flag change while down
            ev(false, true, 27).failed(),  // and planned
            ev(true, false, 40),           // recovery of the whole 20-minute run
        ];
        let s = summarize(&events, t(50));
        assert_eq!(s.interruption_count, 1);
        assert_eq!(s.recovery_count, 1);
        assert_eq!(s.up_time, m(10 + 10));
        assert_eq!(s.down_time, m(10 + 20));
        assert_eq!(s.latest_down_time_between_recovery, m(20));
        assert_eq!(s.mean_down_time_between_recovery, m(20));
        assert_eq!(s.provisioning_state, ProvisioningState::Success);
        // Planned first, then failed while down: still not an interruption,
        // and coming back is not a recovery.
        let events = [
            ev(false, false, 0),
            ev(true, false, 10),
            ev(false, true, 20),
            ev(false, false, 25).failed(),
            ev(true, false, 40),
        ];
        let s = summarize(&events, t(50));
        assert_eq!((s.interruption_count, s.recovery_count), (0, 0));
        assert_eq!(s.down_time, m(10 + 20));
    }

    #[test]
    fn two_events_give_initial_down_and_up_since() {
        let s = summarize(&[ev(false, false, 0), ev(true, false, 7)], t(10));
        assert_eq!(s.down_time_provisioned, m(7));
        assert_eq!(s.down_time, m(7));
        assert_eq!(s.up_time, m(3));
        assert_eq!(s.interruption_count, 0);
        assert_eq!(s.recovery_count, 0);
    }

    #[test]
    fn spec_worked_example() {
        // SPEC §3.1: down T, up T+10m, planned down T+30m, up T+60m, down T+90m,
        // up T+100m; at T+120m.
        let events = [
            ev(false, false, 0),
            ev(true, false, 10),
            ev(false, true, 30),
            ev(true, false, 60),
            ev(false, false, 90),
            ev(true, false, 100),
        ];
        let s = summarize(&events, t(120));
        assert_eq!(s.interruption_count, 1);
        assert_eq!(s.recovery_count, 1);
        assert_eq!(s.down_time_provisioned, m(10));
        assert_eq!(s.down_time, m(50));
        assert_eq!(s.up_time, m(70));
        assert_eq!(s.mean_up_time_between_interruption, m(50));
        assert_eq!(s.latest_up_time_between_interruption, m(50));
        assert_eq!(s.total_up_time_between_interruption, m(50));
        assert_eq!(s.mean_down_time_between_recovery, m(10));
        assert_eq!(s.latest_down_time_between_recovery, m(10));
        assert_eq!(s.total_down_time_between_recovery, m(10));
    }

    /// The original's algorithm for timelines without planned downs, written out
    /// independently: every down after the first up is an interruption that ends
    /// an up period, every up after that is a recovery.
    fn original(events: &[UpEvent], now: Timestamp) -> Summary {
        let mut s = Summary::default();
        if events.is_empty() || events[0].up || (events.len() > 1 && !events[1].up) {
            return s;
        }
        if events.len() == 1 {
            s.down_time = elapsed(events[0].timestamp, now);
            s.provisioning_duration = s.down_time;
            return s;
        }
        s.down_time_provisioned = elapsed(events[0].timestamp, events[1].timestamp);
        s.down_time = s.down_time_provisioned;
        s.provisioning_state = ProvisioningState::Success;
        s.provisioning_duration = s.down_time_provisioned;
        for i in 2..events.len() {
            let d = elapsed(events[i - 1].timestamp, events[i].timestamp);
            if events[i].up {
                s.down_time += d;
                s.total_down_time_between_recovery += d;
                s.latest_down_time_between_recovery = d;
                s.recovery_count += 1;
            } else {
                s.up_time += d;
                s.total_up_time_between_interruption += d;
                s.latest_up_time_between_interruption = d;
                s.interruption_count += 1;
            }
        }
        let last = &events[events.len() - 1];
        if last.up {
            s.up_time += elapsed(last.timestamp, now);
        } else {
            s.down_time += elapsed(last.timestamp, now);
        }
        if s.interruption_count > 0 {
            s.mean_up_time_between_interruption =
                s.total_up_time_between_interruption / s.interruption_count as u32;
        }
        if s.recovery_count > 0 {
            s.mean_down_time_between_recovery =
                s.total_down_time_between_recovery / s.recovery_count as u32;
        }
        s
    }

    #[test]
    fn without_planned_downs_equals_the_original() {
        let cases: Vec<Vec<UpEvent>> = vec![
            vec![
                ev(false, false, 0),
                ev(true, false, 5),
                ev(false, false, 20),
            ],
            vec![
                ev(false, false, 0),
                ev(true, false, 5),
                ev(false, false, 20),
                ev(true, false, 23),
            ],
            vec![
                ev(false, false, 0),
                ev(true, false, 1),
                ev(false, false, 11),
                ev(true, false, 14),
                ev(false, false, 44),
                ev(true, false, 45),
                ev(false, false, 50),
            ],
        ];
        for events in cases {
            assert_eq!(
                summarize(&events, t(60)),
                original(&events, t(60)),
                "{events:?}"
            );
        }
    }

    #[test]
    fn interruption_then_recovery() {
        let events = [
            ev(false, false, 0),
            ev(true, false, 5),
            ev(false, false, 20),
            ev(true, false, 23),
        ];
        let s = summarize(&events, t(30));
        assert_eq!(s.interruption_count, 1);
        assert_eq!(s.recovery_count, 1);
        assert_eq!(s.latest_up_time_between_interruption, m(15));
        assert_eq!(s.mean_down_time_between_recovery, m(3));
        assert_eq!(s.up_time, m(15 + 7));
        assert_eq!(s.down_time, m(5 + 3));
    }

    #[test]
    fn completed_jobset_is_not_an_interruption() {
        // Up, then Completed (planned down): no interruption, no MTBI.
        let events = [ev(false, false, 0), ev(true, false, 5), ev(false, true, 25)];
        let s = summarize(&events, t(30));
        assert_eq!(s.interruption_count, 0);
        assert_eq!(s.mean_up_time_between_interruption, Duration::ZERO);
        assert_eq!(s.up_time, m(20));
        assert_eq!(s.down_time, m(5 + 5));
    }

    #[test]
    fn return_from_planned_down_is_not_a_recovery() {
        let events = [
            ev(false, false, 0),
            ev(true, false, 5),
            ev(false, true, 25),
            ev(true, false, 40),
        ];
        let s = summarize(&events, t(50));
        assert_eq!(s.recovery_count, 0);
        assert_eq!(s.mean_down_time_between_recovery, Duration::ZERO);
        assert_eq!(s.down_time, m(5 + 15));
    }

    #[test]
    fn planned_down_pauses_the_up_run() {
        // Up 10m, planned down, up 5m, interruption: up-run is 15m.
        let events = [
            ev(false, false, 0),
            ev(true, false, 0),
            ev(false, true, 10),
            ev(true, false, 20),
            ev(false, false, 25),
        ];
        let s = summarize(&events, t(25));
        assert_eq!(s.interruption_count, 1);
        assert_eq!(s.latest_up_time_between_interruption, m(15));
    }

    #[test]
    fn mean_is_over_all_interruptions() {
        let events = [
            ev(false, false, 0),
            ev(true, false, 0),
            ev(false, false, 10),
            ev(true, false, 12),
            ev(false, false, 42),
            ev(true, false, 46),
        ];
        let s = summarize(&events, t(46));
        assert_eq!(s.interruption_count, 2);
        assert_eq!(s.mean_up_time_between_interruption, m(20));
        assert_eq!(s.latest_up_time_between_interruption, m(30));
        assert_eq!(s.recovery_count, 2);
        assert_eq!(s.mean_down_time_between_recovery, m(3));
        assert_eq!(s.latest_down_time_between_recovery, m(4));
    }

    #[test]
    fn now_before_events_is_clamped() {
        let events = [ev(false, false, 10), ev(true, false, 20)];
        let s = summarize(&events, t(0));
        assert_eq!(s.up_time, Duration::ZERO);
        assert_eq!(s.down_time_provisioned, m(10));
    }

    #[test]
    fn summary_json_uses_original_names_and_nanoseconds() {
        let s = summarize(&[ev(false, false, 0), ev(true, false, 1)], t(2));
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["downTimeProvisioned"], 60_000_000_000i64);
        assert_eq!(json["upTime"], 60_000_000_000i64);
        assert!(json.get("interruptionCount").is_some() && json.get("recoveryCount").is_some());
        // Every duration is in the JSON under the name `durations()` gives it.
        for (key, d) in s.durations() {
            assert_eq!(json[key], crate::duration::as_go_nanos(d), "{key}");
        }
        assert_eq!(json["provisioningDuration"], 60_000_000_000i64);
        assert_eq!(json["provisioningState"], "success");
        assert_eq!(json.as_object().unwrap().len(), 13);
    }
}
