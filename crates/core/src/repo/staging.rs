//! The staging folder: large blobs are written here (hashed on the way), then uploaded, then
//! removed. For a local repository it is `<repo>/tmp/`, for Azure `<cache_dir>/staging/`.
//!
//! Each open repository handle that writes owns one sub-folder `<uuid>/`, created at its first
//! staged file (not at open, so a read-only destination can still be listed and verified), and
//! holds an OS lock on its `.lock` file for the rest of its life. A sub-folder whose lock can be
//! taken belongs to a process that is gone (crashed or killed), so it is removed at the next
//! open (best effort: nothing is removed where nothing can be written), at the first write and
//! by prune. The number of files staged at once is bounded by [`STAGING_SLOTS`], so the folder
//! never grows past that many blobs (two files each while compressing).

use std::path::{Path, PathBuf};
use std::time::Duration;

use fs4::fs_std::FileExt;
use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};

use crate::storage::StorageError;

use super::error::{RepoError, RepoResult};

/// Blobs staged at once per repository handle.
pub const STAGING_SLOTS: usize = 4;
const LOCK_FILE: &str = ".lock";
/// A sub-folder without a lock file is only removed once this old: it may be being created.
const UNLOCKED_GRACE: Duration = Duration::from_secs(600);

pub(crate) struct Staging {
    root: PathBuf,
    /// This handle's own sub-folder, once something was staged.
    own: OnceCell<OwnFolder>,
    slots: Semaphore,
}

/// A handle's sub-folder and the OS lock that marks it alive; removed when dropped.
struct OwnFolder {
    dir: PathBuf,
    _lock: std::fs::File,
}

impl Drop for OwnFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A staged file, removed when dropped (also when the upload fails or the task is cancelled).
pub(crate) struct StagedFile {
    pub path: PathBuf,
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Staging {
    /// Prepares staging under `root` without writing anything; leftovers of dead processes are
    /// removed where the file system allows it.
    pub(crate) async fn open(root: &Path) -> RepoResult<Staging> {
        let root = root.to_owned();
        let scan_root = root.clone();
        let cleaned = tokio::task::spawn_blocking(move || clean_dead(&scan_root)).await;
        match cleaned {
            Ok(Ok(removed)) if removed > 0 => {
                tracing::info!(folder = %root.display(), removed, "removed staging folders left by a crashed process");
            }
            Ok(Ok(_)) => {}
            // A destination we cannot clean (read-only, no permission) can still be read.
            Ok(Err(e)) => tracing::debug!(folder = %root.display(), "staging leftovers not cleaned at open: {e}"),
            Err(e) => tracing::debug!("staging clean-up stopped: {e}"),
        }
        Ok(Staging { root, own: OnceCell::new(), slots: Semaphore::new(STAGING_SLOTS) })
    }

    /// Waits for a staging slot; hold the permit while the file exists.
    pub(crate) async fn slot(&self) -> SemaphorePermit<'_> {
        // The semaphore is never closed.
        self.slots.acquire().await.expect("staging semaphore is never closed")
    }

    /// A new file name in this handle's sub-folder, creating the sub-folder at the first call.
    pub(crate) async fn new_file(&self, ext: &str) -> RepoResult<StagedFile> {
        let own = self.own.get_or_try_init(|| create_own(self.root.clone())).await?;
        Ok(StagedFile { path: own.dir.join(format!("{}.{ext}", uuid::Uuid::new_v4().simple())) })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }
}

async fn create_own(root: PathBuf) -> RepoResult<OwnFolder> {
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&root).map_err(|e| StorageError::io(&root, "staging folder cannot be created", e))?;
        let removed = clean_dead(&root)?;
        if removed > 0 {
            tracing::info!(folder = %root.display(), removed, "removed staging folders left by a crashed process");
        }
        let dir = root.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir(&dir).map_err(|e| StorageError::io(&dir, "staging folder cannot be created", e))?;
        let lock = std::fs::File::create(dir.join(LOCK_FILE)).map_err(|e| RepoError::io(&dir, e))?;
        if !lock.try_lock_exclusive().map_err(|e| RepoError::io(&dir, e))? {
            return Err(RepoError::Locked(format!("staging folder {} is in use", dir.display())));
        }
        Ok(OwnFolder { dir, _lock: lock })
    })
    .await
    .map_err(|e| RepoError::InvalidInput(format!("staging set-up stopped: {e}")))?
}

/// Removes staging sub-folders of processes that are gone; returns how many. Blocking.
pub(crate) fn clean_dead(root: &Path) -> RepoResult<usize> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(RepoError::io(root, e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            // Only our sub-folders belong here; a stray file from an older layout is garbage too.
            if std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
            continue;
        }
        let dead = match std::fs::OpenOptions::new().read(true).write(true).open(path.join(LOCK_FILE)) {
            // The lock is released when `lock` is dropped at the end of this arm.
            Ok(lock) => lock.try_lock_exclusive().unwrap_or(false),
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > UNLOCKED_GRACE),
        };
        if dead && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
