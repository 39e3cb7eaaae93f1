//! Schedules: unattended scans, backups and verifies of an identity, run by whichever OrgVault
//! process is up (the desktop app, or `orgvault service run`), exactly once per run time.
//!
//! A schedule ([`ScheduleSpec`], table `schedules`) names an identity, a kind, for a backup a
//! selection, a snapshot name pattern and the retention applied after a success, a standard
//! 5-field cron expression ([`Recurrence`], made from a [`Preset`] or typed) read on the local
//! wall clock, and the e-mail recipients and policy the mail module reads.
//!
//! Public API:
//! - [`Schedules`]: add, edit, remove, list (with the next run and the last slot's state);
//!   [`Schedules::overviews`] adds the identity's name and the last job's state for a screen,
//!   [`Schedules::set_enabled`] switches one on or off.
//! - [`preview`]: the next run times of a [`RecurrenceChoice`] (preset or cron) before saving.
//! - [`Recurrence::next_runs`]: the next run times in a zone, daylight-saving changes handled
//!   (see [`recurrence`]).
//! - [`owed`]: which slots since the last one are owed at a time: the latest runs (on time, or
//!   late within the catch-up window, 24 h by default), the older ones are missed.
//! - [`run_due`]: claim and run what is due now; [`run_now`]: run a schedule at once.
//!
//! Invariants: a slot (schedule, run time) is claimed by inserting its `schedule_runs` row, so
//! exactly one process runs it however many are up; a run is a job of the
//! [`JobRunner`](crate::JobRunner) with `Trigger::Schedule(id)`, so two runs of one identity
//! and kind never overlap; a schedule stores no secret (it names an identity).

mod abandoned;
mod due;
mod host;
mod overview;
pub mod recurrence;
mod run;
mod store;

use serde::{Deserialize, Serialize};

pub use abandoned::{Abandoned, Recovery};
pub use due::{owed, Owed, ON_TIME_MS};
pub use host::{serve, TICK};
pub use overview::{preview, RecurrenceChoice, RecurrencePreview, ScheduleOverview};
pub use recurrence::{Preset, Recurrence, Weekday};
pub use run::{run_due, run_now, snapshot_name, JobEndedHook, NoHook, ScheduleRunReport, ScheduledJobEnded, Scheduler};
pub use store::Schedules;

use crate::error::{Error, Result};
use crate::repo::RetentionPolicy;
use crate::selection::Selection;

/// The catch-up window when none is set: a slot missed while the machine was off runs late if
/// it is at most this old.
pub const DEFAULT_CATCH_UP_MS: i64 = 24 * 3_600_000;

/// What a schedule runs.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    Scan,
    Backup,
    Verify,
}

impl ScheduleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Scan => "scan",
            ScheduleKind::Backup => "backup",
            ScheduleKind::Verify => "verify",
        }
    }

    pub fn parse(s: &str) -> Result<ScheduleKind> {
        match s {
            "scan" => Ok(ScheduleKind::Scan),
            "backup" => Ok(ScheduleKind::Backup),
            "verify" => Ok(ScheduleKind::Verify),
            other => Err(Error::InvalidInput(format!("a schedule runs a scan, backup or verify, not {other:?}"))),
        }
    }
}

/// When the result of a scheduled run is e-mailed to the schedule's recipients.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailWhen {
    Always,
    /// Only when the job did not succeed (partial, failed, cancelled).
    #[default]
    Problems,
    Never,
}

impl EmailWhen {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailWhen::Always => "always",
            EmailWhen::Problems => "problems",
            EmailWhen::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Result<EmailWhen> {
        match s {
            "always" => Ok(EmailWhen::Always),
            "problems" => Ok(EmailWhen::Problems),
            "never" => Ok(EmailWhen::Never),
            other => Err(Error::InvalidInput(format!("e-mail is sent always, on problems or never, not {other:?}"))),
        }
    }
}

/// What to keep after a successful scheduled backup; the rest is forgotten, then (when
/// `prune`) the data no snapshot references is deleted.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRetention {
    pub keep_last: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub prune: bool,
}

impl ScheduleRetention {
    pub fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            keep_last: self.keep_last,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            ..RetentionPolicy::default()
        }
    }

    /// Whether any keep rule is set (a policy with none would forget nothing and is refused).
    pub fn keeps_something(&self) -> bool {
        [self.keep_last, self.keep_daily, self.keep_weekly, self.keep_monthly].iter().any(|n| n.unwrap_or(0) > 0)
    }
}

/// Where a scheduled backup's new snapshot is copied after the backup (an off-site copy,
/// docs/copy.md): a folder path, `az://container[/prefix]` or `s3://bucket[/prefix][?..]`. No
/// secret is stored here: Azure's connection string and S3's keys come from the environment of
/// the process that runs the schedule (`AZURE_STORAGE_CONNECTION_STRING`, `AWS_*` or a profile
/// in ~/.aws/credentials named by `?profile=`); the destination repository is opened, or
/// created, with the identity's repository password.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleCopy {
    pub dest: String,
}

/// A schedule as entered.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub name: String,
    pub identity_id: String,
    pub kind: ScheduleKind,
    /// What a backup takes; `Everything` includes items created after the schedule was made.
    pub selection: Selection,
    /// The saved quick filter the selection came from, if any (shown, not interpreted).
    pub selection_label: Option<String>,
    /// The snapshot name, with `{identity}`, `{schedule}`, `{date}` and `{time}` (local)
    /// replaced; `None`: "<identity> <date> <time>".
    pub name_pattern: Option<String>,
    /// A standard 5-field cron expression.
    pub cron: String,
    /// Applied after a successful backup.
    pub retention: Option<ScheduleRetention>,
    /// After a successful backup (and its retention), its snapshot is copied there.
    #[serde(default)]
    pub copy_to: Option<ScheduleCopy>,
    pub email_to: Vec<String>,
    pub email_when: EmailWhen,
    pub catch_up_ms: i64,
    pub enabled: bool,
}

impl ScheduleSpec {
    /// A schedule with the defaults: everything, no retention, no e-mail, enabled.
    pub fn new(name: &str, identity_id: &str, kind: ScheduleKind, cron: &str) -> ScheduleSpec {
        ScheduleSpec {
            name: name.to_owned(),
            identity_id: identity_id.to_owned(),
            kind,
            selection: Selection::Everything,
            selection_label: None,
            name_pattern: None,
            cron: cron.to_owned(),
            retention: None,
            copy_to: None,
            email_to: Vec::new(),
            email_when: EmailWhen::default(),
            catch_up_ms: DEFAULT_CATCH_UP_MS,
            enabled: true,
        }
    }

    /// Checks what can be checked without the database; returns the parsed recurrence.
    pub fn check(&self) -> Result<Recurrence> {
        if self.name.trim().is_empty() {
            return Err(Error::InvalidInput("a schedule needs a name".into()));
        }
        let recurrence = Recurrence::parse(&self.cron)?;
        if let Some(bad) = self.email_to.iter().find(|a| !looks_like_address(a)) {
            return Err(Error::InvalidInput(format!("{bad:?} is not an e-mail address")));
        }
        if let Some(c) = &self.copy_to {
            if self.kind != ScheduleKind::Backup {
                return Err(Error::InvalidInput("a copy follows backup schedules only".into()));
            }
            let dest = c.dest.trim();
            let local = !dest.contains("://");
            if dest.is_empty() || (local && !std::path::Path::new(dest).is_absolute()) {
                return Err(Error::InvalidInput(format!(
                    "copy to {dest:?}: give an absolute folder path, az://container[/prefix] or s3://bucket[/prefix]"
                )));
            }
            if !local && !dest.starts_with("az://") && !dest.starts_with("s3://") {
                return Err(Error::InvalidInput(format!(
                    "copy to {dest:?}: only folders, az:// and s3:// destinations are supported"
                )));
            }
        }
        if let Some(r) = &self.retention {
            if self.kind != ScheduleKind::Backup {
                return Err(Error::InvalidInput("retention applies to backup schedules only".into()));
            }
            if !r.keeps_something() {
                return Err(Error::InvalidInput("a retention policy needs at least one keep rule".into()));
            }
        }
        if self.catch_up_ms < 0 {
            return Err(Error::InvalidInput("the catch-up window cannot be negative".into()));
        }
        Ok(recurrence)
    }
}

fn looks_like_address(a: &str) -> bool {
    match a.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !a.chars().any(char::is_whitespace),
        None => false,
    }
}

/// A stored schedule.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: i64,
    #[serde(flatten)]
    pub spec: ScheduleSpec,
    /// Slots at or before this time are not owed.
    pub since_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// What became of a slot.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// Run at its time.
    Ran,
    /// Run after its time, within the catch-up window (the machine was off or asleep).
    Late,
    /// Not run: older than the catch-up window, or superseded by a later slot.
    Missed,
}

impl SlotState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Ran => "ran",
            SlotState::Late => "late",
            SlotState::Missed => "missed",
        }
    }

    fn parse(s: &str) -> Result<SlotState> {
        match s {
            "ran" => Ok(SlotState::Ran),
            "late" => Ok(SlotState::Late),
            "missed" => Ok(SlotState::Missed),
            other => Err(Error::Corrupt(format!("unexpected slot state {other:?}"))),
        }
    }
}

/// One claimed slot.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub slot_ms: i64,
    pub state: SlotState,
    pub job_id: Option<i64>,
    pub error: Option<String>,
    /// What became of a slot whose process died before its job ended: run again, or why not.
    pub note: Option<String>,
}

/// A schedule with what a list shows beside it.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleStatus {
    #[serde(flatten)]
    pub schedule: Schedule,
    /// The next run time (epoch ms); `None` when disabled.
    pub next_run_ms: Option<i64>,
    pub last: Option<SlotRecord>,
}

/// The machine's time zone, in which schedules are read.
pub use chrono::Local as LocalZone;

/// An instant (epoch ms) as local time with its offset (RFC 3339), as lists show a next run.
pub fn local_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&LocalZone).to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
        .unwrap_or_else(|| ms.to_string())
}
