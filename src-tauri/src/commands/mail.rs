//! Settings' e-mail section over `orgvault_core::mail`: the SMTP server (its password goes to
//! the vault and never comes back) and "Send test e-mail".

use std::sync::Arc;

use arcgis::Secret;
use orgvault_core::mail::{self, PasswordChange, SmtpSettings};
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::State;

use crate::error::UiResult;
use crate::state::AppState;

/// The saved SMTP server as the UI sees it: never the password, only whether one is saved.
#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct SmtpView {
    pub settings: SmtpSettings,
    pub has_password: bool,
}

/// The SMTP server as entered. `password`: a new one replaces the saved one; none (or empty)
/// keeps it. Without a username no password is kept.
#[derive(Clone, Serialize, Deserialize, Type)]
pub struct SmtpInput {
    pub settings: SmtpSettings,
    pub password: Option<String>,
}

impl std::fmt::Debug for SmtpInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpInput")
            .field("settings", &self.settings)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

#[tauri::command]
#[specta::specta]
pub async fn get_smtp_settings(state: State<'_, Arc<AppState>>) -> UiResult<Option<SmtpView>> {
    let Some(settings) = SmtpSettings::load(&state.db).await? else { return Ok(None) };
    let has_password = settings.password(state.secrets.as_ref())?.is_some();
    Ok(Some(SmtpView { settings, has_password }))
}

#[tauri::command]
#[specta::specta]
pub async fn save_smtp_settings(state: State<'_, Arc<AppState>>, input: SmtpInput) -> UiResult<()> {
    let password = match input.password.filter(|p| !p.is_empty()) {
        Some(p) => PasswordChange::Set(Secret::new(p)),
        None => PasswordChange::Keep,
    };
    Ok(input.settings.save(&state.db, state.secrets.as_ref(), &state.clock, password).await?)
}

/// Sends a test message with the saved settings; fails with the server's answer.
#[tauri::command]
#[specta::specta]
pub async fn send_test_email(state: State<'_, Arc<AppState>>, to: String) -> UiResult<()> {
    Ok(mail::send_test(&state.service(), &to).await?)
}
