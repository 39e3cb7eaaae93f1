//! One item: fields, data, thumbnail, resources and metadata, with ids and URLs rewritten; the
//! later passes (patch, relationships, sharing) are in `apply`.
//!
//! A create is sent once. When its answer is lost, the item is looked for by its marker
//! typeKeyword; only when none exists is the create sent again (once), with its content made
//! anew (a file's stream is spent by the first try). The journal row is written right after
//! the create, before the item's other parts.
//!
//! A file never passes through memory whole: item data goes up from the repository as a stream
//! ([`ItemContent::Streamed`]; above the single-upload limit, part by part), on a create as on
//! an update.

use arcgis::write::{FilePart, ItemContent, ItemFields, StreamedFile};
use serde_json::{json, Value};

use super::journal::EntryKind;
use super::plan::{Action, PlannedItem};
use super::rewrite::ids_in;
use super::run::{maybe_applied, Done, Run, Stop};
use crate::repo::{DataKind, ItemEntry};

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// The item's fields from its backed-up JSON, rewritten, with the marker and the extra tags.
pub(crate) fn item_fields(run: &Run<'_>, plan: &PlannedItem, json: &Value) -> ItemFields {
    let rw = run.rewriter();
    let mut keywords: Vec<String> =
        strings(json, "typeKeywords").into_iter().filter(|k| !super::marks::is_restore_mark(k)).collect();
    keywords.push(run.marks.item_marker(&plan.source_id));
    let mut tags = strings(json, "tags");
    for t in &run.options.mapping.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let mut properties = json.get("properties").cloned().filter(|p| !p.is_null());
    if let Some(p) = properties.as_mut() {
        rw.rewrite_json(p);
    }
    ItemFields {
        title: Some(plan.target_title.clone()),
        item_type: Some(plan.item_type.clone()),
        type_keywords: Some(keywords),
        tags: Some(tags),
        snippet: text(json, "snippet").map(|s| rw.rewrite_str(&s)),
        description: text(json, "description").map(|s| rw.rewrite_str(&s)),
        extent: json.get("extent").cloned(),
        spatial_reference: text(json, "spatialReference"),
        access_information: text(json, "accessInformation"),
        license_info: text(json, "licenseInfo"),
        url: text(json, "url").filter(|u| !u.is_empty()).map(|u| rw.rewrite_str(&u)),
        properties,
    }
}

/// The thumbnail as a file part.
pub(crate) async fn thumbnail(run: &Run<'_>, entry: &ItemEntry) -> Result<Option<FilePart>, Stop> {
    let Some(t) = &entry.thumbnail else { return Ok(None) };
    let bytes = run.blob(&t.blob).await?;
    let content_type = if t.name.to_lowercase().ends_with(".jpg") || t.name.to_lowercase().ends_with(".jpeg") {
        "image/jpeg"
    } else {
        "image/png"
    };
    Ok(Some(FilePart {
        field: "thumbnail".into(),
        file_name: t.name.clone(),
        content_type: content_type.into(),
        bytes,
    }))
}

/// The folder id of `title` for `owner`, made when missing.
pub(crate) async fn folder_id(run: &Run<'_>, owner: &str, title: Option<&str>) -> Result<Option<String>, Stop> {
    let Some(title) = title.filter(|t| !t.is_empty()) else { return Ok(None) };
    let key = (owner.to_owned(), title.to_owned());
    let mut folders = run.folders.lock().await;
    if let Some(id) = folders.get(&key) {
        return Ok(Some(id.clone()));
    }
    let find = || async {
        let list = run.portal.user_folders(owner).await.map_err(|e| Stop::portal("listing folders", e))?;
        Ok::<_, Stop>(list.into_iter().find(|f| f.title == title).map(|f| f.id))
    };
    let id = match find().await? {
        Some(id) => id,
        None => match run.portal.create_folder(owner, title).await {
            Ok(f) => f.id,
            // Taken (made by a create whose answer was lost, or by someone meanwhile): look again.
            Err(e) if arcgis::write::is_conflict(&e) || maybe_applied(&e) => {
                find().await?.ok_or_else(|| Stop::portal(&format!("creating folder {title:?}"), e))?
            }
            Err(e) => return Err(Stop::portal(&format!("creating folder {title:?}"), e)),
        },
    };
    let key_text = format!("{owner}/{title}");
    run.journal.record(EntryKind::Folder, &key_text, &id, true, &json!({})).await?;
    folders.insert(key, id.clone());
    Ok(Some(id))
}

/// The item's data as it is sent now (rewritten with the ids known so far), and whether it must
/// be patched once every id is known.
pub(crate) async fn content(
    run: &Run<'_>,
    entry: &ItemEntry,
    data: Option<&Value>,
) -> Result<(ItemContent, bool), Stop> {
    let Some(d) = &entry.data else { return Ok((ItemContent::None, false)) };
    match d.kind {
        DataKind::Json => {
            let mut v = match data {
                Some(v) => v.clone(),
                None => run.blob_json(&d.blob).await?,
            };
            let rw = run.rewriter();
            rw.rewrite_json(&mut v);
            let pending = !ids_in(&v, &|id| run.unplaced_offered(id)).is_empty();
            Ok((ItemContent::Text(v.to_string()), pending))
        }
        DataKind::File => Ok((
            ItemContent::Streamed(StreamedFile {
                file_name: d.file_name.clone().unwrap_or_else(|| format!("{}.bin", entry.id)),
                content_type: "application/octet-stream".into(),
                size: d.blob.size,
                body: run.blob_stream(&d.blob).await?,
            }),
            false,
        )),
    }
}

/// Resources (text ones rewritten) and metadata of a restored item.
pub(crate) async fn parts(run: &Run<'_>, entry: &ItemEntry, owner: &str, target: &str) -> Result<(), Stop> {
    for r in &entry.resources {
        run.check_cancel()?;
        let bytes = run.blob(&r.blob).await?;
        let bytes = match std::str::from_utf8(&bytes) {
            Ok(t) => bytes::Bytes::from(run.rewriter().rewrite_str(t).into_bytes()),
            Err(_) => bytes,
        };
        run.portal
            .add_resource(owner, target, &r.path, bytes)
            .await
            .map_err(|e| Stop::portal(&format!("adding the resource {:?}", r.path), e))?;
    }
    if let Some(m) = &entry.metadata {
        let xml = run.blob(m).await?;
        let xml = match std::str::from_utf8(&xml) {
            Ok(t) => bytes::Bytes::from(run.rewriter().rewrite_str(t).into_bytes()),
            Err(_) => xml,
        };
        run.portal.update_metadata(owner, target, xml).await.map_err(|e| Stop::portal("storing metadata.xml", e))?;
    }
    Ok(())
}

/// Restores one ordinary item (not a hosted service).
pub(crate) async fn restore_item(
    run: &Run<'_>,
    plan: &PlannedItem,
    entry: &ItemEntry,
    json: &Value,
    data: Option<&Value>,
) -> Result<Done, Stop> {
    run.check_cancel()?;
    let owner = plan.target_owner.as_str();
    match &plan.action {
        Action::Skip { reason, target_id } => {
            if let Some(t) = target_id {
                run.place(&plan.source_id, owner, t);
            }
            return Ok(Done::Skipped(reason.clone()));
        }
        Action::Match { .. } => return Ok(Done::Skipped("matched".into())),
        Action::Update { target_id } => {
            let (body, pending) = content(run, entry, data).await?;
            let thumb = thumbnail(run, entry).await?;
            let fields = item_fields(run, plan, json);
            let existing_owner = run.owner_of_target(target_id, owner);
            run.portal
                .update_item(&existing_owner, target_id, &fields, body, thumb)
                .await
                .map_err(|e| Stop::portal("updating the item", e))?;
            run.place(&plan.source_id, &existing_owner, target_id);
            if pending || fields.url.as_deref().is_some_and(|u| u.contains(&plan.source_id)) {
                run.patches.lock().unwrap_or_else(|p| p.into_inner()).push(plan.source_id.clone());
            }
            parts(run, entry, &existing_owner, target_id).await?;
            run.journal.record(EntryKind::Item, &plan.source_id, target_id, false, &json!({"content": true})).await?;
            return Ok(Done::Updated);
        }
        Action::Create => {}
    }
    let folder = folder_id(run, owner, plan.target_folder.as_deref()).await?;
    let fields = item_fields(run, plan, json);
    let thumb = thumbnail(run, entry).await?;
    let (body, pending) = content(run, entry, data).await?;
    let remake = || async { content(run, entry, data).await.map(|(body, _)| body) };
    let id = create_once(run, plan, owner, folder.as_deref(), &fields, body, remake, thumb).await?;
    run.journal.record(EntryKind::Item, &plan.source_id, &id, false, &json!({})).await?;
    run.place(&plan.source_id, owner, &id);
    // The item's own URL and data may name its own (now known) id.
    if pending
        || fields.url.as_deref().is_some_and(|u| u.contains(&plan.source_id))
        || data.is_some_and(|d| !ids_in(d, &|x| x == plan.source_id).is_empty())
    {
        run.patches.lock().unwrap_or_else(|p| p.into_inner()).push(plan.source_id.clone());
    }
    parts(run, entry, owner, &id).await?;
    run.journal.record(EntryKind::Item, &plan.source_id, &id, false, &json!({"content": true})).await?;
    Ok(Done::Created)
}

/// addItem, sent again only when the marker search shows the first one made nothing; the
/// content for that second try comes from `remake` (a streamed file is spent by the first).
#[allow(clippy::too_many_arguments)]
async fn create_once<F, Fut>(
    run: &Run<'_>,
    plan: &PlannedItem,
    owner: &str,
    folder: Option<&str>,
    fields: &ItemFields,
    body: ItemContent,
    remake: F,
    thumb: Option<FilePart>,
) -> Result<String, Stop>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<ItemContent, Stop>>,
{
    match run.portal.add_item(owner, folder, fields, body, thumb.clone()).await {
        Ok(id) => Ok(id),
        Err(e) if maybe_applied(&e) => {
            tracing::info!(item = %plan.source_id, "addItem answer lost ({e}); looking for what it made");
            if let Some(found) = adopt_by_marker(run, &plan.source_id, owner).await? {
                return Ok(found);
            }
            run.portal
                .add_item(owner, folder, fields, remake().await?, thumb)
                .await
                .map_err(|e| Stop::portal("adding the item", e))
        }
        Err(e) => Err(Stop::portal("adding the item", e)),
    }
}

/// The item an earlier create whose answer was lost made for `source_id`: it carries this
/// database's mark of `source_id` (which no one else can make) and belongs to `owner`.
pub(crate) async fn adopt_by_marker(run: &Run<'_>, source_id: &str, owner: &str) -> Result<Option<String>, Stop> {
    let found = run
        .portal
        .find_owned_by_keyword(owner, &run.marks.item_marker(source_id))
        .await
        .map_err(|e| Stop::portal("looking for the restored item", e))?;
    Ok(found.into_iter().filter(|i| i.owner == owner).map(|i| i.id).min())
}
