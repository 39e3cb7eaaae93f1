//! Content read endpoints: a user's folders and items, one item with its data, resources,
//! thumbnail, metadata, related items and groups, and a group's content.
//!
//! Every route carries its full path (`/{url_key}/sharing/rest/content/...`) so the server merges
//! the routers rather than nesting them. A missing item and an item the caller may not see answer
//! alike: 400 `CONT_0001`, as Online does.

pub mod params;
pub mod render;

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use self::params::{org_of, read, Req, SEARCH_CAP};
use self::render::{data_key, group_json, item_json, sort_items, ItemDoc};
use crate::generate::{file_bytes, file_vec, metadata_xml, resource_key, thumbnail_png};
use crate::model::{Audience, Item, ItemData, Org, Universe};
use crate::routes::error::{ApiError, ApiResult};
use crate::search::parse;
use crate::server::SimState;

const ROOT: &str = "/{url_key}/sharing/rest/content";

/// The content routes, full paths, GET and POST alike.
pub fn routes() -> Router<SimState> {
    Router::new()
        .route(&format!("{ROOT}/users/{{username}}"), get(user_content).post(user_content))
        .route(&format!("{ROOT}/users/{{username}}/{{folder}}"), get(user_folder_content).post(user_folder_content))
        .route(&format!("{ROOT}/users/{{username}}/items/{{id}}"), get(user_item).post(user_item))
        .route(&format!("{ROOT}/items/{{id}}"), get(item).post(item))
        .route(&format!("{ROOT}/items/{{id}}/data"), get(item_data).post(item_data))
        .route(&format!("{ROOT}/items/{{id}}/resources"), get(resources).post(resources))
        .route(&format!("{ROOT}/items/{{id}}/resources/{{*path}}"), get(resource).post(resource))
        .route(&format!("{ROOT}/items/{{id}}/info/{{*path}}"), get(item_info).post(item_info))
        .route(&format!("{ROOT}/items/{{id}}/relatedItems"), get(related_items).post(related_items))
        .route(&format!("{ROOT}/items/{{id}}/groups"), get(item_groups).post(item_groups))
        .route(&format!("{ROOT}/groups/{{id}}/search"), get(group_content).post(group_content))
}

/// The item `id` of the path's org if the caller may see it, else `CONT_0001`.
fn visible_item<'u>(org: &'u Org, id: &str, aud: &Audience) -> ApiResult<&'u Item> {
    org.items.get(id).filter(|i| aud.can_see_item(org, i)).ok_or_else(|| ApiError::item_missing(id))
}

/// The item `id` as the caller on org `url_key`'s paths may see it (CONT_0001 otherwise), with
/// the org that holds it and the caller's audience: the first step of every item endpoint.
fn visible_in<'u>(
    universe: &'u Universe,
    url_key: &str,
    id: &str,
    req: &Req,
) -> ApiResult<(&'u Org, &'u Item, Audience)> {
    org_of(universe, url_key)?;
    let aud = req.audience(universe);
    let org = universe.org_of_item(id).ok_or_else(|| ApiError::item_missing(id))?;
    let item = visible_item(org, id, &aud)?;
    Ok((org, item, aud))
}

fn folder_json(org: &Org, folder_id: &str) -> Value {
    org.folders
        .get(folder_id)
        .map_or(Value::Null, |f| json!({ "username": f.username, "id": f.id, "title": f.title, "created": f.created }))
}

fn list_user_content(
    state: &SimState,
    url_key: &str,
    username: &str,
    folder: Option<&str>,
    req: &Req,
) -> ApiResult<Value> {
    req.require_caller()?;
    let universe = read(state);
    let org = org_of(&universe, url_key)?;
    let aud = req.audience(&universe);
    if !org.users.contains_key(username) {
        return Err(ApiError::bad_request(format!("User not found: '{username}'")));
    }
    if !aud.can_manage_content_of(org, username) {
        return Err(ApiError::forbidden(format!("content of {username}")));
    }
    if let Some(f) = folder {
        if org.folders.get(f).is_none_or(|x| x.username != username) {
            return Err(ApiError::bad_request(format!("Folder not found: '{f}'")));
        }
    }
    let page = req.page(10)?;
    let mut items: Vec<&Item> =
        org.items.values().filter(|i| i.owner == username && i.owner_folder.as_deref() == folder).collect();
    items.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    let total = items.len();
    let folders: Vec<Value> = if folder.is_none() {
        let mut fs: Vec<_> = org.folders.values().filter(|f| f.username == username).collect();
        fs.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        fs.iter().map(|f| folder_json(org, &f.id)).collect()
    } else {
        vec![]
    };
    Ok(json!({
        "username": username,
        "total": total,
        "start": page.start,
        "num": page.num,
        "nextStart": page.next_start(total, None),
        "currentFolder": folder.map_or(Value::Null, |f| folder_json(org, f)),
        "items": items[page.range(total)].iter().map(|i| item_json(org, i, &aud)).collect::<Vec<_>>(),
        "folders": folders,
    }))
}

async fn user_content(
    State(state): State<SimState>,
    Path((url_key, username)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    Ok(req.json(list_user_content(&state, &url_key, &username, None, &req)?))
}

async fn user_folder_content(
    State(state): State<SimState>,
    Path((url_key, username, folder)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    // Online accepts "/" and the empty name for the root folder.
    let folder = Some(folder.as_str()).filter(|f| !f.is_empty() && *f != "/");
    Ok(req.json(list_user_content(&state, &url_key, &username, folder, &req)?))
}

async fn user_item(
    State(state): State<SimState>,
    Path((url_key, username, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    req.require_caller()?;
    let universe = read(&state);
    let org = org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let item = org.items.get(&id).filter(|i| i.owner == username).ok_or_else(|| ApiError::item_missing(&id))?;
    if !aud.can_manage_content_of(org, &username) {
        return Err(ApiError::forbidden(format!("item {id}")));
    }
    let body = json!({
        "item": item_json(org, item, &aud),
        "sharing": { "access": item.access, "groups": item.shared_groups },
    });
    Ok(req.json(body))
}

async fn item(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    let (org, item, aud) = visible_in(&universe, &url_key, &id, &req)?;
    Ok(req.json(item_json(org, item, &aud)))
}

/// RFC 6266 `Content-Disposition` with an ASCII fallback and the UTF-8 name (RFC 5987).
fn content_disposition(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

pub(crate) fn streamed(seed: u64, key: String, len: u64, content_type: &str, file_name: Option<&str>) -> Response {
    let stream = futures::stream::iter(file_bytes(seed, key, len).map(Ok::<_, Infallible>));
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, len.into());
    if let Ok(v) = content_type.parse() {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(Ok(v)) = file_name.map(|f| content_disposition(f).parse()) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

pub(crate) fn bytes_response(bytes: bytes::Bytes, content_type: &str, file_name: Option<&str>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    if let Ok(v) = content_type.parse() {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(Ok(v)) = file_name.map(|f| content_disposition(f).parse()) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

async fn item_data(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let seed = state.config.seed;
    // Copy out what the response needs, so the lock is released before the body streams.
    let (data, key, org_id) = {
        let universe = read(&state);
        let (org, item, _) = visible_in(&universe, &url_key, &id, &req)?;
        if item.uploads.multipart.is_some() {
            return Err(ApiError::bad_request("Item upload is not complete: commit the multipart upload first."));
        }
        if item.uploads.processing() {
            return Err(ApiError::bad_request("Item is still being processed: poll its status until completed."));
        }
        let key = item.data.file_name().map(|f| data_key(item, f));
        (item.data.clone(), key, org.id.clone())
    };
    // A file lives on the storage host: Online answers its /data with a redirect to a signed
    // URL there (see `crate::storage`).
    if let (Some(storage_url), Some(file_name)) = (state.storage_url.as_deref(), data.file_name()) {
        let to = state.storage.signed_url(storage_url, &org_id, &id, file_name, crate::auth::now_ms());
        return Ok(axum::response::Redirect::to(&to).into_response());
    }
    Ok(match data {
        ItemData::None => bytes_response(bytes::Bytes::new(), "text/plain; charset=utf-8", None),
        ItemData::Json(v) => {
            bytes_response(serde_json::to_vec(&v).unwrap_or_default().into(), "application/json; charset=utf-8", None)
        }
        ItemData::Generated { file_name, len, content_type } => {
            streamed(seed, key.unwrap_or_default(), len, &content_type, Some(&file_name))
        }
        ItemData::Bytes { file_name, bytes, content_type } => bytes_response(bytes, &content_type, Some(&file_name)),
    })
}

async fn resources(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    let (_, item, _) = visible_in(&universe, &url_key, &id, &req)?;
    let page = req.page(10)?;
    let total = item.resources.len();
    let list: Vec<Value> = item.resources[page.range(total)]
        .iter()
        .map(|r| json!({ "resource": r.path, "size": r.bytes.as_ref().map_or(r.len, |b| b.len() as u64), "created": r.created, "access": "inherit" }))
        .collect();
    Ok(req.json(json!({ "total": total, "start": page.start, "num": page.num, "nextStart": page.next_start(total, None), "resources": list })))
}

/// A Content-Type from a file name's extension.
pub(crate) fn content_type_of(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("").to_ascii_lowercase().as_str() {
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "csv" => "text/csv",
        _ => "application/octet-stream",
    }
}

async fn resource(
    State(state): State<SimState>,
    Path((url_key, id, path)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let seed = state.config.seed;
    let found = {
        let universe = read(&state);
        let (_, item, _) = visible_in(&universe, &url_key, &id, &req)?;
        item.resources.iter().find(|r| r.path == path).cloned()
    };
    let r = found.ok_or_else(|| ApiError::not_found("Resource does not exist or is inaccessible."))?;
    let file_name = r.path.rsplit('/').next().unwrap_or(&r.path).to_string();
    Ok(match r.bytes {
        Some(b) => bytes_response(b, content_type_of(&r.path), Some(&file_name)),
        None => bytes_response(
            file_vec(seed, &resource_key(&id, &r.path), r.len).into(),
            content_type_of(&r.path),
            Some(&file_name),
        ),
    })
}

/// An HTTP error status with a short text body (no JSON error document), as the portal's file
/// endpoints answer.
fn plain_http_error(status: u16, text: &'static str) -> Response {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

fn iteminfo_xml(item: &Item) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ESRI_ItemInformation Culture=\"en-US\"><name>{}</name><title>{}</title><type>{}</type>\
<typekeywords>{}</typekeywords><snippet>{}</snippet><tags>{}</tags><url>{}</url></ESRI_ItemInformation>\n",
        esc(item.data.file_name().unwrap_or("")),
        esc(&item.title),
        esc(&item.item_type),
        item.type_keywords.iter().map(|k| format!("<typekeyword>{}</typekeyword>", esc(k))).collect::<String>(),
        esc(&item.snippet),
        item.tags.iter().map(|t| format!("<tag>{}</tag>", esc(t))).collect::<String>(),
        esc(item.url.as_deref().unwrap_or("")),
    )
}

async fn item_info(
    State(state): State<SimState>,
    Path((url_key, id, path)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let seed = state.config.seed;
    let universe = read(&state);
    let (_, item, _) = visible_in(&universe, &url_key, &id, &req)?;
    if item.thumbnail.as_deref() == Some(path.as_str()) {
        if item.uploads.thumbnail_file_missing {
            return Ok(plain_http_error(400, "Bad Request"));
        }
        return Ok(match &item.uploads.thumbnail {
            Some(bytes) => bytes_response(bytes.clone(), content_type_of(&path), None),
            None => bytes_response(thumbnail_png(seed, &item.id).into(), "image/png", None),
        });
    }
    if let Some(bytes) = item.uploads.info_files.get(path.as_str()) {
        return Ok(bytes_response(bytes.clone(), content_type_of(&path), None));
    }
    match path.as_str() {
        "metadata/metadata.xml" => match (&item.uploads.metadata, item.metadata_len) {
            (Some(bytes), _) => Ok(bytes_response(bytes.clone(), "application/xml", None)),
            (None, Some(_)) => Ok(bytes_response(metadata_xml(seed, &item.id).into(), "application/xml", None)),
            // ArcGIS answers an item without metadata with an HTTP error, not an empty file or
            // an error body on 200: Esri's Python client (`Item.metadata`) reads HTTP 400 and 500
            // there as "no metadata".
            (None, None) => Ok(plain_http_error(400, "Metadata for item not found.")),
        },
        "iteminfo.xml" => Ok(bytes_response(iteminfo_xml(item).into(), "application/xml", None)),
        _ => Err(ApiError::not_found("File not found.")),
    }
}

async fn related_items(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    let (org, _, aud) = visible_in(&universe, &url_key, &id, &req)?;
    let types: Vec<String> = req
        .get("relationshipType")
        .map(|t| t.split(',').map(|s| s.trim().to_lowercase()).collect())
        .unwrap_or_default();
    let reverse = match req.get("direction").map(str::to_lowercase).as_deref() {
        None | Some("forward") => false,
        Some("reverse") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!("Invalid direction '{other}'. Expected forward or reverse.")))
        }
    };
    let mut seen: Vec<&str> = vec![];
    let mut related: Vec<Value> = vec![];
    for r in &org.relationships {
        if !types.is_empty() && !types.contains(&r.kind.to_lowercase()) {
            continue;
        }
        let other = match (reverse, r.origin == id, r.destination == id) {
            (false, true, _) => &r.destination,
            (true, _, true) => &r.origin,
            _ => continue,
        };
        if seen.contains(&other.as_str()) {
            continue;
        }
        if let Some(item) = org.items.get(other).filter(|i| aud.can_see_item(org, i)) {
            seen.push(other);
            related.push(item_json(org, item, &aud));
        }
    }
    Ok(req.json(json!({ "total": related.len(), "relatedItems": related })))
}

async fn item_groups(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    let (org, item, aud) = visible_in(&universe, &url_key, &id, &req)?;
    let (mut admin, mut member, mut other) = (vec![], vec![], vec![]);
    for g in item.shared_groups.iter().filter_map(|g| org.groups.get(g)) {
        let mt = aud.username.as_deref().map_or("none", |u| g.member_type(u));
        match mt {
            "owner" | "admin" => admin.push(group_json(org, g, &aud)),
            "member" => member.push(group_json(org, g, &aud)),
            _ if aud.can_see_group(org, g) => other.push(group_json(org, g, &aud)),
            _ => {}
        }
    }
    Ok(req.json(json!({ "admin": admin, "member": member, "other": other })))
}

async fn group_content(
    State(state): State<SimState>,
    Path((url_key, group_id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let org = universe
        .orgs
        .iter()
        .find(|o| o.groups.contains_key(&group_id))
        .ok_or_else(|| ApiError::bad_request("Group does not exist or is inaccessible."))?;
    let group = &org.groups[&group_id];
    if !aud.can_see_group(org, group) {
        return Err(ApiError::bad_request("Group does not exist or is inaccessible."));
    }
    let page = req.page(10)?;
    page.check_search_cap()?;
    let q = req.get("q").unwrap_or("");
    let query = parse(q).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut hits: Vec<(&Org, &Item)> = org
        .searchable_items()
        .filter(|i| i.shared_groups.contains(&group_id))
        .filter(|i| aud.can_see_item(org, i) && query.matches(&ItemDoc { org, item: i }))
        .map(|i| (org, i))
        .collect();
    sort_items(&mut hits, req.get("sortField"), req.get("sortOrder"));
    let total = hits.len();
    let results: Vec<Value> = hits[page.range(total)].iter().map(|(o, i)| item_json(o, i, &aud)).collect();
    Ok(req.json(json!({
        "query": q, "total": total, "start": page.start, "num": page.num,
        "nextStart": page.next_start(total, Some(SEARCH_CAP)), "results": results,
    })))
}
