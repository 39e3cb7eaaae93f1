//! portal-sim integration tests: real loopback sockets, plain HTTP, the sim started in-process.

mod auth;
mod cli;
mod common;
mod content;
mod faults;
mod generate;
mod hosted;
mod search;
