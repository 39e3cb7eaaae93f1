//! `orgvault forget` and `orgvault prune`: retention by policy, then removal of blobs no
//! snapshot references (refused while a backup holds the repository); each a `retention` job.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use orgvault_core::repo::RetentionPolicy;
use orgvault_core::{Db, NoProgress};
use serde_json::json;

use super::snapshots::DestArgs;
use crate::output::print_json;
use orgvault_core::units::format_bytes;

#[derive(Debug, Args)]
pub struct ForgetArgs {
    #[command(flatten)]
    pub dest: DestArgs,
    /// Keep the newest N snapshots.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N days that have one.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Print one JSON object: {kept:[ids], removed:[ids]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub dest: DestArgs,
    /// Print the prune report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub async fn forget(db: &Db, data_dir: &Path, args: ForgetArgs) -> anyhow::Result<()> {
    let repo = args.dest.open(data_dir).await?;
    let policy = RetentionPolicy {
        keep_last: args.keep_last,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
        ..RetentionPolicy::default()
    };
    let done = args.dest.upkeep(db, &repo, &NoProgress).retention(Some(&policy), false).await?;
    let plan = done.forget.context("the retention job did not forget")?;
    if args.json {
        return print_json(&json!({
            "kept": plan.keep.iter().map(|(s, _)| s.id.as_str()).collect::<Vec<_>>(),
            "removed": plan.remove.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        }));
    }
    for (s, why) in &plan.keep {
        println!("keep   {}  {}  ({})", s.id.short(), s.name, why.join(", "));
    }
    for s in &plan.remove {
        println!("forget {}  {}", s.id.short(), s.name);
    }
    println!("{} kept, {} forgotten; run `orgvault prune` to free their space", plan.keep.len(), plan.remove.len());
    Ok(())
}

pub async fn prune(db: &Db, data_dir: &Path, args: PruneArgs) -> anyhow::Result<()> {
    let repo = args.dest.open(data_dir).await?;
    let done = args.dest.upkeep(db, &repo, &NoProgress).retention(None, true).await?;
    let report = done.prune.context("the retention job did not prune")?;
    if args.json {
        return print_json(&serde_json::to_value(&report)?);
    }
    println!(
        "removed {} blobs ({}), kept {} ({}); {} temporary files and {} stale locks cleaned",
        report.blobs_removed,
        format_bytes(report.bytes_removed),
        report.blobs_kept,
        format_bytes(report.bytes_kept),
        report.temp_files_removed,
        report.stale_locks_removed
    );
    Ok(())
}
