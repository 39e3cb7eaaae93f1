//! The simulated organizations' state. One `Universe` holds every organization on the server;
//! handlers lock it briefly and never across an `.await`.
//!
//! Invariants:
//! - ids are 32 lowercase hex characters, as on ArcGIS Online; usernames are unique per universe.
//! - times are epoch milliseconds.
//! - file bytes are not stored: `ItemData::Generated` describes them and `generate::file_bytes`
//!   produces the same bytes for the same (seed, id, len) every time, so a 12,000-item org with
//!   gigabytes of files costs little memory.
//! - writes (restore issue) change this model through methods, so that reads see them at once.

use std::collections::BTreeMap;

use serde_json::Value;

/// Every organization on the server, plus what the server tracks across them.
#[derive(Debug, Default)]
pub struct Universe {
    pub orgs: Vec<Org>,
    /// How long a client's write takes to reach search (`index`).
    pub search_lag: std::time::Duration,
}

impl Universe {
    pub fn org_by_url_key(&self, url_key: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.url_key == url_key)
    }
    pub fn org_by_url_key_mut(&mut self, url_key: &str) -> Option<&mut Org> {
        self.orgs.iter_mut().find(|o| o.url_key == url_key)
    }
    pub fn org_by_id(&self, id: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.id == id)
    }
    pub fn org_by_id_mut(&mut self, id: &str) -> Option<&mut Org> {
        self.orgs.iter_mut().find(|o| o.id == id)
    }
}

#[derive(Debug, Clone)]
pub struct Org {
    /// 16 alphanumeric characters, as Online's org ids.
    pub id: String,
    pub url_key: String,
    pub name: String,
    pub created: i64,
    /// Longest token lifetime the org allows, in minutes (generateToken caps `expiration` here).
    pub max_token_expiration_minutes: i64,
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    pub items: BTreeMap<String, Item>,
    /// Folders by id.
    pub folders: BTreeMap<String, Folder>,
    /// Hosted feature services by service name (the `<name>` in `.../services/<name>/FeatureServer`).
    pub services: BTreeMap<String, FeatureService>,
    pub relationships: Vec<Relationship>,
    /// Registered OAuth2 applications (App IDs) of this org.
    pub oauth_apps: Vec<OAuthApp>,
    /// Recent writes search does not show yet (`index`).
    pub index_lag: crate::index::IndexLag,
}

#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub client_id: String,
    /// Accepted redirect URIs; a loopback `http://127.0.0.1` entry accepts any port (RFC 8252 7.3).
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    OrgAdmin,
    Publisher,
    User,
    Viewer,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::OrgAdmin => "org_admin",
            Role::Publisher => "org_publisher",
            Role::User => "org_user",
            Role::Viewer => "org_user",
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub username: String,
    /// Not a secret in the sim: the generator derives it from the seed and prints it once.
    pub password: String,
    pub full_name: String,
    pub email: String,
    pub role: Role,
    /// A custom role has an id; a full administrator has none.
    pub role_id: Option<String>,
    pub privileges: Vec<String>,
    pub user_license_type_id: String,
    pub provider: String,
    pub idp_username: Option<String>,
    pub disabled: bool,
    pub created: i64,
    pub modified: i64,
    pub last_login: i64,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub admins: Vec<String>,
    /// Plain members (not owner, not admins).
    pub users: Vec<String>,
    pub access: String,
    pub tags: Vec<String>,
    pub description: String,
    pub snippet: String,
    pub is_invitation_only: bool,
    pub is_view_only: bool,
    pub sort_field: String,
    pub sort_order: String,
    pub capabilities: Vec<String>,
    pub auto_join: bool,
    pub thumbnail: Option<String>,
    /// An uploaded thumbnail (createGroup); `None` serves the generated PNG.
    pub thumbnail_bytes: Option<bytes::Bytes>,
    pub created: i64,
    pub modified: i64,
}

#[derive(Debug, Clone)]
pub struct Folder {
    pub id: String,
    pub title: String,
    pub username: String,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub owner: String,
    /// Folder id, `None` for the user's root folder.
    pub owner_folder: Option<String>,
    pub title: String,
    pub item_type: String,
    pub type_keywords: Vec<String>,
    pub tags: Vec<String>,
    pub snippet: String,
    pub description: String,
    pub url: Option<String>,
    /// private | shared | org | public
    pub access: String,
    /// Group ids the item is shared with.
    pub shared_groups: Vec<String>,
    pub created: i64,
    pub modified: i64,
    /// Thumbnail file name under `/info/`, e.g. `thumbnail/ago_downloaded.png`; its bytes are
    /// `generate::thumbnail_png(seed, item_id)`.
    pub thumbnail: Option<String>,
    pub thumbnail_len: u64,
    /// `Some` when the item has `metadata/metadata.xml`: `generate::metadata_xml(seed, item_id)`.
    pub metadata_len: Option<u64>,
    pub properties: Option<Value>,
    pub extent: Value,
    pub spatial_reference: Option<String>,
    pub access_information: Option<String>,
    pub license_info: Option<String>,
    pub categories: Vec<String>,
    pub protected: bool,
    pub content_origin: String,
    pub data: ItemData,
    pub resources: Vec<Resource>,
    /// Name of the hosted service in `Org::services` when this item is a hosted feature service or view.
    pub service_name: Option<String>,
    /// What clients uploaded besides the data (restore); generated items have none.
    pub uploads: ItemUploads,
}

/// Files a client uploaded for an item. When set they are served instead of the generated
/// thumbnail and metadata, so a restored item reads back exactly what was sent.
#[derive(Debug, Clone, Default)]
pub struct ItemUploads {
    /// The bytes of `Item::thumbnail`.
    pub thumbnail: Option<bytes::Bytes>,
    /// `info/metadata/metadata.xml`.
    pub metadata: Option<bytes::Bytes>,
    /// Other files stored under `info/` by `updateinfo`, by file name.
    pub info_files: BTreeMap<String, bytes::Bytes>,
    /// An unfinished multipart upload: `Some` from `addItem multipart=true` until `commit`; while
    /// it is, the item reports `status: "partial"` and has no `/data`.
    pub multipart: Option<MultipartUpload>,
    /// Set by `commit`: the item is "processing" (its `/data` and `publish` refused, its
    /// `status` answering `processing`) until this instant, as ArcGIS commits asynchronously.
    pub processing_until: Option<std::time::Instant>,
    /// The item names a thumbnail whose file is gone (`Control::lose_thumbnail_file`): reading it
    /// answers HTTP 400, as real portals do for such items.
    pub thumbnail_file_missing: bool,
}

impl ItemUploads {
    /// Whether a committed upload is still being processed.
    pub fn processing(&self) -> bool {
        self.processing_until.is_some_and(|t| std::time::Instant::now() < t)
    }
}

/// The parts of a multipart upload received so far.
#[derive(Debug, Clone, Default)]
pub struct MultipartUpload {
    pub file_name: String,
    /// Parts by `partNum` (1..=10000); the committed data is their concatenation in that order.
    pub parts: BTreeMap<u32, bytes::Bytes>,
}

#[derive(Debug, Clone)]
pub enum ItemData {
    None,
    Json(Value),
    /// A file whose bytes `generate::file_bytes(seed, generate::item_file_key(item_id, file_name), len)`
    /// produces on demand (`seed` is `SimConfig::seed`).
    Generated {
        file_name: String,
        len: u64,
        content_type: String,
    },
    /// Bytes uploaded by a client (restore).
    Bytes {
        file_name: String,
        bytes: bytes::Bytes,
        content_type: String,
    },
}

#[derive(Debug, Clone)]
pub struct Resource {
    /// Path under the item's resources, may contain `/`.
    pub path: String,
    pub len: u64,
    pub created: i64,
    /// Uploaded content; `None` means generated: `generate::file_vec(seed, generate::resource_key(item_id, path), len)`.
    pub bytes: Option<bytes::Bytes>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relationship {
    pub origin: String,
    pub destination: String,
    /// Map2Service, Service2Data, Survey2Service, ...
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureService {
    pub name: String,
    pub item_id: String,
    pub layers: Vec<Layer>,
    pub tables: Vec<Layer>,
    /// Relationship classes between layers/tables, each `{id, name, originLayerId, destinationLayerId,
    /// originPrimaryKey, destinationForeignKey, cardinality, composite}` (see `generate`).
    pub relationships: Vec<Value>,
    /// For a view: the source service's name.
    pub view_of: Option<String>,
    pub capabilities: String,
    pub sync_enabled: bool,
    pub change_tracking: bool,
    /// Export jobs for this service fail (so that the replica fallback gets exercised).
    pub export_fails: bool,
    pub spatial_reference_wkid: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub id: i64,
    pub name: String,
    /// esriGeometryPoint | esriGeometryPolyline | esriGeometryPolygon | "" for a table.
    pub geometry_type: String,
    pub fields: Vec<Field>,
    pub features: Vec<Feature>,
    pub has_attachments: bool,
    pub last_edit_date: i64,
    pub next_object_id: i64,
    /// `supportsApplyEditsWithGlobalIds`: whether `applyEdits` keeps sent GlobalIDs when asked
    /// (`useGlobalIds=true`) or refuses the flag.
    pub keeps_global_ids: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    /// esriFieldTypeOID | esriFieldTypeString | esriFieldTypeInteger | esriFieldTypeDouble | esriFieldTypeDate | esriFieldTypeGlobalID | esriFieldTypeGUID
    pub field_type: String,
    pub alias: String,
    pub length: Option<i64>,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub object_id: i64,
    /// Attribute values by field name.
    pub attributes: serde_json::Map<String, Value>,
    pub geometry: Option<Value>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub id: i64,
    pub name: String,
    pub content_type: String,
    pub bytes: bytes::Bytes,
}

/// Epoch of the generated world: 2019-01-01T00:00:00Z in epoch ms. Generated times are offsets from
/// it, never the clock, so that one seed always yields the same org.
pub const EPOCH_MS: i64 = 1_546_300_800_000;

/// Who is asking, resolved against the model: what an item or group read may show.
///
/// Built from the authenticated caller (or none), looking the user up in the universe rather than
/// trusting the token's claims, so that a role change in the model takes effect at once.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    /// `None` for an anonymous caller.
    pub username: Option<String>,
    pub org_id: Option<String>,
    /// An administrator allowed to see every item and group of `org_id`.
    pub org_admin: bool,
    /// Ids of the groups the caller owns, administers or belongs to.
    pub groups: Vec<String>,
}

/// Privilege that lets an administrator see every item of the org (custom admin roles may lack it).
pub const PRIV_VIEW_ITEMS: &str = "portal:admin:viewItems";
/// Privilege that lets an administrator list the org's users.
pub const PRIV_VIEW_USERS: &str = "portal:admin:viewUsers";

impl Audience {
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The audience of `username` in the org `org_id`; anonymous if the user does not exist.
    pub fn of(universe: &Universe, org_id: &str, username: &str) -> Self {
        let Some(org) = universe.org_by_id(org_id) else { return Self::anonymous() };
        let Some(user) = org.users.get(username) else { return Self::anonymous() };
        Self {
            username: Some(user.username.clone()),
            org_id: Some(org.id.clone()),
            org_admin: user.is_admin_with(PRIV_VIEW_ITEMS),
            groups: org.groups_of(username).map(|g| g.id.clone()).collect(),
        }
    }

    pub fn is_member_of_org(&self, org_id: &str) -> bool {
        self.org_id.as_deref() == Some(org_id)
    }

    /// Online's item visibility: the org's admins see everything of their org; members see their own
    /// items, the org's `org` items, items shared to their groups; everyone sees `public` items.
    pub fn can_see_item(&self, org: &Org, item: &Item) -> bool {
        if item.access == "public" {
            return true;
        }
        if !self.is_member_of_org(&org.id) {
            return false;
        }
        if self.org_admin || self.username.as_deref() == Some(item.owner.as_str()) {
            return true;
        }
        item.access == "org" || item.shared_groups.iter().any(|g| self.groups.contains(g))
    }

    /// Group visibility: public groups to all, org groups to the org, private groups to members.
    pub fn can_see_group(&self, org: &Org, group: &Group) -> bool {
        if group.access == "public" {
            return true;
        }
        if !self.is_member_of_org(&org.id) {
            return false;
        }
        self.org_admin || group.access == "org" || self.groups.contains(&group.id)
    }

    /// May list and read `owner`'s content as the owner would (owner or org admin).
    pub fn can_manage_content_of(&self, org: &Org, owner: &str) -> bool {
        self.is_member_of_org(&org.id) && (self.org_admin || self.username.as_deref() == Some(owner))
    }
}

impl User {
    /// An administrator (full or custom role) holding `privilege`.
    pub fn is_admin_with(&self, privilege: &str) -> bool {
        self.role == Role::OrgAdmin && self.privileges.iter().any(|p| p == privilege)
    }

    /// A full administrator: `org_admin` without a custom role id.
    pub fn is_full_admin(&self) -> bool {
        self.role == Role::OrgAdmin && self.role_id.is_none()
    }
}

impl Group {
    /// `owner`, `admin`, `member` or `none`, as Online's `memberType`.
    pub fn member_type(&self, username: &str) -> &'static str {
        if self.owner == username {
            "owner"
        } else if self.admins.iter().any(|u| u == username) {
            "admin"
        } else if self.users.iter().any(|u| u == username) {
            "member"
        } else {
            "none"
        }
    }

    /// Owner, admins and plain members, owner first, each once.
    pub fn all_members(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.owner)
            .chain(self.admins.iter().filter(move |u| **u != self.owner))
            .chain(self.users.iter())
    }
}

impl Org {
    /// Groups `username` owns, administers or belongs to, in id order.
    pub fn groups_of<'a>(&'a self, username: &'a str) -> impl Iterator<Item = &'a Group> + 'a {
        self.groups.values().filter(move |g| g.member_type(username) != "none")
    }

    /// Items shared with `group_id`, in id order (derived from `Item::shared_groups`, so a group's
    /// content can never disagree with its items' sharing).
    pub fn items_in_group<'a>(&'a self, group_id: &'a str) -> impl Iterator<Item = &'a Item> + 'a {
        self.items.values().filter(move |i| i.shared_groups.iter().any(|g| g == group_id))
    }

    /// Removes an item with its relationships, and its hosted service when it is a service item.
    pub fn remove_item(&mut self, id: &str) -> Option<Item> {
        let item = self.items.remove(id)?;
        self.relationships.retain(|r| r.origin != id && r.destination != id);
        if let Some(name) = &item.service_name {
            if self.services.get(name).is_some_and(|s| s.item_id == id) {
                self.services.remove(name);
            }
        }
        Some(item)
    }
}

impl Universe {
    /// Whether `username` exists in any org: usernames are unique across the universe, compared
    /// case-insensitively as Online does.
    pub fn has_user(&self, username: &str) -> bool {
        self.orgs.iter().any(|o| o.users.keys().any(|u| u.eq_ignore_ascii_case(username)))
    }

    /// The org holding item `id`, searched across every org.
    pub fn org_of_item(&self, id: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.items.contains_key(id))
    }
    pub fn org_of_item_mut(&mut self, id: &str) -> Option<&mut Org> {
        self.orgs.iter_mut().find(|o| o.items.contains_key(id))
    }
}

impl ItemData {
    /// The number of bytes `/data` serves: what the item reports as `size`.
    pub fn len(&self) -> u64 {
        match self {
            ItemData::None => 0,
            ItemData::Json(v) => serde_json::to_vec(v).map(|b| b.len() as u64).unwrap_or(0),
            ItemData::Generated { len, .. } => *len,
            ItemData::Bytes { bytes, .. } => bytes.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file name a download names in `Content-Disposition`, for file items.
    pub fn file_name(&self) -> Option<&str> {
        match self {
            ItemData::Generated { file_name, .. } | ItemData::Bytes { file_name, .. } => Some(file_name),
            _ => None,
        }
    }
}
