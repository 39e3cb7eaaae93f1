//! Request parameters as Online reads them: the query string and, for POST, an urlencoded form,
//! merged; plus the caller (token from header, query or form) and paging.

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
/// Largest form body read (forms here carry parameters, never files).
const MAX_FORM: usize = 2 * 1024 * 1024;

/// The parameters and caller of one request. Extract it last (it reads the body).
#[derive(Debug, Clone)]
pub struct Req {
    pub params: BTreeMap<String, String>,
    pub caller: Option<Caller>,
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
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if parts.method == Method::POST && is_form {
            let bytes = to_bytes(body, MAX_FORM)
                .await
                .map_err(|_| ApiError::bad_request("Unable to read the request body."))?;
            let form: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&bytes).map_err(|_| ApiError::bad_request("Invalid form body."))?;
            params.extend(form);
        }
        let caller = caller_for_request(state, &parts, params.get("token").map(String::as_str))?;
        Ok(Req { params, caller })
    }
}

impl Req {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str).filter(|v| !v.is_empty())
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
