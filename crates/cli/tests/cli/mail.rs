//! `orgvault mail set` + `mail test` against a real SMTP server on loopback (aiosmtpd), and a
//! job's failed e-mail shown by `orgvault jobs --job ID`.

use std::time::Duration;

use orgvault_core::catalog::CatalogCounts;
use orgvault_core::jobs::{JobCounts, JobEnd, JobKind, JobState, Jobs, ScanCounts};
use orgvault_core::mail::{Mailer, RetryPolicy};
use orgvault_core::vault::MemoryVault;
use orgvault_core::{Db, JobRunner, JobSpec, Service, SystemClock};

use crate::smtp_sink::SmtpSink;
use crate::support::{all_files, contains, run, set_mail, stderr, stdout};

const SMTP_PASSWORD: &str = "cli-smtp-Pa55word";

#[tokio::test]
async fn mail_set_then_mail_test_delivers_through_the_saved_server() -> anyhow::Result<()> {
    let sink = SmtpSink::start(Some(("mailer", SMTP_PASSWORD)));
    let data = tempfile::tempdir()?;
    set_mail(data.path(), sink.port, "OrgVault <orgvault@example.org>", Some(("mailer", SMTP_PASSWORD))).await;

    let out = run(data.path(), &["mail", "test", "--to", "ops@example.org"], None, None).await;
    assert!(out.status.success(), "mail test: {}{}", stdout(&out), stderr(&out));
    let got = sink.wait_for(1);
    assert_eq!(got.len(), 1, "the test message reaches the server");
    assert_eq!(got[0].login.as_deref(), Some("mailer"), "signed in with the password given on standard input");
    assert_eq!(got[0].rcpt_tos, vec!["ops@example.org"]);

    let out = run(data.path(), &["mail", "show", "--json"], None, None).await;
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(shown["port"], sink.port, "the settings are saved: {shown}");
    assert!(!stdout(&out).contains(SMTP_PASSWORD), "show never prints the password");
    for (path, bytes) in all_files(data.path()) {
        assert!(!contains(&bytes, SMTP_PASSWORD), "{} holds the SMTP password in clear", path.display());
    }
    Ok(())
}

#[tokio::test]
async fn mail_test_against_a_server_that_is_down_fails_with_the_reason() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let port = crate::smtp_sink::free_port();
    set_mail(data.path(), port, "o@example.org", None).await;
    let out = run(data.path(), &["mail", "test", "--to", "ops@example.org"], None, None).await;
    assert!(!out.status.success(), "a test against a closed port must fail");
    assert!(stderr(&out).contains(&format!("127.0.0.1:{port}")), "the error names the server: {}", stderr(&out));
    Ok(())
}

#[tokio::test]
async fn jobs_shows_a_failed_e_mail_and_the_job_state_it_did_not_change() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    set_mail(data.path(), crate::smtp_sink::free_port(), "o@example.org", None).await;

    // A finished job in the CLI's own database, reported the way the scheduler will.
    let db = Db::open(&data.path().join("orgvault.sqlite")).await?;
    let lease = JobRunner::new(&db, &SystemClock).begin(&JobSpec::new(JobKind::Scan, None, "weekly scan")).await?;
    let jobs = Jobs::new(&db, &SystemClock);
    jobs.mark_running(lease.job_id).await?;
    jobs.finish(
        lease.job_id,
        &JobEnd {
            state: JobState::Succeeded,
            counts: JobCounts::Scan(ScanCounts {
                catalog: CatalogCounts { items: 3, ..CatalogCounts::default() },
                ..ScanCounts::default()
            }),
            error: None,
        },
    )
    .await?;
    let service = Service::new(db.clone(), std::sync::Arc::new(MemoryVault::default()));
    let fast = RetryPolicy { attempts: 2, first_delay: Duration::from_millis(10), timeout: Duration::from_secs(5) };
    Mailer::new(&service, &SystemClock)
        .with_retry(fast)
        .report_job(lease.job_id, &["ops@example.org".into()], None)
        .await?;
    db.close().await;

    let id = lease.job_id.to_string();
    let out = run(data.path(), &["jobs", "--job", &id], None, None).await;
    assert!(out.status.success(), "jobs --job: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("e-mail FAILED after 2 attempt(s)"), "the failed send is shown on the job:\n{text}");
    assert!(text.contains("succeeded"), "the job itself still succeeded:\n{text}");
    let out = run(data.path(), &["jobs", "--job", &id, "--json"], None, None).await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(doc["job"]["state"], "succeeded", "a failed e-mail does not change the job");
    assert_eq!(doc["mail"][0]["state"], "failed", "--json carries the send outcome: {doc}");
    assert_eq!(doc["mail"][0]["recipients"][0], "ops@example.org");
    Ok(())
}
