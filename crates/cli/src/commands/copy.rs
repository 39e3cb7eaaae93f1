//! `orgvault copy`: snapshots from one repository into another (folder, Azure, S3), sending only
//! the blobs the destination lacks; resumable; a `copy` job of the history.

use std::path::Path;

use clap::Args;
use orgvault_core::jobs::Trigger;
use orgvault_core::Db;
use serde_json::json;

use super::snapshots::DestArgs;
use crate::output::print_json;
use crate::terminal_progress::TerminalProgress;
use orgvault_core::units::format_bytes;

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The repository to copy from (a folder, az://... or s3://..., as --to); only read.
    #[arg(long, value_name = "SRC")]
    pub from: String,

    /// The repository to copy into; created where the destination is missing or empty.
    #[command(flatten)]
    pub dest: DestArgs,

    /// Create the destination repository even though the location is not empty (as backup --init).
    #[arg(long)]
    pub init: bool,

    /// Create a missing destination unencrypted (as backup --no-encrypt). An encrypted
    /// destination's password is ORGVAULT_REPOSITORY_PASSWORD; the source's is
    /// ORGVAULT_FROM_REPOSITORY_PASSWORD when it differs.
    #[arg(long)]
    pub no_encrypt: bool,

    /// A snapshot to copy (id, unique prefix or "latest"; repeatable); every snapshot when absent.
    #[arg(long = "snapshot", value_name = "ID")]
    pub snapshots: Vec<String>,

    /// Print one JSON object: {snapshots:[{source, copied, already_there, blobs_copied, ...}]}.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(db: &Db, data_dir: &Path, args: CopyArgs) -> anyhow::Result<()> {
    let source = DestArgs { to: args.from.clone(), append_only: false }.target(data_dir)?;
    let from = super::snapshots::open_target_with(&source, super::repo_password::existing_source).await?;
    let to = args.dest.open_for_backup(data_dir, args.init, args.no_encrypt).await?;
    let mut ids = Vec::new();
    for text in &args.snapshots {
        ids.push(from.find_snapshot(text).await?);
    }
    let progress = TerminalProgress::new(args.json);
    let outcomes = DestArgs::upkeep_of(db, &from, &progress).copy_to(&to, &ids, Trigger::Manual).await;
    progress.finish();
    let outcomes = outcomes?;
    if args.json {
        return print_json(&json!({ "snapshots": outcomes }));
    }
    for o in &outcomes {
        if o.already_there {
            println!("{}  already in {} as {}", o.source.short(), to.target().describe(), o.copied.short());
        } else {
            println!(
                "{} -> {}  {} blobs ({}) copied, {} already there",
                o.source.short(),
                o.copied.short(),
                o.blobs_copied,
                format_bytes(o.bytes_copied),
                o.blobs_present
            );
        }
    }
    Ok(())
}
