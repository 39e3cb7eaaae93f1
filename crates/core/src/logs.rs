//! How long the daily log files are kept, for every front end: the app, the CLI and the
//! background service write `<data>/logs/<prefix>.log.<YYYY-MM-DD>` (tracing-appender's daily
//! files) and remove, at start and when Settings change, the ones older than the number of days
//! Settings keep (`log_keep_days` in `<data>/settings.json`, [`DEFAULT_KEEP_DAYS`] when unset).
//!
//! Only OrgVault's own log files are removed: a name must be one of [`LOG_PREFIXES`] followed by
//! `.log.` and a valid date, and nothing else in the folder (a file the user put there, a zip) is
//! touched, whatever its age.

use std::path::Path;

use chrono::NaiveDate;

/// Days of log files kept when Settings say nothing.
pub const DEFAULT_KEEP_DAYS: u32 = 30;
/// The most days Settings accept (ten years).
pub const MAX_KEEP_DAYS: u32 = 3650;
/// The log file prefixes this tool writes: the CLI and background service, the desktop app.
pub const LOG_PREFIXES: &[&str] = &["orgvault", "orgvault-desktop"];

/// The days of logs Settings keep: `log_keep_days` of `<data>/settings.json`, else the default.
pub fn keep_days(data_dir: &Path) -> u32 {
    std::fs::read_to_string(data_dir.join("settings.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("log_keep_days").and_then(serde_json::Value::as_u64))
        .map_or(DEFAULT_KEEP_DAYS, |d| d.clamp(1, u64::from(MAX_KEEP_DAYS)) as u32)
}

/// The day a file name of ours is for, or `None` for any other name.
fn log_day(name: &str) -> Option<NaiveDate> {
    LOG_PREFIXES.iter().find_map(|p| {
        let date = name.strip_prefix(p)?.strip_prefix(".log.")?;
        NaiveDate::parse_from_str(date, "%Y-%m-%d").ok().filter(|_| date.len() == 10)
    })
}

/// Removes OrgVault's log files in `logs_dir` for days before the last `keep_days` days up to
/// `today` (today's file is always kept). Answers how many were removed; a file that cannot be
/// removed is skipped with a warning.
pub fn remove_old_logs(logs_dir: &Path, keep_days: u32, today: NaiveDate) -> usize {
    let Some(oldest_kept) = today.checked_sub_days(chrono::Days::new(u64::from(keep_days.max(1)) - 1)) else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(logs_dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(day) = name.to_str().and_then(log_day) else { continue };
        if day >= oldest_kept || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) => tracing::warn!(file = %entry.path().display(), "cannot remove an old log file: {e}"),
        }
    }
    if removed > 0 {
        tracing::info!(removed, keep_days, "old log files removed");
    }
    removed
}

/// [`remove_old_logs`] for `<data>/logs` with the days Settings keep, as of today (UTC, the
/// day tracing-appender names its files by).
pub fn apply_retention(data_dir: &Path) -> usize {
    remove_old_logs(&data_dir.join("logs"), keep_days(data_dir), chrono::Utc::now().date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn only_our_log_files_older_than_the_kept_days_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = [
            "orgvault.log.2026-11-01",         // old: removed
            "orgvault-desktop.log.2026-11-20", // old: removed
            "orgvault.log.2026-11-29",         // the oldest kept day (7 days up to 12-05)
            "orgvault-desktop.log.2026-12-05", // today
            "notes.log.2020-01-01",            // not ours
            "orgvault.log.2020-01-01.bak",     // not ours
            "orgvault.log.yesterday",          // not ours
            "support.zip",                     // not ours
        ];
        for n in names {
            std::fs::write(dir.path().join(n), "x").expect("write");
        }
        std::fs::create_dir(dir.path().join("orgvault.log.2019-01-01")).expect("a folder named like a log");
        assert_eq!(remove_old_logs(dir.path(), 7, day("2026-12-05")), 2, "the two old files of ours");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("e").file_name().into_string().expect("utf8"))
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "notes.log.2020-01-01",
                "orgvault-desktop.log.2026-12-05",
                "orgvault.log.2019-01-01",
                "orgvault.log.2020-01-01.bak",
                "orgvault.log.2026-11-29",
                "orgvault.log.yesterday",
                "support.zip"
            ]
        );
        assert_eq!(remove_old_logs(dir.path(), 1, day("2026-12-05")), 1, "keeping one day keeps today's only");
        assert_eq!(remove_old_logs(&dir.path().join("missing"), 1, day("2026-12-05")), 0, "no folder, nothing to do");
    }

    #[test]
    fn the_kept_days_come_from_settings_within_bounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(keep_days(dir.path()), DEFAULT_KEEP_DAYS, "no settings: the default");
        std::fs::write(dir.path().join("settings.json"), r#"{"log_level":"info","log_keep_days":14}"#).expect("w");
        assert_eq!(keep_days(dir.path()), 14);
        std::fs::write(dir.path().join("settings.json"), r#"{"log_keep_days":0}"#).expect("w");
        assert_eq!(keep_days(dir.path()), 1, "at least one day");
        std::fs::write(dir.path().join("settings.json"), "not json").expect("w");
        assert_eq!(keep_days(dir.path()), DEFAULT_KEEP_DAYS, "unreadable settings: the default");
    }
}
