//! The backup against the habits of the real portal that portal-sim copies: HTTP errors for a
//! missing metadata.xml or thumbnail file, exports refused in another user's content, and
//! replicas that leave rows out unless asked for all of them.

use orgvault_core::repo::ExportMethod;
use orgvault_core::{NoProgress, Selection};
use portal_sim::routes::hosted::export_items;
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, run_backup, scanned};
use crate::support::start_sim;

fn only(ids: &[&String]) -> Selection {
    Selection::Explicit { items: ids.iter().map(|s| (*s).clone()).collect(), users: vec![], groups: vec![] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_without_metadata_or_with_a_lost_thumbnail_file_is_saved_without_them() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 40, ..SimConfig::default() }).await?;
    let (no_meta, lost_thumb) = {
        let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = &u.orgs[0];
        let plain = |i: &&portal_sim::model::Item| i.service_name.is_none() && i.url.is_none();
        let no_meta =
            org.items.values().filter(plain).find(|i| i.metadata_len.is_none()).expect("an item without metadata");
        let thumb = org
            .items
            .values()
            .filter(plain)
            .find(|i| i.thumbnail.is_some() && i.id != no_meta.id)
            .expect("an item with a thumbnail");
        (no_meta.id.clone(), thumb.id.clone())
    };
    assert!(sim.control().lose_thumbnail_file(&lost_thumb), "the thumbnail file is gone");
    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let summary = run_backup(&s, &repo, &only(&[&no_meta, &lost_thumb]), &NoProgress, CancellationToken::new()).await?;
    assert_eq!(
        (summary.items, summary.failed),
        (2, 0),
        "HTTP 400 for metadata.xml or a thumbnail reads as 'none', not as a failed item"
    );
    let manifest = repo.manifest(&summary.snapshot.expect("a snapshot")).await?;
    let entry = |id: &str| manifest.items.iter().find(|i| i.id == id).expect("saved");
    assert!(entry(&no_meta).metadata.is_none(), "the item is recorded as having no metadata");
    assert!(entry(&lost_thumb).thumbnail.is_none(), "the thumbnail that is not served is not kept");
    assert!(
        entry(&lost_thumb).notes.iter().any(|n| n.contains("thumbnail")),
        "and the entry says why: {:?}",
        entry(&lost_thumb).notes
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_service_is_exported_into_the_admins_content_and_nothing_is_left() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 40, ..SimConfig::default() }).await?;
    let admin = sim.orgs[0].admin.username.clone();
    let service = {
        let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = &u.orgs[0];
        org.services
            .values()
            .find(|s| s.view_of.is_none() && !s.export_fails && org.items[&s.item_id].owner != admin)
            .map(|s| s.item_id.clone())
            .expect("an exportable service of another user")
    };
    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let summary = run_backup(&s, &repo, &only(&[&service]), &NoProgress, CancellationToken::new()).await?;
    assert_eq!((summary.items, summary.failed), (1, 0), "the service is saved");
    let manifest = repo.manifest(&summary.snapshot.expect("a snapshot")).await?;
    let saved = manifest.items.iter().find(|i| i.id == service).and_then(|i| i.service.clone()).expect("service");
    assert_eq!(
        saved.export_method,
        ExportMethod::Fgdb,
        "refused in the owner's content, the export runs in the admin's own (no fallback needed)"
    );
    let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let left: Vec<String> = export_items(&u.orgs[0]).iter().map(|i| format!("{} ({})", i.title, i.owner)).collect();
    assert!(left.is_empty(), "no 'Exported Data' item remains after the backup: {left:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_holds_every_row_of_every_layer() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 40, ..SimConfig::default() }).await?;
    let (service, rows) = {
        let mut u = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let org = &mut u.orgs[0];
        let s = org
            .services
            .values_mut()
            .filter(|s| s.view_of.is_none() && s.sync_enabled && s.layers.iter().any(|l| l.features.len() > 8))
            .min_by_key(|s| s.name.clone())
            .expect("a sync-enabled service with a layer of several rows");
        // The export fails, so the backup takes the replica.
        s.export_fails = true;
        let rows: usize = s.layers.iter().chain(&s.tables).map(|l| l.features.len()).sum();
        (s.item_id.clone(), rows)
    };
    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let summary = run_backup(&s, &repo, &only(&[&service]), &NoProgress, CancellationToken::new()).await?;
    assert_eq!((summary.items, summary.failed), (1, 0), "the service is saved");
    let manifest = repo.manifest(&summary.snapshot.expect("a snapshot")).await?;
    let saved = manifest.items.iter().find(|i| i.id == service).and_then(|i| i.service.clone()).expect("service");
    assert_eq!(saved.export_method, ExportMethod::Replica, "the replica was taken");
    let bytes = repo.get_blob(&saved.export.expect("the replica file").blob).await?;
    let package = portal_sim::routes::hosted::unpack_package(&bytes).expect("a replica package");
    let got: usize = package.layers.iter().chain(&package.tables).map(|l| l.features.len()).sum();
    assert_eq!(got, rows, "full-extent geometry and queryOption all: no row is filtered out");
    Ok(())
}
