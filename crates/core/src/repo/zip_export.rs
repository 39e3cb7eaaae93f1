//! Zip export: one standard .zip a person can open without OrgVault.
//!
//! Layout: `manifest.json` (the export header, the snapshot's manifest and the list of files
//! with the blob each holds), then a folder per subject with readable files:
//! `org/portal_self.json`, `items/<title> [<id>]/item.json`, `.../data.json` or
//! `.../data/<real file name>`, `.../resources/<path>`, `.../thumbnail/<name>`,
//! `.../metadata.xml`, `.../service/{service.json,layers.json,export/<name>,service_definition.json}`,
//! `.../service/attachments/<layer>/<object id>/<attachment id>-<name>` (query fallback only),
//! `users/<username>/user.json`, `groups/<title> [<id>]/group.json`. Names are sanitized.

use std::collections::{HashMap, HashSet};

use arcgis::Secret;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use super::blob::{BlobId, BlobRef};
use super::error::{RepoError, RepoResult};
use super::manifest::{DataKind, Manifest};
use super::names::{sanitize_name, sanitize_path};
use super::snapshot::SnapshotId;
use super::Repository;

pub(crate) const EXPORT_FORMAT: &str = "orgvault-zip";
pub(crate) const EXPORT_VERSION: u32 = 1;
pub(crate) const MANIFEST_ENTRY: &str = "manifest.json";

/// `manifest.json` inside an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ExportHeader {
    pub format: String,
    pub version: u32,
    pub snapshot_id: String,
    pub manifest: Manifest,
    pub files: Vec<ExportFile>,
}

/// One file of the export and the blob it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ExportFile {
    pub path: String,
    pub blob: BlobId,
    pub size: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportReport {
    pub path: PathBuf,
    /// Files written besides manifest.json.
    pub files: u64,
    /// Content bytes of those files.
    pub bytes: u64,
}

enum ZipCmd {
    Start { name: String, size: u64 },
    Chunk(Bytes),
}

/// The file list of an export: a readable path for every blob use, unique within the zip.
pub(crate) fn export_files(m: &Manifest) -> Vec<(String, BlobRef)> {
    let mut used = HashSet::new();
    let mut out = Vec::new();
    let mut add = |path: String, blob: &BlobRef| {
        let mut candidate = path.clone();
        let mut n = 2;
        while !used.insert(candidate.clone()) {
            candidate = match path.rsplit_once('.') {
                Some((stem, ext)) if !stem.ends_with('/') && !ext.contains('/') => format!("{stem}~{n}.{ext}"),
                _ => format!("{path}~{n}"),
            };
            n += 1;
        }
        out.push((candidate, blob.clone()));
    };
    let folder = |kind: &str, title: &str, id: &str| format!("{kind}/{} [{}]", sanitize_name(title), sanitize_name(id));
    if let Some(b) = &m.org.portal_self {
        add("org/portal_self.json".into(), b);
    }
    if let Some(b) = &m.org.urls {
        add("org/urls.json".into(), b);
    }
    for it in &m.items {
        let dir = folder("items", &it.title, &it.id);
        add(format!("{dir}/item.json"), &it.item_json);
        if let Some(d) = &it.data {
            match d.kind {
                DataKind::Json => add(format!("{dir}/data.json"), &d.blob),
                DataKind::File => {
                    let name = sanitize_name(d.file_name.as_deref().unwrap_or("data"));
                    add(format!("{dir}/data/{name}"), &d.blob)
                }
            }
        }
        for r in &it.resources {
            add(format!("{dir}/resources/{}", sanitize_path(&r.path)), &r.blob);
        }
        if let Some(t) = &it.thumbnail {
            add(format!("{dir}/thumbnail/{}", sanitize_name(&t.name)), &t.blob);
        }
        if let Some(md) = &it.metadata {
            add(format!("{dir}/metadata.xml"), md);
        }
        if let Some(s) = &it.service {
            add(format!("{dir}/service/service.json"), &s.service_json);
            if let Some(l) = &s.layers_json {
                add(format!("{dir}/service/layers.json"), l);
            }
            if let Some(e) = &s.export {
                add(format!("{dir}/service/export/{}", sanitize_name(&e.name)), &e.blob);
            }
            if let Some(sd) = &s.service_definition {
                add(format!("{dir}/service/service_definition.json"), sd);
            }
            for a in &s.attachments {
                let name = format!("{}-{}", a.attachment_id, sanitize_name(&a.name));
                add(format!("{dir}/service/attachments/{}/{}/{name}", a.layer_id, a.object_id), &a.blob);
            }
        }
    }
    for u in &m.users {
        let dir = format!("users/{}", sanitize_name(&u.username));
        add(format!("{dir}/user.json"), &u.profile);
        if let Some(t) = &u.thumbnail {
            add(format!("{dir}/thumbnail/{}", sanitize_name(&t.name)), &t.blob);
        }
    }
    for g in &m.groups {
        let dir = folder("groups", &g.title, &g.id);
        add(format!("{dir}/group.json"), &g.settings);
        if let Some(t) = &g.thumbnail {
            add(format!("{dir}/thumbnail/{}", sanitize_name(&t.name)), &t.blob);
        }
    }
    out
}

fn method_for(name: &str) -> CompressionMethod {
    let lower = name.to_ascii_lowercase();
    if [".json", ".xml", ".txt", ".csv", ".geojson", ".html"].iter().any(|e| lower.ends_with(e)) {
        CompressionMethod::Deflated
    } else {
        // Data files are usually compressed already (zip, fgdb, png, pdf): deflating again wastes time.
        CompressionMethod::Stored
    }
}

impl Repository {
    /// Writes the snapshot as one .zip at `out` (through a `.partial` file renamed at the end,
    /// so a failed export leaves no zip that looks complete). Memory stays bounded: blobs are
    /// streamed into the zip.
    pub async fn export_zip(&self, id: &SnapshotId, out: &Path) -> RepoResult<ExportReport> {
        self.export_zip_with(id, out, None).await
    }

    /// As [`Repository::export_zip`]; with a password every entry is AES-256 encrypted (WinZip
    /// AE-2, which 7-Zip and most archivers open). The zip's blob ids are always the plain
    /// SHA-256 of each file, whatever the repository's: an encrypted repository's keyed ids
    /// are translated (its `manifest.json` is then written last, once they are known).
    pub async fn export_zip_with(
        &self,
        id: &SnapshotId,
        out: &Path,
        password: Option<&Secret>,
    ) -> RepoResult<ExportReport> {
        // A file that is already there is not ours to replace, nor is a `.partial` beside it.
        refuse_existing(out)?;
        refuse_existing(&partial_path(out))?;
        let manifest = self.manifest(id).await?;
        let files = export_files(&manifest);
        let header = |manifest: Manifest, plain: &HashMap<BlobId, BlobId>| -> RepoResult<Vec<u8>> {
            let plain_id = |b: &BlobId| plain.get(b).cloned().unwrap_or_else(|| b.clone());
            let mut manifest = manifest;
            if !plain.is_empty() {
                manifest.map_blob_refs(&mut |b| BlobRef { id: plain_id(&b.id), size: b.size });
            }
            let header = ExportHeader {
                format: EXPORT_FORMAT.into(),
                version: EXPORT_VERSION,
                snapshot_id: id.to_string(),
                manifest,
                files: files
                    .iter()
                    .map(|(p, b)| ExportFile { path: p.clone(), blob: plain_id(&b.id), size: b.size })
                    .collect(),
            };
            serde_json::to_vec_pretty(&header).map_err(|e| RepoError::InvalidInput(e.to_string()))
        };
        let translate = self.is_encrypted();
        let first_header = if translate { None } else { Some(header(manifest.clone(), &HashMap::new())?) };
        let partial = partial_path(out);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<ZipCmd>(8);
        let writer_path = partial.clone();
        let zip_password = password.map(|p| zeroize::Zeroizing::new(p.expose().to_owned()));
        let writer = tokio::task::spawn_blocking(move || -> Result<(), zip::result::ZipError> {
            let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&writer_path)?;
            let mut zw = zip::ZipWriter::new(std::io::BufWriter::new(file));
            let mut base = SimpleFileOptions::default().unix_permissions(0o644);
            if let Some(pw) = &zip_password {
                base = base.with_aes_encryption(zip::AesMode::Aes256, pw);
            }
            if let Some(header_json) = first_header {
                zw.start_file(MANIFEST_ENTRY, base.compression_method(CompressionMethod::Deflated))?;
                zw.write_all(&header_json)?;
            }
            while let Some(cmd) = rx.blocking_recv() {
                match cmd {
                    ZipCmd::Start { name, size } => {
                        let opts = base.compression_method(method_for(&name)).large_file(size >= u32::MAX as u64);
                        zw.start_file(name, opts)?;
                    }
                    ZipCmd::Chunk(b) => zw.write_all(&b)?,
                }
            }
            let mut inner = zw.finish()?;
            inner.flush()?;
            inner.get_ref().sync_all()?;
            Ok(())
        });
        let mut report = ExportReport { path: out.to_owned(), files: 0, bytes: 0 };
        let feed = async {
            let mut plain: HashMap<BlobId, BlobId> = HashMap::new();
            for (name, blob) in &files {
                tx.send(ZipCmd::Start { name: name.clone(), size: blob.size }).await.map_err(|_| closed())?;
                let mut stream = self.get_blob_stream(blob).await?;
                let mut sha = translate.then(Sha256::new);
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk?;
                    if let Some(h) = &mut sha {
                        h.update(&chunk);
                    }
                    tx.send(ZipCmd::Chunk(chunk)).await.map_err(|_| closed())?;
                }
                if let Some(h) = sha {
                    plain.insert(blob.id.clone(), BlobId::from_digest(&h.finalize()));
                }
                report.files += 1;
                report.bytes += blob.size;
            }
            if translate {
                let header_json = header(manifest, &plain)?;
                tx.send(ZipCmd::Start { name: MANIFEST_ENTRY.into(), size: header_json.len() as u64 })
                    .await
                    .map_err(|_| closed())?;
                tx.send(ZipCmd::Chunk(Bytes::from(header_json))).await.map_err(|_| closed())?;
            }
            Ok::<(), RepoError>(())
        }
        .await;
        drop(tx);
        let written = writer.await.map_err(|e| RepoError::InvalidInput(format!("zip writer stopped: {e}")))?;
        let result = match (feed, written) {
            // The writer's failure (disk full, ...) is the cause when both failed.
            (_, Err(e)) => {
                Err(RepoError::Zip { path: out.to_owned(), entry: "(writing)".into(), reason: e.to_string() })
            }
            (Err(e), Ok(())) => Err(e),
            (Ok(()), Ok(())) => match refuse_existing(out) {
                Ok(()) => tokio::fs::rename(&partial, out).await.map_err(|e| RepoError::io(out, e)),
                Err(e) => Err(e),
            },
        };
        if result.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        result.map(|()| report)
    }
}

fn closed() -> RepoError {
    RepoError::InvalidInput("the zip writer stopped early".into())
}

/// Refuses a path where something already exists: the export never replaces a file it did not write.
fn refuse_existing(path: &Path) -> RepoResult<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(RepoError::InvalidInput(format!(
            "{} already exists; the export does not replace it: choose another file name, or remove it first",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RepoError::io(path, e)),
    }
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "export.zip".into());
    name.push(".partial");
    out.with_file_name(name)
}
