//! The token watch against the simulated portal over loopback, with e-mail to a real SMTP server
//! on loopback (`tools/smtp_sink.py`): a short refresh-token lifetime is kept alive by exchange;
//! a revoked token and a demoted administrator each give one warning, one notification and one
//! e-mail with no secret in it; a changed password is `password_rejected`; the periodic check
//! follows the injected clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arcgis::Secret;
use orgvault_core::identity::{
    Identity, IdentitySecrets, IdentitySpec, OAuthSecret, PortalKind, SignIn, SignInSecret, Storage, TlsOptions,
};
use orgvault_core::mail::{PasswordChange, RetryPolicy, Security, SmtpSettings};
use orgvault_core::notify::Notifier;
use orgvault_core::schedule::EmailWhen;
use orgvault_core::token_watch::{self, Finding, IdentityMail, TokenWatch, CHECK_INTERVAL_MS};
use orgvault_core::vault::{MemoryVault, SecretKey, SecretStore};
use orgvault_core::{Db, ManualClock, Service, SystemClock};
use portal_sim::{RunningSim, SimConfig};

use crate::smtp_sink::SmtpSink;
use crate::support::start_sim;

/// Remembers every notification raised, as a desktop would show them.
#[derive(Default)]
struct RecordingNotifier(Mutex<Vec<(String, String)>>);

impl Notifier for RecordingNotifier {
    fn notify(&self, title: &str, body: &str) {
        self.0.lock().expect("lock").push((title.to_owned(), body.to_owned()));
    }
}

impl RecordingNotifier {
    fn count(&self) -> usize {
        self.0.lock().expect("lock").len()
    }
}

fn sim_config(refresh_ttl_s: u64) -> SimConfig {
    SimConfig { orgs: 1, items: 4, users: 4, groups: 1, refresh_token_ttl_s: refresh_ttl_s, ..SimConfig::default() }
}

async fn service() -> anyhow::Result<(Service, Arc<MemoryVault>)> {
    let vault = Arc::new(MemoryVault::default());
    Ok((Service::new(Db::open_in_memory().await?, vault.clone()), vault))
}

fn spec(name: &str, portal_url: &str, sign_in: SignIn) -> IdentitySpec {
    IdentitySpec {
        name: name.into(),
        portal_url: portal_url.into(),
        kind: PortalKind::Online,
        sign_in,
        storage: Storage::Local { path: std::env::temp_dir().display().to_string() },
        custom_headers: vec![],
        tls: TlsOptions::default(),
    }
}

/// An OAuth identity of the org's admin, signed in as the browser would have done it.
async fn oauth_identity(service: &Service, sim: &RunningSim) -> anyhow::Result<Identity> {
    let org = &sim.orgs[0];
    let (client_id, _, _) = sim.control().oauth_sign_in(&org.url_key, &org.admin.username).expect("admin");
    let identity = service
        .identities()
        .create(spec("Parks OAuth", &org.portal_url, SignIn::Oauth { client_id, username: None }))
        .await?;
    browser_sign_in(service, sim, &identity)?;
    Ok(identity)
}

/// Saves a fresh refresh token for the identity, as "Save and verify" after a browser sign-in.
fn browser_sign_in(service: &Service, sim: &RunningSim, identity: &Identity) -> anyhow::Result<()> {
    let org = &sim.orgs[0];
    let (_, refresh_token, expires) = sim.control().oauth_sign_in(&org.url_key, &org.admin.username).expect("admin");
    let secret = OAuthSecret {
        refresh_token,
        refresh_token_expires_at: Some(expires),
        redirect_uri: "http://127.0.0.1/callback".into(),
    };
    IdentitySecrets { sign_in: SignInSecret::OAuth(secret), storage_secret: None, custom_headers: vec![] }
        .save(service.secrets().as_ref(), &identity.id)?;
    Ok(())
}

fn stored_refresh_token(vault: &MemoryVault, identity: &Identity) -> String {
    let bytes = vault.get(&SecretKey::refresh_token(&identity.id)).expect("vault").expect("a refresh token");
    let secret: OAuthSecret = serde_json::from_slice(&bytes).expect("json");
    secret.refresh_token
}

async fn builtin_identity(service: &Service, sim: &RunningSim) -> anyhow::Result<Identity> {
    let org = &sim.orgs[0];
    let identity = service
        .identities()
        .create(spec("Parks", &org.portal_url, SignIn::Builtin { username: org.admin.username.clone() }))
        .await?;
    service.secrets().put(&SecretKey::password(&identity.id), org.admin.password.as_bytes())?;
    Ok(identity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_refresh_token_lifetime_is_kept_alive_by_exchange() -> anyhow::Result<()> {
    let sim = start_sim(sim_config(3)).await?;
    let (service, vault) = service().await?;
    let identity = oauth_identity(&service, &sim).await?;
    let notifier = RecordingNotifier::default();
    let watch = TokenWatch::new(&service, &SystemClock, &notifier).with_interval(1_000);

    let first = stored_refresh_token(&vault, &identity);
    let mut seen = vec![first.clone()];
    // Five checks a second apart: more than one lifetime of 3 s of the first refresh token.
    for n in 0..5 {
        let check = watch.check(&identity).await?;
        assert_eq!(check.finding, Finding::Ok, "check {n}: an exchanged sign-in stays valid: {check:?}");
        let now = stored_refresh_token(&vault, &identity);
        assert!(!seen.contains(&now), "check {n}: each check exchanged the refresh token for a new one");
        seen.push(now);
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
    assert_eq!(notifier.count(), 0, "a sign-in kept alive raises nothing");

    // Left alone longer than its lifetime, the last refresh token lapses: the lifetime is real,
    // and only the exchange kept the identity signed in.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let lapsed = watch.check(&identity).await?;
    assert_eq!(lapsed.finding, Finding::NeedsBrowserSignIn, "a lapsed sign-in needs the browser: {lapsed:?}");
    assert_eq!(notifier.count(), 1, "and that is worth one notification");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_and_a_demoted_admin_each_warn_once_by_notification_and_email() -> anyhow::Result<()> {
    let sim = start_sim(sim_config(14 * 24 * 3600)).await?;
    let org = &sim.orgs[0];
    let sink = SmtpSink::start(None);
    let (service, vault) = service().await?;
    let smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port,
        security: Security::None,
        username: None,
        from: "OrgVault <orgvault@example.org>".into(),
    };
    smtp.save(service.db(), vault.as_ref(), &SystemClock, PasswordChange::Keep).await?;
    let identity = oauth_identity(&service, &sim).await?;
    let mail = IdentityMail { recipients: vec!["ops@example.org".into()], email_when: EmailWhen::Always };
    token_watch::set_identity_mail(service.db(), &SystemClock, &identity.id, &mail).await?;
    let notifier = RecordingNotifier::default();
    let retry = RetryPolicy { attempts: 2, first_delay: Duration::from_millis(20), timeout: Duration::from_secs(5) };
    let watch = TokenWatch::new(&service, &SystemClock, &notifier).with_mail_retry(retry);

    let ok = watch.check(&identity).await?;
    assert_eq!(ok.finding, Finding::Ok, "a fresh sign-in is ok: {ok:?}");
    let mut secrets = vec![stored_refresh_token(&vault, &identity), org.admin.password.clone()];

    assert!(sim.control().revoke_user_tokens(&org.url_key, &org.admin.username));
    let revoked = watch.check(&identity).await?;
    assert_eq!(revoked.finding, Finding::TokenRevoked, "a refused refresh token before its expiry: {revoked:?}");
    assert_eq!(notifier.count(), 1, "the warning raised a notification");
    let messages = sink.wait_for(1);
    assert!(messages[0].subject.contains("Parks OAuth"), "the e-mail names the identity: {}", messages[0].subject);
    assert_eq!(messages[0].rcpt_tos, vec!["ops@example.org".to_owned()], "sent to the identity's recipients");
    assert!(messages[0].text.contains("Sign in again through the browser"), "it says what to do: {}", messages[0].text);
    let again = watch.check(&identity).await?;
    assert_eq!(again.finding, Finding::TokenRevoked);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(notifier.count(), 1, "the same finding is not raised twice");
    assert_eq!(sink.messages().len(), 1, "the same finding is not e-mailed twice");
    let stored = token_watch::last_check(service.db(), &identity.id).await?.expect("a stored check");
    assert_eq!((stored.finding, stored.checked_ms), (again.finding, again.checked_ms), "state and time are stored");

    browser_sign_in(&service, &sim, &identity)?;
    secrets.push(stored_refresh_token(&vault, &identity));
    assert_eq!(watch.check(&identity).await?.finding, Finding::Ok, "signed in again: ok");

    assert!(sim.control().demote_to_user(&org.url_key, &org.admin.username));
    let demoted = watch.check(&identity).await?;
    assert_eq!(demoted.finding, Finding::NotAdmin, "a demoted administrator: {demoted:?}");
    assert_eq!(notifier.count(), 2, "the new warning raised its own notification");
    let messages = sink.wait_for(2);
    assert!(messages[1].text.contains("administrator"), "the e-mail says the role was lost: {}", messages[1].text);
    secrets.push(stored_refresh_token(&vault, &identity));

    for m in &messages {
        for secret in &secrets {
            for (part, text) in [("raw", &m.raw), ("text", &m.text), ("html", &m.html), ("subject", &m.subject)] {
                assert!(!text.contains(secret.as_str()), "no secret may appear in the e-mail's {part}");
            }
        }
    }
    for (title, body) in notifier.0.lock().expect("lock").iter() {
        for secret in &secrets {
            assert!(!title.contains(secret.as_str()) && !body.contains(secret.as_str()), "no secret in a notification");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_password_is_rejected_and_revoked_tokens_do_not_matter_to_a_password_login() -> anyhow::Result<()> {
    let sim = start_sim(sim_config(14 * 24 * 3600)).await?;
    let org = &sim.orgs[0];
    let (service, _vault) = service().await?;
    let identity = builtin_identity(&service, &sim).await?;
    let notifier = RecordingNotifier::default();
    let watch = TokenWatch::new(&service, &SystemClock, &notifier);

    assert_eq!(watch.check(&identity).await?.finding, Finding::Ok);
    assert!(sim.control().revoke_user_tokens(&org.url_key, &org.admin.username));
    assert_eq!(watch.check(&identity).await?.finding, Finding::Ok, "a password login simply signs in again");

    assert!(sim.control().set_password(&org.url_key, &org.admin.username, "a-new-Passw0rd"));
    let rejected = watch.check(&identity).await?;
    assert_eq!(rejected.finding, Finding::PasswordRejected, "the old password is refused: {rejected:?}");
    let detail = rejected.detail.clone().unwrap_or_default();
    assert!(detail.contains("Invalid username or password"), "the portal's words are kept: {detail}");
    assert!(!detail.contains(&org.admin.password), "the detail holds no password");
    assert_eq!(notifier.count(), 1, "one notification, and no e-mail without recipients");

    service.secrets().put(&SecretKey::password(&identity.id), Secret::new("a-new-Passw0rd").expose().as_bytes())?;
    assert_eq!(watch.check(&identity).await?.finding, Finding::Ok, "the new password signs in");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_are_checked_again_every_few_hours_by_the_injected_clock() -> anyhow::Result<()> {
    let sim = start_sim(sim_config(14 * 24 * 3600)).await?;
    let (service, _vault) = service().await?;
    let identity = builtin_identity(&service, &sim).await?;
    let clock = ManualClock::new(SystemClock.now_ms());
    let notifier = RecordingNotifier::default();
    let watch = TokenWatch::new(&service, &clock, &notifier);

    let first = watch.check_due().await?;
    assert_eq!(first.len(), 1, "an identity never checked is due at once");
    clock.advance(CHECK_INTERVAL_MS - 60_000);
    assert!(watch.check_due().await?.is_empty(), "nothing is due before the interval has passed");
    clock.advance(60_000);
    let again = watch.check_due().await?;
    assert_eq!(again.len(), 1, "the identity is checked again after the interval");
    assert_eq!(again[0].identity_id, identity.id);
    assert_eq!(again[0].checked_ms, clock.now_ms(), "the time of the check is the injected clock's");
    Ok(())
}

use orgvault_core::Clock as _;

/// A notifier shared with a hook (which owns an `Arc`).
#[derive(Default, Clone)]
struct SharedNotifier(Arc<RecordingNotifier>);

impl Notifier for SharedNotifier {
    fn notify(&self, title: &str, body: &str) {
        self.0.notify(title, body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_checks_its_identity_before_it_starts() -> anyhow::Result<()> {
    use orgvault_core::schedule::{run_now, NoHook, ScheduleKind, ScheduleSpec, Scheduler, Schedules};
    use orgvault_core::token_watch::WatchHook;

    let sim = start_sim(sim_config(14 * 24 * 3600)).await?;
    let org = &sim.orgs[0];
    let (service, _vault) = service().await?;
    let identity = builtin_identity(&service, &sim).await?;
    let schedule = Schedules::new(service.db(), &SystemClock)
        .add(&ScheduleSpec::new("Nightly scan", &identity.id, ScheduleKind::Scan, "0 2 * * *"))
        .await?;
    let notifier = SharedNotifier::default();
    let hook = WatchHook { service: service.clone(), notifier: Arc::new(notifier.clone()), then: Arc::new(NoHook) };
    let scheduler = Scheduler {
        service: &service,
        clock: &SystemClock,
        zone: chrono::Utc,
        progress: &orgvault_core::NoProgress,
        cancel: tokio_util::sync::CancellationToken::new(),
        hook: &hook,
    };

    assert!(token_watch::last_check(service.db(), &identity.id).await?.is_none(), "never checked yet");
    let report = run_now(&scheduler, schedule.id).await?;
    assert_eq!(report.error, None, "the scan ran: {report:?}");
    let check = token_watch::last_check(service.db(), &identity.id).await?.expect("checked before the run");
    assert_eq!(check.finding, Finding::Ok);

    assert!(sim.control().set_password(&org.url_key, &org.admin.username, "a-new-Passw0rd"));
    let report = run_now(&scheduler, schedule.id).await?;
    assert!(report.error.is_some(), "the scan cannot sign in: {report:?}");
    let check = token_watch::last_check(service.db(), &identity.id).await?.expect("checked");
    assert_eq!(check.finding, Finding::PasswordRejected, "the check before the run found the changed password");
    assert_eq!(notifier.0.count(), 1, "and raised it as a notification");
    Ok(())
}

/// A vault shared with another process that exchanges the refresh token while this one is
/// signing in: the first `reads_before` reads of the refresh token see the old one, later
/// reads the one the other process saved.
struct RacingVault {
    inner: MemoryVault,
    reads: std::sync::atomic::AtomicUsize,
    reads_before: usize,
    saved_by_other: Mutex<Option<Vec<u8>>>,
}

impl SecretStore for RacingVault {
    fn put(&self, key: &SecretKey, value: &[u8]) -> Result<(), orgvault_core::vault::VaultError> {
        self.inner.put(key, value)
    }
    fn get(&self, key: &SecretKey) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, orgvault_core::vault::VaultError> {
        if key.as_str().contains("refresh") {
            let n = self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if n > self.reads_before {
                if let Some(other) = self.saved_by_other.lock().expect("lock").take() {
                    self.inner.put(key, &other)?;
                }
            }
        }
        self.inner.get(key)
    }
    fn remove(&self, key: &SecretKey) -> Result<(), orgvault_core::vault::VaultError> {
        self.inner.remove(key)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_exchanged_meanwhile_by_another_process_is_not_a_revoked_one() -> anyhow::Result<()> {
    // A short lifetime: every sign-in exchanges the refresh token.
    let sim = start_sim(sim_config(60)).await?;
    let db = Db::open_in_memory().await?;
    let vault = Arc::new(RacingVault {
        inner: MemoryVault::default(),
        reads: Default::default(),
        reads_before: usize::MAX,
        saved_by_other: Mutex::new(None),
    });
    let service = Service::new(db.clone(), vault.clone());
    let identity = oauth_identity(&service, &sim).await?;
    let old = vault.inner.get(&SecretKey::refresh_token(&identity.id))?.expect("saved").to_vec();

    // The other process (the app beside the service) signs in with the same saved token and
    // exchanges it: the portal refuses the old one from now on.
    let other_vault = Arc::new(MemoryVault::default());
    other_vault.put(&SecretKey::refresh_token(&identity.id), &old)?;
    let other = Service::new(db.clone(), other_vault.clone());
    other.connect(&identity).await?;
    let new = other_vault.get(&SecretKey::refresh_token(&identity.id))?.expect("exchanged").to_vec();
    assert_ne!(new, old, "the other process exchanged the refresh token");

    // This process read the old token just before the other one saved the new one.
    let racing = RacingVault {
        inner: MemoryVault::default(),
        reads: Default::default(),
        reads_before: 2,
        saved_by_other: Mutex::new(Some(new)),
    };
    racing.inner.put(&SecretKey::refresh_token(&identity.id), &old)?;
    let service = Service::new(db, Arc::new(racing));
    let notifier = RecordingNotifier::default();
    let watch = TokenWatch::new(&service, &SystemClock, &notifier).with_interval(1_000);
    let check = watch.check(&identity).await?;
    assert_eq!(check.finding, Finding::Ok, "signed in with the token the other process saved: {check:?}");
    assert_eq!(notifier.count(), 0, "no false alarm about a revoked sign-in");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_that_lapses_before_the_next_check_is_token_expiring_with_when() -> anyhow::Result<()> {
    // An org policy of one minute, checks every four hours: no exchange can keep up.
    let sim = start_sim(sim_config(60)).await?;
    let (service, _vault) = service().await?;
    let identity = oauth_identity(&service, &sim).await?;
    let notifier = RecordingNotifier::default();
    let watch = TokenWatch::new(&service, &SystemClock, &notifier);
    let before = SystemClock.now_ms();
    let check = watch.check(&identity).await?;
    assert_eq!(check.finding, Finding::TokenExpiring, "{check:?}");
    let when = check.expires_ms.expect("the finding says when the sign-in stops working");
    assert!(when > before && when <= SystemClock.now_ms() + 61_000, "about a minute from now: {when}");
    assert_eq!(notifier.count(), 1, "a person must act before then");
    Ok(())
}
