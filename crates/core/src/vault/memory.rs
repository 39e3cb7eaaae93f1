//! An in-memory [`SecretStore`] for tests and the in-process demo.

use std::collections::BTreeMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::{SecretKey, SecretStore, VaultError};

/// Secrets in a map, gone with the process. `Debug` lists the key names only.
#[derive(Default)]
pub struct MemoryVault {
    secrets: Mutex<BTreeMap<SecretKey, Zeroizing<Vec<u8>>>>,
}

impl MemoryVault {
    /// The names of the stored secrets, sorted.
    pub fn keys(&self) -> Vec<SecretKey> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<SecretKey, Zeroizing<Vec<u8>>>> {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for MemoryVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryVault").field("keys", &self.keys()).finish()
    }
}

impl SecretStore for MemoryVault {
    fn put(&self, key: &SecretKey, value: &[u8]) -> Result<(), VaultError> {
        self.lock().insert(key.clone(), Zeroizing::new(value.to_vec()));
        Ok(())
    }

    fn get(&self, key: &SecretKey) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        Ok(self.lock().get(key).cloned())
    }

    fn remove(&self, key: &SecretKey) -> Result<(), VaultError> {
        self.lock().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_not_values() {
        let v = MemoryVault::default();
        v.put(&SecretKey::password("x"), b"hunter2-secret").expect("put");
        let shown = format!("{v:?}");
        assert!(shown.contains("identity/x/password"), "Debug names the secret: {shown}");
        assert!(!shown.contains("hunter2"), "Debug must never show a value: {shown}");
    }
}
