//! Groups and users: create, add members (at most [`MAX_USERS_PER_CALL`] a call), reassign,
//! invite (Online) or createUser (Enterprise), change roles.

use serde_json::{json, Value};

use super::FilePart;
use crate::error::{Error, Result};
use crate::http::display_url;
use crate::model::GroupInfo;
use crate::portal::Portal;
use crate::secret::Secret;

/// Most usernames `addUsers` takes in one call.
pub const MAX_USERS_PER_CALL: usize = 25;

/// A group to create, with the settings `createGroup` takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewGroup {
    pub title: String,
    /// `private`, `org` or `public`.
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
}

/// One user to invite (Online) or create (Enterprise). `Debug` hides the password.
#[derive(Clone, PartialEq)]
pub struct Invitation {
    pub username: String,
    pub password: Secret,
    pub first_name: String,
    pub last_name: String,
    pub full_name: String,
    pub email: String,
    /// `org_admin`, `org_publisher`, `org_user` or a role id of the target org.
    pub role: String,
    pub user_license_type: Option<String>,
    /// Group ids to join at once.
    pub groups: Vec<String>,
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("username", &self.username)
            .field("password", &"***")
            .field("role", &self.role)
            .field("user_license_type", &self.user_license_type)
            .finish_non_exhaustive()
    }
}

fn b(v: bool) -> &'static str {
    if v {
        "true"
    } else {
        "false"
    }
}

impl Portal {
    /// Creates a group owned by the signed-in user (its only member). A title already used
    /// in the org fails with a conflict ([`super::is_conflict`]).
    pub async fn create_group(&self, group: &NewGroup, thumbnail: Option<FilePart>) -> Result<GroupInfo> {
        let url = self.rest_url(&["community", "createGroup"])?;
        let mut params: Vec<(String, String)> = vec![
            ("title".into(), group.title.clone()),
            ("access".into(), if group.access.is_empty() { "private".into() } else { group.access.clone() }),
            ("tags".into(), group.tags.join(",")),
            ("description".into(), group.description.clone()),
            ("snippet".into(), group.snippet.clone()),
            ("isInvitationOnly".into(), b(group.is_invitation_only).into()),
            ("isViewOnly".into(), b(group.is_view_only).into()),
            ("capabilities".into(), group.capabilities.join(",")),
            ("autoJoin".into(), b(group.auto_join).into()),
        ];
        if !group.sort_field.is_empty() {
            params.push(("sortField".into(), group.sort_field.clone()));
        }
        if !group.sort_order.is_empty() {
            params.push(("sortOrder".into(), group.sort_order.clone()));
        }
        let files: Vec<FilePart> = thumbnail
            .into_iter()
            .map(|mut t| {
                t.field = "thumbnail".into();
                t
            })
            .collect();
        let v = self.post_multipart(url.clone(), params, files, false).await?;
        serde_json::from_value(v.get("group").cloned().unwrap_or(Value::Null))
            .map_err(|e| Error::Decode { url: display_url(&url), detail: format!("createGroup answer: {e}") })
    }

    /// Adds `users` as members and `managers` as group managers (`admins`), [`MAX_USERS_PER_CALL`]
    /// per call; answers those not added (unknown users, users already in 512 groups). Adding a
    /// member twice is harmless; a member named as a manager is promoted.
    pub async fn add_group_users(&self, group_id: &str, users: &[String], managers: &[String]) -> Result<Vec<String>> {
        let url = self.rest_url(&["community", "groups", group_id, "addUsers"])?;
        let mut not_added = Vec::new();
        let calls = users
            .chunks(MAX_USERS_PER_CALL)
            .map(|c| ("users", c))
            .chain(managers.chunks(MAX_USERS_PER_CALL).map(|c| ("admins", c)));
        for (field, chunk) in calls {
            let list = chunk.join(",");
            let v = self.post_form(url.as_str(), &[(field, list.as_str())], true).await?;
            not_added.extend(
                v.get("notAdded")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
        }
        Ok(not_added)
    }

    /// Removes members from a group (`removeUsers`); answers those not removed (the owner, or
    /// not members). Repeating it is harmless, so it is retried like a read.
    pub async fn remove_group_users(&self, group_id: &str, users: &[String]) -> Result<Vec<String>> {
        let url = self.rest_url(&["community", "groups", group_id, "removeUsers"])?;
        let mut not_removed = Vec::new();
        for chunk in users.chunks(MAX_USERS_PER_CALL) {
            let list = chunk.join(",");
            let v = self.post_form(url.as_str(), &[("users", list.as_str())], true).await?;
            not_removed.extend(
                v.get("notRemoved")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
        }
        Ok(not_removed)
    }

    /// Makes `target` the group's owner. Nothing is sent when `target` already owns it (the
    /// portal refuses that with an error), and that refusal is also taken as success.
    pub async fn reassign_group(&self, group_id: &str, current_owner: &str, target: &str) -> Result<()> {
        if current_owner == target {
            return Ok(());
        }
        let url = self.rest_url(&["community", "groups", group_id, "reassign"])?;
        match self.post_form(url.as_str(), &[("targetUsername", target)], true).await {
            Ok(_) => Ok(()),
            Err(Error::Api { message, .. }) if message.to_ascii_lowercase().contains("already the owner") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes a group; an already missing group counts as deleted.
    pub async fn delete_group(&self, group_id: &str) -> Result<()> {
        let url = self.rest_url(&["community", "groups", group_id, "delete"])?;
        match self.post_form(url.as_str(), &[], true).await {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Invites users into an Online org (`portals/self/invite`); answers the usernames not
    /// invited (taken anywhere, refused).
    pub async fn invite_users(&self, invitations: &[Invitation]) -> Result<Vec<String>> {
        let url = self.rest_url(&["portals", "self", "invite"])?;
        let list: Vec<Value> = invitations
            .iter()
            .map(|i| {
                json!({
                    "username": i.username, "password": i.password.expose(), "firstname": i.first_name,
                    "lastname": i.last_name, "fullname": i.full_name, "email": i.email, "role": i.role,
                    "userLicenseType": i.user_license_type, "userType": "creator", "groups": i.groups.join(","),
                })
            })
            .collect();
        let body = json!({ "invitations": list }).to_string();
        let v = self.post_form(url.as_str(), &[("invitationList", body.as_str())], false).await?;
        Ok(v.get("notInvited")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect())
    }

    /// Creates a built-in user on Enterprise (`portaladmin/security/users/createUser`).
    pub async fn create_user_enterprise(&self, i: &Invitation) -> Result<()> {
        let url = self
            .portal_url()
            .join("portaladmin/security/users/createUser")
            .map_err(|e| Error::Config { message: format!("bad portal URL ({e})") })?;
        let license = i.user_license_type.clone().unwrap_or_default();
        let params = [
            ("username", i.username.as_str()),
            ("password", i.password.expose()),
            ("firstname", i.first_name.as_str()),
            ("lastname", i.last_name.as_str()),
            ("fullname", i.full_name.as_str()),
            ("email", i.email.as_str()),
            ("role", i.role.as_str()),
            ("userLicenseTypeId", license.as_str()),
        ];
        self.post_form(url.as_str(), &params, false).await?;
        Ok(())
    }

    /// Sets a user's role (`portals/self/updateuserrole`).
    pub async fn update_user_role(&self, username: &str, role: &str) -> Result<()> {
        let url = self.rest_url(&["portals", "self", "updateuserrole"])?;
        self.post_form(url.as_str(), &[("user", username), ("role", role)], true).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_debug_hides_the_password() {
        let i = Invitation {
            username: "ann".into(),
            password: Secret::new("hunter2-very-secret".to_owned()),
            first_name: String::new(),
            last_name: String::new(),
            full_name: String::new(),
            email: String::new(),
            role: "org_user".into(),
            user_license_type: None,
            groups: vec![],
        };
        let shown = format!("{i:?}");
        assert!(!shown.contains("hunter2"), "an invitation's Debug must not show the password: {shown}");
        assert!(shown.contains("ann"), "it still names the user: {shown}");
    }
}
