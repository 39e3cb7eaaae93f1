//! `orgvault scan`: caches an organization into the local catalog and prints what it holds.

use std::path::Path;

use clap::Args;
use orgvault_core::identity::{Identities, Identity, IdentitySpec, PortalKind, SignIn, Storage, TlsOptions};
use orgvault_core::{Db, SystemClock};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::connect::PortalArgs;
use crate::output::print_json;
use crate::terminal_progress::TerminalProgress;
use orgvault_core::units::format_bytes;

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub portal: PortalArgs,

    /// Read service URLs of items on this host too (repeatable; `host`, `host:port` or
    /// `https://host[:port]`), without the token. By default only the org's own hosts are read.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<arcgis::AllowedHost>,

    /// Print one JSON object: items, users, groups, relationships, references, estimated_bytes.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub mail: super::identity_watch::OnDemandMailArgs,
}

pub async fn run(db: &Db, data_dir: &Path, args: ScanArgs) -> anyhow::Result<()> {
    let jobs_before = args.mail.before(db).await?;
    let (portal, identity) = args.portal.connect_identity(db, data_dir).await?;
    for host in &args.allow_hosts {
        portal.allow_host(host.clone());
    }

    let progress = TerminalProgress::new(args.json);
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let summary = orgvault_core::scan(db, &portal, &identity.id, &progress, cancel, &SystemClock).await;
    progress.finish();
    args.mail.after(db, data_dir, jobs_before, orgvault_core::jobs::JobKind::Scan, Some(&identity.id)).await;
    let summary = summary?;

    if args.json {
        print_json(&json!({
            "items": summary.items,
            "users": summary.users,
            "groups": summary.groups,
            "relationships": summary.relationships,
            "references": summary.references,
            "estimated_bytes": summary.estimated_bytes,
            "problems": summary.problems,
            "requests": summary.requests,
            "scan_id": summary.scan_id,
            "job_id": summary.job_id,
        }))?;
    } else {
        let org = portal.self_info();
        println!("Scanned {} ({})", org.name.as_deref().unwrap_or(portal.org_id()), portal.portal_url());
        println!("  items          {}", summary.items);
        println!("  users          {}", summary.users);
        println!("  groups         {}", summary.groups);
        println!("  relationships  {}", summary.relationships);
        println!("  references     {}", summary.references);
        println!("  estimated size {}", format_bytes(summary.estimated_bytes));
        if summary.problems > 0 {
            println!("  problems       {} (see `orgvault jobs --job {}`)", summary.problems, summary.job_id);
        }
    }
    Ok(())
}

/// The identity this portal and user were scanned under before, or a new one. A CLI scan names
/// no backup destination yet, so a new identity's storage is the data folder's `backups`.
pub(crate) async fn identity_for(
    db: &Db,
    data_dir: &Path,
    args: &PortalArgs,
    portal: &arcgis::Portal,
) -> anyhow::Result<Identity> {
    let identities = Identities::new(db, &SystemClock);
    let url = portal.portal_url().to_string();
    let username = args.username()?;
    let existing = identities
        .list()
        .await?
        .into_iter()
        .find(|i| i.spec.portal_url == url && i.spec.sign_in.username() == Some(username));
    if let Some(found) = existing {
        return Ok(found);
    }
    let org = portal.self_info();
    let spec = IdentitySpec {
        name: org.name.clone().unwrap_or_else(|| portal.org_id().to_owned()),
        portal_url: url,
        kind: if org.is_portal { PortalKind::Enterprise } else { PortalKind::Online },
        sign_in: SignIn::Builtin { username: username.to_owned() },
        storage: Storage::Local { path: data_dir.join("backups").display().to_string() },
        // Names only: a CLI scan keeps no secret, so the values are given again each run.
        custom_headers: args.headers.names()?,
        tls: TlsOptions {
            extra_ca_pem_path: args.ca_cert.as_ref().map(|p| p.display().to_string()),
            allow_invalid_certs: args.insecure,
            allow_insecure_http: args.allow_insecure_http,
        },
    };
    Ok(identities.create(spec).await?)
}
