//! The vault key and where it is kept: the OS keyring, or a private key file.
//!
//! The choice, made once per data folder when the vault is created and then kept:
//! 1. `<data>/vault.key` exists, or `ORGVAULT_VAULT_KEY=file`: the key file. It is created with
//!    permissions 0600 and refused when group or others may read it.
//! 2. Otherwise the OS keyring (macOS Keychain, Windows Credential Manager, the Secret Service on
//!    Linux desktops), entry service `orgvault`, account `vault-key/<hash of the data folder>`.
//! 3. No keyring answers (a server, a container, a session without a keyring daemon): a key file.
//!
//! A vault that exists without a key is never silently replaced: that would lose every secret in
//! it. The error says where the key was expected.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use iota_stronghold::KeyProvider;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::stronghold::{FileLock, StrongholdVault};
use super::VaultError;

/// The vault file's name inside the data folder.
pub const VAULT_FILE_NAME: &str = "vault.stronghold";
/// The key file's name inside the data folder.
pub const KEY_FILE_NAME: &str = "vault.key";
/// Set to `file` to keep the key in `<data>/vault.key` even where an OS keyring exists (servers
/// whose scheduled jobs run outside a desktop session; tests).
pub const KEY_SOURCE_ENV: &str = "ORGVAULT_VAULT_KEY";

const KEYRING_SERVICE: &str = "orgvault";
/// A keyring that does not answer in this time is treated as absent (a D-Bus activation that
/// hangs must not hang a scheduled job).
const KEYRING_TIMEOUT: Duration = Duration::from_secs(10);

/// 32 random bytes that encrypt the vault file. `Debug` prints nothing of it; the bytes are
/// zeroed when dropped.
pub struct VaultKey(Zeroizing<Vec<u8>>);

impl VaultKey {
    pub const LEN: usize = 32;

    /// A new key from the OS random number generator.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; Self::LEN]);
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        VaultKey(bytes)
    }

    /// A key from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() == Self::LEN).then(|| VaultKey(Zeroizing::new(bytes.to_vec())))
    }

    /// The key as 64 lowercase hexadecimal characters, the form kept in files and keyrings.
    fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(&*self.0))
    }

    fn from_hex(text: &str) -> Option<Self> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).ok()?);
        Self::from_bytes(&bytes)
    }

    pub(super) fn into_provider(self) -> Result<KeyProvider, VaultError> {
        KeyProvider::try_from(self.0).map_err(|e| VaultError::Engine(format!("the key cannot be guarded: {e:?}")))
    }
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKey(***)")
    }
}

/// Where the vault key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultKeySource {
    OsKeyring,
    KeyFile(PathBuf),
}

impl std::fmt::Display for VaultKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VaultKeySource::OsKeyring => f.write_str("the OS keyring"),
            VaultKeySource::KeyFile(p) => write!(f, "the key file {}", p.display()),
        }
    }
}

/// Opens the data folder's vault (`<data>/vault.stronghold`), finding or creating its key as the
/// module documentation describes.
pub fn open_default(data_dir: &Path) -> Result<(StrongholdVault, VaultKeySource), VaultError> {
    std::fs::create_dir_all(data_dir).map_err(|e| VaultError::io("create", data_dir, e))?;
    let vault_path = data_dir.join(VAULT_FILE_NAME);
    let key_path = data_dir.join(KEY_FILE_NAME);
    // Two first starts at once (app and CLI) must agree on one key.
    let _lock = FileLock::exclusive(&data_dir.join("vault.key.lock"))?;
    let vault_exists = vault_path.exists();
    let forced_file = std::env::var(KEY_SOURCE_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("file"));

    if key_path.exists() || forced_file {
        let key = key_file(&key_path, vault_exists)?;
        return Ok((StrongholdVault::open(&vault_path, key)?, VaultKeySource::KeyFile(key_path)));
    }
    let account = keyring_account(data_dir);
    match keyring_get(&account) {
        Ok(Some(key)) => return Ok((StrongholdVault::open(&vault_path, key)?, VaultKeySource::OsKeyring)),
        Ok(None) if vault_exists => {
            return Err(VaultError::KeyMissing {
                vault: vault_path,
                detail: format!(
                    "neither {} nor an entry in the OS keyring holds it; restore the key file from your backup of the data folder",
                    key_path.display()
                ),
            })
        }
        Ok(None) => {
            let key = VaultKey::generate();
            match keyring_set(&account, &key) {
                Ok(()) => {
                    // Read it back: some keyrings accept a write they do not keep.
                    if let Ok(Some(back)) = keyring_get(&account) {
                        if back.0 == key.0 {
                            tracing::info!("new vault key kept in the OS keyring");
                            return Ok((StrongholdVault::open(&vault_path, key)?, VaultKeySource::OsKeyring));
                        }
                    }
                    tracing::warn!("the OS keyring did not keep the vault key; using a key file instead");
                }
                Err(e) => tracing::warn!(error = %e, "the OS keyring refused the vault key; using a key file instead"),
            }
        }
        Err(e) if vault_exists => {
            return Err(VaultError::KeyMissing {
                vault: vault_path,
                detail: format!(
                    "its key is kept in the OS keyring, which is not available here ({e}); run OrgVault in the desktop session that created it, or, for unattended jobs, create the vault with {KEY_SOURCE_ENV}=file"
                ),
            })
        }
        Err(e) => tracing::info!(error = %e, "no OS keyring answers; the vault key goes to a key file"),
    }
    let key = key_file(&key_path, false)?;
    Ok((StrongholdVault::open(&vault_path, key)?, VaultKeySource::KeyFile(key_path)))
}

/// The keyring account of one data folder, so two data folders keep two keys.
fn keyring_account(data_dir: &Path) -> String {
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let digest = Sha256::digest(dir.to_string_lossy().as_bytes());
    format!("vault-key/{}", &hex::encode(digest)[..16])
}

/// Runs a keyring call on its own thread, giving up after [`KEYRING_TIMEOUT`].
fn with_timeout<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, keyring::Error> + Send + 'static,
) -> Result<T, VaultError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("orgvault-keyring".into())
        .spawn(move || {
            let _ = tx.send(call());
        })
        .map_err(|e| VaultError::Keyring(format!("cannot start the keyring call: {e}")))?;
    match rx.recv_timeout(KEYRING_TIMEOUT) {
        Ok(r) => r.map_err(|e| VaultError::Keyring(describe_keyring_error(&e))),
        Err(_) => Err(VaultError::Keyring(format!("no answer within {} s", KEYRING_TIMEOUT.as_secs()))),
    }
}

/// keyring's messages name the platform failure, never the stored value; we keep only the kind.
fn describe_keyring_error(e: &keyring::Error) -> String {
    match e {
        keyring::Error::PlatformFailure(inner) => format!("platform failure: {inner}"),
        keyring::Error::NoStorageAccess(inner) => format!("no access to the keyring: {inner}"),
        keyring::Error::NoEntry => "no entry".into(),
        keyring::Error::BadEncoding(_) => "the stored entry is not text".into(),
        other => other.to_string(),
    }
}

fn keyring_get(account: &str) -> Result<Option<VaultKey>, VaultError> {
    let account = account.to_owned();
    let text = with_timeout(move || {
        let entry = keyring::Entry::new(KEYRING_SERVICE, &account)?;
        match entry.get_password() {
            Ok(p) => Ok(Some(Zeroizing::new(p))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        }
    })?;
    match text {
        None => Ok(None),
        Some(t) => VaultKey::from_hex(&t)
            .map(Some)
            .ok_or_else(|| VaultError::Keyring("the keyring entry does not hold a vault key".into())),
    }
}

fn keyring_set(account: &str, key: &VaultKey) -> Result<(), VaultError> {
    let account = account.to_owned();
    let hex = key.to_hex();
    with_timeout(move || keyring::Entry::new(KEYRING_SERVICE, &account)?.set_password(&hex))
}

/// Reads the key file, or creates it (0600) when it is missing and `vault_exists` is false.
fn key_file(path: &Path, vault_exists: bool) -> Result<VaultKey, VaultError> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            check_private(path, &meta)?;
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| VaultError::io("read", path, e))?);
            VaultKey::from_hex(&text).ok_or_else(|| VaultError::BadKeyFile {
                path: path.to_owned(),
                detail: format!("expected {} hexadecimal characters", VaultKey::LEN * 2),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if vault_exists {
                return Err(VaultError::KeyMissing {
                    vault: path.with_file_name(VAULT_FILE_NAME),
                    detail: format!("{} is missing; restore it from your backup of the data folder", path.display()),
                });
            }
            let key = VaultKey::generate();
            write_key_file(path, &key)?;
            tracing::info!(path = %path.display(), "new vault key file created");
            Ok(key)
        }
        Err(e) => Err(VaultError::io("read", path, e)),
    }
}

/// Refuses a key file that the group or others may read or write.
#[cfg(unix)]
pub(crate) fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::KeyFilePermissions { path: path.to_owned(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), VaultError> {
    // Windows: the file inherits the ACL of the user's profile folder, readable by its owner only.
    Ok(())
}

/// Writes a new key file: private from its first byte (created 0600), complete before it appears.
fn write_key_file(path: &Path, key: &VaultKey) -> Result<(), VaultError> {
    let tmp = path.with_file_name(format!("{KEY_FILE_NAME}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(&tmp).map_err(|e| VaultError::io("create", &tmp, e))?;
    let mut text = key.to_hex();
    text.push('\n');
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| VaultError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| VaultError::io("create", path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_hex_and_hide_in_debug() {
        let key = VaultKey::generate();
        let hex = key.to_hex();
        assert_eq!(hex.len(), 64, "32 bytes are 64 hex characters");
        let back = VaultKey::from_hex(&hex).expect("hex of a key is a key");
        assert_eq!(*back.0, *key.0, "hex round trip keeps the key");
        assert!(!format!("{key:?}").contains(&hex[..8]), "Debug must not show the key");
        assert!(VaultKey::from_hex("abcd").is_none(), "a short key is refused");
        assert!(VaultKey::from_bytes(&[0u8; 31]).is_none(), "a key is exactly 32 bytes");
    }

    #[test]
    fn each_data_folder_has_its_own_keyring_account() {
        let a = keyring_account(Path::new("/nonexistent/a"));
        let b = keyring_account(Path::new("/nonexistent/b"));
        assert_ne!(a, b, "two data folders must not share a vault key");
        assert!(a.starts_with("vault-key/"), "the account names what it holds: {a}");
    }
}
