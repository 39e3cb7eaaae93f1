//! OrgVault's engine, shared by the desktop app and the `orgvault` CLI; it knows nothing of
//! either. It keeps, in one SQLite database ([`db`]): the identities ([`identity`]), one
//! catalog per scan of an organization ([`catalog`], filled by [`scan`]), and the job history
//! ([`jobs`]). A [`selection`] resolves against a catalog; [`references`] finds what an item's
//! data points at. Progress goes to a [`progress::Progress`] sink the front end provides; time
//! comes from a [`clock::Clock`]. No password, token or connection string is ever stored in the
//! database: they live in the [`vault`]. The front ends reach all of this through one
//! application layer, [`service`].

pub mod app;
pub mod backup;
pub mod catalog;
pub mod clock;
pub mod db;
pub mod error;
pub mod error_code;
pub mod identity;
pub mod item_type;
pub mod jobs;
pub mod logs;
pub mod mail;
pub mod maintenance;
pub mod notify;
pub mod postprocess;
pub mod progress;
pub mod references;
pub mod repo;
pub mod restore;
pub mod scan;
pub mod schedule;
pub mod selection;
pub mod service;
pub mod storage;
pub mod token_watch;
pub mod units;
pub mod vault;

pub use catalog::Catalog;
pub use clock::{Clock, ManualClock, SystemClock};
pub use db::Db;
pub use error::{Error, Result};
pub use error_code::ErrorCode;
pub use jobs::runner::{JobRunner, JobSpec};
pub use jobs::Jobs;
pub use progress::{NoProgress, Progress};
pub use scan::{scan, ScanSummary};
pub use selection::Selection;
pub use service::{Service, ServiceError};
