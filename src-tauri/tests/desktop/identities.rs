//! "Save and verify" and the demo, against portal-sim on loopback.

use std::sync::Arc;

use orgvault_core::vault::{MemoryVault, SecretKey, SecretStore};
use orgvault_core::ErrorCode;
use orgvault_desktop::commands::{demo, identities};
use orgvault_desktop::secrets::VaultSource;
use orgvault_desktop::state::AppState;
use orgvault_desktop::views::{IdentityInput, SignInKind, StorageInput};

async fn app_state(dir: &std::path::Path) -> (AppState, Arc<MemoryVault>) {
    arcgis::install_crypto_provider();
    let secrets = Arc::new(MemoryVault::default());
    let state =
        AppState::open(dir, (secrets.clone(), VaultSource::MemoryOnly("test".into())), None).await.expect("open state");
    (state, secrets)
}

fn text(store: &MemoryVault, key: &SecretKey) -> Option<String> {
    store.get(key).expect("get").map(|b| String::from_utf8(b.to_vec()).expect("utf-8"))
}

fn input(portal_url: &str, username: &str, password: &str, folder: &std::path::Path) -> IdentityInput {
    IdentityInput {
        id: None,
        name: "Acme".into(),
        portal_url: portal_url.into(),
        sign_in: SignInKind::Builtin,
        username: username.into(),
        password: Some(password.into()),
        app_id: None,
        storage: StorageInput::Local { path: folder.display().to_string() },
        allow_insecure_http: false,
        repository_password: None,
    }
}

#[tokio::test]
async fn demo_creates_two_admin_identities_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, secrets) = app_state(dir.path()).await;
    let first = demo::start(&state).await.expect("demo starts");
    let names: Vec<&str> = first.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, demo::DEMO_NAMES.to_vec(), "two demo identities, A then B");
    assert!(
        text(&secrets, &SecretKey::password(&first[0].id)).is_some(),
        "the demo admin's password is in the secret store, not the database"
    );
    let again = demo::start(&state).await.expect("demo starts again");
    assert_eq!(
        again.iter().map(|i| &i.id).collect::<Vec<_>>(),
        first.iter().map(|i| &i.id).collect::<Vec<_>>(),
        "starting the demo again reuses the identities"
    );
    assert_eq!(state.identities().list().await.expect("list").len(), 2, "no duplicate demo identities");
}

#[tokio::test]
async fn demo_leaves_a_users_identity_of_the_same_name_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, secrets) = app_state(dir.path()).await;
    let mine = orgvault_core::identity::IdentitySpec {
        name: demo::DEMO_NAMES[0].into(),
        portal_url: "https://mine.maps.arcgis.com".into(),
        kind: orgvault_core::identity::PortalKind::Online,
        sign_in: orgvault_core::identity::SignIn::Builtin { username: "me".into() },
        storage: orgvault_core::identity::Storage::Local { path: dir.path().join("mine").display().to_string() },
        custom_headers: Vec::new(),
        tls: Default::default(),
    };
    let mine = state.identities().create(mine).await.expect("the user's identity");
    secrets.put(&SecretKey::password(&mine.id), b"my-own-password").expect("put");
    let demo_ids: Vec<String> = demo::start(&state).await.expect("demo starts").into_iter().map(|v| v.id).collect();
    demo::start(&state).await.expect("demo starts again");
    let after = state.identity(&mine.id).await.expect("the user's identity is still there");
    assert_eq!(after.spec, mine.spec, "the demo must not overwrite a user's identity that shares its name");
    assert_eq!(
        text(&secrets, &SecretKey::password(&mine.id)).as_deref(),
        Some("my-own-password"),
        "the demo must not overwrite the user's password"
    );
    assert!(!demo_ids.contains(&mine.id), "the demo made its own identities");
    assert_eq!(state.identities().list().await.expect("list").len(), 3, "the user's identity and the two demo ones");
}

#[tokio::test]
async fn an_edit_that_changes_the_portal_url_asks_for_the_password_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, secrets) = app_state(dir.path()).await;
    let demos = demo::start(&state).await.expect("demo");
    let identity = state.identity(&demos[0].id).await.expect("demo identity");
    // A second listener stands for another host; it records every byte that reaches it.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let other = format!("http://{}/portal", listener.local_addr().expect("addr"));
    let record = seen.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 * 1024];
            let n = tokio::time::timeout(std::time::Duration::from_secs(2), socket.read(&mut buf))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            record.lock().expect("lock").extend_from_slice(&buf[..n]);
            let body = r#"{"authInfo":{"isTokenBasedSecurity":true}}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    let folder = std::path::PathBuf::from(match &identity.spec.storage {
        orgvault_core::identity::Storage::Local { path } => path.clone(),
        other => panic!("the demo stores locally, not {other:?}"),
    });
    let mut edit = input(&other, identity.spec.sign_in.username().expect("user"), "", &folder);
    edit.id = Some(identity.id.clone());
    edit.name = identity.spec.name.clone();
    edit.password = None;
    let err = identities::save(&state, edit).await.expect_err("a new URL without a password");
    assert_eq!(err.code, ErrorCode::InvalidInput, "the user is asked for the password: {err:?}");
    assert!(err.message.contains("password"), "the message asks for the password: {}", err.message);
    let password = text(&secrets, &SecretKey::password(&identity.id)).expect("the demo password is saved");
    let received = String::from_utf8_lossy(&seen.lock().expect("lock")).into_owned();
    assert!(
        !received.contains(&password) && !received.contains("generateToken"),
        "the stored password must never be sent to the new URL: {received}"
    );
    assert_eq!(state.identity(&identity.id).await.expect("get").spec.portal_url, identity.spec.portal_url, "unchanged");
}

#[tokio::test]
async fn save_and_verify_refuses_a_non_admin_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, secrets) = app_state(dir.path()).await;
    demo::start(&state).await.expect("demo");
    let (url, user, admin) = {
        let sim = state.demo.lock().await;
        let org = &sim.as_ref().expect("running").orgs[0];
        (org.portal_url.clone(), org.user.clone(), org.admin.clone())
    };
    let before = state.identities().list().await.expect("list").len();
    let folder = dir.path().join("backups");

    let err = identities::save(&state, input(&url, &user.username, &user.password, &folder))
        .await
        .expect_err("a non-admin must be refused");
    assert_eq!(err.code, ErrorCode::NotAdmin, "the UI branches on not_admin: {err:?}");
    assert!(!err.message.contains(&user.password), "the message never shows the password");
    assert_eq!(state.identities().list().await.expect("list").len(), before, "a refused identity is not stored");

    let err = identities::save(&state, input(&url, &admin.username, "wrong-password", &folder))
        .await
        .expect_err("a wrong password must be refused");
    assert!(!err.message.contains("wrong-password"), "the message never shows the password: {}", err.message);

    let saved = identities::save(&state, input(&url, &admin.username, &admin.password, &folder))
        .await
        .expect("the admin is accepted")
        .identity;
    assert_eq!(saved.username, admin.username, "the identity signs in as the admin");
    assert_eq!(
        text(&secrets, &SecretKey::password(&saved.id)).as_deref(),
        Some(admin.password.as_str()),
        "the password went to the secret store"
    );
    assert!(folder.is_dir(), "the storage check creates the backup folder");
}

#[tokio::test]
async fn a_repository_password_creates_an_encrypted_repository_and_answers_its_recovery_key_once() {
    use orgvault_core::repo::{RepoKey, RepoState, Repository};
    use orgvault_core::storage::StorageTarget;
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, secrets) = app_state(dir.path()).await;
    demo::start(&state).await.expect("demo");
    let (url, admin) = {
        let sim = state.demo.lock().await;
        let org = &sim.as_ref().expect("running").orgs[0];
        (org.portal_url.clone(), org.admin.clone())
    };
    let before = state.identities().list().await.expect("list").len();
    let secrets_before = secrets.keys().len();

    // A folder that already holds a plain repository: the password is refused, nothing is kept.
    let plain = dir.path().join("plain");
    let target = |p: &std::path::Path| StorageTarget::Local { path: p.to_owned() };
    Repository::open_for_backup(&target(&plain), orgvault_core::repo::InitPolicy::IfEmpty).await.expect("plain repo");
    let mut refused = input(&url, &admin.username, &admin.password, &plain);
    refused.repository_password = Some("pw for a plain one".into());
    let err = identities::save(&state, refused).await.expect_err("a plain repository is not silently kept plain");
    assert_eq!(err.code, ErrorCode::RepositoryNotEncrypted, "refused by the repository set-up itself: {err:?}");
    assert_eq!(secrets.keys().len(), secrets_before, "the removed identity leaves no secret behind");
    assert!(!err.message.contains("pw for a plain one"), "the message never shows the password: {}", err.message);
    assert_eq!(
        state.identities().list().await.expect("list").len(),
        before,
        "the refused new identity is removed again"
    );

    let folder = dir.path().join("sealed");
    let mut new = input(&url, &admin.username, &admin.password, &folder);
    new.name = "Acme sealed".into();
    new.repository_password = Some("correct horse".into());
    let saved = identities::save(&state, new).await.expect("saved with an encrypted repository");
    let key = saved.recovery_key.clone().expect("a new encrypted repository answers its recovery key");
    assert!(!format!("{saved:?}").contains(&key), "the recovery key never shows in debug output");
    assert_eq!(Repository::state(&target(&folder)).await.expect("state"), RepoState::Encrypted);
    assert_eq!(
        text(&secrets, &SecretKey::repository_password(&saved.identity.id)).as_deref(),
        Some("correct horse"),
        "the password is kept in the vault for scheduled runs"
    );
    Repository::open_with_key(&target(&folder), &RepoKey::Password(arcgis::Secret::new(key)))
        .await
        .expect("the recovery key opens the repository");
}

#[tokio::test]
async fn settings_header_values_live_in_the_vault_and_are_never_read_back() {
    use orgvault_desktop::commands::settings;
    use orgvault_desktop::views::HeaderSetting;
    let dir = tempfile::tempdir().expect("tempdir");
    // A settings.json as an older version wrote it, with the value in it.
    std::fs::write(
        dir.path().join("settings.json"),
        r#"{"log_level":"info","headers":[["X-Old-Key","old-value-1234"]]}"#,
    )
    .expect("old settings");
    let secrets = Arc::new(MemoryVault::default());
    let state = AppState::open(dir.path(), (secrets.clone(), VaultSource::KeyFile("test".into())), None)
        .await
        .expect("open state");
    let settings_file = || std::fs::read_to_string(dir.path().join("settings.json")).expect("settings.json");
    assert!(!settings_file().contains("old-value-1234"), "an old header value leaves settings.json at start");
    assert!(
        text(&secrets, &SecretKey::settings_headers()).is_some_and(|v| v.contains("old-value-1234")),
        "and is in the vault"
    );

    let mut shown = settings::get(&state);
    assert_eq!(
        shown.headers,
        vec![HeaderSetting { name: "X-Old-Key".into(), value: None }],
        "the UI gets the header's name, never its value"
    );
    shown.headers.push(HeaderSetting { name: "X-Gateway-Key".into(), value: Some("gw-value-5678".into()) });
    settings::save_to(&state, shown.clone()).expect("save");
    assert!(!settings_file().contains("gw-value-5678"), "a header value is never written to settings.json");
    assert!(settings_file().contains("X-Gateway-Key"), "its name is");
    let again = settings::get(&state);
    assert!(again.headers.iter().all(|h| h.value.is_none()), "values are write-only: {:?}", again.headers);
    settings::save_to(&state, again).expect("saving without values keeps them");
    let stored = text(&secrets, &SecretKey::settings_headers()).expect("values in the vault");
    assert!(stored.contains("old-value-1234") && stored.contains("gw-value-5678"), "both values kept");

    let mut missing = settings::get(&state);
    missing.headers.push(HeaderSetting { name: "X-New".into(), value: None });
    let err = settings::save_to(&state, missing).expect_err("a new header needs a value");
    assert_eq!(err.code, ErrorCode::InvalidInput, "{err:?}");
}
