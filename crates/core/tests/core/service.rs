//! The application layer (`core::service`) against the simulated portal: signing in as a saved
//! identity sends the identity's and the Settings' headers and refuses a non-administrator;
//! "Save and verify" keeps names unique and leaves nothing behind when the vault fails; an
//! identity's storage opens as its repository.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arcgis::Secret;
use orgvault_core::identity::{IdentitySecrets, IdentitySpec, PortalKind, SignIn, SignInSecret, Storage, TlsOptions};
use orgvault_core::repo::InitPolicy;
use orgvault_core::service::{save_settings_header_values, IdentityDraft};
use orgvault_core::vault::{MemoryVault, SecretKey, SecretStore, VaultError};
use orgvault_core::{Db, Service};
use portal_sim::{OrgLogin, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::support::start_sim;

fn sim_config() -> SimConfig {
    SimConfig { orgs: 1, items: 8, users: 4, groups: 2, ..SimConfig::default() }
}

fn spec(name: &str, portal_url: &str, username: &str, folder: &std::path::Path) -> IdentitySpec {
    IdentitySpec {
        name: name.into(),
        portal_url: portal_url.into(),
        kind: PortalKind::Online,
        sign_in: SignIn::Builtin { username: username.into() },
        storage: Storage::Local { path: folder.display().to_string() },
        custom_headers: vec![],
        tls: TlsOptions::default(),
    }
}

fn draft(spec: IdentitySpec, password: &str) -> IdentityDraft {
    IdentityDraft { id: None, spec, password: Some(Secret::new(password)), storage_secret: None, header_values: None }
}

/// A vault whose writes fail while `failing` is set, as a full disk or a lost key would.
#[derive(Default)]
struct FailingVault {
    inner: MemoryVault,
    failing: AtomicBool,
}

impl SecretStore for FailingVault {
    fn put(&self, key: &SecretKey, value: &[u8]) -> Result<(), VaultError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(VaultError::Engine("the test vault refuses writes".into()));
        }
        self.inner.put(key, value)
    }
    fn get(&self, key: &SecretKey) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        self.inner.get(key)
    }
    fn remove(&self, key: &SecretKey) -> Result<(), VaultError> {
        self.inner.remove(key)
    }
}

/// A TCP proxy in front of the simulator that keeps every byte the client sent, so a test can
/// see the request headers. Answers the portal URL through the proxy.
async fn recording_proxy(org: &OrgLogin) -> anyhow::Result<(String, Arc<Mutex<Vec<u8>>>)> {
    let url = arcgis::Url::parse(&org.portal_url)?;
    let upstream = format!("{}:{}", url.host_str().expect("host"), url.port_or_known_default().expect("port"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let proxied = org.portal_url.replacen(&upstream, &listener.local_addr()?.to_string(), 1);
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = sent.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, record) = (upstream.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = client_read.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    record.lock().expect("record").extend_from_slice(&buf[..n]);
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok((proxied, sent))
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_sends_the_identitys_and_the_settings_headers_and_refuses_a_non_admin() -> anyhow::Result<()> {
    let sim = start_sim(sim_config()).await?;
    let org = sim.orgs[0].clone();
    let (portal_url, sent) = recording_proxy(&org).await?;
    let folder = tempfile::tempdir()?;
    let vault = Arc::new(MemoryVault::default());
    let service = Service::new(Db::open_in_memory().await?, vault.clone());

    let mut admin = draft(spec("Acme", &portal_url, &org.admin.username, folder.path()), &org.admin.password);
    admin.header_values = Some(vec![("X-Identity-Key".into(), Secret::new("identity-value-1"))]);
    let saved = service.save_identity(admin, None).await?;
    assert_eq!(saved.identity.spec.custom_headers, vec!["X-Identity-Key"], "the header's name is kept on the row");
    save_settings_header_values(vault.as_ref(), &[("X-Settings-Key".into(), Secret::new("settings-value-2"))])?;
    sent.lock().expect("record").clear();

    let portal = service.connect(&saved.identity).await?;
    assert_eq!(portal.org_id(), org.id, "signed in to the identity's organization");
    let bytes = sent.lock().expect("record").clone();
    assert!(holds(&bytes, "x-identity-key: identity-value-1"), "the identity's own header is sent");
    assert!(holds(&bytes, "x-settings-key: settings-value-2"), "the Settings header is sent by every front end");

    // A saved identity whose account lost its admin rights (here: a viewer's password saved
    // under it) must not sign in for a backup.
    let viewer =
        service.identities().create(spec("Viewer", &org.portal_url, &org.user.username, folder.path())).await?;
    IdentitySecrets {
        sign_in: SignInSecret::Password(Secret::new(org.user.password.clone())),
        storage_secret: None,
        custom_headers: vec![],
    }
    .save(vault.as_ref(), &viewer.id)?;
    let err = service.connect(&viewer).await.expect_err("a non-admin is refused");
    assert_eq!(err.code().as_str(), "not_admin", "connect runs the admin check: {err}");

    vault.remove(&SecretKey::password(&viewer.id))?;
    let err = service.connect(&viewer).await.expect_err("no saved password");
    assert_eq!(err.code().as_str(), "no_secret", "a missing secret is named as such: {err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_identity_keeps_names_unique_and_a_failed_vault_write_leaves_nothing_behind() -> anyhow::Result<()> {
    let sim = start_sim(sim_config()).await?;
    let org = sim.orgs[0].clone();
    let folder = tempfile::tempdir()?;
    let vault = Arc::new(FailingVault::default());
    let service = Service::new(Db::open_in_memory().await?, vault.clone());
    let acme = || draft(spec("Acme", &org.portal_url, &org.admin.username, folder.path()), &org.admin.password);

    let saved = service.save_identity(acme(), None).await?;
    let clash = draft(spec("  ACME ", &org.portal_url, &org.admin.username, folder.path()), &org.admin.password);
    let err = service.save_identity(clash, None).await.expect_err("a second Acme");
    assert_eq!(err.code().as_str(), "invalid_input", "{err}");
    assert!(err.to_string().contains("exists already"), "the refusal says why: {err}");
    let mut renamed = acme();
    renamed.id = Some(saved.identity.id.clone());
    renamed.password = None;
    let kept = service.save_identity(renamed, None).await?;
    assert_eq!(kept.identity.id, saved.identity.id, "an identity keeps its own name on an edit");

    let err = service
        .save_identity(
            draft(spec("Viewer", &org.portal_url, &org.user.username, folder.path()), &org.user.password),
            None,
        )
        .await
        .expect_err("a non-admin");
    assert_eq!(err.code().as_str(), "not_admin", "{err}");
    assert_eq!(service.identities().list().await?.len(), 1, "a refused identity is not stored");

    vault.failing.store(true, Ordering::SeqCst);
    let beta = draft(spec("Beta", &org.portal_url, &org.admin.username, folder.path()), &org.admin.password);
    let err = service.save_identity(beta, None).await.expect_err("the vault refuses the secrets");
    assert_eq!(err.code().as_str(), "vault", "the vault's failure is reported: {err}");
    let names: Vec<String> = service.identities().list().await?.into_iter().map(|i| i.spec.name).collect();
    assert_eq!(names, vec!["Acme"], "an identity whose secrets could not be kept must not stay behind");

    let mut edit = acme();
    edit.id = Some(saved.identity.id.clone());
    edit.spec.name = "Acme renamed".into();
    service.save_identity(edit, None).await.expect_err("the vault refuses the secrets");
    let after = service.identities().get(&saved.identity.id).await?;
    assert_eq!(after.spec.name, "Acme", "a failed edit puts the row back as it was");
    vault.failing.store(false, Ordering::SeqCst);
    service.connect(&after).await.expect("the identity still signs in with its saved secrets");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identitys_storage_opens_as_its_repository() -> anyhow::Result<()> {
    let sim = start_sim(sim_config()).await?;
    let org = sim.orgs[0].clone();
    let folder = tempfile::tempdir()?;
    let vault = Arc::new(MemoryVault::default());
    let service = Service::new(Db::open_in_memory().await?, vault.clone());
    let repo_dir = folder.path().join("acme");
    let saved = service
        .save_identity(draft(spec("Acme", &org.portal_url, &org.admin.username, &repo_dir), &org.admin.password), None)
        .await?;

    let err = service.repository_for(&saved.identity).await.expect_err("nothing was backed up yet");
    assert_eq!(err.code().as_str(), "not_a_repository", "reading creates no repository: {err}");
    service.backup_repository_for(&saved.identity, InitPolicy::IfEmpty).await?;
    assert!(repo_dir.join("config").is_file(), "a backup's first use creates the repository in the identity's folder");
    let repo = service.repository_for(&saved.identity).await?;
    assert!(repo.snapshots().await?.is_empty(), "the new repository opens for reading");

    let azure = service
        .identities()
        .create(IdentitySpec {
            name: "Cloud".into(),
            storage: Storage::Azure { container: "backups".into(), cache_dir: folder.path().display().to_string() },
            ..saved.identity.spec.clone()
        })
        .await?;
    let err = service.repository_for(&azure).await.expect_err("no connection string in the vault");
    assert_eq!(err.code().as_str(), "no_secret", "a missing connection string is named: {err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_moved_to_new_storage_gets_its_encrypted_repository_and_recovery_key_on_save() -> anyhow::Result<()>
{
    use orgvault_core::repo::{RepoState, Repository};
    let sim = start_sim(sim_config()).await?;
    let org = sim.orgs[0].clone();
    let folder = tempfile::tempdir()?;
    let service = Service::new(Db::open_in_memory().await?, Arc::new(MemoryVault::default()));
    let first = folder.path().join("first");
    let (saved, setup) = service
        .save_identity_with_repository(
            draft(spec("Acme", &org.portal_url, &org.admin.username, &first), &org.admin.password),
            None,
            Some(Secret::new("repo password")),
        )
        .await?;
    assert!(setup.expect("set up").recovery_key.is_some(), "a new encrypted repository answers its recovery key");

    // The storage moves (an edit of the folder). A backup must not create an encrypted repository
    // there on its own: its recovery key would be shown to nobody.
    let moved = folder.path().join("moved");
    let mut edit = draft(spec("Acme", &org.portal_url, &org.admin.username, &moved), &org.admin.password);
    edit.id = Some(saved.identity.id.clone());
    let moved_identity = service.save_identity(edit.clone(), None).await?.identity;
    let err = service
        .backup_repository_for(&moved_identity, InitPolicy::IfEmpty)
        .await
        .expect_err("no silent encrypted repository at the new place");
    assert_eq!(err.code().as_str(), "not_a_repository", "{err}");
    assert!(err.to_string().contains("save the identity again"), "the message says what to do: {err}");
    assert!(!moved.join("config").exists(), "nothing was written at the new place");

    // Saving the identity (the app's form, no password typed) creates it with the saved password.
    let (_, setup) = service.save_identity_with_repository(edit, None, None).await?;
    let setup = setup.expect("the moved storage gets its repository on save");
    assert!(
        setup.created && setup.encrypted && setup.recovery_key.is_some(),
        "created, encrypted, key shown: {setup:?}"
    );
    let target = orgvault_core::storage::StorageTarget::Local { path: moved.clone() };
    assert_eq!(Repository::state(&target).await?, RepoState::Encrypted);
    service.backup_repository_for(&moved_identity, InitPolicy::IfEmpty).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_identity_keeps_its_secret_key_in_the_vault_and_backs_up_into_its_bucket() -> anyhow::Result<()> {
    use orgvault_core::identity::check_storage;
    let s3 = crate::repo_support::S3Server::start().await?;
    let bucket = s3.bucket().await?;
    let sim = start_sim(sim_config()).await?;
    let org = sim.orgs[0].clone();
    let cache = tempfile::tempdir()?;
    let vault = Arc::new(MemoryVault::default());
    let service = Service::new(Db::open_in_memory().await?, vault.clone());
    let url = format!("s3://{bucket}/acme?endpoint={}&region=us-east-1", s3.endpoint());
    let storage = |key_id: &str| Storage::S3 {
        url: url.clone(),
        access_key_id: key_id.to_owned(),
        cache_dir: cache.path().display().to_string(),
    };

    // The credential check says what the keys may do.
    let full = check_storage(&storage(&s3.full.0), Some(&Secret::new(s3.full.1.clone())), 0).await;
    assert!(full.ok && !full.append_only, "the full user may do everything: {full:?}");
    let no_delete = check_storage(&storage(&s3.no_delete.0), Some(&Secret::new(s3.no_delete.1.clone())), 0).await;
    assert!(no_delete.ok && no_delete.append_only, "a policy without DeleteObject is append-only: {no_delete:?}");
    assert!(no_delete.message.contains("append-only"), "{}", no_delete.message);
    let wrong = check_storage(&storage(&s3.full.0), Some(&Secret::new("not the key")), 0).await;
    assert!(!wrong.ok && wrong.failed_step.is_some(), "a wrong secret key fails a named step: {wrong:?}");
    assert!(!wrong.message.contains(&s3.full.1), "the message never shows the secret");

    let mut d = draft(spec("Acme S3", &org.portal_url, &org.admin.username, cache.path()), &org.admin.password);
    d.spec.storage = storage(&s3.full.0);
    d.storage_secret = Some(Secret::new(s3.full.1.clone()));
    let (saved, _) = service.save_identity_with_repository(d, None, Some(Secret::new("repo password"))).await?;
    assert_eq!(
        vault.get(&SecretKey::s3_secret_access_key(&saved.identity.id))?.map(|v| v.to_vec()),
        Some(s3.full.1.as_bytes().to_vec()),
        "the secret key is in the vault"
    );
    assert!(vault.get(&SecretKey::azure_connection_string(&saved.identity.id))?.is_none());
    let repo = service.backup_repository_for(&saved.identity, InitPolicy::IfEmpty).await?;
    assert!(repo.is_encrypted(), "the bucket holds the identity's encrypted repository");
    assert!(repo.target().describe().starts_with(&format!("s3://{bucket}/acme")), "{}", repo.target().describe());
    Ok(())
}
