//! The restore as the UI sees it: the request (snapshot, target, mapping) and a faithful view of
//! the engine's [`RestorePlan`], exported to TypeScript. The engine's types carry no specta
//! derive (the core knows nothing of the app), so each is mirrored here field for field; the
//! `From` impls are the only place the two meet, so a field added to the engine's plan shows up
//! here as a compile error in the conversion, not as data silently missing from the screen.

use std::collections::BTreeMap;

use orgvault_core::restore::{
    Action, ConflictPolicy, GroupTarget, Mapping, PlannedGroup, PlannedItem, PlannedUser, RestoreMode, RestorePlan,
};
use serde::{Deserialize, Serialize};
use specta::Type;

use crate::views::SubjectKindView;

/// What happens when the target already holds an item of the same owner, type and title (or a
/// service of the same name) that the restore did not make.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicyView {
    /// Keep the existing item and point restored references at it.
    #[default]
    Skip,
    /// Create anyway, titled "... (restored)".
    Rename,
    /// Bring the existing item back to the snapshot's state.
    Overwrite,
}

impl From<ConflictPolicy> for ConflictPolicyView {
    fn from(p: ConflictPolicy) -> Self {
        match p {
            ConflictPolicy::Skip => Self::Skip,
            ConflictPolicy::Rename => Self::Rename,
            ConflictPolicy::Overwrite => Self::Overwrite,
        }
    }
}

impl From<ConflictPolicyView> for ConflictPolicy {
    fn from(p: ConflictPolicyView) -> Self {
        match p {
            ConflictPolicyView::Skip => Self::Skip,
            ConflictPolicyView::Rename => Self::Rename,
            ConflictPolicyView::Overwrite => Self::Overwrite,
        }
    }
}

/// `auto`: in place into the snapshot's own organization, a migration into another one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum RestoreModeView {
    #[default]
    Auto,
    InPlace,
    Copies,
}

impl From<RestoreMode> for RestoreModeView {
    fn from(m: RestoreMode) -> Self {
        match m {
            RestoreMode::Auto => Self::Auto,
            RestoreMode::InPlace => Self::InPlace,
            RestoreMode::Copies => Self::Copies,
        }
    }
}

impl From<RestoreModeView> for RestoreMode {
    fn from(m: RestoreModeView) -> Self {
        match m {
            RestoreModeView::Auto => Self::Auto,
            RestoreModeView::InPlace => Self::InPlace,
            RestoreModeView::Copies => Self::Copies,
        }
    }
}

/// Where a source group goes: an existing target group (by id or title) or a new one ("Create New").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GroupTargetView {
    Existing { group: String },
    CreateNew,
}

/// One literal find/replace pair, applied to every URL and string of item data before the
/// automatic id and URL remapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct UrlReplacement {
    pub find: String,
    pub replace: String,
}

/// How owners, groups and folders of a snapshot land in the target; what a profile saves.
/// A source owner or group absent from the maps follows the engine's defaults (docs/restore.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct MappingView {
    /// Source username -> target username.
    pub owners: BTreeMap<String, String>,
    /// Source group id (or title) -> target.
    pub groups: BTreeMap<String, GroupTargetView>,
    /// Source folder title -> target folder title.
    pub folders: BTreeMap<String, String>,
    /// Tags added to every restored item.
    pub tags: Vec<String>,
    pub url_replacements: Vec<UrlReplacement>,
    pub conflict: ConflictPolicyView,
    pub mode: RestoreModeView,
}

impl From<&Mapping> for MappingView {
    fn from(m: &Mapping) -> Self {
        Self {
            owners: m.owners.clone(),
            groups: m
                .groups
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        GroupTarget::Existing(g) => GroupTargetView::Existing { group: g.clone() },
                        GroupTarget::CreateNew => GroupTargetView::CreateNew,
                    };
                    (k.clone(), v)
                })
                .collect(),
            folders: m.folders.clone(),
            tags: m.tags.clone(),
            url_replacements: m
                .url_replace
                .iter()
                .map(|(find, replace)| UrlReplacement { find: find.clone(), replace: replace.clone() })
                .collect(),
            conflict: m.conflict.into(),
            mode: m.mode.into(),
        }
    }
}

impl MappingView {
    /// The engine's mapping. Rows the UI left half-filled (an empty source, or an empty target
    /// owner or folder, meaning "keep the default") and blank tags are dropped rather than sent
    /// as mappings to "".
    pub fn to_core(&self) -> Mapping {
        let filled = |(k, v): (&String, &String)| {
            let (k, v) = (k.trim(), v.trim());
            (!k.is_empty() && !v.is_empty()).then(|| (k.to_owned(), v.to_owned()))
        };
        Mapping {
            owners: self.owners.iter().filter_map(filled).collect(),
            groups: self
                .groups
                .iter()
                .filter(|(k, _)| !k.trim().is_empty())
                .filter_map(|(k, v)| match v {
                    GroupTargetView::CreateNew => Some((k.trim().to_owned(), GroupTarget::CreateNew)),
                    GroupTargetView::Existing { group } if !group.trim().is_empty() => {
                        Some((k.trim().to_owned(), GroupTarget::Existing(group.trim().to_owned())))
                    }
                    GroupTargetView::Existing { .. } => None,
                })
                .collect(),
            folders: self.folders.iter().filter_map(filled).collect(),
            tags: self.tags.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect(),
            // The replacement may be empty (delete the text); the text to find may not.
            url_replace: self
                .url_replacements
                .iter()
                .filter(|r| !r.find.is_empty())
                .map(|r| (r.find.clone(), r.replace.clone()))
                .collect(),
            conflict: self.conflict.into(),
            mode: self.mode.into(),
        }
    }
}

/// What "Show the plan" and "Apply plan" send: a snapshot of the source identity's storage,
/// restored into the target identity's organization with this mapping.
#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct RestoreInput {
    pub source_identity_id: String,
    pub snapshot_id: String,
    pub target_identity_id: String,
    pub mapping: MappingView,
}

/// A saved mapping profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct MappingProfile {
    pub name: String,
    pub mapping: MappingView,
}

/// What will happen to one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionView {
    Create,
    /// An existing target subject is brought to the snapshot's state (or finished, on resume).
    Update {
        target_id: String,
    },
    /// Left alone; references to it go to `target_id` when there is one.
    Skip {
        reason: String,
        target_id: Option<String>,
    },
    /// An existing target user or group is used as it is.
    Match {
        target_id: String,
    },
}

impl From<&Action> for ActionView {
    fn from(a: &Action) -> Self {
        match a {
            Action::Create => Self::Create,
            Action::Update { target_id } => Self::Update { target_id: target_id.clone() },
            Action::Skip { reason, target_id } => Self::Skip { reason: reason.clone(), target_id: target_id.clone() },
            Action::Match { target_id } => Self::Match { target_id: target_id.clone() },
        }
    }
}

/// How an item is re-created: `item` (addItem), `publish` (the backed-up package), or
/// `create_service` (createService, definitions, features, attachments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum ItemMethodView {
    Item,
    Publish,
    CreateService,
}

impl From<orgvault_core::restore::ItemMethod> for ItemMethodView {
    fn from(m: orgvault_core::restore::ItemMethod) -> Self {
        use orgvault_core::restore::ItemMethod;
        match m {
            ItemMethod::Item => Self::Item,
            ItemMethod::Publish => Self::Publish,
            ItemMethod::CreateService => Self::CreateService,
        }
    }
}

/// A title or service name the target already uses, and the policy applied to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ConflictView {
    /// `title`, `service_name`, or `marker` (an item carries a mark this restore cannot prove it made).
    pub on: String,
    pub value: String,
    pub existing_id: Option<String>,
    pub policy: ConflictPolicyView,
}

/// One change to an item's data or URL; `<new id of X>` stands for an id known only once X exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct RewriteView {
    /// Where in the item's data (an RFC 6901 pointer), or `url`.
    pub pointer: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct PlannedItemView {
    pub source_id: String,
    pub title: String,
    pub target_title: String,
    #[serde(rename = "type")]
    pub item_type: String,
    pub source_owner: String,
    pub target_owner: String,
    /// Absent: the owner's root folder.
    pub target_folder: Option<String>,
    /// Dependency level, 0 first.
    pub level: u32,
    pub action: ActionView,
    pub method: ItemMethodView,
    pub service_name: Option<String>,
    pub replaces: Option<String>,
    pub upload_bytes: u64,
    pub multipart: bool,
    pub conflict: Option<ConflictView>,
    pub rewrites: Vec<RewriteView>,
    pub notes: Vec<String>,
}

impl From<&PlannedItem> for PlannedItemView {
    fn from(i: &PlannedItem) -> Self {
        Self {
            source_id: i.source_id.clone(),
            title: i.title.clone(),
            target_title: i.target_title.clone(),
            item_type: i.item_type.clone(),
            source_owner: i.source_owner.clone(),
            target_owner: i.target_owner.clone(),
            target_folder: i.target_folder.clone(),
            level: u32::try_from(i.level).unwrap_or(u32::MAX),
            action: (&i.action).into(),
            method: i.method.into(),
            service_name: i.service_name.clone(),
            replaces: i.replaces.clone(),
            upload_bytes: i.upload_bytes,
            multipart: i.multipart,
            conflict: i.conflict.as_ref().map(|c| ConflictView {
                on: c.on.clone(),
                value: c.value.clone(),
                existing_id: c.existing_id.clone(),
                policy: c.policy.into(),
            }),
            rewrites: i
                .rewrites
                .iter()
                .map(|r| RewriteView { pointer: r.pointer.clone(), from: r.from.clone(), to: r.to.clone() })
                .collect(),
            notes: i.notes.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct PlannedUserView {
    pub source_username: String,
    pub target_username: String,
    pub action: ActionView,
    pub role: String,
    pub license_type: Option<String>,
    pub notes: Vec<String>,
}

impl From<&PlannedUser> for PlannedUserView {
    fn from(u: &PlannedUser) -> Self {
        Self {
            source_username: u.source_username.clone(),
            target_username: u.target_username.clone(),
            action: (&u.action).into(),
            role: u.role.clone(),
            license_type: u.license_type.clone(),
            notes: u.notes.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct PlannedGroupView {
    pub source_id: String,
    pub title: String,
    pub target_title: String,
    pub action: ActionView,
    pub owner: String,
    /// Target usernames to add (the owner excluded).
    pub members: Vec<String>,
    /// Those of `members` who manage the group.
    pub managers: Vec<String>,
    pub notes: Vec<String>,
}

impl From<&PlannedGroup> for PlannedGroupView {
    fn from(g: &PlannedGroup) -> Self {
        Self {
            source_id: g.source_id.clone(),
            title: g.title.clone(),
            target_title: g.target_title.clone(),
            action: (&g.action).into(),
            owner: g.owner.clone(),
            members: g.members.clone(),
            managers: g.managers.clone(),
            notes: g.notes.clone(),
        }
    }
}

/// A subject the restore does not offer (it failed in the backup, or is not in the snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct NotOfferedView {
    pub kind: SubjectKindView,
    pub id: String,
    pub title: String,
    pub reason: String,
}

/// A user who would end up in more than 512 groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct GroupLimitView {
    pub username: String,
    pub groups: u32,
}

/// Tallies of items, users and groups together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct PlanCountsView {
    pub create: u32,
    pub update: u32,
    pub skip: u32,
    pub matched: u32,
    pub conflicts: u32,
}

/// The whole plan: nothing has been written when the UI holds one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct RestorePlanView {
    pub snapshot_id: String,
    pub snapshot_name: String,
    pub source_org_id: String,
    pub source_portal_url: String,
    pub target_org_id: String,
    pub target_portal_url: String,
    /// `in_place`, `copies` or `migrate`.
    pub mode: String,
    pub conflict_policy: ConflictPolicyView,
    /// An earlier run of this restore is resumed.
    pub resuming: bool,
    pub items: Vec<PlannedItemView>,
    pub users: Vec<PlannedUserView>,
    pub groups: Vec<PlannedGroupView>,
    pub not_offered: Vec<NotOfferedView>,
    /// Source owners with no target user: their items go to the signed-in administrator.
    pub missing_owners: Vec<String>,
    /// Group mappings naming no target group: a new group is created instead.
    pub missing_groups: Vec<String>,
    pub group_limit: Vec<GroupLimitView>,
    pub upload_bytes: u64,
    pub largest_upload: u64,
    pub multipart_uploads: u32,
    /// URL prefix rules applied everywhere (from, to), besides each item's own rewrites.
    pub url_rewrites: Vec<RewriteRule>,
    pub levels: u32,
    pub counts: PlanCountsView,
}

/// A URL prefix the restore rewrites everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct RewriteRule {
    pub from: String,
    pub to: String,
}

fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<&RestorePlan> for RestorePlanView {
    fn from(p: &RestorePlan) -> Self {
        Self {
            snapshot_id: p.snapshot_id.clone(),
            snapshot_name: p.snapshot_name.clone(),
            source_org_id: p.source_org_id.clone(),
            source_portal_url: p.source_portal_url.clone(),
            target_org_id: p.target_org_id.clone(),
            target_portal_url: p.target_portal_url.clone(),
            mode: p.mode.clone(),
            conflict_policy: p.conflict_policy.into(),
            resuming: p.resuming,
            items: p.items.iter().map(Into::into).collect(),
            users: p.users.iter().map(Into::into).collect(),
            groups: p.groups.iter().map(Into::into).collect(),
            not_offered: p
                .not_offered
                .iter()
                .map(|n| NotOfferedView {
                    kind: n.kind.into(),
                    id: n.id.clone(),
                    title: n.title.clone(),
                    reason: n.reason.clone(),
                })
                .collect(),
            missing_owners: p.missing_owners.clone(),
            missing_groups: p.missing_groups.clone(),
            group_limit: p
                .group_limit
                .iter()
                .map(|g| GroupLimitView { username: g.username.clone(), groups: small(g.groups) })
                .collect(),
            upload_bytes: p.upload_bytes,
            largest_upload: p.largest_upload,
            multipart_uploads: small(p.multipart_uploads),
            url_rewrites: p
                .url_rewrites
                .iter()
                .map(|(from, to)| RewriteRule { from: from.clone(), to: to.clone() })
                .collect(),
            levels: small(p.levels),
            counts: PlanCountsView {
                create: small(p.counts.create),
                update: small(p.counts.update),
                skip: small(p.counts.skip),
                matched: small(p.counts.matched),
                conflicts: small(p.counts.conflicts),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_survives_the_trip_through_the_view() {
        let mut m = Mapping::default();
        m.owners.insert("ann_acme".into(), "ann_beta".into());
        m.groups.insert("g1".into(), GroupTarget::CreateNew);
        m.groups.insert("g2".into(), GroupTarget::Existing("Field crews".into()));
        m.folders.insert("Parks".into(), "Parks 2024".into());
        m.tags.push("migrated".into());
        m.url_replace.push(("http://old".into(), "https://new".into()));
        m.conflict = ConflictPolicy::Rename;
        m.mode = RestoreMode::Copies;
        assert_eq!(MappingView::from(&m).to_core(), m, "a profile loaded into the UI and saved again must not change");
    }

    #[test]
    fn half_filled_rows_are_not_sent_as_mappings_to_nothing() {
        let mut v = MappingView::default();
        v.owners.insert("ann".into(), "  ".into());
        v.owners.insert(" bob ".into(), " bob2 ".into());
        v.groups.insert("g1".into(), GroupTargetView::Existing { group: String::new() });
        v.folders.insert(String::new(), "x".into());
        v.tags = vec![" ".into(), "t".into()];
        v.url_replacements.push(UrlReplacement { find: String::new(), replace: "x".into() });
        v.url_replacements.push(UrlReplacement { find: "http://a".into(), replace: String::new() });
        let m = v.to_core();
        assert_eq!(m.owners.len(), 1, "an owner row with no target keeps the default, not a map to an empty name");
        assert_eq!(m.owners.get("bob").map(String::as_str), Some("bob2"), "names are trimmed");
        assert!(m.groups.is_empty(), "a group row with no target group is the default, not a group named \"\"");
        assert!(m.folders.is_empty(), "a folder row with no source is dropped");
        assert_eq!(m.tags, vec!["t".to_string()], "blank tags are dropped");
        assert_eq!(
            m.url_replace,
            vec![("http://a".to_string(), String::new())],
            "a replacement may delete text, but there must be text to find"
        );
    }
}
