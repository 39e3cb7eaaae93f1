//! The organization scan: reads what an organization holds into a new catalog, as a job.
//!
//! Request budget: the scan makes no request it can do without. Items come from the org search
//! (split under the 10,000 cap by the client); users and groups from their paged lists; one
//! `community/groups/<id>/users` and one paged group content search per group give memberships
//! and sharing (never one request per item); folders only for users whose items sit in folders;
//! `relatedItems` only forward and only for types that can be a relationship's origin; `/data`
//! only for JSON item types; layers only for service items. Independent requests run
//! concurrently; the client's adaptive limiter bounds what is really in flight.
//!
//! Failure policy: a sign-in or permission failure, or a failed org-wide listing (items, users,
//! groups), fails the scan. A failure about one item or group (after the client's retries) is a
//! scan problem and the scan goes on (the job ends `partial`); an item that vanished midway is
//! removed from the catalog and recorded as a problem; a service whose layers cannot be read is
//! a problem too, but only a note (its item is cataloged; the backup reads the service itself). Cancellation is checked between requests and interrupts requests
//! in flight; the catalog is kept, marked `cancelled`, and the job ends `cancelled`.

mod steps;

use std::future::Future;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, ScanState};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::Identities;
use crate::jobs::runner::{JobRunner, JobSpec};
use crate::jobs::{ItemOutcome, JobCounts, JobEnd, JobKind, JobState, Jobs, Outcome, ScanCounts, SubjectKind};
use crate::progress::Progress;
use crate::selection::Selection;

pub use crate::item_type::{has_json_data, origin_relationships, service_layers_endpoint};

/// Privileges a custom administrator role needs to scan (a full `org_admin` has them all).
pub const REQUIRED_PRIVILEGES: &[&str] =
    &["portal:admin:viewUsers", "portal:admin:viewItems", "portal:admin:viewGroups"];

/// Requests the scan keeps queued at once; the client's limiter decides how many really go.
const CONCURRENCY: usize = 16;

/// What a finished scan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSummary {
    pub scan_id: i64,
    pub job_id: i64,
    pub items: u64,
    pub users: u64,
    pub groups: u64,
    pub relationships: u64,
    pub references: u64,
    /// Estimated size of a backup of everything (see `selection`).
    pub estimated_bytes: u64,
    pub problems: u64,
    /// HTTP requests the scan sent, retries included.
    pub requests: u64,
}

/// A per-item or per-group failure that did not stop the scan.
#[derive(Debug, Clone)]
pub(crate) struct ScanProblem {
    pub subject: SubjectKind,
    pub id: String,
    pub title: String,
    pub message: String,
    pub kind: ProblemKind,
}

/// How much a problem matters to the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProblemKind {
    /// The subject no longer exists: removed from the catalog, which is accurate without it.
    Vanished,
    /// Part of what a backup needs about the subject could not be read: the scan is partial.
    Incomplete,
    /// Optional facts could not be read (a service's layer count and last edit); the backup
    /// reads the service itself, so the catalog stays complete.
    Note,
}

impl ProblemKind {
    fn outcome(self) -> Outcome {
        match self {
            ProblemKind::Vanished => Outcome::Skipped,
            ProblemKind::Incomplete => Outcome::Failed,
            ProblemKind::Note => Outcome::Ok,
        }
    }
}

/// State shared by the steps of one scan.
pub(crate) struct ScanRun<'a> {
    pub catalog: Catalog<'a>,
    pub portal: &'a arcgis::Portal,
    pub scan_id: i64,
    pub progress: &'a dyn Progress,
    pub cancel: CancellationToken,
    pub problems: Vec<ScanProblem>,
}

impl ScanRun<'_> {
    /// Runs `fut` unless cancelled first; cancellation interrupts it.
    pub async fn cancellable<T>(&self, fut: impl Future<Output = T>) -> Result<T> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Error::Cancelled),
            out = fut => Ok(out),
        }
    }

    pub fn check_cancel(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Records a failure about one subject; a `NotFound` means it vanished during the scan.
    pub fn problem(&mut self, subject: SubjectKind, id: &str, title: &str, step: &str, error: &arcgis::Error) {
        let (kind, message) = if matches!(error, arcgis::Error::NotFound { .. }) {
            (ProblemKind::Vanished, format!("{} vanished during the scan ({step}: {error})", subject_word(subject)))
        } else {
            (ProblemKind::Incomplete, format!("{step} failed: {error}"))
        };
        self.record(subject, id, title, kind, message);
    }

    /// Records optional facts that could not be read.
    pub fn note(&mut self, subject: SubjectKind, id: &str, title: &str, step: &str, error: &arcgis::Error) {
        self.record(subject, id, title, ProblemKind::Note, format!("{step} failed: {error}"));
    }

    fn record(&mut self, subject: SubjectKind, id: &str, title: &str, kind: ProblemKind, message: String) {
        tracing::warn!(subject = ?subject, id, kind = ?kind, "scan problem: {message}");
        let outcome = ItemOutcome {
            kind: subject,
            id: id.to_owned(),
            title: title.to_owned(),
            outcome: kind.outcome(),
            reason: Some(message.clone()),
        };
        self.progress.item(&outcome);
        self.problems.push(ScanProblem { subject, id: id.to_owned(), title: title.to_owned(), message, kind });
    }
}

fn subject_word(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::Item => "item",
        SubjectKind::User => "user",
        SubjectKind::Group => "group",
    }
}

/// Scans the organization `portal` is signed in to into a new catalog for `identity_id`,
/// recording a `scan` job begun through the [`JobRunner`] (so a second scan of the identity,
/// in any process, is refused as busy). See the module documentation for what is read and how
/// failures and cancellation end the scan.
pub async fn scan(
    db: &Db,
    portal: &arcgis::Portal,
    identity_id: &str,
    progress: &dyn Progress,
    cancel: CancellationToken,
    clock: &dyn Clock,
) -> Result<ScanSummary> {
    let identity = Identities::new(db, clock).get(identity_id).await?;
    let spec = JobSpec::new(JobKind::Scan, Some(identity_id), format!("Scan of {}", identity.spec.name));
    let runner = JobRunner::new(db, clock);
    let token = cancel.clone();
    runner
        .run(&spec, &token, |job_id| scan_job(db, portal, job_id, identity_id, progress, cancel, clock), |_| None)
        .await
}

/// The scan of the begun job `job_id` (see [`scan`]); the caller holds the job's lease.
pub async fn scan_job(
    db: &Db,
    portal: &arcgis::Portal,
    job_id: i64,
    identity_id: &str,
    progress: &dyn Progress,
    cancel: CancellationToken,
    clock: &dyn Clock,
) -> Result<ScanSummary> {
    let jobs = Jobs::new(db, clock);
    jobs.mark_running(job_id).await?;
    let requests_before = portal.requests_made();
    tracing::info!(job_id, org = portal.org_id(), "scan started");

    if let Err(e) = portal.require_admin(REQUIRED_PRIVILEGES) {
        let e = Error::from(e);
        jobs.finish(job_id, &JobEnd { state: JobState::Failed, counts: JobCounts::None, error: Some(e.to_string()) })
            .await?;
        tracing::warn!(job_id, code = %e.code(), "scan refused: {e}");
        return Err(e);
    }

    let catalog = Catalog::new(db);
    let scan_id = catalog.create_scan(identity_id, portal.org_id(), Some(job_id), clock.now_ms()).await?;
    let mut run = ScanRun { catalog, portal, scan_id, progress, cancel, problems: Vec::new() };
    let outcome = steps::run_all(&mut run).await;

    // Problems are written whatever the outcome: a cancelled or failed catalog still says why.
    let problem_rows: Vec<(Option<String>, String, bool)> = run
        .problems
        .iter()
        .map(|p| (Some(p.id.clone()), p.message.clone(), p.kind == ProblemKind::Incomplete))
        .collect();
    catalog.insert_problems(scan_id, &problem_rows).await?;
    let problem_outcomes: Vec<ItemOutcome> = run
        .problems
        .iter()
        .map(|p| ItemOutcome {
            kind: p.subject,
            id: p.id.clone(),
            title: p.title.clone(),
            outcome: p.kind.outcome(),
            reason: Some(p.message.clone()),
        })
        .collect();
    jobs.record_items(job_id, &problem_outcomes).await?;

    let counts = catalog.counts(scan_id).await?;
    let requests = portal.requests_made().saturating_sub(requests_before);
    let estimated_bytes = match &outcome {
        Ok(()) => Selection::Everything.resolve(&catalog, scan_id).await?.tally.estimated_bytes,
        Err(_) => 0,
    };
    let scan_counts = ScanCounts { catalog: counts.clone(), requests, estimated_bytes };
    let counts_json = JobCounts::Scan(scan_counts.clone());
    let (scan_state, job_end) = match &outcome {
        Ok(()) => {
            let failed = run.problems.iter().filter(|p| p.kind == ProblemKind::Incomplete).count();
            let state = if failed == 0 { JobState::Succeeded } else { JobState::Partial };
            let error = (failed > 0).then(|| format!("{failed} items or groups could not be read completely"));
            (ScanState::Complete, JobEnd { state, counts: counts_json.clone(), error })
        }
        Err(Error::Cancelled) => {
            (ScanState::Cancelled, JobEnd { state: JobState::Cancelled, counts: counts_json.clone(), error: None })
        }
        Err(e) => (
            ScanState::Failed,
            JobEnd { state: JobState::Failed, counts: counts_json.clone(), error: Some(e.to_string()) },
        ),
    };
    catalog.finish_scan(scan_id, scan_state, &scan_counts, clock.now_ms()).await?;
    jobs.finish(job_id, &job_end).await?;
    tracing::info!(job_id, scan_id, state = ?job_end.state, items = counts.items, requests, "scan ended");
    outcome?;

    Ok(ScanSummary {
        scan_id,
        job_id,
        items: counts.items,
        users: counts.users,
        groups: counts.groups,
        relationships: counts.relationships,
        references: counts.references,
        estimated_bytes,
        problems: counts.problems,
        requests,
    })
}
