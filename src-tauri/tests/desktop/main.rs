//! Integration tests of the desktop shell that need no window: the bindings freshness check
//! (CI fails when ui/src/bindings.ts is stale) and the commands' logic against portal-sim.

mod bindings;
mod identities;
mod jobs;
mod oauth;
mod restore;
mod schedules;
mod tray;
