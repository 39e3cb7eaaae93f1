//! The SQLite database: one file per installation holding identities, scan catalogs and job
//! history. Opening it applies the migrations under `crates/core/migrations` (idempotent: sqlx
//! records what it applied), turns WAL journaling on (readers never block the scan's writer) and
//! foreign keys on (deleting a scan cascades to its catalog rows).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use fs4::fs_std::FileExt;

use crate::error::{Error, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A handle on the database; cheap to clone (a connection pool inside).
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
}

impl Db {
    /// Opens (creating if needed, with its parent folders) the database file at `path` and
    /// brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Db> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.to_path_buf(), source })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode; FULL only adds
            // protection against power loss at a large cost on every batch commit.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // Deleted and replaced content (e.g. header values moved to the vault) is overwritten,
            // not left readable in free pages.
            .pragma("secure_delete", "on");
        // Two processes opening a new database at once (the app and a CLI command) must not both
        // apply the same migration: sqlx cannot lock a SQLite database for that, so an OS file
        // lock beside it serialises the upgrade. It is held only while opening.
        let lock_path = path.with_extension("sqlite-upgrade.lock");
        let lock = tokio::task::spawn_blocking(move || -> Result<std::fs::File> {
            let io = |source| Error::Io { path: lock_path.clone(), source };
            let file =
                std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io)?;
            FileExt::lock_exclusive(&file).map_err(io)?;
            Ok(file)
        })
        .await
        .map_err(|e| Error::InvalidInput(format!("the database lock task failed: {e}")))??;
        let upgrade = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let upgraded = run_migrations(&MIGRATOR, &upgrade).await;
        upgrade.close().await;
        drop(lock);
        upgraded?;
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        Ok(Db { pool })
    }

    /// A private database that lives as long as this handle (and its clones); for tests and
    /// the demo mode.
    pub async fn open_in_memory() -> Result<Db> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // Every connection to ":memory:" is a different database: keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        run_migrations(&MIGRATOR, &pool).await?;
        Ok(Db { pool })
    }

    /// Applies any migration not yet applied; a no-op on an up-to-date database.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for the modules of this crate.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection; later use fails.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs `migrator` on one connection with foreign keys off, as SQLite's procedure for changing
/// a table's definition requires: a migration that rebuilds a table (create the new one, copy,
/// drop the old, rename) would otherwise cascade the drop into the rows that reference it
/// (`job_items` of `jobs`). sqlx runs each migration in a transaction, where the pragma has no
/// effect, so it is set around the run. Before foreign keys go back on, the whole database is
/// checked: a migration that broke a reference is an error, not a silent loss.
///
/// `pool` must hold at most one connection, so that the pragma and the migrations meet the same one.
async fn run_migrations(migrator: &sqlx::migrate::Migrator, pool: &SqlitePool) -> Result<()> {
    debug_assert!(pool.options().get_max_connections() == 1, "migrations run on a one-connection pool");
    sqlx::query("PRAGMA foreign_keys = OFF").execute(pool).await?;
    let ran = migrator.run(pool).await.map_err(Error::from);
    let broken: Result<Vec<(String,)>> =
        sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check").fetch_all(pool).await.map_err(Error::from);
    // Back on whatever happened: the connection is used afterwards.
    sqlx::query("PRAGMA foreign_keys = ON").execute(pool).await?;
    ran?;
    match broken?.first() {
        None => Ok(()),
        Some((table,)) => {
            Err(Error::Corrupt(format!("after the schema upgrade, table {table} references missing rows")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn processes_opening_a_new_database_at_once_all_succeed() {
        for round in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("orgvault.sqlite");
            let opens: Vec<_> = (0..6)
                .map(|_| {
                    tokio::spawn({
                        let path = path.clone();
                        async move { Db::open(&path).await }
                    })
                })
                .collect();
            for open in opens {
                open.await
                    .expect("task")
                    .unwrap_or_else(|e| panic!("round {round}: a concurrent first open failed: {e}"));
            }
        }
    }

    #[tokio::test]
    async fn the_jobs_rebuild_keeps_job_items_and_settles_unfinished_jobs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("orgvault.db");
        let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true).foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.expect("pool");
        // The database as version 5 left it.
        let before_leases = sqlx::migrate::Migrator {
            migrations: MIGRATOR.iter().filter(|m| m.version < 6).cloned().collect::<Vec<_>>().into(),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        run_migrations(&before_leases, &pool).await.expect("migrations 1-5");
        for sql in [
            "INSERT INTO jobs (id, kind, name, created_ms, started_ms, state) VALUES (1, 'backup', 'b', 1, 2, 'running')",
            "INSERT INTO jobs (id, kind, name, created_ms, state) VALUES (2, 'scan', 's', 1, 'succeeded')",
            "INSERT INTO job_items (job_id, subject_kind, subject_id, title, outcome, at_ms) VALUES (1, 'item', 'x', 'X', 'ok', 3)",
            "INSERT INTO job_items (job_id, subject_kind, subject_id, title, outcome, at_ms) VALUES (2, 'item', 'y', 'Y', 'ok', 3)",
        ] {
            sqlx::query(sql).execute(&pool).await.expect(sql);
        }
        run_migrations(&MIGRATOR, &pool).await.expect("the lease migration");
        let (items,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM job_items").fetch_one(&pool).await.expect("count");
        assert_eq!(items, 2, "rebuilding jobs must not cascade into job_items");
        let (state, error): (String, Option<String>) =
            sqlx::query_as("SELECT state, error FROM jobs WHERE id = 1").fetch_one(&pool).await.expect("job 1");
        assert_eq!(state, "failed", "a job a lease-less version left running cannot be proven alive");
        assert_eq!(error.as_deref(), Some(crate::jobs::INTERRUPTED));
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys").fetch_one(&pool).await.expect("pragma");
        assert_eq!(fk, 1, "foreign keys are back on afterwards");
    }

    #[tokio::test]
    async fn migrations_are_idempotent_on_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested").join("orgvault.db");
        let db = Db::open(&path).await.expect("first open creates the file and its folders");
        sqlx::query("INSERT INTO identities (id, name, portal_url, kind, sign_in, storage, created_ms, updated_ms) VALUES ('a', 'A', 'https://x', 'online', '{}', '{}', 1, 1)")
            .execute(db.pool())
            .await
            .expect("insert");
        db.migrate().await.expect("running the migrations again must be a no-op");
        db.close().await;

        let db = Db::open(&path).await.expect("reopen applies nothing new and succeeds");
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM identities").fetch_one(db.pool()).await.expect("count");
        assert_eq!(n, 1, "reopening must keep existing rows, not recreate the schema");
        let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(db.pool())
            .await
            .expect("migrations table");
        assert_eq!(applied as usize, MIGRATOR.iter().count(), "each migration is recorded exactly once");
    }

    #[tokio::test]
    async fn file_database_uses_wal_and_foreign_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("o.db")).await.expect("open");
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(db.pool()).await.expect("pragma");
        assert_eq!(mode.to_lowercase(), "wal", "the catalog is read while a scan writes: WAL is required");
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys").fetch_one(db.pool()).await.expect("pragma");
        assert_eq!(fk, 1, "deleting a scan must cascade to its rows: foreign keys must be on");
    }

    #[tokio::test]
    async fn in_memory_database_keeps_its_schema_across_queries() {
        let db = Db::open_in_memory().await.expect("open");
        for _ in 0..3 {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
                .fetch_one(db.pool())
                .await
                .expect("the schema must survive between queries (one shared connection)");
            assert_eq!(n, 0, "a fresh in-memory database has no jobs");
        }
    }
}
