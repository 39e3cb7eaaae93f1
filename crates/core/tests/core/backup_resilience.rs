//! The backup through failing exports, cancellation, injected faults and expiring tokens.

use std::sync::Arc;
use std::time::Duration;

use orgvault_core::backup::BackupError;
use orgvault_core::jobs::{JobFilter, JobKind, JobState, Jobs, Outcome};
use orgvault_core::repo::ExportMethod;
use orgvault_core::{NoProgress, Selection, SystemClock};
use portal_sim::faults::{FaultKind, ForcedFault};
use portal_sim::routes::hosted::export_items;
use portal_sim::{RunningSim, SimConfig};
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, run_backup, scanned, verify_all};
use crate::support::{start_sim, Recorder};

fn leftover_exports(sim: &RunningSim) -> usize {
    let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    export_items(&u.orgs[0]).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_export_falls_back_and_the_outcome_says_so() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 60, ..SimConfig::default() }).await?;
    // One service that can replicate and one that cannot, both refusing to export.
    let (with_sync, without_sync) = {
        let mut u = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let org = &mut u.orgs[0];
        let pick = |sync: bool| {
            org.services.values().find(|s| s.view_of.is_none() && s.sync_enabled == sync).map(|s| s.name.clone())
        };
        let (a, b) = (pick(true).expect("a sync-enabled service"), pick(false).expect("a service without sync"));
        for name in [&a, &b] {
            org.services.get_mut(name).expect("service").export_fails = true;
        }
        (org.services[&a].item_id.clone(), org.services[&b].item_id.clone())
    };
    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let recorder = Recorder::default();
    let selection =
        Selection::Explicit { items: vec![with_sync.clone(), without_sync.clone()], users: vec![], groups: vec![] };
    let summary = run_backup(&s, &repo, &selection, &recorder, CancellationToken::new()).await?;
    assert_eq!((summary.items, summary.failed, summary.fallbacks), (2, 0, 2), "both saved, both by a fallback");

    let outcomes = recorder.outcomes.lock().expect("lock").clone();
    let of = |id: &str| outcomes.iter().find(|o| o.id == id).cloned().expect("an outcome per item");
    let a = of(&with_sync);
    assert_eq!(a.outcome, Outcome::Fallback, "a failed export recorded as a fallback");
    let reason = a.reason.unwrap_or_default();
    assert!(
        reason.contains("export failed") && reason.contains("createReplica"),
        "the outcome names the replica: {reason}"
    );
    let b = of(&without_sync);
    assert!(
        b.reason.unwrap_or_default().contains("paged query"),
        "without Sync the features are copied by the paged query, and the outcome says so"
    );
    let history = Jobs::new(&s.db, &SystemClock).items(summary.job_id).await?;
    assert!(
        history.iter().any(|j| j.outcome.id == with_sync && j.outcome.outcome == Outcome::Fallback),
        "the job history keeps the fallback"
    );

    let manifest = repo.manifest(summary.snapshot.as_ref().expect("snapshot")).await?;
    let entry = manifest.items.iter().find(|i| i.id == with_sync).expect("entry");
    let service = entry.service.as_ref().expect("service entry");
    assert_eq!(service.export_method, ExportMethod::Replica, "the manifest says the data came from a replica");
    assert!(service.export.as_ref().is_some_and(|e| e.blob.size > 0), "the replica file is stored");
    assert_eq!(leftover_exports(&sim), 0, "failed exports leave no temporary item in the org");
    verify_all(&repo).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_backup_writes_no_snapshot_and_leaves_no_export_item() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 120, latency_ms: 20, ..SimConfig::default() }).await?;
    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let cancel = CancellationToken::new();
    // Cancel while an export job is in flight: the hardest moment for cleanup.
    let trigger = cancel.clone();
    let jobs = sim.state.jobs.clone();
    let watcher = tokio::spawn(async move {
        while jobs.export_jobs() == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        trigger.cancel();
    });
    let result = run_backup(&s, &repo, &Selection::Everything, &NoProgress, cancel).await;
    watcher.await?;
    assert!(matches!(result, Err(BackupError::Cancelled)), "the backup ends cancelled, got {result:?}");
    assert!(repo.snapshots().await?.is_empty(), "a cancelled backup writes no snapshot");
    assert_eq!(leftover_exports(&sim), 0, "temporary export items are deleted after a cancel");
    let job = Jobs::new(&s.db, &SystemClock)
        .list(&JobFilter { kind: Some(JobKind::Backup), ..Default::default() })
        .await?
        .into_iter()
        .next()
        .expect("the backup job is recorded");
    assert_eq!(job.state, JobState::Cancelled, "the job ends cancelled");

    // The repository is usable afterwards: the next backup succeeds and verifies.
    let next = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(next.failed, 0, "a backup after a cancel completes");
    assert_eq!(verify_all(&repo).await?, 1, "and its snapshot verifies");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_expiring_tokens_still_give_a_complete_verified_backup() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 100, token_ttl_s: 3, ..SimConfig::default() }).await?;
    let s = scanned(&sim).await?;
    sim.state.faults.set_fault_rate(0.1);
    // Revoke every token now and then, as a weekend-long run would see them expire.
    let auth = sim.state.auth.clone();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let expirer = tokio::spawn(async move {
        while !stopped.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            auth.expire_all_access_tokens();
        }
    });
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let renewals = s.portal.token_renewals();
    let recorder = Arc::new(Recorder::default());
    let summary = run_backup(&s, &repo, &Selection::Everything, recorder.as_ref(), CancellationToken::new()).await;
    stop.cancel();
    expirer.await?;
    sim.state.faults.set_fault_rate(0.0);
    let summary = summary?;
    let failures: Vec<_> =
        recorder.outcomes.lock().expect("lock").iter().filter(|o| o.outcome == Outcome::Failed).cloned().collect();
    assert!(failures.is_empty(), "10% faults and expiring tokens must not fail a subject: {failures:?}");
    assert_eq!(summary.state, JobState::Succeeded, "the job succeeds");
    assert!(sim.state.faults.faults_injected() > 0, "faults were really injected");
    assert!(s.portal.token_renewals() > renewals, "tokens were renewed mid-backup");
    assert_eq!(verify_all(&repo).await?, 1, "the snapshot verifies");
    assert_eq!(leftover_exports(&sim), 0, "no temporary export item is left behind");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_body_keeps_breaking_off_is_downloaded_again_not_failed() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 40, ..SimConfig::default() }).await?;
    let item = {
        let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = &u.orgs[0];
        org.items
            .values()
            .find(|i| i.service_name.is_none() && !i.resources.is_empty())
            .expect("an item with resources")
            .id
            .clone()
    };
    let s = scanned(&sim).await?;
    // Bodies stall 200 ms then break; the client gives up on a silent body after 1 s either way.
    sim.state.faults.set_stall_ms(200);
    // Four broken bodies in a row for this item's /data: as many as the whole subject is tried,
    // so only downloading the file again (not the subject) gets it through.
    sim.state.faults.force(ForcedFault {
        path_contains: Some(format!("/items/{item}/data")),
        kind: FaultKind::StalledBody,
        count: 4,
    });
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let recorder = Recorder::default();
    let selection = Selection::Explicit { items: vec![item.clone()], users: vec![], groups: vec![] };
    let summary = run_backup(&s, &repo, &selection, &recorder, CancellationToken::new()).await?;
    let outcomes = recorder.outcomes.lock().expect("lock").clone();
    assert_eq!((summary.items, summary.failed), (1, 0), "the item is backed up: {outcomes:?}");
    assert!(sim.state.faults.faults_injected() >= 4, "the four broken bodies were really sent");
    assert_eq!(verify_all(&repo).await?, 1, "the snapshot verifies");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_only_elements_the_scan_could_not_read_is_refused_before_it_starts() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 60, users: 6, groups: 3, ..SimConfig::default() }).await?;
    let (map, other) = {
        let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let o = universe.org_by_url_key(&sim.orgs[0].url_key).expect("org");
        let map = o.items.values().find(|i| i.item_type == "Web Map").map(|i| i.id.clone()).expect("a web map");
        let other = o.items.values().find(|i| i.id != map).map(|i| i.id.clone()).expect("another item");
        (map, other)
    };
    // The map's data answers 500 through every retry of the scan: the map is read incompletely.
    sim.state.faults.force(ForcedFault {
        path_contains: Some(format!("/items/{map}/data")),
        kind: FaultKind::Http500,
        count: 1_000,
    });
    let s = scanned(&sim).await?;
    let graph = orgvault_core::app::graph_of_scan(&s.db, s.scan_id).await?;
    assert!(
        graph.failed.iter().any(|f| f.id == map && f.kind == orgvault_core::jobs::SubjectKind::Item),
        "the scan's graph marks the map as failed: {:?}",
        graph.failed
    );
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let only_failed = Selection::Exact { items: vec![map.clone()], users: vec![], groups: vec![] };
    let err = run_backup(&s, &repo, &only_failed, &NoProgress, CancellationToken::new())
        .await
        .expect_err("a selection of nothing but failed elements is refused");
    assert!(matches!(err, BackupError::OnlyFailedSelected { count: 1, .. }), "refused as only-failed: {err}");
    assert_eq!(err.code(), orgvault_core::ErrorCode::OnlyFailedSelected);
    assert!(err.to_string().contains("failed in the scan"), "the message says why: {err}");
    assert!(repo.snapshots().await?.is_empty(), "no snapshot was written");
    let h =
        Jobs::new(&s.db, &SystemClock).list(&JobFilter { kind: Some(JobKind::Backup), ..JobFilter::default() }).await?;
    assert_eq!(h.first().map(|j| j.state), Some(JobState::Failed), "the refused job is in the history as failed");

    // With an element the scan read, the backup goes ahead.
    let mixed = Selection::Exact { items: vec![map, other], users: vec![], groups: vec![] };
    let summary = run_backup(&s, &repo, &mixed, &NoProgress, CancellationToken::new()).await?;
    assert!(summary.snapshot.is_some(), "a selection with a readable element is backed up");
    Ok(())
}
