//! Key objects of an encrypted repository (`keys/<id>`): each holds the master key sealed under
//! a key derived from a password (or a recovery key) with argon2id, the parameters recorded in
//! the object. A password opens the repository when any key object opens with it.
//!
//! A key object's name is the SHA-256 of its bytes (64 hex digits); OrgVault removes only
//! objects of that form that parse as its own key objects, and never the last one.

use arcgis::Secret;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::storage::StorageError;

use super::crypto::MasterKey;
use super::error::{RepoError, RepoResult};
use super::{object_path, Repository};

pub(crate) const KEYS: &str = "keys";
const KEY_FORMAT: &str = "orgvault-key";
/// A key object is a few hundred bytes; larger objects are not read.
const KEY_MAX: u64 = 16 * 1024;
/// At most this many key objects are tried with one password (each try costs an argon2id run).
const KEYS_TRIED: usize = 32;

/// What a key object's secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum KeyKind {
    /// A password a person chose.
    Password,
    /// The random recovery key shown once when the repository was created.
    Recovery,
}

/// argon2id parameters, recorded in every key object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KdfParams {
    algorithm: String,
    version: u32,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
}

impl KdfParams {
    /// For passwords: 64 MiB, 3 passes (RFC 9106's second recommendation, one lane).
    fn for_kind(kind: KeyKind) -> KdfParams {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        // A recovery key has 256 random bits: the KDF need not slow guessing down.
        let (memory_kib, iterations) = match kind {
            KeyKind::Password => (64 * 1024, 3),
            KeyKind::Recovery => (8 * 1024, 1),
        };
        KdfParams {
            algorithm: "argon2id".into(),
            version: 0x13,
            memory_kib,
            iterations,
            parallelism: 1,
            salt: B64.encode(salt),
        }
    }

    fn derive(&self, secret: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
        if self.algorithm != "argon2id" || self.version != 0x13 {
            return Err(format!("unknown KDF {} version {}", self.algorithm, self.version));
        }
        // Bounds, so a hostile key object cannot make an open take gigabytes or hours.
        if self.memory_kib > 4 * 1024 * 1024 || self.iterations > 64 || self.parallelism > 64 {
            return Err("KDF parameters out of bounds".into());
        }
        let salt = B64.decode(&self.salt).map_err(|e| format!("salt: {e}"))?;
        let params = argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|e| format!("KDF parameters: {e}"))?;
        let kdf = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        kdf.hash_password_into(secret, &salt, out.as_mut()).map_err(|e| format!("KDF: {e}"))?;
        Ok(out)
    }
}

/// The stored key object (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyObject {
    format: String,
    version: u32,
    kind: KeyKind,
    created_ms: i64,
    host: String,
    kdf: KdfParams,
    cipher: String,
    nonce: String,
    /// The sealed master key (JSON of [`Wrapped`]).
    data: String,
}

/// The plaintext a key object seals.
#[derive(Serialize, Deserialize)]
struct Wrapped {
    repository: String,
    encrypt: String,
    mac: String,
}

/// A key object as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct KeyInfo {
    /// The object's name (64 hex digits); `key remove` takes a unique prefix.
    pub id: String,
    pub kind: KeyKind,
    pub created_ms: i64,
    pub host: String,
    /// Whether this handle was opened with it.
    pub current: bool,
}

fn aad(repo_id: &str) -> Vec<u8> {
    format!("orgvault key {repo_id}").into_bytes()
}

fn seal_key(master: &MasterKey, repo_id: &str, kind: KeyKind, secret: &[u8], now_ms: i64) -> RepoResult<Vec<u8>> {
    let kdf = KdfParams::for_kind(kind);
    let wrapping = kdf.derive(secret).map_err(RepoError::KeyRefused)?;
    let wrapped = Zeroizing::new(
        serde_json::to_vec(&Wrapped {
            repository: repo_id.to_owned(),
            encrypt: B64.encode(master.encrypt.as_ref()),
            mac: B64.encode(master.mac.as_ref()),
        })
        .map_err(|e| RepoError::InvalidInput(e.to_string()))?,
    );
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(wrapping.as_ref().into());
    let data = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: &wrapped, aad: &aad(repo_id) })
        .map_err(|_| RepoError::KeyRefused("sealing the key failed".into()))?;
    let object = KeyObject {
        format: KEY_FORMAT.into(),
        version: 1,
        kind,
        created_ms: now_ms,
        host: crate::jobs::holder::host_name(),
        kdf,
        cipher: "xchacha20poly1305".into(),
        nonce: B64.encode(nonce),
        data: B64.encode(data),
    };
    serde_json::to_vec_pretty(&object).map_err(|e| RepoError::InvalidInput(e.to_string()))
}

/// Opens a key object with `secret`; `None` when the secret does not open it.
fn open_key(object: &KeyObject, repo_id: &str, secret: &[u8]) -> Option<MasterKey> {
    if object.cipher != "xchacha20poly1305" {
        return None;
    }
    let wrapping = object.kdf.derive(secret).ok()?;
    let nonce: [u8; 24] = B64.decode(&object.nonce).ok()?.try_into().ok()?;
    let data = B64.decode(&object.data).ok()?;
    let cipher = XChaCha20Poly1305::new(wrapping.as_ref().into());
    let plain = Zeroizing::new(cipher.decrypt(&XNonce::from(nonce), Payload { msg: &data, aad: &aad(repo_id) }).ok()?);
    let w: Wrapped = serde_json::from_slice(&plain).ok()?;
    if w.repository != repo_id {
        return None;
    }
    let key32 = |s: &str| -> Option<Zeroizing<[u8; 32]>> {
        let v = Zeroizing::new(B64.decode(s).ok()?);
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(v.get(..32).filter(|_| v.len() == 32)?);
        Some(out)
    };
    Some(MasterKey { encrypt: key32(&w.encrypt)?, mac: key32(&w.mac)? })
}

fn key_path(name: &str) -> String {
    format!("{KEYS}/{name}")
}

/// A recovery key: 32 random bytes as 52 base32 letters and digits in groups of four.
pub(crate) fn new_recovery_key() -> Secret {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    let text = base32(bytes.as_ref());
    let grouped: Vec<String> = text.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    Secret::new(grouped.join("-"))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(BASE32[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(BASE32[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The canonical form of a recovery key as typed (case and separators ignored), or `None` when
/// the text cannot be one.
fn as_recovery_key(text: &str) -> Option<String> {
    let canon: String = text.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
    (canon.len() == 52 && canon.bytes().all(|b| BASE32.contains(&b))).then_some(canon)
}

/// The secret bytes fed to the KDF for `kind`.
fn kdf_input(kind: KeyKind, secret: &Secret) -> Option<Zeroizing<Vec<u8>>> {
    match kind {
        KeyKind::Password => Some(Zeroizing::new(secret.expose().as_bytes().to_vec())),
        KeyKind::Recovery => as_recovery_key(secret.expose()).map(|c| Zeroizing::new(c.into_bytes())),
    }
}

/// Every key object OrgVault wrote: (name, object). Objects of another form are skipped.
async fn read_keys(store: &dyn ObjectStore, prefix: &str) -> RepoResult<Vec<(String, KeyObject)>> {
    let metas: Vec<_> = store
        .list(Some(&object_path(prefix, KEYS)))
        .try_collect()
        .await
        .map_err(|e| StorageError::from_store("list", KEYS, e))?;
    let mut out = Vec::new();
    for m in metas {
        let Some(name) = m.location.filename().map(str::to_owned) else { continue };
        let ours = name.len() == 64 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ours || m.size > KEY_MAX {
            tracing::warn!(object = %m.location, "ignoring a foreign object under keys/");
            continue;
        }
        let body = match store.get(&m.location).await {
            Ok(got) => got.bytes().await.map_err(|e| StorageError::from_store("read", &key_path(&name), e))?,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(StorageError::from_store("read", &key_path(&name), e).into()),
        };
        if hex::encode(Sha256::digest(&body)) != name {
            tracing::warn!(key = %name, "ignoring a key object that does not hash to its name");
            continue;
        }
        match serde_json::from_slice::<KeyObject>(&body) {
            Ok(k) if k.format == KEY_FORMAT && k.version == 1 => out.push((name, k)),
            _ => tracing::warn!(key = %name, "ignoring an unreadable key object"),
        }
    }
    out.sort_by(|a, b| a.1.created_ms.cmp(&b.1.created_ms).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// Writes a key object (create-only; its name is its hash) and returns its name.
async fn write_key(store: &dyn ObjectStore, prefix: &str, body: Vec<u8>) -> RepoResult<String> {
    let name = hex::encode(Sha256::digest(&body));
    let rel = key_path(&name);
    let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
    store
        .put_opts(&object_path(prefix, &rel), PutPayload::from(body), opts)
        .await
        .map_err(|e| StorageError::from_store("write", &rel, e))?;
    Ok(name)
}

/// At creation: the first password key and the recovery key, sealed (the slow part: two
/// argon2id runs) before anything is written, so the repository's config and its key objects
/// are written moments apart.
pub(crate) fn seal_new_keys(
    repo_id: &str,
    master: &MasterKey,
    password: &Secret,
    now_ms: i64,
) -> RepoResult<(Vec<Vec<u8>>, Secret)> {
    if password.is_empty() {
        return Err(RepoError::KeyRefused("the repository password is empty".into()));
    }
    let recovery = new_recovery_key();
    let rec_input = kdf_input(KeyKind::Recovery, &recovery).expect("a new recovery key is one");
    let rec = seal_key(master, repo_id, KeyKind::Recovery, &rec_input, now_ms)?;
    let pw = seal_key(master, repo_id, KeyKind::Password, password.expose().as_bytes(), now_ms)?;
    Ok((vec![rec, pw], recovery))
}

/// Writes sealed key objects; the name of the last (the password's) is returned.
pub(crate) async fn write_new_keys(store: &dyn ObjectStore, prefix: &str, bodies: Vec<Vec<u8>>) -> RepoResult<String> {
    let mut name = String::new();
    for body in bodies {
        name = write_key(store, prefix, body).await?;
    }
    Ok(name)
}

/// Finds the key object `secret` opens: recovery keys first when the text looks like one.
pub(crate) async fn unlock(
    store: &dyn ObjectStore,
    prefix: &str,
    repo_id: &str,
    location: &str,
    secret: &Secret,
) -> RepoResult<(MasterKey, String)> {
    let keys = read_keys(store, prefix).await?;
    if keys.is_empty() {
        return Err(RepoError::Format(format!(
            "{location} is encrypted but has no key object (its creation was interrupted, or keys/ was emptied)"
        )));
    }
    let recovery_first = as_recovery_key(secret.expose()).is_some();
    let mut order: Vec<&(String, KeyObject)> = keys.iter().collect();
    order.sort_by_key(|(_, k)| (k.kind == KeyKind::Recovery) != recovery_first);
    for (name, object) in order.into_iter().take(KEYS_TRIED) {
        let Some(input) = kdf_input(object.kind, secret) else { continue };
        let (object, input, repo) = (object.clone(), input, repo_id.to_owned());
        let opened = tokio::task::spawn_blocking(move || open_key(&object, &repo, &input))
            .await
            .map_err(|e| RepoError::InvalidInput(format!("key derivation stopped: {e}")))?;
        if let Some(master) = opened {
            return Ok((master, name.clone()));
        }
    }
    Err(RepoError::WrongPassword { location: location.to_owned(), keys: keys.len() })
}

impl Repository {
    fn crypto_or_refuse(&self) -> RepoResult<&super::crypto::Crypto> {
        self.inner.crypto.as_deref().ok_or_else(|| {
            RepoError::KeyRefused(format!("{} is not encrypted: it has no keys", self.inner.target.describe()))
        })
    }

    /// The key objects of an encrypted repository, oldest first.
    pub async fn keys(&self) -> RepoResult<Vec<KeyInfo>> {
        self.crypto_or_refuse()?;
        let current = self.inner.key_name.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(read_keys(self.store().as_ref(), &self.inner.prefix)
            .await?
            .into_iter()
            .map(|(name, k)| KeyInfo {
                current: current.as_deref() == Some(name.as_str()),
                id: name,
                kind: k.kind,
                created_ms: k.created_ms,
                host: k.host,
            })
            .collect())
    }

    /// Adds a password key object; any key (old password, new one, recovery key) then opens
    /// the repository.
    pub async fn add_key(&self, password: &Secret) -> RepoResult<KeyInfo> {
        let crypto = self.crypto_or_refuse()?;
        if password.is_empty() {
            return Err(RepoError::KeyRefused("the new password is empty".into()));
        }
        let (master, repo_id, now) = (crypto.master.clone(), self.id().to_owned(), self.now_ms());
        let input = Zeroizing::new(password.expose().as_bytes().to_vec());
        let body = tokio::task::spawn_blocking(move || seal_key(&master, &repo_id, KeyKind::Password, &input, now))
            .await
            .map_err(|e| RepoError::InvalidInput(format!("key derivation stopped: {e}")))??;
        let name = write_key(self.store().as_ref(), &self.inner.prefix, body).await?;
        tracing::info!(key = %&name[..8], "added a repository key");
        Ok(KeyInfo {
            id: name,
            kind: KeyKind::Password,
            created_ms: now,
            host: crate::jobs::holder::host_name(),
            current: false,
        })
    }

    /// Removes the key object whose name starts with `id_prefix` (at least 4 hex digits).
    /// Refused for the key this handle was opened with (use [`Repository::change_password`]),
    /// for the last key, and for anything that is not a key object OrgVault wrote.
    pub async fn remove_key(&self, id_prefix: &str) -> RepoResult<KeyInfo> {
        // Removing a key deletes an object: an append-only repository refuses before anything.
        self.require_delete("key remove").await?;
        let keys = self.keys().await?;
        let want = id_prefix.to_ascii_lowercase();
        if want.len() < 4 {
            return Err(RepoError::KeyRefused(format!("{id_prefix:?}: give at least 4 hex digits of the key id")));
        }
        let matching: Vec<&KeyInfo> = keys.iter().filter(|k| k.id.starts_with(&want)).collect();
        let key = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(RepoError::KeyRefused(format!("no key object of this repository has the id {id_prefix}")))
            }
            many => {
                return Err(RepoError::KeyRefused(format!(
                    "{id_prefix} is ambiguous: it starts {} key ids",
                    many.len()
                )))
            }
        };
        if key.current {
            return Err(RepoError::KeyRefused(format!(
                "key {} is the one this command opened the repository with; change it with `key passwd`, or open with another key to remove it",
                &key.id[..8]
            )));
        }
        if keys.len() <= 1 {
            return Err(RepoError::KeyRefused("the last key of a repository is never removed".into()));
        }
        self.delete_key(&key.id).await?;
        Ok(key)
    }

    /// Replaces the key this handle was opened with by a new password: the new key object is
    /// written (and read back) before the old one is deleted, so a crash in between leaves both
    /// usable, never neither.
    pub async fn change_password(&self, new_password: &Secret) -> RepoResult<KeyInfo> {
        // The old key object is deleted at the end: refuse first, before a new key is added.
        self.require_delete("key passwd").await?;
        let old = self.inner.key_name.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let added = self.add_key(new_password).await?;
        let present = read_keys(self.store().as_ref(), &self.inner.prefix).await?.iter().any(|(n, _)| n == &added.id);
        if !present {
            return Err(RepoError::KeyRefused("the new key object did not read back; the old key was kept".into()));
        }
        if let Some(old) = old {
            self.delete_key(&old).await?;
        }
        *self.inner.key_name.lock().unwrap_or_else(|p| p.into_inner()) = Some(added.id.clone());
        Ok(KeyInfo { current: true, ..added })
    }

    async fn delete_key(&self, name: &str) -> RepoResult<()> {
        let rel = key_path(name);
        match self.store().delete(&self.path(&rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                tracing::info!(key = %&name[..8], "removed a repository key");
                Ok(())
            }
            Err(e) => Err(StorageError::from_store("delete", &rel, e).into()),
        }
    }

    /// The recovery key, when this handle created the repository (shown once, then forgotten
    /// by OrgVault: only its key object remains).
    pub fn recovery_key(&self) -> Option<Secret> {
        self.inner.recovery.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_keys_read_back_whatever_their_case_and_separators() {
        let key = new_recovery_key();
        let text = key.expose();
        assert_eq!(text.len(), 52 + 12, "52 base32 characters in 13 groups of four");
        let canon = as_recovery_key(text).expect("its own form parses");
        assert_eq!(
            as_recovery_key(&text.to_lowercase().replace('-', " ")),
            Some(canon),
            "case and separators do not matter"
        );
        assert_eq!(as_recovery_key("correct horse battery staple"), None, "a password is not a recovery key");
    }

    #[test]
    fn a_key_object_opens_with_its_secret_only_and_for_its_repository_only() {
        let master = MasterKey::generate();
        let body = seal_key(&master, "repo-a", KeyKind::Password, b"s3cret", 1).expect("sealed");
        let object: KeyObject = serde_json::from_slice(&body).expect("parses");
        assert!(!String::from_utf8_lossy(&body).contains("s3cret"), "the password is not stored");
        let opened = open_key(&object, "repo-a", b"s3cret").expect("opens with its password");
        assert_eq!(*opened.encrypt, *master.encrypt, "the master key comes back");
        assert!(open_key(&object, "repo-a", b"wrong").is_none(), "a wrong password does not open it");
        assert!(
            open_key(&object, "repo-b", b"s3cret").is_none(),
            "a key object copied into another repository does not open"
        );
    }
}
