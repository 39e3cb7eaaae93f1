//! What an export downloads in each format: "File Geodatabase" and "Shapefile" are the service
//! package (see `package`; neither is the real format), "CSV" a zip of one CSV per layer or table,
//! "GeoJson" a FeatureCollection of the first layer.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::package::{package_service, write_zip};
use crate::model::{FeatureService, Layer};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ExportFormat {
    FileGeodatabase,
    Shapefile,
    Csv,
    GeoJson,
}

impl ExportFormat {
    pub(super) fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace(' ', "").as_str() {
            "filegeodatabase" | "filegdb" => Some(Self::FileGeodatabase),
            "shapefile" => Some(Self::Shapefile),
            "csv" => Some(Self::Csv),
            "geojson" => Some(Self::GeoJson),
            _ => None,
        }
    }

    pub(super) fn item_type(self) -> &'static str {
        match self {
            Self::FileGeodatabase => "File Geodatabase",
            Self::Shapefile => "Shapefile",
            Self::Csv => "CSV Collection",
            Self::GeoJson => "GeoJson",
        }
    }

    pub(super) fn extension(self) -> &'static str {
        if self == Self::GeoJson {
            "geojson"
        } else {
            "zip"
        }
    }

    pub(super) fn content_type(self) -> &'static str {
        if self == Self::GeoJson {
            "application/geo+json"
        } else {
            "application/zip"
        }
    }
}

/// A file name from a title: no path separators, no leading dots.
pub(super) fn file_stem(title: &str) -> String {
    let s: String = title.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let s = s.trim_matches('_').to_owned();
    if s.is_empty() {
        "export".into()
    } else {
        s
    }
}

fn csv_cell(v: Option<&Value>) -> String {
    let s = match v {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv_of(layer: &Layer) -> Vec<u8> {
    let mut out = String::new();
    out.push_str(&layer.fields.iter().map(|f| csv_cell(Some(&json!(f.name)))).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    for f in &layer.features {
        let row: Vec<String> = layer.fields.iter().map(|fd| csv_cell(f.attributes.get(&fd.name))).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// Esri JSON geometry to GeoJSON (points, polylines as MultiLineString, polygons' rings as-is).
fn geojson_geometry(g: Option<&Value>) -> Value {
    let Some(g) = g else { return Value::Null };
    if let (Some(x), Some(y)) = (g.get("x"), g.get("y")) {
        return json!({ "type": "Point", "coordinates": [x, y] });
    }
    if let Some(paths) = g.get("paths") {
        return json!({ "type": "MultiLineString", "coordinates": paths });
    }
    if let Some(rings) = g.get("rings") {
        return json!({ "type": "Polygon", "coordinates": rings });
    }
    Value::Null
}

pub(super) fn export_bytes(format: ExportFormat, service: &FeatureService) -> Vec<u8> {
    match format {
        ExportFormat::FileGeodatabase | ExportFormat::Shapefile => package_service(service),
        ExportFormat::Csv => {
            let entries: BTreeMap<String, Vec<u8>> = service
                .layers
                .iter()
                .chain(&service.tables)
                .map(|l| (format!("{}_{}.csv", l.id, file_stem(&l.name)), csv_of(l)))
                .collect();
            write_zip(&entries)
        }
        ExportFormat::GeoJson => {
            let features: Vec<Value> = service
                .layers
                .first()
                .map(|l| {
                    l.features
                        .iter()
                        .map(|f| json!({ "type": "Feature", "id": f.object_id, "geometry": geojson_geometry(f.geometry.as_ref()), "properties": f.attributes }))
                        .collect()
                })
                .unwrap_or_default();
            serde_json::to_vec(&json!({ "type": "FeatureCollection", "features": features })).unwrap_or_default()
        }
    }
}
