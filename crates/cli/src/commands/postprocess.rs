//! `orgvault postprocess`: after a restore, the URLs its items name (registered services
//! marked), changed by find/replace rules or one by one, previewed first; `--apply` writes them
//! as a `postprocess` job of the history. Logic in `orgvault_core::postprocess`.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use orgvault_core::postprocess::{changes, restored_snapshot, Postprocess, UrlEdit};
use orgvault_core::restore::parse_pair;
use orgvault_core::{Db, SystemClock};
use serde_json::json;

use super::connect::PortalArgs;
use crate::output::print_json;
use crate::terminal_progress::TerminalProgress;

#[derive(Debug, Args)]
pub struct PostprocessArgs {
    /// The organization the restore wrote into (a saved identity, or --portal/--username).
    #[command(flatten)]
    pub portal: PortalArgs,

    /// The snapshot the restore came from (its id or a unique prefix).
    #[arg(long, value_name = "ID")]
    pub snapshot: String,

    /// Replace FIND with REPLACE in the URLs listed (registered services, or every URL with
    /// --all) (repeatable, applied in order).
    #[arg(long = "replace", value_name = "FIND=REPLACE")]
    pub replace: Vec<String>,

    /// One URL by hand: ITEM_ID@PLACE=URL, PLACE being `url` or a JSON pointer the listing shows.
    #[arg(long = "set", value_name = "ITEM@PLACE=URL")]
    pub set: Vec<String>,

    /// List every URL of the restored items, not only registered services.
    #[arg(long)]
    pub all: bool,

    /// Write the changes (without it nothing is written: the listing and the preview only).
    #[arg(long)]
    pub apply: bool,

    /// Print one JSON object: {uses, changes, summary}.
    #[arg(long)]
    pub json: bool,
}

fn edit(text: &str) -> anyhow::Result<UrlEdit> {
    let (at, to) = text.split_once('=').context("--set takes ITEM_ID@PLACE=URL")?;
    let (item, place) = at.split_once('@').context("--set takes ITEM_ID@PLACE=URL")?;
    Ok(UrlEdit { item_id: item.trim().into(), place: place.trim().into(), to: to.trim().into() })
}

pub async fn run(db: &Db, data_dir: &Path, args: PostprocessArgs) -> anyhow::Result<()> {
    let rules = args.replace.iter().map(|p| parse_pair(p)).collect::<Result<Vec<_>, _>>()?;
    let edits = args.set.iter().map(|s| edit(s)).collect::<anyhow::Result<Vec<_>>>()?;
    let (portal, identity_id) = match &args.portal.identity {
        Some(_) => {
            let (portal, identity) = args.portal.connect_identity(db, data_dir).await?;
            (portal, Some(identity.id))
        }
        None => (args.portal.connect().await?, None),
    };
    let snapshot = restored_snapshot(db, portal.org_id(), &args.snapshot).await?;
    let progress = TerminalProgress::new(args.json);
    let post = Postprocess {
        db,
        clock: &SystemClock,
        portal: &portal,
        snapshot: &snapshot,
        identity_id: identity_id.as_deref(),
        progress: &progress,
        cancel: crate::paths::cancel_on_ctrl_c(),
    };
    let uses: Vec<_> = post.url_uses().await?.into_iter().filter(|u| args.all || u.registered).collect();
    let planned = changes(&uses, &rules, &edits);
    let summary = if args.apply && !planned.is_empty() { Some(post.apply(&planned).await?) } else { None };
    if args.json {
        return print_json(&json!({ "uses": uses, "changes": planned, "summary": summary }));
    }
    for u in &uses {
        let mark = if u.registered { "registered" } else { "" };
        println!("{:<10} {} {} [{}] {}@{} {}", mark, u.item_type, u.title, u.owner, u.item_id, u.place, u.url);
    }
    for c in &planned {
        println!("change {}@{}: {} -> {}", c.item_id, c.place, c.from, c.to);
    }
    match summary {
        Some(s) => println!(
            "job {}: {} items changed ({} URLs), {} skipped, {} failed",
            s.job_id, s.counts.changed, s.counts.urls, s.counts.skipped, s.counts.failed
        ),
        None if planned.is_empty() => println!("nothing to change"),
        None => println!("{} changes previewed; run again with --apply to write them", planned.len()),
    }
    Ok(())
}
