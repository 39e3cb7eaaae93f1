//! Retention policy semantics, prune under locks, and storage checks.

use orgvault_core::repo::{plan_forget, InitPolicy, Repository, RetentionPolicy, SnapshotSummary};
use orgvault_core::storage::{check_azure, check_local, AzureConnection, StorageError};

use super::repo_support::{local_target, stored_manifest, Azurite};

const DAY: i64 = 86_400_000;
/// 2024-01-01T12:00:00Z, a Monday.
const T0: i64 = 1_704_110_400_000;

fn summary(n: usize, time_ms: i64) -> SnapshotSummary {
    let id = orgvault_core::repo::BlobId::of(format!("snap{n}").as_bytes());
    SnapshotSummary {
        id: id.as_str().parse().expect("valid id"),
        name: format!("s{n}"),
        identity_id: "i".into(),
        org_id: "org-1".into(),
        portal_url: "https://x".into(),
        time_ms,
        tool_version: "0".into(),
        manifest: orgvault_core::repo::BlobRef { id, size: 1 },
        items: 0,
        users: 0,
        groups: 0,
        failed: 0,
        bytes: 0,
    }
}

fn kept(plan: &orgvault_core::repo::ForgetPlan) -> Vec<String> {
    let mut names: Vec<String> = plan.keep.iter().map(|(s, _)| s.name.clone()).collect();
    names.sort_by_key(|n| n[1..].parse::<u32>().unwrap_or(0));
    names
}

#[test]
fn policies_keep_what_restic_would() {
    // Two backups a day (noon and 18:00) for 70 days: s0 .. s139, s(2d) at noon, s(2d+1) at 18:00.
    let snaps: Vec<_> =
        (0..140).map(|n| summary(n, T0 + (n as i64 / 2) * DAY + (n as i64 % 2) * 6 * 3_600_000)).collect();
    let now = T0 + 70 * DAY;
    let policy = |p: RetentionPolicy| plan_forget(&snaps, &p, now).expect("a non-empty policy plans");

    let p = policy(RetentionPolicy { keep_last: Some(3), ..Default::default() });
    assert_eq!(kept(&p), ["s137", "s138", "s139"], "keep-last keeps the newest N");
    assert_eq!(p.remove.len(), 137, "everything else is forgotten");

    let p = policy(RetentionPolicy { keep_daily: Some(3), ..Default::default() });
    assert_eq!(kept(&p), ["s135", "s137", "s139"], "keep-daily keeps the newest of each of the last 3 days");

    let p = policy(RetentionPolicy { keep_weekly: Some(2), ..Default::default() });
    // Day 69 is a Sunday (T0 is a Monday): the last week's newest is s139, the week before ends on day 62.
    assert_eq!(kept(&p), ["s125", "s139"], "keep-weekly keeps the newest of each ISO week");

    let p = policy(RetentionPolicy { keep_monthly: Some(3), ..Default::default() });
    // Days 0..30 are January, 31..59 February, 60..69 March.
    assert_eq!(kept(&p), ["s61", "s119", "s139"], "keep-monthly keeps the newest of each month");

    let p = policy(RetentionPolicy {
        keep_last: Some(1),
        keep_daily: Some(2),
        keep_monthly: Some(2),
        ..Default::default()
    });
    assert_eq!(kept(&p), ["s119", "s137", "s139"], "rules combine: a snapshot kept by any rule stays");
    let reasons = &p.keep.iter().find(|(s, _)| s.name == "s139").expect("newest kept").1;
    assert_eq!(reasons, &["last", "daily", "monthly"], "every rule that keeps a snapshot is reported");

    let p = policy(RetentionPolicy { keep_within_ms: Some(2 * DAY), ..Default::default() });
    assert_eq!(kept(&p), ["s136", "s137", "s138", "s139"], "keep-within keeps everything younger than the duration");

    let err = plan_forget(&snaps, &RetentionPolicy::default(), now).expect_err("an empty policy must be refused");
    assert!(err.to_string().contains("at least one keep rule"), "the refusal explains why: {err}");
}

#[test]
fn policies_apply_per_organization() {
    let mut snaps = vec![summary(0, T0), summary(1, T0 + DAY)];
    snaps[0].org_id = "org-2".into();
    let p = plan_forget(&snaps, &RetentionPolicy { keep_last: Some(1), ..Default::default() }, T0).expect("plans");
    assert_eq!(kept(&p), ["s0", "s1"], "keep-last counts per organization, not across them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_then_prune_removes_only_unreferenced_blobs() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    let mut ids = Vec::new();
    let mut manifests = Vec::new();
    for day in 0..4 {
        let m = stored_manifest(&repo, &format!("d{day}"), T0 + day * DAY, day as u64 * 2, 3).await?;
        ids.push(repo.write_snapshot(&m).await?);
        manifests.push(m);
    }
    let plan = repo.forget(&RetentionPolicy { keep_daily: Some(2), ..Default::default() }, T0 + 4 * DAY).await?;
    assert_eq!(plan.remove.len(), 2, "two older days are forgotten");
    let report = repo.prune().await?;
    assert!(report.blobs_removed > 0, "prune frees blobs of forgotten snapshots");
    for (i, m) in manifests.iter().enumerate() {
        for u in m.blob_uses() {
            let referenced_by_kept =
                manifests[2..].iter().any(|k| k.blob_uses().iter().any(|x| x.blob.id == u.blob.id));
            assert_eq!(
                repo.has_blob(&u.blob.id).await?,
                referenced_by_kept,
                "blob of d{i} {} {} kept iff a kept snapshot uses it",
                u.owner.id,
                u.part
            );
        }
    }
    for id in &ids[2..] {
        let v = repo.verify(id, None, &orgvault_core::NoProgress).await?;
        assert!(v.is_ok(), "kept snapshots verify after prune: {:?}", v.problems);
    }
    Ok(())
}

#[tokio::test]
async fn check_local_creates_refuses_files_and_reports_room() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fresh = dir.path().join("new-folder");
    let check = check_local(&fresh, 1).await?;
    assert!(check.created && fresh.is_dir(), "a missing folder whose parent exists is created");
    assert!(check.available_bytes > 0, "free space is reported");

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x")?;
    let err = check_local(&file.join("backups"), 1).await.expect_err("a path under a regular file cannot be a folder");
    assert!(err.to_string().contains("is a file, not a folder"), "the message says why: {err}");
    let err = check_local(&file, 1).await.expect_err("a file is not a folder");
    assert!(err.to_string().contains("not a folder"), "the message says it is a file: {err}");

    let err = check_local(dir.path(), u64::MAX).await.expect_err("no disk has u64::MAX bytes free");
    assert!(matches!(err, StorageError::NoRoom { .. }), "lack of room is its own error: {err}");

    // A read-only folder. Permissions do not bind root, so the refusal is only asserted when a
    // write into the 0555 folder really fails; the path-under-a-file case above covers root.
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.path().join("read-only");
    std::fs::create_dir(&ro)?;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555))?;
    let permissions_bind = std::fs::write(ro.join("probe"), b"x").is_err();
    if permissions_bind {
        let err = check_local(&ro, 1).await.expect_err("a read-only folder is refused");
        assert!(err.to_string().contains("not writable"), "the message says not writable: {err}");
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_azure_reports_each_step() -> anyhow::Result<()> {
    let azurite = Azurite::start().await?;
    azurite.create_container("checks", None).await?;
    let conn = AzureConnection::parse(&azurite.conn_string())?;
    let ok = check_azure(&conn, "checks", "p").await;
    assert!(ok.all_ok(), "the account key may write, list, read and delete: {ok:?}");

    let sas = azurite.create_container("checks", Some("rl")).await?;
    let read_only =
        AzureConnection::parse(&format!("BlobEndpoint={};SharedAccessSignature={sas}", azurite.endpoint()))?;
    let got = check_azure(&read_only, "checks", "p").await;
    assert_eq!(got.failed(), ["write", "read", "delete"], "a read+list SAS fails write (and what needs it): {got:?}");
    assert!(got.list.is_ok(), "listing is allowed by the SAS: {got:?}");
    let write_err = got.write.clone().expect_err("write failed");
    assert!(
        write_err.contains("permission denied") || write_err.contains("403"),
        "the write failure says why: {write_err}"
    );
    assert!(!format!("{got:?}").contains("sig="), "no SAS signature in the report");

    let bad_key = AzureConnection::parse(&format!(
        "AccountName=devstoreaccount1;AccountKey={};BlobEndpoint={}",
        "A".repeat(86) + "==",
        azurite.endpoint()
    ))?;
    let got = check_azure(&bad_key, "checks", "").await;
    assert_eq!(got.failed(), ["write", "list", "read", "delete"], "a wrong key fails every step: {got:?}");

    let missing = check_azure(&conn, "no-such-container", "").await;
    assert!(missing.write.is_err() && missing.list.is_err(), "a missing container fails write and list: {missing:?}");
    Ok(())
}
