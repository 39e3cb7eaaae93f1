//! Signing in and keeping a valid access token.
//!
//! [`TokenSource`] holds the current access token and renews it ahead of expiry (five minutes
//! before, or at 80% of its lifetime when that comes first, so even a 5-second token works), and
//! once more when the portal answers 498/499, after which the rejected request is sent again.
//! Renewal is single-flight: one task renews while the others wait, then re-check whether the
//! token already changed instead of renewing again.
//!
//! Built-in accounts use `generateToken` (client=referer). OAuth uses the refresh token; when the
//! refresh token is within a day of expiring, or its expiry is unknown, it is first exchanged
//! for a new one, which is handed to the caller's `on_refresh_token` so the vault can keep it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::http::{ByteStream, Call, Transport};
use crate::secret::{Clock, Secret};

/// A refresh token issued by `exchange_refresh_token`, to be stored in place of the old one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub refresh_token: Secret,
    /// Epoch ms; `None` when the server did not say (older Enterprise).
    pub expires_at: Option<i64>,
}

/// Called with every new refresh token. Must not block.
pub type RefreshTokenSink = Arc<dyn Fn(NewRefreshToken) + Send + Sync>;

/// How to sign in to the portal.
#[derive(Clone)]
pub enum Credentials {
    /// A built-in account: `generateToken` with username and password.
    BuiltIn { username: String, password: Secret },
    /// An OAuth app registration with a refresh token from an earlier authorization.
    OAuth {
        client_id: String,
        refresh_token: Secret,
        /// Epoch ms; `None` when unknown, which makes the client exchange it at once.
        refresh_token_expires_at: Option<i64>,
        /// The redirect URI registered with the app (needed by `exchange_refresh_token`).
        redirect_uri: String,
        /// Receives each new refresh token.
        on_refresh_token: Option<RefreshTokenSink>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::BuiltIn { username, .. } => {
                f.debug_struct("BuiltIn").field("username", username).field("password", &"***").finish()
            }
            Credentials::OAuth { client_id, refresh_token_expires_at, redirect_uri, .. } => f
                .debug_struct("OAuth")
                .field("client_id", client_id)
                .field("refresh_token", &"***")
                .field("refresh_token_expires_at", refresh_token_expires_at)
                .field("redirect_uri", redirect_uri)
                .finish_non_exhaustive(),
        }
    }
}

const FIVE_MINUTES_MS: i64 = 5 * 60 * 1000;
const ONE_DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// When a token issued at `issued` and expiring at `expires` should be renewed: five minutes
/// before expiry, or at 80% of its lifetime if that is earlier.
pub fn renew_at(issued_ms: i64, expires_ms: i64) -> i64 {
    let lifetime = (expires_ms - issued_ms).max(0);
    let eighty_percent = issued_ms + lifetime * 8 / 10;
    // The margin before expiry is five minutes or a fifth of the lifetime, whichever is shorter.
    (expires_ms - FIVE_MINUTES_MS).max(eighty_percent)
}

#[derive(Debug, Clone)]
struct TokenState {
    token: Secret,
    renew_at_ms: i64,
    expires_ms: i64,
    generation: u64,
}

/// Holds and renews the access token for one portal.
pub struct TokenSource {
    credentials: Mutex<Credentials>,
    state: Mutex<Option<TokenState>>,
    renewing: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
    rest_root: Url,
    referer: String,
    expiration_minutes: u32,
    renewals: AtomicU64,
    exchanged: Mutex<bool>,
    username: Mutex<Option<String>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("rest_root", &self.rest_root.as_str())
            .field("renewals", &self.renewals.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A token source for the portal whose REST root (`.../sharing/rest/`) is `rest_root`.
    pub fn new(
        credentials: Credentials,
        rest_root: Url,
        referer: String,
        expiration_minutes: u32,
        clock: Arc<dyn Clock>,
    ) -> Self {
        TokenSource {
            credentials: Mutex::new(credentials),
            state: Mutex::new(None),
            renewing: tokio::sync::Mutex::new(()),
            clock,
            rest_root,
            referer,
            expiration_minutes: expiration_minutes.max(1),
            renewals: AtomicU64::new(0),
            exchanged: Mutex::new(false),
            username: Mutex::new(None),
        }
    }

    /// How many access tokens were obtained so far.
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }

    /// When the current access token expires (epoch ms), as the portal said; `None` before the
    /// first sign-in. The UI shows it as the token state.
    pub fn expires_ms(&self) -> Option<i64> {
        lock(&self.state).as_ref().map(|s| s.expires_ms)
    }

    /// The username the OAuth server reported, if any.
    pub fn username(&self) -> Option<String> {
        lock(&self.username).clone()
    }

    fn current(&self) -> Option<(Secret, u64)> {
        let now = self.clock.now_ms();
        lock(&self.state).as_ref().filter(|s| now < s.renew_at_ms).map(|s| (s.token.clone(), s.generation))
    }

    /// A valid token and its generation, renewing first if it is due.
    pub(crate) async fn token(&self, transport: &Transport) -> Result<(Secret, u64)> {
        if let Some(t) = self.current() {
            return Ok(t);
        }
        let _guard = self.renewing.lock().await;
        if let Some(t) = self.current() {
            return Ok(t);
        }
        self.renew(transport).await
    }

    /// Called after the portal rejected the token of `generation`: renews unless another task
    /// already did.
    pub(crate) async fn renew_after_rejection(&self, transport: &Transport, generation: u64) -> Result<(Secret, u64)> {
        let _guard = self.renewing.lock().await;
        let replaced =
            lock(&self.state).as_ref().filter(|s| s.generation != generation).map(|s| (s.token.clone(), s.generation));
        if let Some(t) = replaced {
            return Ok(t);
        }
        self.renew(transport).await
    }

    async fn renew(&self, transport: &Transport) -> Result<(Secret, u64)> {
        let creds = lock(&self.credentials).clone();
        let (token, expires_ms) = match creds {
            Credentials::BuiltIn { username, password } => self.generate_token(transport, &username, &password).await?,
            Credentials::OAuth {
                client_id,
                refresh_token,
                refresh_token_expires_at,
                redirect_uri,
                on_refresh_token,
            } => {
                self.oauth_access_token(
                    transport,
                    &client_id,
                    refresh_token,
                    refresh_token_expires_at,
                    &redirect_uri,
                    on_refresh_token,
                )
                .await?
            }
        };
        let now = self.clock.now_ms();
        let generation = self.renewals.fetch_add(1, Ordering::Relaxed) + 1;
        *lock(&self.state) =
            Some(TokenState { token: token.clone(), renew_at_ms: renew_at(now, expires_ms), expires_ms, generation });
        tracing::debug!(generation, expires_in_s = (expires_ms - now) / 1000, "access token obtained");
        Ok((token, generation))
    }

    async fn generate_token(&self, transport: &Transport, username: &str, password: &Secret) -> Result<(Secret, i64)> {
        let url = self.rest_root.join("generateToken").map_err(|e| Error::Config { message: e.to_string() })?;
        let params = vec![
            ("username".to_string(), username.to_string()),
            ("password".to_string(), password.expose().to_string()),
            ("client".to_string(), "referer".to_string()),
            ("referer".to_string(), self.referer.clone()),
            ("expiration".to_string(), self.expiration_minutes.to_string()),
            ("f".to_string(), "json".to_string()),
        ];
        let answer =
            transport.json_without_token(&Call::sign_in(url.clone(), params, true)).await.map_err(|e| match e {
                // A server hiccup that outlived the retries is not a wrong password.
                e @ Error::Api { .. } if e.is_retryable() => e,
                Error::Api { message, details, .. } => Error::SignIn {
                    message: format!(
                        "the portal refused the username or password of {username} ({})",
                        join_nonempty(&message, &details)
                    ),
                },
                Error::Forbidden { message } => {
                    Error::SignIn { message: format!("the account {username} may not sign in ({message})") }
                }
                Error::NotFound { .. } | Error::Decode { .. } => Error::NotAPortal {
                    url: crate::http::display_url(&url),
                    detail: "it has no ArcGIS generateToken endpoint".into(),
                },
                other => other,
            })?;
        let token = answer.get("token").and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::SignIn { message: format!("the portal answered the sign-in of {username} without a token") }
        })?;
        let now = self.clock.now_ms();
        let fallback = now + i64::from(self.expiration_minutes) * 60_000;
        let expires = answer.get("expires").and_then(as_i64).filter(|e| *e > now).unwrap_or(fallback);
        Ok((Secret::new(token), expires))
    }

    async fn oauth_access_token(
        &self,
        transport: &Transport,
        client_id: &str,
        refresh_token: Secret,
        refresh_expires_at: Option<i64>,
        redirect_uri: &str,
        sink: Option<RefreshTokenSink>,
    ) -> Result<(Secret, i64)> {
        let now = self.clock.now_ms();
        let exchanged_before = *lock(&self.exchanged);
        let due = match refresh_expires_at {
            Some(at) => at - now < ONE_DAY_MS,
            None => !exchanged_before,
        };
        let mut refresh_token = refresh_token;
        if due {
            let answer = self
                .oauth_token_call(
                    transport,
                    &[
                        ("grant_type", "exchange_refresh_token"),
                        ("client_id", client_id),
                        ("redirect_uri", redirect_uri),
                        ("refresh_token", refresh_token.expose()),
                    ],
                )
                .await?;
            *lock(&self.exchanged) = true;
            if let Some(new) = answer.get("refresh_token").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                let now = self.clock.now_ms();
                let expires_at = answer.get("refresh_token_expires_in").and_then(as_i64).map(|s| now + s * 1000);
                refresh_token = Secret::new(new);
                if let Credentials::OAuth { refresh_token: stored, refresh_token_expires_at, .. } =
                    &mut *lock(&self.credentials)
                {
                    *stored = refresh_token.clone();
                    *refresh_token_expires_at = expires_at;
                }
                tracing::info!("OAuth refresh token exchanged for a new one");
                if let Some(sink) = &sink {
                    sink(NewRefreshToken { refresh_token: refresh_token.clone(), expires_at });
                }
            }
            if let Some(access) = self.access_from(&answer) {
                return Ok(access);
            }
        }
        let answer = self
            .oauth_token_call(
                transport,
                &[("grant_type", "refresh_token"), ("client_id", client_id), ("refresh_token", refresh_token.expose())],
            )
            .await?;
        self.access_from(&answer).ok_or_else(|| Error::SignIn {
            message: "the portal answered the OAuth refresh without an access token".into(),
        })
    }

    fn access_from(&self, answer: &Value) -> Option<(Secret, i64)> {
        let token = answer.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty())?;
        if let Some(u) = answer.get("username").and_then(Value::as_str) {
            *lock(&self.username) = Some(u.to_string());
        }
        let now = self.clock.now_ms();
        let expires_in = answer.get("expires_in").and_then(as_i64).unwrap_or(1800);
        Some((Secret::new(token), now + expires_in * 1000))
    }

    async fn oauth_token_call(&self, transport: &Transport, params: &[(&str, &str)]) -> Result<Value> {
        let url = self.rest_root.join("oauth2/token").map_err(|e| Error::Config { message: e.to_string() })?;
        let mut p: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        p.push(("f".into(), "json".into()));
        transport.json_without_token(&Call::sign_in(url, p, true)).await.map_err(|e| match e {
            e @ Error::Api { .. } if e.is_retryable() => e,
            Error::Api { message, details, .. } => Error::SignIn {
                message: format!(
                    "the saved OAuth sign-in was refused, sign in again ({})",
                    join_nonempty(&message, &details)
                ),
            },
            Error::Forbidden { message } => {
                Error::SignIn { message: format!("the saved OAuth sign-in was refused, sign in again ({message})") }
            }
            other => other,
        })
    }
}

fn join_nonempty(message: &str, details: &[String]) -> String {
    let mut parts: Vec<&str> = vec![message.trim()];
    parts.extend(details.iter().map(|d| d.trim()));
    parts.retain(|p| !p.is_empty());
    parts.join("; ").replace(['\n', '\r'], " ")
}

pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).or_else(|| v.as_str()?.trim().parse().ok())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many times one call may meet a rejected token (498/499) and be sent again with a fresh
/// one. More than once: under faults a renewed token can itself be out of date by the time a
/// retried request leaves (short-lived tokens, long backoffs).
pub(crate) const MAX_TOKEN_RENEWALS: usize = 3;

/// Transport plus token: sends a call with the token when it goes to the org, and on a 498/499
/// renews the token and sends the call again, up to [`MAX_TOKEN_RENEWALS`] times.
#[derive(Debug)]
pub(crate) struct Session {
    pub transport: Transport,
    pub tokens: Option<TokenSource>,
}

impl Session {
    pub async fn json(&self, call: &Call) -> Result<Value> {
        let Some(tokens) = self.org_tokens(call) else { return self.transport.json(call, None).await };
        let pick = TokenPick::new(tokens);
        let mut renewals = 0;
        loop {
            match self.transport.json(call, Some(&pick)).await {
                Err(Error::InvalidToken | Error::TokenRequired) if renewals < MAX_TOKEN_RENEWALS => {
                    renewals += 1;
                    pick.renew_after_rejection(&self.transport).await?;
                }
                other => return other,
            }
        }
    }

    pub async fn stream(&self, call: &Call) -> Result<ByteStream> {
        let Some(tokens) = self.org_tokens(call) else { return self.transport.stream(call, None).await };
        let pick = TokenPick::new(tokens);
        let mut renewals = 0;
        loop {
            match self.transport.stream(call, Some(&pick)).await {
                Err(Error::InvalidToken | Error::TokenRequired) if renewals < MAX_TOKEN_RENEWALS => {
                    renewals += 1;
                    pick.renew_after_rejection(&self.transport).await?;
                }
                other => return other,
            }
        }
    }

    /// The token source when `call` goes to the org (only there does a token travel).
    fn org_tokens(&self, call: &Call) -> Option<&TokenSource> {
        self.tokens.as_ref().filter(|_| self.transport.is_org(&call.url))
    }
}

/// The token one call carries, chosen each time the request leaves: after its wait for a
/// request slot and any backoff, not when the call was queued, and renewed then if it is due
/// (a sign-in needs no slot, so this cannot wait on itself). A 498/499 then renews from the
/// token really sent, unless another request already did.
pub(crate) struct TokenPick<'a> {
    tokens: &'a TokenSource,
    sent: Mutex<Option<(Secret, u64)>>,
}

impl<'a> TokenPick<'a> {
    fn new(tokens: &'a TokenSource) -> Self {
        TokenPick { tokens, sent: Mutex::new(None) }
    }

    /// A token valid now (renewing it first when due), remembered as the one sent.
    pub(crate) async fn pick(&self, transport: &Transport) -> Result<Secret> {
        let (token, generation) = self.tokens.token(transport).await?;
        *lock(&self.sent) = Some((token.clone(), generation));
        Ok(token)
    }

    async fn renew_after_rejection(&self, transport: &Transport) -> Result<()> {
        let generation = lock(&self.sent).as_ref().map_or(0, |s| s.1);
        let renewed = self.tokens.renew_after_rejection(transport, generation).await?;
        *lock(&self.sent) = Some(renewed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_point_is_five_minutes_early_or_at_eighty_percent() {
        let two_hours = 2 * 60 * 60 * 1000;
        assert_eq!(renew_at(0, two_hours), two_hours - FIVE_MINUTES_MS, "long tokens renew five minutes before expiry");
        assert_eq!(renew_at(1_000, 6_000), 5_000, "a 5 s token renews at 80% of its life");
        assert_eq!(
            renew_at(0, 10 * 60 * 1000),
            8 * 60 * 1000,
            "a 10 min token keeps a 2 min margin (a fifth of its life), not 5 min"
        );
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = Credentials::BuiltIn { username: "ann".into(), password: Secret::new("pa55word") };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("ann") && !shown.contains("pa55word"),
            "Debug must show the user and hide the password: {shown}"
        );
        let o = Credentials::OAuth {
            client_id: "app".into(),
            refresh_token: Secret::new("rt-secret"),
            refresh_token_expires_at: None,
            redirect_uri: "http://127.0.0.1/cb".into(),
            on_refresh_token: None,
        };
        assert!(!format!("{o:?}").contains("rt-secret"), "Debug must hide the refresh token");
    }
}
