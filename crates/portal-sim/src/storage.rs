//! The storage host: where ArcGIS Online sends a file item's download. `/data` of a file item
//! answers a redirect to a signed URL on another host (Online keeps item files in cloud
//! storage), which carries its own signature and expiry and needs no token. A client must follow
//! the redirect without taking its token along.
//!
//! Served on a listener of its own (`RunningSim::storage_url`): `GET /{org_id}/{item_id}/{file}
//! ?expires=<epoch ms>&signature=<hex>`. The signature is an HMAC-SHA-256 of the path and expiry
//! under a key drawn at start. Like S3 with a presigned URL, a request that also carries an
//! `Authorization` header is refused ("only one auth mechanism allowed"); any token that reaches
//! this host (`X-Esri-Authorization`, `Authorization`, `token=`) is counted
//! (`Storage::tokens_seen`), so tests can prove the client never sends it here.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::ItemData;
use crate::server::SimState;

/// How long a signed URL works, as Online's item download links do for some minutes.
pub const SIGNED_URL_TTL_MS: i64 = 15 * 60 * 1000;

/// The signing key and what the storage host saw.
pub struct Storage {
    key: [u8; 32],
    tokens_seen: AtomicU64,
    served: AtomicU64,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("tokens_seen", &self.tokens_seen()).finish_non_exhaustive()
    }
}

impl Default for Storage {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Storage { key, tokens_seen: AtomicU64::new(0), served: AtomicU64::new(0) }
    }
}

fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new().chain_update(ipad).chain_update(message).finalize();
    Sha256::new().chain_update(opad).chain_update(inner).finalize().into()
}

impl Storage {
    fn signature(&self, path: &str, expires: i64) -> String {
        hex::encode(hmac_sha256(&self.key, format!("{path}\n{expires}").as_bytes()))
    }

    /// A signed URL for the file of `item_id`, valid for [`SIGNED_URL_TTL_MS`] from `now_ms`.
    pub fn signed_url(&self, storage_url: &str, org_id: &str, item_id: &str, file_name: &str, now_ms: i64) -> String {
        let path = format!("/{org_id}/{item_id}/{}", encode_segment(file_name));
        let expires = now_ms + SIGNED_URL_TTL_MS;
        format!("{storage_url}{path}?expires={expires}&signature={}", self.signature(&path, expires))
    }

    /// Requests that reached the storage host with a token of the portal: always a client bug.
    pub fn tokens_seen(&self) -> u64 {
        self.tokens_seen.load(Ordering::Relaxed)
    }

    /// Downloads the storage host answered with the file.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

fn encode_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The storage host's one route.
pub fn routes() -> Router<SimState> {
    Router::new().route("/{org_id}/{item_id}/{file}", get(download))
}

#[derive(Deserialize)]
struct Signed {
    #[serde(default)]
    expires: Option<i64>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// An S3-style XML error, as a storage host answers.
fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

async fn download(
    State(state): State<SimState>,
    Path((org_id, item_id, file)): Path<(String, String, String)>,
    Query(q): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let storage = &state.storage;
    let authorization = headers.contains_key(header::AUTHORIZATION);
    if authorization || headers.contains_key("x-esri-authorization") || q.token.is_some() {
        storage.tokens_seen.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%item_id, "a portal token reached the storage host");
    }
    if authorization {
        return xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        );
    }
    let path = format!("/{org_id}/{item_id}/{}", encode_segment(&file));
    let (Some(expires), Some(signature)) = (q.expires, q.signature) else {
        return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
    };
    if storage.signature(&path, expires) != signature {
        return xml_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    if expires <= crate::auth::now_ms() {
        return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }
    let found = {
        let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
        universe.org_by_id(&org_id).and_then(|org| org.items.get(&item_id)).map(|item| {
            let key = item.data.file_name().map(|f| crate::routes::content::render::data_key(item, f));
            (item.data.clone(), key)
        })
    };
    let Some((data, key)) = found else {
        return xml_error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist.");
    };
    storage.served.fetch_add(1, Ordering::Relaxed);
    match data {
        ItemData::Generated { file_name, len, content_type } => crate::routes::content::streamed(
            state.config.seed,
            key.unwrap_or_default(),
            len,
            &content_type,
            Some(&file_name),
        ),
        ItemData::Bytes { file_name, bytes, content_type } => {
            crate::routes::content::bytes_response(bytes, &content_type, Some(&file_name))
        }
        ItemData::None | ItemData::Json(_) => Response::new(Body::empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls_verify_and_a_changed_path_does_not() {
        let s = Storage::default();
        let url = s.signed_url("http://127.0.0.1:1", "org", "item", "a b.pdf", 1_000);
        assert!(url.starts_with("http://127.0.0.1:1/org/item/a%20b.pdf?expires="), "the path names the file: {url}");
        let sig = url.rsplit("signature=").next().expect("signature");
        let expires = 1_000 + SIGNED_URL_TTL_MS;
        assert_eq!(s.signature("/org/item/a%20b.pdf", expires), sig, "the signature verifies");
        assert_ne!(s.signature("/org/other/a%20b.pdf", expires), sig, "another item's path does not");
        assert_ne!(s.signature("/org/item/a%20b.pdf", expires + 1), sig, "nor a later expiry");
    }
}
