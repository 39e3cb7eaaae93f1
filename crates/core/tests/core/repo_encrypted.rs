//! An encrypted repository (format 2) holding a backup of a simulated org: nothing of the org
//! is readable in its files, it verifies, a wrong password is refused with its own code, a
//! flipped byte is reported by verify naming the item, an unchanged org adds almost nothing,
//! and its keys can be added, changed and removed. A plain repository of the same org is the
//! control: there the same words are found, so their absence means something.

use std::path::{Path, PathBuf};

use arcgis::Secret;
use orgvault_core::repo::{BlobProblem, InitPolicy, KeyKind, RepoKey, RepoState, Repository};
use orgvault_core::storage::StorageTarget;
use orgvault_core::{ErrorCode, NoProgress, Selection};
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, run_backup, scanned, verify_all};
use crate::support::start_sim;

const PASSWORD: &str = "correct horse battery staple";

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if e.file_type().expect("type").is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// What anyone reading the file can see with ordinary tools: its bytes, a plain blob's zstd
/// body decompressed, and the entries of any zip among those.
fn readable(file: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![file.to_vec()];
    if file.starts_with(b"OVB\x01\x01") {
        if let Ok(d) = zstd::stream::decode_all(&file[5..]) {
            out.push(d);
        }
    }
    let mut zips = Vec::new();
    for candidate in &out {
        for start in [0usize, 5] {
            let Some(body) = candidate.get(start..) else { continue };
            if !body.starts_with(b"PK\x03\x04") {
                continue;
            }
            if let Ok(mut z) = zip::ZipArchive::new(std::io::Cursor::new(body.to_vec())) {
                for i in 0..z.len() {
                    if let Ok(mut f) = z.by_index(i) {
                        let mut v = Vec::new();
                        if std::io::Read::read_to_end(&mut f, &mut v).is_ok() {
                            zips.push(v);
                        }
                    }
                }
            }
        }
    }
    out.extend(zips);
    out
}

/// The needles found anywhere in the folder's files, with the file that shows each.
fn found(dir: &Path, needles: &[String]) -> Vec<(String, PathBuf)> {
    let mut hits = Vec::new();
    for path in files_under(dir) {
        let bytes = std::fs::read(&path).expect("read");
        for text in readable(&bytes) {
            for n in needles {
                if text.windows(n.len()).any(|w| w == n.as_bytes()) {
                    hits.push((n.clone(), path.clone()));
                }
            }
        }
    }
    hits.sort();
    hits.dedup();
    hits
}

fn dir_bytes(dir: &Path) -> u64 {
    files_under(dir).iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_repository_hides_the_org_verifies_and_refuses_a_wrong_password() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 120, users: 8, groups: 4, ..SimConfig::default() }).await?;
    let s = scanned(&sim).await?;

    // The needles: item titles, a feature attribute (a GlobalID) and, below, a fragment of an
    // item's JSON as the portal sent it.
    let mut needles: Vec<String> = Vec::new();
    {
        let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = u.org_by_url_key(&sim.orgs[0].url_key).expect("org");
        needles.extend(org.items.values().map(|i| i.title.clone()).filter(|t| t.len() >= 12).take(5));
        let guid = org
            .services
            .values()
            .flat_map(|svc| svc.layers.iter())
            .flat_map(|l| l.features.iter())
            .find_map(|f| f.attributes.get("GlobalID").and_then(|g| g.as_str()).map(str::to_owned))
            .expect("a feature with a GlobalID");
        needles.push(guid);
    }
    assert!(needles.len() >= 4, "enough needles to search for: {needles:?}");

    // The control: a plain repository of the same org shows every needle.
    let plain_dir = tempfile::tempdir()?;
    let plain = open_repo(plain_dir.path()).await?;
    let first_plain = run_backup(&s, &plain, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    let manifest = plain.manifest(first_plain.snapshot.as_ref().expect("snapshot")).await?;
    let item_json = plain.get_blob(&manifest.items[0].item_json).await?;
    let text = String::from_utf8_lossy(&item_json);
    let at = text.find("\"title\"").expect("item JSON has a title");
    needles.push(text[at..(at + 40).min(text.len())].to_owned());
    let in_plain: std::collections::BTreeSet<String> =
        found(plain_dir.path(), &needles).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        in_plain.len(),
        needles.len(),
        "the control: a plain repository shows every needle ({in_plain:?} of {needles:?})"
    );

    // The encrypted repository.
    let dir = tempfile::tempdir()?;
    let target = StorageTarget::Local { path: dir.path().join("repo") };
    let key = RepoKey::Password(Secret::new(PASSWORD));
    let repo = Repository::open_for_backup_with_key(&target, InitPolicy::IfEmpty, &key).await?;
    assert!(repo.is_encrypted(), "a repository created with a password is encrypted");
    let recovery = repo.recovery_key().expect("the creating handle has the recovery key");
    assert!(repo.recovery_key().is_none(), "the recovery key is handed out once");
    assert_eq!(Repository::state(&target).await?, RepoState::Encrypted, "its config says so");

    let first = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(first.failed, 0, "nothing fails: {first:?}");
    assert_eq!(verify_all(&repo).await?, 1, "the encrypted snapshot verifies");
    let hits = found(dir.path(), &needles);
    assert!(
        hits.is_empty(),
        "no title, item JSON or feature attribute may be readable in an encrypted repository: {hits:?}"
    );
    let config = std::fs::read_to_string(dir.path().join("repo/config"))?;
    assert!(!config.contains(PASSWORD), "the password is not in the config");
    for f in files_under(dir.path()) {
        let bytes = std::fs::read(&f)?;
        assert!(
            !bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
            "the password appears in no stored file ({})",
            f.display()
        );
    }

    // A second backup of the unchanged org adds at most 1% of what is stored.
    let stored_before = dir_bytes(dir.path());
    let second = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    let stored_after = dir_bytes(dir.path());
    assert!(
        (stored_after - stored_before) * 100 <= stored_before,
        "an unchanged org stores at most 1% new bytes in an encrypted repository: {} new of {stored_before}",
        stored_after - stored_before
    );
    assert!(second.bytes_new * 100 <= second.bytes_total, "and the job counts as much: {second:?}");
    drop(repo);

    // Opening: no password, a wrong one, the right one, the recovery key.
    let err = Repository::open(&target).await.expect_err("an encrypted repository needs its password");
    assert_eq!(err.code(), ErrorCode::RepositoryPasswordRequired, "its own code: {err}");
    let err = Repository::open_with_key(&target, &RepoKey::Password(Secret::new("wrong"))).await.expect_err("wrong");
    assert_eq!(err.code(), ErrorCode::WrongRepositoryPassword, "a wrong password has its own code: {err}");
    assert!(err.to_string().contains("wrong password"), "and says so: {err}");
    let by_recovery = Repository::open_with_key(&target, &RepoKey::Password(recovery.clone())).await?;
    assert_eq!(by_recovery.snapshots().await?.len(), 2, "the recovery key opens the repository");
    let lowered = Secret::new(recovery.expose().to_lowercase().replace('-', " "));
    assert!(Repository::open_with_key(&target, &RepoKey::Password(lowered)).await.is_ok(), "typed loosely too");
    let err = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await.expect_err("no plain writes");
    assert_eq!(err.code(), ErrorCode::RepositoryPasswordRequired, "a backup without the password is refused: {err}");

    // A flipped byte in an item's stored data is reported by verify, naming the item.
    let repo = Repository::open_with_key(&target, &key).await?;
    let snap = repo.find_snapshot("latest").await?;
    let m = repo.manifest(&snap).await?;
    let victim =
        m.items.iter().find(|i| i.data.as_ref().is_some_and(|d| d.blob.size > 200)).expect("an item with data");
    let blob = &victim.data.as_ref().expect("data").blob;
    let path = dir.path().join("repo/data").join(&blob.id.as_str()[..2]).join(blob.id.as_str());
    let mut bytes = std::fs::read(&path)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes)?;
    let report = repo.verify(&snap, None, &NoProgress).await?;
    let problem = report.problems.iter().find(|p| p.blob == blob.id).expect("the flipped blob is reported");
    assert_eq!(problem.owner.id, victim.id, "the problem names the item");
    assert_eq!(problem.owner.title, victim.title, "and its title");
    assert!(matches!(problem.problem, BlobProblem::Corrupt { .. }), "as corrupt: {problem:?}");
    let err = repo.get_blob(blob).await.expect_err("corrupt data is not handed out");
    assert_eq!(err.code(), ErrorCode::Corrupt, "reading it fails as corrupt, naming the blob: {err}");
    assert!(err.to_string().contains(blob.id.as_str()), "the error names the blob: {err}");
    Ok(())
}

#[tokio::test]
async fn keys_are_added_changed_and_removed_but_never_the_last() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = StorageTarget::Local { path: dir.path().join("repo") };
    let first = RepoKey::Password(Secret::new("first password"));
    let repo = Repository::open_for_backup_with_key(&target, InitPolicy::IfEmpty, &first).await?;
    let keys = repo.keys().await?;
    assert_eq!(keys.len(), 2, "a new repository has its password key and its recovery key: {keys:?}");
    assert_eq!(keys.iter().filter(|k| k.kind == KeyKind::Recovery).count(), 1, "one recovery key");
    let recovery_id = keys.iter().find(|k| k.kind == KeyKind::Recovery).expect("recovery").id.clone();
    assert!(keys.iter().any(|k| k.current && k.kind == KeyKind::Password), "opened with the password key");
    let blob = repo.put_blob_bytes(bytes::Bytes::from_static(b"some content of the org")).await?;

    let second = repo.add_key(&Secret::new("second password")).await?;
    let by_second = Repository::open_with_key(&target, &RepoKey::Password(Secret::new("second password"))).await?;
    assert_eq!(&by_second.get_blob(&blob).await?[..], b"some content of the org", "an added password opens the data");

    let current = repo.keys().await?.into_iter().find(|k| k.current).expect("current");
    let err = repo.remove_key(&current.id[..8]).await.expect_err("the key in use is not removed");
    assert_eq!(err.code(), ErrorCode::KeyRefused, "{err}");

    let changed = repo.change_password(&Secret::new("third password")).await?;
    assert!(changed.current, "the new key is now the handle's");
    let err = Repository::open_with_key(&target, &first).await.expect_err("the old password is gone");
    assert_eq!(err.code(), ErrorCode::WrongRepositoryPassword, "{err}");
    assert!(Repository::open_with_key(&target, &RepoKey::Password(Secret::new("third password"))).await.is_ok());

    repo.remove_key(&second.id[..8]).await?;
    repo.remove_key(&recovery_id[..8]).await?;
    let left = repo.keys().await?;
    assert_eq!(left.len(), 1, "one key left: {left:?}");
    let only = Repository::open_with_key(&target, &RepoKey::Password(Secret::new("third password"))).await?;
    let other = only.add_key(&Secret::new("fourth")).await?;
    let via_other = Repository::open_with_key(&target, &RepoKey::Password(Secret::new("fourth"))).await?;
    via_other.remove_key(&left[0].id[..8]).await?;
    let err = via_other.remove_key(&other.id[..8]).await.expect_err("never the last key");
    assert_eq!(err.code(), ErrorCode::KeyRefused, "{err}");

    // A foreign file under keys/ is neither a key nor removed.
    std::fs::write(dir.path().join("repo/keys/notes.txt"), b"mine")?;
    assert_eq!(via_other.keys().await?.len(), 1, "a foreign object is not a key");
    assert!(via_other.remove_key("note").await.is_err(), "nor removable");
    assert!(dir.path().join("repo/keys/notes.txt").exists(), "and it stays");
    Ok(())
}

#[tokio::test]
async fn an_append_only_handle_neither_removes_a_key_nor_changes_a_password() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = StorageTarget::Local { path: dir.path().join("repo") };
    let key = RepoKey::Password(Secret::new("first password"));
    let repo = Repository::open_for_backup_with_key(&target, InitPolicy::IfEmpty, &key).await?;
    let before = repo.keys().await?;
    let recovery = before.iter().find(|k| k.kind == KeyKind::Recovery).expect("recovery").id.clone();
    repo.set_append_only();
    let err = repo.remove_key(&recovery[..8]).await.expect_err("append-only: no key object is deleted");
    assert_eq!(err.code(), ErrorCode::AppendOnly, "{err}");
    let err = repo.change_password(&Secret::new("second")).await.expect_err("append-only: passwd deletes the old key");
    assert_eq!(err.code(), ErrorCode::AppendOnly, "{err}");
    let after = repo.keys().await?;
    assert_eq!(after.len(), before.len(), "the keys are as they were, no new one added either: {after:?}");
    assert!(Repository::open_with_key(&target, &key).await.is_ok(), "the old password still opens it");
    Ok(())
}

#[tokio::test]
async fn a_plain_repository_keeps_working_and_is_not_written_where_encryption_was_expected() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = StorageTarget::Local { path: dir.path().join("repo") };
    let plain = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    assert!(!plain.is_encrypted(), "without a password a repository is plain (format 1)");
    let blob = plain.put_blob_bytes(bytes::Bytes::from_static(b"plain content")).await?;
    assert_eq!(blob.id, orgvault_core::repo::BlobId::of(b"plain content"), "format 1 ids are the SHA-256");
    let config = std::fs::read_to_string(dir.path().join("repo/config"))?;
    assert!(config.contains("\"version\": 1"), "format 1 config: {config}");
    let err = Repository::open_for_backup_with_key(&target, InitPolicy::IfEmpty, &RepoKey::Password(Secret::new("pw")))
        .await
        .expect_err("a backup expecting encryption must not write into a plain repository");
    assert_eq!(err.code(), ErrorCode::RepositoryNotEncrypted, "{err}");
    let read = Repository::open_with_key(&target, &RepoKey::Password(Secret::new("pw"))).await?;
    assert_eq!(&read.get_blob(&blob).await?[..], b"plain content", "reading a plain one with a password is harmless");
    Ok(())
}
