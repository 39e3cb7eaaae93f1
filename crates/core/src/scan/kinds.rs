//! Which requests an item's type calls for. The scan asks only what the type can have: these
//! tables are the request budget's main lever on a 12,000-item organization.

/// Relationship types an item of this type can be the origin of (forward direction). The
/// reverse direction is derived from the forward rows, never requested.
pub fn origin_relationships(item_type: &str) -> &'static [&'static str] {
    match item_type {
        "Web Map" => &["Map2Service", "Map2FeatureCollection"],
        "Feature Service" => &["Service2Data", "Service2Service"],
        "Map Service" | "Image Service" | "Vector Tile Service" | "Scene Service" => &["Service2Service"],
        "Form" => &["Survey2Service", "Survey2Data"],
        "Web Mapping Application" => &["WMA2Code"],
        "Vector Tile Style" => &["Style2Style"],
        _ => &[],
    }
}

/// Types whose `/data` is a JSON document that may reference items and services.
pub fn has_json_data(item_type: &str) -> bool {
    matches!(
        item_type,
        "Web Map"
            | "Web Scene"
            | "Web Mapping Application"
            | "Dashboard"
            | "StoryMap"
            | "Story Map"
            | "Web Experience"
            | "Hub Site Application"
            | "Hub Page"
            | "Operation View"
            | "Application"
            | "Feature Collection"
            | "Insights Workbook"
    )
}

/// How to read a service item's layers: `Some(true)` from `<url>/layers`, `Some(false)` from
/// `<url>?f=json`, `None` for items that are not services.
pub fn service_layers_endpoint(item_type: &str) -> Option<bool> {
    match item_type {
        "Feature Service" | "Map Service" => Some(true),
        "Scene Service" | "Vector Tile Service" | "Image Service" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
