//! Any file given to the zip import ends in a snapshot or a clean error, never a panic.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::repo::manifest::proptests::mutate;
use crate::repo::{Manifest, Repository};
use crate::storage::StorageTarget;

/// A runtime and a repository holding one small snapshot, exported to a zip; returns the zip's
/// bytes as the base for damaged copies.
fn setup(dir: &std::path::Path) -> (tokio::runtime::Runtime, Repository, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (repo, zip) = rt.block_on(async {
        let repo = Repository::open_for_backup(
            &StorageTarget::Local { path: dir.join("repo") },
            crate::repo::InitPolicy::IfEmpty,
        )
        .await
        .expect("repo");
        let mut m = Manifest::new("n", "ident", "org1", "https://example.com/portal", 1_700_000_000_000);
        m.org.portal_self = Some(repo.put_blob_json(&serde_json::json!({"id": "org1"})).await.expect("blob"));
        m.org.urls = Some(repo.put_blob_bytes(bytes::Bytes::from("x".repeat(5000))).await.expect("blob"));
        let id = repo.write_snapshot(&m).await.expect("snapshot");
        let path = dir.join("export.zip");
        repo.export_zip(&id, &path).await.expect("export");
        (repo, std::fs::read(&path).expect("zip bytes"))
    });
    (rt, repo, zip)
}

fn import(rt: &tokio::runtime::Runtime, repo: &Repository, dir: &std::path::Path, bytes: &[u8]) {
    let path = dir.join("case.zip");
    std::fs::write(&path, bytes).expect("write case");
    // Ok or Err are both fine; a panic fails the property.
    let _ = rt.block_on(repo.import_zip(&path));
}

#[test]
fn any_bytes_imported_as_a_zip_fail_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (rt, repo, zip) = setup(dir.path());
    let mut runner = TestRunner::new(Config::with_cases(256));
    let junk = proptest::collection::vec(any::<u8>(), 0..4096);
    runner
        .run(&junk, |bytes| {
            import(&rt, &repo, dir.path(), &bytes);
            Ok(())
        })
        .expect("arbitrary bytes never panic the import");
    // A real zip with a few damaged bytes or cut short: the central directory, headers,
    // manifest.json and deflate streams all get hit.
    let damage = (
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        proptest::option::weighted(0.2, any::<usize>()),
    );
    runner
        .run(&damage, |(edits, cut)| {
            import(&rt, &repo, dir.path(), &mutate(&zip, &edits, cut));
            Ok(())
        })
        .expect("a damaged export never panics the import");
}
