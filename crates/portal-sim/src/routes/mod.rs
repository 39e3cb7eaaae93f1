//! HTTP endpoints. Portal paths are mounted under `/{url_key}/sharing/rest`; hosted services under
//! `/{org_id}/arcgis/rest/services/{name}/FeatureServer`. The write endpoints of restore are
//! in `write`.

pub mod community;
pub mod content;
pub mod error;
pub mod hosted;
pub mod portal;
pub mod tiles;
pub mod write;
