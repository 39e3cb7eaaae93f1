//! Choosing part of a snapshot to restore: the snapshot's graph (what the app's selection is made
//! from) names what a web map needs, and a restore of a chosen few items, users and groups writes
//! those and nothing else.

use std::collections::BTreeSet;

use orgvault_core::app::{graph_of_snapshot, EdgeKind};

use crate::restore_support::{fixture, options, sim_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_of_chosen_items_users_and_groups_writes_only_those() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let graph = graph_of_snapshot(&f.repo, &f.snapshot).await?;
    let manifest = f.repo.manifest(&f.snapshot).await?;
    assert_eq!(
        graph.items.len(),
        manifest.items.len()
            + manifest.failed.iter().filter(|x| x.kind == orgvault_core::jobs::SubjectKind::Item).count()
    );
    assert_eq!((graph.users.len(), graph.groups.len()), (manifest.users.len(), manifest.groups.len()));

    // A web map and the layer its data names, by the graph's reference edge.
    let type_of = |id: &str| graph.items.iter().find(|i| i.id == id).map(|i| i.item_type.clone()).unwrap_or_default();
    let edge = graph
        .edges
        .iter()
        .find(|e| e.kind == EdgeKind::References && type_of(&e.from) == "Web Map" && e.from != e.to)
        .expect("a web map of the snapshot names another item of it (the graph's references edge)");
    let (map, layer) = (edge.from.clone(), edge.to.clone());
    let user = graph.users.iter().find(|u| !u.username.starts_with("esri_")).expect("a user").username.clone();
    let group = graph.groups[0].id.clone();

    let mut opts = options();
    opts.items = Some([map.clone(), layer.clone()].into_iter().collect());
    opts.user_names = Some([user.clone()].into_iter().collect());
    opts.group_ids = Some([group.clone()].into_iter().collect());
    let plan = f.plan(&opts).await?;
    let planned: BTreeSet<&str> = plan.items.iter().map(|i| i.source_id.as_str()).collect();
    assert_eq!(planned, [map.as_str(), layer.as_str()].into_iter().collect(), "only the chosen items are planned");
    let created_users: Vec<&str> = plan
        .users
        .iter()
        .filter(|u| matches!(u.action, orgvault_core::restore::Action::Create))
        .map(|u| u.source_username.as_str())
        .collect();
    assert_eq!(created_users, vec![user.as_str()], "only the chosen user is created");
    assert!(
        plan.users
            .iter()
            .filter(|u| u.source_username != user)
            .all(|u| !matches!(u.action, orgvault_core::restore::Action::Create)),
        "a user left out is not created"
    );
    assert_eq!(
        plan.groups.iter().map(|g| g.source_id.as_str()).collect::<Vec<_>>(),
        vec![group.as_str()],
        "only the chosen group"
    );

    let before_items = org_item_titles(&f);
    let summary = f.apply(&opts).await?;
    assert_eq!(summary.failed, 0, "failures: {:?}", f.failures(summary.job_id).await);
    let after_items = org_item_titles(&f);
    let new: Vec<&String> = after_items.iter().filter(|t| !before_items.contains(*t)).collect();
    let want: BTreeSet<String> =
        manifest.items.iter().filter(|i| i.id == map || i.id == layer).map(|i| i.title.clone()).collect();
    let got: BTreeSet<String> = new.iter().map(|t| (*t).clone()).collect();
    assert_eq!(got, want, "the target org gained the two chosen items and nothing else");
    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let b = universe.org_by_url_key(&f.url_key(1)).expect("org B");
    let source_group_title = &manifest.groups.iter().find(|g| g.id == group).expect("group").title;
    assert_eq!(
        b.groups.values().map(|g| g.title.clone()).collect::<Vec<_>>(),
        vec![source_group_title.clone()],
        "org B holds the one chosen group"
    );
    Ok(())
}

/// The titles of org B's items, one per item.
fn org_item_titles(f: &crate::restore_support::Fixture) -> Vec<String> {
    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(&f.url_key(1)).expect("org B");
    let mut out: Vec<String> = org.items.values().map(|i| i.title.clone()).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_account_without_the_privileges_the_plan_needs_is_named_at_plan_time_and_the_apply_refused(
) -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let b = f.sim.orgs.last().expect("org B").clone();
    assert!(f.sim.control().make_view_only_admin(&b.url_key, &b.user.username));
    let viewer = crate::support::connect(&b.portal_url, &b.user).await?;
    let ctx = orgvault_core::restore::RestoreContext {
        db: &f.db,
        portal: &viewer,
        repo: &f.repo,
        identity_id: None,
        progress: &orgvault_core::NoProgress,
        cancel: tokio_util::sync::CancellationToken::new(),
        clock: &orgvault_core::SystemClock,
    };
    let plan = orgvault_core::restore::plan(&ctx, &f.snapshot, &options()).await?;
    let missing: BTreeSet<&str> = plan.missing_privileges.iter().map(|m| m.privilege.as_str()).collect();
    for p in [
        "portal:admin:inviteUsers",
        "portal:admin:updateItems",
        "portal:user:createGroup",
        "portal:publisher:publishFeatures",
    ] {
        assert!(missing.contains(p), "the plan names {p} as missing: {:?}", plan.missing_privileges);
    }
    assert!(!missing.contains("portal:admin:viewItems"), "nothing the role holds is named");
    assert!(plan.missing_privileges.iter().all(|m| !m.needed_for.is_empty()), "each says what needs it");

    let before = org_item_titles(&f).len();
    let err = orgvault_core::restore::apply(&ctx, &f.snapshot, &options()).await.expect_err("the apply is refused");
    assert_eq!(err.code(), orgvault_core::ErrorCode::NotAdmin, "refused as lacking privileges: {err}");
    assert!(err.to_string().contains("portal:admin:inviteUsers"), "the refusal names what is missing: {err}");
    assert_eq!(org_item_titles(&f).len(), before, "nothing was written to B");

    // B's full administrator lacks nothing.
    let plan = f.plan(&options()).await?;
    assert!(plan.missing_privileges.is_empty(), "a full administrator: {:?}", plan.missing_privileges);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_mapped_to_create_new_is_made_beside_the_same_titled_one_with_its_members_and_items(
) -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let manifest = f.repo.manifest(&f.snapshot).await?;
    // A group with members and content.
    let g = manifest
        .groups
        .iter()
        .filter(|g| !g.content.is_empty() && !g.members.is_empty())
        .max_by_key(|g| g.members.len())
        .expect("a group with members and shared items")
        .clone();
    // B already has a group of that title, made by someone else.
    let mine = f
        .target
        .create_group(
            &arcgis::write::NewGroup { title: g.title.clone(), access: "private".into(), ..Default::default() },
            None,
        )
        .await?;
    f.scene_is_indexed();

    let mut opts = options();
    opts.mapping.groups.insert(g.id.clone(), orgvault_core::restore::GroupTarget::CreateNew);
    opts.group_ids = Some([g.id.clone()].into_iter().collect());
    opts.items = Some(g.content.iter().cloned().collect());
    let plan = f.plan(&opts).await?;
    let planned = plan.groups.iter().find(|p| p.source_id == g.id).expect("the group is planned");
    assert_eq!(planned.action, orgvault_core::restore::Action::Create, "Create New makes a group");
    assert_ne!(planned.target_title, g.title, "beside the same-titled one, under another title");
    let summary = f.apply(&opts).await?;
    assert_eq!(summary.failed, 0, "failures: {:?}", f.failures(summary.job_id).await);

    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let b = universe.org_by_url_key(&f.url_key(1)).expect("org B");
    let made = b.groups.values().find(|x| x.title == planned.target_title).expect("the new group, read back from B");
    let existing = b.groups.get(&mine.id).expect("the group B had");
    assert_eq!(existing.title, g.title, "the group B had keeps its title");
    assert!(existing.users.is_empty() && existing.admins.is_empty(), "and gets no members");
    let members: BTreeSet<&str> = made.users.iter().chain(&made.admins).map(String::as_str).collect();
    let want: BTreeSet<&str> =
        g.members.iter().chain(&g.admins).filter(|u| **u != g.owner).map(String::as_str).collect();
    assert_eq!(members.len(), want.len(), "the new group has the source group's members: {members:?} vs {want:?}");
    let shared = b.items.values().filter(|i| i.shared_groups.contains(&made.id)).count();
    assert_eq!(shared, g.content.len(), "the group's items are shared with the new group");
    assert!(!b.items.values().any(|i| i.shared_groups.contains(&mine.id)), "and none with the group B had");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_graph_ties_a_view_to_its_source_and_survives_an_unreadable_data_document() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let manifest = f.repo.manifest(&f.snapshot).await?;
    // The view (the destination of Service2Service) needs its source: the edge runs that way.
    let view = manifest
        .items
        .iter()
        .find(|i| {
            i.related.iter().any(|r| {
                r.rel_type == "Service2Service"
                    && r.direction == orgvault_core::repo::RelDirection::Reverse
                    && r.item_id != i.id
            })
        })
        .expect("a hosted view in the snapshot (not the item related to itself)");
    let source = &view
        .related
        .iter()
        .find(|r| r.rel_type == "Service2Service" && r.item_id != view.id)
        .expect("its source")
        .item_id;
    let graph = graph_of_snapshot(&f.repo, &f.snapshot).await?;
    let related =
        |a: &str, b: &str| graph.edges.iter().any(|e| e.kind == EdgeKind::Related && e.from == a && e.to == b);
    assert!(related(&view.id, source), "the view's edge runs to its source");
    assert!(!related(source, &view.id), "the source does not need its view");

    // A web map whose data document cannot be read loses its references, not the graph.
    let map = manifest
        .items
        .iter()
        .find(|i| graph.edges.iter().any(|e| e.kind == EdgeKind::References && e.from == i.id && e.to != i.id))
        .expect("a map naming another item");
    let blob = map.data.as_ref().expect("its data").blob.id.as_str().to_owned();
    let file = walk(f._dir.path()).into_iter().find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == blob));
    std::fs::remove_file(file.expect("the data document's blob file"))?;
    let graph = graph_of_snapshot(&f.repo, &f.snapshot).await?;
    assert!(
        !graph.edges.iter().any(|e| e.kind == EdgeKind::References && e.from == map.id),
        "the unreadable map has no reference edges"
    );
    assert_eq!(graph.items.len(), manifest.items.len(), "every other node is there");
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] })
        .collect()
}
