//! Set-up shared by the backup tests: a scanned org, a repository in a folder, one call to run
//! a backup with test-sized job polling.

use std::path::Path;
use std::time::Duration;

use arcgis::Portal;
use orgvault_core::backup::{backup, BackupContext, BackupOptions, BackupSummary};
use orgvault_core::repo::{InitPolicy, Repository};
use orgvault_core::storage::StorageTarget;
use orgvault_core::{scan, Db, NoProgress, Progress, Selection, SystemClock};
use portal_sim::RunningSim;
use tokio_util::sync::CancellationToken;

use crate::support::{connect, db_with_identity};

/// A signed-in admin, a database with its identity and a fresh scan.
pub struct Scanned {
    pub portal: Portal,
    pub db: Db,
    pub identity: String,
    pub scan_id: i64,
}

pub async fn scanned(sim: &RunningSim) -> anyhow::Result<Scanned> {
    let org = &sim.orgs[0];
    let portal = connect(&org.portal_url, &org.admin).await?;
    let (db, identity) = db_with_identity(&org.portal_url, &org.admin.username).await?;
    let s = scan(&db, &portal, &identity, &NoProgress, CancellationToken::new(), &SystemClock).await?;
    Ok(Scanned { portal, db, identity, scan_id: s.scan_id })
}

impl Scanned {
    /// Scans again (after the org changed), keeping the new catalog for the next backups.
    pub async fn rescan(&mut self) -> anyhow::Result<()> {
        let s =
            scan(&self.db, &self.portal, &self.identity, &NoProgress, CancellationToken::new(), &SystemClock).await?;
        self.scan_id = s.scan_id;
        Ok(())
    }
}

pub async fn open_repo(dir: &Path) -> anyhow::Result<Repository> {
    Ok(Repository::open_for_backup(&StorageTarget::Local { path: dir.to_owned() }, InitPolicy::IfEmpty).await?)
}

/// Polling sized for the simulator's 300 ms jobs.
pub fn test_options() -> BackupOptions {
    BackupOptions {
        export_timeout: Duration::from_secs(20),
        poll_max: Duration::from_millis(200),
        ..BackupOptions::default()
    }
}

pub async fn run_backup(
    s: &Scanned,
    repo: &Repository,
    selection: &Selection,
    progress: &dyn Progress,
    cancel: CancellationToken,
) -> Result<BackupSummary, orgvault_core::backup::BackupError> {
    let options = test_options();
    let ctx = BackupContext {
        db: &s.db,
        portal: &s.portal,
        repo,
        identity_id: &s.identity,
        scan_id: s.scan_id,
        options: &options,
        progress,
        cancel,
        clock: &SystemClock,
    };
    backup(&ctx, selection).await
}

/// Verifies every snapshot of the repository; panics naming the problems.
pub async fn verify_all(repo: &Repository) -> anyhow::Result<usize> {
    let snaps = repo.snapshots().await?;
    for s in &snaps {
        let report = repo.verify(&s.id, None, &NoProgress).await?;
        assert!(report.is_ok(), "snapshot {} must verify, problems: {:?}", s.id.as_str(), report.problems);
    }
    Ok(snaps.len())
}
