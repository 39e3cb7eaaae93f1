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

use super::run::{Run, Stop};
use crate::repo::ServiceEntry;

/// Adds every saved feature and attachment. Layers that are the origin of a relationship go
/// first; global ids are kept, and any the service changed are rewritten in later rows.
pub(crate) async fn load_features(
    run: &Run<'_>,
    url: &Url,
    doc: &Value,
    rels: &[Value],
    service: &ServiceEntry,
) -> Result<(), Stop> {
    let mut layers: Vec<&Value> = doc.get("layers").and_then(Value::as_array).into_iter().flatten().collect();
    let origins: Vec<i64> = rels.iter().filter_map(|r| r.get("originLayerId")?.as_i64()).collect();
    layers.sort_by_key(|l| {
        let id = l.get("id").and_then(Value::as_i64).unwrap_or(0);
        (!origins.contains(&id), id)
    });
    let mut guids: HashMap<String, String> = HashMap::new();
    let mut oids: HashMap<(i64, i64), i64> = HashMap::new();
    for layer in layers {
        let lid = layer.get("id").and_then(Value::as_i64).unwrap_or(0);
        let oid_field = layer.get("objectIdFieldName").and_then(Value::as_str).unwrap_or("OBJECTID").to_owned();
        let features: Vec<&Value> = layer.get("features").and_then(Value::as_array).into_iter().flatten().collect();
        // The layer is new: every feature in it was added by this loop.
        let mut highest = 0i64;
        for chunk in features.chunks(MAX_ADDS_PER_CALL) {
            run.check_cancel()?;
            let mut old_ids = Vec::new();
            let mut old_guids = Vec::new();
            let adds: Vec<Value> = chunk
                .iter()
                .map(|f| {
                    let mut f = (*f).clone();
                    if let Some(a) = f.get_mut("attributes").and_then(Value::as_object_mut) {
                        old_ids.push(a.remove(&oid_field).and_then(|v| v.as_i64()));
                        old_guids.push(a.get("GlobalID").and_then(Value::as_str).map(str::to_owned));
                        for v in a.values_mut() {
                            if let Some(new) = v.as_str().and_then(|s| guids.get(s)) {
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
            let sent_guids: Vec<Option<String>> = adds
                .iter()
                .map(|f| f.pointer("/attributes/GlobalID").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let results = write_until_landed(
                run,
                &format!("adding features to layer {lid}"),
                || run.portal.apply_adds(url, lid, &adds),
                || landed_features(run, url, lid, &oid_field, highest, &sent_guids),
            )
            .await?;
            for ((res, old), old_guid) in results.iter().zip(old_ids).zip(old_guids) {
                let Some((new_oid, new_guid)) = res else {
                    return Err(Stop::Failed(format!("layer {lid} refused a feature")));
                };
                highest = highest.max(*new_oid);
                if let Some(o) = old {
                    oids.insert((lid, o), *new_oid);
                }
                if let (Some(a), Some(b)) = (old_guid, new_guid) {
                    if a != *b {
                        guids.insert(a, b.clone());
                    }
                }
            }
        }
    }
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
