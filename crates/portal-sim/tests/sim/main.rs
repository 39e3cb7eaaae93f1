//! portal-sim integration tests: real loopback sockets, plain HTTP, the sim started in-process.

mod auth;
mod cli;
mod common;
mod content;
mod esri_client;
mod faults;
mod fidelity;
mod generate;
mod hosted;
mod hosts;
mod search;
mod writes_groups;
mod writes_items;
mod writes_services;
