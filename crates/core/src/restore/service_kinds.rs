//! What kind of service an item of the snapshot is, for the plan: a hosted feature service (its
//! data exported, published again), a hosted view (re-made as a view of its restored source), or
//! a hosted tile, vector tile, scene or imagery layer (its item restored, the layer not; the plan
//! says what to do by hand).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::repo::{ItemEntry, RelDirection};

/// The snapshot's `Service Definition` item a hosted feature service was published from (its
/// `Service2Data` relationship), when that item's file is in the snapshot.
pub(crate) fn service_definition_of<'m>(entry: &ItemEntry, all: &'m [ItemEntry]) -> Option<&'m str> {
    entry
        .related
        .iter()
        .filter(|r| r.rel_type == "Service2Data" && r.direction == RelDirection::Forward)
        .find_map(|r| all.iter().find(|i| i.id == r.item_id && i.item_type == "Service Definition" && i.data.is_some()))
        .map(|i| i.id.as_str())
}

/// The snapshot's tile or scene layer package a hosted layer was published from (a related
/// item of a package type, with its file), when it holds one.
pub(crate) fn layer_package_of<'m>(entry: &ItemEntry, all: &'m [ItemEntry]) -> Option<&'m ItemEntry> {
    entry.related.iter().filter(|r| r.rel_type == "Service2Data" && r.direction == RelDirection::Forward).find_map(
        |r| {
            all.iter().find(|p| {
                p.id == r.item_id && crate::item_type::layer_package(&p.item_type).is_some() && p.data.is_some()
            })
        },
    )
}

pub(crate) fn is_hosted_service(entry: &ItemEntry, json: &Value) -> bool {
    entry.service.is_some() && crate::item_type::is_hosted_feature_service(&entry.item_type, json)
}

/// The source service of a hosted view (a `View Service` whose Service2Service link points back).
pub(crate) fn view_source_of(entry: &ItemEntry, json: &Value) -> Option<String> {
    let is_view = json
        .get("typeKeywords")
        .and_then(Value::as_array)
        .is_some_and(|k| k.iter().any(|k| k.as_str() == Some("View Service")));
    if !is_view {
        return None;
    }
    entry
        .related
        .iter()
        .find(|r| r.rel_type == "Service2Service" && r.direction == RelDirection::Reverse)
        .map(|r| r.item_id.clone())
}

/// What the plan says of a hosted tile, vector tile, scene or imagery layer: the restore makes
/// its item, which keeps the source's service URL; the layer itself must be published again in
/// the target, from its package when the snapshot holds one.
pub(crate) fn hosted_layer_note(it: &ItemEntry, json: &Value, all: &[ItemEntry], offered: &BTreeSet<String>) -> String {
    let url = json.get("url").and_then(Value::as_str).unwrap_or("its service URL");
    let package =
        it.related.iter().filter(|r| r.rel_type == "Service2Data" && r.direction == RelDirection::Forward).find_map(
            |r| all.iter().find(|p| p.id == r.item_id && crate::item_type::layer_package(&p.item_type).is_some()),
        );
    let by_hand = match package {
        Some(p) if offered.contains(&p.id) => format!(
            "publish the layer again from its package “{}” ({}), restored with this plan, then point this item at the new layer or use the new layer's item instead",
            p.title, p.item_type
        ),
        Some(p) => format!(
            "its package “{}” ({}) is in the snapshot: restore it too, publish the layer from it, then point this item at the new layer",
            p.title, p.item_type
        ),
        None => "the snapshot holds no tile or scene layer package of it: publish the layer again in the target from its source data (or a package), then point this item at it".into(),
    };
    format!("a hosted layer: the restore makes its item, not the layer; the item keeps pointing at {url}. By hand: {by_hand}")
}
