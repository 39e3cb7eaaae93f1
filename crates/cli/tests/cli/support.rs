//! Running the real `orgvault` binary with its own data folder.

use std::path::Path;
use std::process::Output;

/// Runs `orgvault` with `args`, the data folder `data_dir` and the password `password`.
pub async fn orgvault(data_dir: &Path, password: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"))
        .args(args)
        .env("ORGVAULT_DATA_DIR", data_dir)
        .env("ORGVAULT_PASSWORD", password)
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
