//! Running the real `orgvault` binary with its own data folder.

use std::path::Path;
use std::process::{Output, Stdio};

use tokio::io::AsyncWriteExt;

/// Runs `orgvault` with `args`, the data folder `data_dir` and the password `password`.
/// The repository password every CLI test gives: new repositories are encrypted by default.
pub const REPOSITORY_PASSWORD: &str = "cli test repository password";

pub async fn orgvault(data_dir: &Path, password: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"))
        .args(args)
        .env("ORGVAULT_DATA_DIR", data_dir)
        .env("ORGVAULT_PASSWORD", password)
        .env("ORGVAULT_REPOSITORY_PASSWORD", REPOSITORY_PASSWORD)
        .env_remove("ORGVAULT_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("the orgvault binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The one JSON line a `--json` command prints.
pub fn json_line(out: &Output) -> serde_json::Value {
    let text = stdout(out);
    assert_eq!(text.trim().lines().count(), 1, "--json prints exactly one line: {text}");
    serde_json::from_str(text.trim()).expect("--json output is JSON")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file under `dir`, as bytes (database, WAL, logs).
pub fn all_files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable data folder").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Runs `orgvault` with its own data folder; `stdin` is piped when given, and no password is in
/// the environment unless `env_password` says so.
pub async fn run(data_dir: &Path, args: &[&str], stdin: Option<&str>, env_password: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"));
    cmd.args(args)
        .env("ORGVAULT_DATA_DIR", data_dir)
        .env("ORGVAULT_VAULT_KEY", "file")
        .env("ORGVAULT_REPOSITORY_PASSWORD", REPOSITORY_PASSWORD)
        .env_remove("ORGVAULT_PASSWORD")
        .env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .env_remove("ORGVAULT_LOG")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = env_password {
        cmd.env("ORGVAULT_PASSWORD", p);
    }
    let mut child = cmd.spawn().expect("the orgvault binary runs");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    child.wait_with_output().await.expect("orgvault finishes")
}

/// `orgvault identity add --name NAME` for the org's administrator (password on standard input),
/// backing up into the folder `to`.
pub async fn add_identity(data_dir: &Path, org: &portal_sim::OrgLogin, name: &str, to: &str) {
    let add = [
        "identity",
        "add",
        "--name",
        name,
        "--portal",
        &org.portal_url,
        "--username",
        &org.admin.username,
        "--password-stdin",
        "--to",
        to,
    ];
    let out = run(data_dir, &add, Some(&format!("{}\n", org.admin.password)), None).await;
    assert!(out.status.success(), "the identity {name} is added: {}", stderr(&out));
}

/// `orgvault mail set` for a plain SMTP server on loopback `port`, from `from`, signing in as
/// `login` (user, password on standard input) when given.
pub async fn set_mail(data_dir: &Path, port: u16, from: &str, login: Option<(&str, &str)>) {
    let port = port.to_string();
    let mut set =
        vec!["mail", "set", "--smtp-host", "127.0.0.1", "--smtp-port", &port, "--security", "none", "--from", from];
    if let Some((user, _)) = login {
        set.extend_from_slice(&["--username", user, "--password-stdin"]);
    }
    let stdin = login.map(|(_, password)| format!("{password}\n"));
    let out = run(data_dir, &set, stdin.as_deref(), None).await;
    assert!(out.status.success(), "mail set: {}", stderr(&out));
}

/// `orgvault schedule add` of "Minutely": a backup of the identity "Acme" every minute, its
/// result e-mailed always to ops@example.com, with `extra` options; the added schedule's JSON.
pub async fn add_minutely_backup(data_dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "schedule",
        "add",
        "--name",
        "Minutely",
        "--identity",
        "Acme",
        "--kind",
        "backup",
        "--cron",
        "* * * * *",
        "--email",
        "ops@example.com",
        "--email-when",
        "always",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = run(data_dir, &args, None, None).await;
    assert!(out.status.success(), "the schedule is added: {}", stderr(&out));
    json_line(&out)
}
