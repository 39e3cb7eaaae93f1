//! E-mail for on-demand jobs (a backup, scan or verify started by a person): the identity's
//! default recipients and "when" (`token_watch::identity_mail`), changeable at the start.

use super::{wanted, JobMail, MailError, Mailer};
use crate::clock::Clock;
use crate::jobs::{JobKind, Trigger};
use crate::schedule::EmailWhen;
use crate::service::Service;

/// What the person starting a job chose about its e-mail; `None` keeps the identity's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct OnDemandMail {
    pub recipients: Option<Vec<String>>,
    pub when: Option<EmailWhen>,
}

impl OnDemandMail {
    /// Whether anything was chosen (the CLI's `--email` / `--email-when`).
    pub fn is_default(&self) -> bool {
        self.recipients.is_none() && self.when.is_none()
    }
}

/// The highest job id so far: a caller notes it before starting work and passes it to
/// [`report_own_jobs`] afterwards.
pub async fn last_job_id(db: &crate::db::Db) -> Result<i64, MailError> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT MAX(id) FROM jobs").fetch_one(db.pool()).await.map_err(crate::Error::from)?;
    Ok(id.unwrap_or(0))
}

/// E-mails the result of each finished manual job of `kind` that this process began after job
/// `after_id` (whether it succeeded or failed), to the recipients and under the policy the
/// start chose, else its identity's defaults. Each send is recorded on its job (`job_mail`);
/// the records are returned. Jobs nobody asked to e-mail are skipped.
pub async fn report_own_jobs(
    service: &Service,
    clock: &dyn Clock,
    after_id: i64,
    kind: JobKind,
    choice: &OnDemandMail,
) -> Result<Vec<JobMail>, MailError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE id > ? AND kind = ? AND lease_pid = ? AND lease_host = ? ORDER BY id",
    )
    .bind(after_id)
    .bind(kind.as_str())
    .bind(i64::from(std::process::id()))
    .bind(crate::jobs::holder::host_name())
    .fetch_all(service.db().pool())
    .await
    .map_err(crate::Error::from)?;
    let mut sent = Vec::new();
    for id in ids {
        sent.extend(report_on_demand(service, clock, id, choice).await?);
    }
    Ok(sent)
}

/// E-mails the result of the finished manual job `job_id` to the recipients and under the
/// policy the start chose, else its identity's defaults; `None` when nobody asked for it (no
/// recipients, or `when` does not cover how it ended). The send is recorded on the job.
pub async fn report_on_demand(
    service: &Service,
    clock: &dyn Clock,
    job_id: i64,
    choice: &OnDemandMail,
) -> Result<Option<JobMail>, MailError> {
    let job = crate::jobs::Jobs::new(service.db(), clock).get(job_id).await?;
    if job.trigger != Trigger::Manual || !job.state.is_final() {
        return Ok(None);
    }
    let defaults = match &job.identity_id {
        Some(identity) => crate::token_watch::identity_mail(service.db(), identity).await?,
        None => Default::default(),
    };
    let recipients = choice.recipients.clone().unwrap_or(defaults.recipients);
    let when = choice.when.unwrap_or(defaults.email_when);
    if recipients.is_empty() || !wanted(when, job.state) {
        return Ok(None);
    }
    Ok(Some(Mailer::new(service, clock).report_job(job_id, &recipients, None).await?))
}
