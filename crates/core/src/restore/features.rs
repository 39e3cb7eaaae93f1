//! Features and attachments loaded into a service this run created (the copy made by
//! `createService` when the backup holds the features as a paged query).
//!
//! `applyEdits` and `addAttachment` are writes whose answer may be lost after they took effect,
//! so the client never repeats them blindly. The service is new and only this run writes to it,
//! so after a failure that may pass, what landed is read back (the features past the highest
//! object id known so far; the attachments of the feature) and the write is sent again only when
//! nothing landed. A lost answer then costs one read, not the whole service made again.

use std::collections::HashMap;
use std::future::Future;

use arcgis::write::{FilePart, MAX_ADDS_PER_CALL};
use arcgis::Url;
use serde_json::{json, Value};
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::features_doc::{read_layers, Piece};
use super::run::{Run, Stop};
use crate::repo::{BlobRef, ServiceEntry};

/// Adds every saved feature and attachment. The features document (`doc`) is read from the
/// repository as a stream, twice: the layers that are the origin of a relationship first, then
/// the others, each in document order, a batch of [`MAX_ADDS_PER_CALL`] at a time (see
/// `features_doc`). Global ids are kept, and any the service changed are rewritten in later rows.
pub(crate) async fn load_features(
    run: &Run<'_>,
    url: &Url,
    doc: &BlobRef,
    rels: &[Value],
    service: &ServiceEntry,
) -> Result<(), Stop> {
    let origins: Vec<i64> = rels.iter().filter_map(|r| r.get("originLayerId")?.as_i64()).collect();
    let layers =
        run.portal.service_layers(url).await.map_err(|e| Stop::portal("reading the restored service's layers", e))?;
    let mut ids = IdMaps { keeps_global_ids: layers_keeping_global_ids(&layers), ..IdMaps::default() };
    if !origins.is_empty() {
        let first = origins.clone();
        load_pass(run, url, doc, service, move |id| first.contains(&id), &mut ids).await?;
    }
    load_pass(run, url, doc, service, move |id| !origins.contains(&id), &mut ids).await?;
    let IdMaps { oids, .. } = ids;
    // Attachment ids this run added, per feature: a lost answer's attachment is the one not here.
    let mut added: HashMap<(i64, i64), Vec<i64>> = HashMap::new();
    for a in &service.attachments {
        run.check_cancel()?;
        let Some(&new_oid) = oids.get(&(a.layer_id, a.object_id)) else {
            return Err(Stop::Failed(format!(
                "attachment {} names feature {} of layer {} that was not restored",
                a.attachment_id, a.object_id, a.layer_id
            )));
        };
        let bytes = run.blob(&a.blob).await?;
        let size = bytes.len() as u64;
        let part = FilePart {
            field: "attachment".into(),
            file_name: a.name.clone(),
            content_type: a.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
            bytes,
        };
        let known = added.entry((a.layer_id, new_oid)).or_default();
        let id = write_until_landed(
            run,
            &format!("adding attachment {} of feature {}", a.attachment_id, a.object_id),
            || run.portal.add_attachment(url, a.layer_id, new_oid, part.clone()),
            || landed_attachment(run, url, a.layer_id, new_oid, &a.name, size, known),
        )
        .await?;
        known.push(id);
    }
    Ok(())
}

/// The ids the restore changed so far: source GlobalID -> new one, (layer, source object id)
/// -> new object id.
#[derive(Default)]
struct IdMaps {
    guids: HashMap<String, String>,
    oids: HashMap<(i64, i64), i64>,
    /// Layers of the target service that keep sent GlobalIDs (`useGlobalIds` is sent to them).
    keeps_global_ids: Vec<i64>,
}

/// The layers and tables whose JSON says `supportsApplyEditsWithGlobalIds: true`.
fn layers_keeping_global_ids(layers: &Value) -> Vec<i64> {
    ["layers", "tables"]
        .iter()
        .filter_map(|k| layers.get(*k).and_then(Value::as_array))
        .flatten()
        .filter(|l| l.get("supportsApplyEditsWithGlobalIds").and_then(Value::as_bool) == Some(true))
        .filter_map(|l| l.get("id").and_then(Value::as_i64))
        .collect()
}

/// One reading of the document: the layers `want` chooses are added. The parser runs on a
/// blocking thread and hands batches over a channel of one, so at most three batches exist at
/// once (parsed, waiting, being sent); a failure here drops the channel, which stops the parser.
async fn load_pass(
    run: &Run<'_>,
    url: &Url,
    doc: &BlobRef,
    service: &ServiceEntry,
    want: impl Fn(i64) -> bool + Send + 'static,
    ids: &mut IdMaps,
) -> Result<(), Stop> {
    let stream = run.blob_stream(doc).await?;
    let reader = std::io::BufReader::new(SyncIoBridge::new(StreamReader::new(stream)));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(1);
    let parser = tokio::task::spawn_blocking(move || {
        read_layers(reader, MAX_ADDS_PER_CALL, &want, &mut |piece| tx.blocking_send(piece).is_ok())
    });
    // (layer id, object id field, highest object id added to it so far)
    let mut layer: Option<(i64, String, i64)> = None;
    while let Some(piece) = rx.recv().await {
        run.check_cancel()?;
        match piece {
            Piece::Layer { id, oid_field } => layer = Some((id, oid_field, 0)),
            Piece::Features(batch) => {
                let Some((lid, oid_field, highest)) = layer.as_mut() else {
                    return Err(Stop::Failed(format!("the saved features of {} name no layer", service.url)));
                };
                add_batch(run, url, *lid, oid_field, highest, batch, ids).await?;
            }
        }
    }
    match parser.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Stop::Failed(format!("the saved features of {} cannot be read: {e}", service.url))),
        Err(e) => Err(Stop::Failed(format!("reading the saved features of {} stopped: {e}", service.url))),
    }
}

/// Adds one batch of saved features to layer `lid` (new: every feature in it was added by
/// this run, the highest object id so far is `highest`), recording the ids it changed.
async fn add_batch(
    run: &Run<'_>,
    url: &Url,
    lid: i64,
    oid_field: &str,
    highest: &mut i64,
    batch: Vec<Value>,
    ids: &mut IdMaps,
) -> Result<(), Stop> {
    let mut old_ids = Vec::with_capacity(batch.len());
    let mut old_guids = Vec::with_capacity(batch.len());
    let adds: Vec<Value> = batch
        .into_iter()
        .map(|mut f| {
            if let Some(a) = f.get_mut("attributes").and_then(Value::as_object_mut) {
                old_ids.push(a.remove(oid_field).and_then(|v| v.as_i64()));
                old_guids.push(a.get("GlobalID").and_then(Value::as_str).map(str::to_owned));
                for v in a.values_mut() {
                    if let Some(new) = v.as_str().and_then(|s| ids.guids.get(s)) {
                        *v = json!(new);
                    }
                }
            } else {
                old_ids.push(None);
                old_guids.push(None);
            }
            f
        })
        .collect();
    let sent_guids: Vec<Option<String>> =
        adds.iter().map(|f| f.pointer("/attributes/GlobalID").and_then(Value::as_str).map(str::to_owned)).collect();
    let since = *highest;
    let keep = ids.keeps_global_ids.contains(&lid);
    let results = write_until_landed(
        run,
        &format!("adding features to layer {lid}"),
        || run.portal.apply_adds(url, lid, &adds, keep),
        || landed_features(run, url, lid, oid_field, since, &sent_guids),
    )
    .await?;
    for ((res, old), old_guid) in results.iter().zip(old_ids).zip(old_guids) {
        let Some((new_oid, new_guid)) = res else {
            return Err(Stop::Failed(format!("layer {lid} refused a feature")));
        };
        *highest = (*highest).max(*new_oid);
        if let Some(o) = old {
            ids.oids.insert((lid, o), *new_oid);
        }
        if let (Some(a), Some(b)) = (old_guid, new_guid) {
            if a != *b {
                ids.guids.insert(a, b.clone());
            }
        }
    }
    Ok(())
}

/// Sends a write until it lands. After a failure that may pass (and a pause), `landed` reads
/// whether the write took effect anyway and answers what its lost answer would have said; only
/// when nothing landed is the write sent again. Sends and reads together take at most the
/// run's attempts; past them the failure passes on (as one that may pass: the subject is then
/// tried again whole).
async fn write_until_landed<T, S, SF, L, LF>(run: &Run<'_>, what: &str, mut send: S, mut landed: L) -> Result<T, Stop>
where
    S: FnMut() -> SF,
    SF: Future<Output = arcgis::Result<T>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>, Stop>>,
{
    let mut attempts = arcgis::Attempts::new(&run.retry, run.clock);
    let retry = run.retry();
    loop {
        let (mut reason, mut wait) = match send().await {
            Ok(t) => return Ok(t),
            Err(e) => match Stop::portal(what, e) {
                Stop::Transient { reason, wait } => (reason, wait),
                stop => return Err(stop),
            },
        };
        // Did it land? Read until the read itself answers.
        loop {
            let Some(pause) = attempts.after_failure(wait) else {
                let n = attempts.failed();
                return Err(Stop::Transient { reason: format!("{reason} ({n} attempts)"), wait });
            };
            tracing::info!(
                subject = what,
                attempt = attempts.failed(),
                "looking whether the write landed in {pause:?}: {reason}"
            );
            if retry.pause(pause).await.is_err() {
                return Err(Stop::Cancelled);
            }
            match landed().await {
                Ok(Some(t)) => return Ok(t),
                Ok(None) => break,
                Err(Stop::Transient { reason: r, wait: w }) => (reason, wait) = (r, w),
                Err(stop) => return Err(stop),
            }
        }
    }
}

/// What an `applyEdits` of `sent` features (their GlobalIDs, when they have them) added past
/// object id `highest`: `None` when nothing, their `(objectId, GlobalID)` in the order sent when
/// all of them (the call rolls back on failure, so it is all or nothing).
async fn landed_features(
    run: &Run<'_>,
    url: &Url,
    layer: i64,
    oid_field: &str,
    highest: i64,
    sent: &[Option<String>],
) -> Result<Option<Vec<Option<(i64, Option<String>)>>>, Stop> {
    let found = run
        .portal
        .features_after(url, layer, oid_field, highest)
        .await
        .map_err(|e| Stop::portal(&format!("reading back layer {layer}"), e))?;
    if found.is_empty() {
        return Ok(None);
    }
    if found.len() != sent.len() {
        return Err(Stop::Transient {
            reason: format!("layer {layer} holds {} new features where {} were sent", found.len(), sent.len()),
            wait: None,
        });
    }
    let norm = |g: &str| g.trim_matches(|c| c == '{' || c == '}').to_ascii_lowercase();
    let by_guid: HashMap<String, &(i64, Option<String>)> =
        found.iter().filter_map(|f| Some((norm(f.1.as_deref()?), f))).collect();
    let matched: Option<Vec<_>> =
        sent.iter().map(|g| g.as_deref().and_then(|g| by_guid.get(&norm(g))).map(|f| Some((*f).clone()))).collect();
    // Matched by GlobalID when every feature has one the service kept; else in object-id order,
    // the order the adds were made in.
    Ok(Some(matched.unwrap_or_else(|| found.into_iter().map(Some).collect())))
}

/// The attachment an `addAttachment` whose answer was lost added: one named `name` of `size`
/// bytes that this run did not add before (`known`).
async fn landed_attachment(
    run: &Run<'_>,
    url: &Url,
    layer: i64,
    object_id: i64,
    name: &str,
    size: u64,
    known: &[i64],
) -> Result<Option<i64>, Stop> {
    let list = run
        .portal
        .feature_attachments(url, layer, object_id)
        .await
        .map_err(|e| Stop::portal(&format!("reading back the attachments of feature {object_id}"), e))?;
    Ok(list.into_iter().filter(|a| a.name == name && a.size == size && !known.contains(&a.id)).map(|a| a.id).min())
}
