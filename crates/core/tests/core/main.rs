//! Integration tests of the engine against the simulated portal over real loopback sockets.

mod scan_access;
mod scan_large;
mod scan_resilience;
mod secrets;
mod support;
