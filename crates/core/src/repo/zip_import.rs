//! Zip import: reads an export back into the repository as a snapshot. Every entry name is
//! checked before anything is stored (no absolute paths, no `..`: zip slip), the manifest is
//! checked field by field, and every file's content must hash to the blob id the manifest gives.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use arcgis::Secret;
use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::blob::{BlobId, BlobRef};
use super::error::{RepoError, RepoResult};
use super::lock::LockKind;
use super::manifest::{FailedEntry, GroupEntry, ItemEntry, Manifest, UserEntry};
use super::snapshot::SnapshotId;
use super::zip_export::{ExportHeader, EXPORT_FORMAT, EXPORT_VERSION, MANIFEST_ENTRY};
use super::Repository;

/// Entries up to this size are read into memory; larger ones go through a staging file.
const IN_MEMORY_MAX: u64 = 8 * 1024 * 1024;
/// The largest `manifest.json` read: it is parsed whole, and 1 GiB is the manifest of about a
/// million items.
const MANIFEST_ENTRY_MAX: u64 = 1024 * 1024 * 1024;

enum Content {
    Bytes(Bytes),
    File(super::staging::StagedFile),
}

impl Repository {
    /// Imports an export made by [`Repository::export_zip`] (or by hand, in the same layout) and
    /// returns the snapshot id. Refuses, naming the entry or field: entries whose path escapes
    /// the folder, a missing or malformed `manifest.json`, a file missing or not matching its
    /// blob id, and a manifest blob with no file. Memory stays bounded whatever the zip holds:
    /// `manifest.json` is read up to its declared size (at most 1 GiB), every other entry up to
    /// the size the manifest records for it, which must be the size the zip declares. Holds a shared lock while writing.
    pub async fn import_zip(&self, zip_path: &Path) -> RepoResult<SnapshotId> {
        self.import_zip_with(zip_path, None).await
    }

    /// As [`Repository::import_zip`], for a zip whose entries are AES-encrypted with
    /// `password`. Files are checked against the zip's plain SHA-256 ids and stored under
    /// this repository's ids (keyed when it is encrypted); the manifest follows.
    pub async fn import_zip_with(&self, zip_path: &Path, password: Option<&Secret>) -> RepoResult<SnapshotId> {
        let password: Pw = password.map(|p| std::sync::Arc::new(Zeroizing::new(p.expose().as_bytes().to_vec())));
        let path = zip_path.to_owned();
        let zerr =
            move |entry: &str, reason: String| RepoError::Zip { path: path.clone(), entry: entry.to_owned(), reason };
        let (header, mut archive) = {
            let zip_path = zip_path.to_owned();
            let (zerr, password) = (zerr.clone(), password.clone());
            tokio::task::spawn_blocking(move || open_checked(&zip_path, &zerr, &password))
                .await
                .map_err(|e| RepoError::InvalidInput(format!("zip reader stopped: {e}")))??
        };
        let lock = self.lock(LockKind::Shared).await?;
        let result = async {
            let mut done: HashSet<BlobId> = HashSet::new();
            let mut ids: HashMap<BlobId, BlobRef> = HashMap::new();
            for file in &header.files {
                if !done.insert(file.blob.clone()) {
                    continue;
                }
                let staged = self.inner.staging.new_file("zip").await?;
                let (name, expected) = (file.path.clone(), file.size);
                let (z, pw) = (zerr.clone(), password.clone());
                let (content, back) = tokio::task::spawn_blocking(move || {
                    let content = read_entry(&mut archive, &name, expected, staged, &z, &pw);
                    (content, archive)
                })
                .await
                .map_err(|e| RepoError::InvalidInput(format!("zip reader stopped: {e}")))?;
                archive = back;
                let (content, plain) = content?;
                let stored = match content {
                    Content::Bytes(b) => self.put_blob_bytes(b).await?,
                    Content::File(f) => {
                        let reader = tokio::fs::File::open(&f.path).await.map_err(|e| RepoError::io(&f.path, e))?;
                        let blob = self.put_blob_stream(tokio_util::io::ReaderStream::new(reader)).await?;
                        drop(f);
                        blob
                    }
                };
                if plain != file.blob || stored.size != file.size {
                    return Err(zerr(
                        &file.path,
                        format!("content does not match blob {} in {MANIFEST_ENTRY}", file.blob),
                    ));
                }
                ids.insert(plain, stored);
            }
            let mut manifest = header.manifest;
            manifest.map_blob_refs(&mut |b| ids.get(&b.id).cloned().unwrap_or_else(|| b.clone()));
            self.write_snapshot(&manifest).await
        }
        .await;
        lock.release().await?;
        result
    }
}

type ZipErr = dyn Fn(&str, String) -> RepoError;
/// The zip's password, shared with the reading threads.
type Pw = Option<std::sync::Arc<Zeroizing<Vec<u8>>>>;

/// Opens an entry, decrypting it with the password when it is encrypted.
fn entry<'a>(
    archive: &'a mut zip::ZipArchive<std::io::BufReader<std::fs::File>>,
    name: &str,
    password: &Pw,
    zerr: &ZipErr,
) -> RepoResult<zip::read::ZipFile<'a, std::io::BufReader<std::fs::File>>> {
    let got = match password {
        Some(pw) => archive.by_name_decrypt(name, pw),
        None => archive.by_name(name),
    };
    got.map_err(|e| match e {
        zip::result::ZipError::UnsupportedArchive(zip::result::ZipError::PASSWORD_REQUIRED) => {
            zerr(name, "the zip is encrypted: give its password (--zip-password-env VAR)".into())
        }
        zip::result::ZipError::InvalidPassword => zerr(name, "the zip password is wrong".into()),
        e => zerr(name, format!("unreadable: {e}")),
    })
}

fn open_checked(
    zip_path: &Path,
    zerr: &ZipErr,
    password: &Pw,
) -> RepoResult<(ExportHeader, zip::ZipArchive<std::io::BufReader<std::fs::File>>)> {
    let file = std::fs::File::open(zip_path).map_err(|e| RepoError::io(zip_path, e))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| zerr("(archive)", format!("not a readable zip: {e}")))?;
    // Every entry's name and the size the zip declares for it.
    let mut names: HashMap<String, u64> = HashMap::new();
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| zerr(&format!("#{i}"), e.to_string()))?;
        let name = entry.name().to_owned();
        let escapes = entry.enclosed_name().is_none()
            || name.starts_with('/')
            || name.contains('\\')
            || name.split('/').any(|s| s == "..");
        if escapes {
            return Err(zerr(&name, "its path escapes the target folder (zip slip); refusing the whole zip".into()));
        }
        names.insert(name, entry.size());
    }
    if !names.contains_key(MANIFEST_ENTRY) {
        return Err(zerr(MANIFEST_ENTRY, "missing: this is not an OrgVault export".into()));
    }
    let text = read_manifest_entry(&mut archive, zerr, password)?;
    let header = parse_header(&text).map_err(|reason| zerr(MANIFEST_ENTRY, reason))?;
    drop(text);
    let mut covered: HashMap<&BlobId, &str> = HashMap::new();
    for (i, f) in header.files.iter().enumerate() {
        let Some(&declared) = names.get(&f.path) else {
            return Err(zerr(MANIFEST_ENTRY, format!("files[{i}].path: {:?} is not in the zip", f.path)));
        };
        // Before anything is read or stored: the size the zip declares for the entry must be
        // the size the manifest records, which then bounds what is decompressed.
        if declared != f.size {
            return Err(zerr(
                &f.path,
                format!(
                    "its size in the zip ({declared} bytes) does not match the {} bytes recorded in {MANIFEST_ENTRY}",
                    f.size
                ),
            ));
        }
        covered.insert(&f.blob, &f.path);
    }
    for u in header.manifest.blob_uses() {
        if !covered.contains_key(&u.blob.id) {
            return Err(zerr(
                MANIFEST_ENTRY,
                format!(
                    "{:?} {} {}: its content (blob {}) has no file in the zip",
                    u.owner.kind, u.owner.id, u.part, u.blob.id
                ),
            ));
        }
    }
    Ok((header, archive))
}

/// Reads `manifest.json`, decompressing no more than the size the zip declares for it, which
/// may not exceed [`MANIFEST_ENTRY_MAX`].
fn read_manifest_entry(
    archive: &mut zip::ZipArchive<std::io::BufReader<std::fs::File>>,
    zerr: &ZipErr,
    password: &Pw,
) -> RepoResult<Vec<u8>> {
    let entry = entry(archive, MANIFEST_ENTRY, password, zerr)?;
    let declared = entry.size();
    if declared > MANIFEST_ENTRY_MAX {
        return Err(zerr(
            MANIFEST_ENTRY,
            format!("its size in the zip ({declared} bytes) is over the limit of {MANIFEST_ENTRY_MAX} bytes"),
        ));
    }
    let mut text = Vec::with_capacity(declared.min(IN_MEMORY_MAX) as usize);
    entry.take(declared + 1).read_to_end(&mut text).map_err(|e| zerr(MANIFEST_ENTRY, format!("unreadable: {e}")))?;
    if text.len() as u64 > declared {
        return Err(zerr(
            MANIFEST_ENTRY,
            format!("it decompresses to more than the {declared} bytes its zip entry declares"),
        ));
    }
    Ok(text)
}

/// Parses `manifest.json`, naming the first bad field (`manifest.items[3]: missing field ...`).
fn parse_header(text: &[u8]) -> Result<ExportHeader, String> {
    let value: Value = serde_json::from_slice(text).map_err(|e| format!("malformed JSON: {e}"))?;
    let obj = value.as_object().ok_or("malformed: the top level is not an object")?;
    match obj.get("format").and_then(Value::as_str) {
        Some(EXPORT_FORMAT) => {}
        Some(other) => return Err(format!("format: {other:?} is not {EXPORT_FORMAT:?}")),
        None => return Err("format: missing".into()),
    }
    match obj.get("version").and_then(Value::as_u64) {
        Some(v) if v >= 1 && v <= EXPORT_VERSION as u64 => {}
        Some(v) => return Err(format!("version: {v} is not supported (up to {EXPORT_VERSION})")),
        None => return Err("version: missing or not a number".into()),
    }
    let manifest = obj.get("manifest").ok_or("manifest: missing")?;
    if let Err(e) = serde_json::from_value::<Manifest>(manifest.clone()) {
        return Err(locate(manifest).unwrap_or_else(|| format!("manifest: {e}")));
    }
    let header: ExportHeader = serde_json::from_value(value.clone()).map_err(|e| format!("malformed: {e}"))?;
    header.manifest.validate().map_err(|e| format!("manifest.{e}"))?;
    Ok(header)
}

/// Finds the first element of the manifest's lists that does not parse.
fn locate(manifest: &Value) -> Option<String> {
    fn first_bad<T: serde::de::DeserializeOwned>(m: &Value, key: &str) -> Option<String> {
        let list = m.get(key)?.as_array()?;
        list.iter().enumerate().find_map(|(i, v)| {
            serde_json::from_value::<T>(v.clone()).err().map(|e| format!("manifest.{key}[{i}]: {e}"))
        })
    }
    first_bad::<ItemEntry>(manifest, "items")
        .or_else(|| first_bad::<UserEntry>(manifest, "users"))
        .or_else(|| first_bad::<GroupEntry>(manifest, "groups"))
        .or_else(|| first_bad::<FailedEntry>(manifest, "failed"))
}

/// Extracts one entry holding `expected` bytes (the size the manifest records and the zip
/// declares, checked equal when the zip was opened), decompressing no more than that: a
/// deflate stream that expands further is refused, in memory or on disk.
fn read_entry(
    archive: &mut zip::ZipArchive<std::io::BufReader<std::fs::File>>,
    name: &str,
    expected: u64,
    staged: super::staging::StagedFile,
    zerr: &ZipErr,
    password: &Pw,
) -> RepoResult<(Content, BlobId)> {
    let entry = entry(archive, name, password, zerr)?;
    // The zip's ids are the plain SHA-256 of each file, whatever the repository's ids are.
    let mut bounded = Hashing { inner: entry.take(expected.saturating_add(1)), sha: Sha256::new() };
    let too_long =
        || zerr(name, format!("it decompresses to more than the {expected} bytes recorded in {MANIFEST_ENTRY}"));
    if expected <= IN_MEMORY_MAX {
        let mut buf = Vec::with_capacity(expected as usize);
        bounded.read_to_end(&mut buf).map_err(|e| zerr(name, format!("unreadable: {e}")))?;
        if buf.len() as u64 > expected {
            return Err(too_long());
        }
        return Ok((Content::Bytes(Bytes::from(buf)), BlobId::from_digest(&bounded.sha.finalize())));
    }
    let out: PathBuf = staged.path.clone();
    let mut file = std::fs::File::create(&out).map_err(|e| RepoError::io(&out, e))?;
    let written = std::io::copy(&mut bounded, &mut file).map_err(|e| zerr(name, format!("cannot extract: {e}")))?;
    if written > expected {
        return Err(too_long());
    }
    Ok((Content::File(staged), BlobId::from_digest(&bounded.sha.finalize())))
}

/// A reader that hashes what passes through.
struct Hashing<R> {
    inner: R,
    sha: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod proptests;
