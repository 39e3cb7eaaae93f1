//! The SMTP settings of one data folder: a row in `smtp_settings` and, when the server wants a
//! sign-in, a password in the vault under [`SecretKey::smtp_password`].

use arcgis::Secret;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::MailError;
use crate::clock::Clock;
use crate::db::Db;
use crate::vault::{SecretKey, SecretStore};

/// How the connection to the SMTP server is protected.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain text (a relay on the same host or network only).
    None,
    /// Plain text first, then upgraded with STARTTLS (usually port 587); refused if the server
    /// does not offer it.
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::None => "none",
            Security::Starttls => "starttls",
            Security::Tls => "tls",
        }
    }

    pub fn parse(s: &str) -> Result<Security, MailError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Security::None),
            "starttls" => Ok(Security::Starttls),
            "tls" => Ok(Security::Tls),
            other => Err(MailError::InvalidSettings(format!(
                "unknown SMTP security {other:?} (expected none, starttls or tls)"
            ))),
        }
    }
}

/// Where and how OrgVault sends e-mail. Holds no secret: the password is in the vault.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// `None`: the server takes mail without signing in.
    pub username: Option<String>,
    /// The sender address, e.g. `OrgVault <orgvault@example.org>`.
    pub from: String,
}

/// What happens to the stored SMTP password when settings are saved.
#[derive(Debug, Clone)]
pub enum PasswordChange {
    /// Keep the one in the vault (an edit that does not touch it).
    Keep,
    /// Store this one.
    Set(Secret),
}

impl SmtpSettings {
    /// Checks what the user entered before anything is stored or sent.
    pub fn validate(&self) -> Result<(), MailError> {
        if self.host.trim().is_empty() || self.host.contains(char::is_whitespace) {
            return Err(MailError::InvalidSettings(format!("{:?} is not an SMTP host name", self.host)));
        }
        if self.port == 0 {
            return Err(MailError::InvalidSettings("the SMTP port must be between 1 and 65535".into()));
        }
        if self.username.as_deref().is_some_and(|u| u.trim().is_empty()) {
            return Err(MailError::InvalidSettings("the SMTP username is empty".into()));
        }
        super::message::parse_mailbox(&self.from, "from address")?;
        Ok(())
    }

    /// The saved settings, or `None` when e-mail was never set up.
    pub async fn load(db: &Db) -> Result<Option<SmtpSettings>, MailError> {
        let row = sqlx::query("SELECT host, port, security, username, from_address FROM smtp_settings WHERE id = 1")
            .fetch_optional(db.pool())
            .await
            .map_err(crate::Error::from)?;
        let Some(row) = row else { return Ok(None) };
        let port: i64 = row.get("port");
        Ok(Some(SmtpSettings {
            host: row.get("host"),
            port: u16::try_from(port)
                .map_err(|_| crate::Error::Corrupt(format!("unexpected SMTP port {port} in the settings")))?,
            security: Security::parse(row.get::<&str, _>("security"))?,
            username: row.get("username"),
            from: row.get("from_address"),
        }))
    }

    /// Validates and stores these settings, and the password as `password` says. Settings
    /// without a username remove any stored password (nothing stale stays in the vault). The
    /// vault is written first, so a failed vault write leaves the old settings in place.
    pub async fn save(
        &self,
        db: &Db,
        secrets: &dyn SecretStore,
        clock: &dyn Clock,
        password: PasswordChange,
    ) -> Result<(), MailError> {
        self.validate()?;
        let key = SecretKey::smtp_password();
        match (&self.username, password) {
            (None, _) => secrets.remove(&key)?,
            (Some(_), PasswordChange::Set(p)) => secrets.put(&key, p.expose().as_bytes())?,
            (Some(_), PasswordChange::Keep) => {}
        }
        sqlx::query(
            "INSERT INTO smtp_settings (id, host, port, security, username, from_address, updated_ms)
             VALUES (1, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(id) DO UPDATE SET host = excluded.host, port = excluded.port,
                security = excluded.security, username = excluded.username,
                from_address = excluded.from_address, updated_ms = excluded.updated_ms",
        )
        .bind(self.host.trim())
        .bind(i64::from(self.port))
        .bind(self.security.as_str())
        .bind(self.username.as_deref())
        .bind(self.from.trim())
        .bind(clock.now_ms())
        .execute(db.pool())
        .await
        .map_err(crate::Error::from)?;
        Ok(())
    }

    /// The password to sign in with: `None` without a username; `no_secret` when a username is
    /// set but the vault has no password for it.
    pub fn password(&self, secrets: &dyn SecretStore) -> Result<Option<Secret>, MailError> {
        if self.username.is_none() {
            return Ok(None);
        }
        match secrets.get(&SecretKey::smtp_password())? {
            Some(bytes) => Ok(Some(Secret::new(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| MailError::InvalidSettings("the stored SMTP password is not text".into()))?,
            ))),
            None => Err(MailError::NoPassword),
        }
    }
}
