//! The Tauri commands: each a line or two over the core. Grouped by screen.

pub mod backup;
pub mod catalog;
pub mod demo;
pub mod identities;
pub mod jobs;
pub mod mail;
pub mod postprocess;
pub mod restore;
pub mod schedules;
pub mod settings;
pub mod snapshots;
