//! The tray icon, and closing to it: while a job runs, or while any schedule is enabled,
//! closing the window hides it (the job goes on, schedules keep running; a notification says
//! when a job ends); with nothing running and no schedule, closing quits. The first time the
//! window hides for the schedules, a notification says so (remembered in `settings.json`).
//! Started at login (`--hidden`, tauri-plugin-autostart), the app starts in the tray.

use std::sync::atomic::Ordering;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;

use tauri::{App, AppHandle, Manager, WindowEvent};
use tauri_plugin_notification::NotificationExt;

use crate::state::AppState;

fn show_main(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// Adds the tray icon with Show and Quit. A desktop without a tray only loses the icon.
pub fn install(app: &App) {
    let built = (|| -> tauri::Result<()> {
        let show = MenuItem::with_id(app, "show", "Show OrgVault", true, None::<&str>)?;
        let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
        let menu = Menu::with_items(app, &[&show, &quit])?;
        let mut tray = TrayIconBuilder::with_id("main").tooltip("OrgVault").menu(&menu).on_menu_event(|app, event| {
            match event.id.as_ref() {
                "show" => show_main(app),
                "quit" => {
                    if let Some(state) = app.try_state::<std::sync::Arc<AppState>>() {
                        // Cancelled jobs end as such; anything cut short is settled at next start.
                        state.running.cancel_all();
                    }
                    app.exit(0);
                }
                _ => {}
            }
        });
        if let Some(icon) = app.default_window_icon() {
            tray = tray.icon(icon.clone());
        }
        tray.build(app)?;
        Ok(())
    })();
    if let Err(e) = built {
        tracing::warn!("no tray icon: {e}");
    }
}

/// The arguments the login item starts the app with; either one starts it hidden in the tray.
pub const HIDDEN_ARGS: [&str; 2] = ["--hidden", "--autostart"];

/// Whether the app was started to stay in the tray (at login).
pub fn starts_hidden(args: impl IntoIterator<Item = String>) -> bool {
    args.into_iter().any(|a| HIDDEN_ARGS.contains(&a.as_str()))
}

/// Why closing the window keeps the app in the tray, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StayReason {
    JobsRunning,
    Schedules,
}

/// Closing keeps the app while jobs run, or while a schedule is enabled.
pub fn stay_reason(running_jobs: usize, schedules_enabled: bool) -> Option<StayReason> {
    if running_jobs > 0 {
        Some(StayReason::JobsRunning)
    } else if schedules_enabled {
        Some(StayReason::Schedules)
    } else {
        None
    }
}

/// The window's close button: hide while jobs run or schedules are enabled, else close.
pub fn on_window_event(window: &tauri::Window, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        let Some(state) = window.app_handle().try_state::<std::sync::Arc<AppState>>() else { return };
        let reason = stay_reason(state.running.count(), state.schedules_enabled.load(Ordering::SeqCst));
        let Some(reason) = reason else { return };
        api.prevent_close();
        let _ = window.hide();
        tracing::info!(?reason, "window hidden to the tray");
        if reason == StayReason::Schedules && !state.settings().told_about_tray {
            tell_about_tray(window.app_handle(), &state);
        }
    }
}

/// Says once that OrgVault stays in the tray for its schedules, and remembers it was said.
fn tell_about_tray(app: &AppHandle, state: &AppState) {
    let shown = app
        .notification()
        .builder()
        .title("OrgVault is still running")
        .body("OrgVault stays in the tray so your schedules run. Quit from the tray icon to stop them.")
        .show();
    if let Err(e) = shown {
        tracing::debug!("no system notification: {e}");
    }
    let mut stored = state.settings();
    stored.told_about_tray = true;
    match crate::settings::save(&state.data_dir, &stored) {
        Ok(()) => {
            if let Ok(mut s) = state.settings.lock() {
                s.told_about_tray = true;
            }
        }
        Err(e) => tracing::warn!("cannot remember that the tray was explained: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_stays_in_the_tray_for_jobs_and_enabled_schedules_only() {
        assert_eq!(stay_reason(0, false), None, "nothing to do: closing quits");
        assert_eq!(stay_reason(2, false), Some(StayReason::JobsRunning));
        assert_eq!(stay_reason(0, true), Some(StayReason::Schedules), "enabled schedules keep the app");
        assert_eq!(stay_reason(1, true), Some(StayReason::JobsRunning), "a running job is said first");
    }

    #[test]
    fn the_login_item_starts_the_app_hidden() {
        assert!(starts_hidden(["orgvault-desktop".to_owned(), "--hidden".to_owned()]));
        assert!(starts_hidden(["orgvault-desktop".to_owned(), "--autostart".to_owned()]));
        assert!(!starts_hidden(["orgvault-desktop".to_owned()]), "a start by hand shows the window");
    }
}
