//! What the portal answers, as typed structs.
//!
//! Real servers omit fields freely, so everything is `#[serde(default)]`. Structs a backup must
//! keep whole (items, users, groups, the org) carry every unknown field in `extra`, so
//! serializing them again yields the JSON the portal sent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The organization and the signed-in user, from `GET /portals/self`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PortalSelf {
    pub id: String,
    pub url_key: Option<String>,
    pub name: Option<String>,
    pub custom_base_url: Option<String>,
    pub is_portal: bool,
    pub portal_mode: Option<String>,
    pub current_version: Option<String>,
    pub supports_o_auth: bool,
    pub max_token_expiration_minutes: Option<i64>,
    /// When the org was created (epoch ms); the lower bound for splitting searches.
    pub created: Option<i64>,
    pub user: Option<PortalUser>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The signed-in user as `portals/self` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PortalUser {
    pub username: String,
    pub role: Option<String>,
    /// Set for custom roles; a full administrator has `role == "org_admin"` and no `role_id`.
    pub role_id: Option<String>,
    pub privileges: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One item, from search results or `GET /content/items/<id>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ItemInfo {
    pub id: String,
    pub owner: String,
    pub owner_folder: Option<String>,
    pub title: String,
    #[serde(rename = "type")]
    pub item_type: String,
    pub type_keywords: Vec<String>,
    pub tags: Vec<String>,
    pub snippet: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub access: Option<String>,
    pub size: Option<i64>,
    pub created: Option<i64>,
    pub modified: Option<i64>,
    pub thumbnail: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One member of the organization, from `portals/self/users/search` or `community/users/<u>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserInfo {
    pub username: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub role_id: Option<String>,
    pub user_license_type_id: Option<String>,
    pub idp_username: Option<String>,
    pub provider: Option<String>,
    pub groups: Vec<Value>,
    pub created: Option<i64>,
    pub modified: Option<i64>,
    pub last_login: Option<i64>,
    pub disabled: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One group, from `community/groups` or `community/groups/<id>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupInfo {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub access: Option<String>,
    pub snippet: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub is_invitation_only: bool,
    pub is_view_only: bool,
    pub capabilities: Vec<String>,
    pub created: Option<i64>,
    pub modified: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Who belongs to a group, from `community/groups/<id>/users`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupMembers {
    pub owner: String,
    pub admins: Vec<String>,
    pub users: Vec<String>,
}

/// A user's folder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Folder {
    pub id: String,
    pub title: String,
    pub username: Option<String>,
    pub created: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A folder with the items in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FolderContent {
    pub folder: Folder,
    pub items: Vec<ItemInfo>,
}

/// A user's content: the root folder's items and every folder with its items.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserContent {
    pub root_items: Vec<ItemInfo>,
    pub folders: Vec<FolderContent>,
}

/// How an item is shared, as an administrator sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sharing {
    /// `private`, `shared`, `org` or `public`.
    pub access: String,
    /// Ids of the groups the item is shared with.
    pub groups: Vec<String>,
}

/// One file stored with an item, from `/content/items/<id>/resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceInfo {
    /// Path of the resource inside the item (may contain slashes).
    pub resource: String,
    pub size: Option<i64>,
    pub created: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Which way a relationship is followed in `relatedItems`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Forward,
    Reverse,
}

impl Direction {
    /// The value of the `direction` parameter.
    pub fn as_param(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn item_keeps_unknown_fields_and_tolerates_missing_ones() {
        let raw = json!({"id":"abc","type":"Web Map","title":"T","properties":{"x":1},"protected":true});
        let item: ItemInfo = serde_json::from_value(raw).expect("item with few fields must decode");
        assert_eq!(item.item_type, "Web Map");
        assert_eq!(item.extra.get("properties"), Some(&json!({"x":1})), "unknown fields must be kept for the backup");
        let again = serde_json::to_value(&item).expect("serialize");
        assert_eq!(again["protected"], json!(true), "re-serialized item must still carry unknown fields");
        assert_eq!(again["type"], json!("Web Map"), "the type field keeps its wire name");
    }

    #[test]
    fn portal_self_reads_camel_case() {
        let raw = json!({"id":"org1","urlKey":"acme","isPortal":false,"supportsOAuth":true,
            "maxTokenExpirationMinutes":20160,"user":{"username":"admin","role":"org_admin","privileges":["portal:admin:viewItems"]}});
        let s: PortalSelf = serde_json::from_value(raw).expect("portals/self must decode");
        assert!(s.supports_o_auth, "supportsOAuth must map");
        assert_eq!(s.url_key.as_deref(), Some("acme"));
        assert_eq!(s.user.as_ref().map(|u| u.role_id.is_none()), Some(true));
    }
}
