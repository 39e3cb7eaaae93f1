//! Signing in from the command line: either a saved identity (`--identity`, its secrets from the
//! vault), or `--portal` and `--username` with the password from `ORGVAULT_PASSWORD` or a prompt,
//! never from an argument (arguments are visible to other users in the process list).

use anyhow::Context;
use arcgis::{Credentials, Portal, PortalConfig, Secret, TlsOptions, Url};
use clap::Args;
use orgvault_core::identity::Identity;
use orgvault_core::{Db, Service};
use std::io::IsTerminal;
use std::path::Path;

/// How to reach and sign in to one organization.
#[derive(Debug, Args)]
pub struct PortalArgs {
    /// A saved identity (name or id, see `orgvault identity list`); its password comes from the vault.
    #[arg(long, value_name = "NAME|ID", conflicts_with_all = ["portal", "username", "ca_cert", "insecure", "headers", "header_file", "allow_insecure_http"])]
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

    #[command(flatten)]
    pub headers: HeaderArgs,

    /// Accept a plain http:// portal that is not on this machine (the password and tokens then
    /// travel readable). http://127.0.0.1 and http://localhost need no opt-in.
    #[arg(long)]
    pub allow_insecure_http: bool,
}

/// Extra request headers for the organization. Their values are often keys, so they are never
/// taken from the command line, where other users see them in the process list.
#[derive(Debug, Args, Clone, Default)]
pub struct HeaderArgs {
    /// The name of an extra request header sent to the organization (repeatable); its value is
    /// read from standard input, one line per --header in order (after the password with
    /// --password-stdin).
    #[arg(long = "header", value_name = "NAME")]
    pub headers: Vec<String>,

    /// A file of extra request headers, one "Name: value" per line.
    #[arg(long, value_name = "FILE")]
    pub header_file: Option<std::path::PathBuf>,
}

impl HeaderArgs {
    /// The header names, without reading any value.
    pub fn names(&self) -> anyhow::Result<Vec<String>> {
        let mut names = self.checked_names()?;
        names.extend(self.file_headers()?.into_iter().map(|(n, _)| n));
        Ok(names)
    }

    fn checked_names(&self) -> anyhow::Result<Vec<String>> {
        self.headers
            .iter()
            .map(|h| {
                if h.contains(':') {
                    anyhow::bail!(
                        "--header takes only the header's name: its value is read from standard input or --header-file, never from the command line (other users can read it there)"
                    );
                }
                let name = h.trim();
                if name.is_empty() {
                    anyhow::bail!("--header needs a header name");
                }
                Ok(name.to_owned())
            })
            .collect()
    }

    fn file_headers(&self) -> anyhow::Result<Vec<(String, Secret)>> {
        let Some(path) = &self.header_file else { return Ok(Vec::new()) };
        let text = Secret::new(
            std::fs::read_to_string(path).with_context(|| format!("cannot read --header-file {}", path.display()))?,
        );
        text.expose()
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|(i, line)| {
                let (name, value) = line.split_once(':').with_context(|| {
                    format!("--header-file {} line {}: expected \"Name: value\"", path.display(), i + 1)
                })?;
                if name.trim().is_empty() {
                    anyhow::bail!("--header-file {} line {}: the header has no name", path.display(), i + 1);
                }
                Ok((name.trim().to_owned(), Secret::new(value.trim())))
            })
            .collect()
    }

    /// The headers with their values: `--header` values from standard input (one line each, in
    /// order), then those of `--header-file`. Reads standard input, so call it once.
    pub fn read(&self) -> anyhow::Result<Vec<(String, Secret)>> {
        let mut headers = Vec::new();
        for name in self.checked_names()? {
            // At a terminal the value is typed without echo, like a password.
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                let value = rpassword::prompt_password(format!("Value of header {name}: "))
                    .with_context(|| format!("cannot read the value of header {name}"))?;
                if value.is_empty() {
                    anyhow::bail!("--header {name}: no value was given");
                }
                headers.push((name, Secret::new(value)));
                continue;
            }
            let mut line = String::new();
            let read = std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line)
                .with_context(|| format!("cannot read the value of header {name} from standard input"))?;
            let value = line.trim_end_matches(['\r', '\n']);
            if read == 0 || value.is_empty() {
                anyhow::bail!("--header {name}: standard input held no value for it (one line per --header)");
            }
            headers.push((name, Secret::new(value)));
        }
        headers.extend(self.file_headers()?);
        Ok(headers)
    }
}

/// Header values as the client takes them.
pub fn exposed(headers: &[(String, Secret)]) -> Vec<(String, String)> {
    headers.iter().map(|(n, v)| (n.clone(), v.expose().to_owned())).collect()
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
        arcgis::check_portal_url(&url, self.allow_insecure_http).map_err(|e| {
            let hint = if url.scheme() == "http" { " (or give --allow-insecure-http)" } else { "" };
            anyhow::anyhow!("--portal {portal:?}: {e}{hint}")
        })?;
        Ok(url)
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
        cfg.custom_headers = exposed(&self.headers.read()?);
        cfg.tls = self.tls()?;
        cfg.allow_insecure_http = self.allow_insecure_http;
        Ok(Portal::connect(cfg).await?)
    }

    /// Signs in and names the identity the work belongs to: the saved `--identity` with its
    /// secrets from the vault ([`Service::connect`]), or else `--portal`/`--username` and the
    /// identity they were used under before (created on first use).
    pub async fn connect_identity(&self, db: &Db, data_dir: &Path) -> anyhow::Result<(Portal, Identity)> {
        match self.saved_identity(db, data_dir).await? {
            Some((service, identity)) => Ok((connect_saved(&service, &identity).await?, identity)),
            None => {
                let portal = self.connect().await?;
                let identity = super::scan::identity_for(db, data_dir, self, &portal).await?;
                Ok((portal, identity))
            }
        }
    }

    /// The saved `--identity`, with the service over the data folder's vault; `None` without
    /// `--identity`.
    pub async fn saved_identity(&self, db: &Db, data_dir: &Path) -> anyhow::Result<Option<(Service, Identity)>> {
        let Some(name_or_id) = &self.identity else { return Ok(None) };
        let identity = super::identity::find_identity(db, name_or_id).await?;
        let (service, _) = super::identity::service(db, data_dir).await?;
        Ok(Some((service, identity)))
    }
}

/// Signs in as a saved identity.
pub async fn connect_saved(service: &Service, identity: &Identity) -> anyhow::Result<Portal> {
    service.connect(identity).await.with_context(|| format!("identity {:?}", identity.spec.name))
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
