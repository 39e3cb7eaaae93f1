//! Where the CLI keeps its data, and its log file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use orgvault_core::{Db, JobRunner, SystemClock};

/// `--data-dir` / `ORGVAULT_DATA_DIR`, else the platform data folder (`~/.local/share/orgvault`).
pub fn data_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match given {
        Some(d) => d,
        None => directories::ProjectDirs::from("", "", "orgvault")
            .map(|p| p.data_dir().to_path_buf())
            .context("no home folder to keep data in; pass --data-dir or set ORGVAULT_DATA_DIR")?,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the data folder {}", dir.display()))?;
    Ok(dir)
}

/// Logs go to `<data>/logs/orgvault.log.<date>` (daily files), never to the terminal, so that
/// `--json` output stays clean. The client keeps secrets out of every line.
pub fn init_logging(data_dir: &Path, level: &str) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(format!("warn,orgvault={level},orgvault_core={level},arcgis={level}"))
            .with_context(|| format!("log level {level:?} is not one of error, warn, info, debug, trace"))?;
    let appender = tracing_appender::rolling::daily(data_dir.join("logs"), "orgvault.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(false).init();
    // Log files older than Settings keep them go (the app's Settings, `settings.json`).
    orgvault_core::logs::apply_retention(data_dir);
    Ok(guard)
}

/// Opens (creating and migrating) the database, and fails the jobs whose lease expired (their
/// process was killed); jobs that another live process runs are left alone.
pub async fn open_db(data_dir: &Path) -> anyhow::Result<Db> {
    let path = data_dir.join("orgvault.sqlite");
    let db = Db::open(&path).await.with_context(|| format!("cannot open the database {}", path.display()))?;
    let settled = JobRunner::new(&db, &SystemClock).reconcile().await?;
    if settled > 0 {
        tracing::warn!(settled, "jobs whose process stopped were marked failed (interrupted)");
    }
    Ok(db)
}

/// A token cancelled by Ctrl-C: the running job stops at its next check and ends `cancelled`.
pub fn cancel_on_ctrl_c() -> tokio_util::sync::CancellationToken {
    let cancel = tokio_util::sync::CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    cancel
}
