//! "Save and verify" and the demo, against portal-sim on loopback.

use std::sync::Arc;

use orgvault_core::vault::{MemoryVault, SecretKey, SecretStore};
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
    assert_eq!(err.code, "not_admin", "the UI branches on not_admin: {err:?}");
    assert!(!err.message.contains(&user.password), "the message never shows the password");
    assert_eq!(state.identities().list().await.expect("list").len(), before, "a refused identity is not stored");

    let err = identities::save(&state, input(&url, &admin.username, "wrong-password", &folder))
        .await
        .expect_err("a wrong password must be refused");
    assert!(!err.message.contains("wrong-password"), "the message never shows the password: {}", err.message);

    let saved = identities::save(&state, input(&url, &admin.username, &admin.password, &folder))
        .await
        .expect("the admin is accepted");
    assert_eq!(saved.username, admin.username, "the identity signs in as the admin");
    assert_eq!(
        text(&secrets, &SecretKey::password(&saved.id)).as_deref(),
        Some(admin.password.as_str()),
        "the password went to the secret store"
    );
    assert!(folder.is_dir(), "the storage check creates the backup folder");
}
