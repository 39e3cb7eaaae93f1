//! `orgvault schedule add|list|edit|remove|run-now`: unattended scans, backups and verifies of
//! a saved identity (core::schedule). Times are shown in the local time zone.

use std::path::Path;

use clap::{Args, Subcommand};
use orgvault_core::schedule::{
    local_rfc3339, run_now, EmailWhen, LocalZone, NoHook, Recurrence, Schedule, ScheduleCopy, ScheduleKind,
    ScheduleRetention, ScheduleSpec, ScheduleStatus, Scheduler, Schedules,
};
use orgvault_core::{Db, NoProgress, SystemClock};

use crate::output::print_json;

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule; prints its next five run times.
    Add(AddArgs),
    /// List the schedules with their next run and the last run's state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change a schedule (only what is given changes).
    Edit(EditArgs),
    /// Delete a schedule (its jobs stay in the history).
    Remove { id: String },
    /// Run a schedule now, outside its recurrence.
    RunNow {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// What a schedule runs and when; shared by add and edit.
#[derive(Debug, Args)]
pub struct ScheduleFields {
    /// scan, backup or verify.
    #[arg(long)]
    pub kind: Option<String>,
    /// A standard 5-field cron expression ("30 2 * * *": every day at 02:30 local time).
    #[arg(long)]
    pub cron: Option<String>,
    /// Send the result to this address (repeatable).
    #[arg(long = "email", value_name = "ADDR")]
    pub email: Vec<String>,
    /// When to send it: always, problems or never.
    #[arg(long)]
    pub email_when: Option<String>,
    #[arg(long)]
    pub keep_last: Option<u32>,
    #[arg(long)]
    pub keep_daily: Option<u32>,
    #[arg(long)]
    pub keep_weekly: Option<u32>,
    #[arg(long)]
    pub keep_monthly: Option<u32>,
    /// With a retention policy: forget only, do not delete unreferenced data.
    #[arg(long)]
    pub no_prune: bool,
    /// The snapshot name, with {identity}, {schedule}, {date} and {time}.
    #[arg(long)]
    pub name_pattern: Option<String>,
    /// After each backup, copy its snapshot to this repository (an absolute folder path,
    /// az://container[/prefix] or s3://bucket[/prefix][?profile=..]; credentials from the
    /// environment of the process running the schedule, the identity's repository password).
    /// An empty value removes the copy.
    #[arg(long, value_name = "DEST")]
    pub copy_to: Option<String>,
    /// Run a slot missed while the machine was off if it is at most this old (default 24).
    #[arg(long)]
    pub catch_up_hours: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[arg(long)]
    pub name: String,
    /// The saved identity (name or id).
    #[arg(long)]
    pub identity: String,
    #[command(flatten)]
    pub fields: ScheduleFields,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub enable: bool,
    #[arg(long, conflicts_with = "enable")]
    pub disable: bool,
    #[command(flatten)]
    pub fields: ScheduleFields,
}

pub async fn run(db: &Db, data_dir: &Path, args: ScheduleArgs) -> anyhow::Result<()> {
    let schedules = Schedules::new(db, &SystemClock);
    match args.command {
        ScheduleCommand::Add(a) => {
            let identity = orgvault_core::identity::Identities::new(db, &SystemClock).find(&a.identity).await?;
            let kind = ScheduleKind::parse(a.fields.kind.as_deref().unwrap_or("backup"))?;
            let cron = a.fields.cron.clone().ok_or_else(|| anyhow::anyhow!("--cron is required"))?;
            let mut spec = ScheduleSpec::new(&a.name, &identity.id, kind, &cron);
            apply(&mut spec, &a.fields)?;
            let saved = schedules.add(&spec).await?;
            show_saved(&saved, a.fields.json).await
        }
        ScheduleCommand::Edit(e) => {
            let old = schedules.find(&e.id).await?;
            let mut spec = old.spec.clone();
            if let Some(name) = &e.name {
                spec.name = name.clone();
            }
            if let Some(kind) = &e.fields.kind {
                spec.kind = ScheduleKind::parse(kind)?;
            }
            if let Some(cron) = &e.fields.cron {
                spec.cron = cron.clone();
            }
            spec.enabled = (spec.enabled || e.enable) && !e.disable;
            apply(&mut spec, &e.fields)?;
            let saved = schedules.update(old.id, &spec).await?;
            show_saved(&saved, e.fields.json).await
        }
        ScheduleCommand::Remove { id } => {
            let s = schedules.find(&id).await?;
            schedules.remove(s.id).await?;
            println!("removed schedule {} ({})", s.id, s.spec.name);
            Ok(())
        }
        ScheduleCommand::List { json } => {
            let list = schedules.statuses(&LocalZone).await?;
            if json {
                let mut out = Vec::new();
                for s in &list {
                    out.push(status_json(db, s).await?);
                }
                return print_json(&serde_json::Value::Array(out));
            }
            if list.is_empty() {
                println!("No schedules yet.");
            }
            for s in &list {
                println!(
                    "{:>4}  {:<24} {:<7} {:<16} next {:<25} last {}{}",
                    s.schedule.id,
                    s.schedule.spec.name,
                    s.schedule.spec.kind.as_str(),
                    s.schedule.spec.cron,
                    s.next_run_ms.map(local_rfc3339).unwrap_or_else(|| "-".into()),
                    s.last.as_ref().map_or("-", |l| l.state.as_str()),
                    if s.schedule.spec.enabled { "" } else { "  (disabled)" }
                );
                // Why the last slot has no job, or what became of a slot whose process died.
                if let Some(last) = &s.last {
                    for line in [&last.error, &last.note].into_iter().flatten() {
                        println!("      {line}");
                    }
                }
            }
            Ok(())
        }
        ScheduleCommand::RunNow { id, json } => {
            let schedule = schedules.find(&id).await?;
            let (service, _) = super::identity::service(db, data_dir).await?;
            let scheduler = Scheduler {
                service: &service,
                clock: &SystemClock,
                zone: LocalZone,
                progress: &NoProgress,
                cancel: crate::paths::cancel_on_ctrl_c(),
                hook: &NoHook,
            };
            let report = run_now(&scheduler, schedule.id).await?;
            super::service::print_report(&report, json)?;
            match report.error {
                Some(e) => anyhow::bail!("schedule {:?} failed: {e}", schedule.spec.name),
                None => Ok(()),
            }
        }
    }
}

fn apply(spec: &mut ScheduleSpec, f: &ScheduleFields) -> anyhow::Result<()> {
    if !f.email.is_empty() {
        spec.email_to = f.email.clone();
    }
    if let Some(when) = &f.email_when {
        spec.email_when = EmailWhen::parse(when)?;
    }
    if let Some(p) = &f.name_pattern {
        spec.name_pattern = Some(p.clone()).filter(|p| !p.is_empty());
    }
    if let Some(dest) = &f.copy_to {
        spec.copy_to = Some(dest.trim()).filter(|d| !d.is_empty()).map(|dest| ScheduleCopy { dest: dest.to_owned() });
    }
    if let Some(h) = f.catch_up_hours {
        spec.catch_up_ms = i64::from(h) * 3_600_000;
    }
    if [f.keep_last, f.keep_daily, f.keep_weekly, f.keep_monthly].iter().any(Option::is_some) {
        let old = spec.retention.clone().unwrap_or_default();
        spec.retention = Some(ScheduleRetention {
            keep_last: f.keep_last.or(old.keep_last),
            keep_daily: f.keep_daily.or(old.keep_daily),
            keep_weekly: f.keep_weekly.or(old.keep_weekly),
            keep_monthly: f.keep_monthly.or(old.keep_monthly),
            prune: !f.no_prune,
        });
    }
    Ok(())
}

async fn show_saved(saved: &Schedule, json: bool) -> anyhow::Result<()> {
    let next: Vec<i64> =
        Recurrence::parse(&saved.spec.cron)?.next_runs(&LocalZone, orgvault_core::Clock::now_ms(&SystemClock), 5);
    if json {
        let mut v = serde_json::to_value(saved)?;
        v["next_runs"] = next.iter().map(|&t| serde_json::Value::String(local_rfc3339(t))).collect();
        return print_json(&v);
    }
    println!("schedule {} ({}): {} {}", saved.id, saved.spec.name, saved.spec.kind.as_str(), saved.spec.cron);
    println!("next runs:");
    for t in next {
        println!("  {}", local_rfc3339(t));
    }
    Ok(())
}

async fn status_json(db: &Db, s: &ScheduleStatus) -> anyhow::Result<serde_json::Value> {
    let identity = orgvault_core::identity::Identities::new(db, &SystemClock).get(&s.schedule.spec.identity_id).await?;
    let spec = &s.schedule.spec;
    Ok(serde_json::json!({
        "id": s.schedule.id,
        "name": spec.name,
        "identity": identity.spec.name,
        "identity_id": spec.identity_id,
        "kind": spec.kind,
        "cron": spec.cron,
        "next_run": s.next_run_ms.map(local_rfc3339),
        "next_run_ms": s.next_run_ms,
        "last_state": s.last.as_ref().map(|l| l.state),
        "last_slot_ms": s.last.as_ref().map(|l| l.slot_ms),
        "last_job_id": s.last.as_ref().and_then(|l| l.job_id),
        "last_error": s.last.as_ref().and_then(|l| l.error.clone()),
        // Set when the last slot's process died: run again, or why not.
        "last_note": s.last.as_ref().and_then(|l| l.note.clone()),
        "enabled": spec.enabled,
        "selection": spec.selection,
        "retention": spec.retention,
        "email_to": spec.email_to,
        "email_when": spec.email_when,
    }))
}
