//! OAuth2 as Online implements it for App IDs: `oauth2/authorize` (authorization code, PKCE S256,
//! loopback and out-of-band redirects) and `oauth2/token` (`authorization_code`, `refresh_token`,
//! `exchange_refresh_token`). Errors on `oauth2/token` use Online's OAuth error body
//! `{"error":{"code":400,"error":"invalid_request","error_description","message"}}`.
//!
//! The sign-in page carries its state in a script, `var oAuthInfo = {"oauth_state": ...}`, and
//! its form posts to `sharing/oauth2/signin`, as ArcGIS Online's page does; an out-of-band
//! redirect ends on a page titled `SUCCESS code=<code>`. Esri's Python client signs in with a
//! password exactly so (`EsriBuiltInAuth`, client id `pythonapi`, one of the apps every portal
//! has built in), so that page is shown to Esri's built-in apps even when the simulator
//! approves its own test apps at once.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{check_password, now_ms, CodeGrant, RefreshGrant, CODE_TTL_S};
use crate::server::SimState;

const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

pub(super) fn routes() -> Router<SimState> {
    Router::new()
        .route("/{url_key}/sharing/rest/oauth2/authorize", get(authorize_page).post(authorize_submit))
        .route("/{url_key}/sharing/rest/oauth2/token", post(token))
        .route("/{url_key}/sharing/oauth2/signin", post(signin))
}

/// Client ids of the apps Esri builds into every portal (Esri's Python client signs in as
/// `pythonapi`); they accept the out-of-band redirect and always show the sign-in page.
pub const BUILT_IN_APPS: [&str; 2] = ["pythonapi", "arcgisonline"];

/// The parameters of an authorization request, carried through the approve page as hidden fields.
#[derive(Deserialize, Serialize, Default, Clone)]
struct AuthorizeParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
    #[serde(default)]
    state: Option<String>,
    // Only on the approve page's POST.
    #[serde(default, skip_serializing)]
    username: String,
    #[serde(default, skip_serializing)]
    password: String,
}

impl AuthorizeParams {
    /// The request as an opaque `oauth_state` (it holds no credential: only what the page was
    /// asked for), so the sign-in form can be answered without server-side sessions.
    fn to_state(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn from_state(state: &str) -> Option<AuthorizeParams> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(state).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// RFC 8252 §7.3: a registered loopback URI without a port accepts any port on the same host.
fn redirect_allowed(registered: &[String], uri: &str) -> bool {
    if uri == OOB || registered.iter().any(|r| r == uri) {
        return true;
    }
    let Ok(asked) = url::Url::parse(uri) else { return false };
    if asked.scheme() != "http" {
        return false;
    }
    let loopback = |h: Option<&str>| matches!(h, Some("127.0.0.1") | Some("localhost") | Some("[::1]"));
    if !loopback(asked.host_str()) {
        return false;
    }
    registered.iter().filter_map(|r| url::Url::parse(r).ok()).any(|r| {
        r.scheme() == "http"
            && r.host_str() == asked.host_str()
            && r.port().is_none()
            && asked.path().starts_with(r.path().trim_end_matches('/'))
    })
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>OAuth2 error</h1><p id=\"error\">{}</p></body></html>",
        html_escape(message)
    );
    (status, Html(body)).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Checks the request against the org's registered apps; `Err` is the error page to show.
fn validate(state: &SimState, url_key: &str, p: &AuthorizeParams) -> Result<String, Box<Response>> {
    check_request(state, url_key, p).map_err(|(status, message)| Box::new(error_page(status, message)))
}

fn check_request(state: &SimState, url_key: &str, p: &AuthorizeParams) -> Result<String, (StatusCode, &'static str)> {
    let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
    let Some(org) = universe.org_by_url_key(url_key) else {
        return Err((StatusCode::NOT_FOUND, "Organization not found."));
    };
    let Some(app) = org.oauth_apps.iter().find(|a| a.client_id == p.client_id) else {
        return Err((StatusCode::BAD_REQUEST, "Invalid client_id"));
    };
    if !redirect_allowed(&app.redirect_uris, &p.redirect_uri) {
        return Err((StatusCode::BAD_REQUEST, "Invalid redirect_uri"));
    }
    if p.response_type != "code" {
        return Err((StatusCode::BAD_REQUEST, "Invalid response_type"));
    }
    match (p.code_challenge.as_deref(), p.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) if !c.is_empty() => {}
        (None, _) => {}
        _ => return Err((StatusCode::BAD_REQUEST, "Invalid code_challenge or code_challenge_method")),
    }
    Ok(org.id.clone())
}

/// Issues a code and sends the browser back to the app (or shows the code for out-of-band apps).
fn approve(state: &SimState, org_id: &str, username: &str, p: &AuthorizeParams) -> Response {
    let refresh_ttl_s = p
        .expiration
        .as_deref()
        .and_then(|e| e.parse::<i64>().ok())
        .filter(|m| *m > 0)
        .map(|m| (m as u64 * 60).min(state.auth.refresh_ttl_s()))
        .unwrap_or(state.auth.refresh_ttl_s());
    let code = state.auth.insert_code(CodeGrant {
        org_id: org_id.to_owned(),
        username: username.to_owned(),
        client_id: p.client_id.clone(),
        redirect_uri: p.redirect_uri.clone(),
        code_challenge: p.code_challenge.clone().filter(|c| !c.is_empty()),
        refresh_ttl_s,
        expires_ms: now_ms() + (CODE_TTL_S as i64) * 1000,
    });
    if p.redirect_uri == OOB {
        let body = format!(
            "<!DOCTYPE html><html><head><title>SUCCESS code={code}</title>\
             <script>var oAuthInfo = {{\"messages\":[]}};</script></head><body>\
             <p>Copy this code into the application:</p><input id=\"code\" readonly value=\"{code}\"></body></html>"
        );
        return Html(body).into_response();
    }
    let mut query = serde_urlencoded::to_string([("code", code.as_str())]).unwrap_or_default();
    if let Some(s) = p.state.as_deref() {
        query.push('&');
        query.push_str(&serde_urlencoded::to_string([("state", s)]).unwrap_or_default());
    }
    let sep = if p.redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{}{sep}{query}", p.redirect_uri);
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn approve_form(p: &AuthorizeParams, message: Option<&str>) -> Response {
    let hidden =
        |name: &str, value: &str| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", html_escape(value));
    let mut fields = String::new();
    fields.push_str(&hidden("client_id", &p.client_id));
    fields.push_str(&hidden("response_type", &p.response_type));
    fields.push_str(&hidden("redirect_uri", &p.redirect_uri));
    for (name, value) in [
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
        ("expiration", &p.expiration),
        ("state", &p.state),
    ] {
        if let Some(v) = value {
            fields.push_str(&hidden(name, v));
        }
    }
    let info = serde_json::json!({
        "oauth_state": p.to_state(),
        "client_id": p.client_id,
        "messages": message.map(|m| vec![m]).unwrap_or_default(),
    });
    // `</` cannot end the script early: JSON escapes it.
    let script = format!("<script>var oAuthInfo = {};</script>", info.to_string().replace("</", "<\\/"));
    let message = message.map(|m| format!("<p id=\"error\">{}</p>", html_escape(m))).unwrap_or_default();
    let body = format!(
        "<!DOCTYPE html><html><head><title>Sign in</title>{script}</head><body><h1>Sign in to allow access</h1>{message}\
         <form method=\"post\" action=\"authorize\">{fields}\
         <label>Username <input name=\"username\" autocomplete=\"username\"></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
         <button type=\"submit\">Sign In</button></form></body></html>"
    );
    Html(body).into_response()
}

async fn authorize_page(
    State(state): State<SimState>,
    Path(url_key): Path<String>,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    let org_id = match validate(&state, &url_key, &p) {
        Ok(id) => id,
        Err(page) => return *page,
    };
    if !state.config.oauth_auto_approve || BUILT_IN_APPS.contains(&p.client_id.as_str()) {
        return approve_form(&p, None);
    }
    let admin = state.auth.auto_approve_user(&org_id).or_else(|| {
        let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_id(&org_id)?;
        org.users.values().find(|u| u.is_full_admin()).map(|u| u.username.clone())
    });
    match admin {
        Some(username) => approve(&state, &org_id, &username, &p),
        None => error_page(StatusCode::INTERNAL_SERVER_ERROR, "No administrator to sign in as."),
    }
}

async fn authorize_submit(
    State(state): State<SimState>,
    Path(url_key): Path<String>,
    Form(p): Form<AuthorizeParams>,
) -> Response {
    let org_id = match validate(&state, &url_key, &p) {
        Ok(id) => id,
        Err(page) => return *page,
    };
    match check_password(&state, &url_key, &p.username, &p.password) {
        Some((_, username)) => approve(&state, &org_id, &username, &p),
        None => approve_form(&p, Some("Invalid username or password.")),
    }
}

#[derive(Deserialize)]
struct SigninForm {
    #[serde(default)]
    oauth_state: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `sharing/oauth2/signin`: the sign-in page's form, naming the request by its `oauth_state`.
async fn signin(State(state): State<SimState>, Path(url_key): Path<String>, Form(f): Form<SigninForm>) -> Response {
    let Some(mut p) = AuthorizeParams::from_state(&f.oauth_state) else {
        return error_page(StatusCode::BAD_REQUEST, "Invalid oauth_state");
    };
    (p.username, p.password) = (f.username, f.password);
    let org_id = match validate(&state, &url_key, &p) {
        Ok(id) => id,
        Err(page) => return *page,
    };
    match check_password(&state, &url_key, &p.username, &p.password) {
        Some((_, username)) => approve(&state, &org_id, &username, &p),
        None => approve_form(&p, Some("Invalid username or password.")),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    code_verifier: String,
    #[serde(default)]
    refresh_token: String,
}

/// Online's OAuth error body: HTTP 200 with `error.error` naming the OAuth error.
fn oauth_error(description: &str) -> Response {
    Json(serde_json::json!({ "error": {
        "code": 400,
        "error": "invalid_request",
        "error_description": description,
        "message": description,
        "details": [],
    }}))
    .into_response()
}

fn pkce_s256(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn token(State(state): State<SimState>, Path(url_key): Path<String>, Form(f): Form<TokenForm>) -> Response {
    let org_id = {
        let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
        let Some(org) = universe.org_by_url_key(&url_key) else { return oauth_error("Invalid client_id") };
        if !org.oauth_apps.iter().any(|a| a.client_id == f.client_id) {
            return oauth_error("Invalid client_id");
        }
        org.id.clone()
    };
    let ssl = state.config.tls;
    let access_ttl = state.auth.access_ttl_for_oauth();
    match f.grant_type.as_str() {
        "authorization_code" => {
            let Some(grant) = state.auth.take_code(&f.code) else {
                return oauth_error("Invalid authorization code");
            };
            if grant.client_id != f.client_id || grant.org_id != org_id {
                return oauth_error("Invalid authorization code");
            }
            if grant.redirect_uri != f.redirect_uri {
                return oauth_error("Invalid redirect_uri");
            }
            if let Some(challenge) = &grant.code_challenge {
                if f.code_verifier.is_empty() || &pkce_s256(&f.code_verifier) != challenge {
                    tracing::info!(%url_key, "oauth2/token refused: PKCE verifier does not match");
                    return oauth_error("Invalid code_verifier");
                }
            }
            let (access, _) = state.auth.issue_token(&org_id, &grant.username, access_ttl);
            let refresh = state.auth.insert_refresh(RefreshGrant {
                org_id: org_id.clone(),
                username: grant.username.clone(),
                client_id: f.client_id.clone(),
                expires_ms: now_ms() + (grant.refresh_ttl_s as i64) * 1000,
            });
            tracing::info!(%url_key, username = %grant.username, "oauth2/token: authorization_code redeemed");
            Json(serde_json::json!({
                "access_token": access,
                "expires_in": access_ttl,
                "username": grant.username,
                "ssl": ssl,
                "refresh_token": refresh,
                "refresh_token_expires_in": grant.refresh_ttl_s,
            }))
            .into_response()
        }
        "refresh_token" => {
            let Some(grant) =
                state.auth.refresh_grant(&f.refresh_token).filter(|g| g.client_id == f.client_id && g.org_id == org_id)
            else {
                return oauth_error("Invalid refresh_token");
            };
            let (access, _) = state.auth.issue_token(&org_id, &grant.username, access_ttl);
            Json(serde_json::json!({
                "access_token": access,
                "expires_in": access_ttl,
                "username": grant.username,
                "ssl": ssl,
            }))
            .into_response()
        }
        "exchange_refresh_token" => {
            let Some(grant) =
                state.auth.refresh_grant(&f.refresh_token).filter(|g| g.client_id == f.client_id && g.org_id == org_id)
            else {
                return oauth_error("Invalid refresh_token");
            };
            if f.redirect_uri.is_empty() {
                return oauth_error("Invalid redirect_uri");
            }
            // The old refresh token stops working the moment the new one exists.
            state.auth.revoke_refresh(&f.refresh_token);
            let refresh_ttl = state.auth.refresh_ttl_s();
            let refresh = state
                .auth
                .insert_refresh(RefreshGrant { expires_ms: now_ms() + (refresh_ttl as i64) * 1000, ..grant.clone() });
            let (access, _) = state.auth.issue_token(&org_id, &grant.username, access_ttl);
            Json(serde_json::json!({
                "access_token": access,
                "expires_in": access_ttl,
                "username": grant.username,
                "ssl": ssl,
                "refresh_token": refresh,
                "refresh_token_expires_in": refresh_ttl,
            }))
            .into_response()
        }
        _ => oauth_error("Invalid grant_type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_accept_any_port_only_when_registered() {
        let reg = vec!["http://127.0.0.1".to_string(), "https://app.example.com/cb".to_string()];
        assert!(
            redirect_allowed(&reg, "http://127.0.0.1:53111/callback"),
            "RFC 8252: any port on a registered loopback host"
        );
        assert!(!redirect_allowed(&reg, "http://localhost:53111/callback"), "localhost is not registered here");
        assert!(redirect_allowed(&reg, "https://app.example.com/cb"), "an exact registered URI is accepted");
        assert!(!redirect_allowed(&reg, "https://evil.example.com/cb"), "an unregistered host must be refused");
        assert!(redirect_allowed(&reg, OOB), "out-of-band is always allowed");
    }

    #[test]
    fn pkce_matches_rfc7636_example() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "S256 challenge must match the RFC 7636 appendix B example"
        );
    }
}
