//! Set-up shared by the restore tests: org A backed up into a repository, a signed-in admin of
//! the empty org B, one call to plan or apply, and views of the simulator's model for checks.

use std::collections::BTreeSet;
use std::time::Duration;

use arcgis::Portal;
use orgvault_core::repo::{Repository, SnapshotId};
use orgvault_core::restore::{
    apply, plan, EntryKind, Journal, RestoreContext, RestoreError, RestoreOptions, RestorePlan, RestoreSummary,
};
use orgvault_core::{Db, NoProgress, Progress, Selection, SystemClock};
use portal_sim::{RunningSim, SimConfig};
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, run_backup, scanned};
use crate::support::{connect, start_sim};

/// A small org A with hosted services, maps, apps, dashboards; org B empty.
pub fn sim_config() -> SimConfig {
    SimConfig { orgs: 2, empty_orgs: 1, items: 40, users: 8, groups: 4, seed: 7, ..SimConfig::default() }
}

/// A backed-up org A and a connection to B.
pub struct Fixture {
    pub sim: RunningSim,
    pub _dir: tempfile::TempDir,
    pub repo: Repository,
    pub snapshot: SnapshotId,
    pub target: Portal,
    pub db: Db,
}

pub async fn fixture(cfg: SimConfig) -> anyhow::Result<Fixture> {
    fixture_of(start_sim(cfg).await?).await
}

/// As [`fixture`], with a simulator the test has prepared.
pub async fn fixture_of(sim: RunningSim) -> anyhow::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let t = std::time::Instant::now();
    let a = scanned(&sim).await?;
    let summary = run_backup(&a, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    let snapshot = summary.snapshot.expect("the backup wrote a snapshot");
    eprintln!("backup of A took {:?}", t.elapsed());
    let b = sim.orgs.last().expect("an empty org").clone();
    let target = connect(&b.portal_url, &b.admin).await?;
    // The restore's own database (journal, job history), a file like the app's.
    let db = Db::open(&dir.path().join("orgvault.db")).await?;
    Ok(Fixture { sim, _dir: dir, repo, snapshot, target, db })
}

/// Polling sized for the simulator's quick jobs.
pub fn options() -> RestoreOptions {
    RestoreOptions {
        publish_timeout: Duration::from_secs(20),
        poll_max: Duration::from_millis(200),
        ..RestoreOptions::default()
    }
}

impl Fixture {
    /// Lets the simulator's search index catch up with what the test itself wrote to set the
    /// scene: that content stands for what existed before the restore, long enough ago to be
    /// searchable (portal-sim's search lags behind writes as ArcGIS's does).
    pub fn scene_is_indexed(&self) {
        self.sim.control().index_now();
    }

    pub fn ctx<'a>(&'a self, progress: &'a dyn Progress, cancel: CancellationToken) -> RestoreContext<'a> {
        RestoreContext {
            db: &self.db,
            portal: &self.target,
            repo: &self.repo,
            identity_id: None,
            progress,
            cancel,
            clock: &SystemClock,
        }
    }

    pub async fn plan(&self, options: &RestoreOptions) -> Result<RestorePlan, RestoreError> {
        plan(&self.ctx(&NoProgress, CancellationToken::new()), &self.snapshot, options).await
    }

    pub async fn apply(&self, options: &RestoreOptions) -> Result<RestoreSummary, RestoreError> {
        apply(&self.ctx(&NoProgress, CancellationToken::new()), &self.snapshot, options).await
    }

    /// The failed outcomes of a job, for assertion messages.
    pub async fn failures(&self, job_id: i64) -> Vec<String> {
        let items = orgvault_core::Jobs::new(&self.db, &SystemClock).items(job_id).await.unwrap_or_default();
        items
            .into_iter()
            .filter(|i| i.outcome.outcome == orgvault_core::jobs::Outcome::Failed)
            .map(|i| format!("{} {}: {}", i.outcome.id, i.outcome.title, i.outcome.reason.unwrap_or_default()))
            .collect()
    }

    /// The target item the journal records for source item `source_id`.
    pub async fn restored_as(&self, source_id: &str) -> anyhow::Result<Option<String>> {
        let journal = Journal::new(&self.db, &SystemClock, self.target.org_id(), self.snapshot.as_str());
        Ok(journal.get(EntryKind::Item, source_id).await?.map(|e| e.target_id))
    }

    pub fn url_key(&self, index: usize) -> String {
        self.sim.orgs[index].url_key.clone()
    }
}

/// Ids and org-specific URL roots of org `url_key` in the simulator.
pub fn org_marks(sim: &RunningSim, url_key: &str) -> (BTreeSet<String>, Vec<String>) {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    let ids = org.items.keys().cloned().collect();
    let roots = vec![
        format!("{}/{}/", sim.base_url, org.id),
        format!("{}/{}/", sim.base_url, org.url_key),
        format!("{}/{}/", sim.services_url, org.id),
    ];
    (ids, roots)
}

/// Every text of org `url_key`'s item data and resources, with the item id.
pub fn org_texts(sim: &RunningSim, url_key: &str) -> Vec<(String, String)> {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    let mut out = Vec::new();
    for item in org.items.values() {
        match &item.data {
            portal_sim::model::ItemData::Json(v) => out.push((item.id.clone(), v.to_string())),
            portal_sim::model::ItemData::Bytes { bytes, .. } => {
                out.push((item.id.clone(), String::from_utf8_lossy(bytes).into_owned()))
            }
            _ => {}
        }
        for r in &item.resources {
            if let Some(b) = &r.bytes {
                out.push((format!("{} resource {}", item.id, r.path), String::from_utf8_lossy(b).into_owned()));
            }
        }
    }
    out
}
