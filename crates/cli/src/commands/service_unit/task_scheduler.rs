//! Windows: a Task Scheduler task `\OrgVault` that runs `orgvault service run` with this data
//! folder when the user logs on, as that user (interactive token: no stored password), without
//! a time limit, started again after a failure, never twice at once. The task is XML registered
//! with `schtasks /Create /XML <file> /TN OrgVault /F`; schtasks reads the file as UTF-16 (with
//! its byte order mark), as Task Scheduler itself exports tasks.
//!
//! A task carries no environment: the vault key comes from the Windows Credential Manager, or
//! from the key file `<data>\vault.key`, which is found without `ORGVAULT_VAULT_KEY`.

use super::launchd::escape_xml;
use super::{command, ServiceCommandLine};

/// The task's name in the Task Scheduler library.
pub const TASK: &str = "OrgVault";

/// One argument of a Windows command line, quoted so that `CommandLineToArgvW` (and Rust's
/// `std::env::args`) read it back unchanged: backslashes before a quote, and at the end, doubled.
pub fn quote_arg(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.push_str(&"\\".repeat(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

/// The task's XML for the user `user` (`DOMAIN\name`).
pub fn task_xml(line: &ServiceCommandLine, user: &str) -> String {
    let arguments = format!("--data-dir {} service run", quote_arg(&line.data_dir.display().to_string()));
    let user = escape_xml(user);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n\
         <Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\r\n\
         \x20 <RegistrationInfo>\r\n\
         \x20   <Description>OrgVault scheduled backups (orgvault service run)</Description>\r\n\
         \x20   <URI>\\{TASK}</URI>\r\n\
         \x20 </RegistrationInfo>\r\n\
         \x20 <Triggers>\r\n\
         \x20   <LogonTrigger>\r\n\
         \x20     <Enabled>true</Enabled>\r\n\
         \x20     <UserId>{user}</UserId>\r\n\
         \x20   </LogonTrigger>\r\n\
         \x20 </Triggers>\r\n\
         \x20 <Principals>\r\n\
         \x20   <Principal id=\"Author\">\r\n\
         \x20     <UserId>{user}</UserId>\r\n\
         \x20     <LogonType>InteractiveToken</LogonType>\r\n\
         \x20     <RunLevel>LeastPrivilege</RunLevel>\r\n\
         \x20   </Principal>\r\n\
         \x20 </Principals>\r\n\
         \x20 <Settings>\r\n\
         \x20   <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\r\n\
         \x20   <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\r\n\
         \x20   <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\r\n\
         \x20   <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\r\n\
         \x20   <RestartOnFailure>\r\n\
         \x20     <Interval>PT1M</Interval>\r\n\
         \x20     <Count>999</Count>\r\n\
         \x20   </RestartOnFailure>\r\n\
         \x20   <StartWhenAvailable>true</StartWhenAvailable>\r\n\
         \x20   <Enabled>true</Enabled>\r\n\
         \x20   <Hidden>false</Hidden>\r\n\
         \x20 </Settings>\r\n\
         \x20 <Actions Context=\"Author\">\r\n\
         \x20   <Exec>\r\n\
         \x20     <Command>{}</Command>\r\n\
         \x20     <Arguments>{}</Arguments>\r\n\
         \x20   </Exec>\r\n\
         \x20 </Actions>\r\n\
         </Task>\r\n",
        escape_xml(&line.exe.display().to_string()),
        escape_xml(&arguments),
    )
}

/// `text` as UTF-16 little-endian with a byte order mark, as schtasks reads task files.
pub fn utf16_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

fn current_user() -> anyhow::Result<String> {
    let name = std::env::var("USERNAME").map_err(|_| anyhow::anyhow!("USERNAME is not set"))?;
    Ok(match std::env::var("USERDOMAIN") {
        Ok(domain) if !domain.is_empty() => format!("{domain}\\{name}"),
        _ => name,
    })
}

pub fn install(line: &ServiceCommandLine, start: bool) -> anyhow::Result<()> {
    let xml = task_xml(line, &current_user()?);
    // schtasks reads the task from a file; it is written to the data folder and kept there, so
    // the admin can see what was registered.
    let file = line.data_dir.join("orgvault-task.xml");
    super::write_file(&file, &utf16_with_bom(&xml))?;
    command("schtasks", &["/Create", "/XML", &file.display().to_string(), "/TN", TASK, "/F"])?;
    println!("registered the task {TASK} (runs at logon)");
    if start {
        command("schtasks", &["/Run", "/TN", TASK])?;
        println!("started {TASK}");
    } else {
        println!("start it with: schtasks /Run /TN {TASK}");
    }
    Ok(())
}

pub fn uninstall() -> anyhow::Result<()> {
    if let Err(e) = command("schtasks", &["/End", "/TN", TASK]) {
        tracing::info!("ending the task: {e}");
    }
    match command("schtasks", &["/Delete", "/TN", TASK, "/F"]) {
        Ok(_) => println!("removed the task {TASK}"),
        Err(e) => println!("{TASK} is not installed ({e})"),
    }
    Ok(())
}

pub fn status() -> anyhow::Result<()> {
    match command("schtasks", &["/Query", "/TN", TASK, "/FO", "LIST"]) {
        Ok(text) => {
            let state = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("Status:"))
                .map_or("unknown".to_owned(), |s| s.trim().to_owned());
            println!("task {TASK} installed; state: {state}");
        }
        Err(_) => println!("task {TASK} is not installed"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_as_windows_reads_them_back() {
        assert_eq!(quote_arg("run"), "run");
        assert_eq!(quote_arg(r"C:\Program Files\OrgVault"), r#""C:\Program Files\OrgVault""#);
        assert_eq!(quote_arg(r"C:\data dir\"), r#""C:\data dir\\""#, "a trailing backslash is doubled");
        assert_eq!(quote_arg(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quote_arg(""), r#""""#);
    }

    #[test]
    fn the_task_runs_the_service_at_logon_as_the_user_without_time_limit_or_doubles() {
        let line = ServiceCommandLine {
            exe: r"C:\Program Files\OrgVault\orgvault.exe".into(),
            data_dir: r"C:\Users\Ann & Bo\AppData\Roaming\orgvault\data".into(),
            vault_key: Some("file".into()),
        };
        let xml = task_xml(&line, r"ACME\ann");
        assert!(xml.contains(r"<Command>C:\Program Files\OrgVault\orgvault.exe</Command>"), "{xml}");
        assert!(
            xml.contains(r#"<Arguments>--data-dir &quot;C:\Users\Ann &amp; Bo\AppData\Roaming\orgvault\data&quot; service run</Arguments>"#),
            "the data folder quoted for the command line, then XML-escaped: {xml}"
        );
        for must in [
            "<LogonTrigger>\r\n      <Enabled>true</Enabled>\r\n      <UserId>ACME\\ann</UserId>",
            "<LogonType>InteractiveToken</LogonType>",
            "<ExecutionTimeLimit>PT0S</ExecutionTimeLimit>",
            "<MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>",
            "<RestartOnFailure>",
            "<URI>\\OrgVault</URI>",
        ] {
            assert!(xml.contains(must), "{must} in {xml}");
        }
        assert!(!xml.contains("ORGVAULT_VAULT_KEY") && !xml.contains("Password"), "a task carries no secret");
        let bytes = utf16_with_bom(&xml);
        assert_eq!(&bytes[..4], &[0xFF, 0xFE, b'<', 0], "UTF-16 LE with its byte order mark");
        if std::process::Command::new("xmllint").arg("--version").output().is_ok() {
            let dir = tempfile::tempdir().expect("temp dir");
            let file = dir.path().join("task.xml");
            std::fs::write(&file, &bytes).expect("write");
            let out = std::process::Command::new("xmllint").arg("--noout").arg(&file).output().expect("xmllint");
            assert!(out.status.success(), "well-formed UTF-16 XML: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
