//! The `orgvault` binary as a script would run it, against portal-sim over loopback.

mod jobs;
mod scan;
mod support;
