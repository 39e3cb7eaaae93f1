//! `orgvault service install|uninstall|status` on Linux: a systemd user unit
//! (`~/.config/systemd/user/orgvault.service`, or under `$XDG_CONFIG_HOME`) that runs
//! `orgvault service run` with this data folder, restarted on failure. The unit carries no
//! secret: the vault key comes from the OS keyring, or from the key file named by
//! `ORGVAULT_VAULT_KEY=file`, copied into the unit when set at install time.
//! launchd (macOS) and Task Scheduler (Windows) are not written yet.

use std::path::{Path, PathBuf};
use std::process::Command;

const UNIT: &str = "orgvault.service";

/// The unit file's text for the binary `exe` and the data folder `data_dir`.
pub fn unit_text(exe: &Path, data_dir: &Path, vault_key: Option<&str>) -> String {
    let mut env = String::new();
    if let Some(key) = vault_key {
        env.push_str(&format!("Environment={}\n", quote(&format!("ORGVAULT_VAULT_KEY={key}"))));
    }
    format!(
        "[Unit]\n\
         Description=OrgVault scheduled backups\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={} --data-dir {} service run\n\
         {env}\
         Restart=on-failure\n\
         RestartSec=30\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        quote(&exe.display().to_string()),
        quote(&data_dir.display().to_string()),
    )
}

/// One word of a unit file's command line: double-quoted, with `\\`, `"` and `%` escaped.
fn quote(word: &str) -> String {
    format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\"").replace('%', "%%"))
}

fn unit_path() -> anyhow::Result<PathBuf> {
    let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").ok_or_else(|| anyhow::anyhow!("HOME is not set"))?).join(".config")
        }
    };
    Ok(config.join("systemd").join("user").join(UNIT))
}

fn linux_only() -> anyhow::Result<()> {
    if cfg!(target_os = "linux") {
        Ok(())
    } else {
        anyhow::bail!("service install is only available on Linux (systemd) for now; run `orgvault service run` from your own scheduler")
    }
}

fn systemctl(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run systemctl: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() {
        Ok(text)
    } else {
        anyhow::bail!("systemctl --user {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())
    }
}

pub fn install(data_dir: &Path, start: bool) -> anyhow::Result<()> {
    linux_only()?;
    let exe = std::env::current_exe()?;
    let data_dir = std::path::absolute(data_dir)?;
    let key = std::env::var("ORGVAULT_VAULT_KEY").ok().filter(|k| !k.is_empty());
    let path = unit_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, unit_text(&exe, &data_dir, key.as_deref()))?;
    println!("wrote {}", path.display());
    if start {
        systemctl(&["daemon-reload"])?;
        systemctl(&["enable", "--now", UNIT])?;
        println!("enabled and started {UNIT}");
    } else {
        println!("start it with: systemctl --user daemon-reload && systemctl --user enable --now {UNIT}");
    }
    Ok(())
}

pub fn uninstall() -> anyhow::Result<()> {
    linux_only()?;
    let path = unit_path()?;
    if let Err(e) = systemctl(&["disable", "--now", UNIT]) {
        tracing::info!("disabling the unit: {e}");
    }
    match std::fs::remove_file(&path) {
        Ok(()) => println!("removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("{UNIT} is not installed"),
        Err(e) => return Err(e.into()),
    }
    let _ = systemctl(&["daemon-reload"]);
    Ok(())
}

pub fn status() -> anyhow::Result<()> {
    linux_only()?;
    let path = unit_path()?;
    if !path.exists() {
        println!("{UNIT} is not installed");
        return Ok(());
    }
    let active = systemctl(&["is-active", UNIT]).unwrap_or_else(|e| format!("unknown ({e})"));
    println!("{UNIT} installed at {}; state: {active}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_the_service_with_this_data_folder_quoted() {
        let text = unit_text(Path::new("/opt/org vault/orgvault"), Path::new("/data/100%"), Some("file"));
        assert!(
            text.contains("ExecStart=\"/opt/org vault/orgvault\" --data-dir \"/data/100%%\" service run\n"),
            "spaces quoted, % escaped: {text}"
        );
        assert!(text.contains("Environment=\"ORGVAULT_VAULT_KEY=file\"\n"));
        assert!(text.contains("WantedBy=default.target"));
    }
}
