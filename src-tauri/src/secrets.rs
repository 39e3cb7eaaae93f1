//! The shell's door to the credential vault (`orgvault_core::vault`): a Stronghold file in
//! the data folder, keyed from the OS keyring or a user-only key file, shared with the CLI.
//! Commands never name the storage; they go through the core's `SecretStore` trait.

use std::path::Path;
use std::sync::Arc;

use orgvault_core::identity::{Identity, IdentitySecrets, SignInSecret};
use orgvault_core::vault::{open_default, MemoryVault, SecretStore, VaultError, VaultKeySource};

use crate::error::UiError;

impl From<VaultError> for UiError {
    fn from(e: VaultError) -> Self {
        UiError::new(e.code(), e.to_string())
    }
}

/// How the vault was opened, for the About box and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultSource {
    Keyring,
    KeyFile(String),
    /// The vault could not be opened; secrets last until the app quits. The reason is shown.
    MemoryOnly(String),
}

/// Opens the data folder's vault. A vault that cannot be opened (a missing key, a damaged
/// file) must not lose what is in it, so it is left alone and an in-memory store stands in.
pub fn open(data_dir: &Path) -> (Arc<dyn SecretStore>, VaultSource) {
    match open_default(data_dir) {
        Ok((vault, VaultKeySource::OsKeyring)) => (Arc::new(vault), VaultSource::Keyring),
        Ok((vault, VaultKeySource::KeyFile(p))) => (Arc::new(vault), VaultSource::KeyFile(p.display().to_string())),
        Err(e) => {
            tracing::error!(code = %e.code(), "the vault could not be opened, secrets are kept in memory only: {e}");
            (Arc::new(MemoryVault::default()), VaultSource::MemoryOnly(e.to_string()))
        }
    }
}

/// Every secret value of these identities and of the Settings headers, so that a support
/// bundle can scrub them.
pub fn values_of(store: &dyn SecretStore, identities: &[Identity]) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(headers) = crate::settings::header_values(store) {
        out.extend(headers.iter().map(|(_, v)| v.expose().to_owned()));
    }
    for identity in identities {
        let Ok(Some(s)) = IdentitySecrets::load(store, identity) else { continue };
        match &s.sign_in {
            SignInSecret::Password(p) => out.push(p.expose().to_owned()),
            SignInSecret::OAuth(o) => out.push(o.refresh_token.clone()),
        }
        if let Some(c) = s.storage_secret.as_ref().map(|s| s.secret()) {
            out.push(c.expose().to_owned());
        }
        out.extend(s.custom_headers.iter().map(|(_, v)| v.expose().to_owned()));
    }
    out
}
