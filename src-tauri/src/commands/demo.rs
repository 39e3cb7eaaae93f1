//! The demo: two simulated organizations served in-process (portal-sim on loopback; the second
//! empty, to restore into), with an administrator identity for each, so that a new user can
//! scan, back up and restore at once.
//!
//! The simulator listens on a new port each start, so starting the demo again (e.g. after the
//! app restarted) updates the two demo identities' URLs and passwords rather than adding more.
//! A demo identity is recognised by what only the demo gives it (a loopback portal and backups
//! in this data folder's `demo-backups`), never by its name alone: a user's own identity that
//! happens to be named like a demo one is left untouched, and the demo's gets another name.

use std::sync::Arc;

use orgvault_core::identity::{IdentitySecrets, IdentitySpec, PortalKind, SignIn, SignInSecret, Storage, TlsOptions};
use portal_sim::{RunningSim, SimConfig};
use tauri::State;

use crate::error::{UiError, UiResult};
use crate::state::AppState;
use crate::views::IdentityView;

/// Names of the demo identities, one per simulated organization.
pub const DEMO_NAMES: [&str; 2] = ["Demo organization A", "Demo organization B"];

fn demo_config() -> SimConfig {
    // The second organization is empty: the target of a first restore.
    SimConfig { orgs: 2, empty_orgs: 1, items: 300, users: 30, groups: 12, ..SimConfig::default() }
}

/// Names a file that receives the demo simulator's ready line when the demo starts: its base URL
/// (for its `/_sim/...` test control) and each organization's admin and non-admin logins. For the
/// end-to-end tests, which sign in through the Identities form like a user. The logins belong to
/// the simulated organizations only; the file is written for the owner alone and never logged.
pub const READY_FILE_ENV: &str = "ORGVAULT_DEMO_READY_FILE";

fn write_ready_file(sim: &RunningSim) -> UiResult<()> {
    let Some(path) = std::env::var_os(READY_FILE_ENV) else { return Ok(()) };
    let path = std::path::PathBuf::from(path);
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(&path)?, sim.ready_line().as_bytes())
    };
    write().map_err(|e| UiError::io(format!("the demo could not write {}: {e}", path.display())))
}

pub async fn start(state: &AppState) -> UiResult<Vec<IdentityView>> {
    let mut demo = state.demo.lock().await;
    if demo.is_none() {
        let sim = RunningSim::start(demo_config())
            .await
            .map_err(|e| UiError::internal(format!("the demo organizations could not start: {e}")))?;
        write_ready_file(&sim)?;
        *demo = Some(sim);
    }
    let sim = demo.as_ref().ok_or_else(|| UiError::internal("the demo is not running"))?;
    let existing = state.identities().list().await?;
    // The demo's backups live in a folder of the app's own data folder; a backup creates only the
    // last folder of its destination, so the demo makes their parent.
    let demo_backups = state.data_dir.join("demo-backups");
    std::fs::create_dir_all(&demo_backups)
        .map_err(|e| UiError::io(format!("{} cannot be created: {e}", demo_backups.display())))?;
    let mut views = Vec::new();
    for (org, name) in sim.orgs.iter().zip(DEMO_NAMES) {
        let folder = state.data_dir.join("demo-backups").join(&org.url_key);
        let spec = IdentitySpec {
            name: name.to_owned(),
            portal_url: org.portal_url.clone(),
            kind: PortalKind::Online,
            sign_in: SignIn::Builtin { username: org.admin.username.clone() },
            storage: Storage::Local { path: folder.display().to_string() },
            custom_headers: Vec::new(),
            tls: TlsOptions::default(),
        };
        let earlier = existing.iter().find(|i| is_demo_identity(i, &spec));
        let mut spec = spec;
        let taken = |n: &str| existing.iter().any(|i| i.spec.name == n && earlier.is_none_or(|e| e.id != i.id));
        if taken(name) {
            spec.name = format!("{name} (demo)");
        }
        let identity = match earlier {
            Some(old) => state.identities().update(&old.id, spec).await?,
            None => state.identities().create(spec).await?,
        };
        let secrets = IdentitySecrets {
            sign_in: SignInSecret::Password(arcgis::Secret::new(org.admin.password.clone())),
            storage_secret: None,
            custom_headers: Vec::new(),
        };
        secrets.save(state.secrets.as_ref(), &identity.id)?;
        // A session from an earlier demo points at a port that is gone.
        state.set_session(&identity.id, None);
        views.push(super::identities::view(state, &identity));
    }
    tracing::info!(base_url = %sim.base_url, "demo organizations started");
    Ok(views)
}

/// Whether `identity` is the demo identity an earlier start made for the organization `demo`
/// describes: the same demo backup folder, and a portal on this machine.
fn is_demo_identity(identity: &orgvault_core::identity::Identity, demo: &IdentitySpec) -> bool {
    let loopback = arcgis::Url::parse(&identity.spec.portal_url).is_ok_and(|u| arcgis::is_loopback(&u));
    loopback && identity.spec.storage == demo.storage
}

#[tauri::command]
#[specta::specta]
pub async fn start_demo(state: State<'_, Arc<AppState>>) -> UiResult<Vec<IdentityView>> {
    start(&state).await
}
