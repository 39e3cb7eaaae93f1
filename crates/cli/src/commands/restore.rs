//! `orgvault restore`: plans (default, `--plan`) or carries out (`--apply`) a restore of a
//! snapshot into an organization, the same one or another. Mappings come from flags and/or a
//! saved profile (`--profile`), and can be saved (`--save-profile`). `--plan --json` prints the
//! plan as one JSON object; `--apply --json` prints `{"created","updated","skipped","failed"}`.
//! Exits non-zero when the restore failed as a whole or every subject failed.

use std::path::Path;

use clap::{Args, ValueEnum};
use orgvault_core::restore::{
    parse_group_pair, parse_pair, Action, ConflictPolicy, ItemMethod, Mapping, Profiles, RestoreMode, RestoreOptions,
    RestorePlan,
};
use orgvault_core::service::PreparedRestore;
use orgvault_core::storage::StorageTarget;
use orgvault_core::{Db, SystemClock};
use serde_json::json;

use super::connect::PortalArgs;
use crate::output::print_json;
use crate::terminal_progress::TerminalProgress;
use orgvault_core::units::format_bytes;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Conflict {
    Skip,
    Rename,
    Overwrite,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The repository holding the snapshot: a folder, or az://<container>[/prefix].
    #[arg(long, value_name = "DEST")]
    pub from: String,

    /// The snapshot: an id, a unique prefix of one, or "latest".
    #[arg(long, value_name = "ID")]
    pub snapshot: String,

    /// The TARGET organization to restore into.
    #[command(flatten)]
    pub portal: PortalArgs,

    /// Show what would be done, write nothing (the default).
    #[arg(long, conflicts_with = "apply")]
    pub plan: bool,

    /// Carry the restore out (resumes an earlier, unfinished run of the same restore).
    #[arg(long)]
    pub apply: bool,

    /// Restored content of OLD goes to user NEW (repeatable).
    #[arg(long = "map-owner", value_name = "OLD=NEW")]
    pub map_owner: Vec<String>,

    /// Group OLD (id or title) becomes the existing group NEW, or a new group with NEW = "new" (repeatable).
    #[arg(long = "map-group", value_name = "OLD=NEW|new")]
    pub map_group: Vec<String>,

    /// Folder OLD (title) becomes folder NEW (repeatable).
    #[arg(long = "map-folder", value_name = "OLD=NEW")]
    pub map_folder: Vec<String>,

    /// Add this tag to every restored item (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Replace OLD with NEW in every URL and string of item data (repeatable; before id remapping).
    #[arg(long = "replace", value_name = "OLD=NEW")]
    pub replace: Vec<String>,

    /// When an item of the same owner, type and title (or a service name) exists in the target.
    #[arg(long, value_enum)]
    pub conflict: Option<Conflict>,

    /// In the snapshot's own organization: create copies beside the existing items.
    #[arg(long)]
    pub copies: bool,

    /// Restore only this item (repeatable).
    #[arg(long = "select-id", value_name = "ID")]
    pub select_ids: Vec<String>,

    /// Create only this missing user (repeatable; without it every missing user is created).
    #[arg(long = "select-user", value_name = "USERNAME", conflicts_with = "no_users")]
    pub select_users: Vec<String>,

    /// Restore only this group, by its source id (repeatable; without it every group).
    #[arg(long = "select-group", value_name = "GROUP_ID", conflicts_with = "no_groups")]
    pub select_groups: Vec<String>,

    /// Do not create users (items of missing owners go to the signed-in user).
    #[arg(long)]
    pub no_users: bool,

    /// Do not restore groups, memberships or group sharing.
    #[arg(long)]
    pub no_groups: bool,

    /// Start from this saved mapping profile (flags are laid over it).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Save the resulting mapping as this profile.
    #[arg(long, value_name = "NAME")]
    pub save_profile: Option<String>,

    /// How to re-create a hosted service: ITEM_ID=publish (its backed-up data), create_service
    /// (its definition, then its features), service_definition (its .sd, as published then),
    /// package (a tile or scene layer's package) or item (the item only); the plan lists which
    /// each offers (repeatable).
    #[arg(long = "method", value_name = "ITEM_ID=METHOD")]
    pub methods: Vec<String>,

    /// Items restored at once within a dependency level.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,

    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn flags_mapping(args: &RestoreArgs) -> anyhow::Result<Mapping> {
    let mut m = Mapping::default();
    for p in &args.map_owner {
        let (a, b) = parse_pair(p)?;
        m.owners.insert(a, b);
    }
    for p in &args.map_group {
        let (a, b) = parse_group_pair(p)?;
        m.groups.insert(a, b);
    }
    for p in &args.map_folder {
        let (a, b) = parse_pair(p)?;
        m.folders.insert(a, b);
    }
    for p in &args.replace {
        m.url_replace.push(parse_pair(p)?);
    }
    m.tags = args.tags.clone();
    m.conflict = match args.conflict {
        None | Some(Conflict::Skip) => ConflictPolicy::Skip,
        Some(Conflict::Rename) => ConflictPolicy::Rename,
        Some(Conflict::Overwrite) => ConflictPolicy::Overwrite,
    };
    if args.copies {
        m.mode = RestoreMode::Copies;
    }
    Ok(m)
}

/// `ITEM_ID=publish|create_service|service_definition`.
fn method_pair(text: &str) -> anyhow::Result<(String, ItemMethod)> {
    let (id, m) = text.split_once('=').ok_or_else(|| anyhow::anyhow!("--method takes ITEM_ID=METHOD, not {text:?}"))?;
    let method = match m.trim() {
        "publish" => ItemMethod::Publish,
        "create_service" => ItemMethod::CreateService,
        "service_definition" => ItemMethod::PublishDefinition,
        "package" => ItemMethod::PublishPackage,
        "item" => ItemMethod::Item,
        other => anyhow::bail!(
            "--method {id}={other}: the method is publish, create_service, service_definition, package or item"
        ),
    };
    Ok((id.trim().to_owned(), method))
}

pub async fn run(db: &Db, data_dir: &Path, args: RestoreArgs) -> anyhow::Result<()> {
    let profiles = Profiles::new(db, &SystemClock);
    let flags = flags_mapping(&args)?;
    let mapping = match &args.profile {
        Some(name) => profiles.get(name).await?.overlaid(&flags),
        None => flags,
    };
    if let Some(name) = &args.save_profile {
        profiles.save(name, &mapping).await?;
    }
    let target = StorageTarget::parse_dest_from_env(&args.from, &data_dir.join("cache"))?;
    let repo = super::snapshots::open_target(&target).await?;
    // The target: a saved identity (through the application layer, recorded on the job), or
    // --portal/--username.
    let (portal, target_identity) = match &args.portal.identity {
        Some(_) => {
            let (portal, identity) = args.portal.connect_identity(db, data_dir).await?;
            (portal, Some(identity.id))
        }
        None => (args.portal.connect().await?, None),
    };
    let options = RestoreOptions {
        mapping,
        items: (!args.select_ids.is_empty()).then(|| args.select_ids.iter().cloned().collect()),
        users: !args.no_users,
        user_names: (!args.select_users.is_empty()).then(|| args.select_users.iter().cloned().collect()),
        groups: !args.no_groups,
        group_ids: (!args.select_groups.is_empty()).then(|| args.select_groups.iter().cloned().collect()),
        methods: args.methods.iter().map(|m| method_pair(m)).collect::<anyhow::Result<_>>()?,
        concurrency: args.concurrency.max(1),
        ..RestoreOptions::default()
    };
    let restore = PreparedRestore::new(repo, &args.snapshot, portal, target_identity, options).await?;
    let progress = TerminalProgress::new(args.json);
    let cancel = crate::paths::cancel_on_ctrl_c();
    if !args.apply {
        let p = restore.plan(db, &SystemClock, &progress, cancel).await;
        progress.finish();
        let p = p?;
        return if args.json { print_json(&serde_json::to_value(&p)?) } else { print_plan(&p) };
    }
    let summary = restore.apply(db, &SystemClock, &progress, cancel).await;
    progress.finish();
    let s = summary?;
    eprintln!("restore job {}: {} requests in {} ms", s.job_id, s.requests, s.elapsed_ms);
    if args.json {
        print_json(&json!({"created": s.created, "updated": s.updated, "skipped": s.skipped, "failed": s.failed}))?;
    } else {
        println!(
            "Restore {:?}: {} created, {} updated, {} skipped, {} failed",
            s.state, s.created, s.updated, s.skipped, s.failed
        );
        if s.failed > 0 {
            println!("  see `orgvault jobs --job {}`; run the same restore again to retry what failed", s.job_id);
        }
    }
    if s.failed > 0 && s.created + s.updated + s.skipped == 0 {
        anyhow::bail!("every subject of the restore failed (see `orgvault jobs --job {}`)", s.job_id);
    }
    Ok(())
}

fn action(a: &Action) -> String {
    match a {
        Action::Create => "create".into(),
        Action::Update { target_id } => format!("update {target_id}"),
        Action::Skip { reason, .. } => format!("skip ({reason})"),
        Action::Match { target_id } => format!("match {target_id}"),
    }
}

fn print_plan(p: &RestorePlan) -> anyhow::Result<()> {
    println!(
        "Restore plan: snapshot {} \"{}\" -> {} ({})",
        p.snapshot_id, p.snapshot_name, p.target_portal_url, p.mode
    );
    println!(
        "  {} to create, {} to update, {} to skip, {} matched, {} conflicts; {} dependency levels",
        p.counts.create, p.counts.update, p.counts.skip, p.counts.matched, p.counts.conflicts, p.levels
    );
    println!(
        "  uploads {} (largest {}, {} in parts)",
        format_bytes(p.upload_bytes),
        format_bytes(p.largest_upload),
        p.multipart_uploads
    );
    for u in &p.users {
        println!("  user  {} -> {}: {}", u.source_username, u.target_username, action(&u.action));
    }
    for g in &p.groups {
        println!(
            "  group {} -> {}: {} (owner {}, {} members)",
            g.title,
            g.target_title,
            action(&g.action),
            g.owner,
            g.members.len()
        );
    }
    for i in &p.items {
        println!("  [{}] {} {:?} -> {}: {}", i.level, i.item_type, i.title, i.target_owner, action(&i.action));
        if let Some(c) = &i.conflict {
            println!("        conflict on {} {:?} ({:?})", c.on, c.value, c.policy);
        }
        if i.methods.len() > 1 {
            let word = |m: &ItemMethod| match m {
                ItemMethod::Publish => "publish",
                ItemMethod::CreateService => "create_service",
                ItemMethod::PublishDefinition => "service_definition",
                ItemMethod::PublishPackage => "package",
                ItemMethod::Item => "item",
            };
            let others: Vec<&str> = i.methods.iter().map(word).collect();
            println!("        method {} (--method {}=... one of {})", word(&i.method), i.source_id, others.join(", "));
        }
        for r in &i.rewrites {
            println!("        {}: {} -> {}", r.pointer, r.from, r.to);
        }
        for n in &i.notes {
            println!("        note: {n}");
        }
    }
    for n in &p.not_offered {
        println!("  not offered: {} {}: {}", n.id, n.title, n.reason);
    }
    for o in &p.missing_owners {
        println!("  missing owner: {o} (their items go to the signed-in user)");
    }
    for g in &p.group_limit {
        println!("  over the 512-group limit: {} ({} groups)", g.username, g.groups);
    }
    for (from, to) in &p.url_rewrites {
        println!("  URL {from} -> {to}");
    }
    for m in &p.missing_privileges {
        println!(
            "  MISSING PRIVILEGE: {} (for {}); --apply is refused until the target account has it",
            m.privilege, m.needed_for
        );
    }
    Ok(())
}
