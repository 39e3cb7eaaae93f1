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
    /// Forget this snapshot (id or unique prefix; repeatable) instead of applying a policy.
    #[arg(long = "snapshot", value_name = "ID", conflicts_with_all = ["keep_last", "keep_daily", "keep_weekly", "keep_monthly"])]
    pub snapshots: Vec<String>,
    /// Print one JSON object: {kept:[ids], removed:[ids]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub dest: DestArgs,
    /// Say what a prune would delete, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the prune report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub async fn forget(db: &Db, data_dir: &Path, args: ForgetArgs) -> anyhow::Result<()> {
    let repo = args.dest.open(data_dir).await?;
    if !args.snapshots.is_empty() {
        let mut ids = Vec::new();
        for s in &args.snapshots {
            ids.push(repo.find_snapshot(s).await?);
        }
        let done = args.dest.upkeep(db, &repo, &NoProgress).forget_snapshots(&ids).await?;
        let plan = done.forget.context("the retention job did not forget")?;
        if args.json {
            return print_json(&json!({
                "kept": Vec::<&str>::new(),
                "removed": plan.remove.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            }));
        }
        for s in &plan.remove {
            println!("forget {}  {}", s.id.short(), s.name);
        }
        println!("{} forgotten; run `orgvault prune` to free their space", plan.remove.len());
        return Ok(());
    }
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
    let report = if args.dry_run {
        let r = repo.prune_preview().await?;
        if !args.json {
            println!(
                "would remove {} blobs ({}), keep {} ({}); nothing was deleted",
                r.blobs_removed,
                format_bytes(r.bytes_removed),
                r.blobs_kept,
                format_bytes(r.bytes_kept)
            );
            return Ok(());
        }
        r
    } else {
        let done = args.dest.upkeep(db, &repo, &NoProgress).retention(None, true).await?;
        done.prune.context("the retention job did not prune")?
    };
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
