//! An identity's configured storage as a backup repository, and the password of an encrypted
//! one, kept in the vault with the identity so that unattended runs can open it.

use std::path::PathBuf;

use arcgis::Secret;
use serde::Serialize;

use super::{Service, ServiceError};
use crate::identity::{Identity, IdentitySecrets, Storage};
use crate::repo::{InitPolicy, RepoKey, RepoState, Repository};
use crate::storage::{check_local, AzureConnection, S3Address, S3Connection, StorageTarget};
use crate::vault::SecretKey;

/// What [`Service::set_up_repository`] found or made.
#[derive(Debug, Clone, Serialize)]
pub struct RepositorySetup {
    /// Whether the identity's repository is encrypted.
    pub encrypted: bool,
    /// Whether the repository was created just now.
    pub created: bool,
    /// The recovery key of a repository created encrypted just now: shown once, to be saved
    /// by the user; OrgVault keeps no copy.
    #[serde(skip)]
    pub recovery_key: Option<Secret>,
}

impl Service {
    /// Where the identity's backups go: its folder, or its Azure container with the connection
    /// string from the vault (`no_secret` when the vault has none).
    pub fn storage_target(&self, identity: &Identity) -> Result<StorageTarget, ServiceError> {
        Ok(match &identity.spec.storage {
            Storage::Local { path } => StorageTarget::Local { path: PathBuf::from(path) },
            Storage::Azure { container, cache_dir } => {
                let conn = self.storage_secret(identity, "Azure connection string")?;
                StorageTarget::Azure {
                    conn: AzureConnection::parse(conn.expose())?,
                    container: container.clone(),
                    prefix: String::new(),
                    cache_dir: PathBuf::from(cache_dir),
                }
            }
            Storage::S3 { url, access_key_id, cache_dir } => {
                let key = self.storage_secret(identity, "S3 secret access key")?;
                let conn = S3Connection::with_keys(url, access_key_id, &key)?;
                let prefix = S3Address::parse(url.trim())
                    .map_err(|reason| crate::storage::StorageError::Destination { dest: url.clone(), reason })?
                    .prefix;
                StorageTarget::S3 { conn, prefix, cache_dir: PathBuf::from(cache_dir) }
            }
        })
    }

    /// The secret of the identity's storage from the vault (`no_secret` when it has none).
    fn storage_secret(&self, identity: &Identity, what: &'static str) -> Result<Secret, ServiceError> {
        IdentitySecrets::load(self.secrets.as_ref(), identity)?
            .and_then(|s| s.storage_secret)
            .map(|s| s.secret().clone())
            .ok_or_else(|| ServiceError::NoSecret {
                identity: identity.spec.name.clone(),
                what,
                fix: "enter it again in the identity",
            })
    }

    /// The identity's existing repository, for reading; nothing is created
    /// (`not_a_repository` until a first backup made it).
    pub async fn repository_for(&self, identity: &Identity) -> Result<Repository, ServiceError> {
        let key = self.repository_key(identity)?;
        Ok(Repository::open_with_key(&self.storage_target(identity)?, &key).await?)
    }

    /// The identity's repository password from the vault, as the key to open its repository
    /// with: [`RepoKey::None`] when it has none (a plain repository).
    pub fn repository_key(&self, identity: &Identity) -> Result<RepoKey, ServiceError> {
        Ok(match self.secrets.get(&SecretKey::repository_password(&identity.id))? {
            Some(bytes) => RepoKey::Password(Secret::new(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| crate::vault::VaultError::Engine("a stored secret is not UTF-8 text".into()))?,
            )),
            None => RepoKey::None,
        })
    }

    /// Prepares the identity's storage as its repository (the app's "Save" with encryption,
    /// `orgvault identity repository`): with a password, a missing repository is created
    /// encrypted (the answer carries its recovery key, once) and an existing encrypted one must
    /// open with it; the password is then kept in the vault for unattended runs. Without one, a
    /// missing repository is created plain. An existing plain repository stays plain (a
    /// password given for it is refused, not stored).
    pub async fn set_up_repository(
        &self,
        identity: &Identity,
        password: Option<Secret>,
        init: InitPolicy,
    ) -> Result<RepositorySetup, ServiceError> {
        let target = self.storage_target(identity)?;
        let state = Repository::state(&target).await?;
        let key = match password.filter(|p| !p.is_empty()) {
            Some(p) => RepoKey::Password(p),
            None => RepoKey::None,
        };
        // The password is in the vault before a repository is created with it, so a vault
        // that cannot be written never leaves a repository whose password nothing keeps; a
        // refused set-up puts the vault back as it was.
        let vault_key = SecretKey::repository_password(&identity.id);
        let before = self.secrets.get(&vault_key)?;
        match &key {
            RepoKey::Password(p) => self.secrets.put(&vault_key, p.expose().as_bytes())?,
            RepoKey::None => self.secrets.remove(&vault_key)?,
        }
        let repo = match Repository::open_for_backup_with_key(&target, init, &key).await {
            Ok(repo) => repo,
            Err(e) => {
                let restored = match &before {
                    Some(old) => self.secrets.put(&vault_key, old),
                    None => self.secrets.remove(&vault_key),
                };
                if let Err(v) = restored {
                    tracing::error!(identity = %identity.id, "the repository password could not be put back: {v}");
                }
                return Err(e.into());
            }
        };
        Ok(RepositorySetup {
            encrypted: repo.is_encrypted(),
            created: state == RepoState::Missing,
            recovery_key: repo.recovery_key(),
        })
    }

    /// "Save and verify" of the identity form ([`Service::save_identity`]), then, with a
    /// `repository_password`, [`Service::set_up_repository`] of its storage (a missing
    /// repository created encrypted, its recovery key in the answer). A new identity whose
    /// repository cannot be set up (a plain repository there, a wrong password for an encrypted
    /// one) is removed again with its secrets: nothing is kept when a step fails.
    pub async fn save_identity_with_repository(
        &self,
        draft: super::IdentityDraft,
        browser: Option<&super::BrowserSignIn>,
        repository_password: Option<Secret>,
    ) -> Result<(super::SavedIdentity, Option<RepositorySetup>), ServiceError> {
        let is_new = draft.id.is_none();
        let saved = self.save_identity(draft, browser).await?;
        let password = match repository_password.filter(|p| !p.is_empty()) {
            Some(p) => p,
            None => {
                // An edit that moved an encrypted identity's storage: its repository is created
                // at the new place now, with the saved password, so its recovery key is shown.
                let RepoKey::Password(saved_password) = self.repository_key(&saved.identity)? else {
                    return Ok((saved, None));
                };
                if is_new || Repository::state(&self.storage_target(&saved.identity)?).await? != RepoState::Missing {
                    return Ok((saved, None));
                }
                saved_password
            }
        };
        match self.set_up_repository(&saved.identity, Some(password), InitPolicy::IfEmpty).await {
            Ok(setup) => Ok((saved, Some(setup))),
            Err(e) => {
                if is_new {
                    // Only the identity this call created, with its secrets; the set-up's error
                    // is what the user needs to read, so a failed clean-up is only logged.
                    let id = &saved.identity.id;
                    if let Err(d) = self.identities().delete(id).await {
                        tracing::error!(identity = %id, "the refused new identity could not be removed: {d}");
                    }
                    if let Err(v) = crate::vault::remove_identity_secrets(self.secrets.as_ref(), id) {
                        tracing::error!(identity = %id, "the refused new identity's secrets could not be removed: {v}");
                    }
                }
                Err(e)
            }
        }
    }

    /// The repository a scheduled copy of the identity's snapshots goes to (`dest`: a folder,
    /// `az://...` or `s3://...` with credentials from this process's environment or a profile):
    /// opened, or created in a missing or empty place, with the identity's repository password
    /// (a plain identity's copies are plain). Staging for uploads under the system's temp folder.
    pub async fn copy_destination(&self, identity: &Identity, dest: &str) -> Result<Repository, ServiceError> {
        let cache = std::env::temp_dir().join("orgvault-copy-cache");
        let target = StorageTarget::parse_dest_from_env(dest.trim(), &cache)?;
        // As for a backup: the repository check first, so a refused folder is not written to.
        let repo =
            Repository::open_for_backup_with_key(&target, InitPolicy::IfEmpty, &self.repository_key(identity)?).await?;
        if let StorageTarget::Local { path } = &target {
            check_local(path, 0).await?;
        }
        Ok(repo)
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
        // With a saved password a plain repository is refused (nothing unencrypted is written
        // where encryption was set up), and a missing one is not created here: its recovery key
        // would be shown to nobody ([`Service::set_up_repository`] creates it).
        let key = self.repository_key(identity)?;
        if matches!(key, RepoKey::Password(_)) && Repository::state(&target).await? == RepoState::Missing {
            return Err(crate::repo::RepoError::EncryptedRepositoryMissing { location: target.describe() }.into());
        }
        let repo = Repository::open_for_backup_with_key(&target, init, &key).await?;
        if let StorageTarget::Local { path } = &target {
            check_local(path, 0).await?;
        }
        Ok(repo)
    }
}
