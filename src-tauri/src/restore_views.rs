//! The restore request as the UI sends it: the snapshot, the target and the mapping. The plan
//! itself is the engine's own [`orgvault_core::restore::RestorePlan`], exported to TypeScript
//! as it is. The mapping keeps a view of its own because the form's shape really differs: a
//! group target is a tagged object, URL replacements are `{find, replace}` rows, and rows the
//! user left half-filled are dropped on the way in ([`MappingView::to_core`]).

use std::collections::BTreeMap;

use orgvault_core::restore::{ConflictPolicy, GroupTarget, Mapping, RestoreMode};
use serde::{Deserialize, Serialize};
use specta::Type;

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
    pub conflict: ConflictPolicy,
    pub mode: RestoreMode,
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
            conflict: m.conflict,
            mode: m.mode,
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
            conflict: self.conflict,
            mode: self.mode,
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
    /// What of the snapshot to restore; absent or `everything` restores all of it.
    pub selection: Option<crate::views::SelectionInput>,
    /// How to re-create hosted feature services, by source item id (the plan's `methods`).
    #[serde(default)]
    pub methods: std::collections::BTreeMap<String, orgvault_core::restore::ItemMethod>,
}

/// A saved mapping profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct MappingProfile {
    pub name: String,
    pub mapping: MappingView,
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
