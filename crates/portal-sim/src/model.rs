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
    /// Thumbnail file name under `/info/`, e.g. `thumbnail/ago_downloaded.png`.
    pub thumbnail: Option<String>,
    pub thumbnail_len: u64,
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
}

#[derive(Debug, Clone)]
pub enum ItemData {
    None,
    Json(Value),
    /// A file whose bytes `generate::file_bytes(seed, item_id/name, len)` produces on demand.
    Generated { file_name: String, len: u64, content_type: String },
    /// Bytes uploaded by a client (restore).
    Bytes { file_name: String, bytes: bytes::Bytes, content_type: String },
}

#[derive(Debug, Clone)]
pub struct Resource {
    /// Path under the item's resources, may contain `/`.
    pub path: String,
    pub len: u64,
    pub created: i64,
    /// Uploaded content; `None` means generated from (seed, item id, path, len).
    pub bytes: Option<bytes::Bytes>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relationship {
    pub origin: String,
    pub destination: String,
    /// Map2Service, Service2Data, Survey2Service, ...
    pub kind: String,
}

#[derive(Debug, Clone)]
pub struct FeatureService {
    pub name: String,
    pub item_id: String,
    pub layers: Vec<Layer>,
    pub tables: Vec<Layer>,
    /// Relationship classes between layers/tables.
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

#[derive(Debug, Clone)]
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
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    /// esriFieldTypeOID | esriFieldTypeString | esriFieldTypeInteger | esriFieldTypeDouble | esriFieldTypeDate | esriFieldTypeGlobalID | esriFieldTypeGUID
    pub field_type: String,
    pub alias: String,
    pub length: Option<i64>,
    pub nullable: bool,
}

#[derive(Debug, Clone)]
pub struct Feature {
    pub object_id: i64,
    /// Attribute values by field name.
    pub attributes: serde_json::Map<String, Value>,
    pub geometry: Option<Value>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: i64,
    pub name: String,
    pub content_type: String,
    pub bytes: bytes::Bytes,
}
