//! REST client for ArcGIS portals (Online and Enterprise) and their hosted services.
//! Knows HTTP, tokens, paging and retries; no SQL, no files.
//!
//! # Public API (stable; the core crate builds on it)
//!
//! ```text
//! // Connect
//! PortalConfig::new(portal_url: Url, credentials: Credentials) -> PortalConfig   // pub fields, defaults
//!   { portal_url, credentials, custom_headers: Vec<(String,String)>, tls: TlsOptions, retry: RetryPolicy,
//!     initial_concurrency, max_concurrency, connect_timeout, request_timeout, stall_timeout, write_timeout,
//!     max_json_answer_bytes /* DEFAULT_MAX_JSON_ANSWER, 64 MiB */,
//!     token_expiration_minutes, search_concurrency, clock: Arc<dyn Clock> }
//! Credentials::BuiltIn { username: String, password: Secret }
//! Credentials::OAuth { client_id, refresh_token: Secret, refresh_token_expires_at: Option<i64>,
//!                      redirect_uri: String, on_refresh_token: Option<Arc<dyn Fn(NewRefreshToken)+Send+Sync>> }
//! Portal::connect(cfg: PortalConfig).await -> Result<Portal>        // /info, sign-in, portals/self, urls
//!
//! // About the connection (Portal is Clone; clones share token, limiter, counters)
//! portal.self_info() -> &PortalSelf            portal.org_id() -> &str
//! portal.portal_url() -> &Url                  portal.rest_root() -> &Url   // ".../sharing/rest/"
//! portal.requests_made() -> u64                portal.concurrency_limit() -> usize
//! portal.token_renewals() -> u64               portal.is_org_url(&Url) -> bool
//! portal.require_admin(needed: &[&str]) -> Result<()>                   // Error::NotAdmin names what is missing
//!
//! // Reading the org (all async, all Result<_, Error>)
//! portal.search_org_items(progress: &(dyn Fn(usize, usize) + Send + Sync)) -> Vec<ItemInfo>  // past the 10,000 cap
//! portal.search_total(q: &str) -> u64
//! portal.org_users() -> Vec<UserInfo>          portal.user(username) -> UserInfo
//! portal.org_groups() -> Vec<GroupInfo>        portal.group_members(group_id) -> GroupMembers
//! portal.user_content(username) -> UserContent // root items + folders with their items
//! portal.item(id) -> ItemInfo                  portal.item_sharing(owner, id) -> Sharing
//! portal.item_data_json(id) -> Option<Value>   portal.item_data_stream(id) -> ByteStream
//! portal.item_resources(id) -> Vec<ResourceInfo>
//! portal.item_resource_stream(id, resource_path) -> ByteStream  // refuses '.'/'..' path parts
//! portal.related_items(id, rel_type: &str, Direction) -> Vec<ItemInfo>
//! portal.service_json(&Url) -> Value           // token only to org hosts; other hosts only when allowed
//! portal.allow_host(AllowedHost)               portal.check_item_url(&Url) -> Result<()>  // item URLs: org or allowed hosts
//! portal.user_root_items(username) -> Vec<ItemInfo>  // content/users/<u>, root folder, every page
//!
//! // Hosted services, whole (hosted.rs): single steps; the caller polls, times out and cleans up
//! portal.start_export(owner, item_id, FILE_GEODATABASE, title) -> ExportJob { job_id, export_item_id, owner }
//! portal.export_status(&ExportJob) -> JobStatus       // Processing | Completed{result_url} | Failed{message}
//! portal.delete_item(owner, item_id) -> ()            // already gone counts as deleted
//! portal.create_replica(&service_url, layers: &[i64], full_extent) -> Url (statusUrl)   // async, filegdb, attachments, syncModel none, every row
//! portal.replica_status(&status_url) -> JobStatus      // Completed carries resultUrl
//! portal.service_layers(&service_url) -> Value         // <url>/layers
//! portal.query_page(&service_url, layer, oid_field, offset, count) -> Value   // where=1=1, outFields=*, orderByFields=<oid> ASC
//!
//! // Escape hatches (token only to org hosts; f=json added to JSON calls)
//! portal.get_json(path_or_url: &str, params: &[(&str, &str)]) -> Value
//! portal.json_at(url: Url, params) -> Value
//! portal.post_form(path_or_url, params, idempotent: bool) -> Value
//! portal.get_stream(&Url, params) -> ByteStream  // ByteStream = Pin<Box<dyn Stream<Item=Result<Bytes>>+Send>>
//! portal.rest_url(segments: &[&str]) -> Result<Url>   // percent-encodes each segment
//!
//! // OAuth for the desktop app
//! oauth::authorize_loopback(portal_url: &Url, client_id: &str, options: &AuthorizeOptions,
//!                           opener: impl FnOnce(&Url)).await -> Result<OAuthGrant>
//!   OAuthGrant { access_token: Secret, expires_at: i64, refresh_token: Secret,
//!                refresh_token_expires_at: Option<i64>, username: String, redirect_uri: String }
//!
//! // Errors: Error (thiserror), error.is_retryable(); Secret prints "***".
//! // Call arcgis::install_crypto_provider() before building any other reqwest client (rustls/ring).
//! ```
//!
//! # Invariants
//! - The token, `Referer` and custom headers go only to the org's own hosts (scheme+host+port of
//!   the portal and of `portals/<id>/urls`); any other URL is fetched bare. Enforced in
//!   `http::Transport::send_once`, the one place requests are built; redirects are followed
//!   there too, hop by hop, so a redirect to a storage host never carries the token.
//! - Tokens travel as `X-Esri-Authorization: Bearer` on a GET and as the `token` form field of a
//!   POST (Esri documents the header for GET only), never in a URL's query string; no secret
//!   appears in a log line, `Debug` output or error message.
//! - Every answer is checked for an ArcGIS error body (HTTP 200 with `{"error":...}`) first.
//! - The token is chosen when a request leaves (after its wait for a slot and any backoff),
//!   renewed then if due; sign-in calls need no slot. An expired or revoked token is renewed and
//!   the request repeated, up to three times, invisibly; renewal is single-flight.
//! - A JSON read that stops progressing fails after a patience adaptive to the latency observed
//!   (RTO-like, 1 s at least, doubled per repeat, capped by `stall_timeout`: `http::pace`); a read
//!   still unanswered after one RTO (250 ms at least) is sent a second time and the first answer
//!   taken (hedged, at most one read in ten); a write waits `write_timeout` (15 min) for its answer
//!   to begin, then 5 s at least between its chunks; a download's body 5 s at least between
//!   chunks, doubled per repeat, capped by `stall_timeout`.
//! - GETs are retried with jittered exponential backoff honouring `Retry-After`; POSTs only when
//!   marked idempotent. All requests to the org share one AIMD concurrency limiter. The backoff
//!   (`retry`: `RetryPolicy`, `Attempts`, the `retry` loop and its `Stop`) is the one the
//!   backup's and the restore's own retry loops use too.

pub mod address;
pub mod allowed_host;
pub mod auth;
pub mod download;
pub mod error;
pub mod hosted;
pub mod http;
pub mod limiter;
pub mod model;
pub mod oauth;
pub mod portal;
pub mod retry;
pub mod search;
pub mod secret;
pub mod write;

#[cfg(test)]
mod wire_tests;

pub use allowed_host::AllowedHost;
pub use auth::{Credentials, NewRefreshToken, RefreshTokenSink, TokenSource};
pub use error::{Error, Result};
pub use hosted::{sub_url, AttachmentInfo, ExportJob, JobStatus, FILE_GEODATABASE};
pub use http::{install_crypto_provider, ByteStream, TlsOptions};
pub use limiter::Limiter;
pub use model::{
    Direction, Folder, FolderContent, GroupInfo, GroupMembers, ItemInfo, PortalSelf, PortalUser, ResourceInfo, Sharing,
    UserContent, UserInfo,
};
pub use oauth::{authorize_loopback, AuthorizeOptions, OAuthGrant};
pub use portal::{check_portal_url, is_loopback, Portal, PortalConfig, DEFAULT_MAX_JSON_ANSWER};
pub use retry::{retry, Attempts, Retry, RetryPolicy, Sleeper, Stop, TokioSleeper};
pub use secret::{Clock, Secret, SystemClock};
pub use url::Url;
