//! `orgvault --version`: the version and the commit the binary was built from.

use std::process::Command;

/// The commit this checkout is at, as the build script reads it (or its override, or "unknown").
fn commit_of_this_checkout() -> String {
    if let Some(c) = std::env::var("ORGVAULT_BUILD_COMMIT").ok().filter(|c| !c.trim().is_empty()) {
        return c.trim().to_owned();
    }
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[test]
fn version_names_the_version_and_the_commit_built_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_orgvault")).arg("--version").output().expect("orgvault runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = format!("orgvault {} (commit {})\n", env!("CARGO_PKG_VERSION"), commit_of_this_checkout());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        want,
        "--version says which build this is: the version and the commit, the same words the app's About shows"
    );
}
