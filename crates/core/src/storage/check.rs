//! The credential check of an object store (Azure, S3): what the credential may do (write, list,
//! read, delete), proved with a probe object OrgVault writes and then deletes, and so whether the
//! repository there is append-only for it.
//!
//! Only the probe just written is ever deleted. Where delete is refused the probe stays behind
//! as `tmp/delete-probe-<32 hex>` in the repository's place (a few bytes): a new repository may
//! still be created there (such probes do not make a location "not empty"), and the first
//! repository handle that proves it may delete removes it (`repo::append_only`).

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::azure::join_prefix;
use super::error::StorageError;

/// The name of a probe object (in `tmp/`) starts so; the rest is 32 hex digits.
pub(crate) const PROBE_PREFIX: &str = "delete-probe-";

/// Whether `name` (relative to the repository) is a probe left by a check or an append-only probe.
pub(crate) fn is_probe(rel: &str) -> bool {
    rel.strip_prefix("tmp/")
        .and_then(|n| n.strip_prefix(PROBE_PREFIX))
        .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The outcome of one step of a check: `Ok` or the reason it failed.
pub type CheckStep = Result<(), String>;

/// What a credential check proved. Each step is tried even when an earlier one failed, where that
/// makes sense (read and delete need the probe to exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCheck {
    pub write: CheckStep,
    pub list: CheckStep,
    pub read: CheckStep,
    pub delete: CheckStep,
}

/// The name this check had when only Azure had one.
pub type AzureCheck = StoreCheck;

impl StoreCheck {
    /// Every step failed for the same reason (the store could not even be built).
    pub(crate) fn unusable(msg: String) -> StoreCheck {
        StoreCheck { write: Err(msg.clone()), list: Err(msg.clone()), read: Err(msg.clone()), delete: Err(msg) }
    }

    /// Whether every step passed.
    pub fn all_ok(&self) -> bool {
        self.failed().is_empty()
    }

    /// The names of the steps that failed ("write", "list", "read", "delete").
    pub fn failed(&self) -> Vec<&'static str> {
        self.steps().into_iter().filter(|(_, r)| r.is_err()).map(|(n, _)| n).collect()
    }

    /// The names of the steps that passed, in order: what the credential may do.
    pub fn allowed(&self) -> Vec<&'static str> {
        self.steps().into_iter().filter(|(_, r)| r.is_ok()).map(|(n, _)| n).collect()
    }

    /// A backup, verify and copy work but forget and prune cannot: write, list and read passed,
    /// delete was refused.
    pub fn append_only(&self) -> bool {
        self.write.is_ok() && self.list.is_ok() && self.read.is_ok() && self.delete.is_err()
    }

    /// Why the first failing step failed, in the storage's (redacted) words.
    pub fn steps_failing_reason(&self) -> Option<String> {
        self.steps().into_iter().find_map(|(_, r)| r.as_ref().err().cloned())
    }

    /// Whether a backup can run here (everything but delete).
    pub fn usable_for_backup(&self) -> bool {
        self.write.is_ok() && self.list.is_ok() && self.read.is_ok()
    }

    fn steps(&self) -> [(&'static str, &CheckStep); 4] {
        [("write", &self.write), ("list", &self.list), ("read", &self.read), ("delete", &self.delete)]
    }
}

/// Proves write, list, read and delete under `prefix` with a small probe object, reporting which
/// step failed and why. Never fails itself.
pub async fn check_store(store: &dyn ObjectStore, prefix: &str) -> StoreCheck {
    let dir = join_prefix(prefix, "tmp");
    let probe = ObjectPath::from(format!("{dir}/{PROBE_PREFIX}{}", uuid::Uuid::new_v4().simple()));
    let content = Bytes::from_static(b"orgvault credential check");
    let show = |op: &'static str, e: object_store::Error| StorageError::from_store(op, probe.as_ref(), e).to_string();

    let write =
        store.put(&probe, PutPayload::from_bytes(content.clone())).await.map(|_| ()).map_err(|e| show("write", e));
    let list = async {
        let prefix = ObjectPath::from(dir.as_str());
        let found: Vec<_> = store.list(Some(&prefix)).try_collect().await.map_err(|e| show("list", e))?;
        if write.is_ok() && !found.iter().any(|m| m.location == probe) {
            return Err("the probe just written is not listed".to_owned());
        }
        Ok(())
    }
    .await;
    let read = if write.is_err() {
        // Reading a missing object would report "not found", which says nothing about rights.
        Err("not tried: the write failed, so there was nothing to read".to_owned())
    } else {
        match store.get(&probe).await {
            Ok(got) => match got.bytes().await {
                Ok(b) if b == content => Ok(()),
                Ok(_) => Err("the probe read back differs from what was written".to_owned()),
                Err(e) => Err(show("read", e)),
            },
            Err(e) => Err(show("read", e)),
        }
    };
    let delete = if write.is_err() {
        Err("not tried: the write failed, so there was nothing to delete".to_owned())
    } else {
        store.delete(&probe).await.map_err(|e| show("delete", e))
    };
    StoreCheck { write, list, read, delete }
}
