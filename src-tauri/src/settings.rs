//! Settings, the data folder and the app's log.
//!
//! The data folder is the CLI's (`ORGVAULT_DATA_DIR`, else `~/.local/share/orgvault` on Linux),
//! so both see the same identities and job history. A different folder chosen in Settings is
//! remembered in `data-dir.txt` in the platform config folder and used from the next start.
//! `settings.json` in the data folder holds the log level and the names of the custom request
//! headers added to every organization; their values are secrets, kept in the vault under
//! `settings/custom_headers` ([`header_values`]). Values an older version wrote to
//! `settings.json` move to the vault at start ([`move_header_values_to_vault`]).
//! `told_about_tray` remembers that the user was told, once, that closing the window keeps the
//! app in the tray while schedules are enabled.
//! Logs are daily files in `<data>/logs`; the level changes at once, without a restart; files older
//! than `log_keep_days` are removed at start and when Settings are saved (`orgvault_core::logs`).

use std::path::{Path, PathBuf};

use arcgis::Secret;
use orgvault_core::vault::SecretStore;
use serde::{Deserialize, Deserializer, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::error::{UiError, UiResult};
use crate::views::Settings;

pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// What `settings.json` holds (the data folder is not in it: it says where the file is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSettings {
    pub log_level: String,
    /// Names of the headers added to every organization (values: [`header_values`]).
    #[serde(default, deserialize_with = "header_names")]
    pub headers: Vec<String>,
    /// The user was told once that closing the window keeps OrgVault in the tray for its
    /// schedules.
    #[serde(default)]
    pub told_about_tray: bool,
    /// Days of daily log files kept (`orgvault_core::logs`, which the CLI reads too).
    #[serde(default = "default_keep_days")]
    pub log_keep_days: u32,
}

fn default_keep_days() -> u32 {
    orgvault_core::logs::DEFAULT_KEEP_DAYS
}

/// The `headers` of `settings.json`: names, or (older versions) name/value pairs.
#[derive(Deserialize)]
#[serde(untagged)]
enum HeadersField {
    Names(Vec<String>),
    Pairs(Vec<(String, String)>),
}

fn header_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match HeadersField::deserialize(d)? {
        HeadersField::Names(n) => n,
        HeadersField::Pairs(p) => p.into_iter().map(|(n, _)| n).collect(),
    })
}

pub use orgvault_core::service::{save_settings_header_values, settings_header_values as header_values};

/// Moves header values an older version wrote to `settings.json` into the vault and rewrites
/// the file with the names only. Answers whether anything moved.
pub fn move_header_values_to_vault(data_dir: &Path, store: &dyn SecretStore) -> UiResult<bool> {
    let path = data_dir.join("settings.json");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(false) };
    let Ok(raw) = serde_json::from_str::<serde_json::Value>(&text) else { return Ok(false) };
    let Some(Ok(HeadersField::Pairs(pairs))) =
        raw.get("headers").map(|h| serde_json::from_value::<HeadersField>(h.clone()))
    else {
        return Ok(false);
    };
    if pairs.is_empty() {
        return Ok(false);
    }
    let mut values = header_values(store)?;
    for (name, value) in pairs {
        if !values.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            values.push((name, Secret::new(value)));
        }
    }
    save_settings_header_values(store, &values)?;
    save(data_dir, &load(data_dir))?;
    tracing::info!("the Settings header values moved from settings.json to the vault");
    Ok(true)
}

impl Default for StoredSettings {
    fn default() -> Self {
        Self {
            log_level: "info".into(),
            headers: Vec::new(),
            told_about_tray: false,
            log_keep_days: default_keep_days(),
        }
    }
}

fn pointer_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "orgvault").map(|p| p.config_dir().join("data-dir.txt"))
}

/// The data folder for this run, created if missing.
pub fn resolve_data_dir() -> UiResult<PathBuf> {
    let chosen = std::env::var_os("ORGVAULT_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let text = std::fs::read_to_string(pointer_file()?).ok()?;
            Some(PathBuf::from(text.trim())).filter(|p| !p.as_os_str().is_empty())
        })
        .or_else(|| directories::ProjectDirs::from("", "", "orgvault").map(|p| p.data_dir().to_path_buf()))
        .ok_or_else(|| UiError::internal("there is no home folder to keep OrgVault's data in"))?;
    std::fs::create_dir_all(&chosen)
        .map_err(|e| UiError::io(format!("cannot create the data folder {}: {e}", chosen.display())))?;
    Ok(chosen)
}

/// Remembers `dir` as the data folder for the next start.
pub fn choose_data_dir(dir: &Path) -> UiResult<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| UiError::io(format!("cannot create the data folder {}: {e}", dir.display())))?;
    let pointer = pointer_file().ok_or_else(|| UiError::internal("there is no config folder to remember it in"))?;
    if let Some(parent) = pointer.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| UiError::internal(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(&pointer, dir.display().to_string())
        .map_err(|e| UiError::internal(format!("cannot write {}: {e}", pointer.display())))
}

pub fn load(data_dir: &Path) -> StoredSettings {
    std::fs::read_to_string(data_dir.join("settings.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn save(data_dir: &Path, s: &StoredSettings) -> UiResult<()> {
    let text = serde_json::to_string_pretty(s).map_err(|e| UiError::internal(e.to_string()))?;
    let path = data_dir.join("settings.json");
    std::fs::write(&path, text).map_err(|e| UiError::internal(format!("cannot write {}: {e}", path.display())))
}

/// Checks what the user entered: a known log level, headers with a name.
pub fn validate(s: &Settings) -> UiResult<()> {
    if !LOG_LEVELS.contains(&s.log_level.as_str()) {
        return Err(UiError::invalid(format!("log level must be one of {}", LOG_LEVELS.join(", "))));
    }
    if !(1..=orgvault_core::logs::MAX_KEEP_DAYS).contains(&s.log_keep_days) {
        return Err(UiError::invalid(format!(
            "log files are kept for 1 to {} days (got {})",
            orgvault_core::logs::MAX_KEEP_DAYS,
            s.log_keep_days
        )));
    }
    if let Some(h) = s.headers.iter().find(|h| h.name.trim().is_empty() || h.name.contains(':')) {
        return Err(UiError::invalid(format!("a header needs a name without ':' (got {:?})", h.name)));
    }
    Ok(())
}

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(format!(
        "warn,orgvault={level},orgvault_core={level},orgvault_desktop={level},arcgis={level},portal_sim=warn"
    ))
    .unwrap_or_else(|_| EnvFilter::new("warn"))
}

/// Changes the log level of the running app.
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
    _guard: tracing_appender::non_blocking::WorkerGuard,
}

impl LogControl {
    pub fn set_level(&self, level: &str) -> UiResult<()> {
        self.handle.reload(filter(level)).map_err(|e| UiError::internal(format!("cannot change the log level: {e}")))
    }
}

/// Starts logging to `<data>/logs/orgvault-desktop.log.<date>`, and removes log files older than
/// Settings keep them (`orgvault_core::logs`).
pub fn init_logging(data_dir: &Path, level: &str) -> Option<LogControl> {
    let appender = tracing_appender::rolling::daily(data_dir.join("logs"), "orgvault-desktop.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let (layer, handle) = reload::Layer::new(filter(level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(false);
    let started = tracing_subscriber::registry().with(layer).with(fmt).try_init().ok();
    orgvault_core::logs::apply_retention(data_dir);
    started?;
    Some(LogControl { handle, _guard: guard })
}
