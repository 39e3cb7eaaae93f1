//! What the app's tray decides from the schedules: closing keeps the app while a schedule is
//! enabled (`AppState::schedules_enabled`, refreshed from the database), and "told about the
//! tray" survives a save of the Settings screen, so the notice is given once.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use orgvault_core::schedule::{ScheduleKind, ScheduleSpec, Schedules};
use orgvault_core::vault::MemoryVault;
use orgvault_desktop::commands::settings;
use orgvault_desktop::secrets::VaultSource;
use orgvault_desktop::state::AppState;

async fn app_state(dir: &std::path::Path) -> AppState {
    AppState::open(dir, (Arc::new(MemoryVault::default()), VaultSource::MemoryOnly("test".into())), None)
        .await
        .expect("open state")
}

#[tokio::test]
async fn the_tray_keeps_the_app_only_while_a_schedule_is_enabled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = app_state(dir.path()).await;
    state.refresh_schedules_flag().await;
    assert!(!state.schedules_enabled.load(Ordering::SeqCst), "no schedule: closing the window quits");

    let acme = state
        .identities()
        .create(orgvault_core::identity::IdentitySpec {
            name: "Acme".into(),
            portal_url: "https://acme.maps.arcgis.com".into(),
            kind: orgvault_core::identity::PortalKind::Online,
            sign_in: orgvault_core::identity::SignIn::Builtin { username: "admin".into() },
            storage: orgvault_core::identity::Storage::Local { path: dir.path().join("repo").display().to_string() },
            custom_headers: Vec::new(),
            tls: Default::default(),
        })
        .await
        .expect("identity");
    let schedules = Schedules::new(&state.db, &state.clock);
    let nightly =
        schedules.add(&ScheduleSpec::new("Nightly", &acme.id, ScheduleKind::Backup, "0 2 * * *")).await.expect("add");
    state.refresh_schedules_flag().await;
    assert!(state.schedules_enabled.load(Ordering::SeqCst), "an enabled schedule keeps the app in the tray");

    schedules.set_enabled(nightly.id, false).await.expect("disable");
    state.refresh_schedules_flag().await;
    assert!(!state.schedules_enabled.load(Ordering::SeqCst), "a disabled schedule does not keep the app");
}

#[tokio::test]
async fn saving_settings_keeps_the_remembered_tray_notice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stored = orgvault_desktop::settings::load(dir.path());
    stored.told_about_tray = true;
    orgvault_desktop::settings::save(dir.path(), &stored).expect("save");
    let state = app_state(dir.path()).await;
    let shown = settings::get(&state);
    settings::save_to(&state, shown).expect("save settings");
    assert!(
        orgvault_desktop::settings::load(dir.path()).told_about_tray,
        "a save from the Settings screen must not forget that the tray was explained (it would be said again)"
    );
}
