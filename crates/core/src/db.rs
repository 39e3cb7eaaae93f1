//! The SQLite database: one file per installation holding identities, scan catalogs and job
//! history. Opening it applies the migrations under `crates/core/migrations` (idempotent: sqlx
//! records what it applied), turns WAL journaling on (readers never block the scan's writer) and
//! foreign keys on (deleting a scan cascades to its catalog rows).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

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
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        Self::migrated(pool).await
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
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Db> {
        MIGRATOR.run(&pool).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
