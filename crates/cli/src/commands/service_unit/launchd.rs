//! macOS: a launchd agent (`~/Library/LaunchAgents/org.orgvault.service.plist`) that runs
//! `orgvault service run` with this data folder at login (`RunAtLoad`), started again when it
//! exits with a failure (`KeepAlive` / `SuccessfulExit` false, at most every 30 s), loaded
//! into the user's GUI domain with `launchctl bootstrap gui/<uid>`.

use std::path::PathBuf;

use super::{command, write_file, ServiceCommandLine};

/// The agent's label, also its file name.
pub const LABEL: &str = "org.orgvault.service";

/// Escapes text for an XML element (plists and Task Scheduler tasks are XML).
pub fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// The agent's property list. Each argument is its own `<string>` (no shell, no quoting).
pub fn plist_text(line: &ServiceCommandLine) -> String {
    let data = line.data_dir.display().to_string();
    let args = [line.exe.display().to_string(), "--data-dir".into(), data.clone(), "service".into(), "run".into()];
    let mut program = String::new();
    for a in &args {
        program.push_str(&format!("        <string>{}</string>\n", escape_xml(a)));
    }
    let env = match &line.vault_key {
        Some(key) => format!(
            "    <key>EnvironmentVariables</key>\n    <dict>\n        <key>ORGVAULT_VAULT_KEY</key>\n        <string>{}</string>\n    </dict>\n",
            escape_xml(key)
        ),
        None => String::new(),
    };
    let log = escape_xml(&line.data_dir.join("service-launchd.log").display().to_string());
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \x20   <key>Label</key>\n\
         \x20   <string>{LABEL}</string>\n\
         \x20   <key>ProgramArguments</key>\n\
         \x20   <array>\n\
         {program}\
         \x20   </array>\n\
         {env}\
         \x20   <key>RunAtLoad</key>\n\
         \x20   <true/>\n\
         \x20   <key>KeepAlive</key>\n\
         \x20   <dict>\n\
         \x20       <key>SuccessfulExit</key>\n\
         \x20       <false/>\n\
         \x20   </dict>\n\
         \x20   <key>ThrottleInterval</key>\n\
         \x20   <integer>30</integer>\n\
         \x20   <key>ProcessType</key>\n\
         \x20   <string>Background</string>\n\
         \x20   <key>StandardErrorPath</key>\n\
         \x20   <string>{log}</string>\n\
         </dict>\n\
         </plist>\n"
    )
}

fn plist_path() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").ok_or_else(|| anyhow::anyhow!("HOME is not set"))?;
    Ok(PathBuf::from(home).join("Library/LaunchAgents").join(format!("{LABEL}.plist")))
}

/// `gui/<uid>`, the domain of the logged-in user's agents.
fn domain() -> anyhow::Result<String> {
    Ok(format!("gui/{}", command("id", &["-u"])?))
}

pub fn install(line: &ServiceCommandLine, start: bool) -> anyhow::Result<()> {
    let path = plist_path()?;
    write_file(&path, plist_text(line).as_bytes())?;
    let domain = domain()?;
    let plist = path.display().to_string();
    if start {
        // An agent loaded before (an earlier install) is replaced.
        let _ = command("launchctl", &["bootout", &format!("{domain}/{LABEL}")]);
        command("launchctl", &["bootstrap", &domain, &plist])?;
        println!("loaded and started {LABEL}");
    } else {
        println!("start it with: launchctl bootstrap {domain} {plist}");
    }
    Ok(())
}

pub fn uninstall() -> anyhow::Result<()> {
    let path = plist_path()?;
    if let Err(e) = command("launchctl", &["bootout", &format!("{}/{LABEL}", domain()?)]) {
        tracing::info!("unloading the agent: {e}");
    }
    match std::fs::remove_file(&path) {
        Ok(()) => println!("removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("{LABEL} is not installed"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

pub fn status() -> anyhow::Result<()> {
    let path = plist_path()?;
    if !path.exists() {
        println!("{LABEL} is not installed");
        return Ok(());
    }
    let loaded = match command("launchctl", &["print", &format!("{}/{LABEL}", domain()?)]) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("state ="))
            .map_or_else(|| "loaded".to_owned(), |l| l.trim_start_matches("state =").trim().to_owned()),
        Err(_) => "not loaded".into(),
    };
    println!("{LABEL} installed at {}; state: {loaded}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_runs_the_service_at_login_with_each_argument_alone_and_escaped() {
        let line = ServiceCommandLine {
            exe: "/Applications/Org & Vault.app/Contents/MacOS/orgvault".into(),
            data_dir: "/Users/ann/Library/Application Support/<orgvault>".into(),
            vault_key: Some("file".into()),
        };
        let text = plist_text(&line);
        assert!(
            text.contains(
                "    <array>\n        <string>/Applications/Org &amp; Vault.app/Contents/MacOS/orgvault</string>\n        \
                 <string>--data-dir</string>\n        <string>/Users/ann/Library/Application Support/&lt;orgvault&gt;</string>\n        \
                 <string>service</string>\n        <string>run</string>\n    </array>\n"
            ),
            "the program and each argument in order, XML-escaped, not shell-quoted:\n{text}"
        );
        assert!(text.contains(&format!("<key>Label</key>\n    <string>{LABEL}</string>")));
        assert!(text.contains("<key>RunAtLoad</key>\n    <true/>"), "started at login");
        assert!(text.contains("<key>SuccessfulExit</key>\n        <false/>"), "started again after a failure only");
        assert!(text.contains("<key>ORGVAULT_VAULT_KEY</key>\n        <string>file</string>"), "the key source");
        assert!(!plist_text(&ServiceCommandLine { vault_key: None, ..line }).contains("EnvironmentVariables"));
        if std::process::Command::new("xmllint").arg("--version").output().is_ok() {
            let dir = tempfile::tempdir().expect("temp dir");
            let file = dir.path().join("agent.plist");
            std::fs::write(&file, &text).expect("write");
            let out = std::process::Command::new("xmllint").arg("--noout").arg(&file).output().expect("xmllint");
            assert!(out.status.success(), "well-formed XML: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
