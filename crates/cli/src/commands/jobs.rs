//! `orgvault jobs`: the job history, newest first; `--job ID` shows one job's item outcomes.

use clap::Args;
use orgvault_core::jobs::{Job, JobFilter};
use orgvault_core::{Db, Jobs, SystemClock};

use crate::output::print_json;

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Show this job with every item outcome.
    #[arg(long, value_name = "ID")]
    pub job: Option<i64>,

    /// How many jobs to list.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,

    /// Print JSON (an array of jobs, or one job with its items).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(db: &Db, args: JobsArgs) -> anyhow::Result<()> {
    let jobs = Jobs::new(db, &SystemClock);
    if let Some(id) = args.job {
        let job = jobs.get(id).await?;
        let items = jobs.items(id).await?;
        if args.json {
            return print_json(&serde_json::json!({ "job": job, "items": items }));
        }
        print_job(&job);
        for it in items {
            let o = &it.outcome;
            println!(
                "  {:<8} {:<6} {} {} {}",
                format!("{:?}", o.outcome).to_lowercase(),
                format!("{:?}", o.kind).to_lowercase(),
                o.id,
                o.title,
                o.reason.as_deref().unwrap_or("")
            );
        }
        return Ok(());
    }
    let list = jobs.list(&JobFilter { limit: Some(args.limit), ..Default::default() }).await?;
    if args.json {
        return print_json(&serde_json::to_value(&list)?);
    }
    if list.is_empty() {
        println!("No jobs yet.");
    }
    for job in &list {
        print_job(job);
    }
    Ok(())
}

fn print_job(job: &Job) {
    let took = match (job.started_ms, job.finished_ms) {
        (Some(s), Some(f)) => format!("{:.1}s", (f - s) as f64 / 1000.0),
        _ => "-".to_owned(),
    };
    println!(
        "#{:<5} {:<8} {:<10} {:>8}  {}  {}{}",
        job.id,
        format!("{:?}", job.kind).to_lowercase(),
        format!("{:?}", job.state).to_lowercase(),
        took,
        job.name,
        job.counts,
        job.error.as_deref().map(|e| format!("  error: {e}")).unwrap_or_default()
    );
}
