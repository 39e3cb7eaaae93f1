//! Users and groups: invited (Online) or created (Enterprise), matched when they exist; groups
//! created or matched, their owner set by reassign (skipped when already right), members added
//! 25 a call.

use arcgis::write::{Invitation, NewGroup};
use arcgis::Secret;
use rand::Rng;
use serde_json::{json, Value};

use super::journal::EntryKind;
use super::plan::{Action, PlannedGroup, PlannedUser};
use super::run::{maybe_applied, Done, Run, Stop};
use crate::repo::{GroupEntry, UserEntry};

fn text(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A random password for an invited user; never stored or shown (users reset it).
fn random_password() -> Secret {
    let mut rng = rand::thread_rng();
    let s: String = (0..24)
        .map(|_| char::from(b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rng.gen_range(0..56)]))
        .collect();
    Secret::new(format!("{s}#9a"))
}

pub(crate) async fn restore_user(run: &Run<'_>, plan: &PlannedUser, entry: &UserEntry) -> Result<Done, Stop> {
    match &plan.action {
        Action::Skip { reason, .. } => return Ok(Done::Skipped(reason.clone())),
        Action::Match { .. } | Action::Update { .. } => return Ok(Done::Skipped("exists in the target".into())),
        Action::Create => {}
    }
    let profile = run.blob_json(&entry.profile).await?;
    let full = if entry.full_name.is_empty() { plan.target_username.clone() } else { entry.full_name.clone() };
    let (first, last) =
        full.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())).unwrap_or((full.clone(), String::new()));
    let role = match plan.role.as_str() {
        "org_admin" | "org_publisher" | "org_user" => plan.role.clone(),
        "" => "org_user".into(),
        other => other.to_owned(),
    };
    let invitation = Invitation {
        username: plan.target_username.clone(),
        password: random_password(),
        first_name: first,
        last_name: last,
        full_name: full,
        email: text(&profile, "email"),
        role,
        user_license_type: plan.license_type.clone(),
        groups: Vec::new(),
    };
    let result = if run.portal.self_info().is_portal {
        run.portal.create_user_enterprise(&invitation).await.map(|_| Vec::new())
    } else {
        run.portal.invite_users(std::slice::from_ref(&invitation)).await
    };
    match result {
        Ok(not) if not.contains(&plan.target_username) => {
            return Err(Stop::Failed(format!(
                "{} was not invited (the name is taken elsewhere?)",
                plan.target_username
            )))
        }
        Ok(_) => {}
        Err(e) if maybe_applied(&e) => {
            if run.portal.user(&plan.target_username).await.is_err() {
                return Err(Stop::portal("inviting the user", e));
            }
        }
        Err(e) => return Err(Stop::portal("inviting the user", e)),
    }
    run.journal.record(EntryKind::User, &entry.username, &plan.target_username, true, &json!({})).await?;
    Ok(Done::Created)
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    match v.get(k) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(s)) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Creates or matches one group and its people; answers the target group id with the outcome.
pub(crate) async fn restore_group(
    run: &Run<'_>,
    plan: &PlannedGroup,
    entry: &GroupEntry,
) -> (Option<String>, Result<Done, Stop>) {
    let me = run.portal.self_info().user.as_ref().map(|u| u.username.clone()).unwrap_or_default();
    let (gid, created, current_owner) = match &plan.action {
        Action::Skip { reason, target_id } => return (target_id.clone(), Ok(Done::Skipped(reason.clone()))),
        Action::Match { target_id } => (target_id.clone(), false, None),
        Action::Update { target_id } => (target_id.clone(), false, Some(me.clone())),
        Action::Create => {
            let settings = match run.blob_json(&entry.settings).await {
                Ok(s) => s,
                Err(e) => return (None, Err(e)),
            };
            let group = NewGroup {
                title: plan.target_title.clone(),
                access: text(&settings, "access"),
                tags: strings(&settings, "tags"),
                description: run.rewriter().rewrite_str(&text(&settings, "description")),
                snippet: text(&settings, "snippet"),
                is_invitation_only: settings.get("isInvitationOnly").and_then(Value::as_bool).unwrap_or(false),
                is_view_only: settings.get("isViewOnly").and_then(Value::as_bool).unwrap_or(false),
                sort_field: text(&settings, "sortField"),
                sort_order: text(&settings, "sortOrder"),
                capabilities: strings(&settings, "capabilities"),
                auto_join: settings.get("autoJoin").and_then(Value::as_bool).unwrap_or(false),
            };
            let thumb = match &entry.thumbnail {
                Some(t) => match run.blob(&t.blob).await {
                    Ok(bytes) => Some(arcgis::write::FilePart {
                        field: "thumbnail".into(),
                        file_name: t.name.clone(),
                        content_type: "image/png".into(),
                        bytes,
                    }),
                    Err(e) => return (None, Err(e)),
                },
                None => None,
            };
            let made = match run.portal.create_group(&group, thumb).await {
                Ok(g) => g.id,
                Err(e) if maybe_applied(&e) || arcgis::write::is_conflict(&e) => {
                    // A lost answer (or a race): the title is unique in the org, so look it up.
                    match run.portal.org_groups().await {
                        Ok(gs) => match gs.into_iter().find(|g| g.title == plan.target_title) {
                            Some(g) => g.id,
                            None => return (None, Err(Stop::portal("creating the group", e))),
                        },
                        Err(e2) => return (None, Err(Stop::portal("looking for the group", e2))),
                    }
                }
                Err(e) => return (None, Err(Stop::portal("creating the group", e))),
            };
            if let Err(e) = run.journal.record(EntryKind::Group, &entry.id, &made, false, &json!({})).await {
                return (Some(made), Err(e.into()));
            }
            (made, true, Some(me.clone()))
        }
    };
    run.map_id(&entry.id, &gid);
    // A group this restore made (now, or by an earlier attempt or run: `Update` comes only from
    // the journal or a lost create answer) has its creator in it; one it matched is left alone.
    let ours = created || current_owner.is_some();
    let people = async {
        let mut members: Vec<String> = plan.members.iter().filter(|u| !plan.managers.contains(u)).cloned().collect();
        if ours && plan.owner != me {
            // The creator owns the group at first: the real owner joins, then takes it over.
            members.push(plan.owner.clone());
        }
        members.sort();
        members.dedup();
        let not_added = run
            .portal
            .add_group_users(&gid, &members, &plan.managers)
            .await
            .map_err(|e| Stop::portal("adding members", e))?;
        if let Some(cur) = &current_owner {
            run.portal
                .reassign_group(&gid, cur, &plan.owner)
                .await
                .map_err(|e| Stop::portal("setting the owner", e))?;
        }
        // Once the owner holds it, the creator leaves, unless the backup has them in it (then in
        // their role: the previous owner stays as a plain member).
        if ours && plan.owner != me {
            let just_me = std::slice::from_ref(&me);
            let done = if !plan.members.contains(&me) {
                run.portal.remove_group_users(&gid, just_me).await
            } else if plan.managers.contains(&me) {
                run.portal.add_group_users(&gid, &[], just_me).await
            } else {
                Ok(Vec::new())
            };
            done.map_err(|e| Stop::portal("leaving the group after handing it over", e))?;
        }
        run.journal.record(EntryKind::Group, &entry.id, &gid, true, &json!({})).await?;
        if not_added.is_empty() {
            Ok(())
        } else {
            Err(Stop::Failed(format!("not added to the group: {}", not_added.join(", "))))
        }
    }
    .await;
    let done = match people {
        Ok(()) if created => Ok(Done::Created),
        Ok(()) => Ok(Done::Updated),
        Err(e) => Err(e),
    };
    (Some(gid), done)
}
