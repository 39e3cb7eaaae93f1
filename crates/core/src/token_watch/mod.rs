//! The token watch: every identity's credentials checked against its portal, so that a backup
//! left to run over the weekend does not find out on Saturday night that its sign-in died.
//!
//! A check signs in exactly as a job would, through [`Service::connect`] (the vault, the
//! request headers, the TLS options, the admin check, and any refresh token the portal issues in
//! exchange written back to the vault). For an OAuth identity that sign-in is also what keeps it
//! alive: the client exchanges a refresh token that is within a day of its expiry
//! (`exchange_refresh_token`) for a new one with a fresh lifetime, so stored credentials stay
//! valid indefinitely while OrgVault runs and checks more often than they expire.
//!
//! Each check ends in a [`Finding`]: `ok`; `password_rejected` (a built-in login's password was
//! changed); `token_revoked` (an OAuth sign-in refused before its expiry); `token_expiring`
//! (the refresh token runs out before the next check could renew it, with when);
//! `not_admin` (the account lost its administrator role); `unreachable` (the portal could not
//! be reached: tried again at the next check, not a warning); `needs_browser_sign_in` (an OAuth
//! or SAML sign-in that expired or was never saved: a person must sign in through the browser).
//!
//! Public API:
//! - [`TokenWatch`] over a [`Service`], a [`Clock`] and a [`Notifier`]: [`TokenWatch::check`]
//!   one identity, [`TokenWatch::check_all`] (at the start of `orgvault service run` and of the
//!   app), [`TokenWatch::check_due`] (every [`CHECK_INTERVAL_MS`], from the hosts' loops).
//! - [`WatchHook`]: a schedule hook that checks a schedule's identity before each scheduled
//!   run and hands the job's end to the mail hook.
//! - [`last_checks`], [`last_check`]: the stored state and time of each identity's last check
//!   (the Identities screen, `orgvault identity list`).
//! - [`IdentityMail`], [`identity_mail`], [`set_identity_mail`]: the identity's recipients and
//!   the default for e-mailing its on-demand jobs' results.
//!
//! Invariants:
//! - Nothing stored, notified or e-mailed holds a secret: findings carry the engine's error
//!   messages (free of secrets by design), and the e-mail passes the mail module's redactor.
//! - A warning (every finding but `ok` and `unreachable`) raises one system notification and
//!   one e-mail to the identity's recipients per finding, not one per check; an e-mail that
//!   could not be sent is tried again at the next check. An `ok` check clears the record, so a
//!   problem that comes back is raised again. `unreachable` leaves it as it was.

mod check;
mod store;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use store::{identity_mail, last_check, last_checks, set_identity_mail};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::mail::{MailError, Mailer, RetryPolicy, TokenWarning};
use crate::notify::Notifier;
use crate::schedule::{EmailWhen, JobEndedHook, Schedule, ScheduledJobEnded};
use crate::service::Service;

/// How often every identity is checked while OrgVault runs (the app or the service): four
/// hours, six chances within the last day of a refresh token's life, when the client
/// exchanges it.
pub const CHECK_INTERVAL_MS: i64 = 4 * 60 * 60 * 1000;

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Ok,
    PasswordRejected,
    TokenRevoked,
    TokenExpiring,
    NotAdmin,
    Unreachable,
    NeedsBrowserSignIn,
}

impl Finding {
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Ok => "ok",
            Finding::PasswordRejected => "password_rejected",
            Finding::TokenRevoked => "token_revoked",
            Finding::TokenExpiring => "token_expiring",
            Finding::NotAdmin => "not_admin",
            Finding::Unreachable => "unreachable",
            Finding::NeedsBrowserSignIn => "needs_browser_sign_in",
        }
    }

    pub fn parse(s: &str) -> Result<Finding> {
        Ok(match s {
            "ok" => Finding::Ok,
            "password_rejected" => Finding::PasswordRejected,
            "token_revoked" => Finding::TokenRevoked,
            "token_expiring" => Finding::TokenExpiring,
            "not_admin" => Finding::NotAdmin,
            "unreachable" => Finding::Unreachable,
            "needs_browser_sign_in" => Finding::NeedsBrowserSignIn,
            other => return Err(Error::Corrupt(format!("unknown token-watch finding {other:?}"))),
        })
    }

    /// Whether a person must act: every finding but `ok` and `unreachable`.
    pub fn is_warning(self) -> bool {
        !matches!(self, Finding::Ok | Finding::Unreachable)
    }

    /// What the person should do about it, in words for an administrator.
    pub fn action(self) -> &'static str {
        match self {
            Finding::Ok | Finding::Unreachable => "Nothing: OrgVault checks again later.",
            Finding::PasswordRejected => {
                "Enter the account's current password: edit the identity in OrgVault (Identities) and save it again."
            }
            Finding::TokenRevoked | Finding::NeedsBrowserSignIn => {
                "Sign in again through the browser: in OrgVault, Identities, edit the identity and choose Save and verify."
            }
            Finding::TokenExpiring => {
                "Sign in again through the browser before then, or keep OrgVault running (the app or `orgvault service run`) so it renews the sign-in."
            }
            Finding::NotAdmin => {
                "Give the account the administrator role again in the organization, or use an administrator account for this identity."
            }
        }
    }
}

/// The outcome of one check of one identity, as stored (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct IdentityCheck {
    pub identity_id: String,
    /// The identity's name.
    pub identity: String,
    pub finding: Finding,
    /// What the portal said, in words for the administrator.
    pub detail: Option<String>,
    /// When the credentials stop working, when known (epoch ms).
    pub expires_ms: Option<i64>,
    /// When the check ran (epoch ms).
    pub checked_ms: i64,
    /// Why the warning e-mail could not be sent, if it could not (tried again next check).
    pub mail_error: Option<String>,
}

/// Whom to e-mail about an identity: its token warnings, and by default (`email_when`) the
/// results of its on-demand jobs (a start may override both).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct IdentityMail {
    pub recipients: Vec<String>,
    pub email_when: EmailWhen,
}

/// Checks identities of one data folder and raises warnings.
pub struct TokenWatch<'a> {
    service: &'a Service,
    clock: &'a dyn Clock,
    notifier: &'a dyn Notifier,
    interval_ms: i64,
    mail_retry: RetryPolicy,
}

impl<'a> TokenWatch<'a> {
    pub fn new(service: &'a Service, clock: &'a dyn Clock, notifier: &'a dyn Notifier) -> Self {
        TokenWatch { service, clock, notifier, interval_ms: CHECK_INTERVAL_MS, mail_retry: RetryPolicy::default() }
    }

    /// Checks every `interval_ms` instead of [`CHECK_INTERVAL_MS`] (tests; a refresh token that
    /// expires before the next check is `token_expiring`).
    pub fn with_interval(mut self, interval_ms: i64) -> Self {
        self.interval_ms = interval_ms.max(1);
        self
    }

    pub fn with_mail_retry(mut self, retry: RetryPolicy) -> Self {
        self.mail_retry = retry;
        self
    }

    /// Checks one identity: signs in, records the finding and raises a warning once per
    /// finding. `Err` only when the database cannot be read or written.
    pub async fn check(&self, identity: &Identity) -> Result<IdentityCheck> {
        let (finding, detail, expires_ms) = check::sign_in(self.service, identity, self.clock, self.interval_ms).await;
        let mut check = IdentityCheck {
            identity_id: identity.id.clone(),
            identity: identity.spec.name.clone(),
            finding,
            detail,
            expires_ms,
            checked_ms: self.clock.now_ms(),
            mail_error: None,
        };
        let db = self.service.db();
        let mut raised = store::raised(db, &identity.id).await?;
        match finding {
            Finding::Ok => raised = store::Raised::default(),
            Finding::Unreachable => {
                tracing::info!(identity = %identity.id, "token watch: the portal could not be reached; checking again later");
            }
            warning => {
                let warning_mail = self.warning(identity, &check);
                if raised.notified != Some(warning) {
                    self.notifier.notify(&warning_mail.subject_line(), &warning_mail.problem);
                    raised.notified = Some(warning);
                }
                if raised.mailed != Some(warning) {
                    match self.mail(identity, &warning_mail).await {
                        Ok(true) => raised.mailed = Some(warning),
                        Ok(false) => {}
                        // Not set up: nothing to try again until someone sets it up.
                        Err(e @ MailError::NotConfigured) => {
                            raised.mailed = Some(warning);
                            check.mail_error = Some(e.to_string());
                        }
                        Err(e) => check.mail_error = Some(e.to_string()),
                    }
                }
                tracing::warn!(identity = %identity.id, finding = warning.as_str(), "token watch: an identity needs attention");
            }
        }
        store::record(db, &check, &raised, check.mail_error.as_deref()).await?;
        Ok(check)
    }

    /// Checks every identity, one after another.
    pub async fn check_all(&self) -> Result<Vec<IdentityCheck>> {
        let mut checks = Vec::new();
        for identity in self.service.identities().list().await? {
            checks.push(self.check(&identity).await?);
        }
        Ok(checks)
    }

    /// Checks the identities whose last check is older than the interval (or that were never
    /// checked). Cheap when none is due: the hosts call it from their loops.
    pub async fn check_due(&self) -> Result<Vec<IdentityCheck>> {
        let last = last_checks(self.service.db()).await?;
        let now = self.clock.now_ms();
        let mut checks = Vec::new();
        for identity in self.service.identities().list().await? {
            let checked = last.iter().find(|c| c.identity_id == identity.id).map(|c| c.checked_ms);
            if checked.is_none_or(|at| now - at >= self.interval_ms) {
                checks.push(self.check(&identity).await?);
            }
        }
        Ok(checks)
    }

    fn warning(&self, identity: &Identity, check: &IdentityCheck) -> TokenWarning {
        TokenWarning {
            identity: identity.spec.name.clone(),
            portal_url: identity.spec.portal_url.clone(),
            problem: check.detail.clone().unwrap_or_else(|| check.finding.as_str().to_owned()),
            expires_ms: check.expires_ms,
            action: check.finding.action().to_owned(),
        }
    }

    /// E-mails the warning to the identity's recipients. `Ok(false)`: nobody to send it to.
    async fn mail(&self, identity: &Identity, warning: &TokenWarning) -> std::result::Result<bool, MailError> {
        let mail = identity_mail(self.service.db(), &identity.id).await?;
        if mail.recipients.is_empty() {
            return Ok(false);
        }
        let mailer = Mailer::new(self.service, self.clock).with_retry(self.mail_retry);
        mailer.warn_token(identity, warning, &mail.recipients).await?;
        Ok(true)
    }
}

impl TokenWarning {
    /// The notification's title, the same words as the e-mail's subject.
    pub fn subject_line(&self) -> String {
        format!("OrgVault: identity \"{}\" needs attention", self.identity)
    }
}

/// The schedule hook of a host that watches tokens: before each scheduled run it checks the
/// schedule's identity (so a dead sign-in is reported before the job fails on it, and an OAuth
/// refresh token is exchanged when due); after the run it hands over to `then` (the mail hook).
pub struct WatchHook {
    pub service: Service,
    pub notifier: Arc<dyn Notifier>,
    pub then: Arc<dyn JobEndedHook>,
}

#[async_trait::async_trait]
impl JobEndedHook for WatchHook {
    async fn scheduled_run_starting(&self, schedule: &Schedule) {
        let watch = TokenWatch::new(&self.service, &SystemClock, self.notifier.as_ref());
        let checked = match self.service.identities().get(&schedule.spec.identity_id).await {
            Ok(identity) => watch.check(&identity).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            tracing::warn!(schedule = schedule.id, "the identity could not be checked before the run: {e}");
        }
    }

    async fn scheduled_job_ended(&self, ended: &ScheduledJobEnded<'_>) {
        self.then.scheduled_job_ended(ended).await;
    }

    /// Every look of a long-running host checks the identities whose last check is older than
    /// [`CHECK_INTERVAL_MS`], then passes the tick on.
    async fn tick(&self) {
        let watch = TokenWatch::new(&self.service, &SystemClock, self.notifier.as_ref());
        match watch.check_due().await {
            Ok(checks) => {
                for c in &checks {
                    tracing::info!(identity = %c.identity_id, finding = c.finding.as_str(), "identity checked");
                }
            }
            Err(e) => tracing::error!("checking the identities failed: {e}"),
        }
        self.then.tick().await;
    }
}
