//! What this build of OrgVault is: its version and the commit it was built from. The one place
//! `orgvault --version`, the app's About section and the support bundle read it, so the three
//! always say the same.
//!
//! Public API: [`VERSION`], [`COMMIT`], [`VERSION_LINE`].
//!
//! It is its own small crate rather than part of `orgvault-core` because its build script
//! reruns at every commit: only this crate and the binaries over it are rebuilt, not the engine.

/// The package version (the workspace's), e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The short hash of the commit built from (`git rev-parse --short HEAD` at build time), or
/// `unknown` when the source was not a git checkout and `ORGVAULT_BUILD_COMMIT` was not set.
pub const COMMIT: &str = env!("ORGVAULT_COMMIT");

/// The version with its commit, as `orgvault --version` prints it after the program's name and
/// the About section shows it: `0.1.0 (commit 1a2b3c4)`.
pub const VERSION_LINE: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("ORGVAULT_COMMIT"), ")");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_version_and_a_commit_hash_or_unknown() {
        assert_eq!(VERSION_LINE, format!("{VERSION} (commit {COMMIT})"));
        let hex = COMMIT.len() >= 7 && COMMIT.chars().all(|c| c.is_ascii_hexdigit());
        assert!(hex || COMMIT == "unknown", "the commit is a short hash or `unknown`, not {COMMIT:?}");
    }
}
