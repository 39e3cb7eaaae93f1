//! Encrypted repositories from the command line: a new repository is encrypted by default and
//! prints its recovery key once; reads need the password; `key` manages the keys; `export-zip`
//! warns that a zip is plain, or writes an AES-encrypted one that imports back.

use portal_sim::{RunningSim, SimConfig};

use crate::support::{all_files, contains, orgvault, stderr, REPOSITORY_PASSWORD};

async fn with_env(data: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"));
    cmd.args(args).env("ORGVAULT_DATA_DIR", data).env_remove("ORGVAULT_LOG").stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.expect("the orgvault binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_repository_is_encrypted_and_its_keys_and_zips_are_managed_from_the_cli() {
    let sim =
        RunningSim::start(SimConfig { orgs: 1, items: 8, users: 2, groups: 1, ..SimConfig::default() }).await.unwrap();
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("repo").display().to_string();
    let out = orgvault(
        data.path(),
        &org.admin.password,
        &["backup", "--portal", &org.portal_url, "--username", &org.admin.username, "--to", &to],
    )
    .await;
    assert!(out.status.success(), "the backup succeeds: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Recovery key"), "the recovery key is printed once at creation: {err}");
    let config = std::fs::read_to_string(dir.path().join("repo/config")).unwrap();
    assert!(config.contains("\"version\": 2"), "a new repository is encrypted by default: {config}");
    for (path, bytes) in all_files(dir.path()) {
        assert!(!contains(&bytes, REPOSITORY_PASSWORD), "the password is in no stored file ({})", path.display());
    }

    let wrong = with_env(data.path(), &[("ORGVAULT_REPOSITORY_PASSWORD", "wrong")], &["snapshots", "--to", &to]).await;
    assert!(!wrong.status.success(), "a wrong password fails");
    assert!(stderr(&wrong).contains("wrong password"), "and says so: {}", stderr(&wrong));
    let none = with_env(data.path(), &[], &["snapshots", "--to", &to]).await;
    assert!(!none.status.success(), "no password and no terminal fails");
    assert!(stderr(&none).contains("ORGVAULT_REPOSITORY_PASSWORD"), "naming the variable: {}", stderr(&none));

    let list = orgvault(data.path(), "unused", &["key", "list", "--to", &to, "--json"]).await;
    assert!(list.status.success(), "{}", stderr(&list));
    let keys: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(keys.as_array().map(Vec::len), Some(2), "password and recovery key: {keys}");
    let add = with_env(
        data.path(),
        &[("ORGVAULT_REPOSITORY_PASSWORD", REPOSITORY_PASSWORD), ("ORGVAULT_NEW_REPOSITORY_PASSWORD", "second")],
        &["key", "add", "--to", &to],
    )
    .await;
    assert!(add.status.success(), "{}", stderr(&add));
    let by_second =
        with_env(data.path(), &[("ORGVAULT_REPOSITORY_PASSWORD", "second")], &["snapshots", "--to", &to]).await;
    assert!(by_second.status.success(), "the added password opens the repository: {}", stderr(&by_second));

    let plain_zip = dir.path().join("plain.zip").display().to_string();
    let out =
        orgvault(data.path(), "unused", &["export-zip", "--to", &to, "--snapshot", "latest", "--out", &plain_zip])
            .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("will NOT be"),
        "exporting an encrypted repository warns that the zip is plain: {}",
        stderr(&out)
    );

    let aes_zip = dir.path().join("aes.zip").display().to_string();
    let env = [("ORGVAULT_REPOSITORY_PASSWORD", REPOSITORY_PASSWORD), ("ZIP_PW", "zip secret")];
    let out = with_env(
        data.path(),
        &env,
        &["export-zip", "--to", &to, "--snapshot", "latest", "--out", &aes_zip, "--zip-password-env", "ZIP_PW"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let zip_bytes = std::fs::read(dir.path().join("aes.zip")).unwrap();
    assert!(!contains(&zip_bytes, "\"items\""), "the encrypted zip's manifest is not readable");
    let other = dir.path().join("other").display().to_string();
    let refused = with_env(data.path(), &env, &["import-zip", "--to", &other, &aes_zip]).await;
    assert!(!refused.status.success(), "an encrypted zip needs its password");
    assert!(stderr(&refused).contains("zip is encrypted"), "and says so: {}", stderr(&refused));
    let imported =
        with_env(data.path(), &env, &["import-zip", "--to", &other, &aes_zip, "--zip-password-env", "ZIP_PW"]).await;
    assert!(imported.status.success(), "the AES zip imports into a new encrypted repository: {}", stderr(&imported));
    let verify = with_env(data.path(), &env, &["verify", "--to", &other]).await;
    assert!(verify.status.success(), "and verifies there: {}", stderr(&verify));
}
