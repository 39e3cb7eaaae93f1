//! The `orgvault` binary as a script would run it, against portal-sim over loopback.

mod backup_azure;
mod backup_cli;
mod backup_identity;
mod backup_leftovers;
mod copy_cli;
mod destination_cli;
mod encryption_cli;
mod identity;
mod job_leases;
mod jobs;
mod mail;
mod restore_cli;
mod scan;
mod schedule_service;
mod service_run;
#[path = "../../../core/tests/core/smtp_sink.rs"]
mod smtp_sink;
mod support;
mod token_watch;
mod version;
