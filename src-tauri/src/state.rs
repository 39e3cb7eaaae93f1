//! What the commands share: the database, the data folder, the secret store, signed-in
//! sessions, running jobs, the demo organizations and the settings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use orgvault_core::identity::Identity;
use orgvault_core::{Db, SystemClock};

use crate::error::{UiError, UiResult};
use crate::running::RunningJobs;
use crate::settings::{LogControl, StoredSettings};
use orgvault_core::vault::SecretStore;

pub struct AppState {
    pub db: Db,
    pub data_dir: PathBuf,
    pub clock: SystemClock,
    pub secrets: Arc<dyn SecretStore>,
    /// Signed-in connections by identity id; the client renews their tokens itself.
    pub sessions: Mutex<HashMap<String, arcgis::Portal>>,
    pub running: RunningJobs,
    pub demo: tokio::sync::Mutex<Option<portal_sim::RunningSim>>,
    pub settings: Mutex<StoredSettings>,
    pub log: Option<LogControl>,
    pub vault_source: crate::secrets::VaultSource,
    /// Verify results by snapshot id, persisted in `verified.json`.
    pub verified: Mutex<HashMap<String, bool>>,
    /// Opens the portal's sign-in page for an OAuth identity: the system browser, or a test's
    /// HTTP client.
    pub browser: crate::browser::Browser,
    /// How long an OAuth sign-in waits for the user's approval in the browser.
    pub approval_wait: std::time::Duration,
    /// Whether any schedule is enabled: closing the window then keeps the app in the tray.
    /// Refreshed at each scheduler look and after each change on the Schedules screen.
    pub schedules_enabled: AtomicBool,
}

impl AppState {
    /// Opens (creating and migrating) the database and fails the jobs whose lease expired.
    pub async fn open(
        data_dir: &Path,
        (secrets, vault_source): (Arc<dyn SecretStore>, crate::secrets::VaultSource),
        log: Option<LogControl>,
    ) -> UiResult<Self> {
        let db = Db::open(&data_dir.join("orgvault.sqlite")).await?;
        let settled = orgvault_core::JobRunner::new(&db, &SystemClock).reconcile().await?;
        // Header values older versions kept in the database and settings.json go to the vault,
        // but never into a stand-in memory store, where they would be lost at exit.
        if !matches!(vault_source, crate::secrets::VaultSource::MemoryOnly(_)) {
            orgvault_core::identity::move_header_values_to_vault(&db, secrets.as_ref())
                .await
                .map_err(|e| UiError::new(e.code(), e.to_string()))?;
            crate::settings::move_header_values_to_vault(data_dir, secrets.as_ref())?;
        }
        if settled > 0 {
            tracing::warn!(settled, "jobs whose process stopped were marked failed (interrupted)");
        }
        let verified = std::fs::read_to_string(data_dir.join("verified.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Ok(Self {
            db,
            data_dir: data_dir.to_owned(),
            clock: SystemClock,
            secrets,
            sessions: Mutex::new(HashMap::new()),
            running: RunningJobs::default(),
            demo: tokio::sync::Mutex::new(None),
            settings: Mutex::new(crate::settings::load(data_dir)),
            log,
            vault_source,
            verified: Mutex::new(verified),
            browser: crate::browser::system(),
            approval_wait: crate::browser::APPROVAL_WAIT,
            schedules_enabled: AtomicBool::new(false),
        })
    }

    /// Reads again whether any schedule is enabled (see `schedules_enabled`).
    pub async fn refresh_schedules_flag(&self) {
        match orgvault_core::schedule::Schedules::new(&self.db, &self.clock).list().await {
            Ok(list) => self.schedules_enabled.store(list.iter().any(|s| s.spec.enabled), Ordering::SeqCst),
            Err(e) => tracing::warn!("cannot read the schedules: {e}"),
        }
    }

    pub fn identities(&self) -> orgvault_core::identity::Identities<'_> {
        orgvault_core::identity::Identities::new(&self.db, &self.clock)
    }

    /// The application layer over this state's database and vault.
    pub fn service(&self) -> orgvault_core::Service {
        orgvault_core::Service::new(self.db.clone(), self.secrets.clone())
    }

    pub fn jobs(&self) -> orgvault_core::Jobs<'_> {
        orgvault_core::Jobs::new(&self.db, &self.clock)
    }

    pub async fn identity(&self, id: &str) -> UiResult<Identity> {
        Ok(self.identities().get(id).await?)
    }

    pub fn settings(&self) -> StoredSettings {
        self.settings.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn session(&self, identity_id: &str) -> Option<arcgis::Portal> {
        self.sessions.lock().ok()?.get(identity_id).cloned()
    }

    pub fn set_session(&self, identity_id: &str, portal: Option<arcgis::Portal>) {
        if let Ok(mut s) = self.sessions.lock() {
            match portal {
                Some(p) => s.insert(identity_id.to_owned(), p),
                None => s.remove(identity_id),
            };
        }
    }

    pub fn record_verified(&self, snapshot_id: &str, ok: bool) -> UiResult<()> {
        let text = {
            let mut v = self.verified.lock().map_err(|_| UiError::internal("verify results are unusable"))?;
            v.insert(snapshot_id.to_owned(), ok);
            serde_json::to_string(&*v).map_err(|e| UiError::internal(e.to_string()))?
        };
        std::fs::write(self.data_dir.join("verified.json"), text)
            .map_err(|e| UiError::internal(format!("cannot record the verify result: {e}")))
    }

    pub fn verified(&self, snapshot_id: &str) -> Option<bool> {
        self.verified.lock().ok()?.get(snapshot_id).copied()
    }
}
