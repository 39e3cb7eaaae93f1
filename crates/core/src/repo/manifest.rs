//! The manifest: everything one snapshot holds, with blob references for the bytes.
//!
//! Field names are the stored JSON format (see docs/backup-format.md); adding an optional field
//! is compatible, renaming or removing one is a new [`MANIFEST_VERSION`].

use serde::{Deserialize, Serialize};

use super::blob::BlobRef;
use crate::jobs::SubjectKind;

/// The manifest format this version writes; readers refuse newer ones.
pub const MANIFEST_VERSION: u32 = 1;

/// One snapshot's content. `time_ms` is the backup's start (epoch ms), used by retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub name: String,
    pub identity_id: String,
    pub org_id: String,
    pub portal_url: String,
    pub time_ms: i64,
    pub tool_version: String,
    /// The selection the backup ran with, as the job recorded it.
    pub selection: serde_json::Value,
    pub org: OrgRecord,
    pub items: Vec<ItemEntry>,
    pub users: Vec<UserEntry>,
    pub groups: Vec<GroupEntry>,
    /// Subjects the backup could not save, with the reason; they have no entry above.
    #[serde(default)]
    pub failed: Vec<FailedEntry>,
}

/// The organization itself, kept for remapping URLs on restore.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrgRecord {
    /// `portals/self` JSON.
    pub portal_self: Option<BlobRef>,
    /// `portals/<id>/urls` JSON (hosting servers).
    pub urls: Option<BlobRef>,
}

/// A named file: its real file name (as the portal gave it) and content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub blob: BlobRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderRef {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// `/data` answered JSON (web maps, apps, ...).
    Json,
    /// `/data` is a file (PDF, CSV, shapefile zip, ...); `file_name` is its real name.
    File,
}

/// An item's `/data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataEntry {
    pub kind: DataKind,
    pub file_name: Option<String>,
    pub blob: BlobRef,
}

/// An item resource (`/resources/<path>`); `path` may contain `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceEntry {
    pub path: String,
    pub blob: BlobRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelDirection {
    Forward,
    Reverse,
}

/// A related-item link (`relatedItems`), in either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relationship {
    pub rel_type: String,
    pub direction: RelDirection,
    pub item_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sharing {
    /// `private`, `org`, `shared` or `public`.
    pub access: String,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportMethod {
    /// A File Geodatabase export job.
    Fgdb,
    /// `createReplica` with attachments, after the export failed or timed out.
    Replica,
    /// The export failed and the service cannot replicate (no Sync capability): every layer's
    /// and table's features copied by paged `query` into one JSON document (`export`), every
    /// attachment downloaded into its own blob (`attachments`).
    Query,
    /// Only the service and layer JSON were kept.
    None,
}

/// One feature attachment saved by the [`ExportMethod::Query`] fallback. The triple
/// (`layer_id`, `object_id`, `attachment_id`) is unique within a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentEntry {
    /// The layer or table id within the service.
    pub layer_id: i64,
    /// The object id of the feature (row) the attachment belongs to.
    pub object_id: i64,
    pub attachment_id: i64,
    /// The attachment's file name as the service gave it.
    pub name: String,
    pub content_type: Option<String>,
    pub blob: BlobRef,
}

/// A hosted feature (or backing) service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceEntry {
    pub url: String,
    pub service_json: BlobRef,
    pub layers_json: Option<BlobRef>,
    pub export: Option<FileEntry>,
    pub export_method: ExportMethod,
    /// `editingInfo.lastEditDate` at backup time, for incremental backups.
    pub last_edit_date: Option<i64>,
    pub service_definition: Option<BlobRef>,
    /// Attachments saved apart from `export`; only the query fallback fills it (an export or a
    /// replica holds its attachments inside the file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentEntry>,
}

/// One backed-up item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemEntry {
    pub id: String,
    pub title: String,
    pub item_type: String,
    pub owner: String,
    pub folder: Option<FolderRef>,
    pub modified: i64,
    pub size: i64,
    /// The item's JSON (`content/items/<id>`).
    pub item_json: BlobRef,
    pub data: Option<DataEntry>,
    #[serde(default)]
    pub resources: Vec<ResourceEntry>,
    pub thumbnail: Option<FileEntry>,
    /// `info/metadata/metadata.xml`.
    pub metadata: Option<BlobRef>,
    #[serde(default)]
    pub related: Vec<Relationship>,
    #[serde(default)]
    pub sharing: Sharing,
    pub service: Option<ServiceEntry>,
    /// Fallbacks taken and other notes for the user ("export failed: ...; used createReplica").
    #[serde(default)]
    pub notes: Vec<String>,
    /// Why the item is in the snapshot although the selection did not name it, e.g.
    /// `"backing service of <scene item id>"`; `None` for a selected item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_as: Option<String>,
    /// The item's service URL was deliberately not read (a host outside the organization that
    /// was not allowed); the item is saved without `service`. Not a failure of the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_not_fetched: Option<NotFetched>,
}

/// A service URL the backup did not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotFetched {
    /// The URL's origin (scheme, host, port); the path and query stay in the item JSON.
    pub origin: String,
    pub reason: String,
}

/// One user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEntry {
    pub username: String,
    pub full_name: String,
    pub role: String,
    pub role_id: Option<String>,
    pub license_type: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub folders: Vec<FolderRef>,
    /// The user's profile JSON.
    pub profile: BlobRef,
    pub thumbnail: Option<FileEntry>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupEntry {
    pub id: String,
    pub title: String,
    pub owner: String,
    #[serde(default)]
    pub admins: Vec<String>,
    #[serde(default)]
    pub members: Vec<String>,
    /// The group's JSON (settings).
    pub settings: BlobRef,
    pub thumbnail: Option<FileEntry>,
    /// Ids of the items shared with the group.
    #[serde(default)]
    pub content: Vec<String>,
}

/// A subject the backup could not save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedEntry {
    pub kind: SubjectKind,
    pub id: String,
    pub title: String,
    pub reason: String,
}

/// Who a blob belongs to, for reports: an item, user, group or the organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    pub kind: OwnerKind,
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerKind {
    Item,
    User,
    Group,
    Org,
}

/// One use of a blob in a manifest: whose it is and which part ("data", "resources/a.png").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobUse<'a> {
    pub owner: Owner,
    pub part: String,
    pub blob: &'a BlobRef,
}

/// Where a blob reference sits in a manifest; its part name is built only when asked for.
#[derive(Clone, Copy)]
enum Site<'a> {
    Org(&'static str),
    Item(&'a ItemEntry, Part<'a>),
    User(&'a UserEntry, &'static str),
    Group(&'a GroupEntry, &'static str),
}

#[derive(Clone, Copy)]
enum Part<'a> {
    Fixed(&'static str),
    Resource(&'a str),
    Attachment(&'a AttachmentEntry),
}

impl Site<'_> {
    fn part(&self) -> String {
        match self {
            Site::Org(p) | Site::User(_, p) | Site::Group(_, p) | Site::Item(_, Part::Fixed(p)) => (*p).to_owned(),
            Site::Item(_, Part::Resource(path)) => format!("resources/{path}"),
            Site::Item(_, Part::Attachment(a)) => attachment_part(a),
        }
    }
}

/// The part name of an attachment in reports: `attachments/<layer>/<object id>/<attachment id>`.
pub fn attachment_part(a: &AttachmentEntry) -> String {
    format!("attachments/{}/{}/{}", a.layer_id, a.object_id, a.attachment_id)
}

impl Manifest {
    /// A new, empty manifest of this format version.
    pub fn new(
        name: impl Into<String>,
        identity_id: impl Into<String>,
        org_id: impl Into<String>,
        portal_url: impl Into<String>,
        time_ms: i64,
    ) -> Self {
        Manifest {
            version: MANIFEST_VERSION,
            name: name.into(),
            identity_id: identity_id.into(),
            org_id: org_id.into(),
            portal_url: portal_url.into(),
            time_ms,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            selection: serde_json::Value::Null,
            org: OrgRecord::default(),
            items: Vec::new(),
            users: Vec::new(),
            groups: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Every blob reference in the manifest with its owner and part. The single source of truth
    /// for what a snapshot references: verify, prune and the zip export all walk this (through
    /// [`Manifest::blob_refs`] where owners are not needed).
    pub fn blob_uses(&self) -> Vec<BlobUse<'_>> {
        let mut out = Vec::new();
        let org = Owner { kind: OwnerKind::Org, id: self.org_id.clone(), title: "organization".into() };
        let mut current: Option<(OwnerKind, &str, Owner)> = None;
        self.walk(&mut |site, blob| {
            let (kind, id, title) = match site {
                Site::Org(_) => {
                    out.push(BlobUse { owner: org.clone(), part: site.part(), blob });
                    return;
                }
                Site::Item(it, _) => (OwnerKind::Item, it.id.as_str(), it.title.as_str()),
                Site::User(u, _) => (OwnerKind::User, u.username.as_str(), u.full_name.as_str()),
                Site::Group(g, _) => (OwnerKind::Group, g.id.as_str(), g.title.as_str()),
            };
            let same = current.as_ref().is_some_and(|(k, i, _)| *k == kind && *i == id);
            if !same {
                current = Some((kind, id, Owner { kind, id: id.to_owned(), title: title.to_owned() }));
            }
            let owner = current.as_ref().map(|(_, _, o)| o.clone()).expect("set just above");
            out.push(BlobUse { owner, part: site.part(), blob });
        });
        out
    }

    /// Every blob reference in the manifest, in [`Manifest::blob_uses`] order, without owners
    /// and part names: the cheap walk for sets of ids (a 12,000-item manifest has ~40,000).
    pub fn blob_refs(&self) -> Vec<&BlobRef> {
        let mut out = Vec::new();
        self.walk(&mut |_, blob| out.push(blob));
        out
    }

    /// Replaces every blob reference by `f`'s answer, in [`Manifest::blob_refs`] order: a copy
    /// into a repository whose blob ids differ (another id key) rewrites its references so.
    /// Must visit exactly what `walk` visits (a test checks the two agree).
    pub fn map_blob_refs(&mut self, f: &mut dyn FnMut(&BlobRef) -> BlobRef) {
        let mut set = |b: &mut BlobRef| *b = f(b);
        self.org.portal_self.iter_mut().chain(self.org.urls.iter_mut()).for_each(&mut set);
        for it in &mut self.items {
            set(&mut it.item_json);
            it.data.iter_mut().for_each(|d| set(&mut d.blob));
            it.resources.iter_mut().for_each(|r| set(&mut r.blob));
            it.thumbnail.iter_mut().for_each(|t| set(&mut t.blob));
            it.metadata.iter_mut().for_each(&mut set);
            if let Some(s) = &mut it.service {
                set(&mut s.service_json);
                s.layers_json.iter_mut().for_each(&mut set);
                s.export.iter_mut().for_each(|e| set(&mut e.blob));
                s.service_definition.iter_mut().for_each(&mut set);
                s.attachments.iter_mut().for_each(|a| set(&mut a.blob));
            }
        }
        for u in &mut self.users {
            set(&mut u.profile);
            u.thumbnail.iter_mut().for_each(|t| set(&mut t.blob));
        }
        for g in &mut self.groups {
            set(&mut g.settings);
            g.thumbnail.iter_mut().for_each(|t| set(&mut t.blob));
        }
    }

    /// Calls `f` for every blob reference with where it sits.
    fn walk<'a>(&'a self, f: &mut dyn FnMut(Site<'a>, &'a BlobRef)) {
        if let Some(b) = &self.org.portal_self {
            f(Site::Org("portal_self"), b);
        }
        if let Some(b) = &self.org.urls {
            f(Site::Org("urls"), b);
        }
        for it in &self.items {
            let fixed = |name| Site::Item(it, Part::Fixed(name));
            f(fixed("item.json"), &it.item_json);
            if let Some(d) = &it.data {
                f(fixed("data"), &d.blob);
            }
            for r in &it.resources {
                f(Site::Item(it, Part::Resource(&r.path)), &r.blob);
            }
            if let Some(t) = &it.thumbnail {
                f(fixed("thumbnail"), &t.blob);
            }
            if let Some(m) = &it.metadata {
                f(fixed("metadata.xml"), m);
            }
            if let Some(s) = &it.service {
                f(fixed("service.json"), &s.service_json);
                if let Some(l) = &s.layers_json {
                    f(fixed("layers.json"), l);
                }
                if let Some(e) = &s.export {
                    f(fixed("export"), &e.blob);
                }
                if let Some(d) = &s.service_definition {
                    f(fixed("service_definition"), d);
                }
                for a in &s.attachments {
                    f(Site::Item(it, Part::Attachment(a)), &a.blob);
                }
            }
        }
        for u in &self.users {
            f(Site::User(u, "user.json"), &u.profile);
            if let Some(t) = &u.thumbnail {
                f(Site::User(u, "thumbnail"), &t.blob);
            }
        }
        for g in &self.groups {
            f(Site::Group(g, "group.json"), &g.settings);
            if let Some(t) = &g.thumbnail {
                f(Site::Group(g, "thumbnail"), &t.blob);
            }
        }
    }

    /// Parses a stored manifest's JSON text and validates it; the error names the first problem
    /// (`manifest: missing field ...`, `manifest items[3].id: empty`).
    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_slice(text).map_err(|e| format!("manifest: {e}"))?;
        manifest.validate().map_err(|e| format!("manifest {e}"))?;
        Ok(manifest)
    }

    /// Checks what a reader relies on beyond the JSON shape: a known version, unique item ids.
    pub fn validate(&self) -> Result<(), String> {
        if self.version == 0 || self.version > MANIFEST_VERSION {
            return Err(format!(
                "version: {} is not supported (this OrgVault reads up to {MANIFEST_VERSION})",
                self.version
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, it) in self.items.iter().enumerate() {
            if it.id.trim().is_empty() {
                return Err(format!("items[{i}].id: empty"));
            }
            if !seen.insert(&it.id) {
                return Err(format!("items[{i}].id: {} appears twice", it.id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::BlobId;

    fn blob(n: u8) -> BlobRef {
        BlobRef { id: BlobId::of(&[n]), size: u64::from(n) }
    }

    #[test]
    fn blob_refs_walk_exactly_the_uses() {
        let mut m = Manifest::new("n", "ident", "org", "https://example.com/portal", 1);
        m.org.portal_self = Some(blob(1));
        let service = ServiceEntry {
            url: "https://example.com/FeatureServer".into(),
            service_json: blob(5),
            layers_json: Some(blob(6)),
            export: Some(FileEntry { name: "x.json".into(), blob: blob(7) }),
            export_method: ExportMethod::Query,
            last_edit_date: None,
            service_definition: None,
            attachments: vec![AttachmentEntry {
                layer_id: 0,
                object_id: 3,
                attachment_id: 9,
                name: "a.png".into(),
                content_type: None,
                blob: blob(8),
            }],
        };
        m.items.push(ItemEntry {
            id: "i1".into(),
            title: "Item one".into(),
            item_type: "Feature Service".into(),
            owner: "ann".into(),
            folder: None,
            modified: 1,
            size: 1,
            item_json: blob(2),
            data: None,
            resources: vec![ResourceEntry { path: "dir/r.txt".into(), blob: blob(3) }],
            thumbnail: None,
            metadata: Some(blob(4)),
            related: Vec::new(),
            sharing: Sharing::default(),
            service: Some(service),
            notes: Vec::new(),
            included_as: None,
            service_not_fetched: None,
        });
        m.users.push(UserEntry {
            username: "ann".into(),
            full_name: "Ann".into(),
            role: "org_admin".into(),
            role_id: None,
            license_type: None,
            groups: Vec::new(),
            folders: Vec::new(),
            profile: blob(9),
            thumbnail: None,
        });
        let uses = m.blob_uses();
        let parts: Vec<String> = uses.iter().map(|u| format!("{} {}", u.owner.id, u.part)).collect();
        assert_eq!(
            parts,
            [
                "org portal_self",
                "i1 item.json",
                "i1 resources/dir/r.txt",
                "i1 metadata.xml",
                "i1 service.json",
                "i1 layers.json",
                "i1 export",
                "i1 attachments/0/3/9",
                "ann user.json"
            ],
            "every reference is named by its owner and part"
        );
        assert_eq!(uses[1].owner.title, "Item one", "an item's uses carry its title");
        let refs: Vec<&BlobRef> = m.blob_refs();
        let from_uses: Vec<&BlobRef> = uses.iter().map(|u| u.blob).collect();
        assert_eq!(refs, from_uses, "blob_refs walks the same references as blob_uses, in the same order");

        let before: Vec<BlobRef> = m.blob_refs().into_iter().cloned().collect();
        let mut seen = Vec::new();
        let mut mapped = m.clone();
        mapped.map_blob_refs(&mut |b| {
            seen.push(b.clone());
            BlobRef { id: BlobId::of(b.id.as_str().as_bytes()), size: b.size + 1 }
        });
        assert_eq!(seen, before, "map_blob_refs visits exactly what blob_refs walks, in the same order");
        let after: Vec<BlobRef> = mapped.blob_refs().into_iter().cloned().collect();
        let want: Vec<BlobRef> =
            before.iter().map(|b| BlobRef { id: BlobId::of(b.id.as_str().as_bytes()), size: b.size + 1 }).collect();
        assert_eq!(after, want, "every reference is replaced by the mapping's answer");
    }
}
