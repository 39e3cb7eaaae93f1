//! Taking a hosted feature service out whole: the portal's `export` job (File Geodatabase), the
//! service's `createReplica` job, and the paged `query` fallback; plus the item `delete` the
//! export needs afterwards.
//!
//! These are single steps (start, one status poll, delete); the caller owns the polling loop,
//! its timeout and its cancellation, because only the caller knows when to give up and must
//! delete the temporary export item whatever happens.
//!
//! Invariants:
//! - `start_export` and `create_replica` are writes: sent once, repeated only when the server
//!   refused them unprocessed (429, no connection), so a retry never leaves a second export item.
//! - A job answering `failed` becomes [`JobStatus::Failed`] with the server's message, decoded
//!   from Online's JSON-in-a-string `statusMessage` when it is one; never an `Err`, because a
//!   failed job is an answer, not a transport problem.

use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::http::display_url;
use crate::model::ItemInfo;
use crate::portal::Portal;

/// The `exportFormat` of a File Geodatabase export.
pub const FILE_GEODATABASE: &str = "File Geodatabase";

/// A started export: the job and the temporary item that will hold the file. The item exists
/// from the moment the job starts and costs the org storage until deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportJob {
    pub job_id: String,
    pub export_item_id: String,
    /// The user whose content holds the export item (the one `export` was called for).
    pub owner: String,
}

/// Where an asynchronous job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Still working; poll again.
    Processing,
    /// Done; for a replica, the URL of the file to download.
    Completed { result_url: Option<Url> },
    /// The server gave up, with its reason.
    Failed { message: String },
}

/// The server's message out of a `statusMessage` that may be a JSON document in a string.
pub(crate) fn status_message(raw: &Value) -> String {
    let text = match raw {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        let mut parts: Vec<String> = Vec::new();
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            parts.push(m.to_owned());
        }
        if let Some(ms) = v.get("messages").and_then(Value::as_array) {
            parts.extend(ms.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        if !parts.is_empty() {
            return parts.join(" ");
        }
    }
    if text.trim().is_empty() {
        "the job failed without a reason".to_owned()
    } else {
        text.replace(['\n', '\r'], " ")
    }
}

pub(crate) fn str_field(v: &Value, key: &str, url: &Url) -> Result<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Error::Decode { url: display_url(url), detail: format!("the answer has no {key}") })
}

impl Portal {
    /// Starts an export of the hosted service item `item_id` into the root folder of `owner`'s
    /// content (`POST content/users/<owner>/export`), the export item titled `title`. The caller
    /// must delete `export_item_id` afterwards, also after a failure or a cancel; a unique title
    /// lets it find the item when this call's answer is lost.
    pub async fn start_export(&self, owner: &str, item_id: &str, format: &str, title: &str) -> Result<ExportJob> {
        let url = self.rest_url(&["content", "users", owner, "export"])?;
        let v = self
            .post_form(url.as_str(), &[("itemId", item_id), ("exportFormat", format), ("title", title)], false)
            .await?;
        Ok(ExportJob {
            job_id: str_field(&v, "jobId", &url)?,
            export_item_id: str_field(&v, "exportItemId", &url)?,
            owner: owner.to_owned(),
        })
    }

    /// The items in a user's root folder (`content/users/<username>`, every page), where
    /// `export` puts its items. Read from the content listing, not from search: search lags
    /// behind on real portals.
    pub async fn user_root_items(&self, username: &str) -> Result<Vec<ItemInfo>> {
        let (items, _) = self.folder_listing(self.rest_url(&["content", "users", username])?).await?;
        Ok(items)
    }

    /// One poll of an export job (`content/users/<owner>/items/<id>/status?jobType=export`).
    pub async fn export_status(&self, job: &ExportJob) -> Result<JobStatus> {
        self.item_job_status(&job.owner, &job.export_item_id, "export", &job.job_id).await
    }

    /// One poll of a job on an item (`content/users/<owner>/items/<id>/status?jobType=...`):
    /// exports and publishes answer alike.
    pub(crate) async fn item_job_status(
        &self,
        owner: &str,
        item_id: &str,
        job_type: &str,
        job_id: &str,
    ) -> Result<JobStatus> {
        let url = self.rest_url(&["content", "users", owner, "items", item_id, "status"])?;
        // Without a job id (an export adopted after its answer was lost) the item's own status
        // answers, as the REST API documents `jobId` as optional.
        let params: &[(&str, &str)] =
            if job_id.is_empty() { &[("jobType", job_type)] } else { &[("jobType", job_type), ("jobId", job_id)] };
        let v = self.json_at(url, params).await?;
        let status = v.get("status").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
        Ok(match status.as_str() {
            "completed" => JobStatus::Completed { result_url: None },
            "failed" => JobStatus::Failed { message: status_message(v.get("statusMessage").unwrap_or(&Value::Null)) },
            _ => JobStatus::Processing,
        })
    }

    /// Deletes an item of `owner` (`POST content/users/<owner>/items/<id>/delete`). An item that
    /// is already gone counts as deleted, so cleaning up twice is harmless.
    pub async fn delete_item(&self, owner: &str, item_id: &str) -> Result<()> {
        let url = self.rest_url(&["content", "users", owner, "items", item_id, "delete"])?;
        // Deleting is idempotent: repeating it after a lost answer cannot do harm.
        match self.post_form(url.as_str(), &[], true).await {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts an asynchronous replica of every layer in `layers` of the service at
    /// `service_url`, File Geodatabase, with attachments, without sync (`createReplica`).
    /// Returns the status URL to poll with [`Portal::replica_status`].
    ///
    /// Every row is asked for, as Esri's Python client does (`SyncManager.create`): the
    /// service's `full_extent` as the replica's `geometry` (when known) and `layerQueries` with
    /// `queryOption: all` for each layer; without them the service applies its default filter.
    pub async fn create_replica(&self, service_url: &Url, layers: &[i64], full_extent: Option<&Value>) -> Result<Url> {
        let url = sub_url(service_url, "createReplica");
        let list = layers.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let queries: serde_json::Map<String, Value> =
            layers.iter().map(|l| (l.to_string(), serde_json::json!({ "queryOption": "all" }))).collect();
        let queries = Value::Object(queries).to_string();
        let mut params: Vec<(&str, String)> = vec![
            ("layers", list),
            ("layerQueries", queries),
            ("returnAttachments", "true".into()),
            ("async", "true".into()),
            ("syncModel", "none".into()),
            ("dataFormat", "filegdb".into()),
            ("transportType", "esriTransportTypeUrl".into()),
            ("replicaName", "orgvault-backup".into()),
        ];
        if let Some(extent) = full_extent {
            params.push(("geometry", extent.to_string()));
            params.push(("geometryType", "esriGeometryEnvelope".into()));
            if let Some(sr) = extent.get("spatialReference").filter(|s| s.is_object()) {
                params.push(("inSR", sr.to_string()));
            }
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let v = self.post_form(url.as_str(), &params, false).await?;
        let status = str_field(&v, "statusUrl", &url)?;
        Url::parse(&status)
            .map_err(|_| Error::Decode { url: display_url(&url), detail: "its statusUrl is not a URL".into() })
    }

    /// One poll of a replica job.
    pub async fn replica_status(&self, status_url: &Url) -> Result<JobStatus> {
        let v = self.json_at(status_url.clone(), &[]).await?;
        let status = v.get("status").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
        Ok(match status.as_str() {
            "completed" => {
                let raw = str_field(&v, "resultUrl", status_url)?;
                let result = Url::parse(&raw).map_err(|_| Error::Decode {
                    url: display_url(status_url),
                    detail: "its resultUrl is not a URL".into(),
                })?;
                JobStatus::Completed { result_url: Some(result) }
            }
            "failed" | "completedwitherrors" => JobStatus::Failed {
                message: status_message(v.get("error").or_else(|| v.get("statusMessage")).unwrap_or(&Value::Null)),
            },
            _ => JobStatus::Processing,
        })
    }

    /// The attachments of one feature (`<layer>/<oid>/attachments`).
    pub async fn feature_attachments(
        &self,
        service_url: &Url,
        layer: i64,
        object_id: i64,
    ) -> Result<Vec<AttachmentInfo>> {
        let v = self.json_at(sub_url(service_url, &format!("{layer}/{object_id}/attachments")), &[]).await?;
        Ok(v.get("attachmentInfos")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(AttachmentInfo::from_json)
            .collect())
    }

    /// Every layer's and table's JSON of a service (`<url>/layers`).
    pub async fn service_layers(&self, service_url: &Url) -> Result<Value> {
        self.json_at(sub_url(service_url, "layers"), &[]).await
    }

    /// One page of a layer's features (`<url>/<layer>/query?where=1=1&outFields=*`), ordered by
    /// its object id field (`orderByFields=<oid_field> ASC`) so pages neither overlap nor skip
    /// rows: without an order the service may answer each page in another order (Esri, "Query
    /// (Feature Service/Layer)": use `orderByFields` with `resultOffset` for consistent paging).
    /// The answer carries `exceededTransferLimit` while more rows remain.
    pub async fn query_page(
        &self,
        service_url: &Url,
        layer: i64,
        oid_field: &str,
        offset: u64,
        count: u64,
    ) -> Result<Value> {
        let url = sub_url(service_url, &format!("{layer}/query"));
        let (offset, count) = (offset.to_string(), count.to_string());
        let order = format!("{oid_field} ASC");
        self.json_at(
            url,
            &[
                ("where", "1=1"),
                ("outFields", "*"),
                ("returnGeometry", "true"),
                ("orderByFields", order.as_str()),
                ("resultOffset", offset.as_str()),
                ("resultRecordCount", count.as_str()),
            ],
        )
        .await
    }
}

/// `base` + `/` + `tail`, keeping the base's path and dropping its query: a layer, operation or
/// attachment under a service URL (`.../FeatureServer` + `0/query`).
pub fn sub_url(base: &Url, tail: &str) -> Url {
    let mut u = base.clone();
    u.set_query(None);
    let path = format!("{}/{}", u.path().trim_end_matches('/'), tail);
    u.set_path(&path);
    u
}

/// One attachment of a feature as a service lists it (`attachmentInfos`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub id: i64,
    pub name: String,
    /// Bytes; 0 when the service does not say.
    pub size: u64,
    pub content_type: Option<String>,
}

impl AttachmentInfo {
    /// From one entry of `attachmentInfos`; `None` without an id (it could not be fetched).
    pub fn from_json(info: &Value) -> Option<Self> {
        Some(AttachmentInfo {
            id: info.get("id")?.as_i64()?,
            name: info.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            size: info.get("size").and_then(Value::as_u64).unwrap_or(0),
            content_type: info.get("contentType").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failed_status_messages_are_decoded_from_json_in_a_string() {
        let raw = json!(
            "{\"type\":\"error\",\"code\":500,\"message\":\"Export operation failed.\",\"messages\":[\"timed out\"]}"
        );
        assert_eq!(status_message(&raw), "Export operation failed. timed out", "Online's JSON-in-a-string is unpacked");
        assert_eq!(status_message(&json!("plain words")), "plain words", "a plain message is kept");
        assert_eq!(status_message(&Value::Null), "the job failed without a reason", "no message still says something");
    }

    #[test]
    fn sub_url_appends_to_the_service_path() {
        let base = Url::parse("https://s.example.com/org/arcgis/rest/services/A%20B/FeatureServer?x=1").expect("url");
        assert_eq!(
            sub_url(&base, "0/query").as_str(),
            "https://s.example.com/org/arcgis/rest/services/A%20B/FeatureServer/0/query",
            "the tail goes after the service, the query string is dropped"
        );
    }
}
