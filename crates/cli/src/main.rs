//! `orgvault`: OrgVault for servers and scripts. Thin: it parses arguments, calls the core, and
//! prints (progress bars on a terminal, one JSON document with `--json`). Every failure ends in a
//! one-line message naming what is wrong and a non-zero exit.

mod commands;
mod notify;
mod output;
mod paths;
mod terminal_progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "orgvault",
    version = orgvault_build_info::VERSION_LINE,
    about = "Back up and restore ArcGIS Online and Enterprise organizations")]
struct Cli {
    /// Where OrgVault keeps its database and logs (default: the platform's data folder).
    #[arg(long, global = true, env = "ORGVAULT_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Log level for the log file: error, warn, info, debug or trace.
    #[arg(long, global = true, env = "ORGVAULT_LOG", default_value = "info")]
    log_level: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan an organization into the local catalog and print what it holds.
    Scan(commands::scan::ScanArgs),
    /// Show the job history.
    Jobs(commands::jobs::JobsArgs),
    /// Scan, then back up the organization into a repository as one snapshot.
    Backup(commands::backup::BackupArgs),
    /// List the snapshots of a repository.
    Snapshots(commands::snapshots::SnapshotsArgs),
    /// Re-read a repository's blobs and check their hashes.
    Verify(commands::verify::VerifyArgs),
    /// Write a snapshot as one standard .zip file.
    ExportZip(commands::zip::ExportZipArgs),
    /// Read a .zip written by export-zip back into a repository.
    ImportZip(commands::zip::ImportZipArgs),
    /// Copy snapshots from one repository to another (only the blobs the destination lacks).
    Copy(commands::copy::CopyArgs),
    /// The keys of an encrypted repository: list, add, remove, passwd.
    Key(commands::key::KeyArgs),
    /// Forget snapshots by a retention policy (their blobs stay until prune).
    Forget(commands::retention::ForgetArgs),
    /// Delete blobs no snapshot references.
    Prune(commands::retention::PruneArgs),
    /// Plan (default) or apply a restore of a snapshot into an organization.
    Restore(commands::restore::RestoreArgs),
    /// After a restore: list the URLs its items name and change them (registered services).
    Postprocess(commands::postprocess::PostprocessArgs),
    /// Saved organizations: add (verifies first), list, check, remove. Secrets go to the vault.
    Identity(commands::identity::IdentityArgs),
    /// E-mail: the SMTP server results are sent through (set, show) and a test message.
    Mail(commands::mail::MailArgs),
    /// Unattended scans, backups and verifies: add, list, edit, remove, run-now.
    Schedule(commands::schedule::ScheduleArgs),
    /// The background service that runs schedules (`service run [--once]`).
    Service(commands::service::ServiceArgs),
}

/// jemalloc rather than glibc's malloc: a backup frees many short-lived buffers on many threads
/// (async workers, blocking pool), and glibc kept them in per-thread arenas (~40 MB of the peak
/// RSS of a 12,000-item backup); jemalloc returns them to the system.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the cause chain: scripts grep it, people read it.
            eprintln!("error: {}", output::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = paths::data_dir(cli.data_dir)?;
    let _log_guard = paths::init_logging(&data_dir, &cli.log_level)?;
    let db = paths::open_db(&data_dir).await?;
    match cli.command {
        Command::Scan(args) => commands::scan::run(&db, &data_dir, args).await,
        Command::Jobs(args) => commands::jobs::run(&db, args).await,
        Command::Backup(args) => commands::backup::run(&db, &data_dir, args).await,
        Command::Snapshots(args) => commands::snapshots::run(&data_dir, args).await,
        Command::Verify(args) => commands::verify::run(&db, &data_dir, args).await,
        Command::ExportZip(args) => commands::zip::export(&data_dir, args).await,
        Command::Key(args) => commands::key::run(&data_dir, args).await,
        Command::ImportZip(args) => commands::zip::import(&data_dir, args).await,
        Command::Copy(args) => commands::copy::run(&db, &data_dir, args).await,
        Command::Forget(args) => commands::retention::forget(&db, &data_dir, args).await,
        Command::Prune(args) => commands::retention::prune(&db, &data_dir, args).await,
        Command::Restore(args) => commands::restore::run(&db, &data_dir, args).await,
        Command::Postprocess(args) => commands::postprocess::run(&db, &data_dir, args).await,
        Command::Identity(args) => commands::identity::run(&db, &data_dir, args).await,
        Command::Mail(args) => commands::mail::run(&db, &data_dir, args).await,
        Command::Schedule(args) => commands::schedule::run(&db, &data_dir, args).await,
        Command::Service(args) => commands::service::run(&db, &data_dir, args).await,
    }
}
