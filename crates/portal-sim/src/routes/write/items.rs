//! Items and their files: `addItem` (text, single file up to 16 MiB, or a multipart upload),
//! `update` (the same three ways), `updateinfo` (metadata and other `info/` files), `addResources`, and the multipart
//! upload's `addPart` and `commit`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::{check_user, comma_list, later_than, may_write, org_mut, write_lock, MAX_PART_NUM, MAX_SINGLE_UPLOAD};
use crate::auth::now_ms;
use crate::model::{Item, ItemData, ItemUploads, MultipartUpload, Org, Resource};
use crate::routes::content::content_type_of;
use crate::routes::content::params::{Req, Upload};
use crate::routes::error::{ApiError, ApiResult};
use crate::routes::hosted::new_item_id;
use crate::server::SimState;

/// The admin privilege that lets an administrator change other users' items.
pub(super) const PRIV_UPDATE_ITEMS: &str = "portal:admin:updateItems";

/// `extent` as `xmin,ymin,xmax,ymax`, a JSON envelope or Online's `[[xmin,ymin],[xmax,ymax]]`,
/// stored in the last form (what item JSON reports).
fn parse_extent(v: &str) -> ApiResult<Value> {
    let bad = || ApiError::bad_request("Invalid 'extent' parameter.").with_detail(v.to_owned());
    let v = v.trim();
    if v.is_empty() {
        return Ok(json!([]));
    }
    if v.starts_with('[') || v.starts_with('{') {
        let parsed: Value = serde_json::from_str(v).map_err(|_| bad())?;
        return match parsed {
            Value::Array(_) => Ok(parsed),
            Value::Object(o) => {
                let n = |k: &str| o.get(k).and_then(Value::as_f64).ok_or_else(bad);
                Ok(json!([[n("xmin")?, n("ymin")?], [n("xmax")?, n("ymax")?]]))
            }
            _ => Err(bad()),
        };
    }
    let n: Vec<f64> = v.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    match n.as_slice() {
        [a, b, c, d] => Ok(json!([[a, b], [c, d]])),
        _ => Err(bad()),
    }
}

/// A file part as item data; parts over [`MAX_SINGLE_UPLOAD`] must use the multipart upload.
fn file_data(upload: &Upload) -> ApiResult<ItemData> {
    if upload.bytes.len() > MAX_SINGLE_UPLOAD {
        return Err(ApiError::bad_request(format!(
            "File of {} bytes is larger than the {MAX_SINGLE_UPLOAD}-byte single-part limit; use multipart upload.",
            upload.bytes.len()
        )));
    }
    Ok(ItemData::Bytes {
        file_name: upload.file_name.clone(),
        bytes: upload.bytes.clone(),
        content_type: typed(&upload.content_type, &upload.file_name),
    })
}

/// The part's content type, or one from the file name when the client sent a generic one.
fn typed(content_type: &str, file_name: &str) -> String {
    if content_type.is_empty() || content_type == "application/octet-stream" {
        content_type_of(file_name).to_owned()
    } else {
        content_type.to_owned()
    }
}

/// A file name safe to serve under `info/`: no path separators.
fn info_name(file_name: &str) -> String {
    let n: String = file_name.chars().map(|c| if matches!(c, '/' | '\\') { '_' } else { c }).collect();
    if n.is_empty() || n.chars().all(|c| c == '.') {
        "thumbnail.png".to_owned()
    } else {
        n
    }
}

/// Applies every addItem/update field present in `req` to `item`. A field sent empty clears it
/// (except `title` and `type`, which an item always has).
fn apply_fields(item: &mut Item, req: &Req) -> ApiResult<()> {
    let raw = |k: &str| req.params.get(k).map(String::as_str);
    let optional = |v: &str| Some(v.to_owned()).filter(|s| !s.is_empty());
    if let Some(t) = req.get("title") {
        item.title = t.to_owned();
    }
    if let Some(t) = req.get("type") {
        item.item_type = t.to_owned();
    }
    if let Some(v) = raw("typeKeywords") {
        item.type_keywords = comma_list(v);
    }
    if let Some(v) = raw("tags") {
        item.tags = comma_list(v);
    }
    if let Some(v) = raw("categories") {
        item.categories = comma_list(v);
    }
    if let Some(v) = raw("snippet") {
        item.snippet = v.to_owned();
    }
    if let Some(v) = raw("description") {
        item.description = v.to_owned();
    }
    if let Some(v) = raw("extent") {
        item.extent = parse_extent(v)?;
    }
    if let Some(v) = raw("spatialReference") {
        item.spatial_reference = optional(v);
    }
    if let Some(v) = raw("accessInformation") {
        item.access_information = optional(v);
    }
    if let Some(v) = raw("licenseInfo") {
        item.license_info = optional(v);
    }
    if let Some(v) = raw("url") {
        item.url = optional(v);
    }
    if raw("properties").is_some() {
        item.properties = req.json_param("properties")?;
    }
    if let Some(text) = raw("text") {
        item.data = if text.is_empty() {
            ItemData::None
        } else {
            ItemData::Json(req.json_param("text")?.unwrap_or(Value::Null))
        };
    }
    if let Some(file) = req.files.get("file") {
        item.data = file_data(file)?;
    }
    if let Some(thumb) = req.files.get("thumbnail") {
        item.thumbnail = Some(format!("thumbnail/{}", info_name(&thumb.file_name)));
        item.thumbnail_len = thumb.bytes.len() as u64;
        item.uploads.thumbnail = Some(thumb.bytes.clone());
    }
    Ok(())
}

/// The folder id of `folder` (an id or a title of `username`'s folders); `None` for the root.
pub(super) fn resolve_folder(org: &Org, username: &str, folder: Option<&str>) -> ApiResult<Option<String>> {
    let Some(f) = folder.filter(|f| !f.is_empty() && *f != "/") else { return Ok(None) };
    org.folders
        .values()
        .find(|x| x.username == username && (x.id == f || x.title == f))
        .map(|x| Some(x.id.clone()))
        .ok_or_else(|| ApiError::bad_request(format!("Folder not found: '{f}'")))
}

/// A new item of `owner` with nothing but its identity set.
pub(super) fn blank_item(id: String, owner: &str, folder: Option<String>, title: &str, item_type: &str) -> Item {
    let now = now_ms();
    Item {
        id,
        owner: owner.to_owned(),
        owner_folder: folder,
        title: title.to_owned(),
        item_type: item_type.to_owned(),
        type_keywords: vec![],
        tags: vec![],
        snippet: String::new(),
        description: String::new(),
        url: None,
        access: "private".into(),
        shared_groups: vec![],
        created: now,
        modified: now,
        thumbnail: None,
        thumbnail_len: 0,
        metadata_len: None,
        properties: None,
        extent: json!([]),
        spatial_reference: None,
        access_information: None,
        license_info: None,
        categories: vec![],
        protected: false,
        content_origin: "self".into(),
        data: ItemData::None,
        resources: vec![],
        service_name: None,
        uploads: ItemUploads::default(),
    }
}

fn add_item_to(state: &SimState, url_key: &str, username: &str, folder: Option<&str>, req: &Req) -> ApiResult<Value> {
    let caller = req.require_caller()?;
    let title = req.required("title")?;
    let item_type = req.required("type")?;
    let multipart = req.flag("multipart", false);
    let upload_name = if multipart { Some(req.required("filename")?.to_owned()) } else { None };
    // Online ignores `itemIdToCreate`: every new item gets a fresh id.
    let mut item = blank_item(new_item_id(), username, None, title, item_type);
    apply_fields(&mut item, req)?;
    if let Some(file_name) = upload_name {
        item.data = ItemData::None;
        item.uploads.multipart = Some(MultipartUpload { file_name, parts: Default::default() });
    }
    let mut universe = write_lock(state);
    let lag = universe.search_lag;
    let org = org_mut(&mut universe, url_key)?;
    check_user(org, username)?;
    if !may_write(caller, username, PRIV_UPDATE_ITEMS) {
        return Err(ApiError::forbidden(format!("add an item to the content of {username}")));
    }
    item.owner_folder = resolve_folder(org, username, folder)?;
    let (id, folder_id) = (item.id.clone(), item.owner_folder.clone());
    org.indexing_new(&id, lag);
    org.items.insert(id.clone(), item);
    tracing::info!(item = %id, owner = %username, "item added");
    Ok(json!({ "success": true, "id": id, "folder": folder_id }))
}

pub(super) async fn add_item(
    State(state): State<SimState>,
    Path((url_key, username)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    Ok(req.json(add_item_to(&state, &url_key, &username, None, &req)?))
}

pub(super) async fn add_item_in_folder(
    State(state): State<SimState>,
    Path((url_key, username, folder)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    Ok(req.json(add_item_to(&state, &url_key, &username, Some(&folder), &req)?))
}

/// Runs `change` on item `id` of `username` once the caller is known to be its owner or an admin
/// (CONT_0001 when the item is not `username`'s), then moves `modified`.
fn change_item<T>(
    state: &SimState,
    url_key: &str,
    username: &str,
    id: &str,
    req: &Req,
    change: impl FnOnce(&mut Item) -> ApiResult<T>,
) -> ApiResult<T> {
    let caller = req.require_caller()?;
    let mut universe = write_lock(state);
    let lag = universe.search_lag;
    let org = org_mut(&mut universe, url_key)?;
    let item = org.items.get(id).filter(|i| i.owner == username).ok_or_else(|| ApiError::item_missing(id))?;
    if !may_write(caller, &item.owner, PRIV_UPDATE_ITEMS) {
        return Err(ApiError::forbidden(format!("update item {id}")));
    }
    org.indexing(id, lag);
    let Some(item) = org.items.get_mut(id) else { return Err(ApiError::item_missing(id)) };
    // Changes are made on a copy, so a refused parameter leaves the item as it was.
    let mut changed = item.clone();
    let out = change(&mut changed)?;
    changed.modified = later_than(item.modified);
    *item = changed;
    Ok(out)
}

pub(super) async fn update(
    State(state): State<SimState>,
    Path((url_key, username, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    // `multipart=true` with `filename` starts a multipart upload that `addPart` and `commit`
    // finish; the commit overwrites the item's file (Esri, "Commit": "the original file is
    // overwritten during an Update Item operation").
    let multipart = req.flag("multipart", false);
    let upload_name = if multipart { Some(req.required("filename")?.to_owned()) } else { None };
    change_item(&state, &url_key, &username, &id, &req, |item| {
        if let Some(file_name) = upload_name {
            item.uploads.multipart = Some(MultipartUpload { file_name, parts: Default::default() });
        }
        apply_fields(item, &req)
    })?;
    Ok(req.json(json!({ "success": true, "id": id })))
}

pub(super) async fn update_info(
    State(state): State<SimState>,
    Path((url_key, username, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let file = req.files.get("file").ok_or_else(|| ApiError::bad_request("'file' must be specified."))?;
    let metadata = req.get("folderName").is_some_and(|f| f.eq_ignore_ascii_case("metadata"));
    change_item(&state, &url_key, &username, &id, &req, |item| {
        if metadata {
            item.metadata_len = Some(file.bytes.len() as u64);
            item.uploads.metadata = Some(file.bytes.clone());
        } else {
            item.uploads.info_files.insert(info_name(&file.file_name), file.bytes.clone());
        }
        Ok(())
    })?;
    Ok(req.json(json!({ "success": true })))
}

pub(super) async fn add_resources(
    State(state): State<SimState>,
    Path((url_key, username, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (name, bytes) = match (req.files.get("file"), req.params.get("text")) {
        (Some(f), _) => (req.get("fileName").unwrap_or(&f.file_name).to_owned(), f.bytes.clone()),
        (None, Some(text)) => (req.required("fileName")?.to_owned(), bytes::Bytes::from(text.clone().into_bytes())),
        (None, None) => return Err(ApiError::bad_request("'file' or 'text' must be specified.")),
    };
    let prefix = req.get("resourcesPrefix").map(|p| p.trim_matches('/')).filter(|p| !p.is_empty());
    let path = match prefix {
        Some(p) => format!("{p}/{}", name.trim_start_matches('/')),
        None => name.trim_start_matches('/').to_owned(),
    };
    if path.is_empty() {
        return Err(ApiError::bad_request("'fileName' must be specified."));
    }
    change_item(&state, &url_key, &username, &id, &req, |item| {
        // Re-sending a resource replaces it: a client retrying after a lost answer must not fail.
        item.resources.retain(|r| r.path != path);
        item.resources.push(Resource {
            path: path.clone(),
            len: bytes.len() as u64,
            created: now_ms(),
            bytes: Some(bytes),
        });
        Ok(())
    })?;
    Ok(req.json(json!({ "success": true, "itemId": id, "owner": username, "folder": Value::Null })))
}

pub(super) async fn add_part(
    State(state): State<SimState>,
    Path((url_key, username, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let part_num: u32 = req
        .required("partNum")?
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=MAX_PART_NUM).contains(n))
        .ok_or_else(|| ApiError::bad_request(format!("'partNum' must be between 1 and {MAX_PART_NUM}.")))?;
    let file = req.files.get("file").ok_or_else(|| ApiError::bad_request("'file' must be specified."))?;
    change_item(&state, &url_key, &username, &id, &req, |item| {
        if item.uploads.processing() {
            return Err(ApiError::bad_request("Item is still being processed."));
        }
        let upload = item
            .uploads
            .multipart
            .as_mut()
            .ok_or_else(|| ApiError::bad_request("Item is not a multipart upload in progress."))?;
        upload.parts.insert(part_num, file.bytes.clone());
        Ok(())
    })?;
    Ok(req.json(json!({ "success": true, "id": id, "partNum": part_num })))
}

/// `commit` answers at once and the item is then "processing" for `JobState::commit_work`
/// (Esri, "Commit": the operation is asynchronous; poll `items/<id>/status` until it is
/// `completed`, as Esri's Python client does in `_process_item_status`). Meanwhile `/data` and
/// `publish` refuse the item.
pub(super) async fn commit(
    State(state): State<SimState>,
    Path((url_key, username, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let until = std::time::Instant::now() + state.jobs.commit_work();
    change_item(&state, &url_key, &username, &id, &req, |item| {
        let upload = item
            .uploads
            .multipart
            .take()
            .ok_or_else(|| ApiError::bad_request("Item is not a multipart upload in progress."))?;
        if upload.parts.is_empty() {
            return Err(ApiError::bad_request("No parts were uploaded for this item."));
        }
        let mut bytes = Vec::with_capacity(upload.parts.values().map(|p| p.len()).sum());
        for part in upload.parts.values() {
            bytes.extend_from_slice(part);
        }
        let content_type = content_type_of(&upload.file_name).to_owned();
        item.data = ItemData::Bytes { file_name: upload.file_name, bytes: bytes.into(), content_type };
        item.uploads.processing_until = Some(until);
        apply_fields(item, &req)
    })?;
    Ok(req.json(json!({ "success": true, "id": id })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents_in_every_form_become_corner_pairs() {
        let want = json!([[-1.5, 2.0], [3.0, 4.25]]);
        assert_eq!(parse_extent("-1.5,2,3,4.25").ok(), Some(want.clone()), "comma form");
        assert_eq!(
            parse_extent(r#"{"xmin":-1.5,"ymin":2,"xmax":3,"ymax":4.25}"#).ok(),
            Some(want.clone()),
            "envelope form"
        );
        assert_eq!(parse_extent("[[-1.5,2.0],[3.0,4.25]]").ok(), Some(want), "Online's own form is kept");
        assert!(parse_extent("1,2,3").is_err(), "three numbers are not an extent");
    }

    #[test]
    fn info_names_cannot_hold_paths() {
        assert_eq!(info_name("../../x.png"), ".._.._x.png", "separators are replaced");
        assert_eq!(info_name(".."), "thumbnail.png", "a name of dots gets a default");
    }
}
