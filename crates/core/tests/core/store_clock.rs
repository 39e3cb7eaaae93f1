//! A store wrapper for races between a backup and a prune: it moves the storage's clock (objects
//! written after [`StorageClock::advance`] carry modification times that much later) and can run
//! one piece of work, such as a whole prune, just before the next snapshot record is written.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Shared by every repository handle of one test; see the module documentation.
#[derive(Default)]
pub struct StorageClock {
    inner: OnceLock<Arc<dyn ObjectStore>>,
    offset_ms: AtomicI64,
    /// The clock offset in force when each object was last written.
    written_with: Arc<Mutex<HashMap<String, i64>>>,
    before_snapshot_record: tokio::sync::Mutex<Option<BoxFuture<'static, ()>>>,
}

impl StorageClock {
    pub fn new() -> Arc<StorageClock> {
        Arc::new(StorageClock::default())
    }

    /// The wrapper for `Repository::open_for_backup_wrapped`: every handle shares one store.
    pub fn wrap(self: &Arc<Self>) -> impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        let me = self.clone();
        move |inner| {
            let _ = me.inner.set(inner);
            me
        }
    }

    /// Moves the storage's clock forward for objects written from now on.
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Runs `work` once, just before the next snapshot record is written.
    pub async fn before_next_snapshot_record(&self, work: BoxFuture<'static, ()>) {
        *self.before_snapshot_record.lock().await = Some(work);
    }

    fn store(&self) -> &Arc<dyn ObjectStore> {
        self.inner.get().expect("the store is set by the first open")
    }

    fn shifted(&self, meta: ObjectMeta) -> ObjectMeta {
        shift(&self.written_with, meta)
    }

    fn written(&self, location: &Path) {
        let offset = self.offset_ms.load(Ordering::SeqCst);
        self.written_with.lock().expect("lock").insert(location.to_string(), offset);
    }
}

fn shift(written_with: &Mutex<HashMap<String, i64>>, mut meta: ObjectMeta) -> ObjectMeta {
    let offset = written_with.lock().expect("lock").get(meta.location.as_ref()).copied().unwrap_or(0);
    meta.last_modified += chrono::TimeDelta::milliseconds(offset);
    meta
}

impl fmt::Debug for StorageClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageClock").field("offset_ms", &self.offset_ms).finish()
    }
}

impl fmt::Display for StorageClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageClock")
    }
}

#[async_trait::async_trait]
impl ObjectStore for StorageClock {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        if location.as_ref().starts_with("snapshots/") {
            let work = self.before_snapshot_record.lock().await.take();
            if let Some(work) = work {
                work.await;
            }
        }
        let put = self.store().put_opts(location, payload, opts).await?;
        self.written(location);
        Ok(put)
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.written(location);
        self.store().put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let mut got = self.store().get_opts(location, options).await?;
        got.meta = self.shifted(got.meta);
        Ok(got)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.store().get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.store().delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let written_with = self.written_with.clone();
        self.store().list(prefix).map_ok(move |m| shift(&written_with, m)).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut listed = self.store().list_with_delimiter(prefix).await?;
        listed.objects = listed.objects.into_iter().map(|m| self.shifted(m)).collect();
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.store().copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.store().rename_opts(from, to, options).await
    }
}
