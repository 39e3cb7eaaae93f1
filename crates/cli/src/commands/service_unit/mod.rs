//! `orgvault service install|uninstall|status`: `orgvault --data-dir DIR service run` as the
//! user's own background service, started at login and restarted when it fails:
//! - Linux: a systemd user unit ([`systemd`]);
//! - macOS: a launchd agent ([`launchd`]);
//! - Windows: a Task Scheduler task with a logon trigger, registered with
//!   `schtasks /Create /XML` ([`task_scheduler`]).
//!
//! Each file is made by a pure function of the binary's path, the data folder and the vault key
//! source, the same on every OS (so each is tested on Linux); only the install path that writes
//! and registers it is chosen per `cfg(target_os)`. None carries a secret: the vault key comes
//! from the OS keyring, or from the key file (`<data>/vault.key`, or `ORGVAULT_VAULT_KEY=file`,
//! copied into the unit or agent when set at install time).

pub mod launchd;
pub mod systemd;
pub mod task_scheduler;

use std::path::{Path, PathBuf};
use std::process::Command;

/// What the service runs: this binary, the data folder (absolute), the key source to pass on.
pub struct ServiceCommandLine {
    pub exe: PathBuf,
    pub data_dir: PathBuf,
    pub vault_key: Option<String>,
}

impl ServiceCommandLine {
    fn of_this_process(data_dir: &Path) -> anyhow::Result<ServiceCommandLine> {
        Ok(ServiceCommandLine {
            exe: std::env::current_exe()?,
            data_dir: std::path::absolute(data_dir)?,
            vault_key: std::env::var(orgvault_core::vault::KEY_SOURCE_ENV).ok().filter(|k| !k.is_empty()),
        })
    }
}

/// Runs `program args`, returning its standard output, or an error with its standard error.
fn command(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program).args(args).output().map_err(|e| anyhow::anyhow!("cannot run {program}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() {
        Ok(text)
    } else {
        anyhow::bail!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)?;
    println!("wrote {}", path.display());
    Ok(())
}

pub fn install(data_dir: &Path, start: bool) -> anyhow::Result<()> {
    let line = ServiceCommandLine::of_this_process(data_dir)?;
    if cfg!(target_os = "macos") {
        launchd::install(&line, start)
    } else if cfg!(windows) {
        task_scheduler::install(&line, start)
    } else {
        systemd::install(&line, start)
    }
}

pub fn uninstall() -> anyhow::Result<()> {
    if cfg!(target_os = "macos") {
        launchd::uninstall()
    } else if cfg!(windows) {
        task_scheduler::uninstall()
    } else {
        systemd::uninstall()
    }
}

pub fn status() -> anyhow::Result<()> {
    if cfg!(target_os = "macos") {
        launchd::status()
    } else if cfg!(windows) {
        task_scheduler::status()
    } else {
        systemd::status()
    }
}
