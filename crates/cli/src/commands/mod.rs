//! One module per subcommand; each is argument parsing plus a call into the core.

pub mod connect;
pub mod jobs;
pub mod scan;
