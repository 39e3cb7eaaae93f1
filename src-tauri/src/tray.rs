//! The tray icon, and closing to it: while a job runs, closing the window hides it (the job
//! goes on; a notification says when it ends); with nothing running, closing quits.

use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{App, AppHandle, Manager, WindowEvent};

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

/// The window's close button: hide while jobs run, else close.
pub fn on_window_event(window: &tauri::Window, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        let running =
            window.app_handle().try_state::<std::sync::Arc<AppState>>().map(|s| s.running.count()).unwrap_or(0);
        if running > 0 {
            api.prevent_close();
            let _ = window.hide();
            tracing::info!(running, "window hidden to the tray while jobs run");
        }
    }
}
