//! "Save and verify" against the simulated portal: an administrator is accepted, anyone else is
//! refused with the reason, the storage is checked, and saving keeps every secret out of SQLite.

use std::sync::Arc;
use std::time::Duration;

use arcgis::{RetryPolicy, Secret, SystemClock as ArcgisClock};
use orgvault_core::identity::move_header_values_to_vault;
use orgvault_core::identity::{
    credential_state, verify, Identities, IdentitySecrets, IdentitySpec, PortalKind, SignIn, SignInSecret, Storage,
    StorageSecret, TlsOptions, TokenState, VerifyOptions,
};
use orgvault_core::vault::{SecretKey, SecretStore, StrongholdVault, VaultKey, VAULT_FILE_NAME};
use orgvault_core::{Clock, Db, SystemClock};
use portal_sim::SimConfig;

use crate::support::start_sim;

fn options() -> VerifyOptions {
    VerifyOptions {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_attempts: 2,
            max_retry_after: Duration::from_millis(100),
            ..RetryPolicy::default()
        },
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        needed_storage_bytes: 0,
    }
}

fn spec(portal_url: &str, username: &str, storage: Storage) -> IdentitySpec {
    IdentitySpec {
        name: "Simulated org".into(),
        portal_url: portal_url.into(),
        kind: PortalKind::Online,
        sign_in: SignIn::Builtin { username: username.into() },
        storage,
        custom_headers: vec![],
        tls: TlsOptions::default(),
    }
}

fn password(p: &str) -> IdentitySecrets {
    IdentitySecrets {
        sign_in: SignInSecret::Password(Secret::new(p)),
        storage_secret: None,
        custom_headers: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_is_verified_and_a_non_admin_is_refused_with_the_reason() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 20, users: 6, groups: 2, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let folder = tempfile::tempdir()?;
    let local = Storage::Local { path: folder.path().join("backups").display().to_string() };

    let admin = spec(&org.portal_url, &org.admin.username, local.clone());
    let before = SystemClock.now_ms();
    let ok = verify(&admin, &password(&org.admin.password), &options(), Arc::new(ArcgisClock)).await?;
    assert!(ok.signed_in.is_admin, "the admin is an administrator");
    assert_eq!(ok.signed_in.org_id, org.id, "the verified org is the simulator's");
    assert_eq!(ok.signed_in.username, org.admin.username, "the portal names the signed-in admin");
    assert!(
        ok.signed_in.token_expires_ms.is_some_and(|t| t > before),
        "the token expiry is known and in the future: {:?}",
        ok.signed_in.token_expires_ms
    );
    assert!(ok.storage.ok && folder.path().join("backups").is_dir(), "the backup folder was checked and created");

    let user = spec(&org.portal_url, &org.user.username, local.clone());
    let err = verify(&user, &password(&org.user.password), &options(), Arc::new(ArcgisClock))
        .await
        .expect_err("a non-admin must be refused");
    assert_eq!(err.code(), orgvault_core::ErrorCode::NotAdmin, "the refusal says why in its code: {err}");
    let msg = err.to_string();
    assert!(msg.contains(&org.user.username), "the message names the account: {msg}");
    assert!(msg.contains("portal:admin:"), "the message names the missing privileges: {msg}");
    assert!(!msg.contains(&org.user.password), "the message never contains the password");

    let err = verify(&admin, &password("not-the-password"), &options(), Arc::new(ArcgisClock))
        .await
        .expect_err("a wrong password must be refused");
    assert_eq!(err.code(), orgvault_core::ErrorCode::SignIn, "a wrong password is a sign-in failure: {err}");
    assert!(!err.to_string().contains("not-the-password"), "the message never contains the password");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_administrator_role_that_can_only_view_is_refused_naming_what_a_backup_needs() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 20, users: 6, groups: 2, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    assert!(
        sim.control().make_view_only_admin(&org.url_key, &org.user.username),
        "the account becomes a view-only admin"
    );
    let folder = tempfile::tempdir()?;
    let local = Storage::Local { path: folder.path().display().to_string() };
    let viewer = spec(&org.portal_url, &org.user.username, local);
    let err = verify(&viewer, &password(&org.user.password), &options(), Arc::new(ArcgisClock))
        .await
        .expect_err("an administrator who can only view cannot back up (exports are items of their own)");
    assert_eq!(err.code(), orgvault_core::ErrorCode::NotAdmin, "refused as not enough of an administrator: {err}");
    let msg = err.to_string();
    assert!(msg.contains("portal:user:createItem"), "the message names the missing privilege: {msg}");
    assert!(!msg.contains("portal:admin:viewItems"), "and not the view privileges the role holds: {msg}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_that_fails_its_check_names_the_failing_step() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 10, users: 4, groups: 1, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x")?;
    let under_a_file = Storage::Local { path: file.join("backups").display().to_string() };
    let err = verify(
        &spec(&org.portal_url, &org.admin.username, under_a_file),
        &password(&org.admin.password),
        &options(),
        Arc::new(ArcgisClock),
    )
    .await
    .expect_err("a folder under a file cannot hold backups");
    assert_eq!(err.code(), orgvault_core::ErrorCode::StorageCheck, "a storage failure has its own code: {err}");
    assert!(err.to_string().contains("folder"), "the failing step is named: {err}");

    let azure = Storage::Azure { container: "backups".into(), cache_dir: dir.path().display().to_string() };
    let err = verify(
        &spec(&org.portal_url, &org.admin.username, azure),
        &password(&org.admin.password),
        &options(),
        Arc::new(ArcgisClock),
    )
    .await
    .expect_err("Azure without a connection string cannot be checked");
    assert!(err.to_string().contains("connection_string"), "the missing connection string is named: {err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_a_verified_identity_keeps_its_secrets_out_of_sqlite() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 10, users: 4, groups: 1, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let data = tempfile::tempdir()?;
    let azure_conn = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=U2VjcmV0LUF6dXJlLUtleS0xMjM0NQ==";
    let identity_spec = spec(
        &org.portal_url,
        &org.admin.username,
        Storage::Local { path: data.path().join("backups").display().to_string() },
    );
    let secret = password(&org.admin.password);
    verify(&identity_spec, &secret, &options(), Arc::new(ArcgisClock)).await?;

    let db = Db::open(&data.path().join("orgvault.sqlite")).await?;
    let identity = Identities::new(&db, &SystemClock).create(identity_spec).await?;
    let vault = StrongholdVault::open(&data.path().join(VAULT_FILE_NAME), VaultKey::generate())?;
    IdentitySecrets { storage_secret: Some(StorageSecret::AzureConnectionString(Secret::new(azure_conn))), ..secret }
        .save(&vault, &identity.id)?;
    assert_eq!(
        credential_state(&vault, &identity, SystemClock.now_ms())?,
        TokenState::Valid,
        "a saved password makes the identity valid"
    );
    assert!(vault.get(&SecretKey::password(&identity.id))?.is_some(), "the password is in the vault");
    db.close().await;

    let mut files = 0;
    for entry in std::fs::read_dir(data.path())? {
        let path = entry?.path();
        if !path.is_file() {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path)?;
        for (what, s) in [("password", org.admin.password.as_str()), ("Azure connection string", azure_conn)] {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "the {what} must not be in {} (SQLite, its WAL and the vault all checked)",
                path.display()
            );
        }
    }
    assert!(files >= 2, "the database and the vault were both checked ({files} files)");
    Ok(())
}

/// Every byte of the database files (main, WAL, journal) of a data folder.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    ["orgvault.sqlite", "orgvault.sqlite-wal", "orgvault.sqlite-journal"]
        .iter()
        .filter_map(|f| std::fs::read(dir.join(f)).ok())
        .flatten()
        .collect()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_values_live_in_the_vault_and_old_ones_move_there() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 5, users: 3, groups: 1, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let data = tempfile::tempdir()?;
    let db = Db::open(&data.path().join("orgvault.sqlite")).await?;
    let vault = StrongholdVault::open(&data.path().join(VAULT_FILE_NAME), VaultKey::generate())?;
    let ids = Identities::new(&db, &SystemClock);

    let mut with_header = spec(
        &org.portal_url,
        &org.admin.username,
        Storage::Local { path: data.path().join("b").display().to_string() },
    );
    with_header.custom_headers = vec!["X-Gateway-Key".into()];
    let secrets = IdentitySecrets {
        custom_headers: vec![("X-Gateway-Key".into(), Secret::new("gw-value-31337"))],
        ..password(&org.admin.password)
    };
    verify(&with_header, &secrets, &options(), Arc::new(ArcgisClock)).await?;
    let identity = ids.create(with_header).await?;
    secrets.save(&vault, &identity.id)?;
    assert_eq!(ids.get(&identity.id).await?.spec.custom_headers, vec!["X-Gateway-Key"], "the name is kept");
    let back = IdentitySecrets::load(&vault, &identity)?.expect("secrets");
    assert_eq!(back.custom_headers.len(), 1, "the value is in the vault");
    assert_eq!(back.custom_headers[0].1.expose(), "gw-value-31337", "the value round-trips");

    // A row as an older version wrote it: the value in the column.
    sqlx::query("INSERT INTO identities (id, name, portal_url, kind, sign_in, storage, custom_headers, created_ms, updated_ms) VALUES ('old1', 'Old', 'https://old.example.com', 'online', '{\"builtin\":{\"username\":\"a\"}}', '{\"local\":{\"path\":\"/b\"}}', '[[\"X-Legacy\",\"legacy-value-4242\"]]', 0, 0)")
        .execute(db.pool())
        .await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(db.pool()).await?;
    assert!(
        holds(&database_bytes(data.path()), "legacy-value-4242"),
        "the old row holds its value (the test's premise)"
    );
    assert_eq!(move_header_values_to_vault(&db, &vault).await?, 1, "one identity had values to move");
    assert_eq!(move_header_values_to_vault(&db, &vault).await?, 0, "moving again is a no-op");
    let old = ids.get("old1").await?;
    assert_eq!(old.spec.custom_headers, vec!["X-Legacy"], "the name stays in the table");
    let moved = orgvault_core::identity::load_header_values(&vault, &SecretKey::custom_headers("old1"))?;
    assert_eq!(moved.first().map(|(n, v)| (n.as_str(), v.expose())), Some(("X-Legacy", "legacy-value-4242")));
    db.close().await;

    let bytes = database_bytes(data.path());
    assert!(!bytes.is_empty(), "the database files were read");
    for value in ["gw-value-31337", "legacy-value-4242"] {
        assert!(!holds(&bytes, value), "the header value {value} must not be in the database or its WAL");
    }
    Ok(())
}
