//! Settings, the support bundle, and native pickers.

use std::sync::Arc;

use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;
use tauri_plugin_dialog::DialogExt;

use arcgis::Secret;

use crate::error::{UiError, UiResult};
use crate::settings::{choose_data_dir, header_values, save, save_settings_header_values, validate, StoredSettings};
use crate::state::AppState;
use crate::views::{HeaderSetting, Settings};

/// The settings as the UI shows them: header names only, never their values. Whether the app
/// starts at login is the OS's to say (`get_settings` asks it); here it reads false.
pub fn get(state: &AppState) -> Settings {
    let s = state.settings();
    Settings {
        log_level: s.log_level,
        headers: s.headers.into_iter().map(|name| HeaderSetting { name, value: None }).collect(),
        data_dir: state.data_dir.display().to_string(),
        log_keep_days: s.log_keep_days,
        start_at_login: false,
    }
}

#[tauri::command]
#[specta::specta]
pub async fn get_settings(app: AppHandle, state: State<'_, Arc<AppState>>) -> UiResult<Settings> {
    Ok(Settings { start_at_login: app.autolaunch().is_enabled().unwrap_or(false), ..get(&state) })
}

/// Saves and applies at once, except a new data folder, which is used from the next start.
/// "Start at login" registers or removes the OS's login item (started with `--hidden`).
#[tauri::command]
#[specta::specta]
pub async fn save_settings(app: AppHandle, state: State<'_, Arc<AppState>>, settings: Settings) -> UiResult<()> {
    let start_at_login = settings.start_at_login;
    save_to(&state, settings)?;
    let autolaunch = app.autolaunch();
    if autolaunch.is_enabled().unwrap_or(false) != start_at_login {
        let changed = if start_at_login { autolaunch.enable() } else { autolaunch.disable() };
        changed.map_err(|e| UiError::io(format!("cannot change whether OrgVault starts at login: {e}")))?;
    }
    Ok(())
}

/// Header names go to `settings.json`, values to the vault; a header given without a value
/// keeps the one saved under its name.
pub fn save_to(state: &AppState, settings: Settings) -> UiResult<()> {
    validate(&settings)?;
    let saved = header_values(state.secrets.as_ref())?;
    let mut values = Vec::new();
    for h in &settings.headers {
        let name = h.name.trim().to_owned();
        let value = match h.value.as_deref().filter(|v| !v.trim().is_empty()) {
            Some(v) => Secret::new(v.trim()),
            None => saved
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
                .map(|(_, v)| v.clone())
                .ok_or_else(|| UiError::invalid(format!("enter a value for the header {name}")))?,
        };
        values.push((name, value));
    }
    save_settings_header_values(state.secrets.as_ref(), &values)?;
    let stored = StoredSettings {
        log_level: settings.log_level.clone(),
        headers: values.iter().map(|(n, _)| n.clone()).collect(),
        told_about_tray: state.settings().told_about_tray,
        log_keep_days: settings.log_keep_days,
    };
    save(&state.data_dir, &stored)?;
    orgvault_core::logs::apply_retention(&state.data_dir);
    if let Some(log) = &state.log {
        log.set_level(&settings.log_level)?;
    }
    let new_dir = std::path::PathBuf::from(settings.data_dir.trim());
    if !settings.data_dir.trim().is_empty() && new_dir != state.data_dir {
        choose_data_dir(&new_dir)?;
    }
    *state.settings.lock().map_err(|_| UiError::internal("settings are unusable"))? = stored;
    // New headers apply to new sign-ins.
    if let Ok(mut s) = state.sessions.lock() {
        s.clear();
    }
    Ok(())
}

/// Writes a zip of recent logs and the configuration with every secret removed; answers its path.
#[tauri::command]
#[specta::specta]
pub async fn export_support_bundle(state: State<'_, Arc<AppState>>, path: String) -> UiResult<String> {
    let identities = state.identities().list().await?;
    let secrets = crate::secrets::values_of(state.secrets.as_ref(), &identities);
    let st = state.inner().clone();
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let out = crate::support::bundle_path(&path, &st.data_dir, &stamp)?;
    let written = out.clone();
    tokio::task::spawn_blocking(move || {
        crate::support::write_bundle(&out, &st.data_dir, &st.settings(), &identities, &secrets)
    })
    .await
    .map_err(|e| UiError::internal(format!("the support bundle stopped: {e}")))??;
    Ok(written.display().to_string())
}

/// A folder chosen in the system's dialog, or `None` when the user cancelled.
#[tauri::command]
#[specta::specta]
pub async fn pick_folder(app: AppHandle) -> UiResult<Option<String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog().file().pick_folder(move |f| {
        let _ = tx.send(f.map(|p| p.to_string()));
    });
    rx.await.map_err(|_| UiError::internal("the folder dialog closed unexpectedly"))
}

/// An existing zip file chosen in the system's dialog, or `None` when the user cancelled.
#[tauri::command]
#[specta::specta]
pub async fn pick_zip_file(app: AppHandle) -> UiResult<Option<String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog().file().add_filter("Zip", &["zip"]).pick_file(move |f| {
        let _ = tx.send(f.map(|p| p.to_string()));
    });
    rx.await.map_err(|_| UiError::internal("the file dialog closed unexpectedly"))
}

/// A file path to save to, chosen in the system's dialog, or `None` when cancelled.
#[tauri::command]
#[specta::specta]
pub async fn pick_save_path(app: AppHandle, suggested_name: String) -> UiResult<Option<String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog().file().set_file_name(suggested_name).save_file(move |f| {
        let _ = tx.send(f.map(|p| p.to_string()));
    });
    rx.await.map_err(|_| UiError::internal("the save dialog closed unexpectedly"))
}
