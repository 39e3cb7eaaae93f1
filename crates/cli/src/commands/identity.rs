//! `orgvault identity add|list|check|mail|remove`: saved organizations. The database keeps each
//! identity without its secrets; the password and the Azure connection string go to the vault
//! (`<data>/vault.stronghold`), the same one the desktop app uses.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arcgis::Secret;
use clap::{Args, Subcommand};
use orgvault_core::identity::{
    credential_state, move_header_values_to_vault, Identities, Identity, IdentitySpec, PortalKind, SignIn, Storage,
    TlsOptions, TokenState,
};
use orgvault_core::service::{IdentityDraft, SavedIdentity};
use orgvault_core::storage::{S3Address, S3Connection, S3Environment};
use orgvault_core::vault::{self, remove_identity_secrets, StrongholdVault, VaultKeySource};
use orgvault_core::{Clock, Db, ErrorCode, Service, ServiceError, SystemClock};
use serde_json::json;

use super::connect::{password, HeaderArgs};
use crate::output::print_json;

#[derive(Debug, Args)]
pub struct IdentityArgs {
    #[command(subcommand)]
    pub command: IdentityCommand,
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Sign in, check the account is an administrator and the storage works, then save.
    Add(AddArgs),
    /// List the saved identities and whether they can sign in.
    List(ListArgs),
    /// Sign in again with the saved secrets (the token watch's check: an OAuth sign-in is
    /// renewed when due) and check the admin rights and the storage.
    Check(super::identity_watch::CheckArgs),
    /// Show or set whom to e-mail about the identity (token warnings, on-demand job results).
    Mail(super::identity_watch::MailArgs),
    /// Remove an identity and its secrets (its backups stay where they are).
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// A name for the identity, e.g. "Acme production".
    #[arg(long)]
    pub name: String,

    /// The organization's URL, e.g. https://myorg.maps.arcgis.com or https://gis.example.com/portal.
    #[arg(long, value_name = "URL")]
    pub portal: String,

    /// A built-in administrator account of the organization.
    #[arg(long, short = 'u', value_name = "USER")]
    pub username: String,

    /// Read the password from the first line of standard input (else ORGVAULT_PASSWORD or a prompt).
    #[arg(long)]
    pub password_stdin: bool,

    /// Where its backups go: a folder; az://container (connection string from
    /// AZURE_STORAGE_CONNECTION_STRING); or s3://bucket[/prefix][?region=..&endpoint=..&path_style=..]
    /// (the access key from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile, kept in the
    /// vault). Default: the data folder's `backups`.
    #[arg(long = "to", value_name = "DEST")]
    pub to: Option<String>,

    /// Trust this extra CA certificate (PEM file), for portals behind an internal certificate authority.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<std::path::PathBuf>,

    /// Accept an invalid TLS certificate. Only for test portals: it allows interception.
    #[arg(long)]
    pub insecure: bool,

    #[command(flatten)]
    pub headers: HeaderArgs,

    /// Accept a plain http:// portal that is not on this machine (the password, tokens and
    /// header values then travel readable). http://127.0.0.1 and http://localhost need no opt-in.
    #[arg(long)]
    pub allow_insecure_http: bool,

    /// Print one JSON object describing the saved identity.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print one JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The identity's name or id.
    #[arg(value_name = "NAME|ID")]
    pub identity: String,
}

pub async fn run(db: &Db, data_dir: &Path, args: IdentityArgs) -> anyhow::Result<()> {
    match args.command {
        IdentityCommand::Add(a) => add(db, data_dir, a).await,
        IdentityCommand::List(a) => list(db, data_dir, a).await,
        IdentityCommand::Check(a) => super::identity_watch::check(db, data_dir, a).await,
        IdentityCommand::Mail(a) => super::identity_watch::mail(db, a).await,
        IdentityCommand::Remove(a) => remove(db, data_dir, a).await,
    }
}

/// Opens the data folder's vault; the error says how to fix a key problem. Header values an
/// older version kept in the database move into it on the way.
pub(crate) async fn open_vault(db: &Db, data_dir: &Path) -> anyhow::Result<(StrongholdVault, VaultKeySource)> {
    let opened = vault::open_default(data_dir).context("cannot open the credential vault")?;
    move_header_values_to_vault(db, &opened.0)
        .await
        .context("cannot move the saved request header values from the database to the vault")?;
    Ok(opened)
}

/// The application layer over this data folder's database and vault.
pub(crate) async fn service(db: &Db, data_dir: &Path) -> anyhow::Result<(Service, VaultKeySource)> {
    let (vault, source) = open_vault(db, data_dir).await?;
    Ok((Service::new(db.clone(), Arc::new(vault)), source))
}

fn storage_from_dest(data_dir: &Path, dest: Option<&str>) -> anyhow::Result<(Storage, Option<Secret>)> {
    let dest = match dest {
        None => return Ok((Storage::Local { path: data_dir.join("backups").display().to_string() }, None)),
        Some(d) => d.trim(),
    };
    if let Some(rest) = dest.strip_prefix("az://") {
        let container = rest.trim_end_matches('/');
        if container.is_empty() || container.contains('/') {
            anyhow::bail!("--to {dest:?}: an identity's Azure storage is a whole container, az://<container>");
        }
        let conn = std::env::var("AZURE_STORAGE_CONNECTION_STRING").ok().filter(|c| !c.trim().is_empty()).context(
            "--to az://... needs the storage account's connection string in AZURE_STORAGE_CONNECTION_STRING",
        )?;
        let storage =
            Storage::Azure { container: container.to_owned(), cache_dir: data_dir.join("cache").display().to_string() };
        return Ok((storage, Some(Secret::new(conn))));
    }
    if dest.starts_with("s3://") {
        let address = S3Address::parse(dest).map_err(|e| anyhow::anyhow!("--to {dest:?}: {e}"))?;
        // The keys are found as for any s3:// destination, then kept with the identity.
        let conn = S3Connection::discover(&address, &S3Environment::process())?;
        let storage = Storage::S3 {
            url: dest.to_owned(),
            access_key_id: conn.credentials.access_key_id.clone(),
            cache_dir: data_dir.join("cache").display().to_string(),
        };
        return Ok((storage, Some(conn.credentials.secret_access_key)));
    }
    if dest.contains("://") {
        anyhow::bail!("--to {dest:?}: only folder paths, az://container and s3://bucket[/prefix] are supported");
    }
    let path = std::path::absolute(dest).with_context(|| format!("--to {dest:?} is not a usable path"))?;
    Ok((Storage::Local { path: path.display().to_string() }, None))
}

pub(crate) fn read_password(from_stdin: bool) -> anyhow::Result<Secret> {
    if !from_stdin {
        return password();
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let p = line.trim_end_matches(['\r', '\n']);
    if p.is_empty() {
        anyhow::bail!("--password-stdin: standard input held no password");
    }
    Ok(Secret::new(p))
}

fn storage_text(storage: &Storage) -> String {
    match storage {
        Storage::Local { path } => path.clone(),
        Storage::Azure { container, .. } => format!("az://{container}"),
        Storage::S3 { url, .. } => url.clone(),
    }
}

async fn add(db: &Db, data_dir: &Path, args: AddArgs) -> anyhow::Result<()> {
    let (storage, storage_secret) = storage_from_dest(data_dir, args.to.as_deref())?;
    let spec = IdentitySpec {
        name: args.name.trim().to_owned(),
        portal_url: args.portal.trim().to_owned(),
        kind: PortalKind::Online,
        sign_in: SignIn::Builtin { username: args.username.clone() },
        storage,
        custom_headers: args.headers.names()?,
        tls: TlsOptions {
            extra_ca_pem_path: args.ca_cert.as_ref().map(|p| p.display().to_string()),
            allow_invalid_certs: args.insecure,
            allow_insecure_http: args.allow_insecure_http,
        },
    };
    let not_saved = |e: ServiceError| {
        let hint = match e.code() {
            ErrorCode::InvalidInput if !args.allow_insecure_http && spec.portal_url.starts_with("http:") => {
                " (--allow-insecure-http accepts a plain http portal)"
            }
            _ => "",
        };
        anyhow::anyhow!("identity {:?} was not saved: {e}{hint}", spec.name)
    };
    // The vault opens, and the name is checked, before anyone is asked for a password.
    let (service, source) = service(db, data_dir).await?;
    service.check_draft(None, &spec).await.map_err(not_saved)?;
    let draft = IdentityDraft {
        id: None,
        spec: spec.clone(),
        password: Some(read_password(args.password_stdin)?),
        storage_secret,
        header_values: Some(args.headers.read()?),
    };
    let SavedIdentity { identity, verified } = service.save_identity(draft, None).await.map_err(not_saved)?;
    tracing::info!(identity = %identity.id, key_source = %source, "identity added");
    let s = &verified.signed_in;
    if args.json {
        return print_json(&json!({
            "id": identity.id, "name": identity.spec.name, "portal_url": identity.spec.portal_url,
            "kind": identity.spec.kind, "username": s.username, "org_id": s.org_id, "org_name": s.org_name,
            "is_admin": s.is_admin, "token_expires_ms": s.token_expires_ms, "token": TokenState::Valid.as_str(),
            "storage": storage_text(&identity.spec.storage), "storage_check": verified.storage,
            "vault_key": key_source_text(&source),
        }));
    }
    println!("Identity \"{}\" added ({})", identity.spec.name, identity.id);
    println!("  organization  {} ({})", s.org_name, identity.spec.portal_url);
    println!("  signed in as  {} (administrator)", s.username);
    println!("  storage       {}: {}", storage_text(&identity.spec.storage), verified.storage.message);
    println!("  secrets       in the vault, key from {source}");
    Ok(())
}

fn key_source_text(source: &VaultKeySource) -> String {
    match source {
        VaultKeySource::OsKeyring => "os_keyring".into(),
        VaultKeySource::KeyFile(p) => format!("key_file:{}", p.display()),
    }
}

async fn list(db: &Db, data_dir: &Path, args: ListArgs) -> anyhow::Result<()> {
    let all = Identities::new(db, &SystemClock).list().await?;
    // Without identities there is nothing to look up, and no reason to create a vault key.
    let vault = if all.is_empty() { None } else { Some(open_vault(db, data_dir).await?.0) };
    let now = SystemClock.now_ms();
    let mut rows = Vec::new();
    for identity in &all {
        let token = match &vault {
            Some(v) => credential_state(v, identity, now)?,
            None => TokenState::None,
        };
        rows.push((identity, token));
    }
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(i, token)| {
                json!({
                    "id": i.id, "name": i.spec.name, "portal_url": i.spec.portal_url, "kind": i.spec.kind,
                    "sign_in": match i.spec.sign_in { SignIn::Builtin { .. } => "builtin", SignIn::Oauth { .. } => "oauth" },
                    "username": i.spec.sign_in.username(), "storage": storage_text(&i.spec.storage),
                    "token": token.as_str(),
                })
            })
            .collect();
        return print_json(&serde_json::Value::Array(list));
    }
    if rows.is_empty() {
        println!("No identities. Add one with `orgvault identity add --name N --portal URL --username U`.");
        return Ok(());
    }
    println!("{:<24} {:<32} {:<20} {:<9} {}", "NAME", "ID", "USERNAME", "TOKEN", "PORTAL / STORAGE");
    for (i, token) in rows {
        println!(
            "{:<24} {:<32} {:<20} {:<9} {} -> {}",
            i.spec.name,
            i.id,
            i.spec.sign_in.username().unwrap_or("-"),
            token.as_str(),
            i.spec.portal_url,
            storage_text(&i.spec.storage)
        );
    }
    Ok(())
}

/// The identity named or numbered `name_or_id`, with a message that helps when it is not found.
pub(crate) async fn find_identity(db: &Db, name_or_id: &str) -> anyhow::Result<Identity> {
    Identities::new(db, &SystemClock)
        .find(name_or_id)
        .await
        .with_context(|| format!("no saved identity {name_or_id:?} (see `orgvault identity list`)"))
}

async fn remove(db: &Db, data_dir: &Path, args: RemoveArgs) -> anyhow::Result<()> {
    let identity = find_identity(db, &args.identity).await?;
    let (vault, _) = open_vault(db, data_dir).await?;
    // Secrets first: if the row then fails to go, a later remove finishes the job; the reverse
    // order could leave secrets nobody can name any more.
    remove_identity_secrets(&vault, &identity.id)?;
    Identities::new(db, &SystemClock).delete(&identity.id).await?;
    tracing::info!(identity = %identity.id, "identity removed with its secrets");
    println!("Identity \"{}\" ({}) removed with its secrets", identity.spec.name, identity.id);
    Ok(())
}
