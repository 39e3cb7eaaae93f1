//! Sign-in as ArcGIS Online does it: `generateToken` for built-in accounts, OAuth2 (authorization
//! code with PKCE, `refresh_token`, `exchange_refresh_token`), and the `Caller` extractor every
//! protected handler uses.
//!
//! Invariants:
//! - tokens, codes and refresh tokens are random (OS-seeded RNG), never derived from the universe
//!   seed, so a client cannot get a valid token without signing in;
//! - a token belongs to one org; using it on another org's paths answers 498 like an invalid one;
//! - expiry is checked against the wall clock with lifetimes capped by `SimConfig::token_ttl_s`,
//!   which is how tests make tokens expire within seconds;
//! - no secret (password, token, code, refresh token) is ever logged or put in an error message.

mod oauth;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use rand::RngCore;
use serde::Deserialize;

use crate::model::User;
use crate::routes::error::ApiError;
use crate::server::{SimConfig, SimState};

/// Default lifetime Online gives a `generateToken` token when `expiration` is not sent (minutes).
const DEFAULT_GENERATE_TOKEN_MINUTES: u64 = 60;
/// OAuth access tokens live about 30 minutes on Online.
const OAUTH_ACCESS_TTL_S: u64 = 30 * 60;
/// Refresh tokens default to two weeks.
pub(crate) const REFRESH_TTL_S: u64 = 14 * 24 * 3600;
/// Authorization codes must be redeemed quickly.
const CODE_TTL_S: u64 = 120;

/// Milliseconds since the Unix epoch, the unit of every ArcGIS timestamp.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A fresh unguessable secret: 48 random bytes, base64url (64 characters).
pub(crate) fn random_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Clone)]
struct Grant {
    org_id: String,
    username: String,
    expires_ms: i64,
}

#[derive(Clone)]
struct CodeGrant {
    org_id: String,
    username: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    refresh_ttl_s: u64,
    expires_ms: i64,
}

#[derive(Clone)]
struct RefreshGrant {
    org_id: String,
    username: String,
    client_id: String,
    expires_ms: i64,
}

/// Every credential the sim has handed out. Shared by all orgs; each entry names its org.
pub struct AuthState {
    token_ttl_s: u64,
    /// The longest a refresh token lives (seconds); changeable while running.
    refresh_ttl_s: AtomicU64,
    access: Mutex<HashMap<String, Grant>>,
    codes: Mutex<HashMap<String, CodeGrant>>,
    refresh: Mutex<HashMap<String, RefreshGrant>>,
    /// Who `oauth2/authorize` signs in as when auto-approving, per org id.
    auto_approve_users: Mutex<HashMap<String, String>>,
    tokens_issued: AtomicU64,
    /// Honour the token header on every method, not only GET (see `caller_for_request`).
    token_header_everywhere: AtomicBool,
    /// Requests whose token was in a header the sim ignored (a POST), for tests.
    header_tokens_ignored: AtomicU64,
}

// Secrets must not leak through `{:?}`: only counts are shown.
impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("token_ttl_s", &self.token_ttl_s)
            .field("access_tokens", &lock(&self.access).len())
            .field("codes", &lock(&self.codes).len())
            .field("refresh_tokens", &lock(&self.refresh).len())
            .finish()
    }
}

/// A poisoned lock only means another handler panicked; the maps stay consistent, so carry on.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AuthState {
    pub fn new(cfg: &SimConfig) -> Self {
        Self {
            token_ttl_s: cfg.token_ttl_s.max(1),
            refresh_ttl_s: AtomicU64::new(cfg.refresh_token_ttl_s.max(1)),
            access: Mutex::default(),
            codes: Mutex::default(),
            refresh: Mutex::default(),
            auto_approve_users: Mutex::default(),
            tokens_issued: AtomicU64::new(0),
            token_header_everywhere: AtomicBool::new(cfg.token_header_everywhere),
            header_tokens_ignored: AtomicU64::new(0),
        }
    }

    /// Whether `X-Esri-Authorization`/`Authorization` count on every method (`true`) or on GET
    /// only (`false`, the default: what Esri documents).
    pub fn token_header_everywhere(&self) -> bool {
        self.token_header_everywhere.load(Ordering::Relaxed)
    }

    /// Switches the header rule while running (`POST /_sim/auth/token-header {"everywhere"}`).
    pub fn set_token_header_everywhere(&self, on: bool) {
        self.token_header_everywhere.store(on, Ordering::Relaxed);
    }

    /// How many requests carried a token header the sim did not honour (a POST with the
    /// GET-only rule).
    pub fn header_tokens_ignored(&self) -> u64 {
        self.header_tokens_ignored.load(Ordering::Relaxed)
    }

    /// Issues an access token for `username` of `org_id` valid for `ttl_s` seconds, capped by
    /// `token_ttl_s`. Returns the token and its expiry (epoch ms). Tests may call it directly to skip
    /// the sign-in dance.
    pub fn issue_token(&self, org_id: &str, username: &str, ttl_s: u64) -> (String, i64) {
        let ttl_s = ttl_s.min(self.token_ttl_s).max(1);
        let token = random_secret();
        let expires_ms = now_ms() + (ttl_s as i64) * 1000;
        let grant = Grant { org_id: org_id.to_owned(), username: username.to_owned(), expires_ms };
        lock(&self.access).insert(token.clone(), grant);
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
        (token, expires_ms)
    }

    /// Issues a refresh token for `username` of `org_id` and the app `client_id`, living the
    /// current refresh-token lifetime, as a completed browser sign-in would. Returns the token
    /// and its expiry (epoch ms). For tests that need an OAuth identity without a browser.
    pub fn issue_refresh_token(&self, org_id: &str, username: &str, client_id: &str) -> (String, i64) {
        let expires_ms = now_ms() + (self.refresh_ttl_s() as i64) * 1000;
        let token = self.insert_refresh(RefreshGrant {
            org_id: org_id.to_owned(),
            username: username.to_owned(),
            client_id: client_id.to_owned(),
            expires_ms,
        });
        (token, expires_ms)
    }

    /// The (org id, username) a live access token belongs to; `None` if unknown, revoked or expired.
    pub fn token_owner(&self, token: &str) -> Option<(String, String)> {
        let mut access = lock(&self.access);
        let grant = access.get(token)?;
        if grant.expires_ms <= now_ms() {
            access.remove(token);
            return None;
        }
        Some((grant.org_id.clone(), grant.username.clone()))
    }

    /// Revokes one access token (as when a user signs out elsewhere). True if it existed.
    pub fn revoke_token(&self, token: &str) -> bool {
        lock(&self.access).remove(token).is_some()
    }

    /// Revokes every access and refresh token of one user (password change, account disabled).
    pub fn revoke_user(&self, org_id: &str, username: &str) {
        lock(&self.access).retain(|_, g| !(g.org_id == org_id && g.username == username));
        lock(&self.refresh).retain(|_, g| !(g.org_id == org_id && g.username == username));
    }

    /// The longest a refresh token issued from now on lives, in seconds.
    pub fn refresh_ttl_s(&self) -> u64 {
        self.refresh_ttl_s.load(Ordering::Relaxed)
    }

    /// Changes the refresh-token lifetime for tokens issued from now on (as an org's security
    /// policy does); tokens already issued keep their expiry.
    pub fn set_refresh_ttl_s(&self, seconds: u64) {
        self.refresh_ttl_s.store(seconds.max(1), Ordering::Relaxed);
    }

    /// Makes every access token expire now, keeping refresh tokens: what a long weekend does.
    pub fn expire_all_access_tokens(&self) {
        lock(&self.access).clear();
    }

    /// How many access tokens were issued since start (generateToken, oauth2 grants).
    pub fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::Relaxed)
    }

    /// Sets who `oauth2/authorize` signs in as for `org_id` when `oauth_auto_approve` is on.
    pub fn set_auto_approve_user(&self, org_id: &str, username: &str) {
        lock(&self.auto_approve_users).insert(org_id.to_owned(), username.to_owned());
    }

    fn auto_approve_user(&self, org_id: &str) -> Option<String> {
        lock(&self.auto_approve_users).get(org_id).cloned()
    }

    fn access_ttl_for_oauth(&self) -> u64 {
        OAUTH_ACCESS_TTL_S.min(self.token_ttl_s)
    }

    fn insert_code(&self, grant: CodeGrant) -> String {
        let code = random_secret();
        lock(&self.codes).insert(code.clone(), grant);
        code
    }

    /// Codes are single use: taking one removes it whatever happens next.
    fn take_code(&self, code: &str) -> Option<CodeGrant> {
        let grant = lock(&self.codes).remove(code)?;
        (grant.expires_ms > now_ms()).then_some(grant)
    }

    fn insert_refresh(&self, grant: RefreshGrant) -> String {
        let token = random_secret();
        lock(&self.refresh).insert(token.clone(), grant);
        token
    }

    fn refresh_grant(&self, token: &str) -> Option<RefreshGrant> {
        let mut refresh = lock(&self.refresh);
        let grant = refresh.get(token)?;
        if grant.expires_ms <= now_ms() {
            refresh.remove(token);
            return None;
        }
        Some(grant.clone())
    }

    fn revoke_refresh(&self, token: &str) {
        lock(&self.refresh).remove(token);
    }
}

/// The signed-in user of a request, resolved from its token against the current universe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub org_id: String,
    pub username: String,
    /// Full administrator (`org_admin` without a role id), or a custom administrator role holding
    /// `portal:admin:viewItems` (the same rule as `model::Audience`).
    pub is_admin: bool,
    pub privileges: Vec<String>,
}

impl Caller {
    /// Whether the caller holds `privilege`; a full administrator holds every privilege.
    pub fn has_privilege(&self, privilege: &str) -> bool {
        (self.is_admin && self.privileges.is_empty()) || self.privileges.iter().any(|p| p == privilege)
    }

    /// What this caller may see, resolved against the current model (see `model::Audience`).
    pub fn audience(&self, universe: &crate::model::Universe) -> crate::model::Audience {
        crate::model::Audience::of(universe, &self.org_id, &self.username)
    }

    /// Refuses with 498 (as Online does) when the caller's token belongs to another org than the
    /// path segment `url_key_or_org_id` names. Unknown segments are left to the handler's 404.
    pub fn require_org(&self, state: &SimState, url_key_or_org_id: &str) -> Result<(), ApiError> {
        let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_url_key(url_key_or_org_id).or_else(|| universe.org_by_id(url_key_or_org_id));
        match org {
            Some(org) if org.id != self.org_id => Err(ApiError::invalid_token()),
            _ => Ok(()),
        }
    }
}

fn is_admin(user: &User) -> bool {
    user.is_full_admin() || user.is_admin_with(crate::model::PRIV_VIEW_ITEMS)
}

/// Resolves a token to its caller: 498 when it is unknown, expired, revoked, or its user no longer
/// exists or is disabled. Does not check which org the request's path names (see `Caller::require_org`).
pub fn caller_from_token(state: &SimState, token: &str) -> Result<Caller, ApiError> {
    let (org_id, username) = state.auth.token_owner(token).ok_or_else(ApiError::invalid_token)?;
    let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
    let user = universe
        .org_by_id(&org_id)
        .and_then(|org| org.users.get(&username))
        .filter(|u| !u.disabled)
        .ok_or_else(ApiError::invalid_token)?;
    Ok(Caller { org_id, is_admin: is_admin(user), privileges: user.privileges.clone(), username })
}

/// The token a request carries: `X-Esri-Authorization: Bearer`, `Authorization: Bearer`, or
/// `token=` in the query string, in that order. An empty value counts as none.
pub fn token_from_parts(parts: &Parts) -> Option<String> {
    token_from_headers(parts).or_else(|| token_from_query(parts))
}

fn token_from_headers(parts: &Parts) -> Option<String> {
    for header in ["x-esri-authorization", "authorization"] {
        if let Some(v) = parts.headers.get(header).and_then(|v| v.to_str().ok()) {
            let v = v.trim();
            let t = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).unwrap_or(v).trim();
            if !t.is_empty() {
                return Some(t.to_owned());
            }
        }
    }
    None
}

fn token_from_query(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, v)| k == "token" && !v.is_empty())
        .map(|(_, v)| v)
}

/// The first path segment is the org's url key (portal paths) or its id (hosted services).
fn first_segment(parts: &Parts) -> &str {
    parts.uri.path().trim_start_matches('/').split('/').next().unwrap_or("")
}

/// Resolves the caller of a request whose token may come from its headers, its query or (for POST
/// forms) `form_token`, and checks it against the org its path names. `Ok(None)`: no token at all.
pub fn caller_for_request(
    state: &SimState,
    parts: &Parts,
    form_token: Option<&str>,
) -> Result<Option<Caller>, ApiError> {
    // Esri documents `X-Esri-Authorization` for GET requests; a POST's token is a form field
    // (arcgis-rest-js and Esri's Python client put it in the body). Whether a POST's header is
    // honoured (admin, portaladmin, older Enterprise) is not established, so by default it is
    // not: a client relying on it meets "Token Required" here rather than in production.
    let header_counts = matches!(parts.method, Method::GET | Method::HEAD) || state.auth.token_header_everywhere();
    let header = token_from_headers(parts);
    if header.is_some() && !header_counts {
        state.auth.header_tokens_ignored.fetch_add(1, Ordering::Relaxed);
    }
    let token = header
        .filter(|_| header_counts)
        .or_else(|| token_from_query(parts))
        .or_else(|| form_token.filter(|t| !t.is_empty()).map(str::to_owned));
    let Some(token) = token else { return Ok(None) };
    let caller = caller_from_token(state, &token)?;
    caller.require_org(state, first_segment(parts))?;
    Ok(Some(caller))
}

impl FromRequestParts<SimState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SimState) -> Result<Self, Self::Rejection> {
        caller_for_request(state, parts, None)?.ok_or_else(ApiError::token_required)
    }
}

/// For endpoints anonymous users may call: no token gives `None`, a bad token still answers 498
/// (Online does not silently fall back to anonymous).
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<SimState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SimState) -> Result<Self, Self::Rejection> {
        caller_for_request(state, parts, None).map(MaybeCaller)
    }
}

/// Token control for out-of-process tests, outside the fault middleware:
/// `POST /_sim/auth/expire-tokens` makes every access token invalid now (refresh tokens survive),
/// answering `{"tokens_issued": n}`.
/// `POST /_sim/auth/token-header {"everywhere": bool}` switches whether the token header counts on
/// every method or on GET only, answering `{"everywhere", "header_tokens_ignored"}`.
pub fn control_routes() -> Router<SimState> {
    Router::new()
        .route(
            "/_sim/auth/expire-tokens",
            post(|State(state): State<SimState>| async move {
                state.auth.expire_all_access_tokens();
                Json(serde_json::json!({ "tokens_issued": state.auth.tokens_issued() }))
            }),
        )
        .route(
            "/_sim/auth/token-header",
            post(|State(state): State<SimState>, Json(body): Json<TokenHeaderRule>| async move {
                if let Some(on) = body.everywhere {
                    state.auth.set_token_header_everywhere(on);
                }
                Json(serde_json::json!({
                    "everywhere": state.auth.token_header_everywhere(),
                    "header_tokens_ignored": state.auth.header_tokens_ignored(),
                }))
            }),
        )
}

#[derive(Deserialize)]
struct TokenHeaderRule {
    #[serde(default)]
    everywhere: Option<bool>,
}

/// The sign-in endpoints, with full paths under `/{url_key}/sharing/rest`.
pub fn routes() -> Router<SimState> {
    Router::new().route("/{url_key}/sharing/rest/generateToken", post(generate_token)).merge(oauth::routes())
}

#[derive(Deserialize)]
struct GenerateTokenForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    expiration: Option<String>,
}

/// Checks a built-in account's password; the same answer for an unknown user and a wrong password.
fn check_password(state: &SimState, url_key: &str, username: &str, password: &str) -> Option<(String, String)> {
    let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key)?;
    let user = org.users.get(username).filter(|u| !u.disabled && u.password == password)?;
    Some((org.id.clone(), user.username.clone()))
}

async fn generate_token(
    State(state): State<SimState>,
    Path(url_key): Path<String>,
    Form(form): Form<GenerateTokenForm>,
) -> Response {
    let Some((org_id, username)) = check_password(&state, &url_key, &form.username, &form.password) else {
        tracing::info!(%url_key, "generateToken refused: invalid credentials");
        return ApiError::new(400, "Unable to generate token.")
            .with_detail("Invalid username or password.")
            .into_response();
    };
    let max_minutes = {
        let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
        universe.org_by_id(&org_id).map(|o| o.max_token_expiration_minutes).unwrap_or(20160)
    };
    let requested: u64 = form
        .expiration
        .as_deref()
        .and_then(|e| e.trim().parse::<i64>().ok())
        .filter(|m| *m > 0)
        .map(|m| m as u64)
        .unwrap_or(DEFAULT_GENERATE_TOKEN_MINUTES);
    let minutes = requested.min(max_minutes.max(1) as u64);
    let (token, expires) = state.auth.issue_token(&org_id, &username, minutes * 60);
    tracing::info!(%url_key, %username, "generateToken issued a token");
    Json(serde_json::json!({ "token": token, "expires": expires, "ssl": state.config.tls })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_tokens() {
        let auth = AuthState::new(&SimConfig::default());
        let (token, _) = auth.issue_token("org", "alice", 60);
        let shown = format!("{auth:?}");
        assert!(!shown.contains(&token), "Debug of AuthState must redact tokens: {shown}");
        assert!(shown.contains("access_tokens: 1"), "Debug should still show counts: {shown}");
    }

    #[test]
    fn ttl_is_capped_by_config() {
        let cfg = SimConfig { token_ttl_s: 3, ..SimConfig::default() };
        let auth = AuthState::new(&cfg);
        let before = now_ms();
        let (_, expires) = auth.issue_token("org", "alice", 3600);
        assert!(expires - before <= 3_100, "token lifetime must be capped at token_ttl_s, got {} ms", expires - before);
    }

    #[test]
    fn revoked_and_unknown_tokens_resolve_to_nobody() {
        let auth = AuthState::new(&SimConfig::default());
        let (token, _) = auth.issue_token("org", "alice", 60);
        assert_eq!(auth.token_owner(&token), Some(("org".into(), "alice".into())), "a fresh token names its user");
        assert!(auth.revoke_token(&token), "revoking a live token reports it existed");
        assert_eq!(auth.token_owner(&token), None, "a revoked token must not resolve");
        assert_eq!(auth.token_owner("not-a-token"), None, "an unknown token must not resolve");
    }

    #[test]
    fn secrets_are_random() {
        assert_ne!(random_secret(), random_secret(), "two secrets must differ");
        assert_eq!(random_secret().len(), 64, "48 bytes base64url without padding are 64 characters");
    }
}
