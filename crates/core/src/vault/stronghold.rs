//! [`StrongholdVault`]: secrets in an encrypted `iota_stronghold` snapshot file.
//!
//! The secrets sit in the store of one Stronghold client; the snapshot file holding it is
//! encrypted (age/XChaCha20-Poly1305) under the 32-byte [`VaultKey`]. Every write reloads the
//! file if another process changed it, applies the change, writes a complete new snapshot to
//! `<vault>.tmp` and renames it over the vault, all under an exclusive lock on `<vault>.lock`.
//! A crash at any point leaves the previous vault whole; a leftover temporary file is ignored
//! and overwritten by the next write.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fs4::fs_std::FileExt;
use iota_stronghold::engine::snapshot as engine_snapshot;
use iota_stronghold::{Client, KeyProvider, SnapshotPath, Stronghold};
use zeroize::Zeroizing;

use super::key::VaultKey;
use super::{SecretKey, SecretStore, VaultError};

/// The one Stronghold client whose store holds OrgVault's secrets.
const CLIENT_PATH: &[u8] = b"orgvault-secrets";

/// The age scrypt work factor of the snapshot file. Stronghold's default (19: 512 MiB and about a
/// second per read or write, far more unoptimized) exists to slow down guessing of weak
/// passphrases. Our key is 32 uniformly random bytes: guessing is hopeless at any work factor,
/// so a small one costs nothing in safety and keeps every vault access fast.
const WORK_FACTOR: u8 = 10;

/// Identifies one version of the vault file; a rename gives a new inode, a write a new mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Result<Option<FileStamp>, VaultError> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(FileStamp {
                len: m.len(),
                modified: m.modified().ok(),
                #[cfg(unix)]
                inode: std::os::unix::fs::MetadataExt::ino(&m),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(VaultError::io("read", path, e)),
        }
    }
}

struct Loaded {
    stronghold: Stronghold,
    client: Client,
    /// The file version `client` was loaded from; `None` when the file did not exist.
    stamp: Option<FileStamp>,
    /// Set when a write failed half-way: memory may hold a change the file does not.
    stale: bool,
}

/// A [`SecretStore`] in one encrypted Stronghold snapshot file. Several processes may use the same
/// file; each sees the others' writes on its next call.
pub struct StrongholdVault {
    path: PathBuf,
    key: KeyProvider,
    state: Mutex<Loaded>,
}

impl std::fmt::Debug for StrongholdVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrongholdVault").field("path", &self.path).finish_non_exhaustive()
    }
}

impl StrongholdVault {
    /// Opens the vault at `path` with `key`, or prepares a new one there (the file is written on
    /// the first `put`). Fails with [`VaultError::WrongKey`] when the file exists and `key` does
    /// not decrypt it, [`VaultError::NotAVault`] when it is not a Stronghold snapshot.
    pub fn open(path: &Path, key: VaultKey) -> Result<Self, VaultError> {
        let key = key.into_provider()?;
        let loaded = load(path, &key)?;
        Ok(StrongholdVault { path: path.to_owned(), key, state: Mutex::new(loaded) })
    }

    /// The vault file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reloads when another process replaced the file since we read it.
    fn refresh(&self, st: &mut Loaded) -> Result<(), VaultError> {
        if st.stale || FileStamp::of(&self.path)? != st.stamp {
            *st = load(&self.path, &self.key)?;
        }
        Ok(())
    }

    /// Runs `change` on the freshest state and writes the result, holding the cross-process lock.
    fn write(&self, change: impl FnOnce(&Client) -> Result<(), VaultError>) -> Result<(), VaultError> {
        let _lock = FileLock::exclusive(&lock_path(&self.path))?;
        let mut st = self.lock_state();
        self.refresh(&mut st)?;
        st.stale = true;
        change(&st.client)?;
        commit(&st.stronghold, &self.path, &self.key)?;
        st.stamp = FileStamp::of(&self.path)?;
        st.stale = false;
        Ok(())
    }
}

impl SecretStore for StrongholdVault {
    fn put(&self, key: &SecretKey, value: &[u8]) -> Result<(), VaultError> {
        self.write(|client| {
            client.store().insert(key.as_str().as_bytes().to_vec(), value.to_vec(), None).map_err(engine)?;
            Ok(())
        })?;
        tracing::debug!(secret = %key, "secret stored in the vault");
        Ok(())
    }

    fn get(&self, key: &SecretKey) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        // Readers need no lock: the file is only ever replaced whole by a rename.
        let mut st = self.lock_state();
        self.refresh(&mut st)?;
        Ok(st.client.store().get(key.as_str().as_bytes()).map_err(engine)?.map(Zeroizing::new))
    }

    fn remove(&self, key: &SecretKey) -> Result<(), VaultError> {
        {
            let mut st = self.lock_state();
            self.refresh(&mut st)?;
            if !st.client.store().contains_key(key.as_str().as_bytes()).map_err(engine)? {
                return Ok(());
            }
        }
        self.write(|client| {
            // Dropping the removed value zeroizes nothing in Stronghold's copy; ours goes at once.
            drop(client.store().delete(key.as_str().as_bytes()).map_err(engine)?.map(Zeroizing::new));
            Ok(())
        })?;
        tracing::debug!(secret = %key, "secret removed from the vault");
        Ok(())
    }
}

fn engine(e: iota_stronghold::ClientError) -> VaultError {
    VaultError::Engine(e.to_string())
}

fn lock_path(vault: &Path) -> PathBuf {
    sibling(vault, "lock")
}

fn temp_path(vault: &Path) -> PathBuf {
    sibling(vault, "tmp")
}

fn sibling(vault: &Path, ext: &str) -> PathBuf {
    let mut name = vault.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".");
    name.push(ext);
    vault.with_file_name(name)
}

/// Reads the vault file, or starts an empty vault when there is none.
fn load(path: &Path, key: &KeyProvider) -> Result<Loaded, VaultError> {
    let stamp = FileStamp::of(path)?;
    let stronghold = Stronghold::default();
    if stamp.is_none() {
        let client = stronghold.create_client(CLIENT_PATH).map_err(engine)?;
        return Ok(Loaded { stronghold, client, stamp, stale: false });
    }
    check_header(path)?;
    let client = stronghold.load_client_from_snapshot(CLIENT_PATH, key, &SnapshotPath::from_path(path)).map_err(
        |e| match e {
            // A readable header with an undecryptable body: the key is not this file's.
            iota_stronghold::ClientError::Inner(_) => VaultError::WrongKey { path: path.to_owned() },
            other => engine(other),
        },
    )?;
    Ok(Loaded { stronghold, client, stamp, stale: false })
}

/// Tells a file that is not a snapshot (truncated, another format) from a wrong key.
fn check_header(path: &Path) -> Result<(), VaultError> {
    let mut head = [0u8; 5];
    let mut file = File::open(path).map_err(|e| VaultError::io("open", path, e))?;
    let read = file.read(&mut head).map_err(|e| VaultError::io("read", path, e))?;
    if read < head.len() || head != engine_snapshot::MAGIC {
        return Err(VaultError::NotAVault {
            path: path.to_owned(),
            detail: "it does not start with the Stronghold snapshot header".into(),
        });
    }
    Ok(())
}

/// Writes the whole vault to the temporary file, makes it private, and renames it over the vault.
fn commit(stronghold: &Stronghold, path: &Path, key: &KeyProvider) -> Result<(), VaultError> {
    engine_snapshot::try_set_encrypt_work_factor(WORK_FACTOR)
        .map_err(|e| VaultError::Engine(format!("work factor: {e}")))?;
    let tmp = temp_path(path);
    stronghold.commit_with_keyprovider(&SnapshotPath::from_path(&tmp), key).map_err(engine)?;
    make_private(&tmp)?;
    // The engine synced the data; the rename is the commit point.
    std::fs::rename(&tmp, path).map_err(|e| VaultError::io("replace", path, e))?;
    sync_dir(path);
    Ok(())
}

#[cfg(unix)]
fn make_private(path: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| VaultError::io("restrict the permissions of", path, e))
}

#[cfg(not(unix))]
fn make_private(_path: &Path) -> Result<(), VaultError> {
    // On Windows the file inherits the ACL of the user's profile folder.
    Ok(())
}

/// Makes the rename durable; a failure only weakens durability, so it is logged.
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            tracing::warn!(error = %e, dir = %dir.display(), "could not sync the vault folder");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// An exclusive advisory lock on a file, released on drop.
pub(super) struct FileLock(File);

impl FileLock {
    pub(super) fn exclusive(path: &Path) -> Result<FileLock, VaultError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| VaultError::io("create", dir, e))?;
        }
        let mut opts = OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(path).map_err(|e| VaultError::io("open", path, e))?;
        FileExt::lock_exclusive(&file).map_err(|e| VaultError::io("lock", path, e))?;
        Ok(FileLock(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sibling_files_sit_next_to_the_vault() {
        let v = Path::new("/data/vault.stronghold");
        assert_eq!(temp_path(v), Path::new("/data/vault.stronghold.tmp"), "the temporary file is a sibling");
        assert_eq!(lock_path(v), Path::new("/data/vault.stronghold.lock"), "the lock file is a sibling");
    }
}
