//! Sending over SMTP (lettre, rustls) with a few retries, and the record of each job's sends in
//! `job_mail`.

use std::time::Duration;

use arcgis::Secret;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::message::{Content, Redactor};
use super::{MailError, Security, SmtpSettings};
use crate::clock::Clock;
use crate::db::Db;

/// How hard a send is tried: `attempts` in all, waiting `first_delay`, then twice as long, and
/// so on, between them; each attempt gives up after `timeout`. A refusal the server calls
/// permanent (5xx: a rejected recipient, wrong credentials) is not tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 3, first_delay: Duration::from_secs(2), timeout: Duration::from_secs(30) }
    }
}

/// How a send ended.
#[derive(Debug)]
pub(super) struct Sent {
    pub attempts: u32,
    pub result: Result<(), MailError>,
}

fn transport(
    settings: &SmtpSettings,
    password: Option<&Secret>,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let host = settings.host.trim();
    let tls =
        |e: lettre::transport::smtp::Error| MailError::InvalidSettings(format!("TLS to {host} cannot be set up: {e}"));
    let builder = match settings.security {
        Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        Security::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls)?,
        Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls)?,
    };
    let builder = builder.port(settings.port).timeout(Some(timeout));
    let builder = match (&settings.username, password) {
        (Some(user), Some(p)) => builder.credentials(Credentials::new(user.clone(), p.expose().to_owned())),
        _ => builder,
    };
    Ok(builder.build())
}

/// Sends `content` from the settings' address to `to`, retrying transient failures.
pub(super) async fn send(
    settings: &SmtpSettings,
    password: Option<&Secret>,
    content: &Content,
    to: &[String],
    policy: RetryPolicy,
    redactor: &Redactor,
) -> Sent {
    let prepared =
        content.to_message(&settings.from, to).and_then(|m| Ok((m, transport(settings, password, policy.timeout)?)));
    let (message, transport) = match prepared {
        Ok(p) => p,
        Err(e) => return Sent { attempts: 0, result: Err(e) },
    };
    let mut delay = policy.first_delay;
    let mut attempts = 0;
    loop {
        attempts += 1;
        // lettre's timeout bounds each socket operation; a server that trickles answers is
        // bounded here as a whole.
        let (detail, permanent) = match tokio::time::timeout(policy.timeout, transport.send(message.clone())).await {
            Ok(Ok(_)) => return Sent { attempts, result: Ok(()) },
            // The server's words may echo what it was sent; they pass the redactor like the message.
            Ok(Err(e)) => (redactor.clean(&describe(&e)), e.is_permanent()),
            Err(_) => (format!("no answer within {} s", policy.timeout.as_secs()), false),
        };
        tracing::warn!(attempt = attempts, permanent, error = %detail, "sending e-mail failed");
        if permanent || attempts >= policy.attempts.max(1) {
            let server = format!("{}:{}", settings.host, settings.port);
            return Sent { attempts, result: Err(MailError::Send { server, attempts, permanent, detail }) };
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2);
    }
}

/// lettre's error with its causes ("Connection error: Connection refused (os error 111)").
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Whether a recorded send reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailState {
    Sent,
    Failed,
}

/// One recorded attempt to e-mail a job's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMail {
    pub id: i64,
    pub job_id: i64,
    pub recipients: Vec<String>,
    pub state: MailState,
    /// Sends tried (0: nothing was sent, e.g. e-mail is not set up).
    pub attempts: u32,
    /// Why it failed, free of secrets.
    pub error: Option<String>,
    pub at_ms: i64,
}

pub(super) async fn record(
    db: &Db,
    clock: &dyn Clock,
    job_id: i64,
    recipients: &[String],
    attempts: u32,
    error: Option<String>,
) -> Result<JobMail, MailError> {
    let state = if error.is_none() { MailState::Sent } else { MailState::Failed };
    let at_ms = clock.now_ms();
    let list = serde_json::to_string(recipients).unwrap_or_else(|_| "[]".into());
    let id = sqlx::query(
        "INSERT INTO job_mail (job_id, recipients, state, attempts, error, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(job_id)
    .bind(&list)
    .bind(if state == MailState::Sent { "sent" } else { "failed" })
    .bind(i64::from(attempts))
    .bind(error.as_deref())
    .bind(at_ms)
    .execute(db.pool())
    .await
    .map_err(crate::Error::from)?
    .last_insert_rowid();
    Ok(JobMail { id, job_id, recipients: recipients.to_vec(), state, attempts, error, at_ms })
}

/// The sends recorded for a job, oldest first.
pub async fn job_mail(db: &Db, job_id: i64) -> Result<Vec<JobMail>, MailError> {
    let rows = sqlx::query("SELECT id, job_id, recipients, state, attempts, error, at_ms FROM job_mail WHERE job_id = ? ORDER BY at_ms, id")
        .bind(job_id)
        .fetch_all(db.pool())
        .await
        .map_err(crate::Error::from)?;
    rows.iter().map(mail_from_row).collect()
}

/// The latest send of every job that has one, by job id (one query, for a job list).
pub async fn latest_job_mail(db: &Db) -> Result<std::collections::HashMap<i64, JobMail>, MailError> {
    let rows = sqlx::query(
        "SELECT id, job_id, recipients, state, attempts, error, at_ms FROM job_mail
         WHERE id IN (SELECT MAX(id) FROM job_mail GROUP BY job_id)",
    )
    .fetch_all(db.pool())
    .await
    .map_err(crate::Error::from)?;
    rows.iter().map(|r| mail_from_row(r).map(|m| (m.job_id, m))).collect()
}

fn mail_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<JobMail, MailError> {
    let state = match r.get::<&str, _>("state") {
        "sent" => MailState::Sent,
        "failed" => MailState::Failed,
        other => return Err(crate::Error::Corrupt(format!("unexpected e-mail state {other:?}")).into()),
    };
    Ok(JobMail {
        id: r.get("id"),
        job_id: r.get("job_id"),
        recipients: serde_json::from_str(r.get::<&str, _>("recipients")).unwrap_or_default(),
        state,
        attempts: u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(0),
        error: r.get("error"),
        at_ms: r.get("at_ms"),
    })
}

impl JobMail {
    /// The send on one line: "e-mailed to a@x at <time>", or "e-mail FAILED after 3 attempt(s):
    /// <reason> to a@x at <time>".
    pub fn line(&self) -> String {
        let outcome = match &self.error {
            None => "e-mailed".to_owned(),
            Some(e) => format!("e-mail FAILED after {} attempt(s): {e}", self.attempts),
        };
        format!("{outcome} to {} at {}", self.recipients.join(", "), super::format_time(self.at_ms))
    }
}
