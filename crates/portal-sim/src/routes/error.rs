//! ArcGIS answers most errors as HTTP 200 with `{"error":{"code","message","details"}}`; a client
//! must check the body before decoding. `ApiError` renders exactly that.

use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
    pub details: Vec<String>,
    /// Some failures (429, real 5xx) are real HTTP statuses, not 200-with-error-body.
    pub http_status: u16,
    /// ArcGIS message code such as `CONT_0001`, when the real API sends one.
    pub message_code: Option<String>,
}

impl ApiError {
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: vec![], http_status: 200, message_code: None }
    }
    pub fn invalid_token() -> Self {
        Self::new(498, "Invalid token.")
    }
    pub fn token_required() -> Self {
        Self::new(499, "Token Required")
    }
    pub fn forbidden(what: impl Into<String>) -> Self {
        Self::new(403, "You do not have permissions to access this resource or perform this operation.")
            .with_detail(what)
    }
    /// The message Online gives for a missing or inaccessible item.
    pub fn item_missing(id: &str) -> Self {
        let mut e = Self::new(400, format!("Item does not exist or is inaccessible: {id}"));
        e.message_code = Some("CONT_0001".into());
        e
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
    pub fn with_detail(mut self, d: impl Into<String>) -> Self {
        self.details.push(d.into());
        self
    }
    pub fn with_http_status(mut self, s: u16) -> Self {
        self.http_status = s;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut err = serde_json::json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
        });
        if let Some(mc) = &self.message_code {
            err["messageCode"] = serde_json::Value::String(mc.clone());
        }
        let status = axum::http::StatusCode::from_u16(self.http_status).unwrap_or(axum::http::StatusCode::OK);
        (status, Json(serde_json::json!({ "error": err }))).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
