//! Another attempt at a subject whose failure may pass (throttling, 5xx, a lost connection, an
//! expired token) within the same run, under the run's `arcgis::RetryPolicy` (the options'
//! `attempts`, `retry_base`, `max_retry_after`; see `arcgis::retry`).
//!
//! A repeated attempt never sends a create blindly: it first asks the journal and the target
//! what the earlier attempt made, exactly as a resumed run does (see `prepare`). An item made
//! earlier is updated instead of made again; an ordinary item whose create answer was lost is
//! found by its marker; a half-made hosted service is deleted and made again (which features
//! went in cannot be told), one whose create answer was lost is found by its journaled name.

use std::future::Future;

use serde_json::Value;

use super::hosted::remove_packages;
use super::hosted::restore_service;
use super::item::{adopt_by_marker, restore_item};
use super::journal::EntryKind;
use super::ownership::{lost_service, made_as_journaled, row_server_kind, SKEW_MS};
use super::plan::{serves_as, Action, ItemMethod, PlannedGroup, PlannedItem, PlannedUser, TargetState};
use super::principals::{restore_group, restore_user};
use super::run::{Done, Run, Stop};
use crate::repo::{GroupEntry, ItemEntry, UserEntry};

/// Runs `attempt` until it succeeds, fails for good, or the attempts are used up (the run's
/// [`RetryPolicy`](arcgis::RetryPolicy)). The last passing failure is reported as a failure
/// naming the number of attempts.
pub(crate) async fn with_retries<T, F, Fut>(run: &Run<'_>, what: &str, attempt: F) -> Result<T, Stop>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Stop>>,
{
    arcgis::retry(&run.retry(), what, attempt).await.map_err(|s| s.gave_up(run.retry.max_attempts.max(1)))
}

/// Restores one item (ordinary or hosted service), trying again while it fails for a passing
/// reason. An item this run made counts as created even when a later attempt only updated it.
pub(crate) async fn item(
    run: &Run<'_>,
    plan: &PlannedItem,
    entry: &ItemEntry,
    json: &Value,
    data: Option<&Value>,
) -> Result<Done, Stop> {
    let r = with_retries(run, &plan.source_id, |attempt| async move {
        let replanned;
        let p = if attempt == 0 {
            plan
        } else {
            replanned = replan_item(run, plan).await?;
            &replanned
        };
        if p.method != ItemMethod::Item && matches!(p.action, Action::Create) {
            restore_service(run, p, entry, json).await
        } else {
            restore_item(run, p, entry, json, data).await
        }
    })
    .await;
    match r {
        Ok(Done::Updated) if matches!(plan.action, Action::Create) => Ok(Done::Created),
        r => r,
    }
}

/// What to do with an item after an attempt failed midway: what that attempt made decides.
async fn replan_item(run: &Run<'_>, plan: &PlannedItem) -> Result<PlannedItem, Stop> {
    let mut next = plan.clone();
    // Updates and skips are safe to repeat as planned.
    if !matches!(plan.action, Action::Create) {
        return Ok(next);
    }
    if let Some(j) = run.journal.get(EntryKind::Item, &plan.source_id).await?.filter(|j| !j.target_id.is_empty()) {
        // The row may be one the plan already refused (the item changed owner since, or is gone):
        // what it names is taken over or deleted only while the target still proves it ours.
        let ours = match run.portal.item(&j.target_id).await {
            Ok(info) => made_as_journaled(&info, &j, SKEW_MS),
            Err(arcgis::Error::NotFound { .. }) => false,
            Err(e) => return Err(Stop::portal("reading what an earlier attempt made", e)),
        };
        if !ours {
            return Ok(next);
        }
        let complete = j.detail.get("content").and_then(Value::as_bool).unwrap_or(false);
        if plan.method != ItemMethod::Item && !complete {
            next.replaces = Some(j.target_id);
        } else {
            next.replaces = None;
            next.action = Action::Update { target_id: j.target_id };
        }
        return Ok(next);
    }
    if plan.method == ItemMethod::Item {
        if let Some(found) = adopt_by_marker(run, &plan.source_id, &plan.target_owner).await? {
            next.action = Action::Update { target_id: found };
        }
        return Ok(next);
    }
    // A hosted service with no journaled item: a package upload or a publish / createService
    // whose answer was lost may have left something behind.
    let journaled = run.journal.get(EntryKind::Upload, &plan.source_id).await?;
    if journaled.as_ref().is_some_and(|u| u.detail.get("package").and_then(Value::as_bool) == Some(true)) {
        remove_packages(run, &run.upload_keyword(&plan.source_id), &plan.target_owner).await;
    }
    let name = journaled
        .as_ref()
        .and_then(|u| u.detail.get("service_name"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| plan.service_name.clone());
    if let (Some(name), Some(row)) = (name, journaled) {
        let free = run
            .portal
            .is_service_name_available(&name)
            .await
            .map_err(|e| Stop::portal("checking the service name", e))?;
        if !free {
            // The owner's content listing first: it is current at once, while search lags
            // behind the create whose answer was lost. Search still shows another user's service
            // holding the name (which is never replaced).
            let mut items = run
                .portal
                .owned_items(&plan.target_owner)
                .await
                .map_err(|e| Stop::portal("looking for the service", e))?;
            items.extend(
                run.portal
                    .search_org_items(&|_, _| {})
                    .await
                    .map_err(|e| Stop::portal("looking for the service", e))?,
            );
            let target =
                TargetState { items: items.into_iter().map(|i| (i.id.clone(), i)).collect(), ..TargetState::default() };
            match lost_service(&target, &name, &row) {
                Some(item) => next.replaces = Some(item.id.clone()),
                // Taken, yet not listed: the search may lag the create; look again next attempt.
                None if !target.items.values().any(|i| serves_as(i, &name, row_server_kind(&row))) => {
                    return Err(Stop::Transient {
                        reason: format!("service name {name} is taken but its item is not found yet"),
                        wait: None,
                    })
                }
                // Taken by a service this restore cannot prove it made: left alone, never replaced.
                None => {
                    return Err(Stop::Failed(format!(
                        "service name {name} is taken by a service this restore did not make; plan again to choose another name"
                    )))
                }
            }
        }
        next.service_name = Some(name);
    }
    Ok(next)
}

/// Restores one user, trying again while it fails for a passing reason; a user an earlier
/// attempt invited is not invited again.
pub(crate) async fn user(run: &Run<'_>, plan: &PlannedUser, entry: &UserEntry) -> Result<Done, Stop> {
    with_retries(run, &plan.source_username, |attempt| async move {
        if attempt > 0 && matches!(plan.action, Action::Create) {
            match run.portal.user(&plan.target_username).await {
                Ok(_) => {
                    run.journal
                        .record(EntryKind::User, &entry.username, &plan.target_username, true, &serde_json::json!({}))
                        .await?;
                    return Ok(Done::Created);
                }
                Err(arcgis::Error::NotFound { .. }) => {}
                Err(e) => return Err(Stop::portal("looking for the user", e)),
            }
        }
        restore_user(run, plan, entry).await
    })
    .await
}

/// Restores one group, trying again while it fails for a passing reason; answers the target
/// group id with the outcome. A group an earlier attempt made (journaled, or found by its
/// title, unique in an org) is finished instead of made again.
pub(crate) async fn group(
    run: &Run<'_>,
    plan: &PlannedGroup,
    entry: &GroupEntry,
) -> (Option<String>, Result<Done, Stop>) {
    let gid = std::sync::Mutex::new(None::<String>);
    let gid_ref = &gid;
    let r = with_retries(run, &plan.source_id, |attempt| async move {
        let replanned;
        let p = if attempt == 0 {
            plan
        } else {
            replanned = replan_group(run, plan, entry).await?;
            &replanned
        };
        let (id, r) = restore_group(run, p, entry).await;
        if id.is_some() {
            *gid_ref.lock().unwrap_or_else(|e| e.into_inner()) = id;
        }
        r
    })
    .await;
    let r = match r {
        Ok(Done::Updated) if matches!(plan.action, Action::Create) => Ok(Done::Created),
        r => r,
    };
    (gid.into_inner().unwrap_or_else(|e| e.into_inner()), r)
}

async fn replan_group(run: &Run<'_>, plan: &PlannedGroup, entry: &GroupEntry) -> Result<PlannedGroup, Stop> {
    let mut next = plan.clone();
    if !matches!(plan.action, Action::Create) {
        return Ok(next);
    }
    if let Some(j) = run.journal.get(EntryKind::Group, &entry.id).await? {
        next.action = Action::Update { target_id: j.target_id };
        return Ok(next);
    }
    let groups = run.portal.org_groups().await.map_err(|e| Stop::portal("looking for the group", e))?;
    if let Some(g) = groups.into_iter().find(|g| g.title == plan.target_title) {
        next.action = Action::Update { target_id: g.id };
    }
    Ok(next)
}
