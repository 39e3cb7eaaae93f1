//! Signing in from the command line: the password comes from `ORGVAULT_PASSWORD` or a prompt,
//! never from an argument (arguments are visible to other users in the process list).

use std::io::IsTerminal;

use anyhow::Context;
use arcgis::{Credentials, Portal, PortalConfig, Secret, TlsOptions, Url};
use clap::Args;

/// How to reach and sign in to one organization.
#[derive(Debug, Args)]
pub struct PortalArgs {
    /// The organization's URL, e.g. https://myorg.maps.arcgis.com or https://gis.example.com/portal.
    #[arg(long, value_name = "URL")]
    pub portal: String,

    /// A built-in account of the organization (the password is read from ORGVAULT_PASSWORD or asked for).
    #[arg(long, short = 'u', value_name = "USER")]
    pub username: String,

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
    pub fn portal_url(&self) -> anyhow::Result<Url> {
        let url = Url::parse(self.portal.trim()).with_context(|| {
            format!("--portal {:?} is not a URL (expected e.g. https://myorg.maps.arcgis.com)", self.portal)
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("--portal {:?} must start with https:// (or http://)", self.portal);
        }
        Ok(url)
    }

    pub fn custom_headers(&self) -> anyhow::Result<Vec<(String, String)>> {
        self.headers
            .iter()
            .map(|h| {
                let (name, value) =
                    h.split_once(':').with_context(|| format!("--header {h:?} must look like \"Name: value\""))?;
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            })
            .collect()
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

    /// Signs in; the answer names what is wrong (password, URL, certificate, reachability).
    pub async fn connect(&self) -> anyhow::Result<Portal> {
        let url = self.portal_url()?;
        let password = password()?;
        let mut cfg = PortalConfig::new(url, Credentials::BuiltIn { username: self.username.clone(), password });
        cfg.custom_headers = self.custom_headers()?;
        cfg.tls = self.tls()?;
        Ok(Portal::connect(cfg).await?)
    }
}

fn password() -> anyhow::Result<Secret> {
    if let Ok(p) = std::env::var("ORGVAULT_PASSWORD") {
        return Ok(Secret::new(p));
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no password: set ORGVAULT_PASSWORD (there is no terminal to ask on)");
    }
    let p = rpassword::prompt_password("Password: ").context("cannot read the password")?;
    Ok(Secret::new(p))
}
