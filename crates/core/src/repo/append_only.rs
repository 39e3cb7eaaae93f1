//! Append-only repositories: where OrgVault may add but not remove.
//!
//! A repository is append-only for a handle in two ways:
//! - by setting: [`Repository::set_append_only`] (the CLI's `--append-only`, an identity's
//!   storage option) makes the handle refuse every delete, whatever its credentials may do;
//! - by credentials: an Azure SAS without `d`, an S3 policy without `s3:DeleteObject`, a folder
//!   where the user may create but not remove. [`Repository::delete_rights`] finds out by writing
//!   a probe object under `tmp/` and deleting it (only that object; where the delete is refused
//!   the probe stays, a few bytes, removed by the next handle that proves it may delete).
//!
//! Backup, verify, copy and restore need no delete. Forget and prune ask first
//! ([`Repository::require_delete`]) and are refused with [`RepoError::AppendOnly`] before they
//! change anything. Locks, which a writer would delete when done, are *released* instead by
//! overwriting them with a record marked released where deleting is not allowed (see `lock`);
//! a released or stale lock never conflicts, and the next exclusive lock (a prune with full
//! credentials) removes them.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::storage::{is_probe, StorageError, PROBE_PREFIX};

use super::error::{RepoError, RepoResult};
use super::Repository;

/// What a handle may do about removing objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "may_delete", rename_all = "snake_case")]
pub enum DeleteRights {
    /// Deletes work: forget and prune can run.
    Allowed,
    /// The handle is set append-only.
    RefusedBySetting,
    /// The storage refused to delete the probe; `detail` is its (redacted) answer.
    RefusedByCredentials { detail: String },
}

impl DeleteRights {
    pub fn allowed(&self) -> bool {
        matches!(self, DeleteRights::Allowed)
    }

    fn reason(&self) -> String {
        match self {
            DeleteRights::Allowed => "deletes are allowed".into(),
            DeleteRights::RefusedBySetting => "it is set append-only".into(),
            DeleteRights::RefusedByCredentials { detail } => format!("the credentials may not delete: {detail}"),
        }
    }
}

impl Repository {
    /// From now on this handle and its clones refuse every delete: forget and prune fail with
    /// [`RepoError::AppendOnly`], locks are released by marking them. There is no way back for
    /// the handle; open the repository again without the setting.
    pub fn set_append_only(&self) {
        self.inner.append_only.store(true, Ordering::SeqCst);
    }

    /// Whether [`Repository::set_append_only`] was called on this handle (or a clone).
    pub fn is_append_only(&self) -> bool {
        self.inner.append_only.load(Ordering::SeqCst)
    }

    /// Whether this handle may delete: the setting, then a probe object written to `tmp/` and
    /// deleted. A storage failure that says nothing about rights (a timeout) is an error.
    pub async fn delete_rights(&self) -> RepoResult<DeleteRights> {
        if self.is_append_only() {
            return Ok(DeleteRights::RefusedBySetting);
        }
        let rel = format!("tmp/{PROBE_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let path = self.path(&rel);
        self.store()
            .put(&path, PutPayload::from_bytes(Bytes::from_static(b"orgvault delete probe")))
            .await
            .map_err(|e| StorageError::from_store("write", &rel, e))?;
        match self.store().delete(&path).await {
            Ok(()) => {
                self.remove_old_probes().await?;
                Ok(DeleteRights::Allowed)
            }
            Err(e) => match StorageError::from_store("delete", &rel, e) {
                e if denies_delete(&e) => Ok(DeleteRights::RefusedByCredentials { detail: e.to_string() }),
                e => Err(e.into()),
            },
        }
    }

    /// Removes the probes that handles which could not delete left in `tmp/` (only names of
    /// the probe's form, directly in `tmp/`).
    async fn remove_old_probes(&self) -> RepoResult<()> {
        let metas: Vec<_> = self
            .store()
            .list(Some(&self.path("tmp")))
            .try_collect()
            .await
            .map_err(|e| StorageError::from_store("list", "tmp", e))?;
        for m in metas {
            let rel = self.relative(&m.location).to_owned();
            if is_probe(&rel) {
                match self.store().delete(&m.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(StorageError::from_store("delete", &rel, e).into()),
                }
            }
        }
        Ok(())
    }

    /// Refuses `op` (forget, prune) with [`RepoError::AppendOnly`] unless this handle may delete.
    pub(crate) async fn require_delete(&self, op: &'static str) -> RepoResult<()> {
        match self.delete_rights().await? {
            DeleteRights::Allowed => Ok(()),
            refused => Err(RepoError::AppendOnly { op, location: self.target().describe(), reason: refused.reason() }),
        }
    }
}

/// Whether a failed delete means "not allowed" (rather than "try later"). Object stores answer
/// 403 (`PermissionDenied`); a folder answers EACCES/EPERM, which object_store's local store
/// reports as a generic error with the OS's words.
pub(crate) fn denies_delete(e: &StorageError) -> bool {
    match e {
        StorageError::PermissionDenied { .. } => true,
        StorageError::Backend { detail, .. } => {
            let d = detail.to_ascii_lowercase();
            ["permission denied", "operation not permitted", "accessdenied", "authorizationpermissionmismatch"]
                .iter()
                .any(|w| d.contains(w))
        }
        _ => false,
    }
}
