//! E-mail: job results and token warnings sent over SMTP to the people who asked for them.
//!
//! Public API:
//! - [`SmtpSettings`] (`load`, `save`, `validate`): host, port, [`Security`] (none, STARTTLS,
//!   TLS), optional username and the from address, in SQLite; the password in the vault
//!   ([`SecretKey::smtp_password`](crate::vault::SecretKey::smtp_password)), never in SQLite.
//! - [`Mailer`] over a [`Service`]: [`Mailer::report_job`] e-mails a job's result and records
//!   the outcome in `job_mail`; [`Mailer::send_test`] is "Send test e-mail";
//!   [`Mailer::warn_token`] sends a [`TokenWarning`]. [`report_job`] and [`send_test`] are the
//!   same with the real clock and the default [`RetryPolicy`].
//! - [`job_mail`]: the recorded sends of a job, for the job's details; [`latest_job_mail`]: each
//!   job's latest send, for a job list ([`JobMail::line`] says it in words).
//! - [`report_own_jobs`] with [`OnDemandMail`]: an on-demand job's result, to its identity's
//!   recipients under its default (`token_watch::identity_mail`), or as the start chose.
//! - [`wanted`]: whether a job's result is sent under a schedule's [`EmailWhen`] (always, on
//!   problems, never).
//!
//! Invariants:
//! - A message never holds a secret: what it shows comes from the job history and the
//!   identity's row, and every piece of text passes a [`Redactor`] loaded with the identity's
//!   and the SMTP server's secrets from the vault before it is written (the HTML part is also
//!   escaped).
//! - Sending never changes the job: its state, counts and error stay as the job left them. A
//!   send that fails (after a few tries for transient failures) is recorded as `failed` in
//!   `job_mail` with the reason, and the caller carries on.
//! - Sends use rustls (ring) with the web PKI roots; there is no native-tls.

mod message;
mod on_demand;
mod send;
mod settings;

pub use message::{
    escape_html, format_duration, format_time, format_time_in, parse_mailbox, test_message, Content, JobReport,
    Redactor, TokenWarning, FAILED_SUBJECTS_SHOWN,
};
pub use on_demand::{last_job_id, report_on_demand, report_own_jobs, OnDemandMail};
pub use send::{job_mail, latest_job_mail, JobMail, MailState, RetryPolicy};
pub use settings::{PasswordChange, Security, SmtpSettings};

use crate::clock::{Clock, SystemClock};
use crate::identity::IdentitySecrets;
use crate::jobs::{JobState, Jobs};
use crate::schedule::EmailWhen;
use crate::service::{settings_header_values, Service};
use crate::vault::VaultError;
use crate::ErrorCode;

/// Whether a job that ended in `state` is e-mailed under the schedule's (or identity's) choice
/// `when`: `problems` means anything but a full success.
pub fn wanted(when: EmailWhen, state: JobState) -> bool {
    match when {
        EmailWhen::Always => true,
        EmailWhen::Problems => state != JobState::Succeeded,
        EmailWhen::Never => false,
    }
}

/// Why e-mail could not be set up or sent. Messages never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("e-mail is not set up; enter the SMTP server in Settings or with `orgvault mail set`")]
    NotConfigured,

    #[error("the SMTP settings name a username but the vault holds no password for it; save the settings again with the password")]
    NoPassword,

    #[error("{0}")]
    InvalidSettings(String),

    #[error("{0}")]
    InvalidInput(String),

    /// The server could not be reached or refused the message.
    #[error("the e-mail could not be sent through {server} after {attempts} attempt(s): {detail}")]
    Send { server: String, attempts: u32, permanent: bool, detail: String },

    #[error(transparent)]
    Core(#[from] crate::Error),

    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl MailError {
    pub fn code(&self) -> ErrorCode {
        match self {
            MailError::NotConfigured => ErrorCode::MailNotConfigured,
            MailError::NoPassword => ErrorCode::NoSecret,
            MailError::InvalidSettings(_) => ErrorCode::InvalidSettings,
            MailError::InvalidInput(_) => ErrorCode::InvalidInput,
            MailError::Send { permanent: true, .. } => ErrorCode::MailRefused,
            MailError::Send { permanent: false, .. } => ErrorCode::Network,
            MailError::Core(e) => e.code(),
            MailError::Vault(e) => e.code(),
        }
    }
}

/// Sends OrgVault's e-mail for one data folder.
pub struct Mailer<'a> {
    service: &'a Service,
    clock: &'a dyn Clock,
    retry: RetryPolicy,
}

impl<'a> Mailer<'a> {
    pub fn new(service: &'a Service, clock: &'a dyn Clock) -> Self {
        Mailer { service, clock, retry: RetryPolicy::default() }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    async fn configured(&self) -> Result<(SmtpSettings, Option<arcgis::Secret>), MailError> {
        let settings = SmtpSettings::load(self.service.db()).await?.ok_or(MailError::NotConfigured)?;
        let password = settings.password(self.service.secrets().as_ref())?;
        Ok((settings, password))
    }

    /// A redactor holding the SMTP password, the Settings headers and, when given, every
    /// secret of the identity.
    fn redactor(
        &self,
        password: Option<&arcgis::Secret>,
        identity: Option<&crate::identity::Identity>,
    ) -> Result<Redactor, MailError> {
        let store = self.service.secrets().as_ref();
        let mut r = Redactor::default();
        if let Some(p) = password {
            r.add(p.expose());
        }
        for (_, v) in settings_header_values(store)? {
            r.add(v.expose());
        }
        if let Some(secrets) = identity.map(|i| IdentitySecrets::load(store, i)).transpose()?.flatten() {
            match &secrets.sign_in {
                crate::identity::SignInSecret::Password(p) => r.add(p.expose()),
                crate::identity::SignInSecret::OAuth(o) => r.add(&o.refresh_token),
            }
            if let Some(c) = secrets.storage_secret.as_ref().map(|s| s.secret()) {
                r.add(c.expose());
                // A connection string's parts (the account key above all) may be quoted alone.
                for part in c.expose().split(';').filter_map(|kv| kv.split_once('=').map(|(_, v)| v)) {
                    r.add(part);
                }
            }
            for (_, v) in &secrets.custom_headers {
                r.add(v.expose());
            }
        }
        Ok(r)
    }

    /// Sends "Send test e-mail" to `to` with the saved settings. An error says why it failed.
    pub async fn send_test(&self, to: &str) -> Result<(), MailError> {
        let (settings, password) = self.configured().await?;
        let redactor = self.redactor(password.as_ref(), None)?;
        let sent =
            send::send(&settings, password.as_ref(), &test_message(&settings), &[to.to_owned()], self.retry, &redactor)
                .await;
        sent.result
    }

    /// E-mails the result of job `job_id` to `recipients` and records the outcome in
    /// `job_mail` (returned). A failure to send is that record, not an error: `Err` only when
    /// the job cannot be read or the record cannot be written. The job itself is not changed.
    /// `next_run_ms`: when the schedule that ran it runs next, shown in the message. No
    /// recipients: `invalid_input`, nothing recorded (the caller decides whom to tell).
    pub async fn report_job(
        &self,
        job_id: i64,
        recipients: &[String],
        next_run_ms: Option<i64>,
    ) -> Result<JobMail, MailError> {
        if recipients.is_empty() {
            return Err(MailError::InvalidInput(format!("job {job_id}: no recipients to e-mail the result to")));
        }
        let db = self.service.db();
        let jobs = Jobs::new(db, self.clock);
        let job = jobs.get(job_id).await?;
        let items = jobs.items(job_id).await?;
        let identity = match &job.identity_id {
            Some(id) => self.service.identities().get(id).await.ok(),
            None => None,
        };
        let report = JobReport { identity: identity.as_ref().map(|i| i.spec.name.clone()), job, items, next_run_ms };
        let sent = match self.configured().await {
            Err(e) => send::Sent { attempts: 0, result: Err(e) },
            Ok((settings, password)) => match self.redactor(password.as_ref(), identity.as_ref()) {
                Err(e) => send::Sent { attempts: 0, result: Err(e) },
                Ok(redactor) => {
                    let content = report.render(&redactor);
                    send::send(&settings, password.as_ref(), &content, recipients, self.retry, &redactor).await
                }
            },
        };
        if let Err(e) = &sent.result {
            tracing::warn!(job_id, code = e.code().as_str(), error = %e, "the job's result was not e-mailed");
        }
        send::record(db, self.clock, job_id, recipients, sent.attempts, sent.result.err().map(|e| e.to_string())).await
    }

    /// E-mails a warning about an identity's credentials to `recipients`.
    pub async fn warn_token(
        &self,
        identity: &crate::identity::Identity,
        warning: &TokenWarning,
        recipients: &[String],
    ) -> Result<(), MailError> {
        let (settings, password) = self.configured().await?;
        let redactor = self.redactor(password.as_ref(), Some(identity))?;
        send::send(&settings, password.as_ref(), &warning.render(&redactor), recipients, self.retry, &redactor)
            .await
            .result
    }
}

/// [`Mailer::report_job`] with the system clock and the default retries, no next run: what the
/// runner's caller invokes after a scheduled or on-demand job ends.
pub async fn report_job(service: &Service, job_id: i64, recipients: &[String]) -> Result<JobMail, MailError> {
    Mailer::new(service, &SystemClock).report_job(job_id, recipients, None).await
}

/// [`Mailer::send_test`] with the system clock and the default retries.
pub async fn send_test(service: &Service, to: &str) -> Result<(), MailError> {
    Mailer::new(service, &SystemClock).send_test(to).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_means_anything_but_a_full_success() {
        assert!(!wanted(EmailWhen::Problems, JobState::Succeeded), "a clean run is not a problem");
        for state in [JobState::Partial, JobState::Failed, JobState::Cancelled] {
            assert!(wanted(EmailWhen::Problems, state), "{state:?} is a problem worth an e-mail");
            assert!(wanted(EmailWhen::Always, state) && !wanted(EmailWhen::Never, state));
        }
    }
}

/// The scheduler's job-ended hook that e-mails a scheduled job's result to the schedule's
/// recipients when its policy asks for it (`always`, or `problems` when the job did not
/// succeed). A send that fails is recorded in `job_mail` by [`Mailer::report_job`]; it never
/// changes the job.
pub struct MailHook {
    pub service: Service,
}

#[async_trait::async_trait]
impl crate::schedule::JobEndedHook for MailHook {
    async fn scheduled_job_ended(&self, ended: &crate::schedule::ScheduledJobEnded<'_>) {
        let Some(job) = ended.job else { return };
        let spec = &ended.schedule.spec;
        if spec.email_to.is_empty() || !wanted(spec.email_when, job.state) {
            return;
        }
        // The message says when the schedule runs next (run-now or slot alike).
        let next_run = crate::schedule::Recurrence::parse(&spec.cron)
            .ok()
            .filter(|_| spec.enabled)
            .and_then(|r| r.next_runs(&crate::schedule::LocalZone, SystemClock.now_ms(), 1).first().copied());
        if let Err(e) = Mailer::new(&self.service, &SystemClock).report_job(job.id, &spec.email_to, next_run).await {
            tracing::warn!(job_id = job.id, "the job's result could not be e-mailed: {e}");
        }
    }
}
