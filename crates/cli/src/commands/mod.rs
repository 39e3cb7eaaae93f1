//! One module per subcommand; each is argument parsing plus a call into the core.

pub mod backup;
pub mod connect;
pub mod copy;
pub mod identity;
pub mod identity_watch;
pub mod jobs;
pub mod key;
pub mod mail;
pub mod postprocess;
pub mod repo_password;
pub mod restore;
pub mod retention;
pub mod scan;
pub mod schedule;
pub mod service;
pub mod service_unit;
pub mod snapshots;
pub mod verify;
pub mod zip;
