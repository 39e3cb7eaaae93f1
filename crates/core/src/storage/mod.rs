//! Where repositories live: a local or network folder, an Azure Blob container, or an S3 (or
//! S3-compatible) bucket, behind one async interface, the `object_store` crate's [`ObjectStore`].
//!
//! Why object_store: one trait for a folder, Azure Blob and S3 with atomic writes (a folder
//! stages and renames; Azure commits a block list), and Azure sign-in by account key or SAS,
//! which is what users copy from the Azure portal. The Azure SDK crates do not fit (see the
//! README's dependency notes).
//!
//! A [`StorageTarget`] says where; [`StorageTarget::open`] gives the store plus the folder where
//! large blobs are staged before upload (inside the repository folder for a local target, the
//! cache folder for Azure). Before a backup, [`check_local`] proves a folder exists, is writable
//! and has room; [`check_azure`] proves write, list, read and delete in a container and says
//! which step failed.

mod azure;
mod check;
mod error;
mod local;
mod local_store;
mod s3;

#[cfg(test)]
pub(crate) use local_store::LocalStore;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;

pub use azure::{check_azure, AzureConnection};
pub use check::{check_store, AzureCheck, CheckStep, StoreCheck};
pub(crate) use check::{is_probe, PROBE_PREFIX};
pub use error::{redact, StorageError};
pub use local::{check_local, LocalCheck};
pub use s3::{S3Address, S3Connection, S3Credentials, S3Environment, S3Options};

/// Makes a folder's entries (a name just created or renamed in it) durable. Unix only: other
/// systems cannot open a folder to sync it, and NTFS journals its entries.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    if cfg!(unix) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Where a repository lives.
// One target exists per operation; boxing the Azure variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageTarget {
    /// A folder on a local or network file system; the repository is the folder itself.
    Local { path: PathBuf },
    /// A container (and optional prefix inside it) in an Azure Storage account. Blobs are
    /// staged in `cache_dir` before upload and removed after.
    Azure { conn: AzureConnection, container: String, prefix: String, cache_dir: PathBuf },
    /// A bucket (and optional prefix inside it) of S3 or an S3-compatible service. Blobs are
    /// staged in `cache_dir` before upload and removed after.
    S3 { conn: S3Connection, prefix: String, cache_dir: PathBuf },
}

/// An opened target: the store rooted at the repository, and the local folder for staging.
pub(crate) struct OpenedTarget {
    pub store: Arc<dyn ObjectStore>,
    /// Object paths are relative to this prefix (empty for a local folder).
    pub prefix: String,
    pub staging_root: PathBuf,
}

impl StorageTarget {
    /// Parses a destination as the CLI takes it: `az://<container>[/prefix]` (the connection
    /// string then comes from `azure_conn`, usually `AZURE_STORAGE_CONNECTION_STRING`),
    /// `s3://<bucket>[/prefix][?options]` (credentials from the process environment or a profile,
    /// see [`S3Connection::discover`]), or else a folder path. `cache_dir` is where uploads are
    /// staged.
    pub fn parse_dest(dest: &str, azure_conn: Option<&str>, cache_dir: &Path) -> Result<Self, StorageError> {
        Self::parse_dest_in(dest, azure_conn, &S3Environment::process(), cache_dir)
    }

    /// As [`StorageTarget::parse_dest`], the Azure connection string from this process's
    /// `AZURE_STORAGE_CONNECTION_STRING` (the CLI's destinations, a schedule's copy destination).
    pub fn parse_dest_from_env(dest: &str, cache_dir: &Path) -> Result<Self, StorageError> {
        let conn = std::env::var("AZURE_STORAGE_CONNECTION_STRING").ok();
        Self::parse_dest(dest, conn.as_deref(), cache_dir)
    }

    /// As [`StorageTarget::parse_dest`], with S3 credentials looked up in `s3_env`.
    pub fn parse_dest_in(
        dest: &str,
        azure_conn: Option<&str>,
        s3_env: &S3Environment<'_>,
        cache_dir: &Path,
    ) -> Result<Self, StorageError> {
        let bad = |reason: &str| StorageError::Destination { dest: dest.to_owned(), reason: reason.to_owned() };
        if dest.starts_with("s3://") {
            let address = S3Address::parse(dest).map_err(|e| bad(&e))?;
            return Ok(StorageTarget::S3 {
                conn: S3Connection::discover(&address, s3_env)?,
                prefix: address.prefix,
                cache_dir: cache_dir.to_owned(),
            });
        }
        if let Some(rest) = dest.strip_prefix("az://") {
            let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if !valid_container(container) {
                return Err(bad("an Azure container name has 3-63 lowercase letters, digits and single hyphens"));
            }
            if prefix.split('/').any(|s| s == ".." || s == ".") {
                return Err(bad("the prefix may not contain '.' or '..' segments"));
            }
            let conn = azure_conn.filter(|c| !c.trim().is_empty()).ok_or_else(|| {
                bad("an az:// destination needs the connection string in AZURE_STORAGE_CONNECTION_STRING")
            })?;
            return Ok(StorageTarget::Azure {
                conn: AzureConnection::parse(conn)?,
                container: container.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
                cache_dir: cache_dir.to_owned(),
            });
        }
        if dest.contains("://") {
            return Err(bad("only folder paths, az://container[/prefix] and s3://bucket[/prefix] are supported"));
        }
        if dest.trim().is_empty() {
            return Err(bad("empty destination"));
        }
        Ok(StorageTarget::Local { path: PathBuf::from(dest) })
    }

    /// A display form without secrets: the folder path or `az://container/prefix (account)`.
    pub fn describe(&self) -> String {
        match self {
            StorageTarget::Local { path } => path.display().to_string(),
            StorageTarget::Azure { conn, container, prefix, .. } => {
                format!("az://{} ({})", azure::join_prefix(container, prefix), conn.account)
            }
            StorageTarget::S3 { conn, prefix, .. } => conn.describe(prefix),
        }
    }

    /// Builds the store; a local folder's store syncs every write (see `local_store`). A local
    /// folder must exist (see [`check_local`]).
    pub(crate) fn open(&self) -> Result<OpenedTarget, StorageError> {
        match self {
            StorageTarget::Local { path } => {
                let abs = std::fs::canonicalize(path)
                    .map_err(|e| StorageError::io(path, "cannot open the repository folder", e))?;
                let store = local_store::LocalStore::new(&abs)
                    .map_err(|e| StorageError::from_store("open", &abs.display().to_string(), e))?;
                Ok(OpenedTarget { store: Arc::new(store), prefix: String::new(), staging_root: abs.join("tmp") })
            }
            StorageTarget::Azure { conn, container, prefix, cache_dir } => Ok(OpenedTarget {
                store: conn.store(container)?,
                prefix: prefix.clone(),
                staging_root: cache_dir.join("staging"),
            }),
            StorageTarget::S3 { conn, prefix, cache_dir } => Ok(OpenedTarget {
                store: conn.store()?,
                prefix: prefix.clone(),
                staging_root: cache_dir.join("staging"),
            }),
        }
    }
}

/// Proves write, list, read and delete in an S3 bucket under `prefix` (see [`check_store`]).
/// Never fails itself.
pub async fn check_s3(conn: &S3Connection, prefix: &str) -> StoreCheck {
    match conn.store() {
        Ok(store) => check_store(store.as_ref(), prefix).await,
        Err(e) => StoreCheck::unusable(e.to_string()),
    }
}

fn valid_container(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let cache = Path::new("/tmp/cache");
        let t = StorageTarget::parse_dest("/backups/org", None, cache).expect("a folder path is a destination");
        assert_eq!(t, StorageTarget::Local { path: "/backups/org".into() }, "folder path stays a folder");
        let t = StorageTarget::parse_dest("az://backups/acme/prod/", Some("UseDevelopmentStorage=true"), cache)
            .expect("az:// with a connection string is a destination");
        match t {
            StorageTarget::Azure { container, prefix, .. } => {
                assert_eq!(
                    (container.as_str(), prefix.as_str()),
                    ("backups", "acme/prod"),
                    "container and prefix split"
                );
            }
            other => panic!("az:// must give an Azure target, got {other:?}"),
        }
        let err = StorageTarget::parse_dest("az://backups", None, cache).expect_err("no connection string");
        assert!(err.to_string().contains("AZURE_STORAGE_CONNECTION_STRING"), "error names the variable: {err}");
        let err = StorageTarget::parse_dest("az://Bad_Name", Some("UseDevelopmentStorage=true"), cache)
            .expect_err("invalid container");
        assert!(err.to_string().contains("container name"), "error explains container naming: {err}");
        assert!(StorageTarget::parse_dest("gs://bucket", None, cache).is_err(), "unsupported schemes are refused");
    }
}
