//! What a screen shows of the schedules, and asks before saving one: each schedule with its
//! identity's name, its next run, its last slot and the state of the job that slot ran; the next
//! run times of a recurrence (a preset or cron text) not yet saved; switching a schedule on or
//! off. The desktop app's Schedules screen is a thin view over these.

use chrono::TimeZone;
use serde::{Deserialize, Serialize};

use super::{Preset, Recurrence, Schedule, ScheduleStatus, Schedules};
use crate::error::Result;
use crate::jobs::{JobState, Jobs};

/// A schedule as a list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ScheduleOverview {
    #[serde(flatten)]
    pub status: ScheduleStatus,
    /// The name of the identity it runs as.
    pub identity_name: String,
    /// The state of the job the last slot ran (`None`: no slot yet, or it ran no job).
    pub last_job_state: Option<JobState>,
}

/// A recurrence as entered: a preset, or a 5-field cron expression typed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum RecurrenceChoice {
    Preset { preset: Preset },
    Cron { expression: String },
}

impl RecurrenceChoice {
    /// The checked cron expression the schedule stores.
    pub fn recurrence(&self) -> Result<Recurrence> {
        match self {
            RecurrenceChoice::Preset { preset } => Recurrence::parse(&preset.to_cron()?),
            RecurrenceChoice::Cron { expression } => Recurrence::parse(expression),
        }
    }
}

/// The next run times of a recurrence, shown before a schedule is saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RecurrencePreview {
    /// The expression that will be stored.
    pub cron: String,
    /// The next `n` run times after now (epoch ms), in the zone asked for.
    pub next_runs_ms: Vec<i64>,
}

/// The next `n` runs of `choice` after `now_ms` in `zone`; refused with the reason when the
/// preset or expression is not valid.
pub fn preview<Z: TimeZone>(choice: &RecurrenceChoice, zone: &Z, now_ms: i64, n: usize) -> Result<RecurrencePreview> {
    let recurrence = choice.recurrence()?;
    Ok(RecurrencePreview { cron: recurrence.as_str().to_owned(), next_runs_ms: recurrence.next_runs(zone, now_ms, n) })
}

impl Schedules<'_> {
    /// Every schedule with its next run in `zone`, its last slot, its identity's name and the
    /// state of the last slot's job.
    pub async fn overviews<Z: TimeZone>(&self, zone: &Z) -> Result<Vec<ScheduleOverview>> {
        let mut out = Vec::new();
        for status in self.statuses(zone).await? {
            let identity_name: Option<String> = sqlx::query_scalar("SELECT name FROM identities WHERE id = ?")
                .bind(&status.schedule.spec.identity_id)
                .fetch_optional(self.db.pool())
                .await?;
            let last_job_state = match status.last.as_ref().and_then(|l| l.job_id) {
                Some(job_id) => Some(Jobs::new(self.db, self.clock).get(job_id).await?.state),
                None => None,
            };
            out.push(ScheduleOverview {
                identity_name: identity_name.unwrap_or_else(|| status.schedule.spec.identity_id.clone()),
                status,
                last_job_state,
            });
        }
        Ok(out)
    }

    /// Switches a schedule on or off. Switched on again, it owes no run from before.
    pub async fn set_enabled(&self, id: i64, enabled: bool) -> Result<Schedule> {
        let mut spec = self.get(id).await?.spec;
        spec.enabled = enabled;
        self.update(id, &spec).await
    }
}
