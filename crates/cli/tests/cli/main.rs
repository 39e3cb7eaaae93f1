//! The `orgvault` binary as a script would run it, against portal-sim over loopback.

mod backup_cli;
mod jobs;
mod scan;
mod support;
