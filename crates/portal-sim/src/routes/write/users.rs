//! Users: Online's `invite` (the simulator creates the account at once, with the password given,
//! so the new user can sign in), Enterprise's portaladmin `createUser` (served on every org), and
//! `updateuserrole`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{comma_list, org_mut, write_lock, MAX_GROUPS_PER_USER};
use crate::auth::{now_ms, random_secret, Caller};
use crate::generate::role_privileges;
use crate::model::{Org, User};
use crate::routes::content::params::Req;
use crate::routes::error::{ApiError, ApiResult};
use crate::server::SimState;

const PRIV_INVITE: &str = "portal:admin:inviteUsers";

/// What a new account is made of; shared by invite and createUser.
struct NewUser<'a> {
    username: &'a str,
    password: Option<&'a str>,
    first: &'a str,
    last: &'a str,
    full: &'a str,
    email: &'a str,
    role: &'a str,
    license: &'a str,
    groups: Vec<String>,
}

fn may_invite(caller: &Caller) -> bool {
    caller.is_admin && caller.has_privilege(PRIV_INVITE)
}

/// Creates the account in `org`, or says why not. The username must be new in the whole universe
/// (checked by the caller, which holds the universe).
fn create(org: &mut Org, new: NewUser<'_>) -> Result<(), String> {
    if new.username.trim().is_empty() {
        return Err("a username is required".into());
    }
    let (role, role_id, privileges) =
        role_privileges(org, new.role).ok_or_else(|| format!("unknown role '{}'", new.role))?;
    let full_name = match (new.full.trim(), format!("{} {}", new.first.trim(), new.last.trim()).trim()) {
        ("", "") => new.username.to_owned(),
        ("", joined) => joined.to_owned(),
        (full, _) => full.to_owned(),
    };
    let now = now_ms();
    let user = User {
        username: new.username.to_owned(),
        // Without a password the account exists but nobody knows how to sign in as it (an
        // invitation e-mail would set one on Online).
        password: new.password.filter(|p| !p.is_empty()).map_or_else(random_secret, str::to_owned),
        full_name,
        email: new.email.to_owned(),
        role,
        role_id,
        privileges,
        user_license_type_id: if new.license.is_empty() { "creatorUT".into() } else { new.license.to_owned() },
        provider: "arcgis".into(),
        idp_username: None,
        disabled: false,
        created: now,
        modified: now,
        last_login: -1,
    };
    org.users.insert(user.username.clone(), user);
    for g in new.groups {
        let full = org.groups_of(new.username).count() >= MAX_GROUPS_PER_USER;
        if let Some(group) = org.groups.get_mut(&g).filter(|_| !full) {
            if group.member_type(new.username) == "none" {
                group.users.push(new.username.to_owned());
            }
        }
    }
    Ok(())
}

pub(super) async fn invite(
    State(state): State<SimState>,
    Path(url_key): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let list = req
        .json_param("invitationList")?
        .ok_or_else(|| ApiError::bad_request("'invitationList' must be specified."))?;
    let invitations = list
        .get("invitations")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("Invalid 'invitationList' parameter: 'invitations' must be an array."))?;
    let mut universe = write_lock(&state);
    org_mut(&mut universe, &url_key)?;
    if !may_invite(caller) {
        return Err(ApiError::forbidden("invite users"));
    }
    let mut not_invited = vec![];
    for inv in invitations {
        let s = |k: &str| inv.get(k).and_then(Value::as_str).unwrap_or("");
        let username = s("username");
        if username.is_empty() || universe.has_user(username) {
            not_invited.push(json!(username));
            continue;
        }
        let groups = match inv.get("groups") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(Value::String(g)) => comma_list(g),
            _ => vec![],
        };
        let role = if s("role").is_empty() { "org_user" } else { s("role") };
        let license = if s("userLicenseType").is_empty() { s("userType") } else { s("userLicenseType") };
        let new = NewUser {
            username,
            password: Some(s("password")),
            first: s("firstname"),
            last: s("lastname"),
            full: s("fullname"),
            email: s("email"),
            role,
            license: if license == "both" || license == "arcgisonly" { "" } else { license },
            groups,
        };
        let Some(org) = universe.org_by_url_key_mut(&url_key) else { break };
        if let Err(why) = create(org, new) {
            tracing::info!(%username, %why, "invitation refused");
            not_invited.push(json!(username));
        }
    }
    Ok(req.json(json!({ "success": true, "notInvited": not_invited })))
}

/// Portaladmin answers `{"status":"error","messages":[...]}`; the `error` object is added so a
/// client checking for ArcGIS error bodies sees it too.
fn admin_error(code: u16, message: String) -> Response {
    axum::Json(json!({
        "status": "error", "messages": [message], "code": code,
        "error": { "code": code, "message": message, "details": [] },
    }))
    .into_response()
}

pub(super) async fn create_user(
    State(state): State<SimState>,
    Path(url_key): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let username = req.required("username")?;
    let password = req.required("password")?;
    let mut universe = write_lock(&state);
    org_mut(&mut universe, &url_key)?;
    if !may_invite(caller) {
        return Err(ApiError::forbidden("create users"));
    }
    if universe.has_user(username) {
        return Ok(admin_error(409, format!("A user with the username '{username}' already exists.")));
    }
    let get = |k: &str| req.get(k).unwrap_or("");
    let new = NewUser {
        username,
        password: Some(password),
        first: get("firstname"),
        last: get("lastname"),
        full: get("fullname"),
        email: get("email"),
        role: req.get("role").unwrap_or("org_user"),
        license: get("userLicenseTypeId"),
        groups: vec![],
    };
    let Some(org) = universe.org_by_url_key_mut(&url_key) else {
        return Err(ApiError::not_found("Organization not found."));
    };
    match create(org, new) {
        Ok(()) => Ok(req.json(json!({ "status": "success" }))),
        Err(why) => Ok(admin_error(400, format!("Unable to create user '{username}': {why}."))),
    }
}

pub(super) async fn update_user_role(
    State(state): State<SimState>,
    Path(url_key): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let username = req.required("user")?.to_owned();
    let role = req.required("role")?.to_owned();
    let mut universe = write_lock(&state);
    let org = org_mut(&mut universe, &url_key)?;
    if !(caller.is_admin && caller.has_privilege("portal:admin:changeUserRoles")) {
        return Err(ApiError::forbidden(format!("change the role of {username}")));
    }
    let (new_role, role_id, privileges) =
        role_privileges(org, &role).ok_or_else(|| ApiError::bad_request(format!("Invalid role '{role}'.")))?;
    let user =
        org.users.get_mut(&username).ok_or_else(|| ApiError::bad_request(format!("User not found: '{username}'")))?;
    user.role = new_role;
    user.role_id = role_id;
    user.privileges = privileges;
    user.modified = now_ms().max(user.modified + 1);
    if let Some(license) = req.get("userLicenseType") {
        user.user_license_type_id = license.to_owned();
    }
    Ok(req.json(json!({ "success": true, "username": username })))
}
