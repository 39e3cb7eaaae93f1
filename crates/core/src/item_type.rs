//! The portal's item types that OrgVault treats specially, in one place. An item's type stays a
//! `String` wherever it is stored (catalog, manifest, plan), because a portal has hundreds of
//! types and new ones appear; [`ItemType`] names the ones whose handling differs, and every
//! question of the form "does a `<type>` have ...?" is answered here rather than by a string
//! list in the scan, the backup or the restore. A type not named here is an ordinary item:
//! its data, resources and metadata are copied as they are.

use serde_json::Value;

macro_rules! item_types {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)+) => {
        /// An item type whose handling differs from a plain item's; `name()` is the portal's word.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ItemType {
            $($(#[doc = $doc])* $variant,)+
        }

        impl ItemType {
            /// Every named type.
            pub const ALL: &'static [ItemType] = &[$(ItemType::$variant,)+];

            /// The named type of a portal type string; `None` for every other type.
            pub fn parse(name: &str) -> Option<ItemType> {
                match name {
                    $($name => Some(ItemType::$variant),)+
                    _ => None,
                }
            }

            /// The portal's name of the type (`"Feature Service"`).
            pub fn name(self) -> &'static str {
                match self {
                    $(ItemType::$variant => $name,)+
                }
            }
        }
    };
}

item_types! {
    WebMap = "Web Map",
    WebScene = "Web Scene",
    WebMappingApplication = "Web Mapping Application",
    Dashboard = "Dashboard",
    StoryMap = "StoryMap",
    /// The classic story map.
    ClassicStoryMap = "Story Map",
    WebExperience = "Web Experience",
    HubSiteApplication = "Hub Site Application",
    HubPage = "Hub Page",
    OperationView = "Operation View",
    Application = "Application",
    FeatureCollection = "Feature Collection",
    InsightsWorkbook = "Insights Workbook",
    FeatureService = "Feature Service",
    MapService = "Map Service",
    ImageService = "Image Service",
    VectorTileService = "Vector Tile Service",
    SceneService = "Scene Service",
    /// A Survey123 form.
    Form = "Form",
    VectorTileStyle = "Vector Tile Style",
    /// What a hosted feature service's data is exported as for the backup.
    FileGeodatabase = "File Geodatabase",
}

impl ItemType {
    /// Relationship types an item of this type can be the origin of (forward direction). The
    /// scan asks only these: the request budget's main lever on a 12,000-item organization.
    pub fn origin_relationships(self) -> &'static [&'static str] {
        use ItemType::*;
        match self {
            WebMap => &["Map2Service", "Map2FeatureCollection"],
            FeatureService => &["Service2Data", "Service2Service"],
            // Service2Data: a hosted tile, vector tile, scene or imagery layer and the package it
            // was published from (Esri, "Relationship types": any service item as the origin).
            MapService | ImageService | VectorTileService | SceneService => &["Service2Data", "Service2Service"],
            Form => &["Survey2Service", "Survey2Data"],
            WebMappingApplication => &["WMA2Code"],
            VectorTileStyle => &["Style2Style"],
            _ => &[],
        }
    }

    /// Whether its `/data` is a JSON document that may reference items and services.
    pub fn has_json_data(self) -> bool {
        use ItemType::*;
        matches!(
            self,
            WebMap
                | WebScene
                | WebMappingApplication
                | Dashboard
                | StoryMap
                | ClassicStoryMap
                | WebExperience
                | HubSiteApplication
                | HubPage
                | OperationView
                | Application
                | FeatureCollection
                | InsightsWorkbook
        )
    }

    /// How a service item's layers are read: `Some(true)` from `<url>/layers`, `Some(false)`
    /// from `<url>?f=json`, `None` for items that are not services.
    pub fn layers_endpoint(self) -> Option<bool> {
        use ItemType::*;
        match self {
            FeatureService | MapService => Some(true),
            SceneService | VectorTileService | ImageService => Some(false),
            _ => None,
        }
    }
}

/// Relationship types an item of the type `item_type` can be the origin of; none for a type
/// not named in [`ItemType`]. The reverse direction is derived from the forward rows.
pub fn origin_relationships(item_type: &str) -> &'static [&'static str] {
    ItemType::parse(item_type).map_or(&[], ItemType::origin_relationships)
}

/// Whether an item of the type `item_type` has JSON data that may reference others.
pub fn has_json_data(item_type: &str) -> bool {
    ItemType::parse(item_type).is_some_and(ItemType::has_json_data)
}

/// How to read the layers of a service of the type `item_type` (see [`ItemType::layers_endpoint`]).
pub fn service_layers_endpoint(item_type: &str) -> Option<bool> {
    ItemType::parse(item_type).and_then(ItemType::layers_endpoint)
}

/// A package a hosted tile, vector tile or scene layer can be published from: its item type,
/// the `fileType` `publish` takes for it (Esri, "Publish Item") and the kind of server the
/// layer then is (the last segment of its URL, lowercase).
#[derive(Debug, PartialEq, Eq)]
pub struct LayerPackage {
    pub item_type: &'static str,
    pub file_type: &'static str,
    pub server: &'static str,
}

/// Every layer package type (Esri, "Publish hosted tile layers": from a tile package; vector
/// tiles from a vector tile package; scene layers from a scene layer package).
pub const LAYER_PACKAGES: [LayerPackage; 5] = [
    LayerPackage { item_type: "Tile Package", file_type: "tilePackage", server: "mapserver" },
    LayerPackage { item_type: "Compact Tile Package", file_type: "tilePackage", server: "mapserver" },
    LayerPackage { item_type: "Vector Tile Package", file_type: "vectorTilePackage", server: "vectortileserver" },
    LayerPackage { item_type: "Scene Package", file_type: "scenePackage", server: "sceneserver" },
    LayerPackage { item_type: "Scene Layer Package", file_type: "scenePackage", server: "sceneserver" },
];

/// The layer package of the item type `item_type`, if it is one.
pub fn layer_package(item_type: &str) -> Option<&'static LayerPackage> {
    LAYER_PACKAGES.iter().find(|p| p.item_type == item_type)
}

/// Whether an item is a hosted tile, vector tile, scene or imagery layer: a `Map Service`,
/// `Vector Tile Service`, `Scene Service` or `Image Service` with the `Hosted Service` keyword.
/// Its service lives in the organization's hosting server; a restore can make the item, not the
/// service behind it.
pub fn is_hosted_layer_service(item_type: &str, item_json: &Value) -> bool {
    matches!(
        ItemType::parse(item_type),
        Some(ItemType::MapService | ItemType::VectorTileService | ItemType::SceneService | ItemType::ImageService)
    ) && item_json
        .get("typeKeywords")
        .and_then(Value::as_array)
        .is_some_and(|ks| ks.iter().any(|k| k.as_str() == Some("Hosted Service")))
}

/// Whether an item (its type and its item JSON) is a hosted feature service: a feature service
/// carrying the `Hosted Service` type keyword, whose data the backup exports and the restore
/// publishes or re-creates.
pub fn is_hosted_feature_service(item_type: &str, item_json: &Value) -> bool {
    ItemType::parse(item_type) == Some(ItemType::FeatureService)
        && item_json
            .get("typeKeywords")
            .and_then(Value::as_array)
            .is_some_and(|ks| ks.iter().any(|k| k.as_str() == Some("Hosted Service")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::json;

    use super::*;

    #[test]
    fn every_type_has_one_name_that_parses_back() {
        let names: HashSet<&str> = ItemType::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names.len(), ItemType::ALL.len(), "two types must not share a portal name");
        for t in ItemType::ALL {
            assert_eq!(ItemType::parse(t.name()), Some(*t), "{t:?} must parse back from its name");
        }
        assert_eq!(ItemType::parse("feature service"), None, "portal type names are matched exactly");
        assert_eq!(ItemType::FileGeodatabase.name(), arcgis::FILE_GEODATABASE, "the export type is the client's");
    }

    #[test]
    fn only_origin_types_ask_for_relationships() {
        assert_eq!(
            origin_relationships("Web Map"),
            &["Map2Service", "Map2FeatureCollection"],
            "a web map is the origin of Map2Service"
        );
        assert!(origin_relationships("CSV").is_empty(), "a CSV is never an origin: no request");
        assert!(
            origin_relationships("Feature Service").contains(&"Service2Data"),
            "a service points at its source data"
        );
        assert!(has_json_data("Dashboard") && !has_json_data("PDF"), "only JSON documents are read for references");
        assert_eq!(service_layers_endpoint("Feature Service"), Some(true), "feature services list layers at /layers");
        assert_eq!(service_layers_endpoint("Web Map"), None, "a web map is not a service");
    }

    #[test]
    fn a_hosted_feature_service_is_a_feature_service_with_the_hosted_keyword() {
        let hosted = json!({"typeKeywords": ["Data", "Hosted Service"]});
        assert!(is_hosted_feature_service("Feature Service", &hosted));
        assert!(
            !is_hosted_feature_service("Feature Service", &json!({"typeKeywords": ["Data"]})),
            "a registered service is not hosted"
        );
        assert!(!is_hosted_feature_service("Map Service", &hosted), "only feature services are exported");
    }
}
