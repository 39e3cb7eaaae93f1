//! An identity's configured storage as a backup repository.

use std::path::PathBuf;

use super::{Service, ServiceError};
use crate::identity::{Identity, IdentitySecrets, Storage};
use crate::repo::{InitPolicy, Repository};
use crate::storage::{check_local, AzureConnection, StorageTarget};

impl Service {
    /// Where the identity's backups go: its folder, or its Azure container with the connection
    /// string from the vault (`no_secret` when the vault has none).
    pub fn storage_target(&self, identity: &Identity) -> Result<StorageTarget, ServiceError> {
        Ok(match &identity.spec.storage {
            Storage::Local { path } => StorageTarget::Local { path: PathBuf::from(path) },
            Storage::Azure { container, cache_dir } => {
                let conn = IdentitySecrets::load(self.secrets.as_ref(), identity)?
                    .and_then(|s| s.azure_connection_string)
                    .ok_or_else(|| ServiceError::NoSecret {
                        identity: identity.spec.name.clone(),
                        what: "Azure connection string",
                        fix: "enter it again in the identity",
                    })?;
                StorageTarget::Azure {
                    conn: AzureConnection::parse(conn.expose())?,
                    container: container.clone(),
                    prefix: String::new(),
                    cache_dir: PathBuf::from(cache_dir),
                }
            }
        })
    }

    /// The identity's existing repository, for reading; nothing is created
    /// (`not_a_repository` until a first backup made it).
    pub async fn repository_for(&self, identity: &Identity) -> Result<Repository, ServiceError> {
        Ok(Repository::open(&self.storage_target(identity)?).await?)
    }

    /// The identity's repository for a backup: created on first use as `init` allows (by
    /// default in a missing or empty folder or container only, `destination_not_empty`
    /// otherwise); a folder must then be writable.
    pub async fn backup_repository_for(
        &self,
        identity: &Identity,
        init: InitPolicy,
    ) -> Result<Repository, ServiceError> {
        let target = self.storage_target(identity)?;
        // The repository check comes first, so a folder that is refused is not written to.
        let repo = Repository::open_for_backup(&target, init).await?;
        if let StorageTarget::Local { path } = &target {
            check_local(path, 0).await?;
        }
        Ok(repo)
    }
}
