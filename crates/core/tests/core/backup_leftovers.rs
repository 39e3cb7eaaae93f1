//! Temporary export items never outlive the backup that made them: not when the answer to
//! `export` is lost, not when the backup dies while it polls the export; and the sweep that finds
//! them deletes nothing it cannot prove this tool made.

use std::collections::BTreeSet;
use std::time::Duration;

use orgvault_core::{Clock, NoProgress, Selection, SystemClock};
use portal_sim::faults::{FaultKind, ForcedFault};
use portal_sim::routes::hosted::export_items;
use portal_sim::{RunningSim, SimConfig};
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, run_backup, scanned, Scanned};
use crate::support::{add_identity_named, start_sim};

fn item_ids(sim: &RunningSim) -> BTreeSet<String> {
    let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    u.orgs[0].items.keys().cloned().collect()
}

fn leftover_exports(sim: &RunningSim) -> Vec<portal_sim::model::Item> {
    let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    export_items(&u.orgs[0]).into_iter().cloned().collect()
}

/// A hosted feature service (not a view) that exports, and its owner.
fn exportable_service(sim: &RunningSim) -> (String, String) {
    let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = &u.orgs[0];
    let s = org.services.values().find(|s| s.view_of.is_none() && !s.export_fails).expect("an exportable service");
    (s.item_id.clone(), org.items[&s.item_id].owner.clone())
}

/// Runs a backup of `selection` until it polls a slow export, then drops it there: none of its
/// own clean-up runs, and its job row stays "running".
async fn stop_while_polling_an_export(
    sim: &RunningSim,
    s: &Scanned,
    repo: &orgvault_core::repo::Repository,
    selection: &Selection,
) {
    sim.state.jobs.set_export_work(Duration::from_secs(60));
    let jobs = sim.state.jobs.clone();
    tokio::select! {
        r = run_backup(s, repo, selection, &NoProgress, CancellationToken::new()) => {
            panic!("the backup must still be polling the export, it ended: {r:?}")
        }
        _ = async {
            while jobs.export_jobs() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        } => {}
    }
    sim.state.jobs.set_export_work(Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_whose_answer_was_lost_is_found_by_its_title_used_and_deleted() -> anyhow::Result<()> {
    // after_apply: the portal makes the export item, then the answer is lost (the client never
    // learns its id); before: the call fails before the portal acts, and nothing was made.
    for after_apply in [true, false] {
        let sim = start_sim(SimConfig { orgs: 1, items: 60, ..SimConfig::default() }).await?;
        let (service, _) = exportable_service(&sim);
        let s = scanned(&sim).await?;
        let before = item_ids(&sim);
        // The service's owner is not the administrator: Online refuses the export into the
        // owner's content and the backup exports into the administrator's, where the fault strikes.
        let admin_export = format!("/users/{}/export", sim.orgs[0].admin.username);
        sim.state.faults.force_timed(
            ForcedFault { path_contains: Some(admin_export.clone()), kind: FaultKind::Http502, count: 1 },
            after_apply,
        );
        let dir = tempfile::tempdir()?;
        let repo = open_repo(dir.path()).await?;
        let selection = Selection::Explicit { items: vec![service.clone()], users: vec![], groups: vec![] };
        let summary = run_backup(&s, &repo, &selection, &NoProgress, CancellationToken::new()).await?;
        assert_eq!(sim.state.faults.faults_after_apply(), u64::from(after_apply), "the fault struck as forced");
        assert_eq!((summary.items, summary.failed), (1, 0), "the service is saved");
        assert_eq!(
            (summary.fallbacks, sim.state.jobs.replica_jobs()),
            (0, 0),
            "saved by its export, not by a replica or a paged query (after_apply {after_apply})"
        );
        let export_calls = sim.state.faults.requests_containing(&admin_export);
        assert_eq!(
            export_calls,
            if after_apply { 1 } else { 2 },
            "a lost answer's item is found by its title and used, not made twice; a call that made \
             nothing is sent again (after_apply {after_apply})"
        );
        assert!(
            leftover_exports(&sim).is_empty(),
            "no export item is left: {:?}",
            leftover_exports(&sim).iter().map(|i| &i.title).collect::<Vec<_>>()
        );
        assert_eq!(item_ids(&sim), before, "no item of the org was deleted, and none left behind");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_left_by_a_dead_backup_is_swept_by_the_next_and_nothing_else_is() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 60, ..SimConfig::default() }).await?;
    let (service, owner) = exportable_service(&sim);
    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let selection = Selection::Explicit { items: vec![service.clone()], users: vec![], groups: vec![] };

    // The backup dies while it polls a slow export: its future is dropped mid-poll, so none of
    // its own clean-up runs, as after kill -9 (the CLI suite kills the real process).
    stop_while_polling_an_export(&sim, &s, &repo, &selection).await;
    let left = leftover_exports(&sim);
    assert_eq!(left.len(), 1, "the dead backup left its export item in the org");
    let leftover = left[0].clone();
    // ArcGIS Online refuses an administrator exporting into another user's content; the
    // backup then exports into the signed-in administrator's own, as Esri's Python client does.
    assert_ne!(owner, sim.orgs[0].admin.username, "the service belongs to another user than the admin");
    assert_eq!(leftover.owner, sim.orgs[0].admin.username, "in the signed-in administrator's content");

    // Items no sweep may touch: the same title with another type, a same-titled twin of the
    // same type (the journal holds the real one's id), and this tool's prefix without the rest.
    let _planted = {
        let mut u = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let org = &mut u.orgs[0];
        let mut planted = Vec::new();
        for (n, (title, item_type)) in [
            (leftover.title.clone(), "Web Map"),
            (leftover.title.clone(), leftover.item_type.as_str()),
            ("orgvault-export-planted".to_owned(), leftover.item_type.as_str()),
            (leftover.title[..leftover.title.len() - 4].to_owned(), leftover.item_type.as_str()),
        ]
        .into_iter()
        .enumerate()
        {
            let mut item = leftover.clone();
            item.id = format!("{n:0>32}");
            item.title = title;
            item.item_type = item_type.to_owned();
            item.type_keywords.clear();
            org.items.insert(item.id.clone(), item.clone());
            planted.push(item.id);
        }
        planted
    };
    let before = item_ids(&sim);

    // The app starts again after the dead job's lease ran out (it is settled as interrupted),
    // then backs up the org.
    let later = orgvault_core::ManualClock::new(SystemClock.now_ms() + 2 * 60_000);
    assert_eq!(orgvault_core::JobRunner::new(&s.db, &later).reconcile().await?, 1, "the dead backup's job expired");
    let summary = run_backup(&s, &repo, &selection, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(summary.failed, 0, "the next backup succeeds");

    let after = item_ids(&sim);
    assert!(!after.contains(&leftover.id), "the next backup of the org deleted the dead backup's export item");
    let mut expected = before.clone();
    expected.remove(&leftover.id);
    assert_eq!(after, expected, "nothing but that export item was deleted: not a same-titled item of another type, not a twin, not a prefix match");
    Ok(())
}

/// A finished child's pid: a process id that is gone, as after kill -9.
fn gone_pid() -> i64 {
    let mut child = std::process::Command::new("true").spawn().expect("spawn true");
    child.wait().expect("wait");
    i64::from(child.id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_spares_an_export_whose_backup_lease_is_alive_and_takes_it_once_the_holder_is_gone(
) -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 60, ..SimConfig::default() }).await?;
    let (service, _) = exportable_service(&sim);
    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let selection = Selection::Explicit { items: vec![service.clone()], users: vec![], groups: vec![] };

    // Backup A polls a slow export; its row stays "running" with a live lease (this process
    // holds it), as a backup in another process would.
    stop_while_polling_an_export(&sim, &s, &repo, &selection).await;
    let left = leftover_exports(&sim);
    assert_eq!(left.len(), 1, "backup A has its export item in the org");
    let export = left[0].id.clone();

    // Backup B of the same org, by a second identity (another admin, another process), starts.
    let other = Scanned {
        portal: s.portal.clone(),
        db: s.db.clone(),
        identity: add_identity_named(&s.db, &sim.orgs[0].portal_url, &sim.orgs[0].admin.username, "Second admin")
            .await?,
        scan_id: s.scan_id,
    };
    run_backup(&other, &repo, &selection, &NoProgress, CancellationToken::new()).await?;
    assert!(
        item_ids(&sim).contains(&export),
        "a backup must not delete the export item of a backup whose lease is alive"
    );

    // A's process dies (kill -9): its row still says running, its holder is gone. Nobody has
    // reconciled A's identity; the next backup by the second identity must still clean up.
    let a_job: i64 = sqlx::query_scalar("SELECT id FROM jobs WHERE identity_id = ? AND state = 'running'")
        .bind(&s.identity)
        .fetch_one(s.db.pool())
        .await?;
    sqlx::query("UPDATE jobs SET lease_pid = ?, lease_pid_start = NULL WHERE id = ?")
        .bind(gone_pid())
        .bind(a_job)
        .execute(s.db.pool())
        .await?;
    run_backup(&other, &repo, &selection, &NoProgress, CancellationToken::new()).await?;
    assert!(
        !item_ids(&sim).contains(&export),
        "the export item of a backup whose holder process is gone is swept by the next backup of the org"
    );
    let state: String =
        sqlx::query_scalar("SELECT state FROM jobs WHERE id = ?").bind(a_job).fetch_one(s.db.pool()).await?;
    assert_eq!(state, "failed", "the dead backup's job is settled as interrupted first");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_that_still_lists_a_deleted_export_item_leaves_it_out_of_the_next_backup() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 60, ..SimConfig::default() }).await?;
    let (service, _) = exportable_service(&sim);
    let mut s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let one = Selection::Explicit { items: vec![service.clone()], users: vec![], groups: vec![] };
    let first = run_backup(&s, &repo, &one, &NoProgress, CancellationToken::new()).await?;
    assert_eq!((first.items, first.failed), (1, 0), "the service is saved by its export");
    assert!(leftover_exports(&sim).is_empty(), "and its export item deleted");
    let titles: Vec<String> = sqlx::query_scalar("SELECT title FROM export_journal").fetch_all(s.db.pool()).await?;
    assert_eq!(titles.len(), 1, "the deleted export item's row is kept for a while: {titles:?}");

    // Search lags behind writes: a scan right after the backup may still list the deleted export
    // item. Stand-in: an item with that title, type and owner, made searchable at once.
    let ghost = {
        let mut u = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let org = &mut u.orgs[0];
        let mut item = org.items.values().next().expect("an item").clone();
        item.id = "9".repeat(32);
        item.title = titles[0].clone();
        item.item_type = "File Geodatabase".into();
        item.owner = sim.orgs[0].admin.username.clone();
        org.items.insert(item.id.clone(), item.clone());
        item.id
    };
    sim.control().index_now();
    s.rescan().await?;
    let other = item_ids(&sim).into_iter().find(|id| *id != service && *id != ghost).expect("another item");
    let both = Selection::Explicit { items: vec![ghost.clone(), other], users: vec![], groups: vec![] };
    let second = run_backup(&s, &repo, &both, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(
        (second.items, second.failed),
        (1, 0),
        "the item the scan still found under the deleted export item's title is left out, not backed up or failed"
    );
    Ok(())
}
