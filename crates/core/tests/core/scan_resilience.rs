//! The scan completes, exactly, through expiring tokens, injected faults, throttling and items
//! vanishing midway; and stops cleanly when cancelled.

use std::sync::Arc;

use orgvault_core::catalog::ScanState;
use orgvault_core::jobs::{JobState, Jobs, Outcome};
use orgvault_core::{scan, Catalog, Error, SystemClock};
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use crate::support::{connect, db_with_identity, sim_tally, start_sim, OnEveryPhase, OnPhase, Recorder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_mid_scan_is_renewed_and_the_scan_completes() -> anyhow::Result<()> {
    // 5-second tokens and enough latency that the scan outlives one; on top of that, every token
    // is revoked server-side as each phase starts, so requests meet 498 mid-flight.
    let sim = start_sim(SimConfig {
        orgs: 1,
        items: 400,
        users: 40,
        groups: 20,
        token_ttl_s: 5,
        latency_ms: 150,
        ..SimConfig::default()
    })
    .await?;
    let org = sim.orgs[0].clone();
    let portal = connect(&org.portal_url, &org.admin).await?;
    let (db, identity) = db_with_identity(&org.portal_url, &org.admin.username).await?;
    let auth = sim.state.auth.clone();
    let expire = OnEveryPhase { action: move |_phase: &str| auth.expire_all_access_tokens() };
    let tokens_before = portal.token_renewals();
    let summary = scan(&db, &portal, &identity, &expire, CancellationToken::new(), &SystemClock).await?;
    let want = sim_tally(&sim, &org.url_key);
    assert!(
        portal.token_renewals() >= tokens_before + 8,
        "a new token was obtained after each of the 9 phases expired the old one ({} before, {} after)",
        tokens_before,
        portal.token_renewals()
    );
    assert_eq!(
        (summary.items, summary.users, summary.groups, summary.problems),
        (want.items, want.users, want.groups, 0),
        "token expiry costs nothing: exact counts, no problems"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_throttling_still_give_exact_counts() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig {
        orgs: 1,
        items: 600,
        users: 60,
        groups: 30,
        fault_rate: 0.1,
        rate_limit_per_s: Some(400),
        ..SimConfig::default()
    })
    .await?;
    let org = sim.orgs[0].clone();
    let portal = connect(&org.portal_url, &org.admin).await?;
    let (db, identity) = db_with_identity(&org.portal_url, &org.admin.username).await?;
    let summary = scan(&db, &portal, &identity, &Recorder::default(), CancellationToken::new(), &SystemClock).await?;
    let want = sim_tally(&sim, &org.url_key);
    let counts = Catalog::new(&db).counts(summary.scan_id).await?;
    assert_eq!(summary.problems, 0, "with generous retries every fault is absorbed: no problems");
    assert_eq!(
        (counts.items, counts.users, counts.groups, counts.memberships, counts.sharing),
        (want.items, want.users, want.groups, want.memberships, want.sharing),
        "10% faults and a rate limit must not lose or duplicate a row"
    );
    let job = Jobs::new(&db, &SystemClock).get(summary.job_id).await?;
    assert_eq!(job.state, JobState::Succeeded, "retried faults do not make the scan partial");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_deleted_during_the_scan_is_a_problem_not_a_failure() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 200, users: 20, groups: 10, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let victim = {
        let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let o = universe.org_by_url_key(&org.url_key).expect("org");
        o.items
            .values()
            .find(|i| i.item_type == "Web Map")
            .map(|i| (i.id.clone(), i.title.clone()))
            .expect("a web map exists")
    };
    let portal = connect(&org.portal_url, &org.admin).await?;
    let (db, identity) = db_with_identity(&org.portal_url, &org.admin.username).await?;
    let control = sim.control();
    let victim_id = victim.0.clone();
    // Deleted once the item list is read and before its data is: /data answers CONT_0001.
    let progress = OnPhase::new("references", move || {
        assert!(control.delete_item(&victim_id), "the victim existed when the references phase began");
    });
    let recorder: Arc<Recorder> = progress.inner.clone();
    let summary = scan(&db, &portal, &identity, &progress, CancellationToken::new(), &SystemClock).await?;

    let catalog = Catalog::new(&db);
    let problems = catalog.problems(summary.scan_id).await?;
    assert_eq!(problems.len(), 1, "the deleted item is the only problem: {problems:?}");
    let vanished: Vec<_> = problems.iter().filter(|p| p.message.contains("vanished during the scan")).collect();
    assert_eq!(vanished.len(), 1, "exactly one problem says an item vanished: {problems:?}");
    assert_eq!(vanished[0].item_id.as_deref(), Some(victim.0.as_str()), "the problem names the vanished item");
    assert!(catalog.item(summary.scan_id, &victim.0).await?.is_none(), "a vanished item is not left in the catalog");
    assert_eq!(
        summary.items,
        sim_tally(&sim, &org.url_key).items,
        "the catalog matches the org as it is after the deletion"
    );

    let jobs = Jobs::new(&db, &SystemClock);
    assert_eq!(
        jobs.get(summary.job_id).await?.state,
        JobState::Succeeded,
        "an item deleted by someone else does not make the scan partial"
    );
    let recorded: Vec<_> =
        jobs.items(summary.job_id).await?.into_iter().filter(|i| i.outcome.outcome != Outcome::Ok).collect();
    assert_eq!(recorded.len(), 1, "the job history names the vanished item (notes are recorded as ok)");
    assert_eq!(
        (recorded[0].outcome.outcome, recorded[0].outcome.title.as_str()),
        (Outcome::Skipped, victim.1.as_str()),
        "recorded as skipped, by title"
    );
    let seen = recorder.outcomes.lock().expect("lock").iter().filter(|o| o.outcome == Outcome::Skipped).count();
    assert_eq!(seen, 1, "the progress sink heard about it as it happened");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_scan_ends_cancelled_and_keeps_its_partial_catalog_marked() -> anyhow::Result<()> {
    let sim =
        start_sim(SimConfig { orgs: 1, items: 300, users: 30, groups: 15, latency_ms: 20, ..SimConfig::default() })
            .await?;
    let org = sim.orgs[0].clone();
    let portal = connect(&org.portal_url, &org.admin).await?;
    let (db, identity) = db_with_identity(&org.portal_url, &org.admin.username).await?;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let progress = OnPhase::new("memberships", move || trigger.cancel());
    let recorder = progress.inner.clone();
    let err = scan(&db, &portal, &identity, &progress, cancel, &SystemClock)
        .await
        .expect_err("a cancelled scan does not succeed");
    assert!(matches!(err, Error::Cancelled), "cancel is reported as such, got {err:?}");
    assert_eq!(err.code(), orgvault_core::ErrorCode::Cancelled, "the UI can tell cancel from failure");

    let phases: Vec<String> = recorder.phases.lock().expect("lock").iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(phases.last().map(String::as_str), Some("memberships"), "no phase starts after the cancel: {phases:?}");
    let catalog = Catalog::new(&db);
    let scans = catalog.scans(&identity).await?;
    assert_eq!(scans.len(), 1, "one scan was opened");
    assert_eq!(scans[0].state, ScanState::Cancelled, "its catalog is marked cancelled");
    assert_eq!(
        catalog.counts(scans[0].id).await?.items,
        sim_tally(&sim, &org.url_key).items,
        "what was read before the cancel is kept"
    );
    assert!(
        catalog.latest_complete_scan(&identity).await?.is_none(),
        "a cancelled catalog is never taken for a complete one"
    );
    let job = Jobs::new(&db, &SystemClock).get(scans[0].job_id.expect("linked to its job")).await?;
    assert_eq!(job.state, JobState::Cancelled, "the job ends cancelled");
    Ok(())
}
