//! Zip export readable by the standard `unzip`, import round trip, and refusals.

use std::io::Write;
use std::process::Command;

use orgvault_core::repo::{BlobRef, InitPolicy, RepoError, Repository};
use orgvault_core::NoProgress;
use zip::write::SimpleFileOptions;

use super::repo_support::{local_target, stored_manifest};

fn unzip(args: &[&str], zip: &std::path::Path) -> anyhow::Result<String> {
    let out = Command::new("unzip")
        .args(args)
        .arg(zip)
        .output()
        .map_err(|e| anyhow::anyhow!("the system `unzip` is needed for this test (apt-get install unzip): {e}"))?;
    anyhow::ensure!(out.status.success(), "unzip {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_opens_with_unzip_and_imports_back() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    let mut m = stored_manifest(&repo, "nightly", 1_700_000_000_000, 0, 3).await?;
    m.items[0].title = "../../etc/passwd".into();
    m.items[1].title = "Carte des forêts — 北京".into();
    let id = repo.write_snapshot(&m).await?;
    let zip_path = dir.path().join("export.zip");
    let report = repo.export_zip(&id, &zip_path).await?;
    assert_eq!(report.files as usize, m.blob_uses().len(), "one file per blob use in the manifest");

    let tested = unzip(&["-t"], &zip_path)?;
    assert!(tested.contains("No errors detected"), "unzip -t must find the archive sound: {tested}");
    let listing = unzip(&["-Z1"], &zip_path)?;
    let names: Vec<&str> = listing.lines().collect();
    assert!(names.contains(&"manifest.json"), "manifest.json is at the root: {names:?}");
    for it in &m.items {
        let real = it.data.as_ref().and_then(|d| d.file_name.clone()).expect("fixture data has a file name");
        let pdf = orgvault_core::repo::sanitize_name(&real);
        let data = format!("[{}]/data/{pdf}", it.id);
        let hit = names.iter().find(|n| n.contains(&format!("[{}]", it.id)) && n.ends_with("item.json"));
        assert!(hit.is_some(), "item {} has a folder with item.json: {names:?}", it.id);
        assert!(
            names.iter().any(|n| n.ends_with(&data)),
            "data file keeps its real (sanitized) name {data}: {names:?}"
        );
        assert!(
            names.iter().any(|n| n.contains(&format!("[{}]/resources/img/legend.txt", it.id))),
            "resources keep their path"
        );
        assert!(names.iter().any(|n| n.contains(&format!("[{}]/thumbnail/thumb.png", it.id))), "thumbnail is there");
    }
    assert!(
        names.iter().any(|n| n.starts_with("items/Carte des forêts — 北京 [item0001]/")),
        "Unicode titles stay readable: {names:?}"
    );
    assert!(
        names.iter().all(|n| !n.split('/').any(|s| s == "..") && !n.starts_with('/')),
        "no entry escapes: {names:?}"
    );
    assert!(
        names.contains(&"users/ann/user.json") && names.iter().any(|n| n.starts_with("groups/Field crews [g1]/")),
        "users and groups have folders"
    );

    // extract with unzip and compare a data file byte for byte
    let out = dir.path().join("unzipped");
    unzip(&["-q", "-d", out.to_str().expect("utf-8 path")], &zip_path)?;
    let data_blob = &m.items[2].data.as_ref().expect("data").blob;
    let extracted = std::fs::read(out.join("items/Map 2 [item0002]/data/Map 2.pdf"))?;
    assert_eq!(extracted, repo.get_blob(data_blob).await?.to_vec(), "the extracted file is the stored content");

    // import into a fresh repository
    let dir2 = tempfile::tempdir()?;
    let other = Repository::open_for_backup(&local_target(dir2.path()), InitPolicy::IfEmpty).await?;
    let imported = other.import_zip(&zip_path).await?;
    assert_eq!(other.manifest(&imported).await?, m, "the imported manifest equals the exported one");
    assert_eq!(imported, id, "the same manifest gives the same snapshot id in any repository");
    let verify = other.verify(&imported, None, &NoProgress).await?;
    assert!(verify.is_ok(), "the imported snapshot verifies: {:?}", verify.problems);
    Ok(())
}

fn write_zip(path: &std::path::Path, entries: &[(&str, &[u8])]) -> anyhow::Result<()> {
    let mut zw = zip::ZipWriter::new(std::fs::File::create(path)?);
    for (name, body) in entries {
        zw.start_file(*name, SimpleFileOptions::default())?;
        zw.write_all(body)?;
    }
    zw.finish()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_zip_slip_and_malformed_manifests() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    let m = stored_manifest(&repo, "n", 1_700_000_000_000, 0, 2).await?;
    let id = repo.write_snapshot(&m).await?;
    let good = dir.path().join("good.zip");
    repo.export_zip(&id, &good).await?;
    let manifest_text = {
        let mut a = zip::ZipArchive::new(std::fs::File::open(&good)?)?;
        let mut s = String::new();
        std::io::Read::read_to_string(&mut a.by_name("manifest.json")?, &mut s)?;
        s
    };

    let expect_zip_err = |r: Result<_, RepoError>, entry: &str, words: &str| match r {
        Err(RepoError::Zip { entry: e, reason, .. }) => {
            assert_eq!(e, entry, "the error names the entry at fault");
            assert!(reason.contains(words), "the reason says {words:?}: {reason}");
        }
        Err(other) => panic!("expected a zip error naming {entry}, got {other}"),
        Ok(_) => panic!("a zip with a bad {entry} must be refused"),
    };

    let slip = dir.path().join("slip.zip");
    write_zip(&slip, &[("manifest.json", manifest_text.as_bytes()), ("../evil", b"owned")])?;
    expect_zip_err(repo.import_zip(&slip).await, "../evil", "zip slip");
    let nested = dir.path().join("nested.zip");
    write_zip(&nested, &[("manifest.json", manifest_text.as_bytes()), ("items/a/../../../evil", b"owned")])?;
    expect_zip_err(repo.import_zip(&nested).await, "items/a/../../../evil", "escapes");
    assert!(!dir.path().join("evil").exists(), "nothing is written outside");

    let broken = dir.path().join("broken.zip");
    write_zip(&broken, &[("manifest.json", b"{\"format\": \"orgvault-zip\", ")])?;
    expect_zip_err(repo.import_zip(&broken).await, "manifest.json", "malformed JSON");

    let mut v: serde_json::Value = serde_json::from_str(&manifest_text)?;
    v["manifest"]["items"][1].as_object_mut().expect("item object").remove("item_json");
    let missing_field = dir.path().join("field.zip");
    write_zip(&missing_field, &[("manifest.json", v.to_string().as_bytes())])?;
    expect_zip_err(
        repo.import_zip(&missing_field).await,
        "manifest.json",
        "manifest.items[1]: missing field `item_json`",
    );

    let no_manifest = dir.path().join("none.zip");
    write_zip(&no_manifest, &[("hello.txt", b"hi")])?;
    expect_zip_err(repo.import_zip(&no_manifest).await, "manifest.json", "missing");

    // a file whose content does not match the blob id the manifest gives
    let v: serde_json::Value = serde_json::from_str(&manifest_text)?;
    let first = v["files"][0]["path"].as_str().expect("a file").to_owned();
    let mut entries: Vec<(String, Vec<u8>)> = vec![("manifest.json".into(), manifest_text.clone().into_bytes())];
    for f in v["files"].as_array().expect("files") {
        let p = f["path"].as_str().expect("path").to_owned();
        let body = if p == first {
            b"tampered".to_vec()
        } else {
            repo.get_blob(&BlobRef {
                id: f["blob"].as_str().expect("id").parse()?,
                size: f["size"].as_u64().expect("size"),
            })
            .await?
            .to_vec()
        };
        entries.push((p, body));
    }
    let tampered = dir.path().join("tampered.zip");
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    write_zip(&tampered, &refs)?;
    let dir2 = tempfile::tempdir()?;
    let other = Repository::open_for_backup(&local_target(dir2.path()), InitPolicy::IfEmpty).await?;
    expect_zip_err(other.import_zip(&tampered).await, &first, "does not match");
    assert!(other.snapshots().await?.is_empty(), "a refused import writes no snapshot");
    Ok(())
}

/// Sets the uncompressed size the zip declares for `name` (local header and central directory)
/// to `size`, leaving the data as it is: how a forged or broken zip lies about an entry.
fn forge_size(zip: &[u8], name: &str, size: u32) -> Vec<u8> {
    let mut out = zip.to_vec();
    let name = name.as_bytes();
    let mut patched = 0;
    for at in 0..out.len().saturating_sub(46) {
        let field = |name_len_at: usize, name_at: usize| {
            let len = u16::from_le_bytes([out[at + name_len_at], out[at + name_len_at + 1]]) as usize;
            len == name.len() && out.get(at + name_at..at + name_at + len) == Some(name)
        };
        let size_at = match &out[at..at + 4] {
            b"PK\x03\x04" if field(26, 30) => 22,
            b"PK\x01\x02" if field(28, 46) => 24,
            _ => continue,
        };
        out[at + size_at..at + size_at + 4].copy_from_slice(&size.to_le_bytes());
        patched += 1;
    }
    assert_eq!(patched, 2, "the entry's local header and central directory record are both patched");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_bounds_decompression_by_recorded_sizes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    let m = stored_manifest(&repo, "n", 1_700_000_000_000, 0, 1).await?;
    let id = repo.write_snapshot(&m).await?;
    let good = dir.path().join("good.zip");
    repo.export_zip(&id, &good).await?;
    let manifest_text = {
        let mut a = zip::ZipArchive::new(std::fs::File::open(&good)?)?;
        let mut s = String::new();
        std::io::Read::read_to_string(&mut a.by_name("manifest.json")?, &mut s)?;
        s
    };
    let v: serde_json::Value = serde_json::from_str(&manifest_text)?;
    let first = &v["files"][0];
    let (first_path, first_size) = (first["path"].as_str().expect("path"), first["size"].as_u64().expect("size"));
    let mut others: Vec<(String, Vec<u8>)> = Vec::new();
    for f in v["files"].as_array().expect("files") {
        let p = f["path"].as_str().expect("path").to_owned();
        if p != first_path {
            let blob =
                BlobRef { id: f["blob"].as_str().expect("id").parse()?, size: f["size"].as_u64().expect("size") };
            others.push((p, repo.get_blob(&blob).await?.to_vec()));
        }
    }
    let bodies = |first_body: Vec<u8>| -> Vec<(String, Vec<u8>)> {
        let mut entries = vec![("manifest.json".to_string(), manifest_text.clone().into_bytes())];
        entries.push((first_path.to_owned(), first_body));
        entries.extend(others.iter().cloned());
        entries
    };
    let zip_bytes = |entries: &[(String, Vec<u8>)]| -> anyhow::Result<Vec<u8>> {
        let path = dir.path().join("scratch.zip");
        let refs: Vec<(&str, &[u8])> = entries.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
        write_zip(&path, &refs)?;
        Ok(std::fs::read(&path)?)
    };
    let import = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write zip");
        let dir2 = tempfile::tempdir().expect("temp dir");
        async move {
            let other =
                Repository::open_for_backup(&local_target(dir2.path()), InitPolicy::IfEmpty).await.expect("repository");
            let got = other.import_zip(&path).await;
            assert!(other.snapshots().await.expect("list").is_empty(), "a refused import writes no snapshot");
            got
        }
    };
    let expect = |got: Result<_, RepoError>, entry: &str, words: &str| match got {
        Err(RepoError::Zip { entry: e, reason, .. }) => {
            assert_eq!(e, entry, "the error names the entry at fault");
            assert!(reason.contains(words), "the reason says {words:?}: {reason}");
        }
        Err(other) => panic!("expected a zip error naming {entry}, got {other}"),
        Ok(_) => panic!("a zip with a bad {entry} must be refused"),
    };

    // A deflate stream that expands to 64 MiB where the manifest and the zip say `first_size`.
    let bomb = zip_bytes(&bodies(vec![0u8; 64 * 1024 * 1024]))?;
    assert!(bomb.len() < 1024 * 1024, "the bomb is small as a zip ({} bytes)", bomb.len());
    let forged = forge_size(&bomb, first_path, first_size as u32);
    expect(import("bomb.zip", forged).await, first_path, &format!("more than the {first_size} bytes recorded"));

    // An entry whose declared size differs from the recorded one is refused before reading.
    let honest = zip_bytes(&bodies(vec![0u8; first_size as usize]))?;
    let huge = forge_size(&honest, first_path, u32::MAX - 1);
    expect(import("huge.zip", huge).await, first_path, "does not match");

    // manifest.json itself: a declared size over the limit, and a stream longer than declared.
    let huge_manifest = forge_size(&honest, "manifest.json", u32::MAX - 1);
    expect(import("huge-manifest.zip", huge_manifest).await, "manifest.json", "over the limit");
    let short_manifest = forge_size(&honest, "manifest.json", 100);
    expect(import("short-manifest.zip", short_manifest).await, "manifest.json", "more than the 100 bytes");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_never_replaces_a_file_that_is_already_there() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    let m = stored_manifest(&repo, "nightly", 1_700_000_000_000, 0, 2).await?;
    let id = repo.write_snapshot(&m).await?;
    let out = dir.path().join("report.zip");
    std::fs::write(&out, b"the user's own file")?;
    let err = repo.export_zip(&id, &out).await.expect_err("an existing file is refused");
    assert!(err.to_string().contains("already exists"), "the error says why: {err}");
    assert_eq!(std::fs::read(&out)?, b"the user's own file", "the existing file is left as it was");

    let out = dir.path().join("other.zip");
    let partial = dir.path().join("other.zip.partial");
    std::fs::write(&partial, b"not ours either")?;
    repo.export_zip(&id, &out).await.expect_err("an existing .partial beside it is refused too");
    assert_eq!(std::fs::read(&partial)?, b"not ours either", "the file named like our partial is left alone");
    assert!(!out.exists(), "nothing was written");
    Ok(())
}
