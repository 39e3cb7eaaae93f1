//! What proves that a target item is one this restore made, before it is deleted, replaced or
//! adopted: the journal's item id (with the owner and creation time recorded with it), or this
//! database's mark on an item of the expected owner (`marks`). A service name, a title or a
//! plain keyword proves nothing: anyone in the org can make them.

use serde_json::Value;

use super::journal::JournalEntry;
use super::plan::{serves_as, TargetState, FEATURE_SERVER};

/// How far the portal's clock may be from ours when a creation time is compared with a
/// journaled one.
pub(crate) const SKEW_MS: i64 = 15 * 60 * 1000;

/// Whether `item` is the one a journal row recorded: the owner it was made for and a creation
/// time not before the row's intent (rows of older versions hold neither; their id alone is
/// what the journal recorded).
pub(crate) fn made_as_journaled(item: &arcgis::ItemInfo, row: &JournalEntry, skew_ms: i64) -> bool {
    let owner_ok = row.detail.get("owner").and_then(Value::as_str).is_none_or(|o| o == item.owner);
    let time_ok = match (row.detail.get("at").and_then(Value::as_i64), item.created) {
        (Some(at), Some(created)) => created >= at - skew_ms,
        _ => true,
    };
    owner_ok && time_ok
}

/// The service a create whose answer was lost made, as far as the target can prove it: serving
/// `name`, owned by the journaled owner and created after the journaled intent. A row without
/// owner and time (older versions) proves nothing: no service is taken for it.
pub(crate) fn lost_service<'t>(
    target: &'t TargetState,
    name: &str,
    row: &JournalEntry,
) -> Option<&'t arcgis::ItemInfo> {
    let owner = row.detail.get("owner").and_then(Value::as_str)?;
    let at = row.detail.get("at").and_then(Value::as_i64)?;
    let kind = row_server_kind(row);
    let mut found: Vec<&arcgis::ItemInfo> = target
        .items
        .values()
        .filter(|i| serves_as(i, name, kind) && i.owner == owner && i.created.is_some_and(|c| c >= at - SKEW_MS))
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    (found.len() == 1).then(|| found[0])
}

/// The server kind an upload row's publish makes (`server` in its detail; rows of feature
/// services, and of older versions, hold none: a feature service).
pub(crate) fn row_server_kind(row: &JournalEntry) -> &str {
    row.detail.get("server").and_then(Value::as_str).unwrap_or(FEATURE_SERVER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(id: &str, owner: &str, name: &str, created: i64) -> arcgis::ItemInfo {
        arcgis::ItemInfo {
            id: id.into(),
            owner: owner.into(),
            created: Some(created),
            url: Some(format!("https://h/org/arcgis/rest/services/{name}/FeatureServer")),
            ..Default::default()
        }
    }

    fn row(detail: Value) -> JournalEntry {
        JournalEntry { target_id: String::new(), done: false, detail }
    }

    #[test]
    fn a_lost_answer_proves_only_a_service_of_the_journaled_owner_made_after_the_intent() {
        let at = 10 * SKEW_MS;
        let intent = row(json!({"service_name": "Roads", "owner": "admin", "at": at}));
        let mut t = TargetState::default();
        t.items.insert("theirs".into(), service("theirs", "member", "Roads", at + 5));
        t.items.insert("older".into(), service("older", "admin", "roads", at - 2 * SKEW_MS));
        assert!(lost_service(&t, "Roads", &intent).is_none(), "another user's or an older service proves nothing");
        t.items.insert("ours".into(), service("ours", "admin", "Roads", at + 5));
        assert_eq!(lost_service(&t, "Roads", &intent).map(|i| i.id.as_str()), Some("ours"), "ours is found");
        let old_row = row(json!({"service_name": "Roads"}));
        assert!(lost_service(&t, "Roads", &old_row).is_none(), "a row without owner and time proves nothing");
    }

    #[test]
    fn a_journaled_item_must_keep_its_owner_and_creation_time() {
        let r = row(json!({"owner": "admin", "at": 1_000_000_000}));
        let ok = service("x", "admin", "Roads", 1_000_000_000);
        assert!(made_as_journaled(&ok, &r, SKEW_MS), "same owner, made after the intent");
        assert!(!made_as_journaled(&service("x", "member", "Roads", 1_000_000_000), &r, SKEW_MS), "reassigned");
        assert!(!made_as_journaled(&service("x", "admin", "Roads", 1), &r, SKEW_MS), "made long before the intent");
    }
}
