//! `orgvault mail set|show|test`: the SMTP server OrgVault e-mails results through (the password
//! goes to the vault), and "send a test e-mail". Thin over `orgvault_core::mail`.

use std::path::Path;

use anyhow::Context;
use clap::{Args, Subcommand};
use orgvault_core::mail::{self, PasswordChange, Security, SmtpSettings};
use orgvault_core::{Db, SystemClock};

use crate::output::print_json;

#[derive(Debug, Args)]
pub struct MailArgs {
    #[command(subcommand)]
    pub command: MailCommand,
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Save the SMTP server (replaces the saved one).
    Set(SetArgs),
    /// Show the saved SMTP server (never the password).
    Show(ShowArgs),
    /// Send a test e-mail with the saved settings.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[arg(long, value_name = "HOST")]
    pub smtp_host: String,
    #[arg(long, value_name = "PORT")]
    pub smtp_port: u16,
    /// none, starttls or tls.
    #[arg(long, default_value = "starttls", value_parser = ["none", "starttls", "tls"])]
    pub security: String,
    /// Sign in to the server as this user (the password is read with --password-stdin).
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
    /// Read the SMTP password from the first line of standard input (stored in the vault).
    /// Without it, an edit keeps the saved password.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// The sender, e.g. "OrgVault <orgvault@example.org>".
    #[arg(long, value_name = "ADDR")]
    pub from: String,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[arg(long, value_name = "ADDR")]
    pub to: String,
}

pub async fn run(db: &Db, data_dir: &Path, args: MailArgs) -> anyhow::Result<()> {
    match args.command {
        MailCommand::Set(a) => {
            let settings = SmtpSettings {
                host: a.smtp_host,
                port: a.smtp_port,
                security: Security::parse(&a.security)?,
                username: a.username,
                from: a.from,
            };
            // Checked before the vault is opened or a password read.
            settings.validate()?;
            let password = if a.password_stdin {
                PasswordChange::Set(super::identity::read_password(true)?)
            } else {
                PasswordChange::Keep
            };
            let (service, _) = super::identity::service(db, data_dir).await?;
            settings.save(db, service.secrets().as_ref(), &SystemClock, password).await?;
            println!("saved the SMTP server {}:{} ({})", settings.host, settings.port, settings.security.as_str());
            Ok(())
        }
        MailCommand::Show(a) => {
            let settings = SmtpSettings::load(db).await?;
            if a.json {
                return print_json(&serde_json::to_value(&settings)?);
            }
            match settings {
                None => println!("E-mail is not set up (orgvault mail set ...)."),
                Some(s) => println!(
                    "{}:{} ({}), from {}{}",
                    s.host,
                    s.port,
                    s.security.as_str(),
                    s.from,
                    s.username.map(|u| format!(", signing in as {u}")).unwrap_or_default()
                ),
            }
            Ok(())
        }
        MailCommand::Test(a) => {
            let (service, _) = super::identity::service(db, data_dir).await?;
            mail::send_test(&service, &a.to).await.with_context(|| format!("the test e-mail to {} failed", a.to))?;
            println!("sent a test e-mail to {}", a.to);
            Ok(())
        }
    }
}
