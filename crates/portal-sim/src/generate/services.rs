//! Hosted feature services: layers, tables, fields, features, attachments, relationship classes.
//!
//! Feature counts stay modest (most layers a few dozen features, a few some hundreds) so that an
//! org of 12,000 items, of which only a fraction are services, keeps within the memory target.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use super::bytes::file_vec;
use crate::model::{Attachment, Feature, FeatureService, Field, Layer};

/// What a generated service should contain.
#[derive(Debug, Clone, Copy)]
pub(super) struct ServiceShape {
    pub layers: usize,
    pub table: bool,
    pub relationship: bool,
    pub attachments: bool,
    pub sync: bool,
    pub change_tracking: bool,
    pub export_fails: bool,
}

impl ServiceShape {
    pub fn random(rng: &mut ChaCha8Rng) -> Self {
        let layers = rng.gen_range(1..=3);
        let table = rng.gen_bool(0.25);
        Self {
            layers,
            table,
            relationship: (table || layers > 1) && rng.gen_bool(0.3),
            attachments: rng.gen_bool(0.3),
            sync: rng.gen_bool(0.4),
            change_tracking: rng.gen_bool(0.3),
            export_fails: false,
        }
    }
}

const GEOMETRIES: [&str; 3] = ["esriGeometryPoint", "esriGeometryPolyline", "esriGeometryPolygon"];
const LAYER_NAMES: [&str; 9] = ["Sites", "Lines", "Areas", "Hydrants", "Valves", "Mains", "Parcels", "Trees", "Signs"];
const CATEGORIES: [&str; 5] = ["A", "B", "C", "Ω", "Zone 北"];

fn field(name: &str, field_type: &str, length: Option<i64>, nullable: bool) -> Field {
    Field { name: name.into(), field_type: field_type.into(), alias: name.replace('_', " "), length, nullable }
}

fn base_fields(related: bool) -> Vec<Field> {
    let mut f = vec![
        field("OBJECTID", "esriFieldTypeOID", None, false),
        field("GlobalID", "esriFieldTypeGlobalID", Some(38), false),
        field("Name", "esriFieldTypeString", Some(64), true),
        field("Category", "esriFieldTypeString", Some(32), true),
        field("Value", "esriFieldTypeDouble", None, true),
        field("Count", "esriFieldTypeInteger", None, true),
        field("ObservedAt", "esriFieldTypeDate", Some(8), true),
    ];
    if related {
        f.push(field("ParentGUID", "esriFieldTypeGUID", Some(38), true));
    }
    f
}

pub(super) fn guid(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.gen();
    let h = hex::encode_upper(b);
    format!("{{{}-{}-{}-{}-{}}}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Most layers hold a few to a couple of dozen features, a fifth up to 80, a few up to 300: a
/// 12,000-item org's services then stay near 30,000 features (under 100 MB as JSON values).
fn feature_count(rng: &mut ChaCha8Rng) -> usize {
    match rng.gen_range(0..100) {
        0..=77 => rng.gen_range(3..25),
        78..=96 => rng.gen_range(25..80),
        _ => rng.gen_range(80..300),
    }
}

fn geometry(rng: &mut ChaCha8Rng, kind: &str, center: (f64, f64)) -> Option<Value> {
    let pt = |r: &mut ChaCha8Rng| {
        let x = center.0 + r.gen_range(-20_000.0..20_000.0_f64);
        let y = center.1 + r.gen_range(-20_000.0..20_000.0_f64);
        ((x * 100.0).round() / 100.0, (y * 100.0).round() / 100.0)
    };
    match kind {
        "esriGeometryPoint" => {
            let (x, y) = pt(rng);
            Some(json!({ "x": x, "y": y }))
        }
        "esriGeometryPolyline" => {
            let (x, y) = pt(rng);
            let path: Vec<Value> =
                (0..rng.gen_range(2..5)).map(|i| json!([x + 150.0 * f64::from(i), y + 90.0 * f64::from(i)])).collect();
            Some(json!({ "paths": [path] }))
        }
        "esriGeometryPolygon" => {
            let (x, y) = pt(rng);
            let d = rng.gen_range(50.0..400.0_f64).round();
            Some(json!({ "rings": [[[x, y], [x, y + d], [x + d, y + d], [x + d, y], [x, y]]] }))
        }
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn layer(
    rng: &mut ChaCha8Rng,
    seed: u64,
    item_id: &str,
    id: i64,
    name: &str,
    geometry_type: &str,
    with_attachments: bool,
    parents: &[String],
    edited: i64,
    center: (f64, f64),
) -> Layer {
    let n = feature_count(rng);
    let fields = base_fields(!parents.is_empty());
    let mut features = Vec::with_capacity(n);
    for i in 0..n {
        let oid = i as i64 + 1;
        let mut a = Map::new();
        a.insert("OBJECTID".into(), json!(oid));
        a.insert("GlobalID".into(), json!(guid(rng)));
        a.insert("Name".into(), json!(format!("{name} {oid}")));
        a.insert("Category".into(), json!(CATEGORIES[rng.gen_range(0..CATEGORIES.len())]));
        a.insert(
            "Value".into(),
            if rng.gen_bool(0.1) {
                Value::Null
            } else {
                json!((rng.gen_range(0.0..1000.0_f64) * 100.0).round() / 100.0)
            },
        );
        a.insert("Count".into(), json!(rng.gen_range(0..500)));
        a.insert("ObservedAt".into(), json!(edited - rng.gen_range(0..86_400_000i64 * 300)));
        if !parents.is_empty() {
            a.insert("ParentGUID".into(), json!(parents[rng.gen_range(0..parents.len())]));
        }
        let mut attachments = vec![];
        if with_attachments && rng.gen_bool(0.3) {
            for aid in 1..=rng.gen_range(1..=2i64) {
                let len = rng.gen_range(100..1500u64);
                let att_name = format!("photo_{oid}_{aid}.jpg");
                let key = format!("{item_id}/attachments/{id}/{oid}/{att_name}");
                attachments.push(Attachment {
                    id: aid,
                    name: att_name,
                    content_type: "image/jpeg".into(),
                    bytes: file_vec(seed, &key, len).into(),
                });
            }
        }
        features.push(Feature {
            object_id: oid,
            attributes: a,
            geometry: geometry(rng, geometry_type, center),
            attachments,
        });
    }
    Layer {
        id,
        name: name.into(),
        geometry_type: geometry_type.into(),
        fields,
        features,
        has_attachments: with_attachments,
        last_edit_date: edited,
        next_object_id: n as i64 + 1,
        keeps_global_ids: true,
    }
}

/// A hosted feature service named `name` for item `item_id`, last edited at `edited`.
/// Relationship classes are service-level values: `{id, name, originLayerId, destinationLayerId,
/// originPrimaryKey: "GlobalID", destinationForeignKey: "ParentGUID", cardinality, composite}`;
/// the destination's `ParentGUID` values are GlobalIDs of the origin's features.
pub(super) fn feature_service(
    rng: &mut ChaCha8Rng,
    seed: u64,
    name: &str,
    item_id: &str,
    shape: ServiceShape,
    edited: i64,
    center: (f64, f64),
) -> FeatureService {
    let mut layers = Vec::with_capacity(shape.layers);
    let first_kind = rng.gen_range(0..3);
    for i in 0..shape.layers {
        let lname = LAYER_NAMES[(first_kind + i * 4) % LAYER_NAMES.len()];
        let geom = GEOMETRIES[(first_kind + i) % 3];
        let parents = if shape.relationship && !shape.table && i == 1 { origin_guids(&layers) } else { vec![] };
        layers.push(layer(rng, seed, item_id, i as i64, lname, geom, shape.attachments, &parents, edited, center));
    }
    let mut tables = vec![];
    if shape.table {
        let parents = if shape.relationship { origin_guids(&layers) } else { vec![] };
        let tid = layers.len() as i64;
        tables.push(layer(rng, seed, item_id, tid, "Inspections", "", false, &parents, edited, center));
    }
    let mut relationships = vec![];
    if shape.relationship {
        let dest = if shape.table { tables.first() } else { layers.get(1) };
        if let (Some(origin), Some(dest)) = (layers.first(), dest) {
            relationships.push(json!({
                "id": 0,
                "name": format!("{}_{}", origin.name, dest.name),
                "originLayerId": origin.id,
                "destinationLayerId": dest.id,
                "originPrimaryKey": "GlobalID",
                "destinationForeignKey": "ParentGUID",
                "cardinality": "esriRelCardinalityOneToMany",
                "composite": false,
            }));
        }
    }
    let mut caps = String::from("Create,Delete,Query,Update,Editing");
    if shape.sync {
        caps.push_str(",Sync");
    }
    if shape.change_tracking {
        caps.push_str(",ChangeTracking");
    }
    FeatureService {
        name: name.into(),
        item_id: item_id.into(),
        layers,
        tables,
        relationships,
        view_of: None,
        capabilities: caps,
        sync_enabled: shape.sync,
        change_tracking: shape.change_tracking,
        export_fails: shape.export_fails,
        spatial_reference_wkid: 102100,
    }
}

fn origin_guids(layers: &[Layer]) -> Vec<String> {
    layers
        .first()
        .map(|l| l.features.iter().filter_map(|f| f.attributes.get("GlobalID")?.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// A read-only view of `source`: same layer definitions and (at generation) the same features.
pub(super) fn view_of(source: &FeatureService, name: &str, item_id: &str) -> FeatureService {
    FeatureService {
        name: name.into(),
        item_id: item_id.into(),
        layers: source.layers.clone(),
        tables: source.tables.clone(),
        relationships: source.relationships.clone(),
        view_of: Some(source.name.clone()),
        capabilities: "Query".into(),
        sync_enabled: false,
        change_tracking: false,
        export_fails: false,
        spatial_reference_wkid: source.spatial_reference_wkid,
    }
}

/// Total features of a service, for picking the largest.
pub(super) fn feature_total(s: &FeatureService) -> usize {
    s.layers.iter().chain(&s.tables).map(|l| l.features.len()).sum()
}
