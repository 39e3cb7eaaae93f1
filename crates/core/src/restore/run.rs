//! State shared by the tasks of one restore: the target, the snapshot, the id map growing as
//! subjects are made, the journal, folders made so far, and the tallies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use arcgis::{Retry, RetryPolicy, TokioSleeper};
use bytes::Bytes;
use futures::TryStreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::journal::Journal;
use super::marks::MarkKey;
use super::options::RestoreOptions;
use super::rewrite::Rewriter;
use crate::clock::Clock;
use crate::jobs::{ItemOutcome, Jobs, Outcome, SubjectKind};
use crate::progress::Progress;
use crate::repo::{BlobRef, Repository};

/// Why one subject's restore stopped: the one [`arcgis::Stop`] of every retry loop (a restore
/// has no failure that ends the whole job). Portal errors become stops by [`arcgis::Stop::portal`]:
/// transient for throttling, 5xx, timeouts, lost connections, and a token that expired again
/// between its renewal and the repeated request, with the server's `Retry-After`.
pub(crate) type Stop = arcgis::Stop;

impl From<super::error::RestoreError> for Stop {
    fn from(e: super::error::RestoreError) -> Self {
        match e {
            super::error::RestoreError::Portal(e) => Stop::portal("the target organization failed", e),
            e => Stop::Failed(e.to_string()),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub created: AtomicU64,
    pub updated: AtomicU64,
    pub skipped: AtomicU64,
    pub failed: AtomicU64,
}

pub(crate) struct Run<'a> {
    pub portal: &'a arcgis::Portal,
    pub repo: &'a Repository,
    pub journal: Journal<'a>,
    pub jobs: Jobs<'a>,
    pub job_id: i64,
    pub options: &'a RestoreOptions,
    pub progress: &'a dyn Progress,
    /// Time for the retry loops' total-time caps.
    pub clock: &'a dyn Clock,
    pub cancel: CancellationToken,
    /// How a subject is tried again within the run (from the options).
    pub retry: RetryPolicy,
    pub rewriter: RwLock<Rewriter>,
    /// (owner, folder title) -> folder id.
    pub folders: tokio::sync::Mutex<HashMap<(String, String), String>>,
    pub tally: Tally,
    /// Source ids of items whose data or URL must be rewritten again once every id is known.
    pub patches: Mutex<Vec<String>>,
    /// Source item id -> (target owner, target id) of every item restored or matched.
    pub placed: RwLock<HashMap<String, (String, String)>>,
    /// Source ids of every item this restore offers.
    pub offered: std::collections::HashSet<String>,
    /// Source item id -> its hosted service URL in the snapshot.
    pub service_urls: HashMap<String, String>,
    /// The key of this database's marks in the target.
    pub marks: MarkKey,
    /// Source service item id -> the file of its service definition in the snapshot.
    pub service_definitions: HashMap<String, crate::repo::FileEntry>,
    /// Source hosted layer item id -> its package's file and kind.
    pub layer_packages: HashMap<String, (crate::repo::FileEntry, &'static crate::item_type::LayerPackage)>,
    /// Owners of the target's items as the plan saw them.
    pub target_owners: HashMap<String, String>,
    /// Outcomes of items made (or updated, skipped) whose later passes have not run yet: an
    /// item's outcome is recorded once, when its last step is done, so that an item made and
    /// then failed in a later step counts once, as failed.
    pub held: Mutex<HashMap<String, (String, Done)>>,
}

impl Run<'_> {
    /// The retry loop of this run: the job's clock, cancellation interrupts a wait.
    pub fn retry(&self) -> Retry<'_> {
        Retry { policy: &self.retry, clock: self.clock, sleeper: &TokioSleeper, cancel: Some(&self.cancel) }
    }

    pub fn check_cancel(&self) -> Result<(), Stop> {
        if self.cancel.is_cancelled() {
            Err(Stop::Cancelled)
        } else {
            Ok(())
        }
    }

    pub async fn blob(&self, b: &BlobRef) -> Result<Bytes, Stop> {
        self.repo.get_blob(b).await.map_err(|e| Stop::Failed(format!("reading the snapshot: {e}")))
    }

    /// A blob's content as a stream of chunks, for files sent without holding them whole.
    pub async fn blob_stream(&self, b: &BlobRef) -> Result<arcgis::write::FileBody, Stop> {
        let stream =
            self.repo.get_blob_stream(b).await.map_err(|e| Stop::Failed(format!("reading the snapshot: {e}")))?;
        Ok(Box::pin(stream.map_err(|e| std::io::Error::other(format!("reading the snapshot: {e}")))))
    }

    /// The typeKeyword of a package this restore uploads for `source_id`.
    pub fn upload_keyword(&self, source_id: &str) -> String {
        self.marks.upload_keyword(self.journal.snapshot(), source_id)
    }

    /// The intent noted in the journal before a create: the owner it is made for and when.
    pub fn intent(&self, owner: &str) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("owner".into(), Value::from(owner));
        m.insert("at".into(), Value::from(self.journal.now_ms()));
        m
    }

    pub async fn blob_json(&self, b: &BlobRef) -> Result<Value, Stop> {
        let bytes = self.blob(b).await?;
        serde_json::from_slice(&bytes).map_err(|e| Stop::Failed(format!("the snapshot holds invalid JSON: {e}")))
    }

    pub fn rewriter(&self) -> std::sync::RwLockReadGuard<'_, Rewriter> {
        self.rewriter.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn map_id(&self, from: &str, to: &str) {
        self.rewriter.write().unwrap_or_else(|p| p.into_inner()).map_id(from, to);
    }

    pub fn map_url(&self, from: &str, to: &str) {
        self.rewriter.write().unwrap_or_else(|p| p.into_inner()).map_url(from, to);
    }

    pub fn place(&self, source: &str, owner: &str, target: &str) {
        self.map_id(source, target);
        self.placed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(source.to_owned(), (owner.to_owned(), target.to_owned()));
    }

    /// An offered source id that has no target yet (a reference to it must be patched later).
    pub fn unplaced_offered(&self, id: &str) -> bool {
        self.offered.contains(id) && !self.placed.read().unwrap_or_else(|p| p.into_inner()).contains_key(id)
    }

    /// The owner of an existing target item (`fallback` when the plan did not see it).
    pub fn owner_of_target(&self, target_id: &str, fallback: &str) -> String {
        self.target_owners.get(target_id).cloned().unwrap_or_else(|| fallback.to_owned())
    }

    pub fn placed(&self, source: &str) -> Option<(String, String)> {
        self.placed.read().unwrap_or_else(|p| p.into_inner()).get(source).cloned()
    }

    /// Records one subject's outcome in the job history and the tallies, and advances the progress.
    pub async fn outcome(&self, kind: SubjectKind, id: &str, title: &str, result: Result<Done, Stop>) {
        self.record(kind, id, title, result, true).await
    }

    /// Keeps an item's good outcome until its later passes are done; the progress moves now.
    pub fn hold(&self, id: &str, title: &str, done: Done) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), (title.to_owned(), done));
        self.progress.advance(1);
    }

    /// The held outcome of an item, taken out.
    pub fn take_held(&self, id: &str) -> Option<(String, Done)> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(id)
    }

    /// Records every outcome still held (items without later passes, or a cancelled run).
    pub async fn record_held(&self) {
        let held: Vec<(String, (String, Done))> = self.held.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (id, (title, done)) in held {
            self.record(SubjectKind::Item, &id, &title, Ok(done), false).await;
        }
    }

    /// Records one outcome; `advance` is false when the progress already counted the subject.
    pub async fn record(&self, kind: SubjectKind, id: &str, title: &str, result: Result<Done, Stop>, advance: bool) {
        let (outcome, reason) = match result {
            Ok(Done::Created) => {
                self.tally.created.fetch_add(1, Ordering::Relaxed);
                (Outcome::Ok, Some("created".to_owned()))
            }
            Ok(Done::Updated) => {
                self.tally.updated.fetch_add(1, Ordering::Relaxed);
                (Outcome::Ok, Some("updated".to_owned()))
            }
            Ok(Done::Skipped(r)) => {
                self.tally.skipped.fetch_add(1, Ordering::Relaxed);
                (Outcome::Skipped, Some(r))
            }
            Err(Stop::Failed(r) | Stop::Transient { reason: r, .. }) => {
                tracing::warn!(?kind, id, "restore of one subject failed: {r}");
                self.tally.failed.fetch_add(1, Ordering::Relaxed);
                (Outcome::Failed, Some(r))
            }
            Err(Stop::Cancelled) => return,
        };
        let o = ItemOutcome { kind, id: id.to_owned(), title: title.to_owned(), outcome, reason };
        self.progress.item(&o);
        if advance {
            self.progress.advance(1);
        }
        let lock = self.journal.write_lock();
        let _one_at_a_time = lock.lock().await;
        if let Err(e) = self.jobs.record_item(self.job_id, &o).await {
            tracing::warn!("recording an outcome in the job history failed: {e}");
        }
    }
}

/// How one subject ended well.
#[derive(Debug)]
pub(crate) enum Done {
    Created,
    Updated,
    Skipped(String),
}

/// Whether a failed write may have been applied (its answer was lost), so that what it made
/// must be looked for before anything is sent again.
pub(crate) fn maybe_applied(e: &arcgis::Error) -> bool {
    matches!(
        e,
        arcgis::Error::ConnectionLost { .. }
            | arcgis::Error::Timeout { .. }
            | arcgis::Error::Http { status: 500..=599, .. }
    ) || matches!(e, arcgis::Error::Api { code: 500..=599, .. })
}
