//! Slots whose process died before their run ended.
//!
//! A process that claims a slot writes its process id, host and the OS's start time of the
//! process on the slot, and the slot's end when the run is over. A slot that was claimed to
//! run but never ended is *abandoned* when its claimant is proven gone: on this host, its
//! process is no longer there (the check job leases use); on another host, the job it began was
//! failed "interrupted" by the job runner's reconcile (its lease expired). A slot whose
//! claimant may still be alive is left alone.
//!
//! What an admin expects of a backup cut off by a crash or a reboot is that it happens once
//! anyway, not that it waits a day. So an abandoned slot is **run again once**, by whichever
//! process finds it first, when it is still the schedule's latest slot and inside the catch-up
//! window; the slot's `note` says so. Otherwise (it was already run again once, a later run
//! time was dealt with since, or it is older than the window) it is recorded **missed** with
//! the reason in its `note`. Taking a slot over is a compare-and-set on its claim, so two
//! processes that find it at once never both run it.

use sqlx::Row;

use super::{Schedules, SlotState};
use crate::error::Result;
use crate::jobs::holder::{self, Holder};
use crate::jobs::{Job, JobState, Jobs, INTERRUPTED};

/// A slot claimed to run whose claimant is gone before the run ended.
#[derive(Debug, Clone)]
pub struct Abandoned {
    pub slot_ms: i64,
    pub state: SlotState,
    claimed_ms: i64,
    reruns: i64,
    /// Who claimed it ("pid 4242 on host").
    pub claimant: String,
    /// The first job it began (of the schedule's kind), if it got that far.
    pub job: Option<Job>,
}

/// What becomes of an abandoned slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Run it again now; the note says why.
    RunAgain { note: String },
    /// Record it missed; the note says why it is not run again.
    Missed { note: String },
}

impl Abandoned {
    fn what_happened(&self) -> String {
        match &self.job {
            Some(job) => format!("the process that ran it ({}) stopped before job {} ended", self.claimant, job.id),
            None => format!("the process that claimed it ({}) stopped before its job began", self.claimant),
        }
    }

    /// Runs again once, while it is the schedule's latest slot and inside the catch-up window.
    pub fn recovery(&self, later_slot: bool, now_ms: i64, catch_up_ms: i64) -> Recovery {
        let what = self.what_happened();
        let why_not = if self.reruns > 0 {
            Some("it was already run again once")
        } else if later_slot {
            Some("a later run time was dealt with since")
        } else if now_ms - self.slot_ms > catch_up_ms {
            Some("it is older than the catch-up window")
        } else {
            None
        };
        match why_not {
            None => Recovery::RunAgain { note: format!("run again: {what}") },
            Some(reason) => Recovery::Missed { note: format!("not run again: {what}; {reason}") },
        }
    }
}

/// The abandoned slots of schedule `id`, oldest first.
pub(super) async fn find(schedules: &Schedules<'_>, id: i64) -> Result<Vec<Abandoned>> {
    let rows = sqlx::query(
        "SELECT slot_ms, state, claimed_ms, reruns, claim_pid, claim_host, claim_pid_start FROM schedule_runs
         WHERE schedule_id = ? AND ended_ms IS NULL AND state IN ('ran', 'late') ORDER BY slot_ms",
    )
    .bind(id)
    .fetch_all(schedules.db.pool())
    .await?;
    let me = holder::this_process();
    let jobs = Jobs::new(schedules.db, schedules.clock);
    let mut out = Vec::new();
    for r in rows {
        let pid: Option<i64> = r.get("claim_pid");
        let claimant = Holder {
            pid: pid.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
            host: r.get::<Option<String>, _>("claim_host").unwrap_or_default(),
            pid_start: r.get("claim_pid_start"),
        };
        if claimant.pid == me.pid && claimant.host == me.host {
            continue; // this process runs it right now
        }
        let claimed_ms: i64 = r.get("claimed_ms");
        // The jobs the run began, first the one of the schedule's kind (a backup begins its
        // backup job before the scan it runs first).
        let job_ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM jobs WHERE triggered_by = ? AND created_ms >= ? ORDER BY id")
                .bind(format!("schedule:{id}"))
                .bind(claimed_ms)
                .fetch_all(schedules.db.pool())
                .await?;
        let mut begun = Vec::with_capacity(job_ids.len());
        for j in job_ids {
            begun.push(jobs.get(j).await?);
        }
        let gone_here = claimant.host == me.host && holder::is_gone(claimant.pid, claimant.pid_start.as_deref());
        let interrupted = begun.iter().any(|j| j.state == JobState::Failed && j.error.as_deref() == Some(INTERRUPTED));
        let job_active = begun.iter().any(|j| !j.state.is_final());
        let job = begun.into_iter().next();
        if job_active || !(gone_here || interrupted) {
            continue;
        }
        out.push(Abandoned {
            slot_ms: r.get("slot_ms"),
            state: SlotState::parse(r.get("state"))?,
            claimed_ms,
            reruns: r.get("reruns"),
            claimant: format!("pid {} on {}", claimant.pid, claimant.host),
            job,
        });
    }
    Ok(out)
}

/// Takes the abandoned slot over as `recovery` says; true when this process won it (then, for
/// [`Recovery::RunAgain`], it runs it and records its end as for any claimed slot).
pub(super) async fn take(schedules: &Schedules<'_>, id: i64, slot: &Abandoned, recovery: &Recovery) -> Result<bool> {
    let me = holder::this_process();
    let now = schedules.clock.now_ms();
    let done = match recovery {
        Recovery::RunAgain { note } => sqlx::query(
            "UPDATE schedule_runs SET claimed_ms = ?, claim_pid = ?, claim_host = ?, claim_pid_start = ?,
                     reruns = reruns + 1, note = ?, job_id = NULL, error = NULL
                 WHERE schedule_id = ? AND slot_ms = ? AND ended_ms IS NULL AND claimed_ms = ? AND reruns = ?",
        )
        .bind(now)
        .bind(i64::from(me.pid))
        .bind(&me.host)
        .bind(me.pid_start.as_deref())
        .bind(note),
        Recovery::Missed { note } => sqlx::query(
            "UPDATE schedule_runs SET state = 'missed', ended_ms = ?, note = ?, job_id = ?
                 WHERE schedule_id = ? AND slot_ms = ? AND ended_ms IS NULL AND claimed_ms = ? AND reruns = ?",
        )
        .bind(now)
        .bind(note)
        .bind(slot.job.as_ref().map(|j| j.id)),
    }
    .bind(id)
    .bind(slot.slot_ms)
    .bind(slot.claimed_ms)
    .bind(slot.reruns)
    .execute(schedules.db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deals with every abandoned slot of schedule `id`: the ones not to run again are recorded
/// missed; returns the one this process must run again, with its note.
pub(super) async fn recover(
    schedules: &Schedules<'_>,
    id: i64,
    catch_up_ms: i64,
) -> Result<Option<(i64, SlotState, String)>> {
    let abandoned = find(schedules, id).await?;
    if abandoned.is_empty() {
        return Ok(None);
    }
    let latest = schedules.last_slot(id).await?.map(|l| l.slot_ms);
    let now = schedules.clock.now_ms();
    let mut again = None;
    for slot in &abandoned {
        let later = latest.is_some_and(|l| l > slot.slot_ms);
        let recovery = slot.recovery(later, now, catch_up_ms);
        if !take(schedules, id, slot, &recovery).await? {
            continue; // another process took it over first
        }
        match recovery {
            Recovery::RunAgain { note } => {
                tracing::warn!(schedule = id, slot_ms = slot.slot_ms, "{note}");
                again = Some((slot.slot_ms, slot.state, note));
            }
            Recovery::Missed { note } => tracing::warn!(schedule = id, slot_ms = slot.slot_ms, "{note}"),
        }
    }
    Ok(again)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn slot(reruns: i64, job: bool) -> Abandoned {
        Abandoned {
            slot_ms: 10 * H,
            state: SlotState::Ran,
            claimed_ms: 10 * H,
            reruns,
            claimant: "pid 42 on host".into(),
            job: job.then(|| Job {
                id: 9,
                kind: crate::jobs::JobKind::Backup,
                identity_id: None,
                name: "b".into(),
                created_ms: 10 * H,
                started_ms: None,
                finished_ms: None,
                state: JobState::Failed,
                counts: crate::jobs::JobCounts::None,
                error: Some(INTERRUPTED.into()),
                trigger: crate::jobs::Trigger::Schedule(1),
                holder: None,
                cancel_requested_ms: None,
            }),
        }
    }

    #[test]
    fn a_died_run_is_run_again_once_inside_the_window_and_otherwise_missed_with_the_reason() {
        let again = slot(0, true).recovery(false, 11 * H, 24 * H);
        assert_eq!(
            again,
            Recovery::RunAgain {
                note: "run again: the process that ran it (pid 42 on host) stopped before job 9 ended".into()
            }
        );
        let twice = slot(1, true).recovery(false, 11 * H, 24 * H);
        assert!(
            matches!(&twice, Recovery::Missed { note } if note.ends_with("it was already run again once")),
            "a slot is run again at most once: {twice:?}"
        );
        let late = slot(0, false).recovery(false, 40 * H, 24 * H);
        assert!(
            matches!(&late, Recovery::Missed { note } if note.contains("before its job began") && note.ends_with("catch-up window")),
            "{late:?}"
        );
        let superseded = slot(0, true).recovery(true, 11 * H, 24 * H);
        assert!(
            matches!(&superseded, Recovery::Missed { note } if note.ends_with("dealt with since")),
            "{superseded:?}"
        );
    }
}
