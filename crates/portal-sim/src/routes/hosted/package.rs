//! The file an export ("File Geodatabase", "Shapefile") or a filegdb/sqlite replica downloads.
//!
//! It is NOT a real file geodatabase: it is a zip that holds everything needed to rebuild the
//! service exactly, so that a backup made from it can be restored (`publish`) into the same service.
//!
//! Layout (all JSON UTF-8; entries sorted by name; every timestamp 1980-01-01 00:00; mode 0644;
//! deflate), so the same service state always gives byte-identical files:
//!
//! ```text
//! service.json                       {"format":"portal-sim-package","version":1,"name","itemId",
//!                                     "capabilities","syncEnabled","changeTracking","exportFails",
//!                                     "viewOf","spatialReference":{"wkid"},"relationships":[..],
//!                                     "layers":[<id>..],"tables":[<id>..]}
//! layers/<id>.json                   {"id","name","geometryType","hasAttachments","lastEditDate",
//!                                     "nextObjectId","fields":[{"name","type","alias","length","nullable"}]}
//! features/<id>.json                 [{"objectId","attributes","geometry",
//!                                      "attachments":[{"id","name","contentType","size","path"}]}]
//! attachments/<id>/<oid>/<aid>-<name>   the attachment's bytes; <name> with `/`, `\`, `..` and
//!                                       leading dots replaced, the exact name is in features/<id>.json
//! ```

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use serde_json::{json, Map, Value};

use crate::model::{Attachment, Feature, FeatureService, Field, Layer};

const FORMAT: &str = "portal-sim-package";
const VERSION: i64 = 1;

/// Why a package could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("not a readable zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("reading an entry failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("entry {entry} is not valid JSON: {source}")]
    Json { entry: String, source: serde_json::Error },
    #[error("entry {0} is missing")]
    Missing(String),
    #[error("invalid package: {0}")]
    Invalid(String),
}

fn safe_name(name: &str) -> String {
    let replaced: String = name.chars().map(|c| if matches!(c, '/' | '\\' | '\0') { '_' } else { c }).collect();
    let replaced = replaced.replace("..", "_");
    let trimmed = replaced.trim_start_matches('.');
    if trimmed.is_empty() {
        "attachment".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn field_json(f: &Field) -> Value {
    json!({ "name": f.name, "type": f.field_type, "alias": f.alias, "length": f.length, "nullable": f.nullable })
}

fn layer_json(l: &Layer) -> Value {
    json!({
        "id": l.id,
        "name": l.name,
        "geometryType": l.geometry_type,
        "hasAttachments": l.has_attachments,
        "lastEditDate": l.last_edit_date,
        "nextObjectId": l.next_object_id,
        "keepsGlobalIds": l.keeps_global_ids,
        "fields": l.fields.iter().map(field_json).collect::<Vec<_>>(),
    })
}

fn attachment_path(layer: i64, oid: i64, a: &Attachment) -> String {
    format!("attachments/{layer}/{oid}/{}-{}", a.id, safe_name(&a.name))
}

/// Writes the package of `service`; deterministic (see the module doc for the layout).
pub fn package_service(service: &FeatureService) -> Vec<u8> {
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let service_json = json!({
        "format": FORMAT,
        "version": VERSION,
        "name": service.name,
        "itemId": service.item_id,
        "capabilities": service.capabilities,
        "syncEnabled": service.sync_enabled,
        "changeTracking": service.change_tracking,
        "exportFails": service.export_fails,
        "viewOf": service.view_of,
        "spatialReference": { "wkid": service.spatial_reference_wkid },
        "relationships": service.relationships,
        "layers": service.layers.iter().map(|l| l.id).collect::<Vec<_>>(),
        "tables": service.tables.iter().map(|l| l.id).collect::<Vec<_>>(),
    });
    entries.insert("service.json".into(), to_bytes(&service_json));
    for layer in service.layers.iter().chain(&service.tables) {
        entries.insert(format!("layers/{}.json", layer.id), to_bytes(&layer_json(layer)));
        let mut features = Vec::with_capacity(layer.features.len());
        for f in &layer.features {
            let mut atts = Vec::with_capacity(f.attachments.len());
            for a in &f.attachments {
                let path = attachment_path(layer.id, f.object_id, a);
                atts.push(json!({
                    "id": a.id, "name": a.name, "contentType": a.content_type, "size": a.bytes.len(), "path": path,
                }));
                entries.insert(path, a.bytes.to_vec());
            }
            features.push(json!({
                "objectId": f.object_id,
                "attributes": f.attributes,
                "geometry": f.geometry,
                "attachments": atts,
            }));
        }
        entries.insert(format!("features/{}.json", layer.id), to_bytes(&Value::Array(features)));
    }
    write_zip(&entries)
}

fn to_bytes(v: &Value) -> Vec<u8> {
    // Serializing a Value cannot fail (keys are strings); an empty entry would surface in unpack.
    serde_json::to_vec(v).unwrap_or_default()
}

/// A zip of `entries` in key order with fixed metadata, so equal input gives equal bytes.
pub(crate) fn write_zip(entries: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        // Writing into a Vec only fails on zip-format limits (> 4 GiB without zip64), which the
        // sim's services never reach.
        if zip.start_file(name.as_str(), options).is_ok() {
            let _ = zip.write_all(bytes);
        }
    }
    zip.finish().map(|c| c.into_inner()).unwrap_or_default()
}

fn read_json(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<Value, PackageError> {
    let bytes = read_entry(archive, name)?;
    serde_json::from_slice(&bytes).map_err(|source| PackageError::Json { entry: name.to_owned(), source })
}

fn read_entry(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<Vec<u8>, PackageError> {
    let mut file = match archive.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Err(PackageError::Missing(name.to_owned())),
        Err(e) => return Err(e.into()),
    };
    let mut bytes = Vec::with_capacity(file.size() as usize);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn str_of(v: &Value, key: &str, what: &str) -> Result<String, PackageError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| PackageError::Invalid(format!("{what}: `{key}` must be a string")))
}

fn i64_of(v: &Value, key: &str, what: &str) -> Result<i64, PackageError> {
    v.get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| PackageError::Invalid(format!("{what}: `{key}` must be an integer")))
}

fn bool_of(v: &Value, key: &str, what: &str) -> Result<bool, PackageError> {
    v.get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| PackageError::Invalid(format!("{what}: `{key}` must be a boolean")))
}

fn ids_of(v: &Value, key: &str) -> Result<Vec<i64>, PackageError> {
    v.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| PackageError::Invalid(format!("service.json: `{key}` must be an array")))?
        .iter()
        .map(|id| {
            id.as_i64().ok_or_else(|| PackageError::Invalid(format!("service.json: `{key}` holds a non-integer")))
        })
        .collect()
}

fn read_layer(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, id: i64) -> Result<Layer, PackageError> {
    let what = format!("layers/{id}.json");
    let l = read_json(archive, &what)?;
    let fields = l
        .get("fields")
        .and_then(Value::as_array)
        .ok_or_else(|| PackageError::Invalid(format!("{what}: `fields` must be an array")))?
        .iter()
        .map(|f| {
            Ok(Field {
                name: str_of(f, "name", &what)?,
                field_type: str_of(f, "type", &what)?,
                alias: str_of(f, "alias", &what)?,
                length: f.get("length").and_then(Value::as_i64),
                nullable: bool_of(f, "nullable", &what)?,
            })
        })
        .collect::<Result<Vec<_>, PackageError>>()?;
    let features_entry = format!("features/{id}.json");
    let raw = read_json(archive, &features_entry)?;
    let raw = raw.as_array().ok_or_else(|| PackageError::Invalid(format!("{features_entry} must be an array")))?;
    let mut features = Vec::with_capacity(raw.len());
    for f in raw {
        let mut attachments = vec![];
        for a in f.get("attachments").and_then(Value::as_array).into_iter().flatten() {
            let path = str_of(a, "path", &features_entry)?;
            let bytes = read_entry(archive, &path)?;
            attachments.push(Attachment {
                id: i64_of(a, "id", &features_entry)?,
                name: str_of(a, "name", &features_entry)?,
                content_type: str_of(a, "contentType", &features_entry)?,
                bytes: bytes.into(),
            });
        }
        let attributes: Map<String, Value> = match f.get("attributes") {
            Some(Value::Object(m)) => m.clone(),
            _ => return Err(PackageError::Invalid(format!("{features_entry}: `attributes` must be an object"))),
        };
        features.push(Feature {
            object_id: i64_of(f, "objectId", &features_entry)?,
            attributes,
            geometry: f.get("geometry").filter(|g| !g.is_null()).cloned(),
            attachments,
        });
    }
    Ok(Layer {
        id: i64_of(&l, "id", &what)?,
        name: str_of(&l, "name", &what)?,
        geometry_type: str_of(&l, "geometryType", &what)?,
        fields,
        features,
        has_attachments: bool_of(&l, "hasAttachments", &what)?,
        last_edit_date: i64_of(&l, "lastEditDate", &what)?,
        next_object_id: i64_of(&l, "nextObjectId", &what)?,
        keeps_global_ids: l.get("keepsGlobalIds").and_then(Value::as_bool).unwrap_or(true),
    })
}

/// Reads a package written by `package_service` back into the service it was made from.
pub fn unpack_package(bytes: &[u8]) -> Result<FeatureService, PackageError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))?;
    let s = read_json(&mut archive, "service.json")?;
    if s.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(PackageError::Invalid("service.json does not name the portal-sim package format".into()));
    }
    if s.get("version").and_then(Value::as_i64) != Some(VERSION) {
        return Err(PackageError::Invalid("unsupported package version".into()));
    }
    let what = "service.json";
    let layers = ids_of(&s, "layers")?.into_iter().map(|id| read_layer(&mut archive, id)).collect::<Result<_, _>>()?;
    let tables = ids_of(&s, "tables")?.into_iter().map(|id| read_layer(&mut archive, id)).collect::<Result<_, _>>()?;
    Ok(FeatureService {
        name: str_of(&s, "name", what)?,
        item_id: str_of(&s, "itemId", what)?,
        layers,
        tables,
        relationships: s.get("relationships").and_then(Value::as_array).cloned().unwrap_or_default(),
        view_of: s.get("viewOf").and_then(Value::as_str).map(str::to_owned),
        capabilities: str_of(&s, "capabilities", what)?,
        sync_enabled: bool_of(&s, "syncEnabled", what)?,
        change_tracking: bool_of(&s, "changeTracking", what)?,
        export_fails: bool_of(&s, "exportFails", what)?,
        spatial_reference_wkid: s
            .get("spatialReference")
            .and_then(|sr| sr.get("wkid"))
            .and_then(Value::as_i64)
            .ok_or_else(|| PackageError::Invalid("service.json: spatialReference.wkid missing".into()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FeatureService {
        let fields = vec![
            Field {
                name: "OBJECTID".into(),
                field_type: "esriFieldTypeOID".into(),
                alias: "OBJECTID".into(),
                length: None,
                nullable: false,
            },
            Field {
                name: "Name".into(),
                field_type: "esriFieldTypeString".into(),
                alias: "Name".into(),
                length: Some(64),
                nullable: true,
            },
            Field {
                name: "Value".into(),
                field_type: "esriFieldTypeDouble".into(),
                alias: "Value".into(),
                length: None,
                nullable: true,
            },
        ];
        let feature = |oid: i64, atts: Vec<Attachment>| {
            let mut a = Map::new();
            a.insert("OBJECTID".into(), json!(oid));
            a.insert("Name".into(), json!(format!("Zone 北 ../{oid}")));
            a.insert("Value".into(), json!(0.1 + 0.2 + oid as f64 * 1234.5678901234));
            Feature {
                object_id: oid,
                attributes: a,
                geometry: Some(json!({"x": 1.5e6 + oid as f64 / 3.0, "y": -2.25})),
                attachments: atts,
            }
        };
        let att = |id: i64, name: &str| Attachment {
            id,
            name: name.into(),
            content_type: "image/jpeg".into(),
            bytes: bytes::Bytes::from(vec![id as u8; 37 * id as usize]),
        };
        FeatureService {
            name: "Hydrants".into(),
            item_id: "0123456789abcdef0123456789abcdef".into(),
            layers: vec![Layer {
                id: 0,
                name: "Hydrants".into(),
                geometry_type: "esriGeometryPoint".into(),
                fields: fields.clone(),
                features: vec![feature(1, vec![att(1, "../../etc/passwd"), att(2, "a/b.jpg")]), feature(2, vec![])],
                has_attachments: true,
                last_edit_date: 1_700_000_000_000,
                next_object_id: 3,
                keeps_global_ids: true,
            }],
            tables: vec![Layer {
                id: 1,
                name: "Inspections".into(),
                geometry_type: "".into(),
                fields,
                features: vec![Feature { geometry: None, ..feature(1, vec![]) }],
                has_attachments: false,
                last_edit_date: 1_700_000_000_001,
                next_object_id: 2,
                keeps_global_ids: true,
            }],
            relationships: vec![json!({"id": 0, "originLayerId": 0, "destinationLayerId": 1})],
            view_of: None,
            capabilities: "Query,Sync".into(),
            sync_enabled: true,
            change_tracking: false,
            export_fails: true,
            spatial_reference_wkid: 102100,
        }
    }

    #[test]
    fn round_trip_gives_the_same_service() {
        let service = sample();
        let bytes = package_service(&service);
        let back = unpack_package(&bytes).expect("a package we wrote must read back");
        assert_eq!(back, service, "unpack(package(s)) must equal s, attachments and floats included");
    }

    #[test]
    fn packages_are_byte_identical_for_the_same_state() {
        let a = package_service(&sample());
        let b = package_service(&sample());
        assert_eq!(a, b, "the same service state must give byte-identical packages");
        let mut changed = sample();
        changed.layers[0].features[1].attributes.insert("Name".into(), json!("edited"));
        assert_ne!(package_service(&changed), a, "an edit must change the package");
    }

    #[test]
    fn attachment_names_cannot_escape_their_folder() {
        let bytes = package_service(&sample());
        let archive = zip::ZipArchive::new(Cursor::new(bytes.as_slice())).expect("zip");
        for name in archive.file_names() {
            assert!(!name.contains(".."), "entry {name} must not contain `..`");
        }
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(unpack_package(b"not a zip"), Err(PackageError::Zip(_))), "random bytes are not a package");
        let mut entries = BTreeMap::new();
        entries.insert("service.json".to_string(), b"{\"format\":\"other\"}".to_vec());
        assert!(
            matches!(unpack_package(&write_zip(&entries)), Err(PackageError::Invalid(_))),
            "a foreign zip is refused"
        );
    }
}
