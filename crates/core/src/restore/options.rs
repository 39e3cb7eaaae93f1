//! What a restore is asked to do: the target mode, the mapping (owners, groups, folders, tags,
//! URL replacements, conflict policy; saved as named profiles) and how it runs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::RestoreError;

/// Where the restored content goes relative to the snapshot's organization.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum RestoreMode {
    /// In place when the target is the snapshot's organization, a migration otherwise.
    #[default]
    Auto,
    /// Same organization: an item that still exists is updated back to the snapshot; a deleted
    /// one is created again (with a new id, which references are remapped to).
    InPlace,
    /// Every item is created anew beside what exists (titles and service names may conflict).
    Copies,
}

/// What happens when the target already holds an item of the same owner, type and title (or a
/// service of the same name) that the restore did not make.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Leave the existing item alone and point restored references at it.
    #[default]
    Skip,
    /// Create the item anyway, its title suffixed " (restored)" and its service name `_restored`.
    Rename,
    /// Overwrite the existing item's fields, data, resources and metadata with the snapshot's
    /// (a hosted service keeps its features: its data is not replaced).
    Overwrite,
}

/// Where a source group goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupTarget {
    /// An existing target group, by id or title.
    Existing(String),
    /// A new group, even when one of the same title exists (it is then titled "<title> (restored)").
    CreateNew,
}

/// The mapping part of the options: what a profile saves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mapping {
    /// Source username -> target username (matched when it exists, else created).
    pub owners: BTreeMap<String, String>,
    /// Source group id or title -> target.
    pub groups: BTreeMap<String, GroupTarget>,
    /// Source folder title -> target folder title.
    pub folders: BTreeMap<String, String>,
    /// Tags added to every restored item.
    pub tags: Vec<String>,
    /// Literal find/replace pairs applied to every string of item data, URLs and text resources,
    /// before the automatic id and URL remapping.
    pub url_replace: Vec<(String, String)>,
    pub conflict: ConflictPolicy,
    pub mode: RestoreMode,
}

/// Everything a restore runs with.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub mapping: Mapping,
    /// Restore only these source item ids; `None` restores every item.
    pub items: Option<BTreeSet<String>>,
    /// Create missing users (else items of missing owners go to the signed-in user).
    pub users: bool,
    /// With `users`, create only these missing source users; `None` creates every one.
    pub user_names: Option<BTreeSet<String>>,
    /// Create or match groups, members and sharing.
    pub groups: bool,
    /// How to re-create a hosted feature service, by source item id, where the plan offers
    /// more than one way (`PlannedItem::methods`); the plan's default otherwise.
    pub methods: BTreeMap<String, super::ItemMethod>,
    /// With `groups`, restore only these source group ids; `None` restores every group.
    pub group_ids: Option<BTreeSet<String>>,
    /// Items worked on at once within one dependency level.
    pub concurrency: usize,
    /// Longest wait for one publish job.
    pub publish_timeout: Duration,
    /// Longest pause between two polls of a job.
    pub poll_max: Duration,
    /// Attempts at one subject within a run when it fails for a passing reason (throttling, 5xx,
    /// a lost connection, an expired token); 1 means no retry (a later run still resumes it).
    pub attempts: u32,
    /// Ceiling of the (jittered) pause after the first failed attempt; doubled after each
    /// further one.
    pub retry_base: Duration,
    /// Longest server `Retry-After` that is waited out; longer ones are cut to this (as the
    /// client's own retry loop does), so a portal cannot stall a restore for hours.
    pub max_retry_after: Duration,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            mapping: Mapping::default(),
            items: None,
            users: true,
            user_names: None,
            groups: true,
            group_ids: None,
            methods: BTreeMap::new(),
            concurrency: 16,
            publish_timeout: Duration::from_secs(30 * 60),
            poll_max: Duration::from_secs(5),
            attempts: 5,
            retry_base: Duration::from_millis(250),
            max_retry_after: arcgis::RetryPolicy::default().max_retry_after,
        }
    }
}

impl RestoreOptions {
    /// How a subject (or a write and its read-back) is tried again within a run: `attempts`
    /// attempts, jittered pauses from `retry_base` doubling, a `Retry-After` honoured up to
    /// `max_retry_after`, which caps the pauses as well.
    pub fn retry_policy(&self) -> arcgis::RetryPolicy {
        arcgis::RetryPolicy {
            base_delay: self.retry_base,
            max_delay: self.max_retry_after,
            max_attempts: self.attempts.max(1),
            max_retry_after: self.max_retry_after,
            ..arcgis::RetryPolicy::default()
        }
    }
}

/// Parses `OLD=NEW` (the CLI's `--map-owner`, `--replace`); `=` inside NEW is kept.
pub fn parse_pair(s: &str) -> Result<(String, String), RestoreError> {
    match s.split_once('=') {
        Some((a, b)) if !a.trim().is_empty() => Ok((a.trim().to_owned(), b.trim().to_owned())),
        _ => Err(RestoreError::InvalidInput(format!("{s:?} must look like OLD=NEW"))),
    }
}

/// Parses a group mapping `OLD=NEW` where NEW `new` (any case) means "create a new group".
pub fn parse_group_pair(s: &str) -> Result<(String, GroupTarget), RestoreError> {
    let (a, b) = parse_pair(s)?;
    if b.is_empty() {
        return Err(RestoreError::InvalidInput(format!(
            "{s:?}: the target group is empty (use OLD=new to create one)"
        )));
    }
    Ok((a, if b.eq_ignore_ascii_case("new") { GroupTarget::CreateNew } else { GroupTarget::Existing(b) }))
}

impl Mapping {
    /// This mapping with `other`'s entries laid over it (command-line flags over a profile).
    pub fn overlaid(mut self, other: &Mapping) -> Mapping {
        self.owners.extend(other.owners.clone());
        self.groups.extend(other.groups.clone());
        self.folders.extend(other.folders.clone());
        for t in &other.tags {
            if !self.tags.contains(t) {
                self.tags.push(t.clone());
            }
        }
        self.url_replace.extend(other.url_replace.iter().cloned());
        if other.conflict != ConflictPolicy::default() {
            self.conflict = other.conflict;
        }
        if other.mode != RestoreMode::default() {
            self.mode = other.mode;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_group_targets_parse() {
        assert_eq!(parse_pair("a=b=c").expect("pair"), ("a".into(), "b=c".into()), "only the first = splits");
        assert!(parse_pair("novalue").is_err(), "a pair needs =");
        assert_eq!(parse_group_pair("g1=NEW").expect("group").1, GroupTarget::CreateNew, "new means create");
        assert_eq!(
            parse_group_pair("g1=Field crews").expect("group").1,
            GroupTarget::Existing("Field crews".into()),
            "anything else names an existing group"
        );
    }

    #[test]
    fn flags_overlay_a_profile() {
        let mut profile = Mapping::default();
        profile.owners.insert("ann".into(), "ann2".into());
        profile.tags.push("restored".into());
        let mut flags = Mapping::default();
        flags.owners.insert("bob".into(), "bob2".into());
        flags.tags.push("restored".into());
        flags.conflict = ConflictPolicy::Rename;
        let m = profile.overlaid(&flags);
        assert_eq!(m.owners.len(), 2, "owner maps of profile and flags combine");
        assert_eq!(m.tags, vec!["restored".to_string()], "a tag given twice is added once");
        assert_eq!(m.conflict, ConflictPolicy::Rename, "a flag's policy wins over the profile's default");
    }
}
