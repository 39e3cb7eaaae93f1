//! Hosted feature services: name check, `createService`, `addToDefinition` (layers and tables,
//! never relationships), `updateDefinition` (relationships after layers), `applyEdits` (at most
//! [`MAX_ADDS_PER_CALL`] adds a call), `addAttachment`, and publishing an uploaded package.

use serde_json::{json, Value};
use url::Url;

use super::FilePart;
use crate::error::{Error, Result};
use crate::hosted::{str_field, sub_url, JobStatus};
use crate::http::display_url;
use crate::portal::Portal;

/// Longest wait for an asynchronous definition change to finish.
const DEFINITION_JOB_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The `statusURL` of an answer accepted as an asynchronous job (the key's case varies: Esri's
/// Python client reads it case-insensitively).
fn status_url_of(answer: &Value) -> Option<&str> {
    answer.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case("statusurl")).and_then(|(_, v)| v.as_str())
}

/// Most features `applyEdits` takes in one call.
pub const MAX_ADDS_PER_CALL: usize = 2000;

/// A service made by `createService` or a finished publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedService {
    /// The new Feature Service item.
    pub item_id: String,
    pub service_url: Url,
    pub name: String,
}

/// A started publish job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishJob {
    pub job_id: String,
    /// The service item the job fills.
    pub service_item_id: String,
    pub service_url: Url,
    pub owner: String,
}

fn url_field(v: &Value, key: &str, url: &Url) -> Result<Url> {
    let raw = str_field(v, key, url)?;
    Url::parse(&raw).map_err(|_| Error::Decode { url: display_url(url), detail: format!("its {key} is not a URL") })
}

/// The admin URL of a hosted service: `.../rest/services/...` becomes `.../rest/admin/services/...`.
pub fn admin_url(service_url: &Url) -> Result<Url> {
    let mut u = service_url.clone();
    u.set_query(None);
    let path = u.path().to_owned();
    let Some(at) = path.find("/rest/services/") else {
        return Err(Error::Config { message: format!("{} is not a hosted service URL", display_url(service_url)) });
    };
    let new_path = format!("{}/rest/admin/services/{}", &path[..at], &path[at + "/rest/services/".len()..]);
    u.set_path(&new_path);
    Ok(u)
}

impl Portal {
    /// Whether a Feature Service name is free in the org (case-insensitive).
    pub async fn is_service_name_available(&self, name: &str) -> Result<bool> {
        self.is_service_name_available_as(name, "Feature Service").await
    }

    /// As [`Portal::is_service_name_available`], for a service of `service_type` (`Feature
    /// Service`, `Map Service`, `Vector Tile Service`, `Scene Service`): names are unique per type.
    pub async fn is_service_name_available_as(&self, name: &str, service_type: &str) -> Result<bool> {
        let url = self.rest_url(&["portals", "self", "isServiceNameAvailable"])?;
        let v = self.json_at(url, &[("name", name), ("type", service_type)]).await?;
        Ok(v.get("available").and_then(Value::as_bool).unwrap_or(false))
    }

    /// Creates an empty hosted feature service (or view) and its item in `owner`'s content.
    /// `create_parameters` holds at least `name`. Not repeated after a lost answer.
    pub async fn create_service(
        &self,
        owner: &str,
        create_parameters: &Value,
        is_view: bool,
    ) -> Result<CreatedService> {
        let url = self.rest_url(&["content", "users", owner, "createService"])?;
        let params = create_parameters.to_string();
        let mut form = vec![("createParameters", params.as_str()), ("outputType", "featureService")];
        if is_view {
            form.push(("isView", "true"));
        }
        let v = self.post_form(url.as_str(), &form, false).await?;
        let item_id =
            v.get("itemId").or_else(|| v.get("serviceItemId")).and_then(Value::as_str).map(str::to_owned).ok_or_else(
                || Error::Decode { url: display_url(&url), detail: "createService answered no itemId".into() },
            )?;
        Ok(CreatedService {
            item_id,
            service_url: url_field(&v, "serviceurl", &url)?,
            name: v.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
        })
    }

    /// Adds layers and tables to a hosted service (`addToDefinition` on its admin URL).
    pub async fn add_to_definition(&self, service_url: &Url, definition: &Value) -> Result<Value> {
        let url = sub_url(&admin_url(service_url)?, "addToDefinition");
        let body = definition.to_string();
        // Asked to run asynchronously (ArcGIS Online, Enterprise 11.4+): a large definition takes
        // minutes, and an answer held that long is easily lost. A server that ignores `async`
        // answers as before; one that honours it gives a `statusURL` to poll.
        let answer =
            self.post_form(url.as_str(), &[("addToDefinition", body.as_str()), ("async", "true")], false).await?;
        match status_url_of(&answer) {
            Some(status) => self.definition_job(&url, status).await,
            None => Ok(answer),
        }
    }

    /// Polls an asynchronous definition job until it completes; its final answer (with the
    /// synchronous answer's fields, `layers` among them) is returned. The status URL must be on
    /// one of the org's hosts: the token goes nowhere else, and an answer naming a foreign host
    /// is refused rather than polled without it.
    async fn definition_job(&self, op: &Url, status: &str) -> Result<Value> {
        let status_url = op.join(status).map_err(|_| Error::Decode {
            url: display_url(op),
            detail: "its statusURL is not a valid address".into(),
        })?;
        if !self.is_org_url(&status_url) {
            return Err(Error::Decode {
                url: display_url(op),
                detail: format!("its statusURL points to {}, not to the organization", display_url(&status_url)),
            });
        }
        let deadline = tokio::time::Instant::now() + DEFINITION_JOB_DEADLINE;
        let mut wait = std::time::Duration::from_millis(100);
        loop {
            let v = self.json_at(status_url.clone(), &[]).await?;
            let state = v.get("status").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
            match state.as_str() {
                "completed" => return Ok(v),
                "failed" | "esrijobfailed" | "cancelled" | "esrijobcancelled" | "timedout" | "esrijobtimedout" => {
                    let detail = v.get("error").map(|e| e.to_string()).unwrap_or_default();
                    return Err(Error::Api {
                        code: 500,
                        message: format!("the definition change ended as {state} {detail}").trim().to_owned(),
                        message_code: None,
                        details: vec![],
                    });
                }
                _ => {}
            }
            if tokio::time::Instant::now() + wait > deadline {
                return Err(Error::Timeout {
                    url: display_url(&status_url),
                    what: format!(
                        "the definition change did not finish within {} min",
                        DEFINITION_JOB_DEADLINE.as_secs() / 60
                    ),
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(5));
        }
    }

    /// Changes a hosted service's definition (`updateDefinition`), e.g. its relationships.
    pub async fn update_definition(&self, service_url: &Url, definition: &Value) -> Result<()> {
        let url = sub_url(&admin_url(service_url)?, "updateDefinition");
        let body = definition.to_string();
        self.post_form(url.as_str(), &[("updateDefinition", body.as_str())], true).await?;
        Ok(())
    }

    /// Adds features to a layer (`applyEdits`, at most [`MAX_ADDS_PER_CALL`]); answers, per
    /// sent feature and in order, its new object id and global id, or `None` when the service
    /// refused that one. With `use_global_ids` the sent global ids are kept (`useGlobalIds`),
    /// which only a layer reporting `supportsApplyEditsWithGlobalIds` honours (Esri, "Apply
    /// Edits (Feature Service/Layer)"); elsewhere the service assigns new ones, and the caller
    /// rewrites references to them from the answer.
    pub async fn apply_adds(
        &self,
        service_url: &Url,
        layer: i64,
        adds: &[Value],
        use_global_ids: bool,
    ) -> Result<Vec<Option<(i64, Option<String>)>>> {
        if adds.len() > MAX_ADDS_PER_CALL {
            return Err(Error::Config {
                message: format!("{} adds in one applyEdits; at most {MAX_ADDS_PER_CALL}", adds.len()),
            });
        }
        let url = sub_url(service_url, &format!("{layer}/applyEdits"));
        let body = Value::Array(adds.to_vec()).to_string();
        let v = self
            .post_form(
                url.as_str(),
                &[
                    ("adds", body.as_str()),
                    ("rollbackOnFailure", "true"),
                    ("useGlobalIds", if use_global_ids { "true" } else { "false" }),
                ],
                false,
            )
            .await?;
        let results = v.get("addResults").and_then(Value::as_array).cloned().unwrap_or_default();
        if results.len() != adds.len() {
            return Err(Error::Decode {
                url: display_url(&url),
                detail: format!("{} adds sent, {} results", adds.len(), results.len()),
            });
        }
        Ok(results
            .iter()
            .map(|r| {
                let ok = r.get("success").and_then(Value::as_bool).unwrap_or(false);
                let oid = r.get("objectId").and_then(Value::as_i64);
                let gid = r.get("globalId").and_then(Value::as_str).map(str::to_owned);
                oid.filter(|_| ok).map(|o| (o, gid))
            })
            .collect())
    }

    /// Attaches a file to a feature (`addAttachment`); answers the attachment id.
    pub async fn add_attachment(&self, service_url: &Url, layer: i64, object_id: i64, file: FilePart) -> Result<i64> {
        let url = sub_url(service_url, &format!("{layer}/{object_id}/addAttachment"));
        let mut file = file;
        file.field = "attachment".into();
        let v = self.post_multipart(url.clone(), Vec::new(), vec![file], false).await?;
        let r = v.get("addAttachmentResult").cloned().unwrap_or_default();
        if r.get("success").and_then(Value::as_bool) != Some(true) {
            return Err(Error::Decode { url: display_url(&url), detail: "addAttachment did not succeed".into() });
        }
        r.get("objectId")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::Decode { url: display_url(&url), detail: "addAttachment answered no id".into() })
    }

    /// Features of `layer` whose object id is above `after` (`where <oid_field> > after`), in
    /// object-id order, as `(objectId, GlobalID)`: what an `applyEdits` whose answer was lost
    /// added to a layer only this client writes to. Paged by the service's record limit.
    pub async fn features_after(
        &self,
        service_url: &Url,
        layer: i64,
        oid_field: &str,
        after: i64,
    ) -> Result<Vec<(i64, Option<String>)>> {
        let url = sub_url(service_url, &format!("{layer}/query"));
        let clause = format!("{oid_field} > {after}");
        let order = format!("{oid_field} ASC");
        let mut out = Vec::new();
        loop {
            let offset = out.len().to_string();
            let v = self
                .json_at(
                    url.clone(),
                    &[
                        ("where", clause.as_str()),
                        ("outFields", "*"),
                        ("returnGeometry", "false"),
                        ("orderByFields", order.as_str()),
                        ("resultOffset", offset.as_str()),
                    ],
                )
                .await?;
            let page = v.get("features").and_then(Value::as_array).cloned().unwrap_or_default();
            let before = out.len();
            for f in &page {
                let attrs = f.get("attributes").and_then(Value::as_object);
                let field = |name: &str| {
                    attrs.and_then(|a| a.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()))
                };
                let Some(oid) = field(oid_field).and_then(|v| v.as_i64()) else {
                    return Err(Error::Decode {
                        url: display_url(&url),
                        detail: format!("a feature without {oid_field}"),
                    });
                };
                out.push((oid, field("GlobalID").and_then(|v| v.as_str().map(str::to_owned))));
            }
            let more = v.get("exceededTransferLimit").and_then(Value::as_bool).unwrap_or(false);
            if !more || out.len() == before {
                break;
            }
        }
        out.sort_by_key(|(oid, _)| *oid);
        Ok(out)
    }

    /// Publishes an uploaded package item (`filetype` `fileGeodatabase`, `sqlite` or
    /// `serviceDefinition`) as a hosted feature service named `name`. Poll with
    /// [`Portal::publish_status`]. Not repeated after a lost answer.
    pub async fn publish(&self, owner: &str, file_item_id: &str, filetype: &str, name: &str) -> Result<PublishJob> {
        let url = self.rest_url(&["content", "users", owner, "publish"])?;
        let params = json!({ "name": name, "maxRecordCount": 2000 }).to_string();
        let v = self
            .post_form(
                url.as_str(),
                &[("itemid", file_item_id), ("filetype", filetype), ("publishParameters", params.as_str())],
                false,
            )
            .await?;
        let service = v.get("services").and_then(Value::as_array).and_then(|s| s.first()).cloned().unwrap_or_default();
        if let Some(err) = service.get("error").filter(|e| e.is_object()) {
            return Err(Error::from_error_body(err));
        }
        Ok(PublishJob {
            job_id: str_field(&service, "jobId", &url)?,
            service_item_id: str_field(&service, "serviceItemId", &url)?,
            service_url: url_field(&service, "serviceurl", &url)?,
            owner: owner.to_owned(),
        })
    }

    /// One poll of a publish job.
    pub async fn publish_status(&self, job: &PublishJob) -> Result<JobStatus> {
        self.item_job_status(&job.owner, &job.service_item_id, "publish", &job.job_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_urls_insert_admin_before_services() {
        let u = Url::parse("http://127.0.0.1:9/org1/arcgis/rest/services/Parks/FeatureServer").expect("url");
        assert_eq!(
            admin_url(&u).expect("hosted").as_str(),
            "http://127.0.0.1:9/org1/arcgis/rest/admin/services/Parks/FeatureServer",
            "the admin API sits at rest/admin/services"
        );
        let not_hosted = Url::parse("https://example.com/page").expect("url");
        assert!(admin_url(&not_hosted).is_err(), "a URL without rest/services has no admin URL");
    }
}
