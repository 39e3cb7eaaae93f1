//! Where the CLI keeps its data, and its log file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use orgvault_core::{Db, Jobs, SystemClock};

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
    Ok(guard)
}

/// Opens (creating and migrating) the database, and settles jobs a crash left running.
pub async fn open_db(data_dir: &Path) -> anyhow::Result<Db> {
    let path = data_dir.join("orgvault.sqlite");
    let db = Db::open(&path).await.with_context(|| format!("cannot open the database {}", path.display()))?;
    let settled = Jobs::new(&db, &SystemClock).reconcile_at_startup().await?;
    if settled > 0 {
        tracing::warn!(settled, "jobs left unfinished by an earlier run were marked failed");
    }
    Ok(db)
}
