//! The identity form's storage check ("Check folder", "Check Azure credentials", "Check S3
//! credentials"), for every front end.

use arcgis::Secret;

use super::{Service, ServiceError};
use crate::identity::{check_storage, Storage, StorageCheck};
use crate::vault::SecretKey;

impl Service {
    /// Checks a storage as entered on the identity form. The storage secret (Azure connection
    /// string, S3 secret access key) is never shown back, so while an existing identity is edited
    /// (`editing`, its id) an empty field means "the stored one": it is read from the vault, and
    /// only the one kept for the same kind of storage.
    pub async fn check_storage_entered(
        &self,
        storage: &Storage,
        secret: Option<Secret>,
        editing: Option<&str>,
    ) -> Result<StorageCheck, ServiceError> {
        let entered = secret.filter(|s| !s.expose().trim().is_empty());
        let secret = match (entered, editing) {
            (Some(s), _) => Some(s),
            (None, Some(id)) => {
                let key = match storage {
                    Storage::Azure { .. } => Some(SecretKey::azure_connection_string(id)),
                    Storage::S3 { .. } => Some(SecretKey::s3_secret_access_key(id)),
                    Storage::Local { .. } => None,
                };
                match key {
                    Some(key) => self.secrets.get(&key)?.map(|b| Secret::new(String::from_utf8_lossy(&b).into_owned())),
                    None => None,
                }
            }
            (None, None) => None,
        };
        Ok(check_storage(storage, secret.as_ref(), 0).await)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::vault::{MemoryVault, SecretStore};

    #[tokio::test]
    async fn an_empty_secret_while_editing_uses_the_stored_one_of_the_same_kind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::db::Db::open(&dir.path().join("db.sqlite")).await.expect("db");
        let vault = Arc::new(MemoryVault::default());
        // A connection string to a port nobody listens on: the check gets as far as the network.
        let stored = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1";
        vault.put(&SecretKey::azure_connection_string("id-1"), stored.as_bytes()).expect("put");
        let service = Service::new(db, vault.clone() as Arc<dyn SecretStore>);
        let azure = Storage::Azure { container: "backups".into(), cache_dir: String::new() };

        let new = service.check_storage_entered(&azure, Some(Secret::new("  ")), None).await.expect("check");
        assert_eq!(new.failed_step.as_deref(), Some("connection_string"), "a new identity must give one: {new:?}");
        let edited = service.check_storage_entered(&azure, None, Some("id-1")).await.expect("check");
        assert_ne!(
            edited.failed_step.as_deref(),
            Some("connection_string"),
            "editing, the stored connection string is used (and the check reaches the account): {edited:?}"
        );
        assert!(edited.message.contains("devstoreaccount1"), "the stored account is the one checked: {edited:?}");
        assert!(!edited.message.contains("a2V5"), "the key never appears in the answer: {edited:?}");
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").expect("file");
        let bad_cache = Storage::Azure { container: "backups".into(), cache_dir: file.display().to_string() };
        let cache = service.check_storage_entered(&bad_cache, None, Some("id-1")).await.expect("check");
        assert_eq!(
            cache.failed_step.as_deref(),
            Some("cache_dir"),
            "a cache folder that is a file is refused: {cache:?}"
        );
        let s3 = Storage::S3 { url: "s3://backups".into(), access_key_id: "AKIA".into(), cache_dir: String::new() };
        let other = service.check_storage_entered(&s3, None, Some("id-1")).await.expect("check");
        assert_eq!(
            other.failed_step.as_deref(),
            Some("secret_access_key"),
            "an Azure connection string is never used for an S3 storage: {other:?}"
        );
    }
}
