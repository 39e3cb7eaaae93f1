//! The organization's content as an administrator reads it: items, their data, resources,
//! relationships and sharing; users, groups and members; a user's folders.

use serde_json::Value;
use url::Url;

use super::{decode_all, Portal};
use crate::error::{Error, Result};
use crate::http::ByteStream;
use crate::model::{
    Direction, Folder, FolderContent, GroupInfo, GroupMembers, ItemInfo, ResourceInfo, Sharing, UserContent, UserInfo,
};

impl Portal {
    /// One item.
    pub async fn item(&self, id: &str) -> Result<ItemInfo> {
        self.get_typed(self.rest_url(&["content", "items", id])?, &[]).await
    }

    /// How an item is shared, as an administrator sees it (`content/users/<owner>/items/<id>`).
    pub async fn item_sharing(&self, owner: &str, id: &str) -> Result<Sharing> {
        let v = self.json_at(self.rest_url(&["content", "users", owner, "items", id])?, &[]).await?;
        let sharing = v.get("sharing").or_else(|| v.get("item").and_then(|i| i.get("sharing")));
        let access = sharing
            .and_then(|s| s.get("access"))
            .or_else(|| v.get("item").and_then(|i| i.get("access")))
            .and_then(Value::as_str)
            .unwrap_or("private")
            .to_string();
        let groups = sharing
            .and_then(|s| s.get("groups"))
            .and_then(Value::as_array)
            .map(|gs| {
                gs.iter()
                    .filter_map(|g| g.as_str().or_else(|| g.get("id").and_then(Value::as_str)).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Sharing { access, groups })
    }

    /// The item's JSON data (web maps, apps, dashboards); `None` when the item has no data.
    pub async fn item_data_json(&self, id: &str) -> Result<Option<Value>> {
        let v = self.json_at(self.rest_url(&["content", "items", id, "data"])?, &[]).await?;
        Ok(match v {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            other => Some(other),
        })
    }

    /// The item's data file as a stream.
    pub async fn item_data_stream(&self, id: &str) -> Result<ByteStream> {
        self.get_stream(&self.rest_url(&["content", "items", id, "data"])?, &[]).await
    }

    /// Every resource file stored with the item.
    pub async fn item_resources(&self, id: &str) -> Result<Vec<ResourceInfo>> {
        let url = self.rest_url(&["content", "items", id, "resources"])?;
        let raw = self.paged(url, &[], "resources").await?;
        decode_all(raw, "resources")
    }

    /// One resource file as a stream (`resource` may contain slashes: it is a path; each part is
    /// percent-encoded). A path with a `.` or `..` part is refused rather than normalized away.
    pub async fn item_resource_stream(&self, id: &str, resource: &str) -> Result<ByteStream> {
        let parts: Vec<&str> = resource.split('/').filter(|s| !s.is_empty()).collect();
        // URL normalization would silently turn `a/../b` into `b`, fetching the wrong file.
        if parts.iter().any(|p| *p == "." || *p == "..") {
            return Err(Error::Config { message: format!("the resource path {resource:?} of item {id} has a '.' or '..' segment, which cannot be requested over HTTP") });
        }
        let mut segments = vec!["content", "items", id, "resources"];
        segments.extend(parts);
        self.get_stream(&self.rest_url(&segments)?, &[]).await
    }

    /// Items related to `id` by `rel_type` in `direction`.
    pub async fn related_items(&self, id: &str, rel_type: &str, direction: Direction) -> Result<Vec<ItemInfo>> {
        let url = self.rest_url(&["content", "items", id, "relatedItems"])?;
        let v = self.json_at(url, &[("relationshipType", rel_type), ("direction", direction.as_param())]).await?;
        let list = v.get("relatedItems").cloned().unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(list).map_err(|e| Error::Decode { url: "relatedItems".into(), detail: e.to_string() })
    }

    /// Every member of the organization.
    pub async fn org_users(&self) -> Result<Vec<UserInfo>> {
        let url = self.rest_url(&["portals", "self", "users", "search"])?;
        let raw = self.paged(url, &[("q", "*")], "results").await?;
        decode_all(raw, "users")
    }

    /// One user; `NotFound` when there is none (portals answer a plain 400 "User not found").
    pub async fn user(&self, username: &str) -> Result<UserInfo> {
        self.get_typed(self.rest_url(&["community", "users", username])?, &[])
            .await
            .map_err(Error::missing_as_not_found)
    }

    /// Every group of the organization.
    pub async fn org_groups(&self) -> Result<Vec<GroupInfo>> {
        let url = self.rest_url(&["community", "groups"])?;
        let q = format!("orgid:{}", self.org_id());
        let raw = self.paged(url, &[("q", q.as_str())], "results").await?;
        decode_all(raw, "groups")
    }

    /// Owner, admins and members of a group.
    pub async fn group_members(&self, group_id: &str) -> Result<GroupMembers> {
        self.get_typed(self.rest_url(&["community", "groups", group_id, "users"])?, &[]).await
    }

    /// A user's root items and every folder with its items.
    pub async fn user_content(&self, username: &str) -> Result<UserContent> {
        let root_url = self.rest_url(&["content", "users", username])?;
        let (root_items, folders) = self.folder_listing(root_url).await?;
        let mut content = UserContent { root_items, folders: Vec::new() };
        for folder in folders {
            let url = self.rest_url(&["content", "users", username, folder.id.as_str()])?;
            let (items, _) = self.folder_listing(url).await?;
            content.folders.push(FolderContent { folder, items });
        }
        Ok(content)
    }

    pub(crate) async fn folder_listing(&self, url: Url) -> Result<(Vec<ItemInfo>, Vec<Folder>)> {
        let mut items = Vec::new();
        let mut folders: Vec<Folder> = Vec::new();
        let mut start: i64 = 1;
        loop {
            let s = start.to_string();
            let v = self.json_at(url.clone(), &[("start", s.as_str()), ("num", "100")]).await?;
            let page: Vec<ItemInfo> =
                decode_all(v.get("items").and_then(Value::as_array).cloned().unwrap_or_default(), "folder items")?;
            if folders.is_empty() {
                folders =
                    decode_all(v.get("folders").and_then(Value::as_array).cloned().unwrap_or_default(), "folders")?;
            }
            let got = page.len() as i64;
            items.extend(page);
            match crate::search::next_start(&v, start, got) {
                Some(n) => start = n,
                None => break,
            }
        }
        Ok((items, folders))
    }
}
