//! The plan: what a restore will do, computed from the snapshot, the target org as it is now
//! and the journal, with nothing written. Returned as data (serde) for the CLI and the app.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::RestoreError;
use super::journal::{EntryKind, JournalEntry};
use super::marks::{LEGACY_MARKER_PREFIX, MARKER_PREFIX};
use super::options::{ConflictPolicy, GroupTarget, RestoreMode};
use super::rewrite::Rewrite;
use crate::jobs::SubjectKind;

/// What will happen to one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Made anew.
    Create,
    /// An existing target subject is brought to the snapshot's state (or finished, on resume).
    Update { target_id: String },
    /// Left alone; references to it go to `target_id` when there is one.
    Skip { reason: String, target_id: Option<String> },
    /// An existing target subject is used as it is (users, groups).
    Match { target_id: String },
}

/// How an item is re-created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ItemMethod {
    /// addItem with its data, resources, thumbnail and metadata.
    Item,
    /// Upload the backed-up File Geodatabase / replica and publish it.
    Publish,
    /// createService, addToDefinition, updateDefinition, applyEdits, addAttachment.
    CreateService,
    /// Upload the service definition (`.sd`) the service was published from, kept in the
    /// snapshot, and publish it: the service as it was published then (its schema, and the
    /// features it had then), not as backed up.
    PublishDefinition,
    /// A hosted tile, vector tile or scene layer: upload the tile or scene layer package it was
    /// published from, kept in the snapshot, and publish it; its item then describes the new layer.
    PublishPackage,
}

/// What a target item shares with the one the restore would make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ConflictOn {
    /// The same owner, type and title.
    Title,
    /// The same hosted service name.
    ServiceName,
    /// A restore marker of the source item that this restore cannot prove it made.
    Marker,
}

impl ConflictOn {
    /// Its serialised name (`title`, `service_name`, `marker`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictOn::Title => "title",
            ConflictOn::ServiceName => "service_name",
            ConflictOn::Marker => "marker",
        }
    }
}

impl std::fmt::Display for ConflictOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name or title the target already uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Conflict {
    pub on: ConflictOn,
    pub value: String,
    /// The target item holding it, when known.
    pub existing_id: Option<String>,
    pub policy: ConflictPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PlannedItem {
    pub source_id: String,
    pub title: String,
    /// The title it will have (differs after a rename).
    pub target_title: String,
    pub item_type: String,
    pub source_owner: String,
    pub target_owner: String,
    /// Target folder title; `None` = the owner's root.
    pub target_folder: Option<String>,
    /// Dependency level (0 first).
    pub level: usize,
    pub action: Action,
    pub method: ItemMethod,
    /// The methods this item can be restored by (a hosted feature service may have several:
    /// its exported data, its definition and features, its service definition); `options.methods`
    /// picks one of them.
    pub methods: Vec<ItemMethod>,
    /// The snapshot's service definition item of this service, if it holds one.
    pub service_definition: Option<String>,
    /// The snapshot's tile or scene layer package of this hosted layer, if it holds one.
    pub package: Option<String>,
    /// Target service name (hosted services).
    pub service_name: Option<String>,
    /// An unfinished earlier attempt (a half-made service) that is deleted and made again: only
    /// one the journal proves this restore made (see `ownership`).
    pub replaces: Option<String>,
    /// Bytes uploaded for it (data file, resources, package, attachments).
    pub upload_bytes: u64,
    /// A file above the single-upload limit goes up in parts.
    pub multipart: bool,
    pub conflict: Option<Conflict>,
    /// Every change to its data and URL; `<new id of X>` stands for an id known only once X exists.
    pub rewrites: Vec<Rewrite>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PlannedUser {
    pub source_username: String,
    pub target_username: String,
    pub action: Action,
    pub role: String,
    pub license_type: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PlannedGroup {
    pub source_id: String,
    pub title: String,
    pub target_title: String,
    pub action: Action,
    /// Target owner.
    pub owner: String,
    /// Target usernames to add (owner excluded).
    pub members: Vec<String>,
    /// Those of `members` who manage the group (its admins in the backup).
    #[serde(default)]
    pub managers: Vec<String>,
    pub notes: Vec<String>,
}

/// A subject the restore does not offer, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NotOffered {
    pub kind: SubjectKind,
    pub id: String,
    pub title: String,
    pub reason: String,
}

/// A user who would end up in more than 512 groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GroupLimit {
    pub username: String,
    pub groups: usize,
}

/// Tallies of the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PlanCounts {
    pub create: usize,
    pub update: usize,
    pub skip: usize,
    pub matched: usize,
    pub conflicts: usize,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RestorePlan {
    pub snapshot_id: String,
    pub snapshot_name: String,
    pub source_org_id: String,
    pub source_portal_url: String,
    pub target_org_id: String,
    pub target_portal_url: String,
    /// What the requested mode resolved to for this target.
    pub mode: PlanMode,
    pub conflict_policy: ConflictPolicy,
    /// Whether the journal shows an earlier run of this restore (it resumes).
    pub resuming: bool,
    pub items: Vec<PlannedItem>,
    pub users: Vec<PlannedUser>,
    pub groups: Vec<PlannedGroup>,
    pub not_offered: Vec<NotOffered>,
    /// Source owners with no target user (their items go to the signed-in user).
    pub missing_owners: Vec<String>,
    /// Group mappings that name no target group (a new group is created instead).
    pub missing_groups: Vec<String>,
    /// Privileges the target account lacks for this plan, with what needs each; the apply
    /// refuses to start while any is missing.
    pub missing_privileges: Vec<super::MissingPrivilege>,
    pub group_limit: Vec<GroupLimit>,
    pub upload_bytes: u64,
    pub largest_upload: u64,
    pub multipart_uploads: usize,
    /// The URL prefix rules applied everywhere (from -> to), besides the per-item list.
    pub url_rewrites: Vec<(String, String)>,
    pub levels: usize,
    pub counts: PlanCounts,
}

/// The target organization as the plan saw it.
#[derive(Debug, Default)]
pub(crate) struct TargetState {
    pub items: HashMap<String, arcgis::ItemInfo>,
    /// Restore mark (`orgvault-restored-…`) -> the items carrying it.
    pub markers: HashMap<String, Vec<String>>,
    /// Source id -> items carrying the plain marker `orgvault-source-<id>` (anyone can plant it).
    pub legacy_markers: HashMap<String, Vec<String>>,
    pub users: HashMap<String, arcgis::UserInfo>,
    /// Lowercase title -> group.
    pub groups_by_title: HashMap<String, arcgis::GroupInfo>,
    pub group_ids: BTreeSet<String>,
    /// Target hosting host (scheme://host).
    pub hosting_root: String,
    /// The signed-in administrator.
    pub me: String,
}

impl TargetState {
    pub async fn read(portal: &arcgis::Portal) -> Result<TargetState, RestoreError> {
        let me = portal.self_info().user.as_ref().map(|u| u.username.clone()).unwrap_or_default();
        let mut t = TargetState { me, ..TargetState::default() };
        for item in portal.search_org_items(&|_, _| {}).await? {
            t.add_item(item);
        }
        // Search lags behind writes (Esri documents the delay), so what was written a moment
        // ago, by an earlier run of this restore or by hand, may be missing from it. The
        // signed-in administrator's own content, where restores write most, is read from the
        // content listing, which is current at once.
        if !t.me.is_empty() {
            t.add_owned(portal, &t.me.clone()).await?;
        }
        for u in portal.org_users().await? {
            t.users.insert(u.username.clone(), u);
        }
        for g in portal.org_groups().await? {
            t.group_ids.insert(g.id.clone());
            t.groups_by_title.insert(g.title.to_lowercase(), g);
        }
        let urls = portal.get_json(&format!("portals/{}/urls", portal.org_id()), &[]).await.unwrap_or(Value::Null);
        let scheme = portal.portal_url().scheme().to_owned();
        let host = features_hosts(&urls, &scheme).into_iter().next().unwrap_or_else(|| {
            let p = portal.portal_url();
            match p.port() {
                Some(port) => format!("{}:{port}", p.host_str().unwrap_or_default()),
                None => p.host_str().unwrap_or_default().to_owned(),
            }
        });
        t.hosting_root = format!("{scheme}://{host}/{}/", portal.org_id());
        Ok(t)
    }

    fn add_item(&mut self, item: arcgis::ItemInfo) {
        for k in &item.type_keywords {
            if k.starts_with(MARKER_PREFIX) {
                self.markers.entry(k.clone()).or_default().push(item.id.clone());
            }
            if let Some(src) = k.strip_prefix(LEGACY_MARKER_PREFIX) {
                self.legacy_markers.entry(src.to_owned()).or_default().push(item.id.clone());
            }
        }
        self.items.insert(item.id.clone(), item);
    }

    /// Adds `owner`'s content from the content listing (current at once), for the items search
    /// does not show yet.
    pub async fn add_owned(&mut self, portal: &arcgis::Portal, owner: &str) -> Result<(), RestoreError> {
        for item in portal.owned_items(owner).await? {
            if !self.items.contains_key(&item.id) {
                self.add_item(item);
            }
        }
        Ok(())
    }

    /// Reads the items `ids` names that search did not show (made by an earlier run of this
    /// restore a moment ago, so not yet in the search index) one by one, from the item itself;
    /// an id that no longer exists is left out.
    pub async fn add_unindexed<'i>(
        &mut self,
        portal: &arcgis::Portal,
        ids: impl IntoIterator<Item = &'i str>,
    ) -> Result<(), RestoreError> {
        for id in ids {
            if self.items.contains_key(id) {
                continue;
            }
            match portal.item(id).await {
                Ok(item) => self.add_item(item),
                Err(arcgis::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The target item of the same owner, type and title, if any.
    pub fn same_title(&self, owner: &str, item_type: &str, title: &str) -> Option<&arcgis::ItemInfo> {
        let mut found: Vec<&arcgis::ItemInfo> =
            self.items.values().filter(|i| i.owner == owner && i.item_type == item_type && i.title == title).collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found.into_iter().next()
    }

    /// The target item serving `name` as a service of the server kind `kind` (see [`serves_as`]).
    pub fn service_item_as(&self, name: &str, kind: &str) -> Option<&arcgis::ItemInfo> {
        self.items.values().find(|i| serves_as(i, name, kind))
    }

    /// The item carrying this restore's `mark` that a restore may have made: owned by `owner`
    /// (the planned owner) or the signed-in administrator. A copy of the mark on anyone
    /// else's item proves nothing.
    pub fn marked(&self, mark: &str, owner: &str) -> Option<&arcgis::ItemInfo> {
        let ids = self.markers.get(mark)?;
        let mut found: Vec<&arcgis::ItemInfo> =
            ids.iter().filter_map(|id| self.items.get(id)).filter(|i| i.owner == owner || i.owner == self.me).collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found.into_iter().next()
    }

    /// Items carrying a restore marker of `source_id` that this restore cannot prove it made:
    /// the plain `orgvault-source-<id>`, or its own mark on another user's item.
    pub fn unproven_marks(&self, source_id: &str, mark: &str, owner: &str) -> Vec<String> {
        let proven = self.marked(mark, owner).map(|i| i.id.clone());
        let mut out: Vec<String> = self
            .legacy_markers
            .get(source_id)
            .into_iter()
            .flatten()
            .chain(self.markers.get(mark).into_iter().flatten())
            .filter(|id| Some(*id) != proven.as_ref())
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Whether `item` serves the hosted feature service `name` (its URL ends in
/// `/services/<name>/FeatureServer`, case aside).
/// The server kind of a hosted feature service's URL.
pub(crate) const FEATURE_SERVER: &str = "featureserver";

/// Whether `item`'s URL is the service `name` of the server kind `kind` (`featureserver`,
/// `mapserver`, `vectortileserver`, `sceneserver`): `.../services/[Hosted/]<name>/<kind>`.
/// Names are unique per kind: a hosted tile layer made from a feature layer shares its name.
pub(crate) fn serves_as(item: &arcgis::ItemInfo, name: &str, kind: &str) -> bool {
    let u = item.url.as_deref().unwrap_or_default().to_ascii_lowercase();
    let u = u.trim_end_matches('/');
    let name = name.to_ascii_lowercase();
    u.ends_with(&format!("/services/{name}/{kind}")) || u.ends_with(&format!("/services/hosted/{name}/{kind}"))
}

/// The server kind a service URL ends with, lowercase.
pub(crate) fn server_kind(url: &str) -> Option<&'static str> {
    let u = url.to_ascii_lowercase();
    let u = u.trim_end_matches('/');
    ["featureserver", "mapserver", "vectortileserver", "sceneserver", "imageserver"]
        .into_iter()
        .find(|k| u.ends_with(&format!("/{k}")))
}

/// The features hosts of a `portals/<id>/urls` answer (`host[:port]`), for `scheme` first.
pub(crate) fn features_hosts(urls: &Value, scheme: &str) -> Vec<String> {
    let features = urls.get("urls").and_then(|u| u.get("features"));
    let mut out: Vec<String> = Vec::new();
    for s in [scheme, "https", "http"] {
        for h in features.and_then(|f| f.get(s)).and_then(Value::as_array).into_iter().flatten() {
            if let Some(h) = h.as_str().filter(|h| !out.iter().any(|o| o == h)) {
                out.push(h.to_owned());
            }
        }
    }
    out
}

/// The service name of a hosted service URL (`.../services/<name>/FeatureServer`).
pub fn service_name(url: &str) -> Option<String> {
    // ASCII case folding keeps every byte where it was, so offsets found in the folded copy
    // slice the original; full Unicode lowering changes lengths (`İ` grows to 3 bytes).
    let lower = url.to_ascii_lowercase();
    let at = lower.find("/rest/services/")? + "/rest/services/".len();
    let end = lower[at..].find("/featureserver")? + at;
    let name = &url[at..end];
    Some(name.rsplit('/').next().unwrap_or(name).to_owned()).filter(|n| !n.is_empty())
}

/// The service name of a hosted tile, vector tile or scene layer URL
/// (`.../rest/services/[Hosted/]<name>/(MapServer|VectorTileServer|SceneServer)`).
pub fn layer_service_name(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let at = lower.find("/rest/services/")? + "/rest/services/".len();
    let end = ["/vectortileserver", "/sceneserver", "/mapserver"].iter().find_map(|s| lower[at..].find(s))? + at;
    let name = &url[at..end];
    Some(name.rsplit('/').next().unwrap_or(name).to_owned()).filter(|n| !n.is_empty())
}

/// The mode a plan resolved to: what [`RestoreMode::Auto`] became once the target was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Into the snapshot's own organization: existing items are brought back to the snapshot.
    InPlace,
    /// Into the snapshot's own organization, every item created anew beside what exists.
    Copies,
    /// Into another organization.
    Migrate,
}

impl PlanMode {
    /// The mode a restore with `mode` runs in, into the snapshot's organization or another.
    pub fn resolve(mode: RestoreMode, same_org: bool) -> PlanMode {
        match (mode, same_org) {
            (RestoreMode::Copies, _) => PlanMode::Copies,
            (_, true) => PlanMode::InPlace,
            (_, false) => PlanMode::Migrate,
        }
    }

    /// Its serialised name (`in_place`, `copies`, `migrate`).
    pub fn as_str(self) -> &'static str {
        match self {
            PlanMode::InPlace => "in_place",
            PlanMode::Copies => "copies",
            PlanMode::Migrate => "migrate",
        }
    }
}

impl std::fmt::Display for PlanMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Target username of a source user: the owner map, else (across orgs) Online's
/// `<name>_<urlKey>` convention moved to the target's url key, else unchanged.
pub(crate) fn target_username(
    source: &str,
    owners: &BTreeMap<String, String>,
    source_key: Option<&str>,
    target_key: Option<&str>,
) -> String {
    if let Some(t) = owners.get(source) {
        return t.clone();
    }
    if let (Some(sk), Some(tk)) = (source_key, target_key) {
        if sk != tk {
            if let Some(stem) = source.strip_suffix(&format!("_{sk}")) {
                return format!("{stem}_{tk}");
            }
        }
    }
    source.to_owned()
}

/// Resolves one source group against the target: (action, target title, note).
pub(crate) fn resolve_group(
    id: &str,
    title: &str,
    mapped: Option<&GroupTarget>,
    target: &TargetState,
    journal: Option<&JournalEntry>,
    same_org: bool,
) -> (Action, String, Option<String>) {
    if let Some(j) = journal.filter(|j| target.group_ids.contains(&j.target_id)) {
        return if j.done {
            (
                Action::Skip { reason: "restored by an earlier run".into(), target_id: Some(j.target_id.clone()) },
                title.to_owned(),
                None,
            )
        } else {
            (Action::Update { target_id: j.target_id.clone() }, title.to_owned(), None)
        };
    }
    let by_title = |t: &str| target.groups_by_title.get(&t.to_lowercase()).map(|g| g.id.clone());
    match mapped {
        Some(GroupTarget::Existing(x)) => {
            let found = if target.group_ids.contains(x) { Some(x.clone()) } else { by_title(x) };
            match found {
                Some(gid) => (Action::Match { target_id: gid }, title.to_owned(), None),
                None => (
                    Action::Create,
                    title.to_owned(),
                    Some(format!("mapped group {x:?} does not exist in the target; a new group is created")),
                ),
            }
        }
        Some(GroupTarget::CreateNew) => {
            let t = if by_title(title).is_some() { format!("{title} (restored)") } else { title.to_owned() };
            (Action::Create, t, None)
        }
        None => {
            if same_org && target.group_ids.contains(id) {
                return (Action::Match { target_id: id.to_owned() }, title.to_owned(), None);
            }
            match by_title(title) {
                Some(gid) => (Action::Match { target_id: gid }, title.to_owned(), None),
                None => (Action::Create, title.to_owned(), None),
            }
        }
    }
}

/// Lookup helper for journal rows.
pub(crate) fn journal_row<'a>(
    rows: &'a BTreeMap<(EntryKind, String), JournalEntry>,
    kind: EntryKind,
    id: &str,
) -> Option<&'a JournalEntry> {
    rows.get(&(kind, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_service_is_found_by_its_name_and_its_kind_of_server() {
        let item =
            |id: &str, url: &str| arcgis::ItemInfo { id: id.into(), url: Some(url.into()), ..Default::default() };
        let mut t = TargetState::default();
        for i in [
            item("fs", "https://s.example/org/arcgis/rest/services/Roads/FeatureServer"),
            item("vt", "https://s.example/tiles/org/arcgis/rest/services/Roads/VectorTileServer/"),
            item("sc", "https://s.example/org/arcgis/rest/services/Hosted/Town/SceneServer"),
        ] {
            t.items.insert(i.id.clone(), i);
        }
        let found = |name: &str, kind: &str| t.service_item_as(name, kind).map(|i| i.id.as_str());
        assert_eq!(found("Roads", "vectortileserver"), Some("vt"), "a tile layer sharing a feature service's name");
        assert_eq!(found("roads", FEATURE_SERVER), Some("fs"), "names compare without case");
        assert_eq!(found("Town", "sceneserver"), Some("sc"), "a scene layer under Hosted/");
        assert_eq!(found("Town", FEATURE_SERVER), None, "not another kind");
        assert_eq!(server_kind("https://s.example/a/rest/services/X/VectorTileServer/"), Some("vectortileserver"));
    }

    #[test]
    fn a_plan_mode_is_written_as_the_string_it_used_to_be() {
        // The CLI's `restore plan --json` and the app read these words; the enum must not change them.
        for (mode, same_org, word) in [
            (RestoreMode::Auto, true, "in_place"),
            (RestoreMode::InPlace, true, "in_place"),
            (RestoreMode::Copies, true, "copies"),
            (RestoreMode::Copies, false, "copies"),
            (RestoreMode::Auto, false, "migrate"),
            (RestoreMode::InPlace, false, "migrate"),
        ] {
            let resolved = PlanMode::resolve(mode, same_org);
            assert_eq!(
                serde_json::to_value(resolved).expect("json"),
                Value::from(word),
                "{mode:?}, same org {same_org}"
            );
            assert_eq!(resolved.to_string(), word, "the printed plan names the mode as its JSON does");
            assert_eq!(serde_json::from_value::<PlanMode>(Value::from(word)).expect("parse"), resolved);
        }
    }

    #[test]
    fn a_conflict_names_what_it_is_on_as_it_used_to() {
        for (on, word) in
            [(ConflictOn::Title, "title"), (ConflictOn::ServiceName, "service_name"), (ConflictOn::Marker, "marker")]
        {
            assert_eq!(serde_json::to_value(on).expect("json"), Value::from(word), "the plan's JSON keeps its words");
            assert_eq!(on.as_str(), word);
        }
    }

    #[test]
    fn a_dotted_capital_i_before_the_name_does_not_break_slicing() {
        let url = "https://İİİ.example/arcgis/rest/services/Roads/FeatureServer";
        assert_eq!(service_name(url).as_deref(), Some("Roads"), "the name is cut from the original URL");
    }

    proptest! {
        #[test]
        fn any_unicode_url_gives_a_name_or_none_never_a_panic(url in "\\PC*") {
            let _ = service_name(&url);
        }

        #[test]
        fn the_name_of_a_service_url_is_found_whatever_surrounds_it(
            host in "\\PC{0,20}",
            folder in proptest::option::of("[^/]{1,8}"),
            name in "[^/]{1,20}",
            tail in "\\PC{0,10}",
        ) {
            prop_assume!(!name.to_ascii_lowercase().contains("/featureserver"));
            prop_assume!(!host.to_ascii_lowercase().contains("/rest/services/"));
            let folder = folder.map(|f| format!("{f}/")).unwrap_or_default();
            let url = format!("{host}/arcgis/rest/services/{folder}{name}/FeatureServer{tail}");
            prop_assert_eq!(service_name(&url), Some(name));
        }
    }

    #[test]
    fn usernames_follow_the_map_then_the_url_key_convention() {
        let mut owners = BTreeMap::new();
        owners.insert("ann_acme".to_string(), "ann.smith_beta".to_string());
        assert_eq!(target_username("ann_acme", &owners, Some("acme"), Some("beta")), "ann.smith_beta", "the map wins");
        assert_eq!(target_username("bob_acme", &owners, Some("acme"), Some("beta")), "bob_beta", "the url key moves");
        assert_eq!(target_username("carol", &owners, Some("acme"), Some("beta")), "carol", "other names stay");
        assert_eq!(target_username("bob_acme", &owners, Some("acme"), Some("acme")), "bob_acme", "same org: unchanged");
    }

    #[test]
    fn service_names_and_hosts_are_read_from_urls() {
        assert_eq!(service_name("http://h/org/arcgis/rest/services/Parks_2/FeatureServer").as_deref(), Some("Parks_2"));
        assert_eq!(service_name("http://h/org/arcgis/rest/services/Parks/FeatureServer/0").as_deref(), Some("Parks"));
        assert_eq!(service_name("https://example.com/x"), None, "not a hosted feature service");
        let urls = json!({"urls": {"features": {"http": ["a:1"], "https": ["b"]}}});
        assert_eq!(
            features_hosts(&urls, "http"),
            vec!["a:1".to_string(), "b".to_string()],
            "the portal's scheme first"
        );
    }

    #[test]
    fn groups_match_by_title_or_map_and_create_new_renames() {
        let mut t = TargetState::default();
        let g = arcgis::GroupInfo { id: "g9".into(), title: "Field Crews".into(), ..Default::default() };
        t.group_ids.insert("g9".into());
        t.groups_by_title.insert("field crews".into(), g);
        let (a, _, _) = resolve_group("g1", "field crews", None, &t, None, false);
        assert_eq!(a, Action::Match { target_id: "g9".into() }, "a same-title group is matched");
        let (a, title, _) = resolve_group("g1", "Field Crews", Some(&GroupTarget::CreateNew), &t, None, false);
        assert_eq!((a, title.as_str()), (Action::Create, "Field Crews (restored)"), "new is created beside it");
        let (a, _, note) = resolve_group("g1", "X", Some(&GroupTarget::Existing("nope".into())), &t, None, false);
        assert!(a == Action::Create && note.is_some(), "a mapping to a missing group creates one and says so");
    }
}
