//! portal-sim integration tests: real loopback sockets, plain HTTP, the sim started in-process.

mod common;
mod content;
mod generate;
mod search;
mod auth;
mod faults;
mod hosted;
mod cli;
