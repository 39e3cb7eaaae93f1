//! OAuth 2 authorization for a desktop app: PKCE with a one-shot loopback redirect (RFC 8252).
//!
//! [`authorize_loopback`] listens on `127.0.0.1:<random port>`, has the caller open the portal's
//! authorize page in the system browser, receives the redirect with the code, checks `state`
//! (an answer to some other sign-in is refused), exchanges the code with the PKCE verifier and
//! answers the browser with a small page. No client secret is involved; the verifier never
//! leaves this process except in the token request.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::auth::as_i64;
use crate::error::{Error, Result};
use crate::http::{Call, HttpSettings, TlsOptions, Transport};
use crate::portal::normalize_portal_url;
use crate::retry::RetryPolicy;
use crate::secret::{Clock, Secret, SystemClock};

/// What a completed authorization yields; store the refresh token in the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthGrant {
    pub access_token: Secret,
    /// Epoch ms.
    pub expires_at: i64,
    pub refresh_token: Secret,
    /// Epoch ms; `None` when the server did not say.
    pub refresh_token_expires_at: Option<i64>,
    pub username: String,
    /// The redirect URI used; `exchange_refresh_token` needs it later.
    pub redirect_uri: String,
}

/// Settings of [`authorize_loopback`].
#[derive(Clone)]
pub struct AuthorizeOptions {
    /// How long to wait for the user to approve in the browser.
    pub timeout: Duration,
    pub tls: TlsOptions,
    /// Requested refresh-token lifetime in minutes (`expiration`); `None` leaves the portal's default.
    pub refresh_token_expiration_minutes: Option<u32>,
    pub clock: Arc<dyn Clock>,
    /// Accept a plain `http://` portal on another host (the code and PKCE verifier then travel
    /// readable). Loopback portals need no opt-in.
    pub allow_insecure_http: bool,
}

impl Default for AuthorizeOptions {
    fn default() -> Self {
        AuthorizeOptions {
            timeout: Duration::from_secs(300),
            tls: TlsOptions::default(),
            refresh_token_expiration_minutes: None,
            clock: Arc::new(SystemClock),
            allow_insecure_http: false,
        }
    }
}

impl std::fmt::Debug for AuthorizeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeOptions")
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// 86 characters of base64url from 64 random bytes (RFC 7636 allows 43 to 128).
    pub verifier: Secret,
    /// `base64url(sha256(verifier))` without padding.
    pub challenge: String,
}

impl Pkce {
    /// A fresh random verifier and its challenge.
    pub fn generate() -> Pkce {
        let mut bytes = [0u8; 64];
        rand::thread_rng().fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = challenge_for(&verifier);
        Pkce { verifier: Secret::new(verifier), challenge }
    }
}

/// The S256 challenge of a verifier.
pub fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn random_state() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Runs the browser sign-in: calls `opener` with the authorize URL (the app opens the system
/// browser with it) and waits, at most `options.timeout`, for the redirect to the loopback
/// listener, then exchanges the code for tokens.
pub async fn authorize_loopback(
    portal_url: &Url,
    client_id: &str,
    options: &AuthorizeOptions,
    opener: impl FnOnce(&Url),
) -> Result<OAuthGrant> {
    crate::http::install_crypto_provider();
    // Before the browser opens: a file:// or javascript: URL would run locally, and a remote
    // plain-http portal would see the code and verifier in clear without the user's opt-in.
    crate::portal::check_portal_url(portal_url, options.allow_insecure_http)?;
    let portal_url = normalize_portal_url(portal_url);
    let rest_root =
        portal_url.join("sharing/rest/").map_err(|e| Error::Config { message: format!("bad portal URL ({e})") })?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| Error::OAuth {
        message: format!("cannot open a local port for the browser to return to ({e})"),
    })?;
    let port = listener.local_addr().map_err(|e| Error::OAuth { message: e.to_string() })?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let pkce = Pkce::generate();
    let state = random_state();

    let mut authorize = rest_root.join("oauth2/authorize").map_err(|e| Error::Config { message: e.to_string() })?;
    {
        let mut q = authorize.query_pairs_mut();
        q.append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state);
        if let Some(m) = options.refresh_token_expiration_minutes {
            q.append_pair("expiration", &m.to_string());
        }
    }
    opener(&authorize);

    let flow = async {
        loop {
            let (socket, _) = listener
                .accept()
                .await
                .map_err(|e| Error::OAuth { message: format!("the local sign-in listener failed ({e})") })?;
            match read_callback(socket).await {
                Some((socket, params)) => return Ok((socket, params)),
                None => continue,
            }
        }
    };
    let (mut socket, params) = match tokio::time::timeout(options.timeout, flow).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(Error::OAuth {
                message: format!(
                    "no answer from the browser within {} s; sign-in cancelled",
                    options.timeout.as_secs()
                ),
            })
        }
    };

    let result = finish(&rest_root, client_id, &redirect_uri, &state, &pkce, &params, options).await;
    let page = match &result {
        Ok(_) => page("Signed in", "OrgVault is signed in. You may close this window."),
        Err(e) => page(
            "Sign-in failed",
            &format!("OrgVault could not sign in: {e}. You may close this window and try again."),
        ),
    };
    let status = if result.is_ok() { "200 OK" } else { "400 Bad Request" };
    let _ = respond(&mut socket, status, &page).await;
    result
}

async fn finish(
    rest_root: &Url,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    pkce: &Pkce,
    params: &[(String, String)],
    options: &AuthorizeOptions,
) -> Result<OAuthGrant> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("state") != Some(state) {
        return Err(Error::OAuth {
            message: "the browser's answer does not belong to this sign-in (state mismatch)".into(),
        });
    }
    if let Some(err) = get("error") {
        let why = get("error_description").unwrap_or(err);
        return Err(Error::OAuth { message: format!("the portal did not authorize OrgVault ({why})") });
    }
    let code = get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::OAuth { message: "the browser's answer carries no authorization code".into() })?;

    let settings = HttpSettings {
        tls: options.tls.clone(),
        custom_headers: Vec::new(),
        retry: RetryPolicy { max_attempts: 3, ..RetryPolicy::default() },
        initial_concurrency: 1,
        max_concurrency: 1,
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(60),
        stall_timeout: Duration::from_secs(30),
        write_timeout: Duration::from_secs(60),
        max_json_answer: crate::DEFAULT_MAX_JSON_ANSWER,
        referer: redirect_uri.to_string(),
    };
    let transport = Transport::new(settings, rest_root)?;
    let url = rest_root.join("oauth2/token").map_err(|e| Error::Config { message: e.to_string() })?;
    let form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("client_id".to_string(), client_id.to_string()),
        ("code".to_string(), code.to_string()),
        ("redirect_uri".to_string(), redirect_uri.to_string()),
        ("code_verifier".to_string(), pkce.verifier.expose().to_string()),
        ("f".to_string(), "json".to_string()),
    ];
    // An authorization code works once: the exchange is not repeated after a lost answer.
    let answer = transport.json_without_token(&Call::sign_in(url, form, false)).await.map_err(|e| match e {
        Error::Api { message, .. } | Error::Forbidden { message } => {
            Error::OAuth { message: format!("the portal refused the authorization code ({message})") }
        }
        other => other,
    })?;
    grant_from(&answer, redirect_uri, options.clock.now_ms())
}

fn grant_from(answer: &Value, redirect_uri: &str, now: i64) -> Result<OAuthGrant> {
    let s = |k: &str| answer.get(k).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string);
    let access = s("access_token")
        .ok_or_else(|| Error::OAuth { message: "the portal answered without an access token".into() })?;
    let refresh = s("refresh_token")
        .ok_or_else(|| Error::OAuth { message: "the portal answered without a refresh token".into() })?;
    Ok(OAuthGrant {
        access_token: Secret::new(access),
        expires_at: now + answer.get("expires_in").and_then(as_i64).unwrap_or(1800) * 1000,
        refresh_token: Secret::new(refresh),
        refresh_token_expires_at: answer.get("refresh_token_expires_in").and_then(as_i64).map(|x| now + x * 1000),
        username: s("username").unwrap_or_default(),
        redirect_uri: redirect_uri.to_string(),
    })
}

/// Reads one HTTP request; returns the socket and query parameters when it is the callback,
/// after answering anything else (a favicon request, a probe) with 404.
async fn read_callback(mut socket: TcpStream) -> Option<(TcpStream, Vec<(String, String)>)> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    let read = async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            let n = socket.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.ok()??;
    let text = String::from_utf8_lossy(&buf);
    let target = text.lines().next()?.split_whitespace().nth(1)?.to_string();
    let url = Url::parse(&format!("http://127.0.0.1{target}")).ok()?;
    if url.path() != "/callback" {
        let _ = respond(&mut socket, "404 Not Found", &page("Not found", "Nothing here.")).await;
        return None;
    }
    let params = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    Some((socket, params))
}

async fn respond(socket: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await?;
    socket.shutdown().await
}

fn page(title: &str, text: &str) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body style=\"font-family:sans-serif;margin:3em\"><h1>{}</h1><p>{}</p></body></html>", esc(title), esc(title), esc(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_verifier_and_challenge_follow_rfc7636() {
        let p = Pkce::generate();
        let v = p.verifier.expose();
        assert!((43..=128).contains(&v.len()), "verifier length {} must be within 43..=128", v.len());
        assert!(v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "verifier must be base64url");
        assert_eq!(p.challenge, challenge_for(v), "challenge must be the S256 of the verifier");
        // RFC 7636 appendix B test vector.
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_ne!(Pkce::generate().verifier, p.verifier, "verifiers must be random");
    }

    #[tokio::test]
    async fn wrong_state_is_refused_and_timeout_is_reported() {
        crate::http::install_crypto_provider();
        let portal = Url::parse("http://127.0.0.1:9/").expect("url");
        let opts = AuthorizeOptions { timeout: Duration::from_secs(5), ..Default::default() };
        let got = authorize_loopback(&portal, "app", &opts, |u: &Url| {
            let redirect =
                u.query_pairs().find(|(k, _)| k == "redirect_uri").map(|(_, v)| v.into_owned()).expect("redirect_uri");
            tokio::spawn(async move {
                let _ = reqwest::get(format!("{redirect}?code=abc&state=forged")).await;
            });
        })
        .await;
        let err = got.expect_err("a forged state must be refused");
        assert!(err.to_string().contains("state mismatch"), "the error must name the state mismatch: {err}");

        let opts = AuthorizeOptions { timeout: Duration::from_millis(200), ..Default::default() };
        let got = authorize_loopback(&portal, "app", &opts, |_| {}).await;
        assert!(matches!(got, Err(Error::OAuth { .. })), "no browser answer must time out as an OAuth error: {got:?}");
    }

    #[tokio::test]
    async fn a_non_web_or_remote_plain_http_portal_is_refused_before_the_browser_opens() {
        let opts = AuthorizeOptions { timeout: Duration::from_millis(200), ..Default::default() };
        for (url, why) in [
            ("file:///etc/passwd", "a file:// URL"),
            ("javascript:alert(1)", "a javascript: URL"),
            ("http://gis.example.com/portal", "a remote plain http portal without the opt-in"),
        ] {
            let opened = std::sync::atomic::AtomicUsize::new(0);
            let got = authorize_loopback(&Url::parse(url).expect("url"), "app", &opts, |_| {
                opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .await;
            let err = got.expect_err(why);
            assert!(matches!(err, Error::Config { .. }), "{why} must be refused as bad settings, got {err:?}");
            assert_eq!(opened.load(std::sync::atomic::Ordering::SeqCst), 0, "{why}: the browser must not open");
        }
        let opened = std::sync::atomic::AtomicUsize::new(0);
        let opted_in = AuthorizeOptions { allow_insecure_http: true, ..opts };
        let url = Url::parse("http://gis.example.com/portal").expect("url");
        let got = authorize_loopback(&url, "app", &opted_in, |_| {
            opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .await;
        assert!(matches!(got, Err(Error::OAuth { .. })), "with the opt-in the flow starts (and times out): {got:?}");
        assert_eq!(opened.load(std::sync::atomic::Ordering::SeqCst), 1, "with the opt-in the browser opens");
    }
}
