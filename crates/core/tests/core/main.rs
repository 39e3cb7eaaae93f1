//! Integration tests of the engine against the simulated portal over real loopback sockets.

mod backup_azure;
mod backup_full;
mod backup_resilience;
mod backup_retry;
mod backup_services;
mod backup_support;
mod identity_verify;
mod repo_conformance;
mod repo_retention;
mod repo_safety;
mod repo_support;
mod repo_zip;
mod restore_conflicts;
mod restore_modes;
mod restore_roundtrip;
mod restore_safety;
mod restore_support;
mod scan_access;
mod scan_large;
mod scan_resilience;
mod secrets;
mod support;
mod vault;
