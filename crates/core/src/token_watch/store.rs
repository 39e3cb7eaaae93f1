//! The token watch's rows (migration `0009_token_watch.sql`): the last check of each identity
//! (`identity_checks`) and whom to e-mail about it (`identity_mail`). No secret is stored.

use sqlx::Row;

use super::{Finding, IdentityCheck, IdentityMail};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::schedule::EmailWhen;

/// The warnings already raised for an identity's current finding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Raised {
    pub notified: Option<Finding>,
    pub mailed: Option<Finding>,
}

pub(super) async fn raised(db: &Db, identity_id: &str) -> Result<Raised> {
    let row = sqlx::query("SELECT notified_finding, mailed_finding FROM identity_checks WHERE identity_id = ?")
        .bind(identity_id)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(Raised::default()) };
    let read = |col: &str| row.get::<Option<String>, _>(col).as_deref().map(Finding::parse).transpose();
    Ok(Raised { notified: read("notified_finding")?, mailed: read("mailed_finding")? })
}

/// Writes the outcome of a check with the warnings raised so far for it.
pub(super) async fn record(db: &Db, check: &IdentityCheck, raised: &Raised, mail_error: Option<&str>) -> Result<()> {
    sqlx::query(
        "INSERT INTO identity_checks (identity_id, finding, detail, expires_ms, checked_ms, notified_finding,
                                      mailed_finding, mail_error)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(identity_id) DO UPDATE SET finding = excluded.finding, detail = excluded.detail,
            expires_ms = excluded.expires_ms, checked_ms = excluded.checked_ms,
            notified_finding = excluded.notified_finding, mailed_finding = excluded.mailed_finding,
            mail_error = excluded.mail_error",
    )
    .bind(&check.identity_id)
    .bind(check.finding.as_str())
    .bind(check.detail.as_deref())
    .bind(check.expires_ms)
    .bind(check.checked_ms)
    .bind(raised.notified.map(Finding::as_str))
    .bind(raised.mailed.map(Finding::as_str))
    .bind(mail_error)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The last check of every identity that was checked, by identity name.
pub async fn last_checks(db: &Db) -> Result<Vec<IdentityCheck>> {
    let rows = sqlx::query(
        "SELECT c.identity_id, i.name, c.finding, c.detail, c.expires_ms, c.checked_ms, c.mail_error
         FROM identity_checks c JOIN identities i ON i.id = c.identity_id ORDER BY i.name COLLATE NOCASE",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(check_of_row).collect()
}

/// The last check of one identity, if it was ever checked.
pub async fn last_check(db: &Db, identity_id: &str) -> Result<Option<IdentityCheck>> {
    let row = sqlx::query(
        "SELECT c.identity_id, i.name, c.finding, c.detail, c.expires_ms, c.checked_ms, c.mail_error
         FROM identity_checks c JOIN identities i ON i.id = c.identity_id WHERE c.identity_id = ?",
    )
    .bind(identity_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(check_of_row).transpose()
}

fn check_of_row(row: &sqlx::sqlite::SqliteRow) -> Result<IdentityCheck> {
    Ok(IdentityCheck {
        identity_id: row.get("identity_id"),
        identity: row.get("name"),
        finding: Finding::parse(row.get::<&str, _>("finding"))?,
        detail: row.get("detail"),
        expires_ms: row.get("expires_ms"),
        checked_ms: row.get("checked_ms"),
        mail_error: row.get("mail_error"),
    })
}

/// Whom to e-mail about an identity; the default (nobody, `problems`) when never set.
pub async fn identity_mail(db: &Db, identity_id: &str) -> Result<IdentityMail> {
    let row = sqlx::query("SELECT recipients, email_when FROM identity_mail WHERE identity_id = ?")
        .bind(identity_id)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(IdentityMail::default()) };
    let recipients: Vec<String> = serde_json::from_str(row.get::<&str, _>("recipients"))
        .map_err(|e| Error::Corrupt(format!("identity_mail.recipients of {identity_id}: {e}")))?;
    Ok(IdentityMail { recipients, email_when: EmailWhen::parse(row.get::<&str, _>("email_when"))? })
}

/// Stores whom to e-mail about an identity. Each address must be a mailbox
/// (`name <a@b>` or `a@b`); an unknown identity is `not_found`.
pub async fn set_identity_mail(db: &Db, clock: &dyn Clock, identity_id: &str, mail: &IdentityMail) -> Result<()> {
    for r in &mail.recipients {
        crate::mail::parse_mailbox(r, "recipient").map_err(|e| Error::InvalidInput(e.to_string()))?;
    }
    let recipients = serde_json::to_string(&mail.recipients).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let done = sqlx::query(
        "INSERT INTO identity_mail (identity_id, recipients, email_when, updated_ms)
         SELECT id, ?, ?, ? FROM identities WHERE id = ?
         ON CONFLICT(identity_id) DO UPDATE SET recipients = excluded.recipients,
            email_when = excluded.email_when, updated_ms = excluded.updated_ms",
    )
    .bind(recipients)
    .bind(mail.email_when.as_str())
    .bind(clock.now_ms())
    .bind(identity_id)
    .execute(db.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound { what: "identity", id: identity_id.to_owned() });
    }
    Ok(())
}
