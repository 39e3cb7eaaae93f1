//! State shared by every task of one backup: the portal, the repository, cancellation, the
//! register of temporary export items, and the tallies progress and the summary read.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use arcgis::{Retry, RetryPolicy, TokioSleeper};
use bytes::Bytes;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::export_journal::{self, ExportJournal, Scope};
use super::BackupOptions;
use crate::clock::Clock;
use crate::progress::Progress;
use crate::repo::{BlobRef, Manifest, RepoError, Repository};

/// Why one subject's backup stopped: the one [`arcgis::Stop`] of every retry loop, whose fatal
/// failure is the repository's (disk full, read-only, unreachable): the whole backup stops then,
/// since every later write would fail the same way. A `Transient` subject (a download broke off,
/// the portal stayed busy through the client's retries) is tried again by [`attempts`].
pub(crate) type Stop = arcgis::Stop<RepoError>;

/// Counters of one run; read by the progress messages and the summary.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Bytes downloaded from the organization (streamed downloads) and handed to the repository.
    pub bytes_read: AtomicU64,
    /// Item `/data` downloads (the incremental backup's measure of work).
    pub data_downloads: AtomicU64,
    pub subjects_done: AtomicU64,
    /// Items whose blobs were reused from the previous snapshot.
    pub reused: AtomicU64,
}

/// What a download is, for the size cap it gets, with what names it in an error
/// (`BackupOptions::max_file_bytes`, `max_export_bytes`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Download<'s> {
    /// An item's file, resource, thumbnail or metadata, a group's thumbnail, or an attachment.
    File(&'s str),
    /// A hosted service's export or replica.
    Export(&'s str),
}

pub(crate) struct Run<'a> {
    pub portal: &'a arcgis::Portal,
    pub repo: &'a Repository,
    pub cancel: CancellationToken,
    pub options: &'a BackupOptions,
    pub progress: &'a dyn Progress,
    /// Time for the retry loops' total-time caps.
    pub clock: &'a dyn Clock,
    pub tally: Tally,
    pub started: Instant,
    /// Export items created and not yet deleted: export item id -> (owner, journal title).
    exports: Mutex<BTreeMap<String, (String, String)>>,
    /// Where export items are journaled before they exist (see `export_journal`).
    pub journal: ExportJournal<'a>,
}

/// How one file is downloaded again when its body keeps breaking off: 3 times, jittered
/// pauses up to 200 ms, 400 ms.
static BODY_RETRY: LazyLock<RetryPolicy> =
    LazyLock::new(|| RetryPolicy::attempts(3, Duration::from_millis(200), Duration::from_secs(2)));

/// Longest wait for deleting one temporary export item.
const DELETE_DEADLINE: Duration = Duration::from_secs(30);

impl<'a> Run<'a> {
    pub fn new(
        portal: &'a arcgis::Portal,
        repo: &'a Repository,
        cancel: CancellationToken,
        options: &'a BackupOptions,
        progress: &'a dyn Progress,
        clock: &'a dyn Clock,
        journal: ExportJournal<'a>,
    ) -> Self {
        Run {
            portal,
            repo,
            cancel,
            options,
            progress,
            clock,
            tally: Tally::default(),
            started: Instant::now(),
            exports: Mutex::new(BTreeMap::new()),
            journal,
        }
    }

    /// Runs `fut` unless cancelled first; cancellation interrupts it.
    pub async fn cancellable<T>(&self, fut: impl Future<Output = T>) -> Result<T, Stop> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Stop::Cancelled),
            out = fut => Ok(out),
        }
    }

    pub fn check_cancel(&self) -> Result<(), Stop> {
        if self.cancel.is_cancelled() {
            Err(Stop::Cancelled)
        } else {
            Ok(())
        }
    }

    pub fn register_export(&self, owner: &str, export_item_id: &str, title: &str) {
        self.exports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(export_item_id.to_owned(), (owner.to_owned(), title.to_owned()));
    }

    /// Deletes a temporary export item, not cancellable, bounded in time, and forgets its
    /// journal row. On failure it stays registered for the final sweep (and journaled for the
    /// next backup's).
    pub async fn delete_export(&self, owner: &str, export_item_id: &str) {
        match tokio::time::timeout(DELETE_DEADLINE, self.portal.delete_item(owner, export_item_id)).await {
            Ok(Ok(())) => {
                let entry = self.exports.lock().unwrap_or_else(|p| p.into_inner()).remove(export_item_id);
                if let Some((_, title)) = entry {
                    // Marked, not removed: a scan right after this backup may still find the
                    // item in search, and leaves it out by this row (`export_journal`).
                    if let Err(e) = self.journal.mark_deleted(&title).await {
                        tracing::warn!("cannot update the journal of temporary export items: {e}");
                    }
                }
            }
            Ok(Err(e)) => tracing::warn!(item = export_item_id, "deleting the temporary export item failed: {e}"),
            Err(_) => tracing::warn!(item = export_item_id, "deleting the temporary export item timed out"),
        }
    }

    /// Deletes every export item still registered, then looks for the ones this job journaled
    /// whose `export` answer was lost; returns the ids that could not be deleted.
    pub async fn sweep_exports(&self) -> Vec<String> {
        let left: Vec<(String, String)> = self
            .exports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, (owner, _))| (id.clone(), owner.clone()))
            .collect();
        for (id, owner) in &left {
            self.delete_export(owner, id).await;
        }
        let left: Vec<String> = self.exports.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        let swept = export_journal::sweep(self.portal, &self.journal, Scope::ThisJob).await;
        if !swept.deleted.is_empty() {
            tracing::info!(items = ?swept.deleted, "deleted export items whose export answer was lost");
        }
        left
    }

    /// Opens a download with `open` and streams it into the repository. A body that breaks off
    /// midway (the client retries requests, not bodies already flowing) is opened again, up to
    /// as [`BODY_RETRY`] allows, so one stalled file does not send the whole subject round again.
    /// The outer error stops the subject (cancel, repository failure, a body that kept breaking);
    /// the inner one is `open`'s own refusal, which the caller classifies (a missing thumbnail is
    /// no failure).
    pub async fn download<F, Fut>(
        &self,
        what: Download<'_>,
        mut open: F,
    ) -> Result<Result<BlobRef, arcgis::Error>, Stop>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = arcgis::Result<arcgis::ByteStream>>,
    {
        let (limit, kind, source) = match what {
            Download::File(source) => (self.options.max_file_bytes, "item file", source),
            Download::Export(source) => (self.options.max_export_bytes, "export", source),
        };
        let retry = self.retry(&BODY_RETRY);
        arcgis::retry(&retry, "download", |_| {
            let opening = open();
            async move {
                let stream = match self.cancellable(opening).await? {
                    Ok(s) => arcgis::download::capped(s, limit, kind, source),
                    Err(e) => return Ok(Err(e)),
                };
                self.store_stream(stream).await
            }
        })
        .await
    }

    /// The retry loop of this run under `policy`: the job's clock, cancellation interrupts a wait.
    pub fn retry<'r>(&'r self, policy: &'r RetryPolicy) -> Retry<'r> {
        Retry { policy, clock: self.clock, sleeper: &TokioSleeper, cancel: Some(&self.cancel) }
    }

    /// Streams a download into the repository. A body that broke off is worth another attempt
    /// (`Stop::Transient`); a permanent download error (over its size cap) is the inner `Err`,
    /// which fails the subject alone; a failure of the repository stops the backup.
    pub async fn store_stream(&self, stream: arcgis::ByteStream) -> Result<Result<BlobRef, arcgis::Error>, Stop> {
        let download_error: Arc<Mutex<Option<arcgis::Error>>> = Arc::new(Mutex::new(None));
        let seen = download_error.clone();
        let counted = stream.map(move |chunk| match chunk {
            Ok(b) => Ok(b),
            Err(e) => {
                let text = e.to_string();
                *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Err(std::io::Error::other(text))
            }
        });
        let (tally, progress) = (&self.tally, self.progress);
        let counted = counted.inspect(|chunk| {
            if let Ok(b) = chunk {
                let n = b.len() as u64;
                progress.bytes(tally.bytes_read.fetch_add(n, Ordering::Relaxed) + n);
            }
        });
        let stored = self.cancellable(self.repo.put_blob_stream(Box::pin(counted))).await?;
        match stored {
            Ok(blob) => Ok(Ok(blob)),
            Err(e) => match download_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(e @ arcgis::Error::TooLarge { .. }) => Ok(Err(e)),
                Some(reason) => Err(Stop::transient(format!("the download broke off: {reason}"))),
                None => Err(Stop::Fatal(e)),
            },
        }
    }

    /// Stores bytes already in memory (JSON documents); not counted as downloaded.
    pub async fn store_bytes(&self, bytes: Vec<u8>) -> Result<BlobRef, Stop> {
        self.cancellable(self.repo.put_blob_bytes(Bytes::from(bytes))).await?.map_err(Stop::Fatal)
    }

    /// Stores a JSON value as its compact text.
    pub async fn store_json(&self, value: &serde_json::Value) -> Result<BlobRef, Stop> {
        self.store_json_known(value, None).await
    }

    /// Like `store_json`, but when the text hashes to `known` (the previous snapshot's blob for
    /// the same document) the blob is reused without touching the repository: the previous
    /// snapshot references it, and the shared lock this job holds keeps prune from removing it.
    /// An incremental backup of an unchanged org thus makes no storage request per subject.
    pub async fn store_json_known(&self, value: &serde_json::Value, known: Option<&BlobRef>) -> Result<BlobRef, Stop> {
        let bytes = serde_json::to_vec(value).map_err(|e| Stop::Failed(format!("encoding JSON: {e}")))?;
        if let Some(k) = known.filter(|k| k.size == bytes.len() as u64) {
            if crate::repo::BlobId::of(&bytes) == k.id {
                return Ok(k.clone());
            }
        }
        self.store_bytes(bytes).await
    }

    /// One subject finished: moves the progress and says the rate.
    pub fn subject_done(&self, title: &str) {
        let done = self.tally.subjects_done.fetch_add(1, Ordering::Relaxed) + 1;
        self.progress.advance(1);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let mb = self.tally.bytes_read.load(Ordering::Relaxed) as f64 / 1e6;
        if done % 16 == 1 || secs < 2.0 {
            self.progress.message(&format!("{title} — {mb:.1} MB, {:.1} MB/s", mb / secs));
        }
    }
}

/// The newest snapshot of the same identity and org, for reuse.
pub(crate) async fn previous_manifest(repo: &Repository, identity_id: &str, org_id: &str) -> Option<Manifest> {
    let list = match repo.snapshots().await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("cannot list earlier snapshots, backing up everything: {e}");
            return None;
        }
    };
    let newest =
        list.into_iter().filter(|s| s.identity_id == identity_id && s.org_id == org_id).max_by_key(|s| s.time_ms)?;
    match repo.manifest(&newest.id).await {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(
                snapshot = newest.id.as_str(),
                "cannot read the previous snapshot, backing up everything: {e}"
            );
            None
        }
    }
}

/// Attempts per subject when it fails transiently (a download broke off midway: the client
/// retries requests, not bodies already flowing), with jittered pauses up to 250 ms, 500 ms,
/// 1 s: a portal or link that just dropped bodies or revoked tokens gets time to recover before
/// the whole subject runs again.
static SUBJECT_RETRY: LazyLock<RetryPolicy> =
    LazyLock::new(|| RetryPolicy::attempts(4, Duration::from_millis(250), Duration::from_secs(4)));

/// Runs `f` again while it fails transiently, as [`SUBJECT_RETRY`] allows.
pub(crate) async fn attempts<T, F, Fut>(run: &Run<'_>, mut f: F) -> Result<T, Stop>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Stop>>,
{
    let policy = &*SUBJECT_RETRY;
    arcgis::retry(&run.retry(policy), "subject", |_| f()).await.map_err(|s| s.gave_up(policy.max_attempts))
}
