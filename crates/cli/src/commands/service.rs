//! `orgvault service run [--once]`: the headless scheduler. It runs what is due (each slot
//! once, whichever OrgVault processes are up: core::schedule claims slots in the database),
//! then, without `--once`, wakes every few seconds until Ctrl-C. The vault is opened with its
//! key file or the OS keyring, as for any unattended job.
//! Each run's end raises a system notification where a desktop session exists
//! ([`DesktopNotifier`]) and is e-mailed as its schedule asks.
//! `orgvault service install|uninstall|status` manage a systemd user unit on Linux, a launchd
//! agent on macOS and a Task Scheduler task on Windows ([`super::service_unit`]).

use std::path::Path;
use std::time::Duration;

use clap::{Args, Subcommand};
use orgvault_core::notify::{Notifier, NotifyingHook};
use orgvault_core::schedule::{local_rfc3339, run_due, serve, LocalZone, ScheduleRunReport, Scheduler, TICK};
use orgvault_core::{Db, JobRunner, NoProgress, SystemClock};

use crate::output::print_json;

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub command: ServiceCommand,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Run schedules in the foreground until Ctrl-C.
    Run {
        /// Run what is due now, then exit.
        #[arg(long)]
        once: bool,
        /// Print each run as one JSON line (with --once: one array).
        #[arg(long)]
        json: bool,
        /// How often to look for due runs, in milliseconds (tests look more often).
        #[arg(long, hide = true, default_value_t = TICK.as_millis() as u64)]
        tick_ms: u64,
    },
    /// Install `service run` as a systemd user unit (Linux) and start it.
    Install {
        /// Write and enable the unit, but do not start it now.
        #[arg(long)]
        no_start: bool,
    },
    /// Stop and remove the systemd user unit.
    Uninstall,
    /// Whether the unit is installed and running.
    Status,
}

pub async fn run(db: &Db, data_dir: &Path, args: ServiceArgs) -> anyhow::Result<()> {
    let (once, json, tick) = match args.command {
        ServiceCommand::Run { once, json, tick_ms } => (once, json, Duration::from_millis(tick_ms.max(100))),
        ServiceCommand::Install { no_start } => return super::service_unit::install(data_dir, !no_start),
        ServiceCommand::Uninstall => return super::service_unit::uninstall(),
        ServiceCommand::Status => return super::service_unit::status(),
    };
    let (service, _) = super::identity::service(db, data_dir).await?;
    let cancel = crate::paths::cancel_on_ctrl_c();
    // Each scheduled job's result is e-mailed as its schedule asks, then announced.
    let hook = NotifyingHook {
        inner: orgvault_core::mail::MailHook { service: service.clone() },
        notifier: DesktopNotifier::from_env(),
    };
    let scheduler = Scheduler {
        service: &service,
        clock: &SystemClock,
        zone: LocalZone,
        progress: &NoProgress,
        cancel: cancel.clone(),
        hook: &hook,
    };
    JobRunner::new(db, &SystemClock).reconcile().await?;
    if once {
        let reports = run_due(&scheduler).await?;
        if json {
            return print_json(&serde_json::to_value(&reports)?);
        }
        if reports.is_empty() {
            println!("Nothing is due.");
        }
        for r in &reports {
            print_report(r, false)?;
        }
        return Ok(());
    }
    tracing::info!("schedule service started");
    serve(&scheduler, tick, |r| {
        if let Err(e) = print_report(r, json) {
            tracing::warn!("cannot print a run: {e}");
        }
    })
    .await;
    Ok(())
}

/// System notifications through notify-rust (D-Bus on Linux, the notification centre on
/// macOS, toasts on Windows). On Linux and the BSDs only where a desktop session exists
/// (`DBUS_SESSION_BUS_ADDRESS` set): a server has none, and the service then shows nothing,
/// quietly. A notification that cannot be shown is logged at debug level, never an error.
pub struct DesktopNotifier {
    session: bool,
}

impl DesktopNotifier {
    pub fn from_env() -> DesktopNotifier {
        let needs_dbus = cfg!(all(unix, not(target_os = "macos")));
        let session = !needs_dbus || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty());
        if !session {
            tracing::debug!("no desktop session (DBUS_SESSION_BUS_ADDRESS unset): no system notifications");
        }
        DesktopNotifier { session }
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, title: &str, body: &str) {
        if !self.session {
            return;
        }
        let (title, body) = (title.to_owned(), body.to_owned());
        // Showing one talks to the session bus, which may be slow: not on the scheduler's thread.
        std::thread::spawn(move || {
            if let Err(e) = notify_rust::Notification::new().appname("OrgVault").summary(&title).body(&body).show() {
                tracing::debug!("the system notification was not shown: {e}");
            }
        });
    }
}

/// One run as a line of text or JSON.
pub fn print_report(r: &ScheduleRunReport, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::to_value(r)?);
    }
    let when = r.slot_ms.map(local_rfc3339).unwrap_or_else(|| "now".into());
    let state = r.slot_state.map_or("run now", |s| s.as_str());
    let job = match (r.job_id, r.job_state) {
        (Some(id), Some(st)) => format!("job {id} {st:?}").to_lowercase(),
        _ => "no job".into(),
    };
    let note = r.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
    match &r.error {
        Some(e) => println!("{} [{when}, {state}]{note}: {job}: {e}", r.schedule),
        None => println!("{} [{when}, {state}]{note}: {job}", r.schedule),
    }
    Ok(())
}
