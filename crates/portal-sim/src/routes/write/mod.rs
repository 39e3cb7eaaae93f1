//! The write endpoints a restore uses, as the restore wire contract shared with the client pins
//! them (after ../../../shared/arcgis-rest.md "Writing"): folders, items and their files, resources,
//! relationships, sharing, groups and members, users, hosted feature services (createService,
//! addToDefinition, updateDefinition, applyEdits, addAttachment) and publishing a backed-up package.
//!
//! Everything written goes into the same `model::Universe` the read endpoints serve, so a created
//! item, group or service reads back exactly like generated content. Every write is POST and takes
//! urlencoded or multipart bodies (`Req`). Errors follow Online: HTTP 200 with an error body,
//! 403 "You do not have permissions..." when the caller is neither the owner nor an org admin.
//!
//! Faults: the fault middleware treats the paths `is_write` recognises as writes; for those, half of
//! the injected failures happen after the write was applied (see `faults`), so a client can never
//! assume a failed create did nothing.

mod definition_jobs;
mod groups;
mod items;
mod publish;
mod relationships;
mod services;
mod sharing;
mod users;

use axum::routing::{get, post};
use axum::Router;

pub use definition_jobs::DefinitionJobs;
pub use publish::PublishJobs;

use crate::auth::{now_ms, Caller};
use crate::model::{Org, Universe};
use crate::routes::error::{ApiError, ApiResult};
use crate::server::SimState;

/// Largest request body the server reads (a single-part file may reach 16 MiB, plus its form).
pub const MAX_BODY: usize = 48 * 1024 * 1024;
/// Largest `file` part `addItem`/`update` accept; larger files go through multipart upload.
pub const MAX_SINGLE_UPLOAD: usize = 16 * 1024 * 1024;
/// Highest `partNum` of a multipart upload.
pub const MAX_PART_NUM: u32 = 10_000;
/// Usernames one `addUsers` call may name.
pub const MAX_ADD_USERS: usize = 25;
/// Groups one user may belong to (owner, admin or member).
pub const MAX_GROUPS_PER_USER: usize = 512;
/// Features one `applyEdits` call may add.
pub const MAX_ADDS: usize = 2000;

/// The last path segment of every write endpoint (POST only). `export` is not one: it is the
/// backup's read path and keeps the read fault behaviour.
pub const WRITE_OPERATIONS: [&str; 22] = [
    "createFolder",
    "addItem",
    "update",
    "updateinfo",
    "addResources",
    "addPart",
    "commit",
    "addRelationship",
    "reassign",
    "delete",
    "shareItems",
    "createGroup",
    "addUsers",
    "invite",
    "createUser",
    "updateuserrole",
    "createService",
    "addToDefinition",
    "updateDefinition",
    "applyEdits",
    "addAttachment",
    "publish",
];

/// Whether a request is a write: a POST whose last path segment names a write operation.
pub fn is_write(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST
        && path.trim_end_matches('/').rsplit('/').next().is_some_and(|op| WRITE_OPERATIONS.contains(&op))
}

/// Every write route, full paths (the routers are merged, not nested).
pub fn routes() -> Router<SimState> {
    const USER: &str = "/{url_key}/sharing/rest/content/users/{username}";
    const ITEM: &str = "/{url_key}/sharing/rest/content/users/{username}/items/{id}";
    const GROUP: &str = "/{url_key}/sharing/rest/community/groups/{id}";
    const ADMIN: &str = "/{url_key}/arcgis/rest/admin/services/{name}/FeatureServer";
    const FS: &str = "/{url_key}/arcgis/rest/services/{name}/FeatureServer";
    Router::new()
        .route(&format!("{USER}/createFolder"), post(sharing::create_folder))
        .route(&format!("{USER}/addItem"), post(items::add_item))
        .route(&format!("{USER}/{{folder}}/addItem"), post(items::add_item_in_folder))
        .route(&format!("{ITEM}/update"), post(items::update))
        .route(&format!("{ITEM}/updateinfo"), post(items::update_info))
        .route(&format!("{ITEM}/addResources"), post(items::add_resources))
        .route(&format!("{ITEM}/addPart"), post(items::add_part))
        .route(&format!("{ITEM}/commit"), post(items::commit))
        .route(&format!("{ITEM}/reassign"), post(sharing::reassign_item))
        .route(&format!("{USER}/addRelationship"), post(sharing::add_relationship))
        .route(&format!("{USER}/shareItems"), post(sharing::share_items))
        .route("/{url_key}/sharing/rest/community/createGroup", post(groups::create_group))
        .route(&format!("{GROUP}/addUsers"), post(groups::add_users))
        .route(&format!("{GROUP}/removeUsers"), post(groups::remove_users))
        .route(&format!("{GROUP}/reassign"), post(groups::reassign_group))
        .route(&format!("{GROUP}/delete"), post(groups::delete_group))
        .route("/{url_key}/sharing/rest/portals/self/invite", post(users::invite))
        .route("/{url_key}/sharing/rest/portals/self/updateuserrole", post(users::update_user_role))
        .route("/{url_key}/portaladmin/security/users/createUser", post(users::create_user))
        .route(&format!("{USER}/createService"), post(services::create_service))
        .route(&format!("{USER}/{{folder}}/createService"), post(services::create_service_in_folder))
        .route(&format!("{ADMIN}/addToDefinition"), post(services::add_to_definition))
        .route(&format!("{ADMIN}/updateDefinition"), post(services::update_definition))
        .route(&format!("{ADMIN}/jobs/{{job}}"), get(definition_jobs::definition_job_status))
        .route(&format!("{FS}/{{layer}}/applyEdits"), post(services::apply_edits))
        .route(&format!("{FS}/{{layer}}/{{oid}}/addAttachment"), post(services::add_attachment))
        .route(&format!("{USER}/publish"), post(publish::publish))
}

/// The universe for writing. Poison only means a handler panicked; the model stays consistent.
pub(crate) fn write_lock(state: &SimState) -> std::sync::RwLockWriteGuard<'_, Universe> {
    state.universe.write().unwrap_or_else(|e| e.into_inner())
}

/// The org a portal path's `url_key` names (404 as an unknown org).
pub(crate) fn org_mut<'u>(universe: &'u mut Universe, url_key: &str) -> ApiResult<&'u mut Org> {
    universe
        .org_by_url_key_mut(url_key)
        .ok_or_else(|| ApiError::bad_request(format!("Organization '{url_key}' not found.")).with_http_status(404))
}

/// Owner, or an administrator holding `admin_privilege`: who may change `owner`'s content.
pub(crate) fn may_write(caller: &Caller, owner: &str, admin_privilege: &str) -> bool {
    caller.username == owner || (caller.is_admin && caller.has_privilege(admin_privilege))
}

/// The user a content path names must exist in the org.
pub(crate) fn check_user(org: &Org, username: &str) -> ApiResult<()> {
    if org.users.contains_key(username) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("User not found: '{username}'")))
    }
}

/// A comma list as Online takes `tags`, `typeKeywords`, `items`, `groups`: trimmed, empties dropped.
pub(crate) fn comma_list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A new `modified` that always moves forward, even within one millisecond.
pub(crate) fn later_than(previous: i64) -> i64 {
    now_ms().max(previous + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn writes_are_recognised_by_their_operation() {
        assert!(is_write(&Method::POST, "/contoso/sharing/rest/content/users/u/addItem"), "addItem is a write");
        assert!(
            is_write(&Method::POST, "/abc/arcgis/rest/services/S/FeatureServer/0/applyEdits"),
            "applyEdits is a write"
        );
        assert!(!is_write(&Method::GET, "/contoso/sharing/rest/content/users/u/addItem"), "only POST writes");
        assert!(!is_write(&Method::POST, "/contoso/sharing/rest/search"), "a POSTed search is a read");
        assert!(!is_write(&Method::POST, "/contoso/sharing/rest/content/users/u/export"), "export keeps read faults");
    }

    #[test]
    fn comma_lists_drop_blanks() {
        assert_eq!(comma_list(" a, b ,,c "), vec!["a", "b", "c"], "entries are trimmed and blanks dropped");
        assert!(comma_list("").is_empty(), "an empty list has no entries");
    }
}
