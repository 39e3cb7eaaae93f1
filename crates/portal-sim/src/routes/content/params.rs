//! Request parameters as Online reads them: the query string and, for POST, an urlencoded or a
//! multipart form, merged; plus the caller (token from header, query or form) and paging. File parts
//! of a multipart form are kept apart, in `Req::files`.

use std::collections::BTreeMap;

use axum::body::to_bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::auth::{caller_for_request, Caller};
use crate::model::{Audience, Org, Universe};
use crate::routes::error::ApiError;
use crate::server::SimState;

/// The most results one page may hold; larger `num` values are clamped to it.
pub const MAX_NUM: usize = 100;
/// Search never pages past this many results, while `total` stays exact.
pub const SEARCH_CAP: usize = 10_000;
/// Largest urlencoded body read: applyEdits sends up to 2,000 features as form JSON.
const MAX_FORM: usize = 64 * 1024 * 1024;

/// A file part of a multipart form.
#[derive(Clone)]
pub struct Upload {
    pub file_name: String,
    pub content_type: String,
    pub bytes: bytes::Bytes,
}

// File bytes would flood a log line; their size says enough.
impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The parameters and caller of one request. Extract it last (it reads the body).
#[derive(Debug, Clone)]
pub struct Req {
    pub params: BTreeMap<String, String>,
    pub caller: Option<Caller>,
    /// File parts of a multipart body by field name (`file`, `thumbnail`, `attachment`...).
    pub files: BTreeMap<String, Upload>,
}

fn content_type_of(headers: &axum::http::HeaderMap) -> &str {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Reads a multipart body: parts with a file name are files, the others text parameters.
async fn read_multipart(
    req: Request,
    params: &mut BTreeMap<String, String>,
    files: &mut BTreeMap<String, Upload>,
) -> Result<(), ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request("Unable to read the multipart body.").with_detail(e.body_text())
    };
    let mut multipart = axum::extract::Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad_request("Invalid multipart body.").with_detail(e.body_text()))?;
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
        let bytes = field.bytes().await.map_err(bad)?;
        match file_name {
            Some(file_name) => {
                files.insert(name, Upload { file_name, content_type, bytes });
            }
            None => {
                params.insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    Ok(())
}

impl FromRequest<SimState> for Req {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &SimState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let mut params: BTreeMap<String, String> = parts
            .uri
            .query()
            .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let content_type = content_type_of(&parts.headers).to_owned();
        let mut files = BTreeMap::new();
        if parts.method == Method::POST && content_type.starts_with("application/x-www-form-urlencoded") {
            let bytes = to_bytes(body, MAX_FORM)
                .await
                .map_err(|_| ApiError::bad_request("Unable to read the request body."))?;
            let form: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&bytes).map_err(|_| ApiError::bad_request("Invalid form body."))?;
            params.extend(form);
        } else if parts.method == Method::POST && content_type.starts_with("multipart/form-data") {
            read_multipart(Request::from_parts(parts.clone(), body), &mut params, &mut files).await?;
        }
        let caller = caller_for_request(state, &parts, params.get("token").map(String::as_str))?;
        Ok(Req { params, caller, files })
    }
}

impl Req {
    /// A parameter by name. ArcGIS reads parameter names without regard to case (Esri's Python
    /// client sends `fileName` where the REST reference writes `filename`), so an exact match
    /// comes first and any spelling of the name next.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .get(key)
            .or_else(|| self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter the operation cannot do without: 400 naming it when absent or empty.
    pub fn required(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key).ok_or_else(|| ApiError::bad_request(format!("'{key}' must be specified.")))
    }

    /// A `true`/`false` parameter (absent or empty: `default`).
    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.get(key).map_or(default, |v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// A JSON parameter; 400 naming it when it is not valid JSON.
    pub fn json_param(&self, key: &str) -> Result<Option<Value>, ApiError> {
        self.get(key)
            .map(|v| {
                serde_json::from_str(v).map_err(|e| {
                    ApiError::bad_request(format!("Invalid '{key}' parameter: not valid JSON."))
                        .with_detail(e.to_string())
                })
            })
            .transpose()
    }

    /// The caller, or 499 "Token Required".
    pub fn require_caller(&self) -> Result<&Caller, ApiError> {
        self.caller.as_ref().ok_or_else(ApiError::token_required)
    }

    /// What the caller may see, resolved against the current universe.
    pub fn audience(&self, universe: &Universe) -> Audience {
        match &self.caller {
            Some(c) => Audience::of(universe, &c.org_id, &c.username),
            None => Audience::anonymous(),
        }
    }

    /// Paging parameters: `start` 1-based (values below 1 read as 1), `num` clamped to [`MAX_NUM`].
    pub fn page(&self, default_num: usize) -> Result<Page, ApiError> {
        let start = match self.get("start") {
            None => 1,
            Some(s) => s.trim().parse::<i64>().map_err(|_| ApiError::bad_request("Invalid 'start' parameter."))?.max(1)
                as usize,
        };
        let num = match self.get("num") {
            None => default_num,
            Some(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request("Invalid 'num' parameter."))?
                .clamp(0, MAX_NUM as i64) as usize,
        };
        Ok(Page { start, num })
    }

    /// The answer as JSON (`f=pjson` pretty-printed, as Online).
    pub fn json(&self, value: Value) -> Response {
        if self.get("f") == Some("pjson") {
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], text).into_response()
        } else {
            axum::Json(value).into_response()
        }
    }
}

/// One page request: `start` is 1-based.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub start: usize,
    pub num: usize,
}

impl Page {
    /// Refuses a search page reaching past the 10,000th result, as Online does.
    pub fn check_search_cap(&self) -> Result<(), ApiError> {
        if self.start + self.num.max(1) - 1 > SEARCH_CAP {
            return Err(ApiError::bad_request(format!("Requested start + num exceeds the maximum of {SEARCH_CAP}."))
                .with_detail(format!("start={} num={}", self.start, self.num)));
        }
        Ok(())
    }

    /// The index range of this page within `total` results.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let from = (self.start - 1).min(total);
        from..(from + self.num).min(total)
    }

    /// `nextStart`: the next page's start, or -1 when none follows (the end, or the search cap).
    pub fn next_start(&self, total: usize, cap: Option<usize>) -> i64 {
        let next = self.start + self.num;
        let limit = cap.map_or(total, |c| total.min(c));
        if self.num == 0 || next > limit {
            -1
        } else {
            next as i64
        }
    }
}

/// The org a portal path's `url_key` names; 400 as an unknown org on Online.
pub fn org_of<'u>(universe: &'u Universe, url_key: &str) -> Result<&'u Org, ApiError> {
    universe
        .org_by_url_key(url_key)
        .ok_or_else(|| ApiError::bad_request(format!("Organization '{url_key}' not found.")).with_http_status(404))
}

/// Poison only means a handler panicked mid-read; the model itself stays consistent.
pub fn read(state: &SimState) -> std::sync::RwLockReadGuard<'_, Universe> {
    state.universe.read().unwrap_or_else(|e| e.into_inner())
}
