//! Snapshot records read from a hostile or broken store: bounded, and any bytes give a record
//! or a clean error.

use object_store::ObjectStoreExt;
use proptest::prelude::*;

use super::*;
use crate::repo::manifest::proptests::mutate;
use crate::storage::StorageTarget;

fn sample_record() -> Vec<u8> {
    let record = SnapshotRecord {
        version: 1,
        name: "nightly".into(),
        identity_id: "ident".into(),
        org_id: "org1".into(),
        portal_url: "https://example.com/portal".into(),
        time_ms: 1_700_000_000_000,
        tool_version: "0.1.0".into(),
        manifest: BlobRef { id: BlobId::of(b"manifest"), size: 8 },
        items: 1,
        users: 2,
        groups: 3,
        failed: 0,
        bytes: 100,
    };
    serde_json::to_vec(&record).expect("json")
}

#[tokio::test]
async fn an_oversized_record_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Repository::open_for_backup(
        &StorageTarget::Local { path: dir.path().join("repo") },
        crate::repo::InitPolicy::IfEmpty,
    )
    .await
    .expect("repo");
    // A "record" of 1 MiB stored under its own hash, as a hostile writer could plant it.
    let mut body = sample_record();
    body.resize(1024 * 1024, b' ');
    let id = SnapshotId(BlobId::of(&body));
    repo.store().put(&repo.path(&snapshot_path(&id)), PutPayload::from(body)).await.expect("planted");
    let err = repo.snapshot(&id).await.expect_err("an oversized record is not a snapshot");
    assert!(
        matches!(&err, RepoError::CorruptSnapshot { reason, .. } if reason.contains("over the limit of 65536")),
        "the record's size is checked before it is read, and the error says so: {err}"
    );
}

#[test]
fn the_sample_record_parses() {
    assert_eq!(SnapshotRecord::parse(&sample_record()).expect("parses").items, 1, "the mutation base is valid");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_give_a_record_or_a_clean_error(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = SnapshotRecord::parse(&bytes);
    }

    #[test]
    fn a_damaged_record_parses_or_fails_cleanly(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in proptest::option::weighted(0.2, any::<usize>()),
    ) {
        let text = mutate(&sample_record(), &edits, cut);
        if let Ok(record) = SnapshotRecord::parse(&text) {
            // A record that parses names a valid blob id: ids are checked when read.
            prop_assert_eq!(record.manifest.id.as_str().len(), 64);
        }
    }
}
