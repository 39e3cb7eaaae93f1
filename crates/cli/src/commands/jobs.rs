//! `orgvault jobs`: the job history, newest first; `--job ID` shows one job's item outcomes;
//! `--cancel ID` asks a running job to stop, whichever process (the app, another terminal, the
//! background service) runs it. Each job shows whether its result was e-mailed (the list: the
//! latest send; `--json`: every send under `mail`).

use clap::Args;
use orgvault_core::jobs::{Job, JobFilter, Trigger};
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

    /// Ask the running job ID to stop (it ends `cancelled` at its next check).
    #[arg(long, value_name = "ID", conflicts_with = "job")]
    pub cancel: Option<i64>,

    /// Print JSON (an array of jobs, or one job with its items).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(db: &Db, args: JobsArgs) -> anyhow::Result<()> {
    let jobs = Jobs::new(db, &SystemClock);
    if let Some(id) = args.cancel {
        jobs.request_cancel(id).await?;
        println!("asked job {id} to stop");
        return Ok(());
    }
    if let Some(id) = args.job {
        let job = jobs.get(id).await?;
        let items = jobs.items(id).await?;
        let mail = orgvault_core::mail::job_mail(db, id).await?;
        if args.json {
            return print_json(&serde_json::json!({ "job": job, "items": items, "mail": mail }));
        }
        print_job(&job);
        for m in &mail {
            println!("  {}", m.line());
        }
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
    let mut mails = Vec::with_capacity(list.len());
    for job in &list {
        mails.push(orgvault_core::mail::job_mail(db, job.id).await?);
    }
    if args.json {
        // Each job with its e-mail sends under "mail" (empty when none was asked for).
        let rows = list
            .iter()
            .zip(&mails)
            .map(|(job, mail)| {
                let mut row = serde_json::to_value(job)?;
                row["mail"] = serde_json::to_value(mail)?;
                Ok(row)
            })
            .collect::<serde_json::Result<Vec<_>>>()?;
        return print_json(&serde_json::Value::Array(rows));
    }
    if list.is_empty() {
        println!("No jobs yet.");
    }
    for (job, mail) in list.iter().zip(&mails) {
        print_job(job);
        // The latest send says whether the result reached its recipients.
        if let Some(m) = mail.last() {
            println!("        {}", m.line());
        }
    }
    Ok(())
}

fn print_job(job: &Job) {
    let took = match (job.started_ms, job.finished_ms) {
        (Some(s), Some(f)) => format!("{:.1}s", (f - s) as f64 / 1000.0),
        _ => "-".to_owned(),
    };
    // Who runs a live job, and what started it when not a person.
    let mut about = String::new();
    if !job.state.is_final() {
        if let Some(holder) = &job.holder {
            about.push_str(&format!("  [{holder}]"));
        }
        if job.cancel_requested_ms.is_some() {
            about.push_str("  (stopping)");
        }
    }
    if let Trigger::Schedule(id) = job.trigger {
        about.push_str(&format!("  (schedule {id})"));
    }
    println!(
        "#{:<5} {:<9} {:<10} {:>8}  {}  {}{}{about}",
        job.id,
        job.kind,
        format!("{:?}", job.state).to_lowercase(),
        took,
        job.name,
        job.counts.line(),
        job.error.as_deref().map(|e| format!("  error: {e}")).unwrap_or_default()
    );
}
