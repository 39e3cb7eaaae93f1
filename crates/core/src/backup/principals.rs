//! Users, groups and the organization itself. Users and groups come from the catalog (the scan
//! read them moments ago) so they cost no request; a group's thumbnail and the org's
//! `portals/self` and hosting URLs are fetched.

use serde_json::Value;

use super::facts::Facts;
use super::run::{Download, Run, Stop};
use crate::catalog::MemberType;
use crate::repo::{FileEntry, FolderRef, GroupEntry, OrgRecord, UserEntry};

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// One user from the catalog: profile, role, license, memberships and folders. No request.
pub(crate) async fn capture_user(
    run: &Run<'_>,
    username: &str,
    json: &Value,
    facts: &Facts,
    previous: Option<&UserEntry>,
) -> Result<UserEntry, Stop> {
    let profile = run.store_json_known(json, previous.map(|p| &p.profile)).await?;
    Ok(UserEntry {
        username: username.to_owned(),
        full_name: text(json, "fullName").unwrap_or_default(),
        role: text(json, "role").unwrap_or_default(),
        role_id: text(json, "roleId"),
        license_type: text(json, "userLicenseTypeId"),
        groups: facts.groups_of(username).into_iter().map(|(g, _)| g).collect(),
        folders: facts.folders_of(username).into_iter().map(|(id, title)| FolderRef { id, title }).collect(),
        profile,
        thumbnail: None,
    })
}

/// One group: settings and people from the catalog, its thumbnail fetched unless the previous
/// snapshot holds it for an unchanged group.
pub(crate) async fn capture_group(
    run: &Run<'_>,
    group_id: &str,
    json: &Value,
    facts: &Facts,
    previous: Option<&GroupEntry>,
) -> Result<GroupEntry, Stop> {
    let settings = run.store_json_known(json, previous.map(|p| &p.settings)).await?;
    let people = facts.members.get(group_id).cloned().unwrap_or_default();
    let owner = people
        .iter()
        .find(|(_, r)| *r == MemberType::Owner)
        .map(|(u, _)| u.clone())
        .or_else(|| text(json, "owner"))
        .unwrap_or_default();
    let thumbnail = match text(json, "thumbnail") {
        None => None,
        Some(name) => {
            let file = name.rsplit('/').next().unwrap_or(&name).to_owned();
            let reusable = previous
                .filter(|p| p.settings == settings)
                .and_then(|p| p.thumbnail.clone())
                .filter(|t| t.name == file);
            match reusable {
                Some(t) => Some(t),
                None => fetch_group_thumbnail(run, group_id, &name, file).await?,
            }
        }
    };
    Ok(GroupEntry {
        id: group_id.to_owned(),
        title: text(json, "title").unwrap_or_default(),
        owner,
        admins: people.iter().filter(|(_, r)| *r == MemberType::Admin).map(|(u, _)| u.clone()).collect(),
        members: people.iter().filter(|(_, r)| *r == MemberType::Member).map(|(u, _)| u.clone()).collect(),
        settings,
        thumbnail,
        content: facts.content_of(group_id),
    })
}

async fn fetch_group_thumbnail(
    run: &Run<'_>,
    group_id: &str,
    path: &str,
    file: String,
) -> Result<Option<FileEntry>, Stop> {
    let mut segments = vec!["community", "groups", group_id, "info"];
    segments.extend(path.split('/').filter(|s| !s.is_empty() && *s != "." && *s != ".."));
    let url = run.portal.rest_url(&segments).map_err(|e| Stop::Failed(format!("the thumbnail URL: {e}")))?;
    match run
        .download(Download::File(&format!("group {group_id} (its thumbnail)")), || run.portal.get_stream(&url, &[]))
        .await?
    {
        Ok(blob) => Ok(Some(FileEntry { name: file, blob })),
        Err(arcgis::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(Stop::portal("reading the group thumbnail", e)),
    }
}

/// `portals/self` (as the portal answers it now) and `portals/<id>/urls`.
pub(crate) async fn capture_org(run: &Run<'_>) -> Result<OrgRecord, Stop> {
    let me = run
        .cancellable(run.portal.get_json("portals/self", &[]))
        .await?
        .map_err(|e| Stop::portal("reading portals/self", e))?;
    let portal_self = Some(run.store_json(&me).await?);
    let path = format!("portals/{}/urls", run.portal.org_id());
    // Enterprise has no hosting-URL list of that shape; the backup is still whole without it.
    let urls = match run.cancellable(run.portal.get_json(&path, &[])).await? {
        Ok(v) => Some(run.store_json(&v).await?),
        Err(e) => {
            tracing::warn!("the organization's hosting URLs could not be read: {e}");
            None
        }
    };
    Ok(OrgRecord { portal_self, urls })
}
