//! What is synced before a snapshot is reported written, observed from outside: the test runs
//! a snapshot write (`traced_snapshot_write`, in a child copy of this test binary) under
//! `strace` and reads, in the order the kernel saw them, every fsync and every link or rename
//! that published a file. Needs `strace` (scripts/setup.sh installs it).

use std::path::{Path, PathBuf};

use orgvault_core::repo::{InitPolicy, Repository};

use super::repo_support::{files_under, local_target, stored_manifest};

/// The folder the traced child writes its repository into.
const CHILD_DIR: &str = "ORGVAULT_DURABILITY_DIR";
/// The file the child syncs once `write_snapshot` has returned: the moment it is "reported".
const REPORTED: &str = "snapshot-reported";

/// Run only as the traced child of the test below (`--ignored`), never on its own.
#[tokio::test]
#[ignore = "the traced child of a_snapshot_is_reported_only_after_its_blobs_record_and_their_folders_are_synced"]
async fn traced_snapshot_write() -> anyhow::Result<()> {
    let dir = PathBuf::from(std::env::var(CHILD_DIR)?);
    let repo = Repository::open_for_backup(&local_target(&dir), InitPolicy::IfEmpty).await?;
    let manifest = stored_manifest(&repo, "durable", 1_700_000_000_000, 0, 2).await?;
    repo.write_snapshot(&manifest).await?;
    std::fs::File::create(dir.join(REPORTED))?.sync_all()?;
    Ok(())
}

/// One traced system call: its line number and text.
struct Trace(Vec<String>);

impl Trace {
    /// The first line at or after `from` that calls one of `calls` and mentions `needle`.
    fn find(&self, from: usize, calls: &[&str], needle: &str) -> Option<usize> {
        self.0.iter().enumerate().skip(from).find_map(|(n, line)| {
            let call = line.split_whitespace().nth(1).unwrap_or("");
            let called = calls.iter().any(|c| call.starts_with(&format!("{c}(")));
            (called && line.contains(needle) && !line.contains("= -1")).then_some(n)
        })
    }

    /// The staged name a publish line (link or rename into `target`) took its file from.
    fn source_of(&self, line: usize, target: &str) -> String {
        let quoted: Vec<&str> = self.0[line].split('"').skip(1).step_by(2).collect();
        quoted.into_iter().find(|p| *p != target).unwrap_or_default().to_owned()
    }
}

/// Asserts that `file` was written durably before line `reported`: its bytes synced under
/// the staged name, then published (link or rename), then its folder synced.
fn assert_durable(trace: &Trace, file: &Path, reported: usize, what: &str) {
    let target = file.to_str().expect("utf-8 path");
    let published = trace
        .find(0, &["link", "linkat", "rename", "renameat", "renameat2"], &format!("\"{target}\""))
        .unwrap_or_else(|| panic!("{what} {target} was never published by a link or rename"));
    let staged = trace.source_of(published, target);
    assert!(!staged.is_empty(), "the publish of {what} names its staged file: {}", trace.0[published]);
    let synced = trace.find(0, &["fsync", "fdatasync"], &format!("<{staged}>"));
    assert!(
        synced.is_some_and(|s| s < published),
        "{what}: its bytes must be synced ({staged}) before it is published under its name"
    );
    let folder = file.parent().and_then(Path::to_str).expect("folder");
    let folder_synced = trace.find(published, &["fsync", "fdatasync"], &format!("<{folder}>"));
    assert!(
        folder_synced.is_some_and(|s| s < reported),
        "{what}: its folder {folder} must be synced after the publish and before the snapshot is reported written"
    );
}

#[tokio::test]
async fn a_snapshot_is_reported_only_after_its_blobs_record_and_their_folders_are_synced() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dir = dir.path().canonicalize()?;
    let trace_file = dir.join("trace.txt");
    let status = std::process::Command::new("strace")
        .args(["-f", "-y", "-qq", "-e", "trace=fsync,fdatasync,link,linkat,rename,renameat,renameat2", "-o"])
        .arg(&trace_file)
        .arg(std::env::current_exe()?)
        .args(["--exact", "repo_durability::traced_snapshot_write", "--ignored", "--test-threads", "1"])
        .env(CHILD_DIR, &dir)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| anyhow::anyhow!("strace is needed for this test (scripts/setup.sh installs it): {e}"))?;
    assert!(status.success(), "the traced snapshot write succeeded");
    let trace = Trace(std::fs::read_to_string(&trace_file)?.lines().map(str::to_owned).collect());
    let reported = trace
        .find(0, &["fsync"], &format!("<{}>", dir.join(REPORTED).display()))
        .expect("the child marked the moment write_snapshot returned");

    let repo = dir.join("repo");
    let files = files_under(&repo);
    let records: Vec<&PathBuf> = files.iter().filter(|f| f.starts_with(repo.join("snapshots"))).collect();
    assert_eq!(records.len(), 1, "one snapshot record: {records:?}");
    assert_durable(&trace, records[0], reported, "the snapshot record");
    let blobs: Vec<&PathBuf> = files.iter().filter(|f| f.starts_with(repo.join("data"))).collect();
    assert!(blobs.len() >= 6, "the manifest's blobs and the manifest itself are stored: {}", blobs.len());
    for blob in blobs {
        assert_durable(&trace, blob, reported, "a blob");
    }
    Ok(())
}
