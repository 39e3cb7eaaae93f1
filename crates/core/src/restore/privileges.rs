//! What the signed-in account of the target must be allowed to do for a plan, checked when the
//! plan is made: a full administrator may do everything; a custom administrator role only what
//! its privileges grant (Esri, "Privileges" / "Set Role Privileges" in the REST API reference:
//! the `portal:admin:*` privileges act on other members' content, users and groups, the
//! `portal:user:*` and `portal:publisher:*` ones on the account's own). The plan names each
//! missing privilege with what needs it, and the apply refuses to start while any is missing:
//! a restore that would fail on its first write to another member's content is better not begun.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::plan::{Action, ItemMethod, PlannedGroup, PlannedItem, PlannedUser};
use crate::repo::ItemEntry;

/// What a custom role can never hold: the full Administrator role.
pub const ADMINISTRATOR_ROLE: &str = "the Administrator role (org_admin without a custom role)";

/// A privilege the target account lacks, and what of the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MissingPrivilege {
    pub privilege: String,
    pub needed_for: String,
}

/// Whether `user` is a full administrator (the `org_admin` role without a custom role id).
pub fn is_full_admin(user: &arcgis::PortalUser) -> bool {
    user.role.as_deref() == Some("org_admin") && user.role_id.as_deref().is_none_or(str::is_empty)
}

/// The privileges `user` lacks for the plan's writes, each with what needs it (the first such
/// element and how many). `entries` are the snapshot's items by id, for their sharing.
pub(crate) fn missing(
    user: Option<&arcgis::PortalUser>,
    items: &[PlannedItem],
    users: &[PlannedUser],
    groups: &[PlannedGroup],
    entries: &BTreeMap<&str, &ItemEntry>,
) -> Vec<MissingPrivilege> {
    let Some(user) = user else {
        return vec![MissingPrivilege { privilege: "a signed-in account".into(), needed_for: "every write".into() }];
    };
    if is_full_admin(user) {
        return Vec::new();
    }
    let me = user.username.as_str();
    let mut needs: BTreeMap<&'static str, (String, usize)> = BTreeMap::new();
    let mut need = |privilege: &'static str, what: String| {
        needs.entry(privilege).or_insert_with(|| (what, 0)).1 += 1;
    };
    for i in items.iter().filter(|i| matches!(i.action, Action::Create | Action::Update { .. })) {
        let whose = if i.target_owner == me { "own" } else { "another member's" };
        let what = format!("{} “{}” in {whose} content", i.item_type, i.target_title);
        if i.target_owner == me {
            need("portal:user:createItem", what.clone());
        } else {
            need("portal:admin:updateItems", what.clone());
        }
        if matches!(i.method, ItemMethod::Publish | ItemMethod::CreateService | ItemMethod::PublishDefinition) {
            need("portal:publisher:publishFeatures", format!("publishing the hosted layer “{}”", i.target_title));
        }
        if i.method == ItemMethod::PublishPackage {
            let p = if i.item_type == "Scene Service" {
                "portal:publisher:publishScenes"
            } else {
                "portal:publisher:publishTiles"
            };
            need(p, format!("publishing the hosted layer “{}” from its package", i.target_title));
        }
        let Some(entry) = entries.get(i.source_id.as_str()) else { continue };
        let share = |admin: &'static str, own: &'static str| if i.target_owner == me { own } else { admin };
        match entry.sharing.access.as_str() {
            "public" => need(
                share("portal:admin:shareToPublic", "portal:user:shareToPublic"),
                format!("sharing “{}” publicly", i.target_title),
            ),
            "org" => need(
                share("portal:admin:shareToOrg", "portal:user:shareToOrg"),
                format!("sharing “{}” with the organization", i.target_title),
            ),
            _ => {}
        }
        if !entry.sharing.groups.is_empty() && !groups.is_empty() {
            need(
                share("portal:admin:shareToGroup", "portal:user:shareToGroup"),
                format!("sharing “{}” with groups", i.target_title),
            );
        }
    }
    for u in users.iter().filter(|u| matches!(u.action, Action::Create)) {
        need("portal:admin:inviteUsers", format!("adding the member {}", u.target_username));
        // Only the Administrator role itself may make an administrator (Esri: changeUserRoles
        // "does not grant the ability to promote a member to ... the Administrator role").
        if u.role == "org_admin" {
            need(ADMINISTRATOR_ROLE, format!("adding {} as an administrator", u.target_username));
        }
    }
    for g in groups.iter().filter(|g| matches!(g.action, Action::Create | Action::Update { .. })) {
        need("portal:user:createGroup", format!("creating the group “{}”", g.target_title));
        if g.owner != me {
            need("portal:admin:reassignGroups", format!("giving the group “{}” to {}", g.target_title, g.owner));
        }
        if !g.members.is_empty() {
            need("portal:admin:assignToGroups", format!("adding members to the group “{}”", g.target_title));
        }
    }
    let held: BTreeSet<&str> = user.privileges.iter().map(String::as_str).collect();
    needs
        .into_iter()
        .filter(|(p, _)| !held.contains(p))
        .map(|(p, (what, n))| MissingPrivilege {
            privilege: p.to_owned(),
            needed_for: if n > 1 { format!("{what} and {} more", n - 1) } else { what },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(role: &str, role_id: Option<&str>, privileges: &[&str]) -> arcgis::PortalUser {
        arcgis::PortalUser {
            username: "me".into(),
            role: Some(role.into()),
            role_id: role_id.map(str::to_owned),
            privileges: privileges.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        }
    }

    fn user(name: &str, role: &str) -> PlannedUser {
        PlannedUser {
            source_username: name.into(),
            target_username: name.into(),
            action: Action::Create,
            role: role.into(),
            license_type: None,
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_full_administrator_lacks_nothing_and_a_view_only_role_lacks_what_each_write_needs() {
        let users = vec![user("ann", "org_admin"), user("bob", "org_user")];
        let none = BTreeMap::new();
        assert!(missing(Some(&account("org_admin", None, &[])), &[], &users, &[], &none).is_empty());
        let viewer = account("org_admin", Some("custom1"), &["portal:admin:viewUsers", "portal:admin:viewItems"]);
        let got = missing(Some(&viewer), &[], &users, &[], &none);
        let names: Vec<&str> = got.iter().map(|m| m.privilege.as_str()).collect();
        assert_eq!(names, vec!["portal:admin:inviteUsers", ADMINISTRATOR_ROLE], "sorted, each once");
        assert_eq!(got[0].needed_for, "adding the member ann and 1 more", "what needs it, counted");
        let inviter = account("org_admin", Some("custom2"), &["portal:admin:inviteUsers"]);
        let got = missing(Some(&inviter), &[], &users, &[], &none);
        assert_eq!(got.len(), 1, "a custom role may invite, but never make an administrator: {got:?}");
        assert_eq!(got[0].needed_for, "adding ann as an administrator");
    }
}
