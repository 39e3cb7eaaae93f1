//! Writing to an organization (restore): folders, items and their parts, relationships,
//! sharing, groups, users, hosted feature services.
//!
//! Invariants:
//! - Every create is sent once. The client's retry loop repeats a write only when the server
//!   refused it unprocessed (429, no connection), because a create whose answer was lost may
//!   have been applied (the simulator applies half of its injected failures). The caller finds
//!   what such a create made by a typeKeyword it put on the item ([`Portal::find_owned_by_keyword`])
//!   instead of sending it again.
//! - Writes that are harmless to repeat (an update, a delete, a part of a multipart upload, a
//!   share) are marked idempotent and retried like reads.
//! - Files above [`SINGLE_UPLOAD_LIMIT`] go up in parts (`addItem` or `update` with
//!   `multipart=true`, `addPart`, `commit`), as ArcGIS refuses larger single uploads; a file
//!   from a stream ([`ItemContent::Streamed`]) is read one part at a time (`upload.rs`).
//! - Nothing here logs or returns a password: invitations carry it as a [`Secret`].

mod principals;
mod services;
mod upload;

use bytes::Bytes;
use serde_json::Value;

use crate::error::{Error, Result};
pub use crate::http::FilePart;
use crate::http::{display_url, Call};
use crate::model::{Folder, ItemInfo};
use crate::portal::Portal;
pub use principals::{Invitation, NewGroup, MAX_USERS_PER_CALL};
pub use services::{CreatedService, PublishJob, MAX_ADDS_PER_CALL};
pub use upload::{FileBody, PartSplitter, StreamedFile};

/// Largest file sent in one `addItem`; larger ones use the multipart upload.
pub const SINGLE_UPLOAD_LIMIT: usize = 16 * 1024 * 1024;

/// Size of each part of a multipart upload.
pub const UPLOAD_PART_SIZE: usize = 8 * 1024 * 1024;

/// The item's descriptive fields, as `addItem` and `update` take them. `None` leaves a field out
/// (on update: unchanged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemFields {
    pub title: Option<String>,
    pub item_type: Option<String>,
    pub type_keywords: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub snippet: Option<String>,
    pub description: Option<String>,
    /// `[[xmin,ymin],[xmax,ymax]]` as the portal reports it, or any JSON the portal takes.
    pub extent: Option<Value>,
    pub spatial_reference: Option<String>,
    pub access_information: Option<String>,
    pub license_info: Option<String>,
    pub url: Option<String>,
    pub properties: Option<Value>,
}

impl ItemFields {
    fn params(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                p.push((k.to_owned(), v));
            }
        };
        put("title", self.title.clone());
        put("type", self.item_type.clone());
        put("typeKeywords", self.type_keywords.as_ref().map(|k| k.join(",")));
        put("tags", self.tags.as_ref().map(|t| t.join(",")));
        put("snippet", self.snippet.clone());
        put("description", self.description.clone());
        put("extent", self.extent.as_ref().and_then(extent_param));
        put("spatialReference", self.spatial_reference.clone());
        put("accessInformation", self.access_information.clone());
        put("licenseInfo", self.license_info.clone());
        put("url", self.url.clone());
        put("properties", self.properties.as_ref().filter(|v| !v.is_null()).map(Value::to_string));
        p
    }
}

/// `xmin,ymin,xmax,ymax` from the `[[xmin,ymin],[xmax,ymax]]` items carry; other shapes as JSON.
fn extent_param(v: &Value) -> Option<String> {
    let corners: Option<Vec<f64>> = v.as_array().and_then(|a| {
        let flat: Vec<f64> =
            a.iter().filter_map(Value::as_array).flat_map(|c| c.iter().filter_map(Value::as_f64)).collect();
        (flat.len() == 4).then_some(flat)
    });
    match corners {
        Some(c) => Some(format!("{},{},{},{}", c[0], c[1], c[2], c[3])),
        None if v.is_null() || v.as_array().is_some_and(|a| a.is_empty()) => None,
        None => Some(v.to_string()),
    }
}

/// What an item holds besides its fields.
#[derive(Debug, Default)]
pub enum ItemContent {
    #[default]
    None,
    /// JSON data (web maps, apps, dashboards), sent as `text`.
    Text(String),
    /// A file in memory; its `file_name` becomes the item's `name`.
    File(FilePart),
    /// A file read from a stream as it is sent (a restore's files come from the repository so),
    /// never held whole when it is larger than [`SINGLE_UPLOAD_LIMIT`].
    Streamed(StreamedFile),
}

/// Whether an error says the name or title is already taken (a conflict, not a failure).
pub fn is_conflict(e: &Error) -> bool {
    match e {
        Error::Api { code: 400 | 409, message, .. } => {
            let m = message.to_ascii_lowercase();
            m.contains("not available") || m.contains("already") || m.contains("exists")
        }
        _ => false,
    }
}

impl Portal {
    /// POST a form with file parts (`multipart/form-data`); `f=json` is added.
    pub(crate) async fn post_multipart(
        &self,
        url: url::Url,
        params: Vec<(String, String)>,
        files: Vec<FilePart>,
        idempotent: bool,
    ) -> Result<Value> {
        let mut params = params;
        if !params.iter().any(|(k, _)| k == "f") {
            params.push(("f".into(), "json".into()));
        }
        self.inner.session.json(&Call::multipart(url, params, files, idempotent)).await
    }

    /// `content/users/<owner>[/<folder>]/<op>`.
    fn user_content_url(&self, owner: &str, folder: Option<&str>, tail: &[&str]) -> Result<url::Url> {
        let mut segments = vec!["content", "users", owner];
        if let Some(f) = folder.filter(|f| !f.is_empty()) {
            segments.push(f);
        }
        segments.extend(tail);
        self.rest_url(&segments)
    }

    /// Creates a folder for `owner`. A title the owner already uses fails with a conflict
    /// ([`is_conflict`]); the caller then looks the folder up.
    pub async fn create_folder(&self, owner: &str, title: &str) -> Result<Folder> {
        let url = self.user_content_url(owner, None, &["createFolder"])?;
        let v = self.post_form(url.as_str(), &[("title", title)], false).await?;
        let folder = v.get("folder").cloned().unwrap_or(Value::Null);
        serde_json::from_value(folder)
            .map_err(|e| Error::Decode { url: display_url(&url), detail: format!("createFolder answer: {e}") })
    }

    /// The folders of `owner`.
    pub async fn user_folders(&self, owner: &str) -> Result<Vec<Folder>> {
        let url = self.user_content_url(owner, None, &[])?;
        let v = self.json_at(url, &[("num", "1")]).await?;
        let list = v.get("folders").cloned().unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(list).map_err(|e| Error::Decode { url: "folders".into(), detail: e.to_string() })
    }

    /// Adds an item to `owner`'s content (in `folder` when given) and answers its new id.
    /// Not repeated after a lost answer: see the module invariants.
    pub async fn add_item(
        &self,
        owner: &str,
        folder: Option<&str>,
        fields: &ItemFields,
        content: ItemContent,
        thumbnail: Option<FilePart>,
    ) -> Result<String> {
        let url = self.user_content_url(owner, folder, &["addItem"])?;
        let mut params = fields.params();
        let mut files: Vec<FilePart> = thumbnail.into_iter().collect();
        let large = content.attach(&mut params, &mut files).await?;
        let v = self.post_multipart(url.clone(), params, files, false).await?;
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Error::Decode { url: display_url(&url), detail: "addItem answered no id".into() })?;
        if let Some(file) = large {
            self.upload_parts(owner, &id, file).await?;
        }
        Ok(id)
    }

    /// Updates an item's fields, data and thumbnail. Repeating an update is harmless.
    pub async fn update_item(
        &self,
        owner: &str,
        id: &str,
        fields: &ItemFields,
        content: ItemContent,
        thumbnail: Option<FilePart>,
    ) -> Result<()> {
        let url = self.user_content_url(owner, None, &["items", id, "update"])?;
        let mut params = fields.params();
        let mut files: Vec<FilePart> = thumbnail.into_iter().collect();
        let large = content.attach(&mut params, &mut files).await?;
        self.post_multipart(url, params, files, true).await?;
        if let Some(file) = large {
            self.upload_parts(owner, id, file).await?;
        }
        Ok(())
    }

    /// Stores `info/metadata/metadata.xml` of an item.
    pub async fn update_metadata(&self, owner: &str, id: &str, xml: Bytes) -> Result<()> {
        let url = self.user_content_url(owner, None, &["items", id, "updateinfo"])?;
        let file = FilePart {
            field: "file".into(),
            file_name: "metadata.xml".into(),
            content_type: "application/xml".into(),
            bytes: xml,
        };
        self.post_multipart(url, vec![("folderName".into(), "metadata".into())], vec![file], true).await?;
        Ok(())
    }

    /// Adds one resource file at `path` (which may contain `/`: the part before the last `/`
    /// is the `resourcesPrefix`).
    pub async fn add_resource(&self, owner: &str, id: &str, path: &str, bytes: Bytes) -> Result<()> {
        let url = self.user_content_url(owner, None, &["items", id, "addResources"])?;
        let (prefix, name) = match path.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, path),
        };
        let mut params = vec![("fileName".to_owned(), name.to_owned())];
        if let Some(p) = prefix.filter(|p| !p.is_empty()) {
            params.push(("resourcesPrefix".into(), p.to_owned()));
        }
        let file = FilePart {
            field: "file".into(),
            file_name: name.to_owned(),
            content_type: "application/octet-stream".into(),
            bytes,
        };
        // Re-adding the same path replaces it: safe to repeat.
        self.post_multipart(url, params, vec![file], true).await?;
        Ok(())
    }

    /// Links two items (`addRelationship`); an existing link counts as success.
    pub async fn add_relationship(&self, owner: &str, origin: &str, destination: &str, rel_type: &str) -> Result<()> {
        let url = self.user_content_url(owner, None, &["addRelationship"])?;
        let params = [("originItemId", origin), ("destinationItemId", destination), ("relationshipType", rel_type)];
        self.post_form(url.as_str(), &params, true).await?;
        Ok(())
    }

    /// Shares one item with `groups`, the org or everyone; answers the groups it was not
    /// shared with. Sharing is a set operation: repeating it is harmless.
    pub async fn share_item(
        &self,
        owner: &str,
        id: &str,
        groups: &[String],
        everyone: bool,
        org: bool,
    ) -> Result<Vec<String>> {
        let url = self.user_content_url(owner, None, &["shareItems"])?;
        let groups = groups.join(",");
        let params = [
            ("items", id),
            ("groups", groups.as_str()),
            ("everyone", if everyone { "true" } else { "false" }),
            ("org", if org { "true" } else { "false" }),
        ];
        let v = self.post_form(url.as_str(), &params, true).await?;
        let result = v.get("results").and_then(Value::as_array).and_then(|r| r.first()).cloned().unwrap_or_default();
        if result.get("success").and_then(Value::as_bool) == Some(false) {
            return Err(Error::Api {
                code: 400,
                message: format!("sharing item {id} failed"),
                message_code: None,
                details: Vec::new(),
            });
        }
        Ok(result
            .get("notSharedWith")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default())
    }

    /// Moves an item to another owner (and folder title, `None` = root).
    pub async fn reassign_item(&self, owner: &str, id: &str, target: &str, folder: Option<&str>) -> Result<()> {
        let url = self.user_content_url(owner, None, &["items", id, "reassign"])?;
        // The root folder is `/` (Esri, "Reassign Item": `targetFolderName`).
        let params = [("targetUsername", target), ("targetFolderName", folder.unwrap_or("/"))];
        self.post_form(url.as_str(), &params, true).await?;
        Ok(())
    }

    /// Items of `owner` carrying the typeKeyword `keyword` (exact match), read from the owner's
    /// content listing (root folder and every folder), not from search: search lags behind
    /// writes on real portals (Esri documents the delay), so an item created a moment ago, by
    /// a request whose answer was lost, is found here at once and would not be by a search.
    pub async fn find_owned_by_keyword(&self, owner: &str, keyword: &str) -> Result<Vec<ItemInfo>> {
        let items = self.owned_items(owner).await?;
        Ok(items.into_iter().filter(|i| i.type_keywords.iter().any(|k| k == keyword)).collect())
    }

    /// Every item of `owner`, root folder and every folder, from the content listing (current
    /// at once, unlike search).
    pub async fn owned_items(&self, owner: &str) -> Result<Vec<ItemInfo>> {
        let (mut items, folders) = self.folder_listing(self.user_content_url(owner, None, &[])?).await?;
        for f in folders {
            let (in_folder, _) = self.folder_listing(self.user_content_url(owner, Some(&f.id), &[])?).await?;
            items.extend(in_folder);
        }
        items.retain(|i| i.owner == owner);
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn item_fields_become_form_params() {
        let f = ItemFields {
            title: Some("Roads".into()),
            type_keywords: Some(vec!["Map".into(), "orgvault-restored-abc".into()]),
            tags: Some(vec!["a".into(), "b".into()]),
            extent: Some(json!([[-1.5, 2.0], [3.0, 4.0]])),
            properties: Some(Value::Null),
            ..Default::default()
        };
        let p = f.params();
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("title"), Some("Roads"), "the title is sent");
        assert_eq!(get("typeKeywords"), Some("Map,orgvault-restored-abc"), "keywords are a comma list with the marker");
        assert_eq!(get("tags"), Some("a,b"), "tags are a comma list");
        assert_eq!(get("extent"), Some("-1.5,2,3,4"), "an item extent becomes xmin,ymin,xmax,ymax");
        assert_eq!(get("properties"), None, "null properties are not sent");
        assert_eq!(get("snippet"), None, "unset fields are left out so an update leaves them alone");
    }

    #[test]
    fn taken_names_read_as_conflicts() {
        let taken = Error::Api {
            code: 400,
            message: "Folder title 'x' not available".into(),
            message_code: None,
            details: vec![],
        };
        assert!(is_conflict(&taken), "a taken folder title is a conflict");
        let group = Error::Api {
            code: 400,
            message: "You already have a group named 'x'".into(),
            message_code: None,
            details: vec![],
        };
        assert!(is_conflict(&group), "a taken group title is a conflict");
        assert!(!is_conflict(&Error::Forbidden { message: "no".into() }), "a refusal is not a conflict");
    }
}
