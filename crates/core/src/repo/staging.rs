//! The staging folder: large blobs are written here (hashed on the way), then uploaded, then
//! removed. For a local repository it is `<repo>/tmp/`, for Azure `<cache_dir>/staging/`.
//!
//! Each open repository handle that writes owns one sub-folder `orgvault-<32 hex>/`, created at
//! its first staged file (not at open, so a read-only destination can still be listed and
//! verified), with a `.orgvault-staging.lock` file written at creation on which it holds an OS
//! lock for the rest of its life. Clean-up removes only such folders: a real folder (not a link)
//! of that name holding that lock file, whose lock can be taken because the process that made
//! it is gone. Nothing else under the staging root is touched: no plain file, no link, no folder
//! of another name. This happens at the next open (best effort: nothing is removed where nothing
//! can be written), at the first write and in prune. The number of files staged at once is
//! bounded by [`STAGING_SLOTS`], so a folder never grows past that many blobs (two files each
//! while compressing), plus one document being composed per subject backed up (`blob_file`:
//! the query fallback's features, written without a slot while it waits on downloads).

use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;
use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};

use crate::storage::StorageError;

use super::error::{RepoError, RepoResult};

/// Blobs staged at once per repository handle.
pub const STAGING_SLOTS: usize = 4;
/// The name of a staging folder is this prefix and 32 hex digits (a UUID).
const FOLDER_PREFIX: &str = "orgvault-";
const LOCK_FILE: &str = ".orgvault-staging.lock";

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
        let dir = root.join(format!("{FOLDER_PREFIX}{}", uuid::Uuid::new_v4().simple()));
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

/// Whether `name` is the name of a staging folder OrgVault makes.
fn is_staging_name(name: &str) -> bool {
    name.strip_prefix(FOLDER_PREFIX)
        .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// Removes the staging folders of processes that are gone; returns how many. Blocking.
pub(crate) fn clean_dead(root: &Path) -> RepoResult<usize> {
    match root.symlink_metadata() {
        Ok(m) if m.is_dir() => {}
        // Missing, or a link or file where the staging root should be: not ours to walk.
        Ok(_) => return Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(RepoError::io(root, e)),
    }
    let entries = std::fs::read_dir(root).map_err(|e| RepoError::io(root, e))?;
    let mut removed = 0;
    for entry in entries.flatten() {
        // `DirEntry::file_type` does not follow links: a link is never a staging folder.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || !entry.file_name().to_str().is_some_and(is_staging_name) {
            continue;
        }
        let path = entry.path();
        let lock_path = path.join(LOCK_FILE);
        if !lock_path.symlink_metadata().is_ok_and(|m| m.is_file()) {
            // Without its lock file the folder cannot be proven ours and dead: left alone.
            continue;
        }
        let dead = match std::fs::OpenOptions::new().read(true).write(true).open(&lock_path) {
            // The lock is released when `lock` is dropped at the end of this arm.
            Ok(lock) => lock.try_lock_exclusive().unwrap_or(false),
            Err(_) => false,
        };
        if dead && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_orgvault_staging_names_are_recognised() {
        assert!(is_staging_name("orgvault-0123456789abcdef0123456789abcdef"), "our own folder name");
        for other in
            ["0123456789abcdef0123456789abcdef", "orgvault-xyz", "orgvault-0123456789ABCDEF0123456789ABCDEF", "photos"]
        {
            assert!(!is_staging_name(other), "{other:?} is not a staging folder OrgVault makes");
        }
    }
}
