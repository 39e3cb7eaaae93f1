//! Signing in from the command line: either a saved identity (`--identity`, its secrets from the
//! vault), or `--portal` and `--username` with the password from `ORGVAULT_PASSWORD` or a prompt,
//! never from an argument (arguments are visible to other users in the process list).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arcgis::{Credentials, Portal, PortalConfig, Secret, TlsOptions, Url};
use clap::Args;
use orgvault_core::identity::Identity;
use orgvault_core::Db;

/// How to reach and sign in to one organization.
#[derive(Debug, Args)]
pub struct PortalArgs {
    /// A saved identity (name or id, see `orgvault identity list`); its password comes from the vault.
    #[arg(long, value_name = "NAME|ID", conflicts_with_all = ["portal", "username", "ca_cert", "insecure", "headers"])]
    pub identity: Option<String>,

    /// The organization's URL, e.g. https://myorg.maps.arcgis.com or https://gis.example.com/portal.
    #[arg(long, value_name = "URL", required_unless_present = "identity")]
    pub portal: Option<String>,

    /// A built-in account of the organization (the password is read from ORGVAULT_PASSWORD or asked for).
    #[arg(long, short = 'u', value_name = "USER", required_unless_present = "identity")]
    pub username: Option<String>,

    /// Trust this extra CA certificate (PEM file), for portals behind an internal certificate authority.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<std::path::PathBuf>,

    /// Accept an invalid TLS certificate. Only for test portals: it allows interception.
    #[arg(long)]
    pub insecure: bool,

    /// An extra request header sent to the organization, as "Name: value" (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
}

impl PortalArgs {
    /// `--username`; clap guarantees it unless `--identity` was given.
    pub fn username(&self) -> anyhow::Result<&str> {
        self.username.as_deref().context("--username is required without --identity")
    }

    pub fn portal_url(&self) -> anyhow::Result<Url> {
        let portal = self.portal.as_deref().context("--portal is required without --identity")?;
        let url = Url::parse(portal.trim()).with_context(|| {
            format!("--portal {portal:?} is not a URL (expected e.g. https://myorg.maps.arcgis.com)")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("--portal {portal:?} must start with https:// (or http://)");
        }
        Ok(url)
    }

    pub fn custom_headers(&self) -> anyhow::Result<Vec<(String, String)>> {
        custom_headers(&self.headers)
    }

    pub fn tls(&self) -> anyhow::Result<TlsOptions> {
        let extra_ca_pem = match &self.ca_cert {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read the CA certificate {}", p.display()))?,
            ),
            None => None,
        };
        Ok(TlsOptions { extra_ca_pem, accept_invalid_certs: self.insecure })
    }

    /// Signs in with `--portal`/`--username`; the answer names what is wrong (password, URL,
    /// certificate, reachability). With `--identity`, use [`PortalArgs::connect_identity`].
    pub async fn connect(&self) -> anyhow::Result<Portal> {
        if self.identity.is_some() {
            anyhow::bail!("--identity cannot be used with this command; give --portal and --username");
        }
        let url = self.portal_url()?;
        let password = password()?;
        let mut cfg = PortalConfig::new(url, Credentials::BuiltIn { username: self.username()?.to_owned(), password });
        cfg.custom_headers = self.custom_headers()?;
        cfg.tls = self.tls()?;
        Ok(Portal::connect(cfg).await?)
    }

    /// Signs in and names the identity the work belongs to: the saved `--identity` with its
    /// secrets from the vault, or else `--portal`/`--username` and the identity they were used
    /// under before (created on first use).
    pub async fn connect_identity(&self, db: &Db, data_dir: &Path) -> anyhow::Result<(Portal, Identity)> {
        let Some(name_or_id) = &self.identity else {
            let portal = self.connect().await?;
            let identity = super::scan::identity_for(db, data_dir, self, &portal).await?;
            return Ok((portal, identity));
        };
        let identity = super::identity::find_identity(db, name_or_id).await?;
        let (vault, _) = super::identity::open_vault(data_dir)?;
        let secrets = super::identity::load_secrets(&vault, &identity)?;
        let mut cfg =
            orgvault_core::identity::portal_config(&identity.spec, &secrets.sign_in, Arc::new(arcgis::SystemClock))?;
        if let Credentials::OAuth { on_refresh_token, redirect_uri, .. } = &mut cfg.credentials {
            // An exchanged refresh token replaces the old one at once: the old one may stop working.
            let (vault, id, redirect_uri) = (Arc::new(vault), identity.id.clone(), redirect_uri.clone());
            *on_refresh_token = Some(Arc::new(move |t: arcgis::NewRefreshToken| {
                let secret = orgvault_core::identity::OAuthSecret {
                    refresh_token: t.refresh_token.expose().to_owned(),
                    refresh_token_expires_at: t.expires_at,
                    redirect_uri: redirect_uri.clone(),
                };
                let saved = orgvault_core::identity::save_refresh_token(vault.as_ref(), &id, &secret);
                if let Err(e) = saved {
                    tracing::error!(error = %e, "the new OAuth refresh token could not be saved in the vault");
                }
            }));
        }
        let portal = Portal::connect(cfg).await.with_context(|| format!("identity {:?}", identity.spec.name))?;
        Ok((portal, identity))
    }
}

/// Parses `--header "Name: value"` arguments.
pub fn custom_headers(headers: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    headers
        .iter()
        .map(|h| {
            let (name, value) =
                h.split_once(':').with_context(|| format!("--header {h:?} must look like \"Name: value\""))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// The password from `ORGVAULT_PASSWORD`, else asked for on the terminal.
pub(crate) fn password() -> anyhow::Result<Secret> {
    if let Ok(p) = std::env::var("ORGVAULT_PASSWORD") {
        return Ok(Secret::new(p));
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no password: set ORGVAULT_PASSWORD (there is no terminal to ask on)");
    }
    let p = rpassword::prompt_password("Password: ").context("cannot read the password")?;
    Ok(Secret::new(p))
}
