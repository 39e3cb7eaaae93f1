//! A hosted feature service's data: File Geodatabase export first, `createReplica` when the
//! export fails or times out, the paged query with attachments (see `query`) when the service
//! cannot replicate either.
//!
//! Invariant: a temporary export item is deleted whatever happens after it was created
//! (success, failure, timeout, cancel). The deletion runs after the cancellable part has ended,
//! with its own short deadline; the item is also listed in the run's register of outstanding
//! export items, which the job sweeps once more before it ends, so not even a failed delete
//! request is left unretried. Against a lost `export` answer or a killed process, every export
//! is journaled in SQLite before it is started (see `export_journal`).

use std::time::Duration;

use url::Url;

use super::query::query_all;
use super::run::{Download, Run, Stop};
use crate::repo::{AttachmentEntry, BlobRef};

/// How a service's data came out of the organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// File Geodatabase via the portal's export job.
    FileGeodatabase,
    /// File Geodatabase via `createReplica` (with attachments).
    Replica,
    /// Features as JSON via paged `query`, attachments downloaded one by one (see `query`).
    Query,
}

impl Method {
    /// The file name the export gets in the snapshot.
    pub fn file_name(self, item_id: &str) -> String {
        match self {
            Method::FileGeodatabase | Method::Replica => format!("{item_id}.gdb.zip"),
            Method::Query => format!("{item_id}.features.json"),
        }
    }
}

impl From<Method> for crate::repo::ExportMethod {
    fn from(m: Method) -> Self {
        match m {
            Method::FileGeodatabase => crate::repo::ExportMethod::Fgdb,
            Method::Replica => crate::repo::ExportMethod::Replica,
            Method::Query => crate::repo::ExportMethod::Query,
        }
    }
}

/// What was captured of a service's data.
#[derive(Debug, Clone)]
pub(crate) struct ServiceData {
    pub blob: BlobRef,
    pub method: Method,
    /// Attachments stored apart from `blob` (the query fallback only).
    pub attachments: Vec<AttachmentEntry>,
    /// Why the preferred way was not used; `None` when the export worked.
    pub fallback_reason: Option<String>,
}

/// The layers of a service as the export needs them.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceLayers {
    /// Every layer and table id.
    pub ids: Vec<i64>,
    /// Those with `hasAttachments`.
    pub with_attachments: Vec<i64>,
    /// The service's `fullExtent`, sent with `createReplica` so that no row is filtered out.
    pub full_extent: Option<serde_json::Value>,
    /// Each layer's `objectIdField` (the query fallback orders its pages by it).
    pub oid_fields: std::collections::HashMap<i64, String>,
}

/// Runs the export, falling back as needed. `Err` holds every reason tried, for the outcome.
pub(crate) async fn export_service(
    run: &Run<'_>,
    owner: &str,
    item_id: &str,
    service_url: &Url,
    layers: &ServiceLayers,
    can_sync: bool,
) -> Result<ServiceData, Stop> {
    let layer_ids = layers.ids.as_slice();
    // When every way failed and one failure was transient (a body that broke off, a token
    // revoked again), the subject is worth another attempt; `attempts` retries Transient only.
    let mut transient = false;
    let export_err = match export_fgdb(run, owner, item_id).await {
        Ok(blob) => {
            return Ok(ServiceData {
                blob,
                method: Method::FileGeodatabase,
                attachments: Vec::new(),
                fallback_reason: None,
            })
        }
        Err(Stop::Failed(reason)) => reason,
        Err(Stop::Transient { reason, .. }) => {
            transient = true;
            reason
        }
        Err(stop) => return Err(stop),
    };
    tracing::warn!(item = item_id, "export failed, falling back: {export_err}");
    let replica_err = if can_sync {
        match replica(run, service_url, layer_ids, layers.full_extent.as_ref()).await {
            Ok(blob) => {
                return Ok(ServiceData {
                    blob,
                    method: Method::Replica,
                    attachments: Vec::new(),
                    fallback_reason: Some(format!("export failed ({export_err}); used createReplica")),
                })
            }
            Err(Stop::Failed(reason)) => reason,
            Err(Stop::Transient { reason, .. }) => {
                transient = true;
                reason
            }
            Err(stop) => return Err(stop),
        }
    } else {
        "the service has no Sync capability".to_owned()
    };
    let (reason, last_transient) = match query_all(run, service_url, layers).await {
        Ok(copy) => {
            return Ok(ServiceData {
                blob: copy.features,
                method: Method::Query,
                fallback_reason: Some(format!(
                    "export failed ({export_err}); no replica ({replica_err}); features copied by paged query, {} attachment(s) downloaded one by one",
                    copy.attachments.len()
                )),
                attachments: copy.attachments,
            })
        }
        Err(Stop::Failed(reason)) => (reason, false),
        Err(Stop::Transient { reason, .. }) => (reason, true),
        Err(stop) => return Err(stop),
    };
    let all = format!("export failed ({export_err}); no replica ({replica_err}); paged query failed ({reason})");
    Err(if transient || last_transient { Stop::transient(all) } else { Stop::Failed(all) })
}

/// The delay before poll `n` (0-based): quick at first (jobs on a quiet portal take well under
/// a second, and a subject waiting on one holds a subject slot), doubling up to `max`.
fn poll_delay(n: u32, max: Duration) -> Duration {
    let ms = 100u64.saturating_mul(1 << n.min(7));
    Duration::from_millis(ms).min(max)
}

/// The signed-in user's name.
fn signed_in(run: &Run<'_>) -> Option<String> {
    run.portal.self_info().user.as_ref().map(|u| u.username.clone()).filter(|u| !u.is_empty())
}

/// The type of the item a File Geodatabase export creates.
const EXPORT_ITEM_TYPE: &str = arcgis::FILE_GEODATABASE;

async fn export_fgdb(run: &Run<'_>, owner: &str, item_id: &str) -> Result<BlobRef, Stop> {
    // Not interruptible: once the request is out the portal may create the export item, and
    // only its answer names the item to delete. The request is bounded by the client's timeout.
    run.check_cancel()?;
    // Journaled before the call, under a title no one else uses: when the answer is lost or the
    // process dies, the next sweep finds the item by that title (see `export_journal`).
    let title = run.journal.new_title(item_id);
    run.journal
        .record(&title, owner, item_id, EXPORT_ITEM_TYPE)
        .await
        .map_err(|e| Stop::Failed(format!("journaling the export before starting it: {e}")))?;
    // On an error the row stays: the answer may be lost while the item exists; the job's final
    // sweep looks for it by its title.
    let (mut job, title) = match start_export_recovering(run, owner, item_id, title).await {
        // ArcGIS Online refuses an administrator exporting into another user's content; Esri's
        // Python client (`Item.export`) then exports into the signed-in user's own content. The
        // refused call made nothing, so the journal row moves to the signed-in user first.
        Err((arcgis::Error::Forbidden { .. }, refused)) if signed_in(run).is_some_and(|me| me != owner) => {
            let me = signed_in(run).unwrap_or_default();
            run.journal
                .set_owner(&refused, &me)
                .await
                .map_err(|e| Stop::Failed(format!("journaling the export before starting it: {e}")))?;
            start_export_recovering(run, &me, item_id, refused).await
        }
        other => other,
    }
    .map_err(|(e, _)| Stop::portal("starting the export", e))?;
    // The status and delete paths name the export item's owner: read it from the item rather
    // than assume it (Esri's Python client polls through the export item's own owner).
    match run.portal.item(&job.export_item_id).await {
        Ok(info) if !info.owner.is_empty() && info.owner != job.owner => {
            tracing::info!(item = %job.export_item_id, owner = %info.owner, "the export item belongs to another user than asked");
            job.owner = info.owner;
            if let Err(e) = run.journal.set_owner(&title, &job.owner).await {
                tracing::warn!("cannot record the export item's owner in the journal: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(item = %job.export_item_id, "cannot read the export item's owner; using {}: {e}", job.owner)
        }
    }
    run.register_export(&job.owner, &job.export_item_id, &title);
    if let Err(e) = run.journal.set_item(&title, &job.export_item_id).await {
        tracing::warn!("cannot record the export item in the journal (its title still finds it): {e}");
    }
    let work = async {
        let deadline = tokio::time::Instant::now() + run.options.export_timeout;
        let mut n = 0;
        loop {
            match run.portal.export_status(&job).await {
                Ok(arcgis::JobStatus::Completed { .. }) => break,
                Ok(arcgis::JobStatus::Failed { message }) => return Err(Stop::Failed(message)),
                Ok(arcgis::JobStatus::Processing) => {}
                Err(e) => return Err(Stop::portal("polling the export", e)),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Stop::Failed(format!(
                    "the export did not finish within {} s",
                    run.options.export_timeout.as_secs()
                )));
            }
            tokio::time::sleep(poll_delay(n, run.options.poll_max)).await;
            n += 1;
        }
        run.download(Download::Export(&format!("export item {}", job.export_item_id)), || {
            run.portal.item_data_stream(&job.export_item_id)
        })
        .await?
        .map_err(|e| Stop::portal("downloading the export", e))
    };
    let result = match run.cancellable(work).await {
        Ok(r) => r,
        Err(stop) => Err(stop),
    };
    // Cleanup runs whatever happened above, cancel included.
    run.delete_export(&job.owner, &job.export_item_id).await;
    result
}

/// Starts an export whose answer may be lost. `export` is not idempotent (each call makes an
/// item), so a failure that may have happened after the portal acted (a timeout, a broken
/// connection, a 5xx) is not answered by calling again blindly: the owner's root folder, where
/// `export` puts its item and which (unlike search) is current at once, is read for an item with
/// the call's unique journaled title and the export's item type. One such item is adopted (its
/// status is then polled without a job id); more than one is left alone (the journal's sweep
/// refuses too) and the export fails. None means the call made nothing yet: it is sent again, up
/// to `EXPORT_STARTS` calls, each under a new journaled title, so that the row of a call that
/// may still make its item (a timed-out export can finish later) stays for the sweeps to find it
/// (`export_journal`, `Verdict::NotYet`). Answers the job and the title of the call that made it;
/// a failure carries the title of the last call.
async fn start_export_recovering(
    run: &Run<'_>,
    owner: &str,
    item_id: &str,
    first_title: String,
) -> Result<(arcgis::ExportJob, String), (arcgis::Error, String)> {
    let mut title = first_title;
    let mut calls = 0;
    loop {
        calls += 1;
        let err = match run.portal.start_export(owner, item_id, arcgis::FILE_GEODATABASE, &title).await {
            Ok(job) => return Ok((job, title)),
            Err(e) => e,
        };
        // A permanent error is final; a throttled or refused call was not carried out and the
        // client has already sent it again as often as it would.
        if !err.is_retryable() || matches!(err, arcgis::Error::RateLimited { .. } | arcgis::Error::Connect { .. }) {
            return Err((err, title));
        }
        match find_export_item(run, owner, &title).await {
            Ok(Some(export_item_id)) => {
                tracing::info!(item = %export_item_id, "the export's answer was lost; its item was found by its title and is used");
                let job = arcgis::ExportJob { job_id: String::new(), export_item_id, owner: owner.to_owned() };
                return Ok((job, title));
            }
            Ok(None) if calls < EXPORT_STARTS && !run.cancel.is_cancelled() => {
                tracing::info!("the export's answer was lost and it made no item yet; starting it again: {err}");
                tokio::time::sleep(poll_delay(calls, run.options.poll_max)).await;
                let next = run.journal.new_title(item_id);
                if let Err(e) = run.journal.record(&next, owner, item_id, EXPORT_ITEM_TYPE).await {
                    tracing::warn!("cannot journal another export call; not sending it: {e}");
                    return Err((err, title));
                }
                title = next;
            }
            Ok(None) => return Err((err, title)),
            Err(e) => {
                tracing::warn!("the export's answer was lost and its item cannot be looked for: {e}");
                return Err((err, title));
            }
        }
    }
}

/// Calls of `export` for one service before giving up (see `start_export_recovering`).
const EXPORT_STARTS: u32 = 5;

/// The id of the one export item titled `title` in `owner`'s root folder, if there is exactly one.
async fn find_export_item(run: &Run<'_>, owner: &str, title: &str) -> Result<Option<String>, arcgis::Error> {
    let items = run.portal.user_root_items(owner).await?;
    let mut found = items.into_iter().filter(|i| i.title == title && i.item_type == EXPORT_ITEM_TYPE);
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(Some(one.id)),
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(arcgis::Error::Decode {
            url: format!("content/users/{owner}"),
            detail: format!("two items are titled {title:?}; neither is taken for this export"),
        }),
    }
}

async fn replica(
    run: &Run<'_>,
    service_url: &Url,
    layer_ids: &[i64],
    full_extent: Option<&serde_json::Value>,
) -> Result<BlobRef, Stop> {
    let work = async {
        let status_url = run
            .portal
            .create_replica(service_url, layer_ids, full_extent)
            .await
            .map_err(|e| Stop::portal("starting createReplica", e))?;
        let deadline = tokio::time::Instant::now() + run.options.export_timeout;
        let mut n = 0;
        let result_url = loop {
            match run.portal.replica_status(&status_url).await {
                Ok(arcgis::JobStatus::Completed { result_url: Some(u) }) => break u,
                Ok(arcgis::JobStatus::Completed { result_url: None }) => {
                    return Err(Stop::Failed("the replica completed without a result URL".into()))
                }
                Ok(arcgis::JobStatus::Failed { message }) => return Err(Stop::Failed(message)),
                Ok(arcgis::JobStatus::Processing) => {}
                Err(e) => return Err(Stop::portal("polling the replica", e)),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Stop::Failed(format!(
                    "the replica did not finish within {} s",
                    run.options.export_timeout.as_secs()
                )));
            }
            tokio::time::sleep(poll_delay(n, run.options.poll_max)).await;
            n += 1;
        };
        run.download(Download::Export("the replica"), || run.portal.get_stream(&result_url, &[]))
            .await?
            .map_err(|e| Stop::portal("downloading the replica", e))
    };
    run.cancellable(work).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_start_quick_and_are_capped() {
        let max = Duration::from_secs(5);
        assert_eq!(poll_delay(0, max), Duration::from_millis(100), "the first poll comes quickly");
        assert!(poll_delay(3, max) > poll_delay(2, max), "polls slow down while the job runs");
        assert_eq!(poll_delay(30, max), max, "and never wait longer than the cap");
    }
}
