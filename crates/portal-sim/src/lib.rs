//! portal-sim: a simulated ArcGIS Online, several organizations on one axum server.
//!
//! Every test, benchmark and the app's demo mode run against it, so it behaves like the real API
//! (../../../shared/arcgis-rest.md), failures included: errors as HTTP 200 with an error body,
//! 498/499 token errors, 403 for non-admins, `CONT_0001`, 429 with `Retry-After`, latency and
//! injected faults, export jobs that fail.
//!
//! Layout of URLs (three loopback listeners, several orgs), as Online spreads them over hosts:
//! - portal host: an org's portal root `<base>/<urlKey>`; its REST root `<base>/<urlKey>/sharing/rest`.
//! - services host (like `services1.arcgis.com`, named by `portals/<id>/urls`): hosted services
//!   `<services>/<orgId>/arcgis/rest/services/<name>/FeatureServer` (and `.../admin/services/...`).
//! - storage host: `/data` of a file item redirects to a signed URL there (`storage`).
//! - test control: `<base>/_sim/...` (see `control`), never reachable through the portal paths.
//! Each host answers 404 for the other's paths (`server::host_scope`).
//!
//! Module ownership:
//! - `model`: the state types. `generate`: deterministic content from a seed.
//! - `search`: the `q` query language. `index`: search lagging behind writes. `routes::{portal, community, content}`: read endpoints.
//! - `auth`: tokens, generateToken, oauth2. `faults`: latency, faults, rate limit.
//! - `routes::hosted`: FeatureServer JSON, query, export and replica jobs. `tls`: self-signed HTTPS.
//! - `control`: a library and HTTP API for tests to change the org while a client runs.
//! - `storage`: the storage host's signed downloads.

pub mod auth;
pub mod control;
pub mod faults;
pub mod generate;
pub mod index;
pub mod model;
pub mod routes;
pub mod search;
pub mod server;
pub mod storage;
pub mod tls;

pub use server::{Login, OrgLogin, RunningSim, SimConfig};
