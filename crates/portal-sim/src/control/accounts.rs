//! Account changes an administrator makes while OrgVault runs, for the token watch's tests:
//! revoke a user's tokens, change a password, demote an administrator, shorten the lifetime of
//! refresh tokens. Each takes effect at once, the way the real portal answers afterwards
//! (docs/portal-sim-fidelity.md, "Accounts and tokens"):
//! - a revoked or password-changed user's access tokens answer 498 "Invalid token." and its
//!   refresh tokens are refused by `oauth2/token` ("Invalid refresh_token");
//! - `generateToken` with the old password answers "Unable to generate token." with the detail
//!   "Invalid username or password.";
//! - a demoted administrator keeps signing in, and `portals/self` shows `role: org_user` with a
//!   user's privileges.
//!
//! HTTP (no token, under `/_sim`):
//! - `POST /_sim/orgs/{url_key}/users/{username}/revoke-tokens` -> `{"revoked": bool}`
//! - `POST /_sim/orgs/{url_key}/users/{username}/password` with `{"password": "..."}` ->
//!   `{"changed": bool}` (the user's tokens are revoked too)
//! - `POST /_sim/orgs/{url_key}/users/{username}/demote` -> `{"demoted": bool}`
//! - `POST /_sim/orgs/{url_key}/users/{username}/view-only-admin` -> `{"changed": bool}`: the user
//!   gets a custom administrator role that may only view (members, content, groups), as an
//!   organization can define one (Esri, "Set Role Privileges": any subset of the privileges)
//! - `POST /_sim/auth/refresh-token-ttl` with `{"seconds": n}` -> `{"seconds": n}`

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Control;

/// The custom role id of [`Control::make_view_only_admin`]'s role.
pub const VIEW_ONLY_ROLE_ID: &str = "vwOnlyAdmnRole01";

/// The system accounts of ArcGIS Enterprise (Esri, "Portal for ArcGIS: accounts created by the
/// portal": Living Atlas, boundaries, demographics, navigation).
pub const SYSTEM_ACCOUNTS: [&str; 4] = ["esri_boundaries", "esri_demographics", "esri_livingatlas", "esri_nav"];
use crate::server::SimState;

impl Control {
    fn org_id_of_user(&self, url_key: &str, username: &str) -> Option<String> {
        self.read(|u| u.org_by_url_key(url_key).filter(|o| o.users.contains_key(username)).map(|o| o.id.clone()))
    }

    /// Revokes every access and refresh token of the user (signed out everywhere). False for
    /// an unknown org or user.
    pub fn revoke_user_tokens(&self, url_key: &str, username: &str) -> bool {
        let Some(org_id) = self.org_id_of_user(url_key, username) else { return false };
        self.state.auth.revoke_user(&org_id, username);
        true
    }

    /// Sets a new password and revokes the user's tokens, as a password reset does.
    pub fn set_password(&self, url_key: &str, username: &str, password: &str) -> bool {
        let changed = self.write(|u| {
            let Some(user) = u.org_by_url_key_mut(url_key).and_then(|o| o.users.get_mut(username)) else {
                return false;
            };
            user.password = password.to_owned();
            true
        });
        changed && self.revoke_user_tokens(url_key, username)
    }

    /// Adds the system accounts ArcGIS Enterprise makes for itself (`esri_boundaries`,
    /// `esri_demographics`, `esri_livingatlas`, `esri_nav`): listed with the org's users like any
    /// other, owned and managed by the portal, never to be created by a client. False for an
    /// unknown org.
    pub fn add_system_accounts(&self, url_key: &str) -> bool {
        self.write(|u| {
            let Some(org) = u.org_by_url_key_mut(url_key) else { return false };
            let Some((role, role_id, privileges)) = crate::generate::role_privileges(org, "org_user") else {
                return false;
            };
            for name in SYSTEM_ACCOUNTS {
                let user = crate::model::User {
                    username: name.to_owned(),
                    password: crate::auth::random_secret(),
                    full_name: name.to_owned(),
                    email: String::new(),
                    role: role.clone(),
                    role_id: role_id.clone(),
                    privileges: privileges.clone(),
                    user_license_type_id: "creatorUT".into(),
                    provider: "arcgis".into(),
                    idp_username: None,
                    disabled: false,
                    created: org.created,
                    modified: org.created,
                    last_login: -1,
                };
                org.users.insert(user.username.clone(), user);
            }
            true
        })
    }

    /// Makes an administrator a plain user (`org_user`, a user's privileges, no custom role).
    /// Tokens stay valid: what changes is what they may do.
    pub fn demote_to_user(&self, url_key: &str, username: &str) -> bool {
        self.write(|u| {
            let Some(org) = u.org_by_url_key_mut(url_key) else { return false };
            let Some((role, role_id, privileges)) = crate::generate::role_privileges(org, "org_user") else {
                return false;
            };
            let Some(user) = org.users.get_mut(username) else { return false };
            (user.role, user.role_id, user.privileges) = (role, role_id, privileges);
            true
        })
    }

    /// Gives the user a custom administrator role that may only view: `portal:admin:viewUsers`,
    /// `viewItems`, `viewGroups` and a viewer's own privileges, nothing to create or change.
    pub fn make_view_only_admin(&self, url_key: &str, username: &str) -> bool {
        self.write(|u| {
            let Some(org) = u.org_by_url_key_mut(url_key) else { return false };
            let Some(user) = org.users.get_mut(username) else { return false };
            user.role = crate::model::Role::OrgAdmin;
            user.role_id = Some(VIEW_ONLY_ROLE_ID.into());
            user.privileges = crate::generate::VIEW_ONLY_ADMIN_PRIVILEGES.iter().map(|p| (*p).to_owned()).collect();
            true
        })
    }

    /// A browser sign-in of `username` to the org's registered app (`orgvault-<url_key>`),
    /// without the browser: `(client id, refresh token, its expiry in epoch ms)`.
    pub fn oauth_sign_in(&self, url_key: &str, username: &str) -> Option<(String, String, i64)> {
        let org_id = self.org_id_of_user(url_key, username)?;
        let client_id = self.read(|u| u.org_by_url_key(url_key)?.oauth_apps.first().map(|a| a.client_id.clone()))?;
        let (token, expires_ms) = self.state.auth.issue_refresh_token(&org_id, username, &client_id);
        Some((client_id, token, expires_ms))
    }

    /// Refresh tokens issued from now on live at most `seconds`.
    pub fn set_refresh_token_ttl_s(&self, seconds: u64) {
        self.state.auth.set_refresh_ttl_s(seconds);
    }
}

pub(super) fn routes() -> Router<SimState> {
    Router::new()
        .route("/_sim/orgs/{url_key}/users/{username}/revoke-tokens", post(revoke))
        .route("/_sim/orgs/{url_key}/users/{username}/password", post(password))
        .route("/_sim/orgs/{url_key}/users/{username}/demote", post(demote))
        .route("/_sim/orgs/{url_key}/users/{username}/view-only-admin", post(view_only_admin))
        .route("/_sim/auth/refresh-token-ttl", post(refresh_ttl))
}

async fn revoke(State(state): State<SimState>, Path((url_key, username)): Path<(String, String)>) -> Json<Value> {
    Json(json!({ "revoked": Control::new(state).revoke_user_tokens(&url_key, &username) }))
}

#[derive(serde::Deserialize)]
struct NewPassword {
    password: String,
}

async fn password(
    State(state): State<SimState>,
    Path((url_key, username)): Path<(String, String)>,
    Json(body): Json<NewPassword>,
) -> Json<Value> {
    Json(json!({ "changed": Control::new(state).set_password(&url_key, &username, &body.password) }))
}

async fn demote(State(state): State<SimState>, Path((url_key, username)): Path<(String, String)>) -> Json<Value> {
    Json(json!({ "demoted": Control::new(state).demote_to_user(&url_key, &username) }))
}

async fn view_only_admin(
    State(state): State<SimState>,
    Path((url_key, username)): Path<(String, String)>,
) -> Json<Value> {
    Json(json!({ "changed": Control::new(state).make_view_only_admin(&url_key, &username) }))
}

#[derive(serde::Deserialize)]
struct Lifetime {
    seconds: u64,
}

async fn refresh_ttl(State(state): State<SimState>, Json(body): Json<Lifetime>) -> Json<Value> {
    Control::new(state.clone()).set_refresh_token_ttl_s(body.seconds);
    Json(json!({ "seconds": state.auth.refresh_ttl_s() }))
}
