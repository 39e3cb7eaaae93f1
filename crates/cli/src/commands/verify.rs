//! `orgvault verify`: re-reads a snapshot's blobs and checks their hashes; names each missing or
//! corrupt part by item. Exits non-zero when anything is wrong. Runs as a `verify` job.

use std::path::Path;

use clap::Args;
use serde_json::json;

use orgvault_core::Db;

use super::snapshots::DestArgs;
use crate::output::print_json;
use crate::terminal_progress::TerminalProgress;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub dest: DestArgs,

    /// The snapshot (id, unique prefix or "latest"); every snapshot when absent.
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,

    /// Re-read only about this fraction (0 < F <= 1) of the blobs, chosen at random.
    #[arg(long, value_name = "F")]
    pub sample: Option<f64>,

    /// Print one JSON object: {ok, snapshots:[{id, blobs_total, blobs_checked, problems:[...]}]}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub mail: super::identity_watch::OnDemandMailArgs,
}

pub async fn run(db: &Db, data_dir: &Path, args: VerifyArgs) -> anyhow::Result<()> {
    let jobs_before = args.mail.before(db).await?;
    let repo = args.dest.open(data_dir).await?;
    let ids = match &args.snapshot {
        Some(text) => vec![repo.find_snapshot(text).await?],
        None => Vec::new(),
    };
    let progress = TerminalProgress::new(args.json);
    let upkeep = args.dest.upkeep(db, &repo, &progress);
    let reports = upkeep.verify(&ids, args.sample).await;
    progress.finish();
    args.mail.after(db, data_dir, jobs_before, orgvault_core::jobs::JobKind::Verify, None).await;
    let reports = reports?;
    let problems: usize = reports.iter().map(|r| r.problems.len()).sum();
    if args.json {
        print_json(&json!({
            "ok": problems == 0,
            "snapshots": reports.iter().map(|r| json!({
                "id": r.snapshot.as_str(), "blobs_total": r.blobs_total, "blobs_checked": r.blobs_checked,
                "bytes_checked": r.bytes_checked, "problems": r.problems,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        for r in &reports {
            let state = if r.is_ok() { "ok" } else { "DAMAGED" };
            println!("{}  {state}  {} of {} blobs checked", r.snapshot.short(), r.blobs_checked, r.blobs_total);
            for p in &r.problems {
                println!("  {:?} {} ({}): {} {:?}", p.owner.kind, p.owner.title, p.owner.id, p.part, p.problem);
            }
        }
    }
    if problems > 0 {
        let named: Vec<String> = reports
            .iter()
            .flat_map(|r| r.problems.iter().map(|p| format!("{} ({}) {}", p.owner.title, p.owner.id, p.part)))
            .take(5)
            .collect();
        anyhow::bail!("{problems} damaged part(s), e.g. {}", named.join(", "));
    }
    Ok(())
}
