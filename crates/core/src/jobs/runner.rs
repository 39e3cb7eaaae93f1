//! The job runner: every scan, backup, restore, verify and retention run goes through it, in
//! the app, the CLI and the background service alike.
//!
//! - [`JobRunner::begin`] creates the job's row first (queued) with a lease: a random holder id,
//!   the process id and host, and a heartbeat time. The database refuses a second queued or
//!   running job of the same identity and kind (a partial unique index), whichever process asks;
//!   the refusal is [`Error::Busy`], naming the job and the process that holds it.
//! - [`JobRunner::drive`] runs the work beside a keep-alive loop that renews the heartbeat and
//!   polls the row for a cancel request ([`Jobs::request_cancel`], from any process), which
//!   cancels the work's token. A heartbeat that finds the lease gone (another process declared
//!   the job interrupted) cancels the work too. When the work ends, a row the engine left
//!   unfinished is finished here (failed, or cancelled), so no row stays `running`.
//! - [`JobRunner::reconcile`] marks failed (interrupted) only jobs whose lease expired: no
//!   heartbeat within the lease time, or, on this host, a holder process that is gone.

use std::future::Future;
use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::holder::{self, Holder};
use super::{JobCounts, JobEnd, JobKind, JobState, Jobs, Trigger, INTERRUPTED};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};

/// How long a lease lives without a heartbeat, and how often the holder renews it and looks for
/// a cancel request.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTimes {
    pub ttl_ms: i64,
    pub heartbeat: Duration,
    pub poll: Duration,
}

impl Default for LeaseTimes {
    fn default() -> Self {
        // A heartbeat every 10 s; six missed ones (a suspended laptop, a stalled disk) before
        // another process may call the job interrupted.
        Self { ttl_ms: 60_000, heartbeat: Duration::from_secs(10), poll: Duration::from_millis(500) }
    }
}

/// What job to start.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub kind: JobKind,
    pub identity_id: Option<String>,
    pub name: String,
    pub trigger: Trigger,
}

impl JobSpec {
    pub fn new(kind: JobKind, identity_id: Option<&str>, name: impl Into<String>) -> Self {
        Self { kind, identity_id: identity_id.map(str::to_owned), name: name.into(), trigger: Trigger::Manual }
    }

    pub fn triggered_by(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }
}

/// A begun job held by this process: its id and the lease's holder id.
#[derive(Debug, Clone)]
pub struct JobLease {
    pub job_id: i64,
    owner: String,
}

/// Starts jobs and keeps their leases; borrowed from the database and the clock.
pub struct JobRunner<'a> {
    db: &'a Db,
    clock: &'a dyn Clock,
    times: LeaseTimes,
    holder: Holder,
}

const ACTIVE: &str = "state IN ('queued', 'running')";

impl<'a> JobRunner<'a> {
    pub fn new(db: &'a Db, clock: &'a dyn Clock) -> Self {
        Self { db, clock, times: LeaseTimes::default(), holder: holder::this_process().clone() }
    }

    pub fn with_times(mut self, times: LeaseTimes) -> Self {
        self.times = times;
        self
    }

    /// Acts as another process (tests of two holders in one process).
    pub fn as_holder(mut self, holder: Holder) -> Self {
        self.holder = holder;
        self
    }

    fn jobs(&self) -> Jobs<'a> {
        Jobs::new(self.db, self.clock)
    }

    /// Records a queued job held by this process. `Busy` when a job of the same kind and
    /// identity is queued or running with a live lease.
    pub async fn begin(&self, spec: &JobSpec) -> Result<JobLease> {
        if let Some(identity) = &spec.identity_id {
            // A dead holder's job must not block the next one.
            self.expire(Some((identity, spec.kind))).await?;
        }
        let owner = hex::encode(rand::random::<[u8; 16]>());
        let inserted = sqlx::query(
            "INSERT INTO jobs (kind, identity_id, name, created_ms, state, triggered_by, lease_owner, lease_pid, lease_host, lease_pid_start, heartbeat_ms)
             VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
        )
        .bind(spec.kind.as_str())
        .bind(spec.identity_id.as_deref())
        .bind(&spec.name)
        .bind(self.clock.now_ms())
        .bind(spec.trigger.stored())
        .bind(&owner)
        .bind(i64::from(self.holder.pid))
        .bind(&self.holder.host)
        .bind(self.holder.pid_start.as_deref())
        .bind(self.clock.now_ms())
        .execute(self.db.pool())
        .await;
        match inserted {
            Ok(done) => Ok(JobLease { job_id: done.last_insert_rowid(), owner }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(self.busy(spec).await),
            Err(e) => Err(e.into()),
        }
    }

    /// The `Busy` error naming the job that holds (identity, kind).
    async fn busy(&self, spec: &JobSpec) -> Error {
        let row = sqlx::query(&format!(
            "SELECT id, lease_pid, lease_host FROM jobs WHERE identity_id = ? AND kind = ? AND {ACTIVE}"
        ))
        .bind(spec.identity_id.as_deref())
        .bind(spec.kind.as_str())
        .fetch_optional(self.db.pool())
        .await;
        match row {
            Ok(Some(r)) => Error::Busy {
                kind: spec.kind,
                job_id: r.get("id"),
                holder: match (r.get::<Option<i64>, _>("lease_pid"), r.get::<Option<String>, _>("lease_host")) {
                    (Some(pid), Some(host)) => format!("process {pid} on {host}"),
                    _ => "another process".into(),
                },
            },
            // It ended between the refusal and this look: still busy a moment ago.
            _ => Error::Busy { kind: spec.kind, job_id: 0, holder: "another process".into() },
        }
    }

    /// Runs `work` for the begun job `lease`, keeping its lease alive and turning a cancel
    /// request into `cancel.cancel()`. If the engine did not end the job's row itself, it is
    /// ended here: by `end_of(&result)` when given, else failed with the error (cancelled when
    /// the token was cancelled).
    pub async fn drive<T, E, Fut>(
        &self,
        lease: &JobLease,
        cancel: &CancellationToken,
        work: Fut,
        end_of: impl FnOnce(&std::result::Result<T, E>) -> Option<JobEnd>,
    ) -> std::result::Result<T, E>
    where
        Fut: Future<Output = std::result::Result<T, E>>,
        E: From<Error> + std::fmt::Display,
    {
        let result = tokio::select! {
            biased;
            r = work => r,
            never = self.keep_alive(lease, cancel) => match never {},
        };
        let end = end_of(&result).unwrap_or_else(|| match &result {
            Ok(_) => JobEnd { state: JobState::Succeeded, counts: JobCounts::None, error: None },
            Err(e) => JobEnd {
                state: if cancel.is_cancelled() { JobState::Cancelled } else { JobState::Failed },
                counts: JobCounts::None,
                error: Some(e.to_string()),
            },
        });
        self.settle(lease, end).await?;
        result
    }

    /// Begins and drives a job in one call; `work` gets the job id.
    pub async fn run<T, E, F, Fut>(
        &self,
        spec: &JobSpec,
        cancel: &CancellationToken,
        work: F,
        end_of: impl FnOnce(&std::result::Result<T, E>) -> Option<JobEnd>,
    ) -> std::result::Result<T, E>
    where
        F: FnOnce(i64) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: From<Error> + std::fmt::Display,
    {
        let lease = self.begin(spec).await?;
        self.drive(&lease, cancel, work(lease.job_id), end_of).await
    }

    /// Ends a job the engine left open, and lets go of the lease.
    async fn settle(&self, lease: &JobLease, end: JobEnd) -> Result<()> {
        let jobs = self.jobs();
        let state = jobs.get(lease.job_id).await?.state;
        if !state.is_final() {
            if state == JobState::Queued && end.state != JobState::Cancelled && end.state != JobState::Failed {
                jobs.mark_running(lease.job_id).await?;
            }
            jobs.finish(lease.job_id, &end).await?;
        }
        Ok(())
    }

    /// Renews the heartbeat and watches for a cancel request, until dropped.
    async fn keep_alive(&self, lease: &JobLease, cancel: &CancellationToken) -> std::convert::Infallible {
        let mut last_beat = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.times.poll).await;
            match self.look(lease).await {
                Ok(Look::Live { cancel_requested }) => {
                    if cancel_requested && !cancel.is_cancelled() {
                        tracing::info!(job_id = lease.job_id, "cancel requested");
                        cancel.cancel();
                    }
                }
                Ok(Look::Lost) => {
                    tracing::error!(
                        job_id = lease.job_id,
                        "the job's lease was taken (declared interrupted); stopping"
                    );
                    cancel.cancel();
                }
                Ok(Look::Ended) => {}
                Err(e) => tracing::warn!(job_id = lease.job_id, "cannot read the job's row: {e}"),
            }
            if last_beat.elapsed() >= self.times.heartbeat {
                match self.renew(lease).await {
                    Ok(()) => last_beat = tokio::time::Instant::now(),
                    Err(e) => tracing::warn!(job_id = lease.job_id, "heartbeat not recorded: {e}"),
                }
            }
        }
    }

    async fn look(&self, lease: &JobLease) -> Result<Look> {
        let row = sqlx::query("SELECT state, lease_owner, cancel_requested_ms, error FROM jobs WHERE id = ?")
            .bind(lease.job_id)
            .fetch_one(self.db.pool())
            .await?;
        let active = matches!(row.get::<&str, _>("state"), "queued" | "running");
        let ours = row.get::<Option<&str>, _>("lease_owner") == Some(lease.owner.as_str());
        Ok(if !ours || (!active && row.get::<Option<&str>, _>("error") == Some(INTERRUPTED)) {
            // Only reconcile ends another process's job, and only as interrupted.
            Look::Lost
        } else if !active {
            Look::Ended
        } else {
            Look::Live { cancel_requested: row.get::<Option<i64>, _>("cancel_requested_ms").is_some() }
        })
    }

    async fn renew(&self, lease: &JobLease) -> Result<()> {
        sqlx::query(&format!("UPDATE jobs SET heartbeat_ms = ? WHERE id = ? AND lease_owner = ? AND {ACTIVE}"))
            .bind(self.clock.now_ms())
            .bind(lease.job_id)
            .bind(&lease.owner)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Marks failed (interrupted) every queued or running job whose lease expired; returns how
    /// many. Jobs of live processes, this one's or another's, are left alone.
    pub async fn reconcile(&self) -> Result<u64> {
        self.expire(None).await
    }

    async fn expire(&self, only: Option<(&str, JobKind)>) -> Result<u64> {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
            "SELECT id, heartbeat_ms, lease_pid, lease_host, lease_pid_start FROM jobs WHERE {ACTIVE}"
        ));
        if let Some((identity, kind)) = only {
            q.push(" AND identity_id = ").push_bind(identity.to_owned());
            q.push(" AND kind = ").push_bind(kind.as_str());
        }
        let rows = q.build().fetch_all(self.db.pool()).await?;
        let now = self.clock.now_ms();
        let mut expired = 0;
        for r in rows {
            let heartbeat: Option<i64> = r.get("heartbeat_ms");
            let pid: Option<i64> = r.get("lease_pid");
            let host: Option<String> = r.get("lease_host");
            let start: Option<String> = r.get("lease_pid_start");
            let silent = heartbeat.is_none_or(|h| now - h > self.times.ttl_ms);
            let gone_here = host.as_deref() == Some(self.holder.host.as_str())
                && pid.and_then(|p| u32::try_from(p).ok()).is_some_and(|p| {
                    // This process's own jobs are alive by definition.
                    p != holder::this_process().pid && holder::is_gone(p, start.as_deref())
                });
            if !(silent || gone_here) {
                continue;
            }
            // Compare-and-set on the heartbeat read: a holder that renewed meanwhile keeps its job.
            let done = sqlx::query(&format!(
                "UPDATE jobs SET state = 'failed', finished_ms = ?, error = ? WHERE id = ? AND {ACTIVE} AND heartbeat_ms IS ?"
            ))
            .bind(now)
            .bind(INTERRUPTED)
            .bind(r.get::<i64, _>("id"))
            .bind(heartbeat)
            .execute(self.db.pool())
            .await?;
            expired += done.rows_affected();
        }
        if expired > 0 {
            // A scan catalog left "running" by such a job is incomplete.
            sqlx::query(&format!(
                "UPDATE scans SET state = 'failed', finished_ms = ? WHERE state = 'running'
                 AND (job_id IS NULL OR job_id NOT IN (SELECT id FROM jobs WHERE {ACTIVE}))"
            ))
            .bind(now)
            .execute(self.db.pool())
            .await?;
        }
        Ok(expired)
    }
}

enum Look {
    Live { cancel_requested: bool },
    Lost,
    Ended,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn elsewhere(pid: u32) -> Holder {
        Holder { pid, host: "another-machine".into(), pid_start: None }
    }

    fn backup(identity: &str) -> JobSpec {
        JobSpec::new(JobKind::Backup, Some(identity), format!("Backup of {identity}"))
    }

    /// A database holding the identities "ann" and "bob".
    async fn db_with_identities() -> Db {
        let db = Db::open_in_memory().await.expect("db");
        for id in ["ann", "bob"] {
            sqlx::query("INSERT INTO identities (id, name, portal_url, kind, sign_in, storage, created_ms, updated_ms) VALUES (?, ?, 'https://x', 'online', '{}', '{}', 1, 1)")
                .bind(id)
                .bind(id)
                .execute(db.pool())
                .await
                .expect("identity");
        }
        db
    }

    fn quick() -> LeaseTimes {
        LeaseTimes { ttl_ms: 60_000, heartbeat: Duration::from_secs(3600), poll: Duration::from_millis(5) }
    }

    #[tokio::test]
    async fn one_job_per_identity_and_kind_across_holders() {
        let db = db_with_identities().await;
        let clock = ManualClock::new(1_000);
        let first = JobRunner::new(&db, &clock).as_holder(elsewhere(4242));
        let second = JobRunner::new(&db, &clock);
        let held = first.begin(&backup("ann")).await.expect("the first backup begins");
        let err = second.begin(&backup("ann")).await.expect_err("a second backup of the same identity is refused");
        match &err {
            Error::Busy { kind, job_id, holder } => {
                assert_eq!((*kind, *job_id), (JobKind::Backup, held.job_id), "names the holding job");
                assert_eq!(holder, "process 4242 on another-machine", "names the holding process");
            }
            other => panic!("expected busy, got {other:?}"),
        }
        assert_eq!(err.code(), crate::ErrorCode::Busy);
        assert!(err.is_retryable(), "busy passes when the other job ends");
        second.begin(&backup("bob")).await.expect("another identity may back up at the same time");
        second
            .begin(&JobSpec::new(JobKind::Scan, Some("ann"), "Scan"))
            .await
            .expect("another kind for the same identity may run");
        Jobs::new(&db, &clock)
            .finish(held.job_id, &JobEnd { state: JobState::Cancelled, counts: JobCounts::None, error: None })
            .await
            .expect("end the first");
        second.begin(&backup("ann")).await.expect("once the first ended, the identity is free");
    }

    #[tokio::test]
    async fn only_an_expired_lease_is_declared_interrupted() {
        let db = db_with_identities().await;
        let clock = ManualClock::new(0);
        let gone = JobRunner::new(&db, &clock).as_holder(elsewhere(7));
        let here = JobRunner::new(&db, &clock);
        let stale = gone.begin(&backup("ann")).await.expect("begin");
        let live = JobRunner::new(&db, &clock).as_holder(elsewhere(8)).begin(&backup("bob")).await.expect("begin");
        clock.advance(59_000);
        // Bob's holder renews; Ann's is silent.
        JobRunner::new(&db, &clock).as_holder(elsewhere(8)).renew(&live).await.expect("renew");
        assert_eq!(here.reconcile().await.expect("reconcile"), 0, "within the lease time nothing is touched");
        assert!(matches!(here.begin(&backup("ann")).await, Err(Error::Busy { .. })), "still held");
        clock.advance(2_000);
        assert_eq!(here.reconcile().await.expect("reconcile"), 1, "only the silent lease expired");
        let jobs = Jobs::new(&db, &clock);
        let ann = jobs.get(stale.job_id).await.expect("get");
        assert_eq!((ann.state, ann.error.as_deref()), (JobState::Failed, Some(INTERRUPTED)), "failed, interrupted");
        assert_eq!(jobs.get(live.job_id).await.expect("get").state, JobState::Queued, "a renewed lease lives on");
        here.begin(&backup("ann")).await.expect("a retry after the expiry begins");
    }

    #[tokio::test]
    async fn a_dead_process_on_this_host_frees_its_jobs_at_once() {
        let me = holder::this_process();
        if me.pid_start.is_none() {
            return; // not Linux: only the heartbeat decides
        }
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        let db = db_with_identities().await;
        let clock = ManualClock::new(0);
        let dead = Holder { pid, host: me.host.clone(), pid_start: Some("1".into()) };
        JobRunner::new(&db, &clock).as_holder(dead).begin(&backup("ann")).await.expect("begin");
        JobRunner::new(&db, &clock)
            .begin(&backup("ann"))
            .await
            .expect("the dead holder's job does not block the next one");
    }

    #[tokio::test]
    async fn a_cancel_request_from_another_process_stops_the_work() {
        let db = db_with_identities().await;
        let clock = ManualClock::new(0);
        let runner = JobRunner::new(&db, &clock).with_times(quick());
        let cancel = CancellationToken::new();
        let lease = runner.begin(&backup("ann")).await.expect("begin");
        let work = async {
            Jobs::new(&db, &clock).mark_running(lease.job_id).await?;
            cancel.cancelled().await;
            Err::<(), Error>(Error::Cancelled)
        };
        let other = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Jobs::new(&db, &clock).request_cancel(lease.job_id).await.expect("request");
        };
        let (result, ()) = tokio::join!(runner.drive(&lease, &cancel, work, |_| None), other);
        assert!(matches!(result, Err(Error::Cancelled)), "the work saw the cancel: {result:?}");
        let job = Jobs::new(&db, &clock).get(lease.job_id).await.expect("get");
        assert_eq!(job.state, JobState::Cancelled, "the runner ended the row as cancelled");
    }

    #[tokio::test]
    async fn a_holder_that_lost_its_lease_stops() {
        let db = db_with_identities().await;
        let clock = ManualClock::new(0);
        let runner = JobRunner::new(&db, &clock).with_times(quick());
        let cancel = CancellationToken::new();
        let lease = runner.begin(&backup("ann")).await.expect("begin");
        let work = async {
            cancel.cancelled().await;
            Err::<(), Error>(Error::Cancelled)
        };
        let other = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            // A suspended laptop: the lease ran out and another process reconciled.
            clock.advance(61_000);
            let n = JobRunner::new(&db, &clock).as_holder(elsewhere(9)).reconcile().await.expect("reconcile");
            assert_eq!(n, 1, "the silent lease expired");
        };
        let (result, ()) = tokio::join!(runner.drive(&lease, &cancel, work, |_| None), other);
        assert!(result.is_err(), "the work was stopped");
        let job = Jobs::new(&db, &clock).get(lease.job_id).await.expect("get");
        assert_eq!(
            (job.state, job.error.as_deref()),
            (JobState::Failed, Some(INTERRUPTED)),
            "the row keeps the reconciler's verdict"
        );
    }

    #[tokio::test]
    async fn unfinished_rows_are_ended_by_the_runner() {
        let db = db_with_identities().await;
        let clock = ManualClock::new(0);
        let runner = JobRunner::new(&db, &clock);
        let cancel = CancellationToken::new();
        let spec = backup("ann");
        let failed: Result<()> =
            runner.run(&spec, &cancel, |_| async { Err(Error::InvalidInput("no such folder".into())) }, |_| None).await;
        assert!(failed.is_err());
        let jobs = Jobs::new(&db, &clock);
        let last = jobs.list(&super::super::JobFilter::default()).await.expect("list");
        assert_eq!(last[0].state, JobState::Failed, "an error before the engine started fails the job");
        assert_eq!(last[0].error.as_deref(), Some("invalid input: no such folder"), "with the error's words");
        let ok: Result<u32> = runner.run(&spec, &cancel, |_| async { Ok(3) }, |_| None).await;
        assert_eq!(ok.expect("ok"), 3);
        let last = jobs.list(&super::super::JobFilter::default()).await.expect("list");
        assert_eq!(last[0].state, JobState::Succeeded, "the next job of the identity ran and succeeded");
    }
}
