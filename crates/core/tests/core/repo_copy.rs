//! `copy` between repositories of every kind (folder, Azure Blob through Azurite, S3 through
//! moto's server), and append-only repositories: no-delete credentials and the explicit setting.

use arcgis::Secret;
use orgvault_core::repo::{BlobIdScheme, DeleteRights, InitPolicy, RepoKey, Repository, RetentionPolicy, SnapshotId};
use orgvault_core::storage::{check_azure, check_s3, AzureConnection, StorageTarget};
use orgvault_core::{ErrorCode, NoProgress, Selection};
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use super::backup_support::{run_backup, scanned};
use super::repo_support::{local_target, stored_manifest, Azurite, S3Server};
use super::support::start_sim;

async fn verified(repo: &Repository, id: &SnapshotId) -> anyhow::Result<()> {
    let report = repo.verify(id, None, &NoProgress).await?;
    assert!(report.is_ok(), "snapshot {id:?} in {} must verify: {:?}", repo.target().describe(), report.problems);
    assert_eq!(report.blobs_checked, report.blobs_total, "every blob is read back");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_goes_folder_to_azure_to_s3_and_back_sending_only_what_is_missing() -> anyhow::Result<()> {
    let azurite = Azurite::start().await?;
    let s3 = S3Server::start().await?;
    let dir = tempfile::tempdir()?;
    let folder = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    let m1 = stored_manifest(&folder, "first", 1_700_000_000_000, 0, 4).await?;
    let s1 = folder.write_snapshot(&m1).await?;
    // The second snapshot shares items 2 and 3 (and the user and group) with the first.
    let m2 = stored_manifest(&folder, "second", 1_700_086_400_000, 2, 4).await?;
    let s2 = folder.write_snapshot(&m2).await?;

    let azure =
        Repository::open_for_backup(&azurite.target(&dir.path().join("az-cache")).await?, InitPolicy::IfEmpty).await?;
    let first = folder.copy_snapshot(&s1, &azure, &NoProgress).await?;
    assert!(!first.already_there && first.blobs_present == 0, "an empty destination has nothing yet: {first:?}");
    let distinct = |m: &orgvault_core::repo::Manifest| {
        m.blob_refs().into_iter().map(|b| b.id.clone()).collect::<std::collections::HashSet<_>>().len() as u64
    };
    assert_eq!(first.blobs_copied, distinct(&m1), "every blob of the snapshot is sent once");
    assert_eq!(first.copied, s1, "format 1 ids agree, so the copy is the same snapshot");
    let second = folder.copy_snapshot(&s2, &azure, &NoProgress).await?;
    assert!(second.blobs_present > 0, "blobs the destination has are not sent again: {second:?}");
    assert_eq!(second.blobs_copied + second.blobs_present, distinct(&m2), "each blob is either sent or present");
    let again = folder.copy_snapshot(&s2, &azure, &NoProgress).await?;
    assert!(again.already_there && again.blobs_copied == 0, "a copied snapshot is not copied twice: {again:?}");
    assert_eq!(azure.snapshots().await?.len(), 2, "the destination lists each snapshot once");
    verified(&azure, &s1).await?;
    verified(&azure, &s2).await?;

    let bucket =
        Repository::open_for_backup(&s3.target(&dir.path().join("s3-cache")).await?, InitPolicy::IfEmpty).await?;
    for id in [&s1, &s2] {
        azure.copy_snapshot(id, &bucket, &NoProgress).await?;
        verified(&bucket, id).await?;
    }

    let back =
        Repository::open_for_backup(&StorageTarget::Local { path: dir.path().join("back") }, InitPolicy::IfEmpty)
            .await?;
    for (id, m) in [(&s1, &m1), (&s2, &m2)] {
        bucket.copy_snapshot(id, &back, &NoProgress).await?;
        verified(&back, id).await?;
        assert_eq!(&back.manifest(id).await?, m, "the round trip folder -> Azure -> S3 -> folder keeps the manifest");
    }
    Ok(())
}

/// Every file under `dir`, read whole (the test repositories are small).
fn stored_bytes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_re_encrypts_between_repositories_with_different_keys_and_back_to_plain() -> anyhow::Result<()> {
    let azurite = Azurite::start().await?;
    let dir = tempfile::tempdir()?;
    let plain = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    let m = stored_manifest(&plain, "first", 1_700_000_000_000, 0, 3).await?;
    let id = plain.write_snapshot(&m).await?;

    let key = |p: &str| RepoKey::Password(Secret::new(p.to_owned()));
    let sealed_path = dir.path().join("sealed");
    let sealed = Repository::open_for_backup_with_key(
        &StorageTarget::Local { path: sealed_path.clone() },
        InitPolicy::IfEmpty,
        &key("one"),
    )
    .await?;
    let azure = Repository::open_for_backup_with_key(
        &azurite.target(&dir.path().join("az-cache")).await?,
        InitPolicy::IfEmpty,
        &key("two"),
    )
    .await?;
    assert_eq!(plain.blob_id_scheme(), BlobIdScheme::Sha256);
    assert_ne!(sealed.blob_id_scheme(), plain.blob_id_scheme(), "an encrypted repository's ids are keyed");
    assert_ne!(sealed.blob_id_scheme(), azure.blob_id_scheme(), "two repositories have two id keys");

    let into_sealed = plain.copy_snapshot(&id, &sealed, &NoProgress).await?;
    assert_ne!(into_sealed.copied, id, "the keyed copy is another snapshot id");
    verified(&sealed, &into_sealed.copied).await?;
    for (path, bytes) in stored_bytes(&sealed_path) {
        for needle in ["Map 1", "Field crews", "org_admin"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} is readable in {}",
                path.display()
            );
        }
    }
    let into_azure = sealed.copy_snapshot(&into_sealed.copied, &azure, &NoProgress).await?;
    assert_eq!(into_azure.blobs_present, 0, "different keys: nothing can be matched by id, everything is re-encrypted");
    verified(&azure, &into_azure.copied).await?;

    let back =
        Repository::open_for_backup(&StorageTarget::Local { path: dir.path().join("back") }, InitPolicy::IfEmpty)
            .await?;
    let home = azure.copy_snapshot(&into_azure.copied, &back, &NoProgress).await?;
    assert_eq!(home.copied, id, "back in a plain repository the snapshot has its first id again");
    assert_eq!(
        back.manifest(&id).await?,
        m,
        "plain -> encrypted -> encrypted (another key) -> plain keeps the manifest"
    );
    verified(&back, &id).await?;

    let wrong = Repository::open_with_key(&StorageTarget::Local { path: sealed_path }, &key("two")).await;
    assert!(wrong.is_err(), "the other repository's password does not open this one");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_sas_that_cannot_delete_backup_and_verify_work_and_prune_refuses() -> anyhow::Result<()> {
    let azurite = Azurite::start().await?;
    let container = "appendonly";
    let sas = azurite.create_container(container, Some("racwl")).await?;
    let conn = AzureConnection::parse(&format!("BlobEndpoint={};SharedAccessSignature={sas}", azurite.endpoint()))?;
    let cache = tempfile::tempdir()?;
    let target = StorageTarget::Azure {
        conn: conn.clone(),
        container: container.into(),
        prefix: "org".into(),
        cache_dir: cache.path().to_owned(),
    };

    let check = check_azure(&conn, container, "org").await;
    assert!(
        check.append_only(),
        "a SAS with read, add, create, write and list but no delete is append-only: {check:?}"
    );
    assert_eq!(check.allowed(), ["write", "list", "read"], "the check says what the credential may do");

    let sim = start_sim(SimConfig { orgs: 1, items: 20, users: 4, groups: 2, ..SimConfig::default() }).await?;
    let s = scanned(&sim).await?;
    let repo = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    let summary = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(summary.failed, 0, "a backup with a no-delete SAS completes: {summary:?}");
    let snapshots = repo.snapshots().await?;
    assert_eq!(snapshots.len(), 1, "the backup wrote its snapshot");
    verified(&repo, &snapshots[0].id).await?;
    let again = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(again.failed, 0, "a second backup is not blocked by the first one's lock, which it could not delete");

    assert!(
        matches!(repo.delete_rights().await?, DeleteRights::RefusedByCredentials { .. }),
        "the probe finds that the credentials may not delete"
    );
    let err = repo.prune().await.expect_err("prune needs delete");
    assert_eq!(err.code(), ErrorCode::AppendOnly, "prune is refused with its own code: {err}");
    assert!(err.to_string().contains("needs credentials that may delete"), "the message says what is needed: {err}");
    let err = repo
        .forget(&RetentionPolicy { keep_last: Some(1), ..Default::default() }, 1_900_000_000_000)
        .await
        .expect_err("forget needs delete");
    assert_eq!(err.code(), ErrorCode::AppendOnly, "forget is refused with its own code: {err}");
    assert_eq!(repo.snapshots().await?.len(), 2, "nothing was forgotten");

    // With the account key (which may delete), the released locks do not block a prune.
    let full = StorageTarget::Azure {
        conn: AzureConnection::parse(&azurite.conn_string())?,
        container: container.into(),
        prefix: "org".into(),
        cache_dir: cache.path().to_owned(),
    };
    let admin = Repository::open(&full).await?;
    admin.prune().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_policy_without_delete_object_makes_the_bucket_append_only() -> anyhow::Result<()> {
    let s3 = S3Server::start().await?;
    let bucket = s3.bucket().await?;
    let cache = tempfile::tempdir()?;
    let limited = s3.connection(&bucket, &s3.no_delete);
    let check = check_s3(&limited, "org").await;
    assert!(check.append_only(), "a policy without s3:DeleteObject is append-only: {check:?}");
    let full_check = check_s3(&s3.connection(&bucket, &s3.full), "org").await;
    assert!(full_check.all_ok() && !full_check.append_only(), "full rights are not append-only: {full_check:?}");

    let target = StorageTarget::S3 { conn: limited, prefix: "org".into(), cache_dir: cache.path().to_owned() };
    let repo = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    let m = stored_manifest(&repo, "nightly", 1_700_000_000_000, 0, 3).await?;
    let id = repo.write_snapshot(&m).await?;
    verified(&repo, &id).await?;
    let err = repo.prune().await.expect_err("prune needs delete");
    assert_eq!(err.code(), ErrorCode::AppendOnly, "prune is refused with its own code: {err}");

    // A copy into the append-only bucket works too.
    let dir = tempfile::tempdir()?;
    let folder = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    let other = folder.write_snapshot(&stored_manifest(&folder, "other", 1_700_100_000_000, 10, 2).await?).await?;
    folder.copy_snapshot(&other, &repo, &NoProgress).await?;
    verified(&repo, &other).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_append_only_setting_refuses_deletes_whatever_the_credentials() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    repo.set_append_only();
    let first = repo.write_snapshot(&stored_manifest(&repo, "a", 1_700_000_000_000, 0, 2).await?).await?;
    repo.write_snapshot(&stored_manifest(&repo, "b", 1_700_086_400_000, 5, 2).await?).await?;
    assert_eq!(
        repo.delete_rights().await?,
        DeleteRights::RefusedBySetting,
        "the setting wins over the folder's rights"
    );
    let err = repo
        .forget(&RetentionPolicy { keep_last: Some(1), ..Default::default() }, 1_900_000_000_000)
        .await
        .expect_err("forget is refused");
    assert_eq!(err.code(), ErrorCode::AppendOnly, "{err}");
    assert!(err.to_string().contains("set append-only"), "the message names the setting: {err}");
    assert_eq!(repo.prune().await.expect_err("prune is refused").code(), ErrorCode::AppendOnly);
    assert_eq!(repo.snapshots().await?.len(), 2, "no snapshot was removed");
    verified(&repo, &first).await?;
    let locks = dir.path().join("repo/locks");
    let left: Vec<_> = std::fs::read_dir(&locks)?.flatten().collect();
    assert!(!left.is_empty(), "append-only writers leave their locks, marked released, instead of deleting them");
    for l in &left {
        let text = std::fs::read_to_string(l.path())?;
        assert!(text.contains("\"released\":true"), "a lock left behind is marked released: {text}");
    }
    // Another handle without the setting is not blocked by the released locks, and removes them.
    let admin = Repository::open(&local_target(dir.path())).await?;
    admin.prune().await?;
    let left = std::fs::read_dir(&locks).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "the prune removed the released locks (and the store their empty folder)");
    Ok(())
}
