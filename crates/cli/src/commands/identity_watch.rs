//! `orgvault identity check [NAME|--all] [--json]` and `orgvault identity mail NAME ...`: the
//! token watch from the terminal. A check is core's ([`TokenWatch::check`]: a sign-in through
//! `Service::connect`, the finding stored with its time, a warning notified and e-mailed once),
//! plus the storage check; `identity mail` sets whom to e-mail about the identity.

use std::path::Path;

use clap::Args;
use orgvault_core::identity::{check_storage, credential_state, Identity, IdentitySecrets};
use orgvault_core::jobs::JobKind;
use orgvault_core::mail::{self, OnDemandMail};
use orgvault_core::schedule::EmailWhen;
use orgvault_core::token_watch::{self, Finding, IdentityCheck, IdentityMail, TokenWatch};
use orgvault_core::{Clock, Db, Service, SystemClock};
use serde_json::{json, Value};

use crate::notify::DesktopNotifier;
use crate::output::print_json;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The identity's name or id.
    #[arg(value_name = "NAME|ID", required_unless_present = "all", conflicts_with = "all")]
    pub identity: Option<String>,

    /// Check every saved identity.
    #[arg(long)]
    pub all: bool,

    /// Print JSON: one object ({ok, finding, detail, expires_ms, checked_ms, sign_in, admin,
    /// storage, token}), or with --all an array of them.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MailArgs {
    /// The identity's name or id.
    #[arg(value_name = "NAME|ID")]
    pub identity: String,

    /// Who gets the identity's token warnings and, by default, its on-demand job results
    /// (repeat for several; replaces the saved list).
    #[arg(long = "email", value_name = "ADDR")]
    pub email: Vec<String>,

    /// Remove every recipient.
    #[arg(long, conflicts_with = "email")]
    pub no_email: bool,

    /// When an on-demand backup, scan or verify of this identity e-mails its result by default:
    /// always, problems (anything but a full success), never.
    #[arg(long, value_name = "WHEN")]
    pub email_when: Option<String>,

    /// Print the identity's mail settings as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn check(db: &Db, data_dir: &Path, args: CheckArgs) -> anyhow::Result<()> {
    let (service, _) = super::identity::service(db, data_dir).await?;
    let identities = match &args.identity {
        Some(name) => vec![service.find_identity(name).await?],
        None => service.identities().list().await?,
    };
    let notifier = DesktopNotifier::from_env();
    let watch = TokenWatch::new(&service, &SystemClock, &notifier);
    let mut shown = Vec::new();
    let mut failed = Vec::new();
    for identity in &identities {
        let check = watch.check(identity).await?;
        let (value, ok) = report(&service, identity, &check).await?;
        if !ok {
            failed.push(identity.spec.name.clone());
        }
        if !args.json {
            print_text(&value);
        }
        shown.push(value);
    }
    if args.json {
        match args.identity {
            Some(_) => print_json(&shown.pop().unwrap_or(Value::Null))?,
            None => print_json(&Value::Array(shown))?,
        }
    } else if identities.is_empty() {
        println!("No saved identity (add one with `orgvault identity add`).");
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} failed its check: {}",
            if failed.len() == 1 { "an identity" } else { "identities" },
            failed.join(", ")
        );
    }
    Ok(())
}

/// One identity's check with its storage check, as JSON, and whether both passed.
async fn report(service: &Service, identity: &Identity, check: &IdentityCheck) -> anyhow::Result<(Value, bool)> {
    let secrets = IdentitySecrets::load(service.secrets().as_ref(), identity)?;
    let secret = secrets.as_ref().and_then(|s| s.storage_secret.as_ref()).map(|s| s.secret());
    let storage = check_storage(&identity.spec.storage, secret, 0).await;
    let token = credential_state(service.secrets().as_ref(), identity, SystemClock.now_ms())?;
    let signed_in = !matches!(
        check.finding,
        Finding::PasswordRejected | Finding::TokenRevoked | Finding::NeedsBrowserSignIn | Finding::Unreachable
    );
    let ok = check.finding == Finding::Ok && storage.ok;
    let value = json!({
        "id": identity.id, "name": identity.spec.name, "ok": ok,
        "finding": check.finding, "detail": check.detail, "expires_ms": check.expires_ms,
        "checked_ms": check.checked_ms, "mail_error": check.mail_error,
        "sign_in": { "ok": signed_in },
        "admin": { "ok": if signed_in { json!(check.finding != Finding::NotAdmin) } else { Value::Null } },
        "storage": storage, "token": token.as_str(),
    });
    Ok((value, ok))
}

fn print_text(v: &Value) {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    println!("Identity \"{}\" ({})", s("name"), s("id"));
    match s("finding").as_str() {
        "ok" => println!("  sign-in  ok (administrator)"),
        finding => println!("  sign-in  {}: {}", finding.to_uppercase(), v["detail"].as_str().unwrap_or("")),
    }
    if let Some(at) = v["expires_ms"].as_i64() {
        println!("  expires  {}", orgvault_core::mail::format_time(at));
    }
    let storage = &v["storage"];
    let state = if storage["ok"] == true {
        "ok".to_owned()
    } else {
        format!("FAILED ({})", storage["failed_step"].as_str().unwrap_or("?"))
    };
    println!("  storage  {state}: {}", storage["message"].as_str().unwrap_or(""));
    println!("  token    {}", s("token"));
    if let Some(e) = v["mail_error"].as_str() {
        println!("  e-mail   not sent: {e}");
    }
}

pub async fn mail(db: &Db, args: MailArgs) -> anyhow::Result<()> {
    let identity = super::identity::find_identity(db, &args.identity).await?;
    let mut mail = token_watch::identity_mail(db, &identity.id).await?;
    let changed = !args.email.is_empty() || args.no_email || args.email_when.is_some();
    if !args.email.is_empty() || args.no_email {
        mail.recipients = args.email.clone();
    }
    if let Some(w) = &args.email_when {
        mail.email_when = EmailWhen::parse(w)?;
    }
    if changed {
        token_watch::set_identity_mail(db, &SystemClock, &identity.id, &mail).await?;
    }
    print_mail(&identity, &mail, args.json)
}

fn print_mail(identity: &Identity, mail: &IdentityMail, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&json!({
            "id": identity.id, "name": identity.spec.name,
            "email": mail.recipients, "email_when": mail.email_when.as_str(),
        }));
    }
    let to = if mail.recipients.is_empty() { "nobody".to_owned() } else { mail.recipients.join(", ") };
    println!(
        "Identity \"{}\": token warnings to {to}; on-demand job results: {}",
        identity.spec.name,
        mail.email_when.as_str()
    );
    Ok(())
}

/// `--email` / `--email-when` of an on-demand `backup`, `scan` or `verify`: e-mail its result,
/// overriding the identity's defaults (`orgvault identity mail`).
#[derive(Debug, Args, Default)]
pub struct OnDemandMailArgs {
    /// E-mail the job's result to ADDR (repeatable) instead of the identity's recipients.
    #[arg(long = "email", value_name = "ADDR")]
    pub email: Vec<String>,

    /// When to e-mail the result: always, problems, never (default: the identity's choice).
    #[arg(long, value_name = "WHEN")]
    pub email_when: Option<String>,
}

impl OnDemandMailArgs {
    fn choice(&self) -> anyhow::Result<OnDemandMail> {
        Ok(OnDemandMail {
            recipients: (!self.email.is_empty()).then(|| self.email.clone()),
            when: self.email_when.as_deref().map(EmailWhen::parse).transpose()?,
        })
    }

    /// Notes where the job history stands before the work starts; checks the choice first.
    pub async fn before(&self, db: &Db) -> anyhow::Result<i64> {
        self.choice()?;
        Ok(mail::last_job_id(db).await?)
    }

    /// E-mails the results of this process's `kind` jobs begun after `after_id`, as chosen or
    /// as their identity's defaults say. A send that fails is recorded on its job and said on
    /// stderr; it never changes the command's outcome.
    pub async fn after(&self, db: &Db, data_dir: &Path, after_id: i64, kind: JobKind, identity_id: Option<&str>) {
        if let Err(e) = self.send(db, data_dir, after_id, kind, identity_id).await {
            eprintln!("warning: the result could not be e-mailed: {e:#}");
        }
    }

    async fn send(
        &self,
        db: &Db,
        data_dir: &Path,
        after_id: i64,
        kind: JobKind,
        identity_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let choice = self.choice()?;
        let defaults = match identity_id {
            Some(id) => token_watch::identity_mail(db, id).await?,
            None => IdentityMail::default(),
        };
        // Nothing to send to: the vault (the SMTP password) need not be opened.
        if choice.recipients.is_none() && defaults.recipients.is_empty() {
            return Ok(());
        }
        let (service, _) = super::identity::service(db, data_dir).await?;
        for sent in mail::report_own_jobs(&service, &SystemClock, after_id, kind, &choice).await? {
            match sent.state {
                mail::MailState::Sent => {
                    eprintln!("The result of job {} was e-mailed to {}.", sent.job_id, sent.recipients.join(", "))
                }
                mail::MailState::Failed => eprintln!(
                    "warning: the result of job {} was not e-mailed: {}",
                    sent.job_id,
                    sent.error.as_deref().unwrap_or("unknown error")
                ),
            }
        }
        Ok(())
    }
}
