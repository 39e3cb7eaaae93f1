//! Which slots a schedule owes at a time.
//!
//! The slots owed are the run times after the last slot dealt with (or after the schedule
//! began to count) up to now. Only the latest runs: on time when it is at most
//! [`ON_TIME_MS`] old, late when it is within the schedule's catch-up window; older than
//! that it is missed, like every earlier owed slot (a machine that was off for three days runs
//! a daily backup once, not three times). Slots are looked for at most [`LOOK_BACK_MS`] back
//! and at most [`MAX_MISSED`] missed ones are reported, so a long-off machine with a
//! minute-by-minute schedule costs little.

use std::collections::VecDeque;

use chrono::TimeZone;

use super::{Recurrence, SlotState};

/// A slot this recent is run on time (a service loop ticks every few seconds).
pub const ON_TIME_MS: i64 = 2 * 60_000;

/// Owed slots are looked for this far back at most.
pub const LOOK_BACK_MS: i64 = 31 * 24 * 3_600_000;

/// At most this many missed slots are recorded at once (the most recent).
pub const MAX_MISSED: usize = 100;

/// The slots owed at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owed {
    /// The slot to run now, and whether that is on time or late.
    pub run: Option<(i64, SlotState)>,
    /// Slots not to run, oldest first.
    pub missed: Vec<i64>,
}

/// The slots of `recurrence` in `zone` after `since_ms` and at or before `now_ms`, sorted
/// into the one to run and the missed ones (see the module doc).
pub fn owed<Z: TimeZone>(recurrence: &Recurrence, zone: &Z, since_ms: i64, now_ms: i64, catch_up_ms: i64) -> Owed {
    let from = since_ms.max(now_ms - LOOK_BACK_MS);
    let mut slots: VecDeque<i64> = VecDeque::new();
    for slot in recurrence.runs_after(zone, from).take_while(|&t| t <= now_ms) {
        if slots.len() > MAX_MISSED {
            slots.pop_front();
        }
        slots.push_back(slot);
    }
    let Some(latest) = slots.pop_back() else {
        return Owed::default();
    };
    let age = now_ms - latest;
    let mut missed: Vec<i64> = slots.into_iter().collect();
    let run = if age <= ON_TIME_MS {
        Some((latest, SlotState::Ran))
    } else if age <= catch_up_ms {
        Some((latest, SlotState::Late))
    } else {
        missed.push(latest);
        None
    };
    if missed.len() > MAX_MISSED {
        missed.drain(..missed.len() - MAX_MISSED);
    }
    Owed { run, missed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    const H: i64 = 3_600_000;

    fn at(h: u32, m: u32, day: u32) -> i64 {
        Berlin.with_ymd_and_hms(2026, 6, day, h, m, 0).single().expect("time").timestamp_millis()
    }

    #[test]
    fn a_slot_just_passed_runs_on_time() {
        let daily = Recurrence::parse("0 3 * * *").expect("parse");
        let owed = owed(&daily, &Berlin, at(12, 0, 1), at(3, 0, 2) + 30_000, 24 * H);
        assert_eq!(owed, Owed { run: Some((at(3, 0, 2), SlotState::Ran)), missed: vec![] });
        let nothing = super::owed(&daily, &Berlin, at(3, 0, 2), at(3, 0, 2) + 60_000, 24 * H);
        assert_eq!(nothing, Owed::default(), "a slot already dealt with is not owed again");
    }

    #[test]
    fn after_a_night_off_the_latest_slot_runs_late_once_and_older_ones_are_missed() {
        let daily = Recurrence::parse("0 3 * * *").expect("parse");
        // Off from June 1st noon to June 4th 09:00: slots on the 2nd, 3rd and 4th at 03:00.
        let owed = owed(&daily, &Berlin, at(12, 0, 1), at(9, 0, 4), 24 * H);
        assert_eq!(owed.run, Some((at(3, 0, 4), SlotState::Late)), "the latest slot, within 24 h, runs late");
        assert_eq!(owed.missed, vec![at(3, 0, 2), at(3, 0, 3)], "older slots are missed, not run");
    }

    #[test]
    fn a_slot_older_than_the_catch_up_window_is_missed() {
        let weekly = Recurrence::parse("0 3 * * 1").expect("parse"); // June 1st 2026 is a Monday
        let owed = owed(&weekly, &Berlin, at(0, 0, 1), at(9, 0, 3), 24 * H);
        assert_eq!(owed, Owed { run: None, missed: vec![at(3, 0, 1)] }, "54 hours late is beyond the window");
        let wide = super::owed(&weekly, &Berlin, at(0, 0, 1), at(9, 0, 3), 72 * H);
        assert_eq!(wide.run, Some((at(3, 0, 1), SlotState::Late)), "a wider window catches it up");
    }

    #[test]
    fn a_long_absence_with_a_minute_schedule_reports_a_bounded_number_of_misses() {
        let every = Recurrence::parse("* * * * *").expect("parse");
        let owed = owed(&every, &Berlin, at(0, 0, 1), at(0, 0, 8), 24 * H);
        assert_eq!(owed.run, Some((at(0, 0, 8), SlotState::Ran)));
        assert_eq!(owed.missed.len(), MAX_MISSED, "at most {MAX_MISSED} misses are recorded");
        assert_eq!(*owed.missed.last().expect("one"), at(0, 0, 8) - 60_000, "the most recent ones");
    }
}
