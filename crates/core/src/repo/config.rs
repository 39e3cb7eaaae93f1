//! The repository's `config` object, which is what makes a location a repository, and the rules
//! for creating one: a read never creates anything, and a backup creates a repository only in an
//! empty (or missing) location, or with an explicit `--init` where none of the names OrgVault
//! owns is taken.
//!
//! Creating `config` is create-only on every file system: of two first backups that start at
//! once, one writes it and the other opens the winner's repository. Object stores do it with a
//! conditional put; a local folder claims the name with an exclusive create (`O_EXCL`, which FAT,
//! exFAT and network shares honour, unlike hard links), so no rename can replace a config that
//! another process already wrote.

use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::storage::{StorageError, StorageTarget};

use super::error::{RepoError, RepoResult};
use super::object_path;

pub(crate) const CONFIG: &str = "config";
const REPO_FORMAT: &str = "orgvault-repository";
/// Format 1: plain (zstd) objects, SHA-256 blob ids. Format 2: encrypted (see `crypto`).
const PLAIN_VERSION: u32 = 1;
pub(crate) const ENCRYPTED_VERSION: u32 = 2;
const REPO_VERSION: u32 = ENCRYPTED_VERSION;

/// Every top-level name a repository writes; with `--init` in a non-empty folder OrgVault owns
/// these and nothing else (docs/backup-format.md, "Layout").
pub const OWNED_NAMES: [&str; 6] = [CONFIG, "data", "snapshots", "locks", "tmp", super::keys::KEYS];

/// The algorithms of an encrypted repository, recorded in its `config` (format 2 only). Only
/// these values exist; a reader refuses others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EncryptionParams {
    pub cipher: String,
    pub blob_id: String,
    pub segment: u32,
}

impl EncryptionParams {
    pub fn current() -> EncryptionParams {
        EncryptionParams {
            cipher: "xchacha20poly1305".into(),
            blob_id: "hmac-sha256".into(),
            segment: super::crypto::SEGMENT as u32,
        }
    }
}

/// What a backup may do with a destination that is not yet a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitPolicy {
    /// Create the repository only in a missing or empty folder, or an empty Azure prefix.
    #[default]
    IfEmpty,
    /// Also create it in a non-empty location (`--init`), as long as none of
    /// [`OWNED_NAMES`] exists there.
    EvenIfNotEmpty,
}

/// The repository's `config` object, written once at init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RepoConfig {
    format: String,
    version: u32,
    pub id: String,
    created_ms: i64,
    /// Present exactly in format 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionParams>,
}

impl RepoConfig {
    pub(crate) fn new(now_ms: i64, encrypted: bool) -> RepoConfig {
        RepoConfig {
            format: REPO_FORMAT.into(),
            version: if encrypted { ENCRYPTED_VERSION } else { PLAIN_VERSION },
            id: uuid::Uuid::new_v4().simple().to_string(),
            created_ms: now_ms,
            encryption: encrypted.then(EncryptionParams::current),
        }
    }

    /// Whether the repository is encrypted (format 2).
    pub fn encrypted(&self) -> bool {
        self.version >= ENCRYPTED_VERSION
    }

    fn parse(bytes: &[u8]) -> RepoResult<RepoConfig> {
        let cfg: RepoConfig = serde_json::from_slice(bytes)
            .map_err(|e| RepoError::Format(format!("{CONFIG} is not an OrgVault repository config: {e}")))?;
        if cfg.format != REPO_FORMAT {
            return Err(RepoError::Format(format!("{CONFIG} says format {:?}", cfg.format)));
        }
        if cfg.version > REPO_VERSION {
            return Err(RepoError::Format(format!(
                "repository version {} is newer than this OrgVault reads ({REPO_VERSION}); upgrade OrgVault",
                cfg.version
            )));
        }
        match (&cfg.encryption, cfg.version) {
            (None, PLAIN_VERSION) => {}
            (Some(e), ENCRYPTED_VERSION) if *e == EncryptionParams::current() => {}
            (Some(e), ENCRYPTED_VERSION) => {
                return Err(RepoError::Format(format!(
                    "{CONFIG} names encryption {} / {} / segment {} which this OrgVault does not know",
                    e.cipher, e.blob_id, e.segment
                )))
            }
            (_, v) => {
                return Err(RepoError::Format(format!(
                    "{CONFIG} says version {v} but {} encryption parameters",
                    if cfg.encryption.is_some() { "has" } else { "lacks" }
                )))
            }
        }
        Ok(cfg)
    }
}

/// The largest `config` object read.
pub(crate) const CONFIG_MAX: u64 = 64 * 1024;

/// Reads the config; `None` when there is none (the location is not a repository).
pub(crate) async fn read_config(store: &dyn ObjectStore, prefix: &str) -> RepoResult<Option<RepoConfig>> {
    match store.get(&object_path(prefix, CONFIG)).await {
        Ok(got) => {
            // A config is a few hundred bytes; a larger object is not ours and is not read whole.
            if got.meta.size > CONFIG_MAX {
                return Err(RepoError::Format(format!(
                    "`{CONFIG}` is {} bytes, over the limit of {CONFIG_MAX} for a repository config: not an OrgVault repository",
                    got.meta.size
                )));
            }
            let bytes = got.bytes().await.map_err(|e| StorageError::from_store("read", CONFIG, e))?;
            RepoConfig::parse(&bytes).map(Some)
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(StorageError::from_store("read", CONFIG, e).into()),
    }
}

#[cfg(test)]
/// Writes a new config with create-only semantics; a config written meanwhile by another process
/// wins and is returned.
pub(crate) async fn write_config(
    store: &dyn ObjectStore,
    prefix: &str,
    target: &StorageTarget,
    now_ms: i64,
    encrypted: bool,
) -> RepoResult<(RepoConfig, bool)> {
    write_config_of(store, prefix, target, RepoConfig::new(now_ms, encrypted)).await
}

/// As [`write_config`], for a config made beforehand (an encrypted repository's key objects
/// are sealed for its id before the config claims the location).
pub(crate) async fn write_config_of(
    store: &dyn ObjectStore,
    prefix: &str,
    target: &StorageTarget,
    cfg: RepoConfig,
) -> RepoResult<(RepoConfig, bool)> {
    let body = serde_json::to_vec_pretty(&cfg).map_err(|e| RepoError::Format(e.to_string()))?;
    if let StorageTarget::Local { path } = target {
        let root = path.join(prefix.trim_matches('/'));
        let claimed = tokio::task::spawn_blocking(move || create_local_config(&root, &body))
            .await
            .map_err(|e| RepoError::Format(format!("writing {CONFIG} stopped: {e}")))?
            .map_err(|e| RepoError::io(path.join(CONFIG), e))?;
        if claimed {
            tracing::info!(target = %target.describe(), id = %cfg.id, "initialised a new repository");
            return Ok((cfg, true));
        }
        return Ok((read_winners_config(store, prefix).await?, false));
    }
    let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
    match store.put_opts(&object_path(prefix, CONFIG), PutPayload::from(body), opts).await {
        Ok(_) => {
            tracing::info!(target = %target.describe(), id = %cfg.id, "initialised a new repository");
            Ok((cfg, true))
        }
        Err(object_store::Error::AlreadyExists { .. }) => read_config(store, prefix)
            .await?
            .map(|c| (c, false))
            .ok_or_else(|| RepoError::Format(format!("{CONFIG} appeared and vanished while initialising"))),
        Err(e) => Err(StorageError::from_store("write", CONFIG, e).into()),
    }
}

/// Creates `root/config` holding `body` only if no such name exists: `Ok(false)` when another
/// process has it. The file, then its folder, are synced before this returns.
fn create_local_config(root: &std::path::Path, body: &[u8]) -> std::io::Result<bool> {
    use std::io::Write;
    let path = root.join(CONFIG);
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e),
    };
    file.write_all(body)?;
    file.sync_all()?;
    crate::storage::sync_dir(root)?;
    Ok(true)
}

/// The config another process is writing: read until it is complete (it is claimed empty, then
/// filled in one write), for up to [`WINNER_WAIT`].
async fn read_winners_config(store: &dyn ObjectStore, prefix: &str) -> RepoResult<RepoConfig> {
    let started = std::time::Instant::now();
    loop {
        match read_config(store, prefix).await {
            Ok(Some(cfg)) => return Ok(cfg),
            Ok(None) if started.elapsed() > WINNER_WAIT => {
                return Err(RepoError::Format(format!("{CONFIG} appeared and vanished while initialising")))
            }
            Err(RepoError::Format(e)) if started.elapsed() > WINNER_WAIT => {
                return Err(RepoError::Format(format!(
                    "{e} (another process began creating the repository here and did not finish; if none is \
                     running, remove the incomplete {CONFIG})"
                )))
            }
            Ok(None) | Err(RepoError::Format(_)) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            Err(e) => return Err(e),
        }
    }
}

/// How long a backup that lost the race to create `config` waits for the winner to finish it.
const WINNER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether anything at all is stored under `prefix` (a local folder: any entry in it). In an
/// object store, the probes a credential check could not delete (`tmp/delete-probe-*`) do not
/// count: they are OrgVault's own.
pub(crate) async fn is_empty(store: &dyn ObjectStore, prefix: &str, target: &StorageTarget) -> RepoResult<bool> {
    if let StorageTarget::Local { path } = target {
        // Listing through the store would skip empty folders and follow links; a folder with
        // anything in it, even an empty sub-folder, is not empty.
        let mut entries = std::fs::read_dir(path).map_err(|e| RepoError::io(path, e))?;
        return Ok(entries.next().is_none());
    }
    let list_prefix = object_path(prefix, "");
    let scope = (!prefix.is_empty()).then_some(&list_prefix);
    let root = prefix.trim_matches('/');
    let mut listing = store.list(scope);
    while let Some(found) = listing.next().await {
        let meta = found.map_err(|e| StorageError::from_store("list", prefix, e))?;
        let full = meta.location.as_ref();
        let rel = if root.is_empty() { full } else { full.strip_prefix(root).unwrap_or(full).trim_start_matches('/') };
        if !crate::storage::is_probe(rel) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The first of [`OWNED_NAMES`] that already exists at the location, if any.
pub(crate) async fn taken_name(
    store: &dyn ObjectStore,
    prefix: &str,
    target: &StorageTarget,
) -> RepoResult<Option<&'static str>> {
    for name in OWNED_NAMES {
        let taken = match target {
            StorageTarget::Local { path } => path.join(name).symlink_metadata().is_ok(),
            StorageTarget::Azure { .. } | StorageTarget::S3 { .. } => {
                let p = object_path(prefix, name);
                let as_object = match store.head(&p).await {
                    Ok(_) => true,
                    Err(object_store::Error::NotFound { .. }) => false,
                    Err(e) => return Err(StorageError::from_store("read", name, e).into()),
                };
                as_object || store.list(Some(&p)).next().await.is_some()
            }
        };
        if taken {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::storage::LocalStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_first_backups_on_a_folder_without_hard_links_share_one_config() {
        for round in 0..20 {
            let dir = tempfile::tempdir().expect("temp dir");
            // As on FAT or exFAT, where a create-only put cannot publish with a hard link.
            let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::without_hard_links(dir.path()).expect("store"));
            let target = StorageTarget::Local { path: dir.path().to_owned() };
            let writers = (0..4).map(|i| {
                let (store, target) = (store.clone(), target.clone());
                tokio::spawn(async move { write_config(store.as_ref(), "", &target, 1_000 + i, false).await })
            });
            let ids: Vec<String> = futures::future::join_all(writers)
                .await
                .into_iter()
                .map(|r| r.expect("task").expect("each writer ends with a repository").0.id)
                .collect();
            let on_disk = read_config(store.as_ref(), "").await.expect("read").expect("a config exists").id;
            for id in &ids {
                assert_eq!(
                    id, &on_disk,
                    "round {round}: every concurrent init must open the one repository whose config is on disk \
                     (a second config must never replace the first)"
                );
            }
        }
    }

    #[tokio::test]
    async fn an_incomplete_config_left_by_a_crash_is_reported_not_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(CONFIG), b"").expect("an empty config, as a crash mid-init leaves");
        let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(dir.path()).expect("store"));
        let target = StorageTarget::Local { path: dir.path().to_owned() };
        let started = std::time::Instant::now();
        let err = write_config(store.as_ref(), "", &target, 1, false)
            .await
            .expect_err("an incomplete config is not replaced");
        assert!(started.elapsed() >= WINNER_WAIT, "the writer waited for a possible live winner first");
        assert!(err.to_string().contains("remove the incomplete config"), "the error says what to do: {err}");
        assert_eq!(std::fs::read(dir.path().join(CONFIG)).expect("read"), b"", "the file was left as it was");
    }
}
