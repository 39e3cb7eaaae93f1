//! The store of a local repository folder: object_store's [`LocalFileSystem`], opened with fsync,
//! and able to create objects on file systems without hard links.
//!
//! Durability: every write is staged in a temporary file, the file is synced, renamed (or hard
//! linked) into place, and the parent directory of the new name is synced, as are directories
//! the write had to create (`data/<2 hex>/` for a new blob, `snapshots/` for the first snapshot).
//! So once a put returns, a power cut cannot leave the object empty or missing.
//!
//! Hard links: object_store publishes a create-only put ([`PutMode::Create`]) with a hard link,
//! which FAT, exFAT and some network shares refuse. When the file system says hard links are not
//! supported, a create-only put checks that the name is free and then renames into place. The
//! check and the rename are not one atomic step there, which is harmless for blobs and snapshot
//! records (their names are hashes of their content: two writers of one name write the same
//! bytes). The one object whose name does not follow from its content, the repository's
//! `config`, is not created through this store: `repo::config` claims its name with an
//! exclusive create, which every file system honours.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// A repository folder's store; see the module documentation.
#[derive(Debug)]
pub(crate) struct LocalStore {
    inner: LocalFileSystem,
    /// Cleared at the first create-only put the file system refuses to hard link.
    hard_links: AtomicBool,
}

impl LocalStore {
    /// The store rooted at `root` (an existing absolute folder), with fsync on.
    pub(crate) fn new(root: &std::path::Path) -> Result<LocalStore> {
        let inner = LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true).with_fsync(true);
        Ok(LocalStore { inner, hard_links: AtomicBool::new(true) })
    }

    /// As if the file system had no hard links (tests of the fallback on any file system).
    #[cfg(test)]
    pub(crate) fn without_hard_links(root: &std::path::Path) -> Result<LocalStore> {
        let store = LocalStore::new(root)?;
        store.hard_links.store(false, Ordering::Relaxed);
        Ok(store)
    }

    async fn create_without_hard_link(&self, location: &Path, payload: PutPayload) -> Result<PutResult> {
        match self.inner.head(location).await {
            Ok(_) => {
                return Err(object_store::Error::AlreadyExists {
                    path: location.to_string(),
                    source: "the object exists".into(),
                })
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let opts = PutOptions { mode: PutMode::Overwrite, ..Default::default() };
        self.inner.put_opts(location, payload, opts).await
    }
}

/// Whether `e` says the file system does not do hard links (EPERM on FAT, EOPNOTSUPP, ENOTSUP,
/// EMLINK, or Windows' ERROR_INVALID_FUNCTION / ERROR_NOT_SUPPORTED).
fn no_hard_links(e: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::Unsupported
                || matches!(io.raw_os_error(), Some(1 | 31 | 95) if cfg!(unix))
                || matches!(io.raw_os_error(), Some(1 | 50) if cfg!(windows));
        }
        cause = c.source();
    }
    false
}

impl fmt::Display for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for LocalStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        if !matches!(opts.mode, PutMode::Create) {
            return self.inner.put_opts(location, payload, opts).await;
        }
        if !self.hard_links.load(Ordering::Relaxed) {
            return self.create_without_hard_link(location, payload).await;
        }
        match self.inner.put_opts(location, payload.clone(), opts).await {
            Err(e) if no_hard_links(&e) => {
                tracing::info!(store = %self.inner, "the file system has no hard links; creating objects by rename");
                self.hard_links.store(false, Ordering::Relaxed);
                self.create_without_hard_link(location, payload).await
            }
            other => other,
        }
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_only_puts_work_without_hard_links() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalStore::without_hard_links(dir.path()).expect("store");
        let path = Path::from("data/ab/new");
        let create = || PutOptions { mode: PutMode::Create, ..Default::default() };
        store.put_opts(&path, PutPayload::from("first"), create()).await.expect("a free name is created");
        let again = store.put_opts(&path, PutPayload::from("second"), create()).await;
        assert!(
            matches!(again, Err(object_store::Error::AlreadyExists { .. })),
            "a create-only put must not replace an existing object: {again:?}"
        );
        let got = store.get(&path).await.expect("read").bytes().await.expect("bytes");
        assert_eq!(&got[..], b"first", "the first write stays");
    }

    #[test]
    fn a_refused_hard_link_is_recognised() {
        let refused = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from_raw_os_error(1)),
        };
        assert!(no_hard_links(&refused) || cfg!(not(unix)), "EPERM from link(2) means no hard links (FAT)");
        let exists = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::AlreadyExists)),
        };
        assert!(!no_hard_links(&exists), "an existing name is not a missing feature");
    }
}
