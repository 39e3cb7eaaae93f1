//! Community endpoints: the signed-in user, users, group search, a group, its members (whole and
//! paged) and its thumbnail.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::content::params::{org_of, read, Req, SEARCH_CAP};
use super::content::render::{group_json, user_json, GroupDoc, UserDoc};
use crate::generate::{stable_hash_of, thumbnail_png};
use crate::model::{Audience, Group, Org, Universe};
use crate::routes::error::{ApiError, ApiResult};
use crate::search::parse;
use crate::server::SimState;

const ROOT: &str = "/{url_key}/sharing/rest/community";

/// The community routes, full paths, GET and POST alike.
pub fn routes() -> Router<SimState> {
    Router::new()
        .route(&format!("{ROOT}/self"), get(community_self).post(community_self))
        .route(&format!("{ROOT}/users"), get(users_search).post(users_search))
        .route(&format!("{ROOT}/users/{{username}}"), get(user).post(user))
        .route(&format!("{ROOT}/groups"), get(groups_search).post(groups_search))
        .route(&format!("{ROOT}/groups/{{id}}"), get(group).post(group))
        .route(&format!("{ROOT}/groups/{{id}}/users"), get(group_users).post(group_users))
        .route(&format!("{ROOT}/groups/{{id}}/userlist"), get(group_userlist).post(group_userlist))
        .route(&format!("{ROOT}/groups/{{id}}/info/{{*path}}"), get(group_thumbnail))
}

/// The user's groups as `/community/users/{u}` lists them for the user and admins.
fn groups_of_json(org: &Org, username: &str, aud: &Audience) -> Vec<Value> {
    org.groups_of(username).map(|g| group_json(org, g, aud)).collect()
}

async fn community_self(State(state): State<SimState>, Path(url_key): Path<String>, req: Req) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let universe = read(&state);
    let org = org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let user = org.users.get(&caller.username).ok_or_else(ApiError::invalid_token)?;
    let mut v = user_json(org, user, true);
    v["groups"] = json!(groups_of_json(org, &user.username, &aud));
    Ok(req.json(v))
}

async fn user(
    State(state): State<SimState>,
    Path((url_key, username)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let (org, user) = universe
        .orgs
        .iter()
        .find_map(|o| o.users.get(&username).map(|u| (o, u)))
        .ok_or_else(|| ApiError::bad_request(format!("User not found: '{username}'")))?;
    if !aud.is_member_of_org(&org.id) {
        return Err(ApiError::forbidden(format!("user {username}")));
    }
    let private = aud.org_admin || aud.username.as_deref() == Some(username.as_str());
    let mut v = user_json(org, user, private);
    if private {
        v["groups"] = json!(groups_of_json(org, &username, &aud));
    }
    Ok(req.json(v))
}

/// The documented user search (`community/users?q=`), which Esri's Python client uses for
/// `gis.users.search`: users of the caller's own org matching `q` (`accountid:`, `username:`,
/// `fullname:`, ...), paged like every search (`results`, `total`, `start`, `num`,
/// `nextStart`). Private fields (e-mail, privileges) only for an administrator of that org.
async fn users_search(State(state): State<SimState>, Path(url_key): Path<String>, req: Req) -> ApiResult<Response> {
    req.require_caller()?;
    let universe = read(&state);
    org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let page = req.page(10)?;
    page.check_search_cap()?;
    let q = req.get("q").unwrap_or("");
    let query = parse(q).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut hits: Vec<(&Org, &crate::model::User)> = universe
        .orgs
        .iter()
        .filter(|o| aud.is_member_of_org(&o.id))
        .flat_map(|o| o.users.values().map(move |u| (o, u)))
        .filter(|(o, u)| query.matches(&UserDoc { org: o, user: u }))
        .collect();
    let desc = req.get("sortOrder").is_some_and(|o| o.eq_ignore_ascii_case("desc"));
    match req.get("sortField").map(str::to_lowercase).as_deref() {
        Some("created") => hits.sort_by_key(|(_, u)| (u.created, u.username.clone())),
        Some("fullname") => hits.sort_by_key(|(_, u)| (u.full_name.to_lowercase(), u.username.clone())),
        _ => {} // username order
    }
    if desc {
        hits.reverse();
    }
    let total = hits.len();
    let results: Vec<Value> = hits[page.range(total)].iter().map(|(o, u)| user_json(o, u, aud.org_admin)).collect();
    Ok(req.json(json!({
        "query": q, "total": total, "start": page.start, "num": page.num,
        "nextStart": page.next_start(total, Some(SEARCH_CAP)), "results": results,
    })))
}

async fn groups_search(State(state): State<SimState>, Path(url_key): Path<String>, req: Req) -> ApiResult<Response> {
    let universe = read(&state);
    org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let page = req.page(10)?;
    page.check_search_cap()?;
    let q = req.get("q").unwrap_or("");
    let query = parse(q).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut hits: Vec<(&Org, &Group)> = universe
        .orgs
        .iter()
        .flat_map(|o| o.groups.values().map(move |g| (o, g)))
        .filter(|(o, g)| aud.can_see_group(o, g) && query.matches(&GroupDoc { org: o, group: g }))
        .collect();
    let desc = req.get("sortOrder").is_some_and(|o| o.eq_ignore_ascii_case("desc"));
    match req.get("sortField").map(str::to_lowercase).as_deref() {
        Some("title") => hits
            .sort_by(|a, b| a.1.title.to_lowercase().cmp(&b.1.title.to_lowercase()).then_with(|| a.1.id.cmp(&b.1.id))),
        Some("created") => hits.sort_by_key(|(_, g)| (g.created, g.id.clone())),
        Some("modified") => hits.sort_by_key(|(_, g)| (g.modified, g.id.clone())),
        Some("owner") => hits.sort_by_key(|(_, g)| (g.owner.clone(), g.id.clone())),
        _ => {}
    }
    if desc {
        hits.reverse();
    }
    let total = hits.len();
    let results: Vec<Value> = hits[page.range(total)].iter().map(|(o, g)| group_json(o, g, &aud)).collect();
    Ok(req.json(json!({
        "query": q, "total": total, "start": page.start, "num": page.num,
        "nextStart": page.next_start(total, Some(SEARCH_CAP)), "results": results,
    })))
}

/// The group `id` if the caller may see it; Online answers an unknown and a hidden group alike.
fn visible_group<'u>(universe: &'u Universe, id: &str, aud: &Audience) -> ApiResult<(&'u Org, &'u Group)> {
    universe
        .orgs
        .iter()
        .find_map(|o| o.groups.get(id).map(|g| (o, g)))
        .filter(|(o, g)| aud.can_see_group(o, g))
        .ok_or_else(|| ApiError::bad_request("Group does not exist or is inaccessible.").with_detail(id.to_string()))
}

async fn group(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let (org, g) = visible_group(&universe, &id, &aud)?;
    Ok(req.json(group_json(org, g, &aud)))
}

/// Members are listed to the group's members and the org's admins.
fn members_visible(org: &Org, g: &Group, aud: &Audience) -> ApiResult<()> {
    let member = aud.username.as_deref().is_some_and(|u| g.member_type(u) != "none");
    if member || (aud.org_admin && aud.is_member_of_org(&org.id)) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("members of group {}", g.id)))
    }
}

async fn group_users(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let (org, g) = visible_group(&universe, &id, &aud)?;
    members_visible(org, g, &aud)?;
    let admins: Vec<&String> = std::iter::once(&g.owner).chain(g.admins.iter().filter(|a| **a != g.owner)).collect();
    Ok(req.json(json!({ "owner": g.owner, "admins": admins, "users": g.users })))
}

async fn group_userlist(
    State(state): State<SimState>,
    Path((url_key, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let (org, g) = visible_group(&universe, &id, &aud)?;
    members_visible(org, g, &aud)?;
    let page = req.page(25)?;
    let members: Vec<&String> = g.all_members().collect();
    let total = members.len();
    let users: Vec<Value> = members[page.range(total)]
        .iter()
        .map(|u| {
            // Joining times derive from the names, so they are stable across runs.
            let joined = g.created + (stable_hash_of(&format!("{}/{u}", g.id)) % 200) as i64 * 86_400_000;
            json!({ "username": u, "memberType": g.member_type(u), "joined": joined })
        })
        .collect();
    Ok(req.json(json!({ "users": users, "total": total, "start": page.start, "num": page.num, "nextStart": page.next_start(total, None) })))
}

async fn group_thumbnail(
    State(state): State<SimState>,
    Path((url_key, id, path)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let (_, g) = visible_group(&universe, &id, &aud)?;
    if g.thumbnail.as_deref() != Some(path.as_str()) {
        return Err(ApiError::not_found("File not found."));
    }
    if let Some(bytes) = &g.thumbnail_bytes {
        let content_type = super::content::content_type_of(&path);
        return Ok(([(header::CONTENT_TYPE, content_type)], bytes.clone()).into_response());
    }
    let png = thumbnail_png(state.config.seed, &format!("group/{}", g.id));
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}
