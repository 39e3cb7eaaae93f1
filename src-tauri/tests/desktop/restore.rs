//! Restore through the shell's command logic against portal-sim on loopback: org A scanned and
//! backed up into its identity's folder, then planned and restored into the empty org B the way
//! the app's Restore screen asks for it; and mapping profiles as the screen loads and saves them.

use std::sync::Arc;
use std::time::Duration;

use orgvault_core::backup::{backup, BackupContext, BackupOptions};
use orgvault_core::identity::{IdentitySecrets, IdentitySpec, PortalKind, SignIn, SignInSecret, Storage, TlsOptions};
use orgvault_core::jobs::{JobFilter, JobKind, JobState};
use orgvault_core::repo::{InitPolicy, Repository};
use orgvault_core::restore::{Action, GroupTarget, Mapping, PlanMode, Profiles};
use orgvault_core::storage::StorageTarget;
use orgvault_core::vault::MemoryVault;
use orgvault_core::ErrorCode;
use orgvault_core::{NoProgress, Selection};
use orgvault_desktop::commands::restore::{mapping_profiles, prepare};
use orgvault_desktop::restore_views::{GroupTargetView, MappingView, RestoreInput};
use orgvault_desktop::secrets::VaultSource;
use orgvault_desktop::state::AppState;
use orgvault_desktop::views::SelectionInput;
use portal_sim::{RunningSim, SimConfig};
use tokio_util::sync::CancellationToken;

/// Far above the 2-3 s the restore of the small org takes on loopback.
const APPLY_LIMIT: Duration = Duration::from_secs(90);

struct Orgs {
    state: AppState,
    sim: RunningSim,
    /// Identity ids of A (with content) and B (empty).
    a: String,
    b: String,
    snapshot: String,
    _dir: tempfile::TempDir,
}

fn item_count(sim: &RunningSim, url_key: &str) -> usize {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    universe.org_by_url_key(url_key).expect("org").items.len()
}

/// Two identities as the demo makes them (A with content, B empty), A scanned and backed up.
async fn backed_up_org() -> anyhow::Result<Orgs> {
    let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
    arcgis::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let state =
        AppState::open(dir.path(), (Arc::new(MemoryVault::default()), VaultSource::MemoryOnly("test".into())), None)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let sim = RunningSim::start(SimConfig {
        orgs: 2,
        empty_orgs: 1,
        items: 16,
        users: 5,
        groups: 3,
        seed: 11,
        ..SimConfig::default()
    })
    .await?;
    let mut ids = Vec::new();
    for (n, org) in sim.orgs.iter().enumerate() {
        let spec = IdentitySpec {
            name: format!("Org {n}"),
            portal_url: org.portal_url.clone(),
            kind: PortalKind::Online,
            sign_in: SignIn::Builtin { username: org.admin.username.clone() },
            storage: Storage::Local { path: dir.path().join(format!("backups-{n}")).display().to_string() },
            custom_headers: Vec::new(),
            tls: TlsOptions::default(),
        };
        let identity = state.identities().create(spec).await?;
        IdentitySecrets {
            sign_in: SignInSecret::Password(arcgis::Secret::new(org.admin.password.clone())),
            storage_secret: None,
            custom_headers: Vec::new(),
        }
        .save(state.secrets.as_ref(), &identity.id)?;
        ids.push(identity);
    }
    let a = &ids[0];
    let portal = orgvault_desktop::portal::session(&state, a).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let scan =
        orgvault_core::scan(&state.db, &portal, &a.id, &NoProgress, CancellationToken::new(), &state.clock).await?;
    let repo =
        Repository::open_for_backup(&StorageTarget::Local { path: dir.path().join("backups-0") }, InitPolicy::IfEmpty)
            .await?;
    let options = BackupOptions { poll_max: Duration::from_millis(200), ..BackupOptions::default() };
    let ctx = BackupContext {
        db: &state.db,
        portal: &portal,
        repo: &repo,
        identity_id: &a.id,
        scan_id: scan.scan_id,
        options: &options,
        progress: &NoProgress,
        cancel: CancellationToken::new(),
        clock: &state.clock,
    };
    let summary = backup(&ctx, &Selection::Everything).await?;
    let snapshot = summary.snapshot.expect("the backup wrote a snapshot").as_str().to_owned();
    Ok(Orgs { a: a.id.clone(), b: ids[1].id.clone(), state, sim, snapshot, _dir: dir })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_writes_nothing_and_the_apply_fills_the_empty_org_as_a_job_of_the_target() -> anyhow::Result<()> {
    let o = backed_up_org().await?;
    let b_key = o.sim.orgs[1].url_key.clone();
    let a_items = item_count(&o.sim, &o.sim.orgs[0].url_key);
    let mut mapping = MappingView { tags: vec!["restored-by-app".into()], ..MappingView::default() };
    // A half-filled owner row, as the screen sends it while being typed: the default must hold.
    mapping.owners.insert("nobody_in_particular".into(), String::new());
    let input = RestoreInput {
        source_identity_id: o.a.clone(),
        snapshot_id: o.snapshot.clone(),
        target_identity_id: o.b.clone(),
        mapping,
        selection: None,
        methods: Default::default(),
    };

    let restore = prepare(&o.state, &input).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(
        restore.target_identity_id(),
        Some(o.b.as_str()),
        "the restore writes to the target identity's organization"
    );
    let plan = restore
        .plan(&o.state.db, &o.state.clock, &NoProgress, CancellationToken::new())
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(plan.mode, PlanMode::Migrate, "another organization is a migration");
    assert_eq!(plan.items.len(), a_items, "every item of A's snapshot is in the plan");
    assert!(plan.items.iter().all(|i| i.action == Action::Create), "an empty target gets every item created");
    assert_eq!(item_count(&o.sim, &b_key), 0, "showing the plan writes nothing to the target");
    assert!(
        plan.counts.create as usize >= plan.items.len() + plan.groups.len(),
        "the tallies count the items and groups to create: {:?}",
        plan.counts
    );

    // Bounded, so that a restore that stops making progress fails here with a message instead of
    // hanging the suite (the engine's own waits are sized for real portals: minutes).
    // Begun and driven as the app's launcher does.
    let runner = orgvault_core::JobRunner::new(&o.state.db, &o.state.clock);
    let lease = runner.begin(&orgvault_core::JobSpec::new(JobKind::Restore, Some(&o.b), "restore")).await?;
    let cancel = CancellationToken::new();
    let applied = runner.drive(
        &lease,
        &cancel,
        restore.apply_job(&o.state.db, &o.state.clock, lease.job_id, &NoProgress, cancel.clone()),
        |_| None,
    );
    tokio::time::timeout(APPLY_LIMIT, applied)
        .await
        .map_err(|_| anyhow::anyhow!("the restore of a 16-item org did not end within {APPLY_LIMIT:?}"))?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let filter =
        JobFilter { kind: Some(JobKind::Restore), identity_id: Some(o.b.clone()), states: vec![], limit: None };
    let jobs = o.state.jobs().list(&filter).await?;
    assert_eq!(
        jobs.len(),
        1,
        "one restore job, recorded for the target identity (the app's job launcher waits for it)"
    );
    assert_eq!(jobs[0].state, JobState::Succeeded, "a restore into a healthy empty org succeeds: {:?}", jobs[0].error);
    let summary = jobs[0].summary();
    assert!(
        summary.contains(&format!("{} created", plan.counts.create)),
        "the job line says what was created: {summary}"
    );
    assert_eq!(item_count(&o.sim, &b_key), a_items, "B holds as many items as A after the restore");
    let tagged = {
        let universe = o.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_url_key(&b_key).expect("org");
        org.items.values().filter(|i| i.tags.iter().any(|t| t == "restored-by-app")).count()
    };
    assert_eq!(tagged, a_items, "the screen's tag reaches every restored item");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_request_naming_a_missing_snapshot_or_identity_is_refused_in_words() -> anyhow::Result<()> {
    let o = backed_up_org().await?;
    let input = |snapshot: &str, target: &str| RestoreInput {
        source_identity_id: o.a.clone(),
        snapshot_id: snapshot.into(),
        target_identity_id: target.into(),
        mapping: MappingView::default(),
        selection: None,
        methods: Default::default(),
    };
    let err = prepare(&o.state, &input("", &o.b)).await.err().expect("no snapshot chosen");
    assert_eq!(err.code, ErrorCode::InvalidInput, "an empty snapshot choice is the user's to fix: {err:?}");
    let err = prepare(&o.state, &input("ffffffffffff", &o.b)).await.err().expect("an unknown snapshot");
    assert!(
        !err.message.is_empty() && err.code != ErrorCode::Internal,
        "an unknown snapshot is a named error: {err:?}"
    );
    let err = prepare(&o.state, &input(&o.snapshot, "no-such-identity")).await.err().expect("an unknown target");
    assert_eq!(err.code, ErrorCode::NotFound, "an unknown target identity is not found: {err:?}");
    assert_eq!(item_count(&o.sim, &o.sim.orgs[1].url_key), 0, "a refused request writes nothing");
    Ok(())
}

#[tokio::test]
async fn mapping_profiles_list_what_was_saved_in_the_screens_shape() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let state =
        AppState::open(dir.path(), (Arc::new(MemoryVault::default()), VaultSource::MemoryOnly("test".into())), None)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut view = MappingView::default();
    view.owners.insert("ann_acme".into(), "ann_beta".into());
    view.groups.insert("g1".into(), GroupTargetView::CreateNew);
    view.groups.insert("g2".into(), GroupTargetView::Existing { group: "Field crews".into() });
    view.tags.push("migrated".into());
    let profiles = Profiles::new(&state.db, &state.clock);
    profiles.save("to B", &view.to_core()).await?;
    profiles.save("another", &Mapping::default()).await?;

    let listed = mapping_profiles(&state).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["another", "to B"], "profiles are listed by name");
    assert_eq!(listed[1].mapping, view, "a saved profile comes back to the screen exactly as it was saved");
    assert_eq!(
        listed[1].mapping.to_core().groups.get("g1"),
        Some(&GroupTarget::CreateNew),
        "\"Create New\" survives the round trip to the engine"
    );
    profiles.delete("another").await?;
    assert_eq!(
        mapping_profiles(&state).await.map_err(|e| anyhow::anyhow!("{e:?}"))?.len(),
        1,
        "a deleted profile is gone"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screens_selection_narrows_the_plan_to_the_chosen_items_users_and_groups() -> anyhow::Result<()> {
    let o = backed_up_org().await?;
    let item = {
        let universe = o.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let a = universe.org_by_url_key(&o.sim.orgs[0].url_key).expect("org A");
        a.items.keys().next().cloned().expect("an item")
    };
    let input = RestoreInput {
        source_identity_id: o.a.clone(),
        snapshot_id: o.snapshot.clone(),
        target_identity_id: o.b.clone(),
        mapping: MappingView::default(),
        methods: Default::default(),
        selection: Some(SelectionInput {
            everything: false,
            item_ids: vec![item.clone()],
            usernames: vec![],
            group_ids: vec![],
        }),
    };
    let plan = prepare(&o.state, &input)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
        .plan(&o.state.db, &o.state.clock, &NoProgress, CancellationToken::new())
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(plan.items.iter().map(|i| i.source_id.clone()).collect::<Vec<_>>(), vec![item], "only the chosen item");
    assert!(plan.groups.is_empty(), "no group chosen, none planned");
    assert!(plan.users.iter().all(|u| u.action != Action::Create), "no user chosen, none created");
    Ok(())
}
