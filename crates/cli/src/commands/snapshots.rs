//! `orgvault snapshots`: the snapshots of a repository. Also the `--to DEST` handling every
//! repository command shares.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use orgvault_core::maintenance::Upkeep;
use orgvault_core::repo::{InitPolicy, RepoKey, RepoState, Repository};
use orgvault_core::storage::StorageTarget;
use orgvault_core::{Db, Progress, SystemClock};
use serde_json::json;

use super::repo_password;
use crate::output::print_json;
use orgvault_core::units::format_bytes;

/// Where the repository is.
#[derive(Debug, Args)]
pub struct DestArgs {
    /// The repository: a folder path; az://<container>[/prefix] with the connection string in
    /// AZURE_STORAGE_CONNECTION_STRING; or s3://<bucket>[/prefix][?region=R&endpoint=URL&path_style=true&profile=P]
    /// with credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials.
    #[arg(long, value_name = "DEST")]
    pub to: String,

    /// Treat the repository as append-only: refuse every delete (forget, prune), whatever the
    /// credentials may do; locks are released by marking them.
    #[arg(long, env = "ORGVAULT_APPEND_ONLY")]
    pub append_only: bool,
}

impl DestArgs {
    /// The storage target; Azure uploads are staged in the data folder's `cache`.
    pub fn target(&self, data_dir: &Path) -> anyhow::Result<StorageTarget> {
        Ok(StorageTarget::parse_dest_from_env(&self.to, &data_dir.join("cache"))?)
    }

    /// Opens the existing repository; a destination that is not one is refused and left as it is.
    /// An encrypted repository's password comes from `ORGVAULT_REPOSITORY_PASSWORD` or a prompt.
    pub async fn open(&self, data_dir: &Path) -> anyhow::Result<Repository> {
        let repo = open_target(&self.target(data_dir)?).await?;
        if self.append_only {
            repo.set_append_only();
        }
        Ok(repo)
    }

    /// Upkeep jobs (verify, retention) on `repo`, cancelled by Ctrl-C. A bare destination
    /// belongs to no identity.
    pub fn upkeep<'a>(&self, db: &'a Db, repo: &'a Repository, progress: &'a dyn Progress) -> Upkeep<'a> {
        Self::upkeep_of(db, repo, progress)
    }

    /// As [`DestArgs::upkeep`], for a repository opened otherwise.
    pub fn upkeep_of<'a>(db: &'a Db, repo: &'a Repository, progress: &'a dyn Progress) -> Upkeep<'a> {
        Upkeep { db, clock: &SystemClock, repo, identity_id: None, progress, cancel: crate::paths::cancel_on_ctrl_c() }
    }

    /// Opens the repository to write into, creating it in a missing or empty destination (or,
    /// with `init`, in a non-empty one that has none of the names a repository uses).
    /// A new repository is encrypted (its password from `ORGVAULT_REPOSITORY_PASSWORD` or
    /// asked twice; its recovery key printed once) unless `no_encrypt`; an existing one is
    /// opened as it is.
    pub async fn open_for_backup(&self, data_dir: &Path, init: bool, no_encrypt: bool) -> anyhow::Result<Repository> {
        let target = self.target(data_dir)?;
        let policy = if init { InitPolicy::EvenIfNotEmpty } else { InitPolicy::IfEmpty };
        let key = match Repository::state(&target).await? {
            RepoState::Encrypted => repo_password::existing()?,
            RepoState::Missing if !no_encrypt => repo_password::for_new_repository()?,
            RepoState::Missing | RepoState::Plain => RepoKey::None,
        };
        let repo = Repository::open_for_backup_with_key(&target, policy, &key)
            .await
            .with_context(|| format!("cannot open the repository {}", target.describe()))?;
        repo_password::show_recovery_key(&repo);
        if self.append_only {
            repo.set_append_only();
        }
        Ok(repo)
    }
}

/// Opens an existing repository, asking for the password only when it is encrypted.
pub async fn open_target(target: &StorageTarget) -> anyhow::Result<Repository> {
    open_target_with(target, repo_password::existing).await
}

/// [`open_target`] with the password of an encrypted repository from `password`.
pub async fn open_target_with(
    target: &StorageTarget,
    password: fn() -> anyhow::Result<RepoKey>,
) -> anyhow::Result<Repository> {
    let key = match Repository::state(target).await? {
        RepoState::Encrypted => password()?,
        _ => RepoKey::None,
    };
    Repository::open_with_key(target, &key)
        .await
        .with_context(|| format!("cannot open the repository {}", target.describe()))
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub dest: DestArgs,

    /// Print one JSON array of {id, name, time, time_ms, items, users, groups, failed, bytes}.
    #[arg(long)]
    pub json: bool,
}

/// An epoch-ms time as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

pub async fn run(data_dir: &Path, args: SnapshotsArgs) -> anyhow::Result<()> {
    let repo = args.dest.open(data_dir).await?;
    let list = repo.snapshots().await?;
    if args.json {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|s| {
                json!({
                    "id": s.id.as_str(), "name": s.name, "time": rfc3339(s.time_ms), "time_ms": s.time_ms,
                    "items": s.items, "users": s.users, "groups": s.groups, "failed": s.failed, "bytes": s.bytes,
                    "org_id": s.org_id, "portal_url": s.portal_url,
                })
            })
            .collect();
        return print_json(&serde_json::Value::Array(rows));
    }
    if list.is_empty() {
        println!("No snapshots in {}", repo.target().describe());
    }
    for s in &list {
        println!(
            "{}  {}  {:>6} items {:>5} users {:>5} groups  {:>10}  {}",
            s.id.short(),
            rfc3339(s.time_ms),
            s.items,
            s.users,
            s.groups,
            format_bytes(s.bytes),
            s.name
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z", "the epoch");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z", "a known instant");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z", "a leap day");
    }
}
