//! The backup job: copies what a selection of a scan's catalog names (items with their data,
//! resources, thumbnails, metadata and hosted-service exports; users; groups; the organization's
//! own records) into a [`Repository`] and writes one snapshot, recording a `backup` job with a
//! per-subject outcome. A selected Scene Service brings its backing feature service (found
//! through the catalog's `Service2Service` relationships) even when not selected; its entry's
//! `included_as` says so.
//!
//! Order and safety: blobs are written as they arrive; the snapshot manifest is written last,
//! only when the job is not cancelled, the repository did not fail and at least one subject
//! succeeded. A crash or kill at any moment therefore leaves no snapshot, only unreferenced blobs
//! that `prune` removes. The job holds a shared repository lock throughout, so `prune` cannot
//! remove blobs it is about to reference.
//!
//! Incremental: the newest snapshot of the same identity and organization in the repository is
//! read first; an unchanged item (same `modified` and `size`) reuses its blobs without a request,
//! a hosted service is exported again only when its layers' last edit moved (see `item`).
//!
//! Concurrency: subjects run `options.concurrency` at a time (`buffer_unordered`); the client's
//! adaptive limiters decide how many requests really go: API calls at the connection's limit,
//! downloads (files, thumbnails, metadata, exports) at `options.download_concurrency`, each
//! download holding its slot until its body ended. There are more subjects than slots so that
//! subjects waiting on an export job or an API call do not leave download slots idle.
//! Downloads stream into the repository (small ones in memory, large ones through staging
//! files), so memory does not grow with file or organization size.
//!
//! Cancellation: every request and download is interruptible; temporary export items are
//! deleted after a cancel too (see `service`), then the job ends `cancelled` without a snapshot.
//! Export items are journaled in SQLite before they are made, so what a lost answer or a killed
//! process left behind is deleted by the next backup of the org (see `export_journal`).
//!
//! Item URLs: a scene, tile, map or registered service item's `url` is read only when it is on
//! one of the org's own hosts or on a host the user allowed (`BackupOptions::allow_hosts`,
//! `arcgis::Portal::check_item_url`); otherwise the item is saved without its service JSON and
//! its entry's `service_not_fetched` says why.

mod error;
mod export_journal;
mod facts;
mod item;
mod principals;
mod query;
mod run;
mod service;
mod with_scan;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use error::BackupError;
pub use facts::Related;
pub use with_scan::{scan_and_backup, scan_and_backup_job, BackupWhat, ScanThenBackup, ScannedBackup};

use self::facts::Facts;
use self::run::{attempts, previous_manifest, Run, Stop};
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::db::Db;
use crate::identity::Identities;
use crate::jobs::runner::{JobRunner, JobSpec};
use crate::jobs::{ItemOutcome, JobCounts, JobEnd, JobKind, JobState, Jobs, Outcome, SubjectKind};
use crate::progress::Progress;
use crate::repo::{FailedEntry, LockKind, Manifest, Repository, SnapshotId};
use crate::selection::Selection;

/// How a backup runs.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// The snapshot's name; `None` gives "<identity name> <date time>".
    pub name: Option<String>,
    /// Subjects worked on at once.
    pub concurrency: usize,
    /// Downloads in progress at once (their own limit, apart from API calls); applied to the
    /// portal connection when the backup starts, if that connection has none yet.
    pub download_concurrency: usize,
    /// Longest wait for one export or replica job before falling back.
    pub export_timeout: Duration,
    /// Longest pause between two polls of a job.
    pub poll_max: Duration,
    /// Reuse unchanged items of the previous snapshot.
    pub incremental: bool,
    /// Hosts outside the organization whose item URLs may be read (without the token); added
    /// to the portal connection's allowed hosts when the backup starts.
    pub allow_hosts: Vec<arcgis::AllowedHost>,
    /// The largest item file, resource, thumbnail, metadata or attachment downloaded; a larger
    /// one fails its item alone ([`DEFAULT_MAX_FILE_BYTES`]).
    pub max_file_bytes: u64,
    /// The largest export or replica of a hosted service downloaded ([`DEFAULT_MAX_EXPORT_BYTES`]).
    pub max_export_bytes: u64,
    /// Keep what each selected hosted service was published from: a feature service's
    /// `Service Definition` item, a tile, vector tile or scene layer's package (their
    /// `Service2Data` relationship), so a restore can publish the service again from it.
    pub service_definitions: bool,
}

/// What an account needs to back up a whole organization, checked before an identity is saved:
/// the scan's three view privileges, and `portal:user:createItem`, since a hosted layer's export
/// is an item made in the signed-in account's own content and deleted after its download (Esri,
/// "Export Item": the result is a new item; "Privileges": createItem "create, edit, and delete
/// their own content"). A custom administrator role that can only view lacks it.
pub const REQUIRED_PRIVILEGES: &[&str] =
    &["portal:admin:viewUsers", "portal:admin:viewItems", "portal:admin:viewGroups", "portal:user:createItem"];

/// Item files are streamed to the repository, never held in memory: the cap only bounds what a
/// broken or hostile portal can make a backup write. ArcGIS Online takes item files up to a few
/// GiB; 64 GiB leaves room for any real one.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 30;

/// Exports of hosted services (File Geodatabases, replicas) can be larger than any item file.
pub const DEFAULT_MAX_EXPORT_BYTES: u64 = 256 << 30;

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            name: None,
            // Moderate defaults for a desktop on any network; `orgvault backup` raises them
            // (64 and 32) for servers, and the benchmark measures those.
            concurrency: 32,
            download_concurrency: 16,
            export_timeout: Duration::from_secs(30 * 60),
            poll_max: Duration::from_secs(5),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_export_bytes: DEFAULT_MAX_EXPORT_BYTES,
            incremental: true,
            service_definitions: true,
            allow_hosts: Vec::new(),
        }
    }
}

/// What a backup did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    pub job_id: i64,
    pub state: JobState,
    /// The snapshot written; `None` only when the job failed or was cancelled.
    pub snapshot: Option<SnapshotId>,
    pub name: String,
    pub items: u64,
    pub users: u64,
    pub groups: u64,
    pub failed: u64,
    /// Items saved another way than planned (e.g. replica after a failed export).
    pub fallbacks: u64,
    /// Items whose blobs came from the previous snapshot without downloading.
    pub reused: u64,
    /// Item `/data` downloads.
    pub data_downloads: u64,
    /// Bytes of the downloads (item files, resources, thumbnails, metadata, exports); JSON
    /// answers and what came from the catalog are not counted.
    pub bytes_downloaded: u64,
    /// Content bytes this backup added to the repository.
    pub bytes_new: u64,
    /// Content bytes of every blob the snapshot references.
    pub bytes_total: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
}

/// The concrete subjects of one backup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Targets {
    items: BTreeSet<String>,
    users: BTreeSet<String>,
    groups: BTreeSet<String>,
    /// Items backed up although not selected, with the reason recorded in their entry.
    included: BTreeMap<String, String>,
}

impl Targets {
    /// Adds what the selected items cannot be restored without: the backing feature service
    /// of each selected Scene Service. Leaves out this tool's own temporary export items that a
    /// fresh scan found in the organization (an earlier backup's leftovers, swept by this one).
    async fn complete(&mut self, ctx: &BackupContext<'_>) -> Result<(), BackupError> {
        let backing = facts::backing_services(&Catalog::new(ctx.db), ctx.scan_id, &self.items).await?;
        for (service, scene) in backing {
            tracing::info!(service = %service, scene = %scene, "backing up a scene's backing feature service too");
            self.items.insert(service.clone());
            self.included.insert(service, format!("backing service of {scene}"));
        }
        if ctx.options.service_definitions {
            let definitions = facts::service_definitions(&Catalog::new(ctx.db), ctx.scan_id, &self.items).await?;
            for (definition, service) in definitions {
                tracing::info!(source = %definition, service = %service, "backing up what a service was published from too");
                self.items.insert(definition.clone());
                self.included.insert(definition, format!("service definition of {service}"));
            }
        }
        for id in export_journal::own_items_in_catalog(ctx.db, ctx.portal, ctx.scan_id).await? {
            if self.items.remove(&id) {
                tracing::info!(item = %id, "left out a temporary export item of an earlier backup");
            }
        }
        Ok(())
    }
}

/// Everything a backup needs besides what to back up.
pub struct BackupContext<'a> {
    pub db: &'a Db,
    pub portal: &'a arcgis::Portal,
    pub repo: &'a Repository,
    pub identity_id: &'a str,
    /// The catalog (scan) the selection resolves against.
    pub scan_id: i64,
    pub options: &'a BackupOptions,
    pub progress: &'a dyn Progress,
    pub cancel: CancellationToken,
    pub clock: &'a dyn Clock,
}

/// "<identity name> <YYYY-MM-DD HH:MM>" (UTC).
pub fn default_name(identity_name: &str, now_ms: i64) -> String {
    let when = chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| now_ms.to_string());
    format!("{identity_name} {when}")
}

/// Backs up `selection` of the catalog `ctx.scan_id`. See the module documentation.
pub async fn backup(ctx: &BackupContext<'_>, selection: &Selection) -> Result<BackupSummary, BackupError> {
    let resolved = selection.resolve(&Catalog::new(ctx.db), ctx.scan_id).await?;
    let targets =
        Targets { items: resolved.items, users: resolved.users, groups: resolved.groups, included: BTreeMap::new() };
    let skipped: Vec<String> = resolved.unknown;
    let recorded = serde_json::to_value(selection).unwrap_or(serde_json::Value::Null);
    run_job(ctx, None, targets, skipped, recorded).await
}

/// [`backup`] into the job `job_id` the caller began through the [`JobRunner`] and drives.
pub async fn backup_job(
    ctx: &BackupContext<'_>,
    job_id: i64,
    selection: &Selection,
) -> Result<BackupSummary, BackupError> {
    let resolved = selection.resolve(&Catalog::new(ctx.db), ctx.scan_id).await?;
    let targets =
        Targets { items: resolved.items, users: resolved.users, groups: resolved.groups, included: BTreeMap::new() };
    let recorded = serde_json::to_value(selection).unwrap_or(serde_json::Value::Null);
    run_job(ctx, Some(job_id), targets, resolved.unknown, recorded).await
}

/// Starts a new backup of just the subjects that failed in job `job_id` (from its recorded
/// outcomes), against the catalog `ctx.scan_id`.
pub async fn retry_failed(ctx: &BackupContext<'_>, job_id: i64) -> Result<BackupSummary, BackupError> {
    let (targets, recorded) = failed_of(ctx, job_id).await?;
    run_job(ctx, None, targets, Vec::new(), recorded).await
}

/// [`retry_failed`] of job `failed_job`, into the job `job_id` the caller began and drives.
pub async fn retry_failed_job(
    ctx: &BackupContext<'_>,
    job_id: i64,
    failed_job: i64,
) -> Result<BackupSummary, BackupError> {
    let (targets, recorded) = failed_of(ctx, failed_job).await?;
    run_job(ctx, Some(job_id), targets, Vec::new(), recorded).await
}

/// The subjects that failed in job `job_id`, and how the new job records its selection.
async fn failed_of(ctx: &BackupContext<'_>, job_id: i64) -> Result<(Targets, serde_json::Value), BackupError> {
    let items = Jobs::new(ctx.db, ctx.clock).items(job_id).await?;
    let mut targets = Targets::default();
    for it in items.into_iter().filter(|i| i.outcome.outcome == Outcome::Failed) {
        let set = match it.outcome.kind {
            SubjectKind::Item => &mut targets.items,
            SubjectKind::User => &mut targets.users,
            SubjectKind::Group => &mut targets.groups,
        };
        set.insert(it.outcome.id);
    }
    let recorded = serde_json::json!({ "kind": "retry_failed", "job_id": job_id,
        "items": targets.items, "users": targets.users, "groups": targets.groups });
    Ok((targets, recorded))
}

/// One subject's result.
struct Done {
    kind: SubjectKind,
    id: String,
    title: String,
    result: Result<Subject, Stop>,
}

enum Subject {
    Item(Box<crate::repo::ItemEntry>),
    User(crate::repo::UserEntry),
    Group(crate::repo::GroupEntry),
}

/// The backup's name: the one asked for, else "<identity> <date>".
pub(crate) async fn backup_name(ctx: &BackupContext<'_>) -> Result<String, BackupError> {
    if let Some(name) = ctx.options.name.clone().filter(|n| !n.trim().is_empty()) {
        return Ok(name);
    }
    let identity = Identities::new(ctx.db, ctx.clock).get(ctx.identity_id).await?;
    Ok(default_name(&identity.spec.name, ctx.clock.now_ms()))
}

/// Runs the backup in the begun job `job`, or begins one (refused as busy while another backup
/// of the identity runs in any process) and drives it.
async fn run_job(
    ctx: &BackupContext<'_>,
    job: Option<i64>,
    targets: Targets,
    skipped: Vec<String>,
    selection: serde_json::Value,
) -> Result<BackupSummary, BackupError> {
    let name = backup_name(ctx).await?;
    match job {
        Some(job_id) => {
            Jobs::new(ctx.db, ctx.clock).rename(job_id, &name).await?;
            run_begun(ctx, job_id, targets, skipped, selection, name).await
        }
        None => {
            let spec = JobSpec::new(JobKind::Backup, Some(ctx.identity_id), name.clone());
            let token = ctx.cancel.clone();
            JobRunner::new(ctx.db, ctx.clock)
                .run(&spec, &token, |job_id| run_begun(ctx, job_id, targets, skipped, selection, name), |_| None)
                .await
        }
    }
}

async fn run_begun(
    ctx: &BackupContext<'_>,
    job_id: i64,
    mut targets: Targets,
    skipped: Vec<String>,
    selection: serde_json::Value,
    name: String,
) -> Result<BackupSummary, BackupError> {
    let jobs = Jobs::new(ctx.db, ctx.clock);
    jobs.mark_running(job_id).await?;
    targets.complete(ctx).await?;
    let started_ms = ctx.clock.now_ms();
    tracing::info!(
        job_id,
        items = targets.items.len(),
        users = targets.users.len(),
        groups = targets.groups.len(),
        "backup started"
    );

    let outcome = work(ctx, &targets, &skipped, selection, &name, started_ms, job_id).await;
    let (state, error, counts) = match &outcome {
        Ok((summary, _)) => (summary.state, None, JobCounts::Backup(summary.clone())),
        Err((e, _)) => {
            let state = if matches!(e, BackupError::Cancelled) { JobState::Cancelled } else { JobState::Failed };
            (state, Some(e.to_string()), JobCounts::None)
        }
    };
    let outcomes = match &outcome {
        Ok((_, o)) | Err((_, o)) => o,
    };
    jobs.record_items(job_id, outcomes).await?;
    let error = error.or_else(|| match &outcome {
        Ok((s, _)) if s.failed > 0 => Some(format!("{} of the selected subjects failed", s.failed)),
        _ => None,
    });
    jobs.finish(job_id, &JobEnd { state, counts, error }).await?;
    tracing::info!(job_id, state = ?state, "backup ended");
    outcome.map(|(s, _)| s).map_err(|(e, _)| e)
}

type Outcomes = Vec<ItemOutcome>;

#[allow(clippy::too_many_arguments)]
async fn work(
    ctx: &BackupContext<'_>,
    targets: &Targets,
    skipped: &[String],
    selection: serde_json::Value,
    name: &str,
    started_ms: i64,
    job_id: i64,
) -> Result<(BackupSummary, Outcomes), (BackupError, Outcomes)> {
    let mut outcomes: Outcomes = skipped
        .iter()
        .map(|id| ItemOutcome {
            kind: SubjectKind::Item,
            id: id.clone(),
            title: id.clone(),
            outcome: Outcome::Skipped,
            reason: Some("not in the catalog (changed since the scan?)".into()),
        })
        .collect();
    let total = targets.items.len() + targets.users.len() + targets.groups.len();
    if total == 0 {
        return Err((BackupError::EmptySelection, outcomes));
    }
    // A selection of nothing but subjects the scan could not read is refused before anything is
    // written: each would fail, and the job would only say so after trying.
    let incomplete = match Catalog::new(ctx.db).incomplete_subjects(ctx.scan_id).await {
        Ok(m) => m,
        Err(e) => return Err((e.into(), outcomes)),
    };
    let all_targets = || {
        [
            (SubjectKind::Item, &targets.items),
            (SubjectKind::User, &targets.users),
            (SubjectKind::Group, &targets.groups),
        ]
        .into_iter()
        .flat_map(|(k, set)| set.iter().map(move |id| (k, id)))
    };
    if all_targets().all(|(_, id)| incomplete.contains_key(id)) {
        let first = all_targets().next().and_then(|(_, id)| incomplete.get(id)).cloned().unwrap_or_default();
        outcomes.extend(all_targets().map(|(kind, id)| ItemOutcome {
            kind,
            id: id.clone(),
            title: id.clone(),
            outcome: Outcome::Failed,
            reason: incomplete.get(id).cloned(),
        }));
        return Err((BackupError::OnlyFailedSelected { count: total, first }, outcomes));
    }
    let lock = match ctx.repo.lock(LockKind::Shared).await {
        Ok(l) => l,
        Err(e) => return Err((e.into(), outcomes)),
    };
    let result = write_all(ctx, targets, selection, name, started_ms, job_id, &mut outcomes).await;
    if let Err(e) = lock.release().await {
        tracing::warn!("releasing the repository lock failed (it expires by itself): {e}");
    }
    match result {
        Ok(s) => Ok((s, outcomes)),
        Err(e) => Err((e, outcomes)),
    }
}

/// The items' captures as a stream, pulled by `buffer_unordered` as slots free up; a catalog
/// read failure ends the stream and is left in `failure`. Boxed here, where its lifetimes are
/// named, so that the backup future is provably `Send` and front ends can `tokio::spawn` it.
fn item_jobs<'a>(
    rows: futures::stream::BoxStream<'a, crate::Result<(crate::catalog::ItemSummary, String)>>,
    failure: &'a std::sync::Mutex<Option<crate::error::Error>>,
    run: &'a Run<'a>,
    facts: &'a Facts,
    prev_items: &'a BTreeMap<&'a str, &'a crate::repo::ItemEntry>,
) -> futures::stream::BoxStream<'a, futures::future::BoxFuture<'a, Done>> {
    rows.scan((), move |_, row| {
        futures::future::ready(match row {
            Ok(row) => Some(row),
            Err(e) => {
                *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                None
            }
        })
    })
    .map(move |(summary, json)| {
        let prev = prev_items.get(summary.id.as_str()).copied();
        item_job(run, facts, prev, summary, json)
    })
    .boxed()
}

/// Every subject's capture, `concurrency` at a time, items first.
fn all_jobs<'a>(
    items: futures::stream::BoxStream<'a, futures::future::BoxFuture<'a, Done>>,
    users: Vec<futures::future::BoxFuture<'a, Done>>,
    groups: Vec<futures::future::BoxFuture<'a, Done>>,
    concurrency: usize,
) -> futures::stream::BoxStream<'a, Done> {
    items.chain(futures::stream::iter(users)).chain(futures::stream::iter(groups)).buffer_unordered(concurrency).boxed()
}

/// One item's capture with its retries, boxed where its lifetimes are concrete.
fn item_job<'a>(
    run: &'a Run<'a>,
    facts: &'a Facts,
    prev: Option<&'a crate::repo::ItemEntry>,
    summary: crate::catalog::ItemSummary,
    json: String,
) -> futures::future::BoxFuture<'a, Done> {
    async move {
        let result = attempts(run, || item::capture_item(run, &summary, &json, facts, prev))
            .await
            .map(|e| Subject::Item(Box::new(e)));
        Done { kind: SubjectKind::Item, id: summary.id, title: summary.title, result }
    }
    .boxed()
}

fn user_job<'a>(
    run: &'a Run<'a>,
    facts: &'a Facts,
    prev: Option<&'a crate::repo::UserEntry>,
    u: &'a String,
    text: &'a str,
) -> futures::future::BoxFuture<'a, Done> {
    async move {
        let result = match facts::parse_json(text, u) {
            Ok(json) => attempts(run, || principals::capture_user(run, u, &json, facts, prev)).await.map(Subject::User),
            Err(reason) => Err(Stop::Failed(reason)),
        };
        Done { kind: SubjectKind::User, id: u.clone(), title: u.clone(), result }
    }
    .boxed()
}

fn group_job<'a>(
    run: &'a Run<'a>,
    facts: &'a Facts,
    prev: Option<&'a crate::repo::GroupEntry>,
    g: &'a String,
    text: &'a str,
) -> futures::future::BoxFuture<'a, Done> {
    async move {
        let (title, result) = match facts::parse_json(text, g) {
            Ok(json) => {
                let title = json.get("title").and_then(serde_json::Value::as_str).unwrap_or(g).to_owned();
                let result =
                    attempts(run, || principals::capture_group(run, g, &json, facts, prev)).await.map(Subject::Group);
                (title, result)
            }
            Err(reason) => (g.clone(), Err(Stop::Failed(reason))),
        };
        Done { kind: SubjectKind::Group, id: g.clone(), title, result }
    }
    .boxed()
}

#[allow(clippy::too_many_arguments)]
async fn write_all(
    ctx: &BackupContext<'_>,
    targets: &Targets,
    selection: serde_json::Value,
    name: &str,
    started_ms: i64,
    job_id: i64,
    outcomes: &mut Outcomes,
) -> Result<BackupSummary, BackupError> {
    let catalog = Catalog::new(ctx.db);
    // Boxed (`.boxed()`): a future borrowing a local, awaited here, is otherwise more than the
    // compiler can prove `Send` for the whole backup.
    let facts = Facts::load(&catalog, ctx.scan_id, &targets.users, &targets.groups).boxed().await?;
    let missing_items = facts::missing_items(&catalog, ctx.scan_id, &targets.items).boxed().await?;
    let previous = if ctx.options.incremental {
        previous_manifest(ctx.repo, ctx.identity_id, ctx.portal.org_id()).await
    } else {
        None
    };
    let prev_items: BTreeMap<&str, &crate::repo::ItemEntry> =
        previous.iter().flat_map(|m| m.items.iter().map(|i| (i.id.as_str(), i))).collect();
    let prev_users: BTreeMap<&str, &crate::repo::UserEntry> =
        previous.iter().flat_map(|m| m.users.iter().map(|u| (u.username.as_str(), u))).collect();
    let prev_groups: BTreeMap<&str, &crate::repo::GroupEntry> =
        previous.iter().flat_map(|m| m.groups.iter().map(|g| (g.id.as_str(), g))).collect();

    ctx.portal.set_download_concurrency(ctx.options.download_concurrency);
    for host in &ctx.options.allow_hosts {
        ctx.portal.allow_host(host.clone());
    }
    let stats_before = ctx.repo.write_stats();
    let requests_before = ctx.portal.requests_made();
    let stop = ctx.cancel.child_token();
    let journal = export_journal::ExportJournal::new(ctx.db, ctx.clock, ctx.portal, job_id);
    // What earlier backups of this org left behind (a lost answer, a killed process) goes first.
    let swept = export_journal::sweep(ctx.portal, &journal, export_journal::Scope::Leftovers).await;
    if !swept.deleted.is_empty() {
        ctx.progress.message(&format!(
            "deleted {} temporary export item(s) an earlier backup left in the organization",
            swept.deleted.len()
        ));
    }
    let run = Run::new(ctx.portal, ctx.repo, stop.clone(), ctx.options, ctx.progress, ctx.clock, journal);
    let total = targets.items.len() + targets.users.len() + targets.groups.len();
    ctx.progress.phase("backup", Some(total as u64));

    let mut fatal: Option<crate::repo::RepoError> = None;
    let org = match attempts(&run, || principals::capture_org(&run)).await {
        Ok(o) => o,
        Err(Stop::Fatal(e)) => return Err(e.into()),
        Err(Stop::Cancelled) => return Err(BackupError::Cancelled),
        Err(Stop::Failed(reason) | Stop::Transient { reason, .. }) => {
            tracing::warn!("the organization's records could not be saved: {reason}");
            crate::repo::OrgRecord::default()
        }
    };

    let run_ref = &run;
    let facts_ref = &facts;
    // Items stream from the catalog a page at a time; `buffer_unordered` below pulls the next
    // one only when a slot frees up, so only the items in progress are in memory.
    let catalog_failure: std::sync::Mutex<Option<crate::error::Error>> = std::sync::Mutex::new(None);
    let failure_ref = &catalog_failure;
    let item_jobs = item_jobs(
        facts::selected_items(&catalog, ctx.scan_id, &targets.items),
        failure_ref,
        run_ref,
        facts_ref,
        &prev_items,
    );
    // Users and groups are boxed one by one (see `item_job`) and collected: a lazy iterator of
    // closures over borrowed keys, held across awaits, is more than the compiler can prove `Send`.
    let user_jobs: Vec<_> = targets
        .users
        .iter()
        .filter_map(|u| facts.users.get(u).map(|j| (u, j)))
        .map(|(u, text)| user_job(run_ref, facts_ref, prev_users.get(u.as_str()).copied(), u, text))
        .collect();
    let group_jobs: Vec<_> = targets
        .groups
        .iter()
        .filter_map(|g| facts.groups.get(g).map(|j| (g, j)))
        .map(|(g, text)| group_job(run_ref, facts_ref, prev_groups.get(g.as_str()).copied(), g, text))
        .collect();
    // Subjects the catalog lost between resolve and load (a concurrent rescan) are skipped.
    let missing = missing_items.iter().map(|i| (SubjectKind::Item, i));
    let missing = missing
        .chain(targets.users.iter().filter(|u| !facts.users.contains_key(*u)).map(|u| (SubjectKind::User, u)))
        .chain(targets.groups.iter().filter(|g| !facts.groups.contains_key(*g)).map(|g| (SubjectKind::Group, g)));
    for (kind, id) in missing {
        outcomes.push(ItemOutcome {
            kind,
            id: id.clone(),
            title: id.clone(),
            outcome: Outcome::Skipped,
            reason: Some("not in the catalog".into()),
        });
    }
    drop(missing_items);

    let mut manifest =
        Manifest::new(name, ctx.identity_id, ctx.portal.org_id(), ctx.portal.portal_url().as_str(), started_ms);
    manifest.selection = selection;
    manifest.org = org;
    // Sized once: growing by doubling briefly held two copies of a large vector.
    manifest.items.reserve_exact(targets.items.len());
    outcomes.reserve(total);
    let mut done = all_jobs(item_jobs, user_jobs, group_jobs, ctx.options.concurrency.max(1));
    let mut fallbacks = 0u64;
    let mut attempted = 0usize;
    while let Some(d) = done.next().await {
        run.subject_done(&d.title);
        let (outcome, reason) = match d.result {
            Ok(Subject::Item(mut entry)) => {
                attempted += 1;
                // Set here, not at capture: an entry reused from an earlier snapshot may have
                // been selected then and only be included now, or the reverse.
                entry.included_as = targets.included.get(&entry.id).cloned();
                let note = (!entry.notes.is_empty()).then(|| entry.notes.join("; "));
                // Saved as planned, but the outcome shows that its service was not read.
                let not_fetched =
                    entry.service_not_fetched.as_ref().map(|n| format!("service not fetched: {}", n.reason));
                manifest.items.push(*entry);
                match note {
                    Some(n) => {
                        fallbacks += 1;
                        (Outcome::Fallback, Some(n))
                    }
                    None => (Outcome::Ok, not_fetched),
                }
            }
            Ok(Subject::User(u)) => {
                attempted += 1;
                manifest.users.push(u);
                (Outcome::Ok, None)
            }
            Ok(Subject::Group(g)) => {
                attempted += 1;
                manifest.groups.push(g);
                (Outcome::Ok, None)
            }
            Err(Stop::Failed(reason) | Stop::Transient { reason, .. }) => {
                attempted += 1;
                tracing::warn!(kind = ?d.kind, id = %d.id, "backup of one subject failed: {reason}");
                manifest.failed.push(FailedEntry {
                    kind: d.kind,
                    id: d.id.clone(),
                    title: d.title.clone(),
                    reason: reason.clone(),
                });
                (Outcome::Failed, Some(reason))
            }
            Err(Stop::Fatal(e)) => {
                if fatal.is_none() {
                    tracing::error!("the repository failed; stopping the backup: {e}");
                    fatal = Some(e);
                    stop.cancel();
                }
                continue;
            }
            Err(Stop::Cancelled) => continue,
        };
        let o = ItemOutcome { kind: d.kind, id: d.id, title: d.title, outcome, reason };
        ctx.progress.item(&o);
        outcomes.push(o);
    }
    drop(done);
    let catalog_failure = catalog_failure.lock().unwrap_or_else(|p| p.into_inner()).take();
    let left = run.sweep_exports().await;
    if !left.is_empty() {
        tracing::error!(?left, "temporary export items could not be deleted; delete them in the organization");
    }
    if let Some(e) = fatal {
        return Err(e.into());
    }
    if let Some(e) = catalog_failure {
        return Err(e.into());
    }
    if ctx.cancel.is_cancelled() {
        return Err(BackupError::Cancelled);
    }
    let failed = manifest.failed.len();
    if failed > 0 && failed == attempted {
        let first = manifest.failed.first().map(|f| format!("{} {}: {}", f.id, f.title, f.reason)).unwrap_or_default();
        return Err(BackupError::AllFailed { count: failed, first });
    }

    manifest.items.sort_by(|a, b| a.id.cmp(&b.id));
    manifest.users.sort_by(|a, b| a.username.cmp(&b.username));
    manifest.groups.sort_by(|a, b| a.id.cmp(&b.id));
    ctx.progress.phase("snapshot", None);
    let snapshot = ctx.repo.write_snapshot(&manifest).await?;
    let bytes_total = ctx.repo.snapshot(&snapshot).await.map(|s| s.bytes).unwrap_or(0);
    let stats = ctx.repo.write_stats();
    tracing::info!(job_id, snapshot = snapshot.as_str(), "snapshot written");
    Ok(BackupSummary {
        job_id,
        state: if failed > 0 { JobState::Partial } else { JobState::Succeeded },
        snapshot: Some(snapshot),
        name: name.to_owned(),
        items: manifest.items.len() as u64,
        users: manifest.users.len() as u64,
        groups: manifest.groups.len() as u64,
        failed: failed as u64,
        fallbacks,
        reused: run.tally.reused.load(Ordering::Relaxed),
        data_downloads: run.tally.data_downloads.load(Ordering::Relaxed),
        bytes_downloaded: run.tally.bytes_read.load(Ordering::Relaxed),
        bytes_new: stats.bytes_new.saturating_sub(stats_before.bytes_new),
        bytes_total,
        requests: ctx.portal.requests_made().saturating_sub(requests_before),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_carry_identity_and_utc_time() {
        assert_eq!(
            default_name("Acme", 1_700_000_000_000),
            "Acme 2023-11-14 22:13",
            "the default name is the identity and the start time, to the minute"
        );
    }
}
