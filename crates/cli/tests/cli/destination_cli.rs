//! A destination folder as users point OrgVault at it: reads of a folder that is not a
//! repository change nothing, and a backup takes a non-empty folder only with `--init`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use portal_sim::{RunningSim, SimConfig};

use crate::support::{all_files, orgvault, stderr};

/// Every path under `dir` (folders too) with the content of files.
fn everything(dir: &Path) -> Vec<(std::path::PathBuf, Option<Vec<u8>>)> {
    let mut out: Vec<_> = walk(dir);
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<(std::path::PathBuf, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("readable").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push((p.clone(), None));
            out.extend(walk(&p));
        } else {
            out.push((p.clone(), Some(std::fs::read(&p).expect("readable file"))));
        }
    }
    out
}

/// A user's folder whose names collide with a repository's, with files an hour old.
fn users_folder(root: &Path) {
    for (rel, text) in [("notes.txt", "notes"), ("tmp/draft.txt", "a draft"), ("data/ab/readme.txt", "other data")] {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        std::fs::write(&path, text).expect("write");
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&path).expect("open").set_modified(old).expect("age");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_commands_on_a_folder_that_is_not_a_repository_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("documents");
    users_folder(&folder);
    let before = everything(&folder);
    let to = folder.display().to_string();
    for args in [
        vec!["snapshots", "--to", &to],
        vec!["verify", "--to", &to],
        vec!["prune", "--to", &to],
        vec!["forget", "--to", &to, "--keep-last", "1"],
    ] {
        let out = orgvault(data.path(), "unused", &args).await;
        assert!(!out.status.success(), "`{}` on a folder that is not a repository must fail", args.join(" "));
        let err = stderr(&out);
        assert!(err.contains("is not an OrgVault repository"), "`{}` says why: {err}", args.join(" "));
        assert!(err.contains(&to), "`{}` names the folder: {err}", args.join(" "));
        assert_eq!(everything(&folder), before, "`{}` must not create or delete anything", args.join(" "));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_into_a_non_empty_folder_is_refused_and_init_creates_the_repository_beside_its_files() {
    let sim =
        RunningSim::start(SimConfig { orgs: 1, items: 5, users: 2, groups: 1, ..SimConfig::default() }).await.unwrap();
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("shared");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("budget.xlsx"), "numbers").unwrap();
    let to = folder.display().to_string();
    let backup = |extra: &'static [&'static str]| {
        let mut args = vec!["backup", "--portal", &org.portal_url, "--username", &org.admin.username, "--to", &to];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };

    let args = backup(&[]);
    let out = orgvault(data.path(), &org.admin.password, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(!out.status.success(), "a backup into a folder with other files is refused");
    let err = stderr(&out);
    assert!(err.contains(&to) && err.contains("not empty"), "the refusal names the folder: {err}");
    assert!(err.contains("sub-folder") && err.contains("--init"), "the refusal suggests a way out: {err}");
    assert_eq!(all_files(&folder).len(), 1, "a refused backup writes nothing into the folder");

    let args = backup(&["--init"]);
    let out = orgvault(data.path(), &org.admin.password, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(out.status.success(), "--init accepts the folder: {}", stderr(&out));
    assert!(folder.join("config").is_file(), "the repository is created beside the user's file");
    assert_eq!(std::fs::read_to_string(folder.join("budget.xlsx")).unwrap(), "numbers", "the user's file is kept");
    let out = orgvault(data.path(), "unused", &["verify", "--to", &to]).await;
    assert!(out.status.success(), "the backup verifies: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_one_snapshot_by_id_then_prune_after_a_dry_run_that_deletes_nothing() {
    let sim = RunningSim::start(SimConfig { orgs: 1, items: 15, users: 3, groups: 2, ..SimConfig::default() })
        .await
        .expect("sim starts");
    let a = sim.orgs[0].clone();
    let data = tempfile::tempdir().expect("tmp");
    let repo = tempfile::tempdir().expect("tmp");
    let to = repo.path().join("vault").display().to_string();
    let backup = |name: &'static str| {
        let (to, a) = (to.clone(), a.clone());
        let data = data.path().to_owned();
        async move {
            let out = orgvault(
                &data,
                &a.admin.password,
                &[
                    "backup",
                    "--portal",
                    &a.portal_url,
                    "--username",
                    &a.admin.username,
                    "--to",
                    &to,
                    "--name",
                    name,
                    "--json",
                ],
            )
            .await;
            assert!(out.status.success(), "the backup succeeds: {}", stderr(&out));
            crate::support::json_line(&out)["snapshot"].as_str().expect("snapshot").to_owned()
        }
    };
    let first = backup("first").await;
    sim.control().touch_item(&sim.control().item_ids(&a.url_key)[0]);
    let _second = backup("second").await;

    let out = orgvault(data.path(), "unused", &["forget", "--to", &to, "--snapshot", &first[..10], "--json"]).await;
    assert!(out.status.success(), "forget by id succeeds: {}", stderr(&out));
    let forgot = crate::support::json_line(&out);
    assert_eq!(forgot["removed"], serde_json::json!([first]), "exactly that snapshot is forgotten: {forgot}");

    let before = everything(repo.path());
    let out = orgvault(data.path(), "unused", &["prune", "--to", &to, "--dry-run"]).await;
    assert!(out.status.success(), "the dry run succeeds: {}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("would remove") && said.contains("nothing was deleted"), "it says what it would do: {said}");
    assert_eq!(everything(repo.path()), before, "a dry run deletes nothing");

    let out = orgvault(data.path(), "unused", &["prune", "--to", &to, "--json"]).await;
    assert!(out.status.success(), "the prune succeeds: {}", stderr(&out));
    assert!(
        crate::support::json_line(&out)["blobs_removed"].as_u64().unwrap_or(0) >= 1,
        "the forgotten snapshot's own data goes"
    );
    let out = orgvault(data.path(), "unused", &["snapshots", "--to", &to]).await;
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(listed.contains("second") && !listed.contains("first"), "only the second snapshot is left: {listed}");
}
