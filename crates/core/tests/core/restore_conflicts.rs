//! A name conflict in the target shows in the plan and is handled as the policy says; a
//! restore under 10% injected faults with tokens expiring midway completes in one run without
//! duplicates, each subject counted once.

use std::collections::BTreeMap;
use std::time::Duration;

use arcgis::write::{ItemContent, ItemFields};
use orgvault_core::repo::ExportMethod;
use orgvault_core::restore::{Action, ConflictPolicy, RestoreOptions};
use portal_sim::faults::{FaultKind, ForcedFault};

use crate::restore_support::{fixture, options, sim_config};

fn titles(sim: &portal_sim::RunningSim, url_key: &str) -> BTreeMap<(String, String), usize> {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    let mut out = BTreeMap::new();
    for i in org.items.values() {
        *out.entry((i.title.clone(), i.item_type.clone())).or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_title_conflict_is_planned_and_handled_per_policy() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let b = f.url_key(1);
    let manifest = f.repo.manifest(&f.snapshot).await?;
    let a_admin = f.sim.orgs[0].admin.username.clone();
    let b_admin = f.sim.orgs[1].admin.username.clone();
    let counts: BTreeMap<&str, usize> = manifest.items.iter().fold(BTreeMap::new(), |mut m, i| {
        *m.entry(i.title.as_str()).or_default() += 1;
        m
    });
    let victim = manifest
        .items
        .iter()
        .find(|i| i.owner == a_admin && i.service.is_none() && counts[i.title.as_str()] == 1)
        .expect("an ordinary item of A's admin with a unique title");
    let fields = ItemFields {
        title: Some(victim.title.clone()),
        item_type: Some(victim.item_type.clone()),
        ..Default::default()
    };
    let existing = f.target.add_item(&b_admin, None, &fields, ItemContent::None, None).await?;

    let mut opts = options();
    opts.items = Some([victim.id.clone()].into_iter().collect());
    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|i| i.source_id == victim.id).expect("planned");
    let c = p.conflict.as_ref().expect("the plan shows the conflict");
    assert_eq!(
        (c.on.as_str(), c.existing_id.as_deref()),
        ("title", Some(existing.as_str())),
        "it names the existing item"
    );
    assert_eq!(
        p.action,
        Action::Skip {
            reason: "an item of the same owner, type and title exists".into(),
            target_id: Some(existing.clone())
        },
        "skip (the default) keeps the existing item"
    );
    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 0, "{:?}", f.failures(s.job_id).await);
    let key = (victim.title.clone(), victim.item_type.clone());
    assert_eq!(titles(&f.sim, &b).get(&key), Some(&1), "skip creates no second item");

    opts.mapping.conflict = ConflictPolicy::Rename;
    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|i| i.source_id == victim.id).expect("planned");
    assert_eq!(p.action, Action::Create, "rename creates");
    assert_eq!(p.target_title, format!("{} (restored)", victim.title), "under a new title");
    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 0, "{:?}", f.failures(s.job_id).await);
    let t = titles(&f.sim, &b);
    assert_eq!(t.get(&key), Some(&1), "the existing item is untouched");
    assert_eq!(
        t.get(&(format!("{} (restored)", victim.title), victim.item_type.clone())),
        Some(&1),
        "the renamed copy exists"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_expiring_tokens_midway_still_complete_without_duplicates() -> anyhow::Result<()> {
    let mut cfg = sim_config();
    cfg.token_ttl_s = 3;
    let f = fixture(cfg).await?;
    let (a, b) = (f.url_key(0), f.url_key(1));
    f.sim.state.faults.set_fault_rate(0.1);
    let auth = f.sim.state.auth.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let stop2 = stop.clone();
    let expirer = tokio::spawn(async move {
        while !stop2.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            auth.expire_all_access_tokens();
        }
    });
    // ONE run: a subject failing for a passing reason is tried again within the run.
    let run = f.apply(&options()).await;
    stop.cancel();
    expirer.await?;
    f.sim.state.faults.set_fault_rate(0.0);
    let s = run?;
    let why = f.failures(s.job_id).await;
    assert_eq!(s.failed, 0, "one run completes under 10% faults and expiring tokens: {s:?} {why:?}");
    assert!(f.sim.state.faults.faults_injected() > 0, "faults were injected during the run");
    assert!(f.sim.state.faults.faults_after_apply() > 0, "some writes were applied while their answer was lost");
    assert!(f.target.token_renewals() > 1, "tokens expired and were renewed midway");
    let history = orgvault_core::Jobs::new(&f.db, &orgvault_core::SystemClock).items(s.job_id).await?;
    let mut seen = std::collections::HashSet::new();
    for i in &history {
        assert!(
            seen.insert((i.outcome.kind, i.outcome.id.clone())),
            "every subject has one outcome in the job history: {} {} is recorded twice",
            i.outcome.id,
            i.outcome.title
        );
    }
    assert_eq!(
        history.len() as u64,
        s.created + s.updated + s.skipped + s.failed,
        "the summary counts each recorded subject once"
    );
    let (got, want) = (titles(&f.sim, &b), titles(&f.sim, &a));
    let diff: Vec<_> = got
        .keys()
        .chain(want.keys())
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| (k.clone(), got.get(k).copied(), want.get(k).copied()))
        .collect();
    assert!(
        diff.is_empty(),
        "every item exactly once, faults made no duplicate and lost nothing: (title, in B, in A) {diff:?}; {s:?}"
    );
    let again = f.apply(&options()).await?;
    assert_eq!(again.created, 0, "running the restore again creates nothing: {again:?}");
    assert_eq!(again.failed, 0, "running the restore again fails nothing: {:?}", f.failures(again.job_id).await);
    assert_eq!(titles(&f.sim, &b), want, "the second run duplicates nothing");
    Ok(())
}

/// Per service name: features and attachments per layer.
fn service_counts(sim: &portal_sim::RunningSim, url_key: &str, name: &str) -> Vec<(i64, usize, usize)> {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    let s = org.services.values().find(|s| s.name == name).expect("the service");
    s.layers
        .iter()
        .chain(&s.tables)
        .map(|l| (l.id, l.features.len(), l.features.iter().map(|f| f.attachments.len()).sum()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_to_adding_features_and_attachments_are_read_back_not_sent_twice() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let (a, b) = (f.url_key(0), f.url_key(1));
    let manifest = f.repo.manifest(&f.snapshot).await?;
    // A service the backup copied by paged query, with attachments: restored by createService,
    // applyEdits and addAttachment.
    let item = manifest
        .items
        .iter()
        .find(|i| {
            i.service.as_ref().is_some_and(|s| s.export_method == ExportMethod::Query && !s.attachments.is_empty())
        })
        .expect("a service kept as a paged query, with attachments");
    let service = item.service.as_ref().expect("service");
    let name = service.url.trim_end_matches('/').rsplit('/').nth(1).expect("a service name").to_owned();
    // As many lost answers as the whole subject is tried: only reading back what landed (not
    // making the service again) gets through them.
    let attempts = options().attempts;
    for path in [format!("/{name}/FeatureServer/0/applyEdits"), "/addAttachment".to_owned()] {
        let fault = ForcedFault { path_contains: Some(path), kind: FaultKind::Http502, count: attempts };
        f.sim.state.faults.force_timed(fault, true);
    }
    let only = RestoreOptions { items: Some([item.id.clone()].into()), ..options() };
    let s = f.apply(&only).await?;
    assert_eq!(s.failed, 0, "the service is restored: {:?}", f.failures(s.job_id).await);
    assert!(
        f.sim.state.faults.faults_after_apply() >= 1 + service.attachments.len().min(attempts as usize) as u64,
        "writes took effect and lost their answer: an applyEdits and each addAttachment up to the forced count"
    );
    assert_eq!(
        service_counts(&f.sim, &b, &name),
        service_counts(&f.sim, &a, &name),
        "every feature and attachment once: none lost, none added twice"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_refused_by_a_passing_fault_is_sent_again() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    // The invite fails before the portal acts on it: the retry finds no such user and invites again.
    for after_apply in [false, true] {
        let fault =
            ForcedFault { path_contains: Some("/portals/self/invite".into()), kind: FaultKind::Http502, count: 1 };
        f.sim.state.faults.force_timed(fault, after_apply);
    }
    let users_only = RestoreOptions { items: Some(Default::default()), groups: false, ..options() };
    let s = f.apply(&users_only).await?;
    assert_eq!(s.failed, 0, "every user is restored: {:?}", f.failures(s.job_id).await);
    assert!(f.sim.state.faults.faults_injected() >= 2, "both forced faults struck");
    let plan = f.plan(&users_only).await?;
    assert!(
        plan.users.iter().all(|u| !matches!(u.action, Action::Create)),
        "every user of the backup now exists in the target: {:?}",
        plan.users.iter().map(|u| (&u.target_username, &u.action)).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_whose_add_answer_was_lost_is_found_in_the_owners_listing_not_made_twice() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let b = f.url_key(1);
    let manifest = f.repo.manifest(&f.snapshot).await?;
    let counts = titles(&f.sim, &f.url_key(0));
    let item = manifest
        .items
        .iter()
        .find(|i| i.service.is_none() && counts[&(i.title.clone(), i.item_type.clone())] == 1)
        .expect("an ordinary item with a unique title");
    // The portal makes the item, the answer is lost; search will not show it for a while
    // (portal-sim's default index lag, like ArcGIS's), so only the owner's content listing can
    // prove it was made.
    let fault = ForcedFault { path_contains: Some("/addItem".into()), kind: FaultKind::Http502, count: 1 };
    f.sim.state.faults.force_timed(fault, true);
    let only = RestoreOptions { items: Some([item.id.clone()].into()), ..options() };
    let s = f.apply(&only).await?;
    assert_eq!(s.failed, 0, "the item is restored: {:?}", f.failures(s.job_id).await);
    assert_eq!(f.sim.state.faults.faults_after_apply(), 1, "the add took effect and lost its answer");
    assert_eq!(
        titles(&f.sim, &b).get(&(item.title.clone(), item.item_type.clone())),
        Some(&1),
        "the item exists once in the target: found by its mark in the owner's listing, not added again"
    );
    Ok(())
}
