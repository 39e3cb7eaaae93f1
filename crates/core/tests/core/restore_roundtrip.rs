//! Round trip: org A backed up, restored into the empty org B, B compared with A; then the same
//! restore again creates nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::restore_support::{fixture, options, org_marks, org_texts, sim_config};

/// (tags, description, number of groups shared with) of one item.
type Facts = (BTreeSet<String>, String, usize);

/// Per title and type: the facts of an org's items of that title and type.
fn items_by_title(sim: &portal_sim::RunningSim, url_key: &str) -> BTreeMap<(String, String), Vec<Facts>> {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    let mut out: BTreeMap<(String, String), Vec<Facts>> = BTreeMap::new();
    for i in org.items.values() {
        out.entry((i.title.clone(), i.item_type.clone())).or_default().push((
            i.tags.iter().cloned().collect(),
            i.description.clone(),
            i.shared_groups.len(),
        ));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Per service title: features and attachments per layer id.
fn features(sim: &portal_sim::RunningSim, url_key: &str) -> BTreeMap<String, Vec<(i64, usize, usize)>> {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    let mut out = BTreeMap::new();
    for s in org.services.values().filter(|s| s.view_of.is_none()) {
        let Some(item) = org.items.get(&s.item_id) else { continue };
        let per: Vec<(i64, usize, usize)> = s
            .layers
            .iter()
            .chain(&s.tables)
            .map(|l| (l.id, l.features.len(), l.features.iter().map(|f| f.attachments.len()).sum()))
            .collect();
        out.insert(item.title.clone(), per);
    }
    out
}

/// Per group title: each member's role (owner, admin, member), usernames passed through `rename`.
fn memberships(
    sim: &portal_sim::RunningSim,
    url_key: &str,
    rename: &dyn Fn(&str) -> String,
) -> BTreeMap<String, BTreeMap<String, &'static str>> {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    org.groups
        .values()
        .map(|g| (g.title.clone(), g.all_members().map(|u| (rename(u), g.member_type(u))).collect()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_into_an_empty_org_keeps_content_and_a_second_run_creates_nothing() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let (a, b) = (f.url_key(0), f.url_key(1));
    let manifest = f.repo.manifest(&f.snapshot).await?;

    let plan = f.plan(&options()).await?;
    assert_eq!(plan.mode, orgvault_core::restore::PlanMode::Migrate, "another org is a migration");
    assert_eq!(plan.items.len(), manifest.items.len(), "every backed-up item is offered");
    let before = crate::support::sim_tally(&f.sim, &b);
    assert_eq!(before.items, 0, "planning writes nothing");

    let t = std::time::Instant::now();
    let t0 = std::time::Instant::now();
    let timing =
        crate::support::OnEveryPhase { action: move |name: &str| eprintln!("phase {name} at {:?}", t0.elapsed()) };
    let summary = orgvault_core::restore::apply(
        &f.ctx(&timing, tokio_util::sync::CancellationToken::new()),
        &f.snapshot,
        &options(),
    )
    .await?;
    eprintln!("restore took {:?}: {summary:?}", t.elapsed());
    assert_eq!(summary.failed, 0, "nothing fails on a healthy portal: {:?}", f.failures(summary.job_id).await);

    let want = items_by_title(&f.sim, &a);
    let got = items_by_title(&f.sim, &b);
    let want_keys: BTreeSet<_> = want.keys().collect();
    let got_keys: BTreeSet<_> = got.keys().collect();
    assert_eq!(got_keys, want_keys, "B holds the same titles and types as A");
    for (k, w) in &want {
        let g = &got[k];
        assert_eq!(g.len(), w.len(), "{k:?}: as many items of this title and type");
        for (gi, wi) in g.iter().zip(w) {
            assert_eq!(gi.1, wi.1.replace(&format!("/{a}/"), &format!("/{b}/")), "{k:?}: the description survives");
            assert!(wi.0.is_subset(&gi.0), "{k:?}: every tag survives ({:?} vs {:?})", wi.0, gi.0);
            assert_eq!(gi.2, wi.2, "{k:?}: shared with as many groups");
        }
    }

    let (a_ids, a_roots) = org_marks(&f.sim, &a);
    for (where_, text) in org_texts(&f.sim, &b) {
        for id in &a_ids {
            assert!(!text.contains(id.as_str()), "{where_} still names A's item {id}");
        }
        for root in &a_roots {
            assert!(!text.contains(root.as_str()), "{where_} still names A's URL {root}");
        }
    }

    assert_eq!(features(&f.sim, &b), features(&f.sim, &a), "every hosted layer has the same features and attachments");

    let ta = crate::support::sim_tally(&f.sim, &a);
    let tb = crate::support::sim_tally(&f.sim, &b);
    assert_eq!(tb.groups, ta.groups, "every group is restored");
    assert!(tb.users >= ta.users, "every user has a counterpart in B ({} vs {})", tb.users, ta.users);
    // The same people in every group, in the same roles; the restoring admin is in none it was
    // not in already.
    let renamed: BTreeMap<String, String> =
        plan.users.iter().map(|u| (u.source_username.clone(), u.target_username.clone())).collect();
    let rename = |u: &str| renamed.get(u).cloned().unwrap_or_else(|| u.to_owned());
    assert_eq!(
        memberships(&f.sim, &b, &|u| u.to_owned()),
        memberships(&f.sim, &a, &rename),
        "every group has the same members in the same roles"
    );
    assert_eq!(tb.memberships, ta.memberships, "memberships survive, none added");
    assert_eq!(tb.sharing, ta.sharing, "every item is shared with the same number of groups");

    let again = f.apply(&options()).await?;
    assert_eq!(again.created, 0, "the second run creates nothing: {again:?}");
    assert_eq!(again.failed, 0, "the second run fails nothing: {:?}", f.failures(again.job_id).await);
    let after = crate::support::sim_tally(&f.sim, &b);
    assert_eq!(after.items, tb.items, "no item is duplicated by the second run");
    assert_eq!(after.groups, tb.groups, "no group is duplicated by the second run");
    Ok(())
}
