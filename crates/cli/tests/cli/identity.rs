//! `orgvault identity add|list|check|remove` and `scan --identity`, as a script runs them,
//! against portal-sim over loopback. The vault key goes to a key file (ORGVAULT_VAULT_KEY=file),
//! so the tests never touch the keyring of whoever runs them.

use std::path::Path;
use std::process::Stdio;

use portal_sim::{RunningSim, SimConfig};

use crate::support::{all_files, contains, json_line, run, stderr, stdout};

async fn sim() -> RunningSim {
    RunningSim::start(SimConfig { items: 40, users: 8, groups: 3, ..SimConfig::default() }).await.expect("sim starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_list_check_scan_and_remove_an_identity() {
    let sim = sim().await;
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let dest = data.path().join("acme-backups");
    let dest = dest.to_str().unwrap();

    let out = run(
        data.path(),
        &[
            "identity",
            "add",
            "--name",
            "Acme",
            "--portal",
            &org.portal_url,
            "--username",
            &org.admin.username,
            "--password-stdin",
            "--to",
            dest,
            "--json",
        ],
        Some(&format!("{}\n", org.admin.password)),
        None,
    )
    .await;
    assert!(out.status.success(), "the admin is accepted: {}", stderr(&out));
    let added = json_line(&out);
    let id = added["id"].as_str().expect("the new identity's id").to_owned();
    assert_eq!(added["is_admin"], true, "the saved identity was verified as an admin: {added}");
    assert_eq!(added["org_id"], org.id.as_str(), "the identity belongs to the simulated org: {added}");
    assert_eq!(added["storage"], dest, "the storage is the --to folder: {added}");
    assert!(Path::new(dest).is_dir(), "the storage check created the backup folder");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("vault.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the vault key file is private to its owner");
    }

    let again = run(
        data.path(),
        &["identity", "add", "--name", "acme", "--portal", &org.portal_url, "-u", &org.admin.username],
        None,
        Some(&org.admin.password),
    )
    .await;
    assert!(!again.status.success(), "a second identity of the same name is refused");
    assert!(stderr(&again).contains("exists already"), "the refusal says why: {}", stderr(&again));

    let out = run(data.path(), &["identity", "list", "--json"], None, None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let list = json_line(&out);
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 1, "one identity is listed: {list:?}");
    assert_eq!(list[0]["id"], id.as_str(), "the listed identity is the added one");
    assert_eq!(list[0]["token"], "valid", "a saved password makes the token state valid");
    assert_eq!(list[0]["username"], org.admin.username.as_str(), "the username is shown");
    let out = run(data.path(), &["identity", "list"], None, None).await;
    assert!(stdout(&out).contains("Acme") && stdout(&out).contains("valid"), "the table shows it: {}", stdout(&out));

    let out = run(data.path(), &["identity", "check", "Acme", "--json"], None, None).await;
    assert!(out.status.success(), "check signs in with the saved password: {}", stderr(&out));
    let checked = json_line(&out);
    assert_eq!(checked["ok"], true, "everything passes: {checked}");
    assert_eq!(checked["sign_in"]["ok"], true, "sign-in passes: {checked}");
    assert_eq!(checked["admin"]["ok"], true, "the admin check passes: {checked}");
    assert_eq!(checked["storage"]["ok"], true, "the storage check passes: {checked}");
    assert_eq!(checked["finding"], "ok", "the token watch's finding is shown: {checked}");
    assert!(checked["checked_ms"].as_i64().is_some(), "with the time of the check: {checked}");

    // No password anywhere in the environment: it must come from the vault.
    let out = run(data.path(), &["scan", "--identity", "Acme", "--json"], None, None).await;
    assert!(out.status.success(), "scan --identity signs in from the vault: {}", stderr(&out));
    let scanned = json_line(&out);
    let counts = sim.control().org(&org.url_key).unwrap();
    assert_eq!(scanned["items"].as_u64().unwrap() as usize, counts.items, "the scan read the identity's org");
    let out = run(data.path(), &["identity", "list", "--json"], None, None).await;
    assert_eq!(json_line(&out).as_array().map(Vec::len), Some(1), "scan --identity adds no second identity");

    let clash =
        run(data.path(), &["scan", "--identity", "Acme", "--portal", &org.portal_url], None, Some(&org.admin.password))
            .await;
    assert!(!clash.status.success(), "--identity and --portal together are refused");

    let out = run(data.path(), &["identity", "remove", &id], None, None).await;
    assert!(out.status.success(), "remove by id: {}", stderr(&out));
    let out = run(data.path(), &["identity", "list", "--json"], None, None).await;
    assert_eq!(json_line(&out), serde_json::json!([]), "the removed identity is gone");
    let out = run(data.path(), &["scan", "--identity", "Acme"], None, None).await;
    assert!(!out.status.success(), "a removed identity cannot scan");
    assert!(stderr(&out).contains("no saved identity"), "the error says it is unknown: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_is_refused_with_the_reason_and_nothing_is_saved() {
    let sim = sim().await;
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let out = run(
        data.path(),
        &["identity", "add", "--name", "Viewer", "--portal", &org.portal_url, "--username", &org.user.username],
        None,
        Some(&org.user.password),
    )
    .await;
    assert!(!out.status.success(), "a non-admin must be refused");
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "the refusal is one line: {err}");
    assert!(err.contains("not saved"), "the user learns nothing was saved: {err}");
    assert!(err.contains("not an administrator"), "the refusal says why: {err}");
    assert!(err.contains("portal:admin:"), "the refusal names the missing privileges: {err}");
    let out = run(data.path(), &["identity", "list", "--json"], None, None).await;
    assert_eq!(json_line(&out), serde_json::json!([]), "a refused identity is not saved");

    let out = run(
        data.path(),
        &["identity", "add", "--name", "Typo", "--portal", &org.portal_url, "--username", &org.admin.username],
        None,
        Some("wrong-password"),
    )
    .await;
    assert!(!out.status.success(), "a wrong password must be refused");
    assert!(stderr(&out).contains("sign-in failed"), "the refusal says the sign-in failed: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_database_or_the_log() {
    let sim = sim().await;
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let azure = "DefaultEndpointsProtocol=http;AccountName=nobody;AccountKey=Tm90LUEtUmVhbC1LZXktQnV0LVNlY3JldA==;BlobEndpoint=http://127.0.0.1:9/nobody";
    // An unreachable Azure account: the storage check must fail, and still leak nothing.
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"));
    let out = cmd
        .args([
            "--log-level",
            "trace",
            "identity",
            "add",
            "--name",
            "Az",
            "--portal",
            &org.portal_url,
            "-u",
            &org.admin.username,
            "--to",
            "az://backups",
        ])
        .env("ORGVAULT_DATA_DIR", data.path())
        .env("ORGVAULT_VAULT_KEY", "file")
        .env("ORGVAULT_PASSWORD", &org.admin.password)
        .env("AZURE_STORAGE_CONNECTION_STRING", azure)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("runs");
    assert!(!out.status.success(), "an Azure account that cannot be reached fails the storage check");
    assert!(stderr(&out).contains("storage"), "the failure names the storage: {}", stderr(&out));
    assert!(!stderr(&out).contains("Tm90LUEtUmVhbC1LZXkt"), "the account key never appears in an error");

    let out = run(
        data.path(),
        &[
            "--log-level",
            "trace",
            "identity",
            "add",
            "--name",
            "Acme",
            "--portal",
            &org.portal_url,
            "-u",
            &org.admin.username,
            "--password-stdin",
        ],
        Some(&format!("{}\n", org.admin.password)),
        None,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(data.path(), &["--log-level", "trace", "scan", "--identity", "Acme"], None, None).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let files = all_files(data.path());
    let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    assert!(names.iter().any(|n| n.contains("orgvault.log")), "a log was written: {names:?}");
    assert!(names.iter().any(|n| n.ends_with("vault.stronghold")), "the vault was written: {names:?}");
    assert!(names.iter().any(|n| n.contains("orgvault.sqlite")), "the database was written: {names:?}");
    let log: Vec<u8> = files
        .iter()
        .filter(|(p, _)| p.to_string_lossy().contains("orgvault.log"))
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert!(contains(&log, "identity added"), "the log recorded the add, so its silence about secrets means something");
    for (path, bytes) in &files {
        assert!(!contains(bytes, &org.admin.password), "the password must not be in {}", path.display());
        assert!(!contains(bytes, "Tm90LUEtUmVhbC1LZXkt"), "the Azure key must not be in {}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_values_come_from_stdin_or_a_file_and_stay_in_the_vault() {
    let sim = sim().await;
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let base = ["identity", "add", "--portal", &org.portal_url, "-u", &org.admin.username, "--password-stdin"];

    let on_command_line =
        [&base[..], &["--name", "Leaky", "--header", "X-Gateway-Key: gw-on-the-command-line"]].concat();
    let out = run(data.path(), &on_command_line, Some(&format!("{}\n", org.admin.password)), None).await;
    assert!(!out.status.success(), "a header value on the command line (visible in ps) must be refused");
    assert!(stderr(&out).contains("standard input"), "the refusal says where the value goes: {}", stderr(&out));

    let from_stdin = [&base[..], &["--name", "Acme", "--header", "X-Gateway-Key", "--json"]].concat();
    let out = run(data.path(), &from_stdin, Some(&format!("{}\ngw-from-stdin-4711\n", org.admin.password)), None).await;
    assert!(out.status.success(), "the header value is read from stdin after the password: {}", stderr(&out));

    let file = data.path().join("headers.txt");
    std::fs::write(&file, "# gateway\nX-Route: blue-from-file-0815\n").unwrap();
    let from_file = [&base[..], &["--name", "Beta", "--header-file", file.to_str().unwrap()]].concat();
    let out = run(data.path(), &from_file, Some(&format!("{}\n", org.admin.password)), None).await;
    assert!(out.status.success(), "the header values are read from --header-file: {}", stderr(&out));
    std::fs::remove_file(&file).unwrap();

    let out = run(data.path(), &["scan", "--identity", "Acme"], None, None).await;
    assert!(out.status.success(), "a saved identity signs in with its header from the vault: {}", stderr(&out));
    let out = run(data.path(), &["identity", "list", "--json"], None, None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    for (path, bytes) in all_files(data.path()) {
        for value in ["gw-from-stdin-4711", "blue-from-file-0815", "gw-on-the-command-line"] {
            assert!(!contains(&bytes, value), "the header value {value} must not be in {}", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_plain_http_portal_needs_allow_insecure_http() {
    let data = tempfile::tempdir().unwrap();
    // TEST-NET-1 is never routed; the refusal comes before anything is sent.
    let args =
        ["identity", "add", "--name", "Lab", "--portal", "http://192.0.2.1/portal", "-u", "admin", "--password-stdin"];
    let out = run(data.path(), &args, Some("pw\n"), None).await;
    assert!(!out.status.success(), "a remote plain-http portal is refused without the opt-in");
    assert!(stderr(&out).contains("--allow-insecure-http"), "the refusal names the opt-in: {}", stderr(&out));
    let out = run(data.path(), &["scan", "--portal", "http://192.0.2.1/portal", "-u", "admin"], None, Some("pw")).await;
    assert!(!out.status.success(), "scan refuses it too");
    assert!(stderr(&out).contains("--allow-insecure-http"), "the refusal names the opt-in: {}", stderr(&out));
}
