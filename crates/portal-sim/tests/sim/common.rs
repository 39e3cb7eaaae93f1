//! Shared helpers: start a simulator, sign in, call it.

#![allow(dead_code)]

use portal_sim::{Login, RunningSim, SimConfig};
use serde_json::Value;

/// Starts a simulator on an ephemeral loopback port.
pub async fn start(cfg: SimConfig) -> RunningSim {
    RunningSim::start(cfg).await.expect("the simulator must start")
}

/// A plain HTTP client (rustls needs a process-wide provider even when only http is used).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("client")
}

/// Signs in via `POST {portal_url}/sharing/rest/generateToken` and answers the token.
pub async fn sign_in(http: &reqwest::Client, portal_url: &str, login: &Login) -> String {
    let form = [
        ("username", login.username.as_str()),
        ("password", login.password.as_str()),
        ("client", "referer"),
        ("referer", "http://127.0.0.1"),
        ("expiration", "60"),
        ("f", "json"),
    ];
    let v: Value = http
        .post(format!("{portal_url}/sharing/rest/generateToken"))
        .form(&form)
        .send()
        .await
        .expect("generateToken reachable")
        .json()
        .await
        .expect("generateToken answers JSON");
    v["token"]
        .as_str()
        .unwrap_or_else(|| panic!("generateToken must answer a token for {}", login.username))
        .to_string()
}

/// GET `{portal_url}/sharing/rest/{path}` with `f=json`, the token (if any) and `query`.
pub async fn rest(
    http: &reqwest::Client,
    portal_url: &str,
    path: &str,
    token: Option<&str>,
    query: &[(&str, &str)],
) -> Value {
    let mut q: Vec<(&str, &str)> = vec![("f", "json")];
    if let Some(t) = token {
        q.push(("token", t));
    }
    q.extend_from_slice(query);
    http.get(format!("{portal_url}/sharing/rest/{path}"))
        .query(&q)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path} must be reachable: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {path} must answer JSON: {e}"))
}

/// GET raw bytes with headers.
pub async fn raw(http: &reqwest::Client, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.query(&[("token", t)]);
    }
    req.send().await.unwrap_or_else(|e| panic!("GET {url} must be reachable: {e}"))
}

/// The `error.code` of an ArcGIS error body, if it is one.
pub fn error_code(v: &Value) -> Option<i64> {
    v.get("error").and_then(|e| e.get("code")).and_then(Value::as_i64)
}

/// Every id a search query yields, following `nextStart`.
pub async fn all_ids(http: &reqwest::Client, portal_url: &str, token: Option<&str>, q: &str) -> (i64, Vec<String>) {
    let mut ids = vec![];
    let mut start = 1i64;
    let mut total = -1;
    while start != -1 {
        let s = start.to_string();
        let v = rest(
            http,
            portal_url,
            "search",
            token,
            &[("q", q), ("num", "100"), ("start", &s), ("sortField", "created")],
        )
        .await;
        assert_eq!(error_code(&v), None, "search {q} at start {start} must not fail: {v}");
        total = v["total"].as_i64().expect("total");
        ids.extend(v["results"].as_array().expect("results").iter().map(|r| r["id"].as_str().expect("id").to_string()));
        start = v["nextStart"].as_i64().expect("nextStart");
    }
    (total, ids)
}
