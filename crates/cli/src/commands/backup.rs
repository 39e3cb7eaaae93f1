//! `orgvault backup`: scans the organization, then backs up the selection into a repository
//! (a folder or an Azure container) as one snapshot. `--retry-failed JOB` backs up again just
//! what failed in that job. Exits non-zero when the job failed or was cancelled.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use orgvault_core::backup::{scan_and_backup, BackupOptions, BackupSummary, BackupWhat, ScanThenBackup};
use orgvault_core::jobs::{JobKind, Trigger};
use orgvault_core::repo::{InitPolicy, RepoKey, RepoState, Repository};
use orgvault_core::selection::{Combine, Filter};
use orgvault_core::storage::{check_local, StorageTarget};
use orgvault_core::{Db, Selection, SystemClock};
use serde_json::json;

use super::connect::{connect_saved, PortalArgs};
use super::snapshots::DestArgs;
use crate::output::print_json;
use crate::terminal_progress::TerminalProgress;
use orgvault_core::units::format_bytes;

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub portal: PortalArgs,

    /// The repository: a folder path, az://<container>[/prefix] (connection string in
    /// AZURE_STORAGE_CONNECTION_STRING) or s3://<bucket>[/prefix][?options] (see `snapshots --help`).
    /// Default with --identity: the identity's own storage.
    #[arg(long, value_name = "DEST", required_unless_present = "identity")]
    pub to: Option<String>,

    /// Create the repository even though the destination folder (or Azure prefix) is not empty.
    /// OrgVault then uses only the names config, data/, snapshots/, locks/ and tmp/ there, and
    /// refuses if one of them exists already. Without it, a destination must be empty, missing
    /// or a repository.
    #[arg(long)]
    pub init: bool,

    /// Treat the repository as append-only: never delete there (locks are released by marking).
    #[arg(long, env = "ORGVAULT_APPEND_ONLY")]
    pub append_only: bool,

    /// Create a new repository unencrypted (format 1). By default a new repository is
    /// encrypted with the password from ORGVAULT_REPOSITORY_PASSWORD (or asked for), and its
    /// recovery key is printed once. An existing repository is used as it is.
    #[arg(long)]
    pub no_encrypt: bool,

    /// The snapshot's name (default: the organization and the date and time).
    #[arg(long)]
    pub name: Option<String>,

    /// Back up only items of this type (repeatable), with their owners and groups.
    #[arg(long = "select-type", value_name = "TYPE")]
    pub select_types: Vec<String>,

    /// Back up only this item (repeatable).
    #[arg(long = "select-id", value_name = "ID")]
    pub select_ids: Vec<String>,

    /// Back up again just the subjects that failed in this earlier backup job.
    #[arg(long, value_name = "JOB_ID", conflicts_with_all = ["select_types", "select_ids"])]
    pub retry_failed: Option<i64>,

    /// Subjects worked on at once (the client's limiters bound the requests).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,

    /// Downloads (files, thumbnails, metadata, exports) in progress at once, apart from the API
    /// calls' limit; lowered by itself when the portal answers 429.
    #[arg(long, default_value_t = 32)]
    pub download_concurrency: usize,

    /// Do not add the service definition (.sd) a selected hosted feature service was published
    /// from (kept by default, so a restore can publish the service again from it).
    #[arg(long)]
    pub no_service_definitions: bool,

    /// Read service URLs of items on this host too (repeatable; `host`, `host:port` or
    /// `https://host[:port]`), without the token. By default only the org's own hosts are read;
    /// an item whose service is elsewhere is saved without its service JSON, and says so.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<arcgis::AllowedHost>,

    /// Print one JSON object: {snapshot, items, users, groups, failed, bytes_new, bytes_total, ...}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub mail: super::identity_watch::OnDemandMailArgs,
}

fn selection(args: &BackupArgs) -> anyhow::Result<Selection> {
    Ok(match (args.select_ids.is_empty(), args.select_types.is_empty()) {
        (true, true) => Selection::Everything,
        (false, true) => Selection::Explicit { items: args.select_ids.clone(), users: vec![], groups: vec![] },
        (true, false) => Selection::Filtered {
            combine: Combine::Any,
            filters: args.select_types.iter().map(|t| Filter::TypeEquals(t.clone())).collect(),
        },
        (false, false) => anyhow::bail!("use either --select-id or --select-type, not both"),
    })
}

pub async fn run(db: &Db, data_dir: &Path, args: BackupArgs) -> anyhow::Result<()> {
    let selection = selection(&args)?;
    let jobs_before = args.mail.before(db).await?;
    let saved = args.portal.saved_identity(db, data_dir).await?;
    // Checked first: a backup that cannot write should not scan for minutes. The repository
    // check comes before the folder check, so a folder that is refused is not written to.
    let repo = match (&args.to, &saved) {
        (Some(to), _) => {
            let dest = DestArgs { to: to.clone(), append_only: args.append_only };
            let repo = dest.open_for_backup(data_dir, args.init, args.no_encrypt).await?;
            if let StorageTarget::Local { path } = &dest.target(data_dir)? {
                check_local(path, 0).await?;
            }
            repo
        }
        (None, Some((service, identity))) => {
            let init = if args.init { InitPolicy::EvenIfNotEmpty } else { InitPolicy::IfEmpty };
            // A first backup of an identity without a saved repository password creates its
            // repository encrypted (unless --no-encrypt) and keeps the password in the vault,
            // so scheduled runs open it.
            // A repository missing where a password is saved (the storage moved) is created
            // with that password, and its recovery key printed.
            let missing = Repository::state(&service.storage_target(identity)?).await? == RepoState::Missing;
            let saved_key = service.repository_key(identity)?;
            if missing && (!args.no_encrypt || matches!(saved_key, RepoKey::Password(_))) {
                let pw = match saved_key {
                    RepoKey::Password(p) => p,
                    RepoKey::None => super::repo_password::new_repository_password()?,
                };
                let setup = service.set_up_repository(identity, Some(pw), init).await?;
                if let Some(key) = &setup.recovery_key {
                    super::repo_password::print_recovery_key(&identity.spec.name, key);
                }
            }
            let repo = service
                .backup_repository_for(identity, init)
                .await
                .with_context(|| format!("cannot open the repository of identity {:?}", identity.spec.name))?;
            if args.append_only {
                repo.set_append_only();
            }
            super::repo_password::show_recovery_key(&repo);
            repo
        }
        (None, None) => anyhow::bail!("give --to DEST, or --identity NAME to back up into the identity's storage"),
    };
    let (portal, identity) = match saved {
        Some((service, identity)) => (connect_saved(&service, &identity).await?, identity),
        None => args.portal.connect_identity(db, data_dir).await?,
    };
    // Before the scan, which reads service URLs too.
    for host in &args.allow_hosts {
        portal.allow_host(host.clone());
    }

    let progress = TerminalProgress::new(args.json);
    let options = BackupOptions {
        name: args.name.clone(),
        concurrency: args.concurrency.max(1),
        download_concurrency: args.download_concurrency.max(1),
        allow_hosts: args.allow_hosts.clone(),
        service_definitions: !args.no_service_definitions,
        ..BackupOptions::default()
    };
    let run = ScanThenBackup {
        db,
        portal: &portal,
        repo: &repo,
        identity_id: &identity.id,
        options: &options,
        progress: &progress,
        cancel: crate::paths::cancel_on_ctrl_c(),
        clock: &SystemClock,
        trigger: Trigger::Manual,
    };
    let what = match args.retry_failed {
        Some(job) => BackupWhat::RetryFailed(job),
        None => BackupWhat::Selection(selection),
    };
    let done = scan_and_backup(&run, &what).await;
    progress.finish();
    args.mail.after(db, data_dir, jobs_before, JobKind::Backup, Some(&identity.id)).await;
    let done = done?;
    let times = Phases { scan_seconds: done.scan_seconds, backup_seconds: done.backup_seconds };
    report(&done.backup, args.json, done.scan.requests, times)
}

/// Wall time of the two phases, for `--json` (the benchmark compares the backup phase).
struct Phases {
    scan_seconds: f64,
    backup_seconds: f64,
}

fn report(s: &BackupSummary, json: bool, scan_requests: u64, times: Phases) -> anyhow::Result<()> {
    let snapshot = s.snapshot.as_ref().map(|id| id.as_str().to_owned());
    if json {
        return print_json(&json!({
            "snapshot": snapshot, "items": s.items, "users": s.users, "groups": s.groups,
            "failed": s.failed, "fallbacks": s.fallbacks, "reused": s.reused,
            "bytes_new": s.bytes_new, "bytes_total": s.bytes_total, "bytes_downloaded": s.bytes_downloaded,
            "data_downloads": s.data_downloads, "requests": s.requests, "scan_requests": scan_requests,
            "job_id": s.job_id, "state": s.state, "name": s.name,
            "scan_seconds": times.scan_seconds, "backup_seconds": times.backup_seconds,
        }));
    }
    println!("Snapshot {} \"{}\"", snapshot.as_deref().unwrap_or("-"), s.name);
    println!("  items   {} ({} unchanged, {} by a fallback)", s.items, s.reused, s.fallbacks);
    println!("  users   {}", s.users);
    println!("  groups  {}", s.groups);
    // bytes_new also counts the manifest, which the snapshot's content total does not.
    println!(
        "  stored  {} new (manifest included); the snapshot references {}",
        format_bytes(s.bytes_new),
        format_bytes(s.bytes_total)
    );
    if s.failed > 0 {
        println!(
            "  failed  {} (see `orgvault jobs --job {}`; retry with `orgvault backup --retry-failed {}`)",
            s.failed, s.job_id, s.job_id
        );
    }
    Ok(())
}
