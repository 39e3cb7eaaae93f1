//! When a schedule runs: a standard 5-field cron expression (minute, hour, day of month, month,
//! day of week), made from a preset or typed, and its run times in a time zone.
//!
//! The `cron` crate wants a seconds field and counts the days of the week from 1 (Sunday) to 7;
//! a standard expression counts them from 0 (Sunday) to 6, with 7 for Sunday again. [`Recurrence`]
//! keeps the standard text and hands the crate a translation. (As in the crate, a day of the
//! month and a day of the week that are both restricted must both match.)
//!
//! Daylight-saving time: the expression is read on the local wall clock, and each wall-clock
//! time is mapped to one instant so that no run is lost or doubled:
//! - a time the clocks skip (02:30 on a spring-forward night in Europe/Berlin) runs at the
//!   first instant after the gap (03:00 summer time), once, even when several skipped times map
//!   there;
//! - a time that happens twice (02:30 on a fall-back night) runs once, at its first occurrence,
//!   unless the expression names every hour (`* * * * *`, `30 * * * *`): such runs follow
//!   elapsed time, so they run in both occurrences of a repeated hour and have none in a
//!   skipped one (01:30 CET is followed by 03:30 CEST, an hour later).

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use cron::TimeUnitSpec;

use crate::error::{Error, Result};

/// A day of the week, as the presets name them.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Sun,
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
}

impl Weekday {
    /// Standard cron number: Sunday 0 to Saturday 6.
    fn number(self) -> u8 {
        self as u8
    }
}

/// The common recurrences, each turned into a cron expression.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "every")]
pub enum Preset {
    /// Every hour at `minute`.
    Hourly { minute: u8 },
    /// Every day at `hour:minute`.
    Daily { hour: u8, minute: u8 },
    /// On the chosen days at `hour:minute`.
    Weekly { days: Vec<Weekday>, hour: u8, minute: u8 },
    /// On day `day` (1-28 keeps every month) of each month at `hour:minute`.
    Monthly { day: u8, hour: u8, minute: u8 },
}

impl Preset {
    /// The 5-field cron expression; refused when a number is out of range or no day is chosen.
    pub fn to_cron(&self) -> Result<String> {
        let check = |what: &str, v: u8, lo: u8, hi: u8| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(Error::InvalidInput(format!("the {what} must be from {lo} to {hi}, not {v}")))
            }
        };
        let at = |hour: u8, minute: u8| -> Result<()> {
            check("hour", hour, 0, 23)?;
            check("minute", minute, 0, 59)
        };
        Ok(match self {
            Preset::Hourly { minute } => {
                check("minute", *minute, 0, 59)?;
                format!("{minute} * * * *")
            }
            Preset::Daily { hour, minute } => {
                at(*hour, *minute)?;
                format!("{minute} {hour} * * *")
            }
            Preset::Weekly { days, hour, minute } => {
                at(*hour, *minute)?;
                if days.is_empty() {
                    return Err(Error::InvalidInput("a weekly schedule needs at least one day".into()));
                }
                let mut numbers: Vec<u8> = days.iter().map(|d| d.number()).collect();
                numbers.sort_unstable();
                numbers.dedup();
                let days = numbers.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
                format!("{minute} {hour} * * {days}")
            }
            Preset::Monthly { day, hour, minute } => {
                at(*hour, *minute)?;
                check("day of the month", *day, 1, 31)?;
                format!("{minute} {hour} {day} * *")
            }
        })
    }
}

/// A parsed recurrence: the standard expression as entered, and the crate's schedule.
#[derive(Debug, Clone)]
pub struct Recurrence {
    text: String,
    schedule: cron::Schedule,
}

/// How far before a starting instant the wall-clock walk begins, so that the second occurrence
/// of a repeated hour is not skipped (no zone shifts its clock by more than this at once).
const WALK_BACK: Duration = Duration::hours(3);

impl Recurrence {
    /// Parses a standard 5-field cron expression (`"30 2 * * *"`, `"0 */6 * * 1-5"`).
    pub fn parse(text: &str) -> Result<Recurrence> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields.as_slice() else {
            return Err(Error::InvalidInput(format!(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week), {:?} has {}",
                text,
                fields.len()
            )));
        };
        let dow = crate_days_of_week(dow)?;
        let crate_text = format!("0 {minute} {hour} {dom} {month} {dow}");
        let schedule: cron::Schedule = crate_text
            .parse()
            .map_err(|e| Error::InvalidInput(format!("the cron expression {text:?} is not valid: {e}")))?;
        let text = fields.join(" ");
        let probe = Recurrence { text, schedule };
        // "0 0 30 2 *" parses but never runs.
        if probe.naive_after(Utc::now().naive_utc()).next().is_none() {
            return Err(Error::InvalidInput(format!("the cron expression {:?} never runs", probe.text)));
        }
        Ok(probe)
    }

    /// The standard expression, fields separated by one space.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Wall-clock times after `start`, in order (the crate's walk, read as naive times).
    fn naive_after(&self, start: NaiveDateTime) -> impl Iterator<Item = NaiveDateTime> + '_ {
        self.schedule.after(&Utc.from_utc_datetime(&start)).map(|t| t.naive_utc())
    }

    /// The run instants strictly after `after_ms` (epoch ms) in `zone`, in increasing order,
    /// with daylight-saving changes handled as the module says.
    pub fn runs_after<'s, Z: TimeZone + 's>(&'s self, zone: &Z, after_ms: i64) -> impl Iterator<Item = i64> + 's {
        let every_hour = self.schedule.hours().is_all();
        let zone = zone.clone();
        let start =
            DateTime::from_timestamp_millis(after_ms).map(|t| t.with_timezone(&zone).naive_local()).unwrap_or_default()
                - WALK_BACK;
        let mut last = after_ms;
        self.naive_after(start).flat_map(move |wall| instants(&zone, wall, every_hour)).filter(move |&t| {
            // Skipped and repeated wall times can map onto an instant already given.
            let fresh = t > last;
            if fresh {
                last = t;
            }
            fresh
        })
    }

    /// The next `n` run instants after `after_ms`.
    pub fn next_runs<Z: TimeZone>(&self, zone: &Z, after_ms: i64, n: usize) -> Vec<i64> {
        self.runs_after(zone, after_ms).take(n).collect()
    }
}

/// The instants (epoch ms) at which the wall-clock time `wall` happens in `zone`. A schedule
/// that `follows_elapsed` time (every hour) runs in both occurrences of a repeated time and
/// not at all at a skipped one; any other runs once at a repeated time and at the end of the
/// gap for a skipped one.
fn instants<Z: TimeZone>(zone: &Z, wall: NaiveDateTime, follows_elapsed: bool) -> Vec<i64> {
    match zone.from_local_datetime(&wall) {
        LocalResult::Single(t) => vec![t.timestamp_millis()],
        LocalResult::Ambiguous(first, second) if follows_elapsed => {
            vec![first.timestamp_millis(), second.timestamp_millis()]
        }
        LocalResult::Ambiguous(first, _) => vec![first.timestamp_millis()],
        LocalResult::None if follows_elapsed => Vec::new(),
        LocalResult::None => gap_end(zone, wall).into_iter().collect(),
    }
}

/// The first instant whose wall-clock time in `zone` is at or after `wall`, for a `wall` that
/// the clocks skipped: bisection between the instants `wall` would be under the offsets
/// either side of the gap.
fn gap_end<Z: TimeZone>(zone: &Z, wall: NaiveDateTime) -> Option<i64> {
    let offset_at =
        |w: NaiveDateTime| zone.from_local_datetime(&w).earliest().map(|t| t.fixed_offset().offset().local_minus_utc());
    let before = offset_at(wall - WALK_BACK)?;
    let after = offset_at(wall + WALK_BACK)?;
    let as_utc = |offset: i32| (wall - Duration::seconds(i64::from(offset))).and_utc().timestamp_millis();
    let (mut lo, mut hi) = (as_utc(before.max(after)), as_utc(before.min(after)));
    let local = |ms: i64| DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(zone).naive_local());
    if local(hi)? < wall {
        return None;
    }
    // Invariant: local(lo) < wall <= local(hi).
    while hi - lo > 1_000 {
        let mid = lo + (hi - lo) / 2;
        if local(mid)? >= wall {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi - hi.rem_euclid(1_000))
}

/// The day-of-week field in the crate's numbering (Sunday 1 to Saturday 7); names pass as they are.
fn crate_days_of_week(field: &str) -> Result<String> {
    let bad = || Error::InvalidInput(format!("the day-of-week field {field:?} is not valid (0-7 or SUN-SAT)"));
    let shift = |n: &str| -> Result<Option<u8>> {
        if n.chars().all(|c| c.is_ascii_digit()) {
            let v: u8 = n.parse().map_err(|_| bad())?;
            if v > 7 {
                return Err(bad());
            }
            Ok(Some(v % 7 + 1))
        } else {
            Ok(None)
        }
    };
    let mut parts = Vec::new();
    for part in field.split(',') {
        let (base, step) = match part.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (part, None),
        };
        let step = step.map(|s| format!("/{s}")).unwrap_or_default();
        match base.split_once('-') {
            Some((a, b)) => match (shift(a)?, shift(b)?, b) {
                // "5-7": Friday to Sunday, where Sunday is 1 in the crate.
                (Some(a), Some(1), "7") if step.is_empty() => {
                    parts.push(if a == 1 { "1-7".to_owned() } else { format!("{a}-7") });
                    parts.push("1".into());
                }
                (Some(a), Some(b), _) => parts.push(format!("{a}-{b}{step}")),
                (None, None, _) => parts.push(part.to_owned()),
                _ => return Err(bad()),
            },
            None => match shift(base)? {
                Some(n) => parts.push(format!("{n}{step}")),
                None => parts.push(part.to_owned()),
            },
        }
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn at(zone: &chrono_tz::Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        zone.with_ymd_and_hms(y, mo, d, h, mi, 0).earliest().expect("a wall time").timestamp_millis()
    }

    fn berlin(ms: i64) -> String {
        DateTime::from_timestamp_millis(ms).expect("ms").with_timezone(&Berlin).format("%m-%d %H:%M %Z").to_string()
    }

    #[test]
    fn presets_become_standard_expressions() {
        assert_eq!(Preset::Hourly { minute: 5 }.to_cron().expect("hourly"), "5 * * * *");
        assert_eq!(Preset::Daily { hour: 2, minute: 30 }.to_cron().expect("daily"), "30 2 * * *");
        let weekly = Preset::Weekly { days: vec![Weekday::Fri, Weekday::Mon, Weekday::Mon], hour: 22, minute: 0 };
        assert_eq!(weekly.to_cron().expect("weekly"), "0 22 * * 1,5", "days sorted and once each");
        assert_eq!(Preset::Monthly { day: 1, hour: 3, minute: 15 }.to_cron().expect("monthly"), "15 3 1 * *");
        assert!(Preset::Daily { hour: 24, minute: 0 }.to_cron().is_err(), "hour 24 is refused");
        assert!(
            Preset::Weekly { days: vec![], hour: 1, minute: 0 }.to_cron().is_err(),
            "a week with no day is refused"
        );
    }

    #[test]
    fn only_standard_five_field_expressions_are_accepted() {
        assert!(Recurrence::parse("0 0 * * * *").is_err(), "six fields are not a standard expression");
        assert!(Recurrence::parse("61 * * * *").is_err(), "minute 61 does not exist");
        assert!(Recurrence::parse("0 0 30 2 *").is_err(), "February 30th never comes");
        assert_eq!(Recurrence::parse("  */15   *  * * * ").expect("every 15 min").as_str(), "*/15 * * * *");
    }

    #[test]
    fn days_of_the_week_count_from_sunday_zero_as_in_standard_cron() {
        let zone = Berlin;
        // Thursday 2026-01-01 12:00.
        let from = at(&zone, 2026, 1, 1, 12, 0);
        let monday = Recurrence::parse("0 9 * * 1").expect("parse");
        assert_eq!(berlin(monday.next_runs(&zone, from, 1)[0]), "01-05 09:00 CET", "1 is Monday");
        for sunday in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN"] {
            let r = Recurrence::parse(sunday).expect("parse");
            assert_eq!(berlin(r.next_runs(&zone, from, 1)[0]), "01-04 09:00 CET", "{sunday} is Sunday");
        }
        let weekend = Recurrence::parse("0 9 * * 6-7").expect("parse");
        let runs: Vec<String> = weekend.next_runs(&zone, from, 3).into_iter().map(berlin).collect();
        assert_eq!(runs, ["01-03 09:00 CET", "01-04 09:00 CET", "01-10 09:00 CET"], "6-7 is Saturday and Sunday");
        let workdays = Recurrence::parse("0 9 * * 1-5").expect("parse");
        let runs: Vec<String> = workdays.next_runs(&zone, from, 2).into_iter().map(berlin).collect();
        assert_eq!(runs, ["01-02 09:00 CET", "01-05 09:00 CET"], "1-5 is Monday to Friday");
    }

    #[test]
    fn a_daily_run_in_the_skipped_hour_runs_once_after_the_spring_gap() {
        // 2026-03-29: Berlin's clocks go from 02:00 CET to 03:00 CEST.
        let daily = Recurrence::parse("30 2 * * *").expect("parse");
        let runs: Vec<String> =
            daily.next_runs(&Berlin, at(&Berlin, 2026, 3, 27, 12, 0), 4).into_iter().map(berlin).collect();
        assert_eq!(
            runs,
            ["03-28 02:30 CET", "03-29 03:00 CEST", "03-30 02:30 CEST", "03-31 02:30 CEST"],
            "the skipped 02:30 runs once, at the end of the gap, and the days after keep 02:30"
        );
    }

    #[test]
    fn a_daily_run_in_the_repeated_hour_runs_once_in_the_autumn() {
        // 2026-10-25: Berlin's clocks go from 03:00 CEST back to 02:00 CET.
        let daily = Recurrence::parse("30 2 * * *").expect("parse");
        let runs: Vec<String> =
            daily.next_runs(&Berlin, at(&Berlin, 2026, 10, 24, 12, 0), 3).into_iter().map(berlin).collect();
        assert_eq!(runs, ["10-25 02:30 CEST", "10-26 02:30 CET", "10-27 02:30 CET"], "02:30 happens twice, runs once");
        // Asked from within the repeated hour, after the first 02:30: nothing more that night.
        let between = at(&Berlin, 2026, 10, 25, 2, 45); // earliest = 02:45 CEST
        assert_eq!(berlin(daily.next_runs(&Berlin, between, 1)[0]), "10-26 02:30 CET", "not doubled");
        let in_second = between + 3_600_000; // 02:45 CET
        assert_eq!(berlin(daily.next_runs(&Berlin, in_second, 1)[0]), "10-26 02:30 CET", "not doubled");
    }

    #[test]
    fn an_hourly_run_follows_elapsed_time_across_both_changes() {
        let hourly = Recurrence::parse("30 * * * *").expect("parse");
        let spring: Vec<String> =
            hourly.next_runs(&Berlin, at(&Berlin, 2026, 3, 29, 0, 45), 3).into_iter().map(berlin).collect();
        assert_eq!(spring, ["03-29 01:30 CET", "03-29 03:30 CEST", "03-29 04:30 CEST"], "the skipped hour has no run");
        let autumn: Vec<String> =
            hourly.next_runs(&Berlin, at(&Berlin, 2026, 10, 25, 1, 45), 3).into_iter().map(berlin).collect();
        assert_eq!(autumn, ["10-25 02:30 CEST", "10-25 02:30 CET", "10-25 03:30 CET"], "the repeated hour runs twice");
        // From inside the first 02:xx, the second 02:30 still comes.
        let first_0240 = at(&Berlin, 2026, 10, 25, 2, 40);
        assert_eq!(berlin(hourly.next_runs(&Berlin, first_0240, 1)[0]), "10-25 02:30 CET");
    }

    #[test]
    fn every_minute_runs_are_strictly_increasing_across_the_gap() {
        let every = Recurrence::parse("*/20 * * * *").expect("parse");
        let runs: Vec<String> =
            every.next_runs(&Berlin, at(&Berlin, 2026, 3, 29, 1, 30), 4).into_iter().map(berlin).collect();
        assert_eq!(runs, ["03-29 01:40 CET", "03-29 03:00 CEST", "03-29 03:20 CEST", "03-29 03:40 CEST"]);
    }
}
