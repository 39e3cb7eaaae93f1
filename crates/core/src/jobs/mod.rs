//! Job history: every scan, backup and restore leaves a row in `jobs` and one row per subject
//! (item, user, group) it handled in `job_items`.
//!
//! State machine (anything else is refused with `Error::InvalidTransition`):
//! `queued -> running -> {succeeded, partial, failed, cancelled}`, and `queued -> {failed, cancelled}`.
//! The four end states are final.
//!
//! Jobs are started through the [`runner::JobRunner`], which creates the row first and holds a
//! lease on it (process id, host, heartbeat) while the work runs; one running job per identity
//! and kind is enforced by the database, across processes. A job whose lease expired (its
//! process was killed) is turned into `failed` by [`runner::JobRunner::reconcile`], which the app
//! and the CLI call when they open the database; a live job of another process is never touched.

pub mod counts;
pub mod holder;
pub mod runner;

pub use counts::{CopyCounts, JobCounts, RetentionCounts, ScanCounts, VerifyCounts};

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};

/// Error message given to jobs found unfinished at start-up.
pub const INTERRUPTED: &str = "interrupted (the app stopped while it ran)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Scan,
    Backup,
    Restore,
    Verify,
    Retention,
    /// Snapshots copied from one repository to another (`orgvault copy`).
    Copy,
    /// URLs changed in a restore's items after it (`core::postprocess`).
    Postprocess,
}

impl JobKind {
    /// The word for the kind, as stored and as shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Scan => "scan",
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
            JobKind::Verify => "verify",
            JobKind::Retention => "retention",
            JobKind::Copy => "copy",
            JobKind::Postprocess => "postprocess",
        }
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What started a job.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "schedule_id")]
pub enum Trigger {
    /// A person, in the app or at the command line.
    #[default]
    Manual,
    /// The schedule with this id.
    Schedule(i64),
}

impl Trigger {
    fn stored(self) -> String {
        match self {
            Trigger::Manual => "manual".into(),
            Trigger::Schedule(id) => format!("schedule:{id}"),
        }
    }

    fn from_stored(s: &str) -> Result<Trigger> {
        match s.split_once(':') {
            None if s == "manual" => Ok(Trigger::Manual),
            Some(("schedule", id)) => id
                .parse()
                .map(Trigger::Schedule)
                .map_err(|_| Error::Corrupt(format!("unexpected trigger {s:?} in the job history"))),
            _ => Err(Error::Corrupt(format!("unexpected trigger {s:?} in the job history"))),
        }
    }
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Partial,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Partial | JobState::Failed | JobState::Cancelled)
    }

    fn may_become(self, next: JobState) -> bool {
        match self {
            JobState::Queued => matches!(next, JobState::Running | JobState::Failed | JobState::Cancelled),
            JobState::Running => next.is_final(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Item,
    User,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Skipped,
    Failed,
    /// Done another way than planned (e.g. a feature service exported by replica after its
    /// export job failed).
    Fallback,
}

/// What happened to one subject of a job; also what `Progress::item` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemOutcome {
    pub kind: SubjectKind,
    pub id: String,
    pub title: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
}

/// One row of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub identity_id: Option<String>,
    pub name: String,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub state: JobState,
    /// What the job counted; the variant matches `kind`.
    pub counts: JobCounts,
    pub error: Option<String>,
    pub trigger: Trigger,
    /// The process that runs or ran the job ("pid 4242 on host"), when known.
    pub holder: Option<String>,
    /// When someone asked the job to stop (it stops at its next check).
    pub cancel_requested_ms: Option<i64>,
}

impl Job {
    /// One line saying what the job did: its tallies, then its error.
    pub fn summary(&self) -> String {
        let mut line = self.counts.line();
        if let Some(e) = &self.error {
            if !line.is_empty() {
                line.push_str("; ");
            }
            line.push_str(e);
        }
        line
    }
}

/// A recorded subject with its time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobItem {
    pub outcome: ItemOutcome,
    pub at_ms: i64,
}

/// How a job ends.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEnd {
    pub state: JobState,
    pub counts: JobCounts,
    pub error: Option<String>,
}

/// Which jobs `list` returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub kind: Option<JobKind>,
    pub identity_id: Option<String>,
    pub states: Vec<JobState>,
    pub limit: Option<u32>,
}

/// The job history of one database.
pub struct Jobs<'a> {
    db: &'a Db,
    clock: &'a dyn Clock,
}

fn to_text<T: Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn from_text<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| Error::Corrupt(format!("unexpected value {s:?} in the job history: {e}")))
}

impl<'a> Jobs<'a> {
    pub fn new(db: &'a Db, clock: &'a dyn Clock) -> Self {
        Self { db, clock }
    }

    /// Renames a job (an engine that learns its subject's name after the job began).
    pub async fn rename(&self, job_id: i64, name: &str) -> Result<()> {
        sqlx::query("UPDATE jobs SET name = ? WHERE id = ?").bind(name).bind(job_id).execute(self.db.pool()).await?;
        Ok(())
    }

    /// Asks a queued or running job to stop, whichever process runs it: the job's runner polls
    /// the request and cancels the work. `NotRunning` when the job has ended.
    pub async fn request_cancel(&self, job_id: i64) -> Result<()> {
        let asked = sqlx::query(
            "UPDATE jobs SET cancel_requested_ms = COALESCE(cancel_requested_ms, ?) WHERE id = ? AND state IN ('queued', 'running')",
        )
        .bind(self.clock.now_ms())
        .bind(job_id)
        .execute(self.db.pool())
        .await?;
        if asked.rows_affected() == 1 {
            return Ok(());
        }
        let job = self.get(job_id).await?;
        Err(Error::NotRunning { job_id, state: job.state })
    }

    /// Moves a queued job to running.
    pub async fn mark_running(&self, job_id: i64) -> Result<()> {
        self.transition(job_id, JobState::Running).await?;
        sqlx::query("UPDATE jobs SET state = 'running', started_ms = ? WHERE id = ?")
            .bind(self.clock.now_ms())
            .bind(job_id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Ends a job in one of the final states.
    pub async fn finish(&self, job_id: i64, end: &JobEnd) -> Result<()> {
        if !end.state.is_final() {
            return Err(Error::InvalidInput(format!("a job cannot finish in state {:?}", end.state)));
        }
        self.transition(job_id, end.state).await?;
        sqlx::query("UPDATE jobs SET state = ?, finished_ms = ?, counts = ?, error = ? WHERE id = ?")
            .bind(to_text(end.state))
            .bind(self.clock.now_ms())
            .bind(end.counts.to_stored())
            .bind(end.error.as_deref())
            .bind(job_id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn transition(&self, job_id: i64, to: JobState) -> Result<()> {
        let from = self.get(job_id).await?.state;
        if from.may_become(to) {
            Ok(())
        } else {
            Err(Error::InvalidTransition { job_id, from, to })
        }
    }

    /// Records what happened to one subject.
    pub async fn record_item(&self, job_id: i64, outcome: &ItemOutcome) -> Result<()> {
        self.record_items(job_id, std::slice::from_ref(outcome)).await
    }

    /// Records many subjects in one transaction.
    pub async fn record_items(&self, job_id: i64, outcomes: &[ItemOutcome]) -> Result<()> {
        let now = self.clock.now_ms();
        let mut tx = self.db.pool().begin().await?;
        for o in outcomes {
            sqlx::query("INSERT INTO job_items (job_id, subject_kind, subject_id, title, outcome, reason, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)")
                .bind(job_id)
                .bind(to_text(o.kind))
                .bind(&o.id)
                .bind(&o.title)
                .bind(to_text(o.outcome))
                .bind(o.reason.as_deref())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get(&self, job_id: i64) -> Result<Job> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
            .bind(job_id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| Error::NotFound { what: "job", id: job_id.to_string() })?;
        job_from_row(&row)
    }

    /// Jobs matching `filter`, newest first.
    pub async fn list(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT * FROM jobs WHERE 1 = 1");
        if let Some(kind) = filter.kind {
            q.push(" AND kind = ").push_bind(to_text(kind));
        }
        if let Some(identity) = &filter.identity_id {
            q.push(" AND identity_id = ").push_bind(identity.clone());
        }
        if !filter.states.is_empty() {
            q.push(" AND state IN (");
            let mut sep = q.separated(", ");
            for s in &filter.states {
                sep.push_bind(to_text(*s));
            }
            q.push(")");
        }
        q.push(" ORDER BY created_ms DESC, id DESC");
        if let Some(limit) = filter.limit {
            q.push(" LIMIT ").push_bind(i64::from(limit));
        }
        let rows = q.build().fetch_all(self.db.pool()).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// The subjects a job recorded, in the order it recorded them.
    pub async fn items(&self, job_id: i64) -> Result<Vec<JobItem>> {
        let rows = sqlx::query("SELECT subject_kind, subject_id, title, outcome, reason, at_ms FROM job_items WHERE job_id = ? ORDER BY id")
            .bind(job_id)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(JobItem {
                    outcome: ItemOutcome {
                        kind: from_text(r.get::<&str, _>("subject_kind"))?,
                        id: r.get("subject_id"),
                        title: r.get("title"),
                        outcome: from_text(r.get::<&str, _>("outcome"))?,
                        reason: r.get("reason"),
                    },
                    at_ms: r.get("at_ms"),
                })
            })
            .collect()
    }
}

fn job_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Job> {
    let counts: String = r.get("counts");
    let kind: JobKind = from_text(r.get::<&str, _>("kind"))?;
    Ok(Job {
        id: r.get("id"),
        kind,
        identity_id: r.get("identity_id"),
        name: r.get("name"),
        created_ms: r.get("created_ms"),
        started_ms: r.get("started_ms"),
        finished_ms: r.get("finished_ms"),
        state: from_text(r.get::<&str, _>("state"))?,
        counts: JobCounts::from_stored(kind, &counts),
        error: r.get("error"),
        trigger: Trigger::from_stored(r.get::<&str, _>("triggered_by"))?,
        holder: match (r.get::<Option<i64>, _>("lease_pid"), r.get::<Option<String>, _>("lease_host")) {
            (Some(pid), Some(host)) => Some(format!("process {pid} on {host}")),
            _ => None,
        },
        cancel_requested_ms: r.get("cancel_requested_ms"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn end(state: JobState) -> JobEnd {
        JobEnd {
            state,
            counts: JobCounts::Verify(VerifyCounts { snapshots: 3, ..VerifyCounts::default() }),
            error: None,
        }
    }

    /// A queued job, begun the way every front end begins one.
    async fn enqueue(db: &Db, clock: &dyn Clock, kind: JobKind, name: &str) -> i64 {
        let runner = runner::JobRunner::new(db, clock);
        runner.begin(&runner::JobSpec::new(kind, None, name)).await.expect("begin").job_id
    }

    async fn start(db: &Db, clock: &dyn Clock, kind: JobKind, name: &str) -> i64 {
        let id = enqueue(db, clock, kind, name).await;
        Jobs::new(db, clock).mark_running(id).await.expect("queued -> running");
        id
    }

    #[tokio::test]
    async fn a_job_runs_through_its_states_with_timestamps() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = ManualClock::new(1_000);
        let jobs = Jobs::new(&db, &clock);
        let id = enqueue(&db, &clock, JobKind::Verify, "nightly verify").await;
        assert_eq!(jobs.get(id).await.expect("get").state, JobState::Queued, "a new job waits");
        clock.advance(5);
        jobs.mark_running(id).await.expect("queued -> running");
        clock.advance(10);
        jobs.record_item(
            id,
            &ItemOutcome {
                kind: SubjectKind::Item,
                id: "a".repeat(32),
                title: "Roads".into(),
                outcome: Outcome::Fallback,
                reason: Some("export failed".into()),
            },
        )
        .await
        .expect("record");
        jobs.finish(id, &end(JobState::Partial)).await.expect("running -> partial");
        let job = jobs.get(id).await.expect("get");
        assert_eq!(
            (job.created_ms, job.started_ms, job.finished_ms),
            (1_000, Some(1_005), Some(1_015)),
            "times come from the injected clock"
        );
        assert_eq!(job.counts, end(JobState::Partial).counts, "counts are kept as given");
        let items = jobs.items(id).await.expect("items");
        assert_eq!(items.len(), 1, "one recorded subject");
        assert_eq!(items[0].outcome.outcome, Outcome::Fallback, "outcome round-trips");
        assert_eq!(items[0].at_ms, 1_015, "subject time from the clock");
    }

    #[tokio::test]
    async fn final_states_are_final_and_running_must_precede_success() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = ManualClock::new(0);
        let jobs = Jobs::new(&db, &clock);
        let queued = enqueue(&db, &clock, JobKind::Scan, "q").await;
        let err = jobs.finish(queued, &end(JobState::Succeeded)).await.expect_err("queued cannot succeed");
        assert!(
            matches!(err, Error::InvalidTransition { from: JobState::Queued, to: JobState::Succeeded, .. }),
            "got {err:?}"
        );
        jobs.finish(queued, &end(JobState::Cancelled)).await.expect("a queued job may be cancelled");

        let run = start(&db, &clock, JobKind::Scan, "r").await;
        jobs.finish(run, &end(JobState::Succeeded)).await.expect("running -> succeeded");
        for next in [JobState::Failed, JobState::Running, JobState::Cancelled] {
            let err = if next == JobState::Running {
                jobs.mark_running(run).await
            } else {
                jobs.finish(run, &end(next)).await
            };
            assert!(err.is_err(), "a succeeded job must not become {next:?}");
        }
        let err = jobs.finish(run, &end(JobState::Running)).await.expect_err("running is not an end state");
        assert_eq!(err.code(), crate::ErrorCode::InvalidInput, "finishing in a non-final state is bad input");
        assert_eq!(jobs.get(run).await.expect("get").state, JobState::Succeeded, "refused transitions change nothing");
    }

    #[tokio::test]
    async fn a_cancel_request_reaches_only_unfinished_jobs() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = ManualClock::new(7);
        let jobs = Jobs::new(&db, &clock);
        let running = start(&db, &clock, JobKind::Backup, "r").await;
        jobs.request_cancel(running).await.expect("a running job may be asked to stop");
        assert_eq!(jobs.get(running).await.expect("get").cancel_requested_ms, Some(7), "the request is recorded");
        jobs.finish(running, &end(JobState::Cancelled)).await.expect("finish");
        let err = jobs.request_cancel(running).await.expect_err("an ended job cannot be cancelled");
        assert!(matches!(err, Error::NotRunning { state: JobState::Cancelled, .. }), "got {err:?}");
        assert_eq!(err.code(), crate::ErrorCode::NotRunning);
    }

    #[tokio::test]
    async fn list_filters_by_kind_state_and_limit_newest_first() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = ManualClock::new(0);
        let jobs = Jobs::new(&db, &clock);
        let mut ids = Vec::new();
        for (i, kind) in [JobKind::Scan, JobKind::Backup, JobKind::Backup, JobKind::Restore].into_iter().enumerate() {
            clock.set(i as i64 * 10);
            ids.push(start(&db, &clock, kind, &format!("job {i}")).await);
        }
        jobs.finish(ids[1], &end(JobState::Failed)).await.expect("finish");
        let backups = jobs.list(&JobFilter { kind: Some(JobKind::Backup), ..Default::default() }).await.expect("list");
        assert_eq!(
            backups.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]],
            "backups only, newest first"
        );
        let running = jobs
            .list(&JobFilter { states: vec![JobState::Running], limit: Some(2), ..Default::default() })
            .await
            .expect("list");
        assert_eq!(
            running.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![ids[3], ids[2]],
            "state filter and limit apply together"
        );
    }
}
