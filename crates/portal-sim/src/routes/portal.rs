//! Portal endpoints: `/info`, `/portals/self`, the org's hosting URLs, user search, service-name
//! availability, and item `/search` with Online's 10,000-result paging cap.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::content::params::{org_of, read, Req, SEARCH_CAP};
use super::content::render::{item_json, sort_items, user_json, ItemDoc, UserDoc};
use crate::model::{Item, Org, PRIV_VIEW_USERS};
use crate::routes::error::{ApiError, ApiResult};
use crate::search::parse;
use crate::server::SimState;

const ROOT: &str = "/{url_key}/sharing/rest";

/// The portal routes, full paths, GET and POST alike.
pub fn routes() -> Router<SimState> {
    Router::new()
        .route(&format!("{ROOT}/info"), get(info).post(info))
        .route(&format!("{ROOT}/portals/self"), get(portal_self).post(portal_self))
        .route(&format!("{ROOT}/portals/{{portal_id}}/urls"), get(urls).post(urls))
        .route(&format!("{ROOT}/portals/self/users/search"), get(users_search).post(users_search))
        .route(&format!("{ROOT}/portals/self/users"), get(users_list).post(users_list))
        .route(
            &format!("{ROOT}/portals/self/isServiceNameAvailable"),
            get(service_name_available).post(service_name_available),
        )
        .route(&format!("{ROOT}/search"), get(search).post(search))
}

async fn info(State(state): State<SimState>, Path(url_key): Path<String>, req: Req) -> ApiResult<Response> {
    org_of(&read(&state), &url_key)?;
    let portal = format!("{}/{url_key}", state.base_url);
    Ok(req.json(json!({
        "owningSystemUrl": portal,
        "authInfo": { "isTokenBasedSecurity": true, "tokenServicesUrl": format!("{portal}/sharing/rest/generateToken") },
    })))
}

fn host_of(base_url: &str) -> &str {
    base_url.split("://").nth(1).unwrap_or(base_url)
}

fn portal_json(state: &SimState, org: &Org) -> Value {
    let host = host_of(&state.base_url);
    let base = &state.base_url;
    json!({
        "id": org.id,
        "name": org.name,
        "urlKey": org.url_key,
        "customBaseUrl": host,
        "portalHostname": format!("{host}/{}", org.url_key),
        "isPortal": false,
        "portalMode": "multitenant",
        "portalName": "ArcGIS Online",
        "currentVersion": "2024.2",
        "supportsOAuth": true,
        "allSSL": base.starts_with("https"),
        "access": "private",
        "culture": "en",
        "region": "WO",
        "units": "metric",
        "created": org.created,
        "modified": org.created,
        "maxTokenExpirationMinutes": org.max_token_expiration_minutes,
        "defaultExtent": { "xmin": -2.0e7, "ymin": -1.0e7, "xmax": 2.0e7, "ymax": 1.5e7, "spatialReference": { "wkid": 102100 } },
        "subscriptionInfo": {
            "id": format!("sub-{}", org.id), "type": "In House", "state": "active",
            "expDate": org.created + 10 * 365 * 86_400_000i64, "maxUsers": org.users.len() * 2,
            "userLicenseTypes": { "creatorUT": 500, "GISProfessionalAdvUT": 20, "viewerUT": 1000 },
        },
        "helperServices": {
            "geometry": { "url": "https://utility.arcgisonline.com/arcgis/rest/services/Geometry/GeometryServer" },
            "printTask": { "url": "https://utility.arcgisonline.com/arcgis/rest/services/Utilities/PrintingTools/GPServer/Export%20Web%20Map%20Task" },
            "hosting": { "url": format!("{}/{}/arcgis/rest/services", state.services_url, org.id) },
        },
    })
}

async fn portal_self(State(state): State<SimState>, Path(url_key): Path<String>, req: Req) -> ApiResult<Response> {
    let universe = read(&state);
    let org = org_of(&universe, &url_key)?;
    let mut body = portal_json(&state, org);
    if let Some(caller) = &req.caller {
        if let Some(user) = org.users.get(&caller.username) {
            body["user"] = user_json(org, user, true);
        }
    }
    Ok(req.json(body))
}

async fn urls(
    State(state): State<SimState>,
    Path((url_key, portal_id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let universe = read(&state);
    let org = org_of(&universe, &url_key)?;
    if portal_id != "self" && portal_id != org.id {
        return Err(ApiError::bad_request(format!("Invalid portal id '{portal_id}'.")));
    }
    // Online names its services hosts here (`services1.arcgis.com`), not the portal's; a client
    // that sends its token to hosted services must learn them from this answer.
    let host = host_of(&state.services_url);
    Ok(req.json(json!({
        "urls": {
            "features": { "http": [host], "https": [host] },
            "tiles": { "http": [host], "https": [host] },
        }
    })))
}

async fn users_search(State(state): State<SimState>, Path(url_key): Path<String>, req: Req) -> ApiResult<Response> {
    Ok(req.json(org_users(&state, &url_key, &req, "results")?))
}

/// `portals/self/users` (without `/search`) answers the same list under `users`, as the real
/// "Users" resource does; `/search` answers under `results`.
async fn users_list(State(state): State<SimState>, Path(url_key): Path<String>, req: Req) -> ApiResult<Response> {
    Ok(req.json(org_users(&state, &url_key, &req, "users")?))
}

fn org_users(state: &SimState, url_key: &str, req: &Req, list_key: &str) -> ApiResult<Value> {
    let caller = req.require_caller()?;
    let universe = read(state);
    let org = org_of(&universe, url_key)?;
    let admin = org.users.get(&caller.username).is_some_and(|u| u.is_admin_with(PRIV_VIEW_USERS));
    if !admin {
        return Err(ApiError::forbidden("portals/self/users/search needs portal:admin:viewUsers"));
    }
    let page = req.page(10)?;
    page.check_search_cap()?;
    let q = req.get("q").unwrap_or("");
    let query = parse(q).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut users: Vec<_> = org.users.values().filter(|u| query.matches(&UserDoc { org, user: u })).collect();
    let desc = req.get("sortOrder").is_some_and(|o| o.eq_ignore_ascii_case("desc"));
    match req.get("sortField").map(str::to_lowercase).as_deref() {
        Some("created") => users.sort_by_key(|u| (u.created, u.username.clone())),
        Some("modified") => users.sort_by_key(|u| (u.modified, u.username.clone())),
        Some("fullname") => users.sort_by_key(|u| (u.full_name.to_lowercase(), u.username.clone())),
        Some("lastlogin") => users.sort_by_key(|u| (u.last_login, u.username.clone())),
        _ => {} // username order, as the BTreeMap holds them
    }
    if desc {
        users.reverse();
    }
    let total = users.len();
    let results: Vec<Value> = users[page.range(total)].iter().map(|u| user_json(org, u, true)).collect();
    let mut v = json!({
        "total": total, "start": page.start, "num": page.num,
        "nextStart": page.next_start(total, Some(SEARCH_CAP)),
    });
    v[list_key] = Value::Array(results);
    Ok(v)
}

async fn service_name_available(
    State(state): State<SimState>,
    Path(url_key): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    req.require_caller()?;
    let universe = read(&state);
    let org = org_of(&universe, &url_key)?;
    let name = req.get("name").ok_or_else(|| ApiError::bad_request("'name' must be specified."))?;
    // Online compares service names case-insensitively within the org.
    let taken = org.services.keys().any(|s| s.eq_ignore_ascii_case(name))
        || org.items.values().any(|i| {
            i.url.as_deref().is_some_and(|u| u.to_lowercase().contains(&format!("/services/{}/", name.to_lowercase())))
        });
    Ok(req.json(json!({ "available": !taken })))
}

async fn search(State(state): State<SimState>, Path(url_key): Path<String>, req: Req) -> ApiResult<Response> {
    let universe = read(&state);
    org_of(&universe, &url_key)?;
    let aud = req.audience(&universe);
    let page = req.page(10)?;
    page.check_search_cap()?;
    let q = req.get("q").unwrap_or("");
    let query = parse(q).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut hits: Vec<(&Org, &Item)> = universe
        .orgs
        .iter()
        .flat_map(|org| org.searchable_items().map(move |i| (org, i)))
        .filter(|(org, i)| aud.can_see_item(org, i) && query.matches(&ItemDoc { org, item: i }))
        .collect();
    sort_items(&mut hits, req.get("sortField"), req.get("sortOrder"));
    let total = hits.len();
    let results: Vec<Value> = hits[page.range(total)].iter().map(|(o, i)| item_json(o, i, &aud)).collect();
    Ok(req.json(json!({
        "query": q, "total": total, "start": page.start, "num": page.num,
        "nextStart": page.next_start(total, Some(SEARCH_CAP)), "results": results,
    })))
}
