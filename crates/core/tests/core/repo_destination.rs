//! What OrgVault may do in a destination folder: a read never turns a folder into a repository,
//! a backup creates one only where it may, and clean-up and prune touch only what OrgVault made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use orgvault_core::repo::{InitPolicy, RepoError, Repository};
use orgvault_core::storage::StorageTarget;

use super::repo_support::{local_target, stored_manifest};

/// Every path under `dir` (links not followed) with its kind and content, to compare a folder
/// before and after.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let path = e.path();
        let kind = e.file_type().expect("file type");
        if kind.is_symlink() {
            out.insert(path.clone(), format!("link to {}", std::fs::read_link(&path).expect("link").display()));
        } else if kind.is_dir() {
            out.insert(path.clone(), "folder".into());
            out.extend(tree(&path));
        } else {
            out.insert(path.clone(), String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned());
        }
    }
    out
}

fn write_old(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("parent folder");
    std::fs::write(path, content).expect("write");
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(path).expect("open").set_modified(an_hour_ago).expect("age");
}

/// A user's folder that happens to use the names a repository uses.
fn users_folder(root: &Path) {
    write_old(&root.join("notes.txt"), "my notes");
    write_old(&root.join("tmp/draft.txt"), "an old draft in the user's own tmp folder");
    std::fs::create_dir_all(root.join("tmp/old-project")).expect("folder");
    write_old(&root.join("tmp/old-project/plan.txt"), "plan");
    write_old(&root.join("data/ab/readme.txt"), "data of another program");
}

#[tokio::test]
async fn reading_a_folder_that_is_not_a_repository_says_so_and_changes_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = local_target(dir.path());
    let StorageTarget::Local { path } = &target else { unreachable!() };
    users_folder(path);
    let before = tree(path);

    let err = Repository::open(&target).await.expect_err("a folder without config is not a repository");
    assert!(matches!(err, RepoError::NotARepository { .. }), "the refusal is typed: {err:?}");
    assert_eq!(err.code(), orgvault_core::ErrorCode::NotARepository, "the UI and scripts branch on a stable code");
    assert!(err.to_string().contains(&path.display().to_string()), "the message names the folder: {err}");
    assert_eq!(tree(path), before, "a read on a folder that is not a repository must not create or delete anything");

    let missing = dir.path().join("nowhere");
    let err = Repository::open(&StorageTarget::Local { path: missing.clone() }).await.expect_err("missing folder");
    assert_eq!(
        err.code(),
        orgvault_core::ErrorCode::NotARepository,
        "a missing folder is not a repository either: {err}"
    );
    assert!(!missing.exists(), "a read must not create the folder it was pointed at");
    Ok(())
}

#[tokio::test]
async fn a_backup_into_a_non_empty_folder_is_refused_unless_init_is_explicit() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("shared-drive");
    write_old(&path.join("budget.xlsx"), "numbers");
    let target = StorageTarget::Local { path: path.clone() };
    let before = tree(&path);

    let err = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await.expect_err("non-empty folder");
    assert_eq!(err.code(), orgvault_core::ErrorCode::DestinationNotEmpty, "the refusal has its own code: {err}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "the message names the folder: {msg}");
    assert!(msg.contains("sub-folder") && msg.contains("--init"), "the message suggests a way out: {msg}");
    assert_eq!(tree(&path), before, "a refused backup leaves the folder as it was");

    let repo = Repository::open_for_backup(&target, InitPolicy::EvenIfNotEmpty).await?;
    assert!(path.join("config").is_file(), "--init creates the repository beside the user's files");
    assert_eq!(std::fs::read_to_string(path.join("budget.xlsx"))?, "numbers", "the user's file is untouched");
    let again = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    assert_eq!(again.id(), repo.id(), "an existing repository is opened, not refused");

    // A folder that already uses one of the repository's names is refused even with --init.
    let taken = dir.path().join("taken");
    users_folder(&taken);
    let before = tree(&taken);
    let err = Repository::open_for_backup(&StorageTarget::Local { path: taken.clone() }, InitPolicy::EvenIfNotEmpty)
        .await
        .expect_err("a folder with data/ or tmp/ of its own");
    assert_eq!(
        err.code(),
        orgvault_core::ErrorCode::DestinationNotEmpty,
        "--init refuses names OrgVault would then own: {err}"
    );
    assert_eq!(tree(&taken), before, "nothing is written into a refused folder");
    Ok(())
}

#[tokio::test]
async fn a_missing_or_empty_folder_becomes_a_repository_for_a_backup() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty)?;
    for path in [empty, dir.path().join("new")] {
        let target = StorageTarget::Local { path: path.clone() };
        let repo = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
        assert!(path.join("config").is_file(), "a backup initialises {}", path.display());
        assert_eq!(Repository::open(&target).await?.id(), repo.id(), "a read then finds the repository");
        assert!(!path.join("tmp").exists(), "opening writes nothing but the config");
    }
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn staging_clean_up_removes_only_dead_staging_folders_orgvault_made() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = local_target(dir.path());
    let StorageTarget::Local { path } = &target else { unreachable!() };
    Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    let tmp = path.join("tmp");
    write_old(&tmp.join("keep-me.txt"), "a plain file is never staging");
    write_old(&tmp.join("0123456789abcdef0123456789abcdef/x.part"), "a folder without our name");
    write_old(&tmp.join("orgvault-11111111111111111111111111111111/x.part"), "our name but no lock file");
    let outside = dir.path().join("outside");
    write_old(&outside.join(".orgvault-staging.lock"), "");
    write_old(&outside.join("precious.txt"), "outside the repository");
    std::os::unix::fs::symlink(&outside, tmp.join("orgvault-22222222222222222222222222222222"))?;
    let dead = tmp.join("orgvault-33333333333333333333333333333333");
    write_old(&dead.join(".orgvault-staging.lock"), "");
    write_old(&dead.join("blob.part"), "left by a killed backup");
    let mut expected = tree(path);
    expected.retain(|p, _| !p.starts_with(&dead));
    let outside_before = tree(&outside);

    Repository::open(&target).await?;
    assert_eq!(tree(path), expected, "only the dead staging folder with OrgVault's name and lock file may be removed");
    assert_eq!(tree(&outside), outside_before, "a link is never followed");
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn prune_deletes_only_unreferenced_blob_names_and_never_follows_links() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = local_target(dir.path());
    let StorageTarget::Local { path } = &target else { unreachable!() };
    let repo = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    let m = stored_manifest(&repo, "kept", 1_700_000_000_000, 0, 1).await?;
    let snapshot = repo.write_snapshot(&m).await?;
    let orphan = repo.put_blob_bytes(Bytes::from_static(b"no snapshot references this blob")).await?;

    let data = path.join("data");
    let hex62 = "0".repeat(62);
    write_old(&data.join("notes.txt"), "a file that is not a blob");
    write_old(&data.join("ab/readme.txt"), "a non-blob name in a blob folder");
    write_old(&data.join(format!("zz/ab{hex62}")), "a blob-like name in the wrong folder");
    let outside = dir.path().join("outside");
    write_old(&outside.join(format!("cd{hex62}")), "someone else's file behind a linked folder");
    write_old(&outside.join("file"), "someone else's file behind a linked file");
    std::os::unix::fs::symlink(&outside, data.join("cd"))?;
    std::fs::create_dir_all(data.join("ef"))?;
    std::os::unix::fs::symlink(outside.join("file"), data.join(format!("ef/ef{hex62}")))?;
    let orphan_path = data.join(&orphan.id.as_str()[..2]).join(orphan.id.as_str());
    // Files and links only: a folder emptied by the removal may go with it.
    let entries = |root: &Path| -> BTreeMap<PathBuf, String> {
        tree(root).into_iter().filter(|(_, kind)| kind != "folder").collect()
    };
    let mut expected = entries(path);
    assert!(expected.remove(&orphan_path).is_some(), "the orphan blob is stored where the format says");
    let outside_before = tree(&outside);

    let report = repo.prune().await?;
    assert_eq!(report.blobs_removed, 1, "only the unreferenced blob is removed: {report:?}");
    assert_eq!(entries(path), expected, "prune must leave every name that is not an unreferenced blob");
    assert_eq!(tree(&outside), outside_before, "prune never follows a link out of the repository");
    assert!(repo.verify(&snapshot, None, &orgvault_core::NoProgress).await?.is_ok(), "the kept snapshot verifies");
    Ok(())
}

#[tokio::test]
async fn an_oversized_config_object_is_refused_before_it_is_read() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("repo");
    Repository::open_for_backup(&StorageTarget::Local { path: path.clone() }, InitPolicy::IfEmpty).await?;
    // A hostile or broken `config` of 1 MiB: the limit, not a JSON error after reading it whole.
    std::fs::write(path.join("config"), vec![b' '; 1 << 20])?;
    let err = Repository::open(&StorageTarget::Local { path }).await.expect_err("an oversized config is refused");
    assert!(err.to_string().contains("over the limit"), "the error names the size limit: {err}");
    Ok(())
}
