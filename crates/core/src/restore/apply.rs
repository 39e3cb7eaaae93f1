//! Carrying a plan out; see the module documentation of `restore` for the order.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use arcgis::write::{ItemContent, ItemFields};
use futures::StreamExt;
use serde_json::{json, Value};

use super::error::RestoreError;
use super::journal::{EntryKind, Journal};
use super::options::RestoreOptions;
use super::plan::{Action, PlannedItem};
use super::prepare::{prepare, Prepared};
use super::retry::{self, with_retries};
use super::run::{Run, Stop, Tally};
use super::{RestoreContext, RestoreSummary};
use crate::jobs::runner::{JobRunner, JobSpec};
use crate::jobs::{JobCounts, JobEnd, JobKind, JobState, Jobs, SubjectKind};
use crate::repo::{ItemEntry, RelDirection, SnapshotId};

/// Begins a restore job through the [`JobRunner`] (one restore per identity at a time, in any
/// process) and carries the plan out in it.
pub(crate) async fn apply(
    ctx: &RestoreContext<'_>,
    snapshot: &SnapshotId,
    options: &RestoreOptions,
) -> Result<RestoreSummary, RestoreError> {
    let spec = JobSpec::new(JobKind::Restore, ctx.identity_id, format!("restore of snapshot {}", snapshot.as_str()));
    let token = ctx.cancel.clone();
    JobRunner::new(ctx.db, ctx.clock)
        .run(&spec, &token, |job_id| apply_begun(ctx, job_id, snapshot, options), |_| None)
        .await
}

/// Carries the plan out in the begun job `job_id`; the caller holds the job's lease.
pub(crate) async fn apply_begun(
    ctx: &RestoreContext<'_>,
    job_id: i64,
    snapshot: &SnapshotId,
    options: &RestoreOptions,
) -> Result<RestoreSummary, RestoreError> {
    let started = Instant::now();
    let requests_before = ctx.portal.requests_made();
    let jobs = Jobs::new(ctx.db, ctx.clock);
    jobs.mark_running(job_id).await?;
    let prepared = prepare(ctx, snapshot, options).await?;
    if !prepared.plan.missing_privileges.is_empty() {
        return Err(RestoreError::MissingPrivileges(prepared.plan.missing_privileges.clone()));
    }
    let name = format!("restore {} into {}", prepared.plan.snapshot_name, prepared.plan.target_org_id);
    jobs.rename(job_id, &name).await?;
    let Prepared { plan, manifest, target, rewriter, data, item_json, marks } = prepared;
    let run = Run {
        portal: ctx.portal,
        repo: ctx.repo,
        journal: Journal::new(ctx.db, ctx.clock, ctx.portal.org_id(), snapshot.as_str()),
        jobs: Jobs::new(ctx.db, ctx.clock),
        job_id,
        options,
        progress: ctx.progress,
        clock: ctx.clock,
        cancel: ctx.cancel.clone(),
        retry: options.retry_policy(),
        rewriter: RwLock::new(rewriter),
        folders: tokio::sync::Mutex::new(HashMap::new()),
        tally: Tally::default(),
        patches: Mutex::new(Vec::new()),
        placed: RwLock::new(HashMap::new()),
        offered: plan.items.iter().map(|i| i.source_id.clone()).collect::<HashSet<_>>(),
        service_urls: manifest
            .items
            .iter()
            .filter_map(|i| i.service.as_ref().map(|s| (i.id.clone(), s.url.trim_end_matches('/').to_owned())))
            .collect(),
        service_definitions: plan
            .items
            .iter()
            .filter_map(|p| {
                let sd = manifest.items.iter().find(|i| Some(&i.id) == p.service_definition.as_ref())?;
                let data = sd.data.as_ref()?;
                let name = data.file_name.clone().unwrap_or_else(|| "service.sd".into());
                Some((p.source_id.clone(), crate::repo::FileEntry { name, blob: data.blob.clone() }))
            })
            .collect(),
        layer_packages: plan
            .items
            .iter()
            .filter_map(|p| {
                let pkg = manifest.items.iter().find(|i| Some(&i.id) == p.package.as_ref())?;
                let data = pkg.data.as_ref()?;
                let kind = crate::item_type::layer_package(&pkg.item_type)?;
                let name = data.file_name.clone().unwrap_or_else(|| "layer.package".into());
                let file = crate::repo::FileEntry { name, blob: data.blob.clone() };
                Some((p.source_id.clone(), (file, kind)))
            })
            .collect(),
        target_owners: target.items.values().map(|i| (i.id.clone(), i.owner.clone())).collect(),
        marks,
        held: Mutex::new(HashMap::new()),
    };
    let entries: HashMap<&str, &ItemEntry> = manifest.items.iter().map(|i| (i.id.as_str(), i)).collect();

    // Packages this restore uploaded and an interrupted run left behind: each is journaled
    // before its upload and found by this restore's own keyword and owner. Packages of other
    // restores into this org (other snapshots, other databases) are theirs, never touched.
    for ((kind, source), row) in run.journal.load().await? {
        let package = row.detail.get("package").and_then(Value::as_bool) == Some(true);
        if let (EntryKind::Upload, true, Some(owner)) = (kind, package, row.detail.get("owner").and_then(Value::as_str))
        {
            super::hosted::remove_packages(&run, &run.upload_keyword(&source), owner).await;
        }
    }

    ctx.progress.phase("users", Some(plan.users.len() as u64));
    for u in &plan.users {
        if let Some(entry) = manifest.users.iter().find(|e| e.username == u.source_username) {
            let r = retry::user(&run, u, entry).await;
            run.outcome(SubjectKind::User, &u.source_username, &u.target_username, r).await;
        }
    }

    ctx.progress.phase("groups", Some(plan.groups.len() as u64));
    let mut group_ids: HashMap<String, String> = HashMap::new();
    for g in &plan.groups {
        if run.check_cancel().is_err() {
            break;
        }
        if let Some(entry) = manifest.groups.iter().find(|e| e.id == g.source_id) {
            let (gid, r) = retry::group(&run, g, entry).await;
            if let Some(gid) = gid {
                group_ids.insert(g.source_id.clone(), gid);
            }
            run.outcome(SubjectKind::Group, &g.source_id, &g.target_title, r).await;
        }
    }

    ctx.progress.phase("items", Some(plan.items.len() as u64));
    let max_level = plan.items.iter().map(|i| i.level).max().unwrap_or(0);
    let mut failed_items: HashSet<String> = HashSet::new();
    for level in 0..=max_level {
        if run.check_cancel().is_err() {
            break;
        }
        let batch: Vec<&PlannedItem> = plan.items.iter().filter(|i| i.level == level).collect();
        let run_ref = &run;
        let entries_ref = &entries;
        let data_ref = &data;
        let json_ref = &item_json;
        let mut done = futures::stream::iter(batch.into_iter().map(|p| async move {
            let json = json_ref.get(&p.source_id).cloned().unwrap_or(Value::Null);
            let r = match entries_ref.get(p.source_id.as_str()) {
                None => Err(Stop::Failed("not in the snapshot".into())),
                Some(entry) => retry::item(run_ref, p, entry, &json, data_ref.get(&p.source_id)).await,
            };
            // Recorded inside the task: the loop below must not await while other tasks of the
            // stream, left unpolled meanwhile, may hold a database connection or lock. A good
            // outcome is held until the item's later passes are done (it is counted once).
            let failed = r.is_err();
            match r {
                Ok(done) => run_ref.hold(&p.source_id, &p.target_title, done),
                Err(e) => run_ref.outcome(SubjectKind::Item, &p.source_id, &p.target_title, Err(e)).await,
            }
            (p, failed)
        }))
        .buffer_unordered(options.concurrency.max(1))
        // Boxed, so that the restore future is provably `Send` (front ends spawn it).
        .boxed();
        while let Some((p, failed)) = done.next().await {
            if failed {
                failed_items.insert(p.source_id.clone());
            }
        }
    }

    if !ctx.cancel.is_cancelled() {
        ctx.progress.phase("links", None);
        finish_items(&run, &plan.items, &entries, &item_json, &data, &group_ids, &failed_items).await;
    }
    run.record_held().await;

    let created = run.tally.created.load(Ordering::Relaxed);
    let updated = run.tally.updated.load(Ordering::Relaxed);
    let skipped = run.tally.skipped.load(Ordering::Relaxed);
    let failed = run.tally.failed.load(Ordering::Relaxed);
    let state = if ctx.cancel.is_cancelled() {
        JobState::Cancelled
    } else if failed == 0 {
        JobState::Succeeded
    } else if created + updated + skipped == 0 {
        JobState::Failed
    } else {
        JobState::Partial
    };
    let summary = RestoreSummary {
        job_id,
        state,
        created,
        updated,
        skipped,
        failed,
        requests: ctx.portal.requests_made().saturating_sub(requests_before),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let error = match state {
        JobState::Cancelled => Some("cancelled; run the restore again to resume".to_owned()),
        _ if failed > 0 => Some(format!("{failed} subject(s) failed")),
        _ => None,
    };
    jobs.finish(job_id, &JobEnd { state, counts: JobCounts::Restore(summary.clone()), error }).await?;
    if state == JobState::Cancelled {
        return Err(RestoreError::Cancelled);
    }
    Ok(summary)
}

/// The passes after every item exists: patch data that named not-yet-made items, add item
/// relationships, share; then each item's journal row becomes `done`.
async fn finish_items(
    run: &Run<'_>,
    items: &[PlannedItem],
    entries: &HashMap<&str, &ItemEntry>,
    item_json: &HashMap<String, Value>,
    data: &HashMap<String, Value>,
    group_ids: &HashMap<String, String>,
    failed: &HashSet<String>,
) {
    let patches: HashSet<String> = run.patches.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
    let work = items.iter().filter(|p| !failed.contains(&p.source_id)).filter_map(|p| {
        let placed = run.placed(&p.source_id)?;
        let entry = *entries.get(p.source_id.as_str())?;
        let skip_only = matches!(p.action, Action::Skip { .. });
        Some((p, entry, placed, skip_only))
    });
    let patches = &patches;
    let mut done = futures::stream::iter(work.map(|(p, entry, (owner, target), skip_only)| async move {
        // Every step here (update, addRelationship, share, the journal) is harmless to repeat.
        let r = with_retries(run, &p.source_id, |_| async {
            if skip_only {
                return Ok::<(), Stop>(());
            }
            if patches.contains(&p.source_id) {
                let (fields, body) = {
                    let rw = run.rewriter();
                    let mut fields = ItemFields::default();
                    if let Some(u) = item_json
                        .get(&p.source_id)
                        .and_then(|j| j.get("url"))
                        .and_then(Value::as_str)
                        .filter(|u| !u.is_empty())
                    {
                        fields.url = Some(rw.rewrite_str(u));
                    }
                    let body = match data.get(&p.source_id) {
                        Some(d) => {
                            let mut d = d.clone();
                            rw.rewrite_json(&mut d);
                            ItemContent::Text(d.to_string())
                        }
                        None => ItemContent::None,
                    };
                    (fields, body)
                };
                run.portal
                    .update_item(&owner, &target, &fields, body, None)
                    .await
                    .map_err(|e| Stop::portal("patching references", e))?;
            }
            // An item related to itself (seen in real orgs) is not made so again.
            for r in entry.related.iter().filter(|r| r.direction == RelDirection::Forward && r.item_id != entry.id) {
                if let Some((_, dest)) = run.placed(&r.item_id) {
                    run.portal
                        .add_relationship(&owner, &target, &dest, &r.rel_type)
                        .await
                        .map_err(|e| Stop::portal(&format!("adding the {} relationship", r.rel_type), e))?;
                }
            }
            if run.options.groups || entry.sharing.access != "private" {
                let groups: Vec<String> = if run.options.groups {
                    entry.sharing.groups.iter().filter_map(|g| group_ids.get(g).cloned()).collect()
                } else {
                    Vec::new()
                };
                let everyone = entry.sharing.access == "public";
                let org = entry.sharing.access == "org";
                if everyone || org || !groups.is_empty() {
                    let not = run
                        .portal
                        .share_item(&owner, &target, &groups, everyone, org)
                        .await
                        .map_err(|e| Stop::portal("sharing", e))?;
                    if !not.is_empty() {
                        return Err(Stop::Failed(format!("not shared with groups {}", not.join(", "))));
                    }
                }
            }
            run.journal.record(EntryKind::Item, &p.source_id, &target, true, &json!({"content": true})).await?;
            Ok(())
        })
        .await;
        let (title, held) = match run.take_held(&p.source_id) {
            Some((title, done)) => (title, Some(done)),
            None => (p.target_title.clone(), None),
        };
        let result = match (r, held) {
            (Ok(()), Some(done)) => Ok(done),
            // Counted once, as failed: the reason says the item exists and a re-run finishes it.
            (Err(Stop::Failed(reason) | Stop::Transient { reason, .. }), _) => {
                tracing::warn!(item = %p.source_id, "finishing the item failed: {reason}");
                Err(Stop::Failed(format!("restored as {target}, then: {reason}")))
            }
            // A cancelled item keeps its outcome; the next run finishes its passes.
            (Err(Stop::Cancelled), Some(done)) => Ok(done),
            (Ok(()), None) | (Err(Stop::Cancelled), None) => return,
        };
        run.record(SubjectKind::Item, &p.source_id, &title, result, false).await;
    }))
    .buffer_unordered(run.options.concurrency.max(1))
    .boxed();
    while done.next().await.is_some() {}
}
