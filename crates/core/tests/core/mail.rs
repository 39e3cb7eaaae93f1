//! E-mail against a real SMTP server on loopback (aiosmtpd, `tools/smtp_sink.py`): a job's
//! result arrives with its facts, escaped HTML and no secret; a server that is down leaves a
//! `failed` record and the job as it was; the SMTP password comes from the vault.

use std::sync::Arc;
use std::time::Duration;

use arcgis::Secret;
use orgvault_core::backup::BackupSummary;
use orgvault_core::identity::{IdentitySpec, PortalKind, SignIn, Storage, TlsOptions};
use orgvault_core::jobs::{ItemOutcome, JobCounts, JobEnd, JobKind, JobState, Jobs, Outcome, SubjectKind, Trigger};
use orgvault_core::mail::{self, MailState, Mailer, OnDemandMail, PasswordChange, RetryPolicy, Security, SmtpSettings};
use orgvault_core::repo::SnapshotId;
use orgvault_core::schedule::EmailWhen;
use orgvault_core::token_watch::IdentityMail;
use orgvault_core::vault::{MemoryVault, SecretKey, SecretStore};
use orgvault_core::{Db, ErrorCode, JobRunner, JobSpec, ManualClock, Service};

use crate::smtp_sink::{free_port, SmtpSink};

const PORTAL_PASSWORD: &str = "portal-Pa55word-planted";
const SMTP_PASSWORD: &str = "smtp-Pa55word-planted";
const ACCOUNT_KEY: &str = "QWNjb3VudEtleVBsYW50ZWQ9PQ==";
const SNAPSHOT: &str = "5f2b9c0d4e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c";

fn fast() -> RetryPolicy {
    RetryPolicy { attempts: 2, first_delay: Duration::from_millis(20), timeout: Duration::from_secs(5) }
}

fn settings(port: u16, username: Option<&str>) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        username: username.map(str::to_owned),
        from: "OrgVault <orgvault@example.org>".into(),
    }
}

/// A service with an identity whose password and Azure connection string are in the vault, and
/// a finished partial backup of it whose failure texts quote those secrets (as a careless
/// error message might).
async fn service_with_job(clock: &ManualClock) -> anyhow::Result<(Service, i64)> {
    let db = Db::open_in_memory().await?;
    let vault = Arc::new(MemoryVault::default());
    let service = Service::new(db.clone(), vault.clone());
    let identity = service
        .identities()
        .create(IdentitySpec {
            name: "Parks & <Recreation>".into(),
            portal_url: "https://parks.maps.arcgis.com".into(),
            kind: PortalKind::Online,
            sign_in: SignIn::Builtin { username: "admin".into() },
            storage: Storage::Azure { container: "backups".into(), cache_dir: "/tmp/cache".into() },
            custom_headers: vec![],
            tls: TlsOptions::default(),
        })
        .await?;
    vault.put(&SecretKey::password(&identity.id), PORTAL_PASSWORD.as_bytes())?;
    let connection = format!("DefaultEndpointsProtocol=https;AccountName=parks;AccountKey={ACCOUNT_KEY}");
    vault.put(&SecretKey::azure_connection_string(&identity.id), connection.as_bytes())?;

    let lease = JobRunner::new(&db, clock)
        .begin(&JobSpec::new(JobKind::Backup, Some(&identity.id), "nightly <all>").triggered_by(Trigger::Schedule(3)))
        .await?;
    let jobs = Jobs::new(&db, clock);
    jobs.mark_running(lease.job_id).await?;
    clock.advance(83_000);
    let mut outcomes = vec![ItemOutcome {
        kind: SubjectKind::Item,
        id: "a".repeat(32),
        title: "Roads <script>alert(1)</script>".into(),
        outcome: Outcome::Failed,
        reason: Some(format!("signing in with {PORTAL_PASSWORD} failed")),
    }];
    for n in 0..30 {
        outcomes.push(ItemOutcome {
            kind: SubjectKind::Item,
            id: format!("{n:032}"),
            title: format!("Layer {n}"),
            outcome: Outcome::Failed,
            reason: Some("HTTP 500".into()),
        });
    }
    outcomes.push(ItemOutcome {
        kind: SubjectKind::User,
        id: "ann".into(),
        title: "Ann".into(),
        outcome: Outcome::Ok,
        reason: None,
    });
    jobs.record_items(lease.job_id, &outcomes).await?;
    jobs.finish(
        lease.job_id,
        &JobEnd {
            state: JobState::Partial,
            counts: JobCounts::Backup(BackupSummary {
                job_id: lease.job_id,
                state: JobState::Partial,
                snapshot: Some(SNAPSHOT.parse::<SnapshotId>()?),
                name: "nightly <all>".into(),
                items: 40,
                users: 1,
                groups: 0,
                failed: 31,
                fallbacks: 0,
                reused: 0,
                data_downloads: 0,
                bytes_downloaded: 0,
                bytes_new: 1_500_000,
                bytes_total: 12_000_000,
                requests: 0,
            }),
            error: Some(format!("31 failed; storage said {connection}")),
        },
    )
    .await?;
    Ok((service, lease.job_id))
}

#[tokio::test]
async fn a_job_result_arrives_with_its_facts_escaped_html_and_no_secret() -> anyhow::Result<()> {
    let sink = SmtpSink::start(Some(("mailer", SMTP_PASSWORD)));
    let clock = ManualClock::new(1_764_921_600_000);
    let (service, job_id) = service_with_job(&clock).await?;
    settings(sink.port, Some("mailer"))
        .save(service.db(), service.secrets().as_ref(), &clock, PasswordChange::Set(Secret::new(SMTP_PASSWORD)))
        .await?;
    let before = Jobs::new(service.db(), &clock).get(job_id).await?;

    let recipients = vec!["ops@example.org".to_owned(), "Gis Team <gis@example.org>".to_owned()];
    let record = Mailer::new(&service, &clock)
        .with_retry(fast())
        .report_job(job_id, &recipients, Some(1_764_925_200_000))
        .await?;
    assert_eq!(record.state, MailState::Sent, "the loopback server takes the message: {:?}", record.error);
    assert_eq!(record.attempts, 1, "a send that works is tried once");

    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1, "exactly one message per report");
    let m = &got[0];
    assert_eq!(m.login.as_deref(), Some("mailer"), "the client signs in with the saved username and vault password");
    assert_eq!(m.rcpt_tos, vec!["ops@example.org", "gis@example.org"], "every recipient is addressed");
    assert!(m.from.contains("orgvault@example.org"), "the saved from address: {}", m.from);
    assert!(
        m.subject.contains("backup") && m.subject.contains("nightly <all>"),
        "subject names kind and job: {}",
        m.subject
    );
    for fact in [
        SNAPSHOT,
        "Parks & <Recreation>",
        "partial",
        "1.5 MB",
        "12.0 MB",
        "40 items",
        "1 user",
        "31 failed",
        "1 min 23 s",
    ] {
        assert!(m.text.contains(fact), "the text part must state {fact:?}:\n{}", m.text);
    }
    // Times are the machine's local time with its offset (and zone name), not bare UTC.
    let next = orgvault_core::mail::format_time(1_764_925_200_000);
    assert!(m.text.contains(&format!("Next run: {next}")), "the next run in local time:\n{}", m.text);
    assert!(m.text.contains("Failed (31):"), "the failed subjects are counted:\n{}", m.text);
    assert!(m.text.contains("and 6 more"), "only the first 25 failed subjects are listed:\n{}", m.text);
    assert!(m.html.contains("Roads &lt;script&gt;alert(1)&lt;/script&gt;"), "titles are escaped in HTML:\n{}", m.html);
    assert!(!m.html.contains("<script>"), "no markup from the data reaches the HTML part");
    assert!(m.html.contains("Parks &amp; &lt;Recreation&gt;"), "the identity name is escaped:\n{}", m.html);
    for secret in [PORTAL_PASSWORD, SMTP_PASSWORD, ACCOUNT_KEY, "AccountName=parks;AccountKey"] {
        for (part, body) in [("raw", &m.raw), ("text", &m.text), ("html", &m.html), ("subject", &m.subject)] {
            assert!(!body.contains(secret), "the {part} of the message must not hold the secret {secret:?}");
        }
    }

    let after = Jobs::new(service.db(), &clock).get(job_id).await?;
    assert_eq!(after, before, "e-mailing a result must not change the job");
    assert_eq!(mail::job_mail(service.db(), job_id).await?, vec![record], "the send is recorded on the job");
    Ok(())
}

#[tokio::test]
async fn a_server_that_is_down_leaves_a_failed_record_and_the_job_unchanged() -> anyhow::Result<()> {
    let clock = ManualClock::new(1_764_921_600_000);
    let (service, job_id) = service_with_job(&clock).await?;
    let port = free_port();
    settings(port, None).save(service.db(), service.secrets().as_ref(), &clock, PasswordChange::Keep).await?;
    let before = Jobs::new(service.db(), &clock).get(job_id).await?;

    let record =
        Mailer::new(&service, &clock).with_retry(fast()).report_job(job_id, &["ops@example.org".into()], None).await?;
    assert_eq!(record.state, MailState::Failed, "nothing listens on port {port}");
    assert_eq!(record.attempts, 2, "a refused connection is transient: tried as often as the policy says");
    let error = record.error.clone().unwrap_or_default();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "the error names the server: {error}");
    assert_eq!(Jobs::new(service.db(), &clock).get(job_id).await?, before, "a failed send must not change the job");
    let recorded = mail::job_mail(service.db(), job_id).await?;
    assert_eq!(recorded.len(), 1, "the failure is recorded");
    assert_eq!(recorded[0].error, record.error, "with its reason, to show on the job");
    Ok(())
}

#[tokio::test]
async fn without_settings_a_report_is_recorded_failed_and_nothing_is_tried() -> anyhow::Result<()> {
    let clock = ManualClock::new(5);
    let (service, job_id) = service_with_job(&clock).await?;
    let record = mail::report_job(&service, job_id, &["ops@example.org".into()]).await?;
    assert_eq!((record.state, record.attempts), (MailState::Failed, 0), "no server, no attempt");
    assert!(record.error.unwrap_or_default().contains("not set up"), "the record says e-mail is not set up");
    let err = mail::report_job(&service, job_id, &[]).await.expect_err("no recipients");
    assert_eq!(err.code(), ErrorCode::InvalidInput, "no recipients is the caller's mistake: {err}");
    assert_eq!(mail::job_mail(service.db(), job_id).await?.len(), 1, "and leaves no record");
    Ok(())
}

#[tokio::test]
async fn the_test_message_uses_the_vault_password_and_a_wrong_one_is_refused_for_good() -> anyhow::Result<()> {
    let sink = SmtpSink::start(Some(("mailer", SMTP_PASSWORD)));
    let clock = ManualClock::new(0);
    let service = Service::new(Db::open_in_memory().await?, Arc::new(MemoryVault::default()));
    let saved = settings(sink.port, Some("mailer"));
    saved
        .save(service.db(), service.secrets().as_ref(), &clock, PasswordChange::Set(Secret::new("wrong-password")))
        .await?;
    let err = Mailer::new(&service, &clock).with_retry(fast()).send_test("ops@example.org").await.expect_err("535");
    assert_eq!(err.code(), ErrorCode::MailRefused, "a refused login is permanent: {err}");
    assert!(matches!(err, mail::MailError::Send { attempts: 1, .. }), "a permanent refusal is not retried: {err:?}");

    saved
        .save(service.db(), service.secrets().as_ref(), &clock, PasswordChange::Set(Secret::new(SMTP_PASSWORD)))
        .await?;
    Mailer::new(&service, &clock).with_retry(fast()).send_test("ops@example.org").await?;
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1, "the test message arrives");
    assert!(got[0].subject.contains("test"), "{}", got[0].subject);
    assert_eq!(SmtpSettings::load(service.db()).await?, Some(saved.clone()), "settings round-trip through SQLite");
    let (row,): (String,) =
        sqlx::query_as("SELECT host || port || security || IFNULL(username, '') || from_address FROM smtp_settings")
            .fetch_one(service.db().pool())
            .await?;
    assert!(!row.contains(SMTP_PASSWORD), "the password is in the vault, not SQLite");

    settings(sink.port, None).save(service.db(), service.secrets().as_ref(), &clock, PasswordChange::Keep).await?;
    assert!(
        service.secrets().get(&SecretKey::smtp_password())?.is_none(),
        "settings without a username leave no password behind in the vault"
    );
    Ok(())
}

#[tokio::test]
async fn a_token_warning_names_the_identity_and_what_to_do_without_its_secrets() -> anyhow::Result<()> {
    let sink = SmtpSink::start(None);
    let clock = ManualClock::new(1_764_921_600_000);
    let (service, _) = service_with_job(&clock).await?;
    settings(sink.port, None).save(service.db(), service.secrets().as_ref(), &clock, PasswordChange::Keep).await?;
    let identity = service.find_identity("Parks & <Recreation>").await?;
    let warning = mail::TokenWarning {
        identity: identity.spec.name.clone(),
        portal_url: identity.spec.portal_url.clone(),
        problem: format!("the portal refused the password {PORTAL_PASSWORD}"),
        expires_ms: Some(1_765_008_000_000),
        action: "sign in again in OrgVault (Identities, Sign in)".into(),
    };
    Mailer::new(&service, &clock)
        .with_retry(fast())
        .warn_token(&identity, &warning, &["ops@example.org".into()])
        .await?;
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1, "the warning arrives");
    let m = &got[0];
    assert!(m.subject.contains("Parks & <Recreation>") && m.subject.contains("needs attention"), "{}", m.subject);
    assert!(
        m.text.contains("sign in again") && m.text.contains(&orgvault_core::mail::format_time(1_765_008_000_000)),
        "{}",
        m.text
    );
    assert!(m.html.contains("Parks &amp; &lt;Recreation&gt;"), "escaped in HTML: {}", m.html);
    for body in [&m.raw, &m.text, &m.html] {
        assert!(!body.contains(PORTAL_PASSWORD), "a warning must not quote the identity's password");
    }
    Ok(())
}

/// A backup started by a person is e-mailed as its identity's default says, or as the start
/// chose instead; a scheduled job is left to its schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_demand_job_is_mailed_as_its_identity_default_or_as_its_start_chose() -> anyhow::Result<()> {
    let sink = SmtpSink::start(None);
    let clock = ManualClock::new(1_764_921_600_000);
    let (service, scheduled_job) = service_with_job(&clock).await?;
    settings(sink.port, None).save(service.db(), service.secrets().as_ref(), &clock, PasswordChange::Keep).await?;
    let identity = Jobs::new(service.db(), &clock).get(scheduled_job).await?.identity_id.expect("the job's identity");
    let lease =
        JobRunner::new(service.db(), &clock).begin(&JobSpec::new(JobKind::Backup, Some(&identity), "by hand")).await?;
    let jobs = Jobs::new(service.db(), &clock);
    jobs.mark_running(lease.job_id).await?;
    jobs.finish(
        lease.job_id,
        &JobEnd { state: JobState::Partial, counts: JobCounts::None, error: Some("1 failed".into()) },
    )
    .await?;
    let default = OnDemandMail::default();

    let none = mail::report_on_demand(&service, &clock, lease.job_id, &default).await?;
    assert!(none.is_none(), "no recipients anywhere: nothing is sent");
    let ops = IdentityMail { recipients: vec!["ops@example.org".into()], email_when: EmailWhen::Problems };
    orgvault_core::token_watch::set_identity_mail(service.db(), &clock, &identity, &ops).await?;
    let sent = mail::report_on_demand(&service, &clock, lease.job_id, &default).await?.expect("sent by the default");
    assert_eq!(sent.state, MailState::Sent, "{:?}", sent.error);
    let got = sink.wait_for(1);
    assert_eq!(got[0].rcpt_tos, vec!["ops@example.org"], "the identity's recipients");
    assert!(got[0].subject.contains("by hand"), "{}", got[0].subject);

    let never = OnDemandMail { recipients: None, when: Some(EmailWhen::Never) };
    assert!(mail::report_on_demand(&service, &clock, lease.job_id, &never).await?.is_none(), "the start said never");
    let other = OnDemandMail { recipients: Some(vec!["gis@example.org".into()]), when: Some(EmailWhen::Always) };
    mail::report_on_demand(&service, &clock, lease.job_id, &other).await?.expect("sent as the start chose");
    assert_eq!(sink.wait_for(2)[1].rcpt_tos, vec!["gis@example.org"], "the start's recipients instead");
    assert!(
        mail::report_on_demand(&service, &clock, scheduled_job, &other).await?.is_none(),
        "a scheduled job is e-mailed by its schedule, not as an on-demand one"
    );
    Ok(())
}
