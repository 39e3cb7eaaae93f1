//! The pre-flight check of a local or network folder: it exists (or can be created), it is a
//! folder, it is writable, and it has room.

use std::path::{Path, PathBuf};

use super::error::StorageError;

/// What [`check_local`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCheck {
    pub path: PathBuf,
    /// The folder did not exist and was created.
    pub created: bool,
    pub available_bytes: u64,
}

/// Checks `path` before a backup writes there: creates it when missing (its parent must be a
/// writable folder), proves it is writable by creating and removing a probe file, and refuses
/// when fewer than `needed_bytes` are free. Each failure says which of these it was.
pub async fn check_local(path: &Path, needed_bytes: u64) -> Result<LocalCheck, StorageError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || check_blocking(&path, needed_bytes)).await.map_err(|e| {
        StorageError::LocalFolder { path: PathBuf::new(), reason: format!("check stopped: {e}"), source: None }
    })?
}

fn check_blocking(path: &Path, needed_bytes: u64) -> Result<LocalCheck, StorageError> {
    let mut created = false;
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(StorageError::LocalFolder {
                path: path.to_owned(),
                reason: "exists but is a file, not a folder".into(),
                source: None,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(file_parent) = path.ancestors().skip(1).find(|a| a.is_file()) {
                return Err(StorageError::LocalFolder {
                    path: path.to_owned(),
                    reason: format!("cannot be created: {} is a file, not a folder", file_parent.display()),
                    source: None,
                });
            }
            std::fs::create_dir_all(path)
                .map_err(|e| StorageError::io(path, "does not exist and cannot be created", e))?;
            created = true;
        }
        Err(e) if e.raw_os_error() == Some(20) => {
            // ENOTDIR: a component of the path is a file.
            return Err(StorageError::io(path, "cannot be used: part of the path is a file, not a folder", e));
        }
        Err(e) => return Err(StorageError::io(path, "cannot be read", e)),
    }
    let probe = path.join(format!(".orgvault-write-check-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&probe, b"orgvault").map_err(|e| StorageError::io(path, "is not writable", e))?;
    std::fs::remove_file(&probe)
        .map_err(|e| StorageError::io(path, "is writable but a file in it cannot be removed", e))?;
    let available_bytes =
        fs4::available_space(path).map_err(|e| StorageError::io(path, "free space cannot be read", e))?;
    if available_bytes < needed_bytes {
        return Err(StorageError::NoRoom { path: path.to_owned(), available: available_bytes, needed: needed_bytes });
    }
    Ok(LocalCheck { path: path.to_owned(), created, available_bytes })
}
