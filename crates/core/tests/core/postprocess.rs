//! Post-processing against the simulated portal: after org A is restored into B, the web map
//! whose data names a registered (non-hosted) service still points at it; a find/replace rule
//! changes that URL in B as a `postprocess` job, each item's change in the history, and nothing
//! the restore did not write is touched.

use orgvault_core::jobs::{JobState, Jobs, Outcome};
use orgvault_core::postprocess::{changes, get_at, Postprocess, UrlChange, ITEM_URL};
use orgvault_core::{NoProgress, SystemClock};
use tokio_util::sync::CancellationToken;

use crate::restore_support::{fixture, options, sim_config};

const FOREIGN: &str = "https://gis.foreign.invalid/arcgis/rest/services/Parcels/FeatureServer/0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_service_url_in_restored_items_is_changed_by_a_rule_and_recorded() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let summary = f.apply(&options()).await?;
    assert_eq!(summary.failed, 0, "the restore itself succeeds: {:?}", f.failures(summary.job_id).await);
    let post = Postprocess {
        db: &f.db,
        clock: &SystemClock,
        portal: &f.target,
        snapshot: f.snapshot.as_str(),
        identity_id: None,
        progress: &NoProgress,
        cancel: CancellationToken::new(),
    };
    let uses = post.url_uses().await?;
    let registered: Vec<_> = uses.iter().filter(|u| u.registered).collect();
    assert!(
        !registered.is_empty() && registered.iter().all(|u| u.url == FOREIGN),
        "the partner layer is the registered service: {registered:?}"
    );
    assert!(uses.iter().any(|u| !u.registered), "the org's own and Esri's URLs are listed too, not as registered");

    let rules = vec![("https://gis.foreign.invalid/".to_owned(), "https://gis.partner.example/".to_owned())];
    let planned = changes(&uses, &rules, &[]);
    assert_eq!(planned.len(), registered.len(), "the rule changes exactly the registered uses");
    // A change naming an item this restore did not write (made in B by someone else, pointing
    // at the same registered service) is refused, though its value is exactly as the change says.
    let admin = f.sim.orgs[1].admin.username.clone();
    let fields = arcgis::write::ItemFields {
        title: Some("Partner parcels (made by hand)".into()),
        item_type: Some("Feature Service".into()),
        url: Some(FOREIGN.into()),
        ..Default::default()
    };
    let theirs = f.target.add_item(&admin, None, &fields, arcgis::write::ItemContent::None, None).await?;
    let mut all = planned.clone();
    all.push(UrlChange {
        item_id: theirs.clone(),
        title: "Partner parcels (made by hand)".into(),
        owner: admin.clone(),
        place: ITEM_URL.into(),
        from: FOREIGN.into(),
        to: "https://gis.partner.example/arcgis/rest/services/Parcels/FeatureServer/0".into(),
    });
    let done = post.apply(&all).await?;
    assert_eq!(
        done.counts.changed as usize,
        planned.iter().map(|c| &c.item_id).collect::<std::collections::BTreeSet<_>>().len()
    );
    assert_eq!(done.counts.urls as usize, planned.len());

    for c in &planned {
        let data = f.target.item_data_json(&c.item_id).await?.expect("the map's data");
        assert_eq!(get_at(&data, &c.place), Some(c.to.as_str()), "B's map now names the partner host");
    }
    let jobs = Jobs::new(&f.db, &SystemClock);
    assert_eq!(jobs.get(done.job_id).await?.state, JobState::Succeeded);
    let items = jobs.items(done.job_id).await?;
    let changed: Vec<_> = items.iter().filter(|i| i.outcome.outcome == Outcome::Ok).collect();
    assert!(
        changed.iter().all(|i| i.outcome.reason.as_deref().is_some_and(|r| r.contains("gis.partner.example"))),
        "each change is in the history"
    );
    let row = items.iter().find(|i| i.outcome.id == theirs).expect("the refused item has an outcome");
    assert_eq!(row.outcome.outcome, Outcome::Skipped, "an item the restore did not write is not touched");
    assert_eq!(f.target.item(&theirs).await?.url.as_deref(), Some(FOREIGN), "its URL is as its owner left it");

    // The same changes again: the values are no longer what the preview showed; nothing is undone.
    let again = post.apply(&planned).await?;
    assert_eq!(
        (again.counts.changed, again.counts.skipped as usize),
        (0, again.counts.items as usize),
        "stale previews are skipped"
    );
    Ok(())
}
