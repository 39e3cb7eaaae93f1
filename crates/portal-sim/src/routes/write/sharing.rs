//! Where content lives and who sees it: `createFolder`, `addRelationship`, item `reassign`, and
//! `shareItems`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::items::PRIV_UPDATE_ITEMS;
use super::{check_user, comma_list, later_than, may_write, org_mut, write_lock};
use crate::auth::now_ms;
use crate::model::{Folder, Relationship};
use crate::routes::content::params::Req;
use crate::routes::error::{ApiError, ApiResult};
use crate::routes::hosted::new_item_id;
use crate::server::SimState;

const PRIV_REASSIGN_ITEMS: &str = "portal:admin:reassignItems";
const PRIV_SHARE_TO_GROUP: &str = "portal:admin:shareToGroup";

pub(super) async fn create_folder(
    State(state): State<SimState>,
    Path((url_key, username)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let title = req.required("title")?.trim().to_owned();
    let mut universe = write_lock(&state);
    let org = org_mut(&mut universe, &url_key)?;
    check_user(org, &username)?;
    if !may_write(caller, &username, PRIV_UPDATE_ITEMS) {
        return Err(ApiError::forbidden(format!("create a folder for {username}")));
    }
    if org.folders.values().any(|f| f.username == username && f.title.eq_ignore_ascii_case(&title)) {
        return Err(ApiError::bad_request(format!("Folder title '{title}' not available")));
    }
    let folder = Folder { id: new_item_id(), title, username: username.clone(), created: now_ms() };
    let body = json!({ "success": true, "folder": { "id": folder.id, "title": folder.title, "username": username } });
    org.folders.insert(folder.id.clone(), folder);
    Ok(req.json(body))
}

pub(super) async fn add_relationship(
    State(state): State<SimState>,
    Path((url_key, _username)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let origin = req.required("originItemId")?.to_owned();
    let destination = req.required("destinationItemId")?.to_owned();
    let kind = req.required("relationshipType")?.to_owned();
    let mut universe = write_lock(&state);
    let org = org_mut(&mut universe, &url_key)?;
    let origin_owner =
        org.items.get(&origin).map(|i| i.owner.clone()).ok_or_else(|| ApiError::item_missing(&origin))?;
    if !org.items.contains_key(&destination) {
        return Err(ApiError::item_missing(&destination));
    }
    if !may_write(caller, &origin_owner, PRIV_UPDATE_ITEMS) {
        return Err(ApiError::forbidden(format!("relate item {origin}")));
    }
    let rel = Relationship { origin, destination, kind };
    // Adding an existing relationship again succeeds without a duplicate.
    if !org.relationships.contains(&rel) {
        org.relationships.push(rel);
    }
    Ok(req.json(json!({ "success": true })))
}

pub(super) async fn reassign_item(
    State(state): State<SimState>,
    Path((url_key, username, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let target = req.required("targetUsername")?.to_owned();
    let folder_name = req.get("targetFolderName").map(str::to_owned);
    let mut universe = write_lock(&state);
    let lag = universe.search_lag;
    let org = org_mut(&mut universe, &url_key)?;
    let item = org.items.get(&id).filter(|i| i.owner == username).ok_or_else(|| ApiError::item_missing(&id))?;
    // Online lets only administrators move items between users.
    if !(caller.is_admin && caller.has_privilege(PRIV_REASSIGN_ITEMS)) {
        return Err(ApiError::forbidden(format!("reassign item {id}")));
    }
    let modified = item.modified;
    check_user(org, &target)?;
    // `/` (or nothing) is the root folder; a folder the target user does not have is created
    // (Esri, "Reassign Item": `targetFolderName`, "if the folder does not exist, it will be
    // created").
    let folder = match folder_name.as_deref().filter(|f| *f != "/") {
        None => None,
        Some(f) => match org.folders.values().find(|x| x.username == target && (x.title == f || x.id == f)) {
            Some(x) => Some(x.id.clone()),
            None => {
                let folder =
                    Folder { id: new_item_id(), title: f.to_owned(), username: target.clone(), created: now_ms() };
                let id = folder.id.clone();
                org.folders.insert(id.clone(), folder);
                Some(id)
            }
        },
    };
    org.indexing(&id, lag);
    if let Some(item) = org.items.get_mut(&id) {
        item.owner = target;
        item.owner_folder = folder;
        item.modified = later_than(modified);
    }
    Ok(req.json(json!({ "success": true, "itemId": id })))
}

/// Access levels in widening order: sharing only ever widens an item's access.
fn access_rank(access: &str) -> u8 {
    match access {
        "shared" => 1,
        "org" => 2,
        "public" => 3,
        _ => 0,
    }
}

pub(super) async fn share_items(
    State(state): State<SimState>,
    Path((url_key, _username)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?.clone();
    let items = comma_list(req.required("items")?);
    let groups = req.get("groups").map(comma_list).unwrap_or_default();
    let (everyone, to_org) = (req.flag("everyone", false), req.flag("org", false));
    let mut universe = write_lock(&state);
    let lag = universe.search_lag;
    let org = org_mut(&mut universe, &url_key)?;
    let mut results = Vec::with_capacity(items.len());
    for id in items {
        let Some(owner) = org.items.get(&id).map(|i| i.owner.clone()) else {
            results.push(json!({ "itemId": id, "success": false, "notSharedWith": groups,
                "error": { "code": 400, "message": format!("Item does not exist or is inaccessible: {id}") } }));
            continue;
        };
        if !may_write(&caller, &owner, PRIV_SHARE_TO_GROUP) {
            results.push(json!({ "itemId": id, "success": false, "notSharedWith": groups,
                "error": { "code": 403, "message": "You do not have permissions to access this resource or perform this operation." } }));
            continue;
        }
        // Members share into their groups (view-only groups: owner and managers only); admins anywhere.
        let (shared, not_shared): (Vec<String>, Vec<String>) = groups.iter().cloned().partition(|g| {
            org.groups.get(g).is_some_and(|g| {
                let member = g.member_type(&caller.username);
                caller.is_admin || matches!(member, "owner" | "admin") || (member == "member" && !g.is_view_only)
            })
        });
        if !org.items.contains_key(&id) {
            continue;
        }
        org.indexing(&id, lag);
        let Some(item) = org.items.get_mut(&id) else { continue };
        for g in &shared {
            if !item.shared_groups.contains(g) {
                item.shared_groups.push(g.clone());
            }
        }
        let wanted = if everyone {
            "public"
        } else if to_org {
            "org"
        } else if !item.shared_groups.is_empty() {
            "shared"
        } else {
            "private"
        };
        if access_rank(wanted) > access_rank(&item.access) {
            item.access = wanted.to_owned();
        }
        item.modified = later_than(item.modified);
        results.push(json!({ "itemId": id, "success": true, "notSharedWith": not_shared }));
    }
    Ok(req.json(json!({ "results": results })))
}

#[cfg(test)]
mod tests {
    use super::access_rank;

    #[test]
    fn access_widens_in_online_order() {
        let order = ["private", "shared", "org", "public"];
        for pair in order.windows(2) {
            assert!(access_rank(pair[0]) < access_rank(pair[1]), "{} must be narrower than {}", pair[0], pair[1]);
        }
    }
}
