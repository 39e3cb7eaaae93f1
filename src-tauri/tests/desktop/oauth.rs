//! OAuth "Save and verify" through the browser flow, against portal-sim's auto-approving
//! authorize page. The "browser" is an HTTP client that follows the portal's redirect to the
//! loopback listener, so no real browser is launched.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arcgis::Url;
use orgvault_core::identity::OAuthSecret;
use orgvault_core::vault::{MemoryVault, SecretKey, SecretStore};
use orgvault_core::ErrorCode;
use orgvault_desktop::browser::Browser;
use orgvault_desktop::commands::identities;
use orgvault_desktop::secrets::VaultSource;
use orgvault_desktop::state::AppState;
use orgvault_desktop::views::{IdentityInput, SignInKind, StorageInput, TokenState};
use portal_sim::{RunningSim, SimConfig};

/// Log lines written while the test runs (on its thread), to search for secrets.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// A browser that visits the authorize URL and follows the redirect, counting its visits.
fn http_browser(opened: Arc<AtomicUsize>) -> Browser {
    Arc::new(move |url: &Url| {
        opened.fetch_add(1, Ordering::SeqCst);
        let url = url.clone();
        tokio::spawn(async move {
            let page = reqwest::get(url).await.expect("the browser reaches the portal").text().await.expect("page");
            assert!(page.contains("close this window"), "the browser is told it may close the window: {page}");
        });
        Ok(())
    })
}

fn oauth_input(portal_url: &str, app_id: &str, folder: &std::path::Path) -> IdentityInput {
    IdentityInput {
        id: None,
        name: "Acme (OAuth)".into(),
        portal_url: portal_url.into(),
        sign_in: SignInKind::Oauth,
        username: String::new(),
        password: None,
        app_id: Some(app_id.into()),
        storage: StorageInput::Local { path: folder.display().to_string() },
        allow_insecure_http: false,
        repository_password: None,
    }
}

/// Every byte of the database files (the main file and, in WAL mode, its journal).
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    ["orgvault.sqlite", "orgvault.sqlite-wal", "orgvault.sqlite-journal"]
        .iter()
        .filter_map(|f| std::fs::read(dir.join(f)).ok())
        .flatten()
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn oauth_sign_in_saves_a_verified_identity_with_its_refresh_token_only_in_the_vault() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Current-thread runtime: the app's tasks and the test "browser" all log on this thread.
    let _logging = tracing::subscriber::set_default(subscriber);

    arcgis::install_crypto_provider();
    let sim = RunningSim::start(SimConfig { orgs: 1, items: 8, users: 5, groups: 2, ..SimConfig::default() })
        .await
        .expect("sim starts");
    let org = sim.orgs[0].clone();
    let app_id = format!("orgvault-{}", org.url_key);
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = Arc::new(MemoryVault::default());
    let mut state = AppState::open(dir.path(), (secrets.clone(), VaultSource::MemoryOnly("test".into())), None)
        .await
        .expect("state");
    let opened = Arc::new(AtomicUsize::new(0));
    state.browser = http_browser(opened.clone());
    state.approval_wait = std::time::Duration::from_secs(20);
    let folder = dir.path().join("backups");

    // Who approves in the browser decides: a non-admin is refused and nothing is kept.
    sim.state.auth.set_auto_approve_user(&org.id, &org.user.username);
    let err = identities::save(&state, oauth_input(&org.portal_url, &app_id, &folder))
        .await
        .expect_err("a non-admin approving in the browser must be refused");
    assert_eq!(err.code, ErrorCode::NotAdmin, "an OAuth non-admin is refused like a built-in one: {err:?}");
    assert!(state.identities().list().await.expect("list").is_empty(), "a refused OAuth identity is not stored");

    sim.state.auth.set_auto_approve_user(&org.id, &org.admin.username);
    let saved = identities::save(&state, oauth_input(&org.portal_url, &app_id, &folder))
        .await
        .expect("the admin's OAuth sign-in is verified and saved")
        .identity;
    assert_eq!(opened.load(Ordering::SeqCst), 2, "each new OAuth sign-in opens the browser once");
    assert_eq!(saved.sign_in, SignInKind::Oauth, "the identity signs in with OAuth");
    assert_eq!(saved.username, org.admin.username, "the username is learnt from whoever approved");
    assert_eq!(saved.token, TokenState::Valid, "a fresh refresh token is shown as valid");

    let stored = secrets.get(&SecretKey::refresh_token(&saved.id)).expect("vault read").expect("token in the vault");
    let oauth: OAuthSecret = serde_json::from_slice(&stored).expect("the vault holds the OAuth secret as JSON");
    assert!(!oauth.refresh_token.is_empty(), "the vault holds a refresh token");
    assert!(oauth.redirect_uri.starts_with("http://127.0.0.1:"), "with the loopback redirect it was issued for");
    assert!(
        secrets.get(&SecretKey::password(&saved.id)).expect("vault read").is_none(),
        "an OAuth identity keeps no password"
    );

    // The saved token is what jobs sign in with.
    let identity = state.identity(&saved.id).await.expect("identity");
    orgvault_desktop::portal::session(&state, &identity).await.expect("a job signs in with the saved refresh token");

    // Editing with the same App ID reuses the saved sign-in instead of asking the browser again.
    let mut edit = oauth_input(&org.portal_url, &app_id, &folder);
    edit.id = Some(saved.id.clone());
    edit.name = "Acme renamed".into();
    let edited = identities::save(&state, edit).await.expect("the edit is verified with the saved token").identity;
    assert_eq!(edited.name, "Acme renamed", "the edit is saved");
    assert_eq!(opened.load(Ordering::SeqCst), 2, "a working saved sign-in does not open the browser again");

    let token = secrets
        .get(&SecretKey::refresh_token(&saved.id))
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<OAuthSecret>(&b).ok())
        .map(|o| o.refresh_token)
        .expect("token after the edit");
    for t in [&oauth.refresh_token, &token] {
        assert!(!contains(&database_bytes(dir.path()), t), "no refresh token may reach the SQLite database");
        assert!(!logs.text().contains(t.as_str()), "no refresh token may reach the log");
    }
    assert!(
        logs.text().contains("signed in through the browser"),
        "the log capture works (else the secret check above proves nothing)"
    );
}

#[tokio::test]
async fn an_oauth_save_refuses_a_file_url_or_remote_http_before_the_browser_opens() {
    arcgis::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = Arc::new(MemoryVault::default());
    let mut state =
        AppState::open(dir.path(), (secrets, VaultSource::MemoryOnly("test".into())), None).await.expect("state");
    let opened = Arc::new(AtomicUsize::new(0));
    let counter = opened.clone();
    state.browser = Arc::new(move |_: &Url| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    state.approval_wait = std::time::Duration::from_millis(300);
    let folder = dir.path().join("backups");
    for url in ["file:///etc/passwd", "http://gis.example.com/portal"] {
        let err = identities::save(&state, oauth_input(url, "orgvault-app", &folder))
            .await
            .expect_err("refused before any browser opens");
        assert_eq!(err.code, ErrorCode::InvalidInput, "{url} is refused as the user's input: {err:?}");
        assert_eq!(opened.load(Ordering::SeqCst), 0, "{url}: the browser must not open");
    }
    let mut opted_in = oauth_input("http://gis.example.com/portal", "orgvault-app", &folder);
    opted_in.allow_insecure_http = true;
    let err = identities::save(&state, opted_in).await.expect_err("nobody approves in this test");
    assert_eq!(opened.load(Ordering::SeqCst), 1, "with the opt-in the browser opens: {err:?}");
    assert!(state.identities().list().await.expect("list").is_empty(), "nothing was saved");
}
