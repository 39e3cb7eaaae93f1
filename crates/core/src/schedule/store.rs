//! The `schedules` and `schedule_runs` tables.

use chrono::TimeZone;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{
    EmailWhen, Schedule, ScheduleKind, ScheduleRetention, ScheduleSpec, ScheduleStatus, SlotRecord, SlotState,
};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};

/// CRUD on schedules, and their slot records.
pub struct Schedules<'a> {
    pub(super) db: &'a Db,
    pub(super) clock: &'a dyn Clock,
}

const COLUMNS: &str = "id, name, identity_id, kind, selection, selection_label, name_pattern, cron, retention, \
     copy_to, email_to, email_when, catch_up_ms, enabled, since_ms, created_ms, updated_ms";

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::InvalidInput(format!("cannot encode the schedule: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Corrupt(format!("a schedule's {what} cannot be read: {e}")))
}

fn from_row(r: &SqliteRow) -> Result<Schedule> {
    let retention: Option<String> = r.get("retention");
    let copy_to: Option<String> = r.get("copy_to");
    Ok(Schedule {
        id: r.get("id"),
        spec: ScheduleSpec {
            name: r.get("name"),
            identity_id: r.get("identity_id"),
            kind: ScheduleKind::parse(r.get("kind")).map_err(|e| Error::Corrupt(e.to_string()))?,
            selection: parse_json(r.get("selection"), "selection")?,
            selection_label: r.get("selection_label"),
            name_pattern: r.get("name_pattern"),
            cron: r.get("cron"),
            retention: retention.map(|s| parse_json::<ScheduleRetention>(&s, "retention")).transpose()?,
            copy_to: copy_to.map(|dest| super::ScheduleCopy { dest }),
            email_to: parse_json(r.get("email_to"), "recipients")?,
            email_when: EmailWhen::parse(r.get("email_when")).map_err(|e| Error::Corrupt(e.to_string()))?,
            catch_up_ms: r.get("catch_up_ms"),
            enabled: r.get::<i64, _>("enabled") != 0,
        },
        since_ms: r.get("since_ms"),
        created_ms: r.get("created_ms"),
        updated_ms: r.get("updated_ms"),
    })
}

fn unique_name(e: sqlx::Error, name: &str) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::InvalidInput(format!("a schedule named {name:?} already exists"))
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            Error::InvalidInput("the schedule's identity does not exist".into())
        }
        _ => e.into(),
    }
}

impl<'a> Schedules<'a> {
    pub fn new(db: &'a Db, clock: &'a dyn Clock) -> Self {
        Self { db, clock }
    }

    /// Stores a new schedule after checking it; its first owed slot is after now.
    pub async fn add(&self, spec: &ScheduleSpec) -> Result<Schedule> {
        spec.check()?;
        crate::identity::Identities::new(self.db, self.clock).get(&spec.identity_id).await?;
        let now = self.clock.now_ms();
        let done = sqlx::query(
            "INSERT INTO schedules (name, identity_id, kind, selection, selection_label, name_pattern, cron, retention,
                 copy_to, email_to, email_when, catch_up_ms, enabled, since_ms, created_ms, updated_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(spec.name.trim())
        .bind(&spec.identity_id)
        .bind(spec.kind.as_str())
        .bind(json(&spec.selection)?)
        .bind(spec.selection_label.as_deref())
        .bind(spec.name_pattern.as_deref())
        .bind(super::Recurrence::parse(&spec.cron)?.as_str())
        .bind(spec.retention.as_ref().map(json).transpose()?)
        .bind(spec.copy_to.as_ref().map(|c| c.dest.trim().to_owned()))
        .bind(json(&spec.email_to)?)
        .bind(spec.email_when.as_str())
        .bind(spec.catch_up_ms)
        .bind(i64::from(spec.enabled))
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(|e| unique_name(e, &spec.name))?;
        self.get(done.last_insert_rowid()).await
    }

    pub async fn get(&self, id: i64) -> Result<Schedule> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM schedules WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| Error::NotFound { what: "schedule", id: id.to_string() })?;
        from_row(&row)
    }

    /// The schedule whose id, or else whose name (ignoring case), is `id_or_name`.
    pub async fn find(&self, id_or_name: &str) -> Result<Schedule> {
        if let Ok(id) = id_or_name.parse::<i64>() {
            if let Ok(s) = self.get(id).await {
                return Ok(s);
            }
        }
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM schedules WHERE name = ? COLLATE NOCASE"))
            .bind(id_or_name.trim())
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| Error::NotFound { what: "schedule", id: id_or_name.to_owned() })?;
        from_row(&row)
    }

    /// Every schedule, by name.
    pub async fn list(&self) -> Result<Vec<Schedule>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM schedules ORDER BY name COLLATE NOCASE"))
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Replaces a schedule's settings. A changed recurrence, or a schedule enabled again, owes
    /// nothing from before now (no catch-up of slots of the old recurrence or of the pause).
    pub async fn update(&self, id: i64, spec: &ScheduleSpec) -> Result<Schedule> {
        let recurrence = spec.check()?;
        let old = self.get(id).await?;
        let now = self.clock.now_ms();
        let restart = old.spec.cron != recurrence.as_str() || (spec.enabled && !old.spec.enabled);
        sqlx::query(
            "UPDATE schedules SET name = ?, identity_id = ?, kind = ?, selection = ?, selection_label = ?,
                 name_pattern = ?, cron = ?, retention = ?, copy_to = ?, email_to = ?, email_when = ?, catch_up_ms = ?,
                 enabled = ?, since_ms = ?, updated_ms = ?
             WHERE id = ?",
        )
        .bind(spec.name.trim())
        .bind(&spec.identity_id)
        .bind(spec.kind.as_str())
        .bind(json(&spec.selection)?)
        .bind(spec.selection_label.as_deref())
        .bind(spec.name_pattern.as_deref())
        .bind(recurrence.as_str())
        .bind(spec.retention.as_ref().map(json).transpose()?)
        .bind(spec.copy_to.as_ref().map(|c| c.dest.trim().to_owned()))
        .bind(json(&spec.email_to)?)
        .bind(spec.email_when.as_str())
        .bind(spec.catch_up_ms)
        .bind(i64::from(spec.enabled))
        .bind(if restart { now } else { old.since_ms })
        .bind(now)
        .bind(id)
        .execute(self.db.pool())
        .await
        .map_err(|e| unique_name(e, &spec.name))?;
        self.get(id).await
    }

    /// Deletes a schedule and its slot records (its jobs stay in the history).
    pub async fn remove(&self, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM schedules WHERE id = ?").bind(id).execute(self.db.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "schedule", id: id.to_string() });
        }
        Ok(())
    }

    /// Every schedule with its next run in `zone` after now and its last slot.
    pub async fn statuses<Z: TimeZone>(&self, zone: &Z) -> Result<Vec<ScheduleStatus>> {
        let mut out = Vec::new();
        for schedule in self.list().await? {
            let last = self.last_slot(schedule.id).await?;
            let next_run_ms = if schedule.spec.enabled {
                let after = self.clock.now_ms().max(last.as_ref().map_or(schedule.since_ms, |l| l.slot_ms));
                super::Recurrence::parse(&schedule.spec.cron)?.next_runs(zone, after, 1).first().copied()
            } else {
                None
            };
            out.push(ScheduleStatus { schedule, next_run_ms, last });
        }
        Ok(out)
    }

    /// The latest slot dealt with.
    pub async fn last_slot(&self, id: i64) -> Result<Option<SlotRecord>> {
        let row = sqlx::query(
            "SELECT slot_ms, state, job_id, error, note FROM schedule_runs WHERE schedule_id = ? ORDER BY slot_ms DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| {
            Ok(SlotRecord {
                slot_ms: r.get("slot_ms"),
                state: SlotState::parse(r.get("state"))?,
                job_id: r.get("job_id"),
                error: r.get("error"),
                note: r.get("note"),
            })
        })
        .transpose()
    }

    /// Every slot record of a schedule, oldest first.
    pub async fn slots(&self, id: i64) -> Result<Vec<SlotRecord>> {
        let rows = sqlx::query(
            "SELECT slot_ms, state, job_id, error, note FROM schedule_runs WHERE schedule_id = ? ORDER BY slot_ms",
        )
        .bind(id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SlotRecord {
                    slot_ms: r.get("slot_ms"),
                    state: SlotState::parse(r.get("state"))?,
                    job_id: r.get("job_id"),
                    error: r.get("error"),
                    note: r.get("note"),
                })
            })
            .collect()
    }

    /// Claims a slot: true in exactly one caller across processes, which then owns it. The
    /// claim names this process, so a slot whose process died is found later
    /// ([`super::abandoned`]); a missed slot is ended at once.
    pub async fn claim(&self, id: i64, slot_ms: i64, state: SlotState) -> Result<bool> {
        let me = crate::jobs::holder::this_process();
        let now = self.clock.now_ms();
        let done = sqlx::query(
            "INSERT OR IGNORE INTO schedule_runs (schedule_id, slot_ms, state, claimed_ms, claim_pid, claim_host,
                 claim_pid_start, ended_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(slot_ms)
        .bind(state.as_str())
        .bind(now)
        .bind(i64::from(me.pid))
        .bind(&me.host)
        .bind(me.pid_start.as_deref())
        .bind((state == SlotState::Missed).then_some(now))
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the job (or the error) of a claimed slot whose run ended.
    pub async fn record(&self, id: i64, slot_ms: i64, job_id: Option<i64>, error: Option<&str>) -> Result<()> {
        sqlx::query(
            "UPDATE schedule_runs SET job_id = ?, error = ?, ended_ms = ? WHERE schedule_id = ? AND slot_ms = ?",
        )
        .bind(job_id)
        .bind(error)
        .bind(self.clock.now_ms())
        .bind(id)
        .bind(slot_ms)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}
