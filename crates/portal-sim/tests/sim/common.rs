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

/// POST a form to `url` with `f=json` and the token; answers the JSON body.
pub async fn post_form(http: &reqwest::Client, url: &str, token: &str, form: &[(&str, &str)]) -> Value {
    post_form_raw(http, url, token, form)
        .await
        .json()
        .await
        .unwrap_or_else(|e| panic!("POST {url} must answer JSON: {e}"))
}

/// POST a form and hand back the raw response (for status codes of injected faults).
pub async fn post_form_raw(http: &reqwest::Client, url: &str, token: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let mut f: Vec<(&str, &str)> = vec![("f", "json"), ("token", token)];
    f.extend_from_slice(form);
    http.post(url).form(&f).send().await.unwrap_or_else(|e| panic!("POST {url} must be reachable: {e}"))
}

/// One file part of a multipart POST: (field name, file name, bytes).
pub type FilePart<'a> = (&'a str, &'a str, Vec<u8>);

/// POST a multipart form with text fields and file parts; answers the JSON body.
pub async fn post_multipart(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    fields: &[(&str, &str)],
    files: Vec<FilePart<'_>>,
) -> Value {
    let mut form = reqwest::multipart::Form::new().text("f", "json").text("token", token.to_owned());
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for (name, file_name, bytes) in files {
        form = form.part(name.to_string(), reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()));
    }
    http.post(url)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url} must be reachable: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("POST {url} must answer JSON: {e}"))
}

/// GET `url` with `f=json`, the token and `query`; answers the JSON body.
pub async fn get_json(http: &reqwest::Client, url: &str, token: Option<&str>, query: &[(&str, &str)]) -> Value {
    let mut q: Vec<(&str, &str)> = vec![("f", "json")];
    if let Some(t) = token {
        q.push(("token", t));
    }
    q.extend_from_slice(query);
    http.get(url)
        .query(&q)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url} must be reachable: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url} must answer JSON: {e}"))
}

/// The `error.message` of an ArcGIS error body ("" when it is none).
pub fn error_message(v: &Value) -> String {
    v.get("error").and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// A small simulator with one populated org and one empty restore target (org 1).
pub fn restore_config() -> SimConfig {
    SimConfig { orgs: 2, empty_orgs: 1, items: 24, users: 6, groups: 3, ..SimConfig::default() }
}
