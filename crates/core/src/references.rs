//! References from one item's `/data` JSON to other items and to services: what a restore must
//! rewrite when ids and URLs change, and what a backup must bring along.
//!
//! Pure: no I/O. The walk visits every string of the document, so it finds references in web
//! maps (`operationalLayers[]` with nested group `layers[]`, `tables[]`,
//! `baseMap.baseMapLayers[]`), apps (`values.webmap`, `values.webmaps[]`, any config), dashboards
//! (`widgets[].datasets[].dataSource.itemId`), story maps (`resources.*.data.itemId`) and any
//! shape not known yet. Rules, per string value:
//! - under a key that names an item (`itemId`, `webmap`, `webmaps[]`, `webscene`, ...) a 32-hex id
//!   is a reference, whether or not the catalog knows it (it may be an Esri basemap);
//! - anywhere else a 32-hex id is a reference only if the catalog knows it (random hex strings
//!   exist: hashes, GUIDs without dashes);
//! - a 32-hex id inside a longer string (`.../home/item.html?id=<id>`, `index.html?appid=<id>`)
//!   is a reference if the catalog knows it;
//! - an http(s) URL containing `/rest/services/` is a service reference.
//!
//! Each reference carries the RFC 6901 JSON pointer of the string it was found in.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a reference points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// An item id, lowercase.
    Item(String),
    /// A service URL as written.
    Url(String),
}

/// One reference found in an item's data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reference {
    pub target: Target,
    /// RFC 6901 pointer to the JSON string holding the reference.
    pub pointer: String,
    /// True when the whole string is the id or URL; false when it is embedded in a longer text.
    pub whole: bool,
}

/// Keys whose string values (or arrays of strings) name items.
const ITEM_KEYS: &[&str] = &[
    "itemid",
    "webmap",
    "webmaps",
    "webscene",
    "webscenes",
    "appid",
    "sourceitemid",
    "portalitemid",
    "mapid",
    "dashboardid",
    "surveyitemid",
    "formitemid",
    "serviceitemid",
    "layeritemid",
    "templateitemid",
];

fn is_item_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    ITEM_KEYS.contains(&lower.as_str())
}

fn hex_id() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Whole runs of hex, kept only at exactly 32 characters, so that a 40-char SHA-1 does not
    // yield a false id and two ids one separator apart are both found.
    RE.get_or_init(|| Regex::new(r"[0-9a-fA-F]+").expect("valid regex"))
}

/// True for a string that is exactly an item id (32 hex characters).
pub fn is_item_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// True for an http(s) URL naming an ArcGIS Server service.
pub fn is_service_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")) && lower.contains("/rest/services/")
}

/// Extracts every reference from `data`. `in_catalog` says whether an id (lowercase) is an item
/// of the scanned organization. The result is sorted by pointer and free of duplicates.
pub fn extract(data: &Value, in_catalog: &dyn Fn(&str) -> bool) -> Vec<Reference> {
    let mut found = Vec::new();
    let mut pointer = String::new();
    walk(data, false, &mut pointer, in_catalog, &mut found);
    found.sort_by(|a, b| a.pointer.cmp(&b.pointer).then(a.target.cmp(&b.target)));
    found.dedup();
    found
}

fn walk(v: &Value, item_slot: bool, pointer: &mut String, in_catalog: &dyn Fn(&str) -> bool, out: &mut Vec<Reference>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = pointer.len();
                push_token(pointer, k);
                walk(child, is_item_key(k), pointer, in_catalog, out);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                // An array under an item key (`webmaps: [..]`) holds item ids too.
                walk(child, item_slot, pointer, in_catalog, out);
                pointer.truncate(len);
            }
        }
        Value::String(s) => classify(s, item_slot, pointer, in_catalog, out),
        _ => {}
    }
}

fn classify(s: &str, item_slot: bool, pointer: &str, in_catalog: &dyn Fn(&str) -> bool, out: &mut Vec<Reference>) {
    let trimmed = s.trim();
    if is_item_id(trimmed) {
        let id = trimmed.to_ascii_lowercase();
        if item_slot || in_catalog(&id) {
            out.push(Reference { target: Target::Item(id), pointer: pointer.to_owned(), whole: true });
        }
        return;
    }
    if is_service_url(trimmed) {
        out.push(Reference { target: Target::Url(trimmed.to_owned()), pointer: pointer.to_owned(), whole: true });
    }
    for m in hex_id().find_iter(s).filter(|m| m.len() == 32) {
        let id = m.as_str().to_ascii_lowercase();
        if in_catalog(&id) {
            out.push(Reference { target: Target::Item(id), pointer: pointer.to_owned(), whole: false });
        }
    }
}

fn push_token(pointer: &mut String, key: &str) {
    pointer.push('/');
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAP: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const ROADS: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const PARCELS: &str = "cccccccccccccccccccccccccccccccc";
    const TABLE: &str = "dddddddddddddddddddddddddddddddd";
    const BASEMAP: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    const APP: &str = "0123456789abcdef0123456789abcdef";

    fn catalog(ids: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |id: &str| ids.contains(&id)
    }

    fn pairs(refs: &[Reference]) -> Vec<(String, Target)> {
        refs.iter().map(|r| (r.pointer.clone(), r.target.clone())).collect()
    }

    #[test]
    fn web_map_with_nested_group_layers_tables_and_basemap() {
        let roads_url = "https://services7.arcgis.com/OrgId/arcgis/rest/services/Roads/FeatureServer/0";
        let data = json!({
            "operationalLayers": [
                {"id": "grp-1", "layerType": "GroupLayer", "title": "Infra", "layers": [
                    {"id": "roads-0", "itemId": ROADS, "url": roads_url, "layerType": "ArcGISFeatureLayer"},
                    {"id": "nested", "layerType": "GroupLayer", "layers": [
                        {"id": "parcels", "itemId": PARCELS.to_uppercase(), "url": "https://h/arcgis/rest/services/Parcels/MapServer"}
                    ]}
                ]}
            ],
            "tables": [{"id": "t1", "itemId": TABLE, "url": "https://h/arcgis/rest/services/T/FeatureServer/1"}],
            "baseMap": {"title": "Topo", "baseMapLayers": [
                {"id": "base", "itemId": BASEMAP, "url": "https://services.arcgisonline.com/arcgis/rest/services/World_Topo_Map/MapServer"}
            ]},
            "version": "2.30",
            "authoringAppVersion": "ffffffffffffffffffffffffffffffff"
        });
        let refs = extract(&data, &catalog(&[ROADS, PARCELS, TABLE]));
        let got = pairs(&refs);
        let want = vec![
            ("/baseMap/baseMapLayers/0/itemId".to_owned(), Target::Item(BASEMAP.into())),
            (
                "/baseMap/baseMapLayers/0/url".to_owned(),
                Target::Url("https://services.arcgisonline.com/arcgis/rest/services/World_Topo_Map/MapServer".into()),
            ),
            ("/operationalLayers/0/layers/0/itemId".to_owned(), Target::Item(ROADS.into())),
            ("/operationalLayers/0/layers/0/url".to_owned(), Target::Url(roads_url.into())),
            ("/operationalLayers/0/layers/1/layers/0/itemId".to_owned(), Target::Item(PARCELS.into())),
            (
                "/operationalLayers/0/layers/1/layers/0/url".to_owned(),
                Target::Url("https://h/arcgis/rest/services/Parcels/MapServer".into()),
            ),
            ("/tables/0/itemId".to_owned(), Target::Item(TABLE.into())),
            ("/tables/0/url".to_owned(), Target::Url("https://h/arcgis/rest/services/T/FeatureServer/1".into())),
        ];
        assert_eq!(got, want, "every layer at any depth, tables and basemap layers, ids lowercased; an unknown hex string outside an item key is ignored");
        assert!(refs.iter().all(|r| r.whole), "all of these are whole-string references");
    }

    #[test]
    fn dashboard_data_sources_and_embedded_urls() {
        let data = json!({
            "widgets": [
                {"type": "mapWidget", "itemId": MAP},
                {"type": "indicatorWidget", "datasets": [{"type": "serviceDataset", "dataSource": {"type": "featureServiceDataSource", "itemId": ROADS, "layerId": 0}}]},
                {"type": "embeddedContentWidget", "url": format!("https://acme.maps.arcgis.com/apps/instant/index.html?appid={APP}&locale=en")},
                {"type": "richTextWidget", "text": "<p>hash 0000000000000000000000000000000000000000 is not an id</p>"}
            ]
        });
        let refs = extract(&data, &catalog(&[MAP, ROADS, APP]));
        assert_eq!(
            pairs(&refs),
            vec![
                ("/widgets/0/itemId".to_owned(), Target::Item(MAP.into())),
                ("/widgets/1/datasets/0/dataSource/itemId".to_owned(), Target::Item(ROADS.into())),
                ("/widgets/2/url".to_owned(), Target::Item(APP.into())),
            ],
            "data sources by id and an app id embedded in a URL; a 40-hex hash is not an item id"
        );
        assert!(!refs[2].whole, "the app id is embedded in a longer string: a restore must replace a substring");
    }

    #[test]
    fn web_app_values_and_story_map_resources() {
        let app = json!({"values": {"webmap": MAP, "webmaps": [MAP, ROADS], "title": "Viewer"}});
        let refs = extract(&app, &catalog(&[]));
        assert_eq!(
            pairs(&refs),
            vec![
                ("/values/webmap".to_owned(), Target::Item(MAP.into())),
                ("/values/webmaps/0".to_owned(), Target::Item(MAP.into())),
                ("/values/webmaps/1".to_owned(), Target::Item(ROADS.into())),
            ],
            "ids under item keys count even when the catalog does not know them"
        );
        let story = json!({"root": "n-1", "resources": {"r-abc/x": {"type": "webmap", "data": {"itemId": MAP, "itemType": "Web Map"}}}});
        let refs = extract(&story, &catalog(&[MAP]));
        assert_eq!(
            pairs(&refs),
            vec![("/resources/r-abc~1x/data/itemId".to_owned(), Target::Item(MAP.into()))],
            "a slash in a key is escaped as ~1 in the pointer"
        );
    }

    #[test]
    fn app_cycle_and_self_reference_are_plain_references() {
        // Two apps naming each other and one naming itself: extraction is per document and does
        // not follow anything, so cycles cannot loop; the catalog's graph queries handle them.
        let a = json!({"values": {"config": {"next": APP, "self": MAP}}});
        let refs = extract(&a, &catalog(&[APP, MAP]));
        assert_eq!(
            pairs(&refs),
            vec![
                ("/values/config/next".to_owned(), Target::Item(APP.into())),
                ("/values/config/self".to_owned(), Target::Item(MAP.into()))
            ],
            "known ids are found under any key, including the item's own id"
        );
    }

    #[test]
    fn non_service_urls_and_plain_values_are_not_references() {
        let data = json!({"links": ["https://example.com/page", "http://h/arcgis/rest/info", "/rest/services/relative"], "n": 3, "flag": true, "nothing": null});
        assert!(
            extract(&data, &catalog(&[])).is_empty(),
            "only absolute http(s) URLs under /rest/services/ are service references"
        );
    }
}
