//! Linux: a systemd user unit (`~/.config/systemd/user/orgvault.service`, or under
//! `$XDG_CONFIG_HOME`) that runs `orgvault service run` with this data folder, restarted on
//! failure. To keep it running after logout: `loginctl enable-linger`.
//!
//! The Linux packages ship the same unit, made by the same [`unit_text`], for every user at
//! `/usr/lib/systemd/user/orgvault.service` (`/usr/bin/orgvault service run` with the user's
//! default data folder; the bundler copies `src-tauri/packaging/linux/orgvault.service`, which a
//! test keeps equal to this generator's output), enabled by nobody: a user opts in with
//! `systemctl --user enable --now orgvault`. A unit `service install` writes under the user's
//! config folder has the same name and takes precedence over the packaged one.

use std::path::{Path, PathBuf};

use super::{command, write_file, ServiceCommandLine};

const UNIT: &str = "orgvault.service";

/// The unit file's text for the binary `exe` and the data folder `data_dir` (`None`: the
/// user's default one, or `ORGVAULT_DATA_DIR` from the user manager's environment).
pub fn unit_text(exe: &Path, data_dir: Option<&Path>, vault_key: Option<&str>) -> String {
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
         ExecStart={}{} service run\n\
         {env}\
         Restart=on-failure\n\
         RestartSec=30\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        quote(&exe.display().to_string()),
        data_dir.map(|d| format!(" --data-dir {}", quote(&d.display().to_string()))).unwrap_or_default(),
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

fn systemctl(args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["--user"];
    all.extend_from_slice(args);
    command("systemctl", &all)
}

pub fn install(line: &ServiceCommandLine, start: bool) -> anyhow::Result<()> {
    let path = unit_path()?;
    write_file(&path, unit_text(&line.exe, Some(&line.data_dir), line.vault_key.as_deref()).as_bytes())?;
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
        let text = unit_text(Path::new("/opt/org vault/orgvault"), Some(Path::new("/data/100%")), Some("file"));
        assert!(
            text.contains("ExecStart=\"/opt/org vault/orgvault\" --data-dir \"/data/100%%\" service run\n"),
            "spaces quoted, % escaped: {text}"
        );
        assert!(text.contains("Environment=\"ORGVAULT_VAULT_KEY=file\"\n"));
        assert!(text.contains("WantedBy=default.target"));
    }

    #[test]
    fn the_packaged_unit_is_the_one_the_generator_makes_for_usr_bin() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../src-tauri/packaging/linux/orgvault.service");
        let want = unit_text(Path::new("/usr/bin/orgvault"), None, None);
        if std::env::var_os("ORGVAULT_UPDATE_UNIT").is_some() {
            std::fs::write(&path, &want).expect("write the packaged unit");
        }
        let got = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            got, want,
            "the packages must ship the unit `service install` would write for /usr/bin/orgvault and the default \
             data folder (regenerate: ORGVAULT_UPDATE_UNIT=1 cargo test -p orgvault-cli packaged_unit)"
        );
        assert!(got.contains("ExecStart=\"/usr/bin/orgvault\" service run\n"), "{got}");
    }
}
