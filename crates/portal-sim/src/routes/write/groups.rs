//! Groups: `createGroup`, `addUsers` (25 names a call), `reassign` (refused when the new owner
//! already owns it), `delete`. Nobody may belong to more than 512 groups.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::{comma_list, later_than, org_mut, write_lock, MAX_ADD_USERS, MAX_GROUPS_PER_USER};
use crate::auth::{now_ms, Caller};
use crate::model::{Audience, Group, Org};
use crate::routes::content::params::Req;
use crate::routes::content::render::group_json;
use crate::routes::error::{ApiError, ApiResult};
use crate::routes::hosted::new_item_id;
use crate::server::SimState;

fn groups_full(org: &Org, username: &str) -> bool {
    org.groups_of(username).count() >= MAX_GROUPS_PER_USER
}

fn group_missing(id: &str) -> ApiError {
    ApiError::bad_request("Group does not exist or is inaccessible.").with_detail(id.to_owned())
}

/// The group's owner and managers, or an administrator holding `admin_privilege`.
fn may_manage(caller: &Caller, group: &Group, admin_privilege: &str) -> bool {
    matches!(group.member_type(&caller.username), "owner" | "admin")
        || (caller.is_admin && caller.has_privilege(admin_privilege))
}

pub(super) async fn create_group(
    State(state): State<SimState>,
    Path(url_key): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let title = req.required("title")?.trim().to_owned();
    let access = req.get("access").unwrap_or("private").to_owned();
    if !matches!(access.as_str(), "private" | "org" | "public") {
        return Err(ApiError::bad_request(format!("Invalid 'access' parameter '{access}'.")));
    }
    let mut universe = write_lock(&state);
    let org = org_mut(&mut universe, &url_key)?;
    let may_create = org
        .users
        .get(&caller.username)
        .is_some_and(|u| u.privileges.iter().any(|p| p == "portal:user:createGroup") || caller.is_admin);
    if !may_create {
        return Err(ApiError::forbidden("create a group"));
    }
    if org.groups.values().any(|g| g.title.eq_ignore_ascii_case(&title)) {
        return Err(ApiError::bad_request(format!("You already have a group named '{title}'")));
    }
    if groups_full(org, &caller.username) {
        return Err(ApiError::bad_request(format!(
            "User '{}' already belongs to the maximum of {MAX_GROUPS_PER_USER} groups.",
            caller.username
        )));
    }
    let now = now_ms();
    let thumb = req.files.get("thumbnail");
    let group = Group {
        id: new_item_id(),
        title,
        owner: caller.username.clone(),
        admins: vec![],
        users: vec![],
        access,
        tags: req.get("tags").map(comma_list).unwrap_or_default(),
        description: req.get("description").unwrap_or("").to_owned(),
        snippet: req.get("snippet").unwrap_or("").to_owned(),
        is_invitation_only: req.flag("isInvitationOnly", false),
        is_view_only: req.flag("isViewOnly", false),
        sort_field: req.get("sortField").unwrap_or("title").to_owned(),
        sort_order: req.get("sortOrder").unwrap_or("asc").to_owned(),
        capabilities: req.get("capabilities").map(comma_list).unwrap_or_default(),
        auto_join: req.flag("autoJoin", false),
        thumbnail: thumb.map(|t| t.file_name.replace(['/', '\\'], "_")).filter(|n| !n.is_empty()),
        thumbnail_bytes: thumb.map(|t| t.bytes.clone()),
        created: now,
        modified: now,
    };
    let id = group.id.clone();
    org.groups.insert(id.clone(), group);
    let org = &*org;
    let audience = Audience {
        username: Some(caller.username.clone()),
        org_id: Some(org.id.clone()),
        org_admin: caller.is_admin,
        groups: vec![id.clone()],
    };
    tracing::info!(group = %id, "group created");
    Ok(req.json(json!({ "success": true, "group": group_json(org, &org.groups[&id], &audience) })))
}

pub(super) async fn add_users(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    // `users` joins as members, `admins` as group managers; at least one is given.
    let users = comma_list(req.get("users").unwrap_or_default());
    let managers = comma_list(req.get("admins").unwrap_or_default());
    if users.is_empty() && managers.is_empty() {
        return Err(ApiError::bad_request("'users' or 'admins' must be given"));
    }
    if users.len() + managers.len() > MAX_ADD_USERS {
        return Err(ApiError::bad_request(format!(
            "You can add at most {MAX_ADD_USERS} users at a time; {} were given.",
            users.len() + managers.len()
        )));
    }
    let mut universe = write_lock(&state);
    let org = org_mut(&mut universe, &url_key)?;
    let group = org.groups.get(&id).ok_or_else(|| group_missing(&id))?;
    if !may_manage(caller, group, "portal:admin:assignToGroups") {
        return Err(ApiError::forbidden(format!("add users to group {id}")));
    }
    let mut not_added = vec![];
    let mut added = vec![];
    let mut promoted = vec![];
    let wanted = users.into_iter().map(|u| (u, false)).chain(managers.into_iter().map(|u| (u, true)));
    for (u, manager) in wanted {
        let known = org.users.contains_key(&u);
        match group.member_type(&u) {
            "owner" | "admin" => continue,
            "member" => {
                if manager {
                    promoted.push(u);
                }
                continue;
            }
            _ => {}
        }
        if !known || groups_full(org, &u) {
            not_added.push(u);
        } else {
            added.push((u, manager));
        }
    }
    if let Some(group) = org.groups.get_mut(&id) {
        for u in promoted {
            group.users.retain(|x| *x != u);
            group.admins.push(u);
        }
        for (u, manager) in added {
            let list = if manager { &mut group.admins } else { &mut group.users };
            if !list.contains(&u) {
                list.push(u);
            }
        }
        group.modified = later_than(group.modified);
    }
    Ok(req.json(json!({ "notAdded": not_added })))
}

/// `removeUsers`: members leave the group. The owner cannot be removed (reassign first); a
/// name that is not a member is listed in `notRemoved`, as Online does.
pub(super) async fn remove_users(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let users = comma_list(req.required("users")?);
    let mut universe = write_lock(&state);
    let org = org_mut(&mut universe, &url_key)?;
    let group = org.groups.get(&id).ok_or_else(|| group_missing(&id))?;
    if !may_manage(caller, group, "portal:admin:assignToGroups") {
        return Err(ApiError::forbidden(format!("remove users from group {id}")));
    }
    let not_removed: Vec<String> =
        users.iter().filter(|u| matches!(group.member_type(u), "owner" | "none")).cloned().collect();
    if let Some(group) = org.groups.get_mut(&id) {
        let gone = |u: &String| users.contains(u) && !not_removed.contains(u);
        group.users.retain(|u| !gone(u));
        group.admins.retain(|u| !gone(u));
        group.modified = later_than(group.modified);
    }
    Ok(req.json(json!({ "notRemoved": not_removed })))
}

pub(super) async fn reassign_group(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let target = req.required("targetUsername")?.to_owned();
    let mut universe = write_lock(&state);
    let org = org_mut(&mut universe, &url_key)?;
    let group = org.groups.get(&id).ok_or_else(|| group_missing(&id))?;
    if !(group.owner == caller.username || (caller.is_admin && caller.has_privilege("portal:admin:reassignGroups"))) {
        return Err(ApiError::forbidden(format!("reassign group {id}")));
    }
    if !org.users.contains_key(&target) {
        return Err(ApiError::bad_request(format!("User not found: '{target}'")));
    }
    if group.owner == target {
        return Err(ApiError::bad_request("User is already the owner of the group").with_detail(target));
    }
    if group.member_type(&target) == "none" && groups_full(org, &target) {
        return Err(ApiError::bad_request(format!(
            "User '{target}' already belongs to the maximum of {MAX_GROUPS_PER_USER} groups."
        )));
    }
    if let Some(group) = org.groups.get_mut(&id) {
        // The previous owner stays in the group as a member, as on Online.
        let previous = std::mem::replace(&mut group.owner, target.clone());
        group.admins.retain(|u| *u != target);
        group.users.retain(|u| *u != target);
        if !group.users.contains(&previous) && !group.admins.contains(&previous) {
            group.users.push(previous);
        }
        group.modified = later_than(group.modified);
    }
    Ok(req.json(json!({ "success": true, "groupId": id })))
}

pub(super) async fn delete_group(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let mut universe = write_lock(&state);
    let org = org_mut(&mut universe, &url_key)?;
    let group = org.groups.get(&id).ok_or_else(|| group_missing(&id))?;
    if !(group.owner == caller.username || (caller.is_admin && caller.has_privilege("portal:admin:deleteGroups"))) {
        return Err(ApiError::forbidden(format!("delete group {id}")));
    }
    org.groups.remove(&id);
    // Items keep no sharing to a group that no longer exists.
    for item in org.items.values_mut() {
        if item.shared_groups.contains(&id) {
            item.shared_groups.retain(|g| *g != id);
            if item.access == "shared" && item.shared_groups.is_empty() {
                item.access = "private".into();
            }
        }
    }
    Ok(req.json(json!({ "success": true, "groupId": id })))
}
