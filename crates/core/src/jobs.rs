//! Job history: every scan, backup and restore leaves a row in `jobs` and one row per subject
//! (item, user, group) it handled in `job_items`.
//!
//! State machine (anything else is refused with `Error::InvalidTransition`):
//! `queued -> running -> {succeeded, partial, failed, cancelled}`, and `queued -> cancelled`.
//! The four end states are final. A job left `queued` or `running` by a crash is turned into
//! `failed` by [`Jobs::reconcile_at_startup`], which the app and the CLI call when they open
//! the database.

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
}

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
            JobState::Queued => matches!(next, JobState::Running | JobState::Cancelled),
            JobState::Running => next.is_final(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// Free-form tallies chosen by the job kind (e.g. items, users, groups, problems).
    pub counts: serde_json::Value,
    pub error: Option<String>,
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
    pub counts: serde_json::Value,
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

    /// Records a job waiting to run.
    pub async fn enqueue(&self, kind: JobKind, identity_id: Option<&str>, name: &str) -> Result<i64> {
        let now = self.clock.now_ms();
        let id =
            sqlx::query("INSERT INTO jobs (kind, identity_id, name, created_ms, state) VALUES (?, ?, ?, ?, 'queued')")
                .bind(to_text(kind))
                .bind(identity_id)
                .bind(name)
                .bind(now)
                .execute(self.db.pool())
                .await?
                .last_insert_rowid();
        Ok(id)
    }

    /// Records a job that starts now (queued and running in one step).
    pub async fn start(&self, kind: JobKind, identity_id: Option<&str>, name: &str) -> Result<i64> {
        let id = self.enqueue(kind, identity_id, name).await?;
        self.mark_running(id).await?;
        Ok(id)
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
            .bind(end.counts.to_string())
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

    /// Marks every job still queued or running as failed with [`INTERRUPTED`]: at start-up
    /// nothing can be running, so such a row is a crash's leftover. Returns how many it fixed.
    pub async fn reconcile_at_startup(&self) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'failed', finished_ms = ?, error = ? WHERE state IN ('queued', 'running')",
        )
        .bind(self.clock.now_ms())
        .bind(INTERRUPTED)
        .execute(self.db.pool())
        .await?;
        // A scan catalog left "running" belongs to such a job: it is incomplete.
        sqlx::query("UPDATE scans SET state = 'failed', finished_ms = ? WHERE state = 'running'")
            .bind(self.clock.now_ms())
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

fn job_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Job> {
    let counts: String = r.get("counts");
    Ok(Job {
        id: r.get("id"),
        kind: from_text(r.get::<&str, _>("kind"))?,
        identity_id: r.get("identity_id"),
        name: r.get("name"),
        created_ms: r.get("created_ms"),
        started_ms: r.get("started_ms"),
        finished_ms: r.get("finished_ms"),
        state: from_text(r.get::<&str, _>("state"))?,
        counts: serde_json::from_str(&counts).unwrap_or(serde_json::Value::Null),
        error: r.get("error"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use serde_json::json;

    fn end(state: JobState) -> JobEnd {
        JobEnd { state, counts: json!({"items": 3}), error: None }
    }

    #[tokio::test]
    async fn a_job_runs_through_its_states_with_timestamps() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = ManualClock::new(1_000);
        let jobs = Jobs::new(&db, &clock);
        let id = jobs.enqueue(JobKind::Backup, None, "nightly").await.expect("enqueue");
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
        assert_eq!(job.counts, json!({"items": 3}), "counts are kept as given");
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
        let queued = jobs.enqueue(JobKind::Scan, None, "q").await.expect("enqueue");
        let err = jobs.finish(queued, &end(JobState::Succeeded)).await.expect_err("queued cannot succeed");
        assert!(
            matches!(err, Error::InvalidTransition { from: JobState::Queued, to: JobState::Succeeded, .. }),
            "got {err:?}"
        );
        jobs.finish(queued, &end(JobState::Cancelled)).await.expect("a queued job may be cancelled");

        let run = jobs.start(JobKind::Scan, None, "r").await.expect("start");
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
    async fn reconcile_turns_leftovers_into_interrupted_failures_only() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = ManualClock::new(100);
        let jobs = Jobs::new(&db, &clock);
        let queued = jobs.enqueue(JobKind::Backup, None, "q").await.expect("q");
        let running = jobs.start(JobKind::Restore, None, "r").await.expect("r");
        let done = jobs.start(JobKind::Scan, None, "d").await.expect("d");
        jobs.finish(done, &end(JobState::Succeeded)).await.expect("finish");
        clock.set(999);
        let fixed = jobs.reconcile_at_startup().await.expect("reconcile");
        assert_eq!(fixed, 2, "exactly the queued and the running job were left over");
        for id in [queued, running] {
            let j = jobs.get(id).await.expect("get");
            assert_eq!(j.state, JobState::Failed, "a leftover job becomes failed");
            assert_eq!(j.error.as_deref(), Some(INTERRUPTED), "and says why");
            assert_eq!(j.finished_ms, Some(999), "ended at reconcile time");
        }
        assert_eq!(jobs.get(done).await.expect("get").state, JobState::Succeeded, "finished jobs are untouched");
        assert_eq!(jobs.reconcile_at_startup().await.expect("again"), 0, "reconcile is idempotent");
    }

    #[tokio::test]
    async fn list_filters_by_kind_state_and_limit_newest_first() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = ManualClock::new(0);
        let jobs = Jobs::new(&db, &clock);
        let mut ids = Vec::new();
        for (i, kind) in [JobKind::Scan, JobKind::Backup, JobKind::Backup, JobKind::Restore].into_iter().enumerate() {
            clock.set(i as i64 * 10);
            ids.push(jobs.start(kind, None, &format!("job {i}")).await.expect("start"));
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
