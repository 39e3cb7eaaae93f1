//! Records the commit this build comes from as `ORGVAULT_COMMIT`: `ORGVAULT_BUILD_COMMIT` when
//! set (a build from a source archive can name its commit), else `git rev-parse --short HEAD`,
//! else "unknown" (no git, or not a checkout). Reruns only when HEAD or the branch it names
//! moves, so a commit rebuilds this small crate and the two binaries, not the engine.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// A file git keeps (resolved for worktrees, whose HEAD is their own but refs are shared).
fn git_path(name: &str) -> Option<PathBuf> {
    git(&["rev-parse", "--path-format=absolute", "--git-path", name]).map(PathBuf::from)
}

fn main() {
    println!("cargo:rerun-if-env-changed=ORGVAULT_BUILD_COMMIT");
    let commit = std::env::var("ORGVAULT_BUILD_COMMIT").ok().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    let commit = commit.or_else(|| git(&["rev-parse", "--short", "HEAD"]));
    // Only existing files: cargo reruns a build script on every build while a watched path is missing.
    let mut watched = vec![git_path("HEAD"), git_path("packed-refs")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git_path(&branch));
    }
    let watched: Vec<PathBuf> = watched.into_iter().flatten().filter(|p| p.exists()).collect();
    for path in &watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    if watched.is_empty() {
        // Outside a checkout: watch this script alone, so it is not rerun at every build.
        println!("cargo:rerun-if-changed=build.rs");
    }
    println!("cargo:rustc-env=ORGVAULT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
}
