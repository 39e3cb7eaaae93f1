//! The JSON Online answers for items, users and groups (camelCase, Online's field names), and how
//! the query language sees each of them.

use serde_json::{json, Value};

use crate::generate::item_file_key;
use crate::model::{Audience, Group, Item, Org, User};
use crate::search::{exact_matches, text_matches, Searchable};

/// A stable pseudo view count (the model does not track views).
pub fn num_views(item: &Item) -> u64 {
    crate::generate::stable_hash_of(&item.id) % 5000
}

/// `itemControl` as Online reports it for the caller: `admin` for the owner and org admins,
/// `update` through a shared-update group, absent otherwise.
fn item_control(org: &Org, item: &Item, aud: &Audience) -> Option<&'static str> {
    if aud.username.as_deref() == Some(item.owner.as_str()) || (aud.org_admin && aud.is_member_of_org(&org.id)) {
        return Some("admin");
    }
    let update = item.shared_groups.iter().any(|g| {
        aud.groups.contains(g)
            && org.groups.get(g).is_some_and(|g| g.capabilities.iter().any(|c| c == "updateitemcontrol"))
    });
    update.then_some("update")
}

/// The full item JSON of `/content/items/{id}` and search results.
pub fn item_json(org: &Org, item: &Item, aud: &Audience) -> Value {
    let mut v = json!({
        "id": item.id,
        "owner": item.owner,
        "orgId": org.id,
        "created": item.created,
        "isOrgItem": true,
        "modified": item.modified,
        "guid": null,
        "name": item.data.file_name(),
        "title": item.title,
        "type": item.item_type,
        "typeKeywords": item.type_keywords,
        "description": item.description,
        "tags": item.tags,
        "snippet": item.snippet,
        "thumbnail": item.thumbnail,
        "documentation": null,
        "extent": item.extent,
        "categories": item.categories,
        "spatialReference": item.spatial_reference,
        "accessInformation": item.access_information,
        "licenseInfo": item.license_info,
        "culture": "en-us",
        "properties": item.properties,
        "advancedSettings": null,
        "url": item.url,
    });
    let more = json!({
        "proxyFilter": null,
        "access": item.access,
        "size": item.data.len(),
        "subInfo": 0,
        "appCategories": [],
        "industries": [],
        "languages": [],
        "largeThumbnail": null,
        "banner": null,
        "screenshots": [],
        "listed": false,
        "ownerFolder": item.owner_folder,
        "protected": item.protected,
        "commentsEnabled": false,
        "numComments": 0,
        "numRatings": 0,
        "avgRating": 0,
        "numViews": num_views(item),
        "scoreCompleteness": if item.thumbnail.is_some() { 78 } else { 55 },
        "groupDesignations": null,
        "contentOrigin": item.content_origin,
        "lastViewed": item.modified,
    });
    if let (Some(a), Value::Object(b)) = (v.as_object_mut(), more) {
        a.extend(b);
    }
    if item.uploads.multipart.is_some() {
        v["status"] = json!("partial");
    }
    if let Some(control) = item_control(org, item, aud) {
        v["itemControl"] = json!(control);
    }
    v
}

/// Same stable id for a username in every run (users have ids on Online too).
fn user_id(username: &str) -> String {
    format!(
        "{:016x}{:016x}",
        crate::generate::stable_hash_of(username),
        crate::generate::stable_hash_of(&username.to_uppercase())
    )
}

/// User JSON. `private` adds what only the user and admins see (email, privileges, usage).
pub fn user_json(org: &Org, user: &User, private: bool) -> Value {
    let (first, last) = user.full_name.split_once(' ').unwrap_or((user.full_name.as_str(), ""));
    let mut v = json!({
        "username": user.username,
        "udn": null,
        "id": user_id(&user.username),
        "fullName": user.full_name,
        "firstName": first,
        "lastName": last,
        "description": "",
        "tags": [],
        "culture": "en",
        "cultureFormat": "us",
        "region": "WO",
        "units": "metric",
        "thumbnail": null,
        "access": "org",
        "created": user.created,
        "modified": user.modified,
        "provider": user.provider,
        "orgId": org.id,
        "role": user.role.as_str(),
        "level": "2",
        "userLicenseTypeId": user.user_license_type_id,
        "disabled": user.disabled,
    });
    if let Some(role_id) = &user.role_id {
        v["roleId"] = json!(role_id);
    }
    if private {
        v["email"] = json!(user.email);
        v["idpUsername"] = json!(user.idp_username);
        v["privileges"] = json!(user.privileges);
        v["lastLogin"] = json!(user.last_login);
        v["mfaEnabled"] = json!(false);
        v["storageUsage"] =
            json!(org.items.values().filter(|i| i.owner == user.username).map(|i| i.data.len()).sum::<u64>());
        v["storageQuota"] = json!(2_199_023_255_552u64);
        v["userType"] = json!("both");
    }
    v
}

/// Group JSON, with `userMembership` for the caller.
pub fn group_json(org: &Org, group: &Group, aud: &Audience) -> Value {
    let member_type = aud.username.as_deref().map_or("none", |u| group.member_type(u));
    json!({
        "id": group.id,
        "title": group.title,
        "isInvitationOnly": group.is_invitation_only,
        "owner": group.owner,
        "description": group.description,
        "snippet": group.snippet,
        "tags": group.tags,
        "typeKeywords": [],
        "phone": null,
        "sortField": group.sort_field,
        "sortOrder": group.sort_order,
        "isViewOnly": group.is_view_only,
        "isOpenData": false,
        "featuredItemsId": null,
        "thumbnail": group.thumbnail,
        "created": group.created,
        "modified": group.modified,
        "access": group.access,
        "capabilities": group.capabilities,
        "isFav": false,
        "isReadOnly": false,
        "protected": false,
        "autoJoin": group.auto_join,
        "notificationsEnabled": false,
        "provider": null,
        "providerGroupName": null,
        "leavingDisallowed": false,
        "hiddenMembers": false,
        "displaySettings": { "itemTypes": "" },
        "orgId": org.id,
        "userMembership": { "username": aud.username, "memberType": member_type, "applications": 0 },
    })
}

/// An item as the query language sees it.
pub struct ItemDoc<'a> {
    pub org: &'a Org,
    pub item: &'a Item,
}

impl Searchable for ItemDoc<'_> {
    fn field_matches(&self, field: &str, value: &str) -> bool {
        let i = self.item;
        match field {
            "id" => exact_matches(&i.id, value),
            "owner" => exact_matches(&i.owner, value),
            "orgid" => exact_matches(&self.org.id, value),
            "type" => exact_matches(&i.item_type, value),
            "typekeywords" => i.type_keywords.iter().any(|k| exact_matches(k, value)),
            "title" => text_matches(&i.title, value),
            "tags" => i.tags.iter().any(|t| exact_matches(t, value)),
            "snippet" => text_matches(&i.snippet, value),
            "description" => text_matches(&i.description, value),
            "access" => exact_matches(&i.access, value),
            "accessinformation" => i.access_information.as_deref().is_some_and(|a| text_matches(a, value)),
            "group" => i.shared_groups.iter().any(|g| exact_matches(g, value)),
            "name" => i.data.file_name().is_some_and(|n| exact_matches(n, value)),
            "url" => i.url.as_deref().is_some_and(|u| text_matches(u, value)),
            "ownerfolder" => i.owner_folder.as_deref().is_some_and(|f| exact_matches(f, value)),
            _ => false,
        }
    }

    fn time_field(&self, field: &str) -> Option<i64> {
        match field {
            "created" => Some(self.item.created),
            "modified" => Some(self.item.modified),
            _ => None,
        }
    }

    fn text_matches(&self, value: &str) -> bool {
        let i = self.item;
        text_matches(&i.title, value)
            || text_matches(&i.snippet, value)
            || i.tags.iter().any(|t| text_matches(t, value))
    }
}

/// A group as the query language sees it.
pub struct GroupDoc<'a> {
    pub org: &'a Org,
    pub group: &'a Group,
}

impl Searchable for GroupDoc<'_> {
    fn field_matches(&self, field: &str, value: &str) -> bool {
        let g = self.group;
        match field {
            "id" => exact_matches(&g.id, value),
            "owner" => exact_matches(&g.owner, value),
            "orgid" => exact_matches(&self.org.id, value),
            "title" => text_matches(&g.title, value),
            "tags" => g.tags.iter().any(|t| exact_matches(t, value)),
            "access" => exact_matches(&g.access, value),
            "snippet" => text_matches(&g.snippet, value),
            "description" => text_matches(&g.description, value),
            _ => false,
        }
    }

    fn time_field(&self, field: &str) -> Option<i64> {
        match field {
            "created" => Some(self.group.created),
            "modified" => Some(self.group.modified),
            _ => None,
        }
    }

    fn text_matches(&self, value: &str) -> bool {
        text_matches(&self.group.title, value)
            || text_matches(&self.group.snippet, value)
            || self.group.tags.iter().any(|t| text_matches(t, value))
    }
}

/// A user as the query language sees it.
pub struct UserDoc<'a> {
    pub org: &'a Org,
    pub user: &'a User,
}

impl Searchable for UserDoc<'_> {
    fn field_matches(&self, field: &str, value: &str) -> bool {
        let u = self.user;
        match field {
            "username" => exact_matches(&u.username, value),
            "fullname" => text_matches(&u.full_name, value),
            "email" => exact_matches(&u.email, value),
            "role" => {
                exact_matches(u.role.as_str(), value) || u.role_id.as_deref().is_some_and(|r| exact_matches(r, value))
            }
            // `accountid` is the org id under the name the user search documents (Esri's
            // Python client adds `accountid:<org id>` to every `gis.users.search`).
            "orgid" | "accountid" => exact_matches(&self.org.id, value),
            "provider" => exact_matches(&u.provider, value),
            "usertypeid" | "userlicensetype" => exact_matches(&u.user_license_type_id, value),
            "disabled" => exact_matches(if u.disabled { "true" } else { "false" }, value),
            _ => false,
        }
    }

    fn time_field(&self, field: &str) -> Option<i64> {
        match field {
            "created" => Some(self.user.created),
            "modified" => Some(self.user.modified),
            "lastlogin" => Some(self.user.last_login),
            _ => None,
        }
    }

    fn text_matches(&self, value: &str) -> bool {
        text_matches(&self.user.username, value)
            || text_matches(&self.user.full_name, value)
            || text_matches(&self.user.email, value)
    }
}

/// Orders items by Online's `sortField` (first of a comma list) and `sortOrder`, ties by id so
/// that paging is stable (reversed with the order). Without a sort field, id order stands in for
/// relevance. Keys are computed once per item: a JSON item's size means serializing it.
pub fn sort_items(items: &mut [(&Org, &Item)], sort_field: Option<&str>, sort_order: Option<&str>) {
    let field = sort_field.and_then(|f| f.split(',').next()).map(|f| f.trim().to_lowercase()).unwrap_or_default();
    let key = |i: &Item| -> (i64, String, String) {
        let (n, s) = match field.as_str() {
            "created" => (i.created, String::new()),
            "modified" => (i.modified, String::new()),
            "numviews" => (num_views(i) as i64, String::new()),
            "size" => (i.data.len() as i64, String::new()),
            "title" => (0, i.title.to_lowercase()),
            "owner" => (0, i.owner.clone()),
            "type" => (0, i.item_type.clone()),
            _ => (0, String::new()),
        };
        (n, s, i.id.clone())
    };
    items.sort_by_cached_key(|(_, i)| key(i));
    if sort_order.is_some_and(|o| o.eq_ignore_ascii_case("desc")) {
        items.reverse();
    }
}

/// The key a generated item file is produced under (kept here so `/data` and tests agree).
pub fn data_key(item: &Item, file_name: &str) -> String {
    item_file_key(&item.id, file_name)
}
