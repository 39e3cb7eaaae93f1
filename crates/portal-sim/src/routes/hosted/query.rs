//! `query`, `queryAttachments` and the attachment endpoints of a layer: the paged fallback a client
//! uses when export and replica are unavailable. Paging follows Online: `resultOffset` and
//! `resultRecordCount` (capped at `maxRecordCount`), `exceededTransferLimit: true` while more rows
//! remain; `returnIdsOnly` and `returnCountOnly` are not paged.
//!
//! `where` supports what backup clients send: `1=1` (or empty) and conjunctions (`AND`) of
//! `<field> <op> <literal>` with `=`, `<>`, `!=`, `<`, `<=`, `>`, `>=` and numeric or quoted literals.

use std::cmp::Ordering;

use axum::extract::{Form, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{caller_of, field_json, find_layer, global_id_field, oid_field, with_service, MAX_RECORD_COUNT};
use crate::model::{Feature, Layer};
use crate::routes::error::{ApiError, ApiResult};
use crate::server::SimState;

#[derive(Deserialize)]
pub(super) struct LayerPath {
    url_key: String,
    name: String,
    layer: String,
}

#[derive(Deserialize, Default)]
pub(super) struct QueryParams {
    #[serde(default, rename = "where")]
    where_clause: Option<String>,
    #[serde(default, rename = "outFields")]
    out_fields: Option<String>,
    #[serde(default, rename = "returnGeometry")]
    return_geometry: Option<String>,
    #[serde(default, rename = "resultOffset")]
    result_offset: Option<String>,
    #[serde(default, rename = "resultRecordCount")]
    result_record_count: Option<String>,
    #[serde(default, rename = "returnCountOnly")]
    return_count_only: Option<String>,
    #[serde(default, rename = "returnIdsOnly")]
    return_ids_only: Option<String>,
    #[serde(default, rename = "objectIds")]
    object_ids: Option<String>,
    #[serde(default, rename = "orderByFields")]
    order_by_fields: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

fn flag(v: &Option<String>, default: bool) -> bool {
    match v.as_deref().map(str::trim) {
        None | Some("") => default,
        Some(s) => s.eq_ignore_ascii_case("true"),
    }
}

fn query_error(detail: impl Into<String>) -> ApiError {
    ApiError::new(400, "Unable to complete operation.").with_detail(detail)
}

fn parse_count(v: &Option<String>, name: &str) -> ApiResult<Option<usize>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<usize>().map(Some).map_err(|_| query_error(format!("'{name}' parameter is invalid"))),
    }
}

/// `objectIds=1,2,3`; `None` when absent (every feature).
fn parse_ids(v: &Option<String>) -> ApiResult<Option<Vec<i64>>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .split(',')
            .map(|p| p.trim().parse::<i64>().map_err(|_| query_error("'objectIds' parameter is invalid")))
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
    }
}

#[derive(Debug, PartialEq)]
enum Literal {
    Number(f64),
    Text(String),
}

#[derive(Debug)]
struct Condition {
    field: String,
    op: &'static str,
    value: Literal,
}

fn parse_where(clause: Option<&str>) -> ApiResult<Vec<Condition>> {
    let clause = clause.map(str::trim).unwrap_or("");
    if clause.is_empty() || clause.replace(' ', "") == "1=1" {
        return Ok(vec![]);
    }
    let invalid = || query_error("Unable to perform query. Please check your parameters.");
    let mut conditions = vec![];
    for term in split_and(clause) {
        let term = term.trim();
        if term.replace(' ', "") == "1=1" {
            continue;
        }
        let (pos, op) = ["<>", "!=", "<=", ">=", "=", "<", ">"]
            .iter()
            .filter_map(|op| term.find(op).map(|p| (p, *op)))
            .min_by_key(|(p, op)| (*p, std::cmp::Reverse(op.len())))
            .ok_or_else(invalid)?;
        let field = term[..pos].trim().to_owned();
        let raw = term[pos + op.len()..].trim();
        if field.is_empty() || !field.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(invalid());
        }
        let value = if raw.len() >= 2 && raw.starts_with('\'') && raw.ends_with('\'') {
            Literal::Text(raw[1..raw.len() - 1].replace("''", "'"))
        } else {
            Literal::Number(raw.parse().map_err(|_| invalid())?)
        };
        let op = if op == "!=" { "<>" } else { op };
        conditions.push(Condition { field, op, value });
    }
    Ok(conditions)
}

/// Splits on ` AND ` outside quotes, case-insensitively.
fn split_and(clause: &str) -> Vec<String> {
    let mut parts = vec![];
    let mut current = String::new();
    let mut in_quote = false;
    let chars: Vec<char> = clause.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_quote = !in_quote;
        }
        if !in_quote && i + 5 <= chars.len() {
            let window: String = chars[i..i + 5].iter().collect();
            if window.eq_ignore_ascii_case(" and ") {
                parts.push(std::mem::take(&mut current));
                i += 5;
                continue;
            }
        }
        current.push(c);
        i += 1;
    }
    parts.push(current);
    parts
}

fn attribute(layer: &Layer, f: &Feature, field: &str) -> Option<Value> {
    if field.eq_ignore_ascii_case(oid_field(layer)) {
        return Some(json!(f.object_id));
    }
    f.attributes.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)).map(|(_, v)| v.clone())
}

fn matches(layer: &Layer, f: &Feature, conditions: &[Condition]) -> bool {
    conditions.iter().all(|c| {
        let Some(v) = attribute(layer, f, &c.field) else { return false };
        let ord = match (&v, &c.value) {
            (Value::Number(n), Literal::Number(want)) => n.as_f64().and_then(|n| n.partial_cmp(want)),
            (Value::String(s), Literal::Text(want)) => Some(s.as_str().cmp(want.as_str())),
            _ => None,
        };
        let Some(ord) = ord else { return false };
        match c.op {
            "=" => ord == Ordering::Equal,
            "<>" => ord != Ordering::Equal,
            "<" => ord == Ordering::Less,
            "<=" => ord != Ordering::Greater,
            ">" => ord == Ordering::Greater,
            _ => ord != Ordering::Less,
        }
    })
}

fn check_fields(layer: &Layer, conditions: &[Condition]) -> ApiResult<()> {
    for c in conditions {
        if !layer.fields.iter().any(|f| f.name.eq_ignore_ascii_case(&c.field)) {
            return Err(query_error(format!("Invalid field: {}", c.field)));
        }
    }
    Ok(())
}

/// The features selected by `objectIds` and `where`, in object id order.
fn select<'a>(layer: &'a Layer, ids: Option<&[i64]>, conditions: &[Condition]) -> Vec<&'a Feature> {
    let mut selected: Vec<&Feature> = layer
        .features
        .iter()
        .filter(|f| ids.is_none_or(|ids| ids.contains(&f.object_id)))
        .filter(|f| matches(layer, f, conditions))
        .collect();
    selected.sort_by_key(|f| f.object_id);
    selected
}

/// The rows in the order `orderByFields` asks (`<field> [ASC|DESC]`, comma-separated). Without
/// it a paged query (`resultOffset`) gets its rows in an order of the moment, different from one
/// request to the next, as a real service's database may answer them: Esri's "Query" reference
/// tells clients to page with `orderByFields`, and a client that does not may see a row twice
/// and another never.
fn ordered<'a>(
    layer: &Layer,
    mut rows: Vec<&'a Feature>,
    order_by: Option<&str>,
    paged: bool,
) -> ApiResult<Vec<&'a Feature>> {
    let Some(spec) = order_by.map(str::trim).filter(|s| !s.is_empty()) else {
        if paged {
            let nonce: u64 = rand::random();
            rows.sort_by_key(|f| crate::generate::stable_hash_of(&format!("{nonce}/{}", f.object_id)));
        }
        return Ok(rows);
    };
    let oid = oid_field(layer);
    let mut keys: Vec<(String, bool)> = vec![];
    for part in spec.split(',') {
        let mut words = part.split_whitespace();
        let field = words.next().unwrap_or("");
        let desc = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => return Err(query_error(format!("Invalid 'orderByFields' direction: {other}"))),
        };
        let Some(f) = layer.fields.iter().find(|f| f.name.eq_ignore_ascii_case(field)) else {
            return Err(query_error(format!("Invalid field in 'orderByFields': {field}")));
        };
        keys.push((f.name.clone(), desc));
    }
    rows.sort_by(|a, b| {
        keys.iter()
            .map(|(field, desc)| {
                let ord = if *field == oid {
                    a.object_id.cmp(&b.object_id)
                } else {
                    compare_values(a.attributes.get(field), b.attributes.get(field))
                };
                if *desc {
                    ord.reverse()
                } else {
                    ord
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.object_id.cmp(&b.object_id))
    });
    Ok(rows)
}

/// Attribute values compared as a database would: numbers by value, text by text, nulls first.
fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a.and_then(Value::as_f64), b.and_then(Value::as_f64)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => {
            let text = |v: Option<&Value>| {
                v.filter(|v| !v.is_null()).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            };
            text(a).cmp(&text(b))
        }
    }
}

fn feature_json(layer: &Layer, f: &Feature, out_fields: &[String], with_geometry: bool) -> Value {
    let oid = oid_field(layer);
    let mut attributes = Map::new();
    for field in &layer.fields {
        let wanted = out_fields.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(&field.name)) || field.name == oid;
        if wanted {
            let value = if field.name == oid {
                json!(f.object_id)
            } else {
                f.attributes.get(&field.name).cloned().unwrap_or(Value::Null)
            };
            attributes.insert(field.name.clone(), value);
        }
    }
    let mut v = json!({ "attributes": attributes });
    if with_geometry && !layer.geometry_type.is_empty() {
        if let Some(g) = &f.geometry {
            v["geometry"] = g.clone();
        }
    }
    v
}

pub(super) async fn query(
    State(state): State<SimState>,
    Path(p): Path<LayerPath>,
    parts: Parts,
    Form(q): Form<QueryParams>,
) -> ApiResult<Json<Value>> {
    let caller = caller_of(&state, &parts, q.token.as_deref())?;
    with_service(&state, &p.url_key, &p.name, caller.as_ref(), |_, service, layers, tables| {
        let layer = find_layer(layers, tables, &p.layer)?;
        let conditions = parse_where(q.where_clause.as_deref())?;
        check_fields(layer, &conditions)?;
        let ids = parse_ids(&q.object_ids)?;
        let selected = select(layer, ids.as_deref(), &conditions);
        if flag(&q.return_count_only, false) {
            return Ok(Json(json!({ "count": selected.len() })));
        }
        if flag(&q.return_ids_only, false) {
            return Ok(Json(json!({
                "objectIdFieldName": oid_field(layer),
                "objectIds": selected.iter().map(|f| f.object_id).collect::<Vec<_>>(),
            })));
        }
        let paged = q.result_offset.as_deref().is_some_and(|o| !o.trim().is_empty());
        let selected = ordered(layer, selected, q.order_by_fields.as_deref(), paged)?;
        let offset = parse_count(&q.result_offset, "resultOffset")?.unwrap_or(0);
        let count = parse_count(&q.result_record_count, "resultRecordCount")?
            .filter(|n| *n > 0)
            .unwrap_or(MAX_RECORD_COUNT)
            .min(MAX_RECORD_COUNT);
        let out_fields: Vec<String> = q
            .out_fields
            .as_deref()
            .unwrap_or("*")
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let with_geometry = flag(&q.return_geometry, true);
        let page: Vec<Value> = selected
            .iter()
            .skip(offset)
            .take(count)
            .map(|f| feature_json(layer, f, &out_fields, with_geometry))
            .collect();
        let exceeded = selected.len() > offset.saturating_add(count);
        let fields: Vec<Value> = layer
            .fields
            .iter()
            .filter(|f| {
                out_fields.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(&f.name)) || f.name == oid_field(layer)
            })
            .map(field_json)
            .collect();
        let mut v = json!({
            "objectIdFieldName": oid_field(layer),
            "uniqueIdField": { "name": oid_field(layer), "isSystemMaintained": true },
            "globalIdFieldName": global_id_field(layer),
            "fields": fields,
            "features": page,
        });
        if !layer.geometry_type.is_empty() {
            v["geometryType"] = json!(layer.geometry_type);
            let wkid = service.spatial_reference_wkid;
            v["spatialReference"] = json!({ "wkid": wkid, "latestWkid": if wkid == 102100 { 3857 } else { wkid } });
        }
        // Online omits the flag when nothing is left; clients must treat absence as false.
        if exceeded {
            v["exceededTransferLimit"] = json!(true);
        }
        Ok(Json(v))
    })
}

#[derive(Deserialize, Default)]
pub(super) struct AttachmentQuery {
    #[serde(default, rename = "objectIds")]
    object_ids: Option<String>,
    #[serde(default, rename = "definitionExpression")]
    definition_expression: Option<String>,
    #[serde(default, rename = "returnUrl")]
    return_url: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

fn attachment_info(url: Option<String>, a: &crate::model::Attachment, parent: &Feature) -> Value {
    let mut v = json!({
        "id": a.id,
        "parentObjectId": parent.object_id,
        "name": a.name,
        "contentType": a.content_type,
        "size": a.bytes.len(),
        "keywords": "",
    });
    if let Some(url) = url {
        v["url"] = json!(url);
    }
    v
}

pub(super) async fn query_attachments(
    State(state): State<SimState>,
    Path(p): Path<LayerPath>,
    parts: Parts,
    Form(q): Form<AttachmentQuery>,
) -> ApiResult<Json<Value>> {
    let caller = caller_of(&state, &parts, q.token.as_deref())?;
    let base = super::service_url(&state, &p.url_key, &p.name);
    with_service(&state, &p.url_key, &p.name, caller.as_ref(), |_, _, layers, tables| {
        let layer = find_layer(layers, tables, &p.layer)?;
        if !layer.has_attachments {
            return Err(super::not_supported());
        }
        let conditions = parse_where(q.definition_expression.as_deref())?;
        check_fields(layer, &conditions)?;
        let ids = parse_ids(&q.object_ids)?;
        let with_url = flag(&q.return_url, false);
        let gid = global_id_field(layer);
        let groups: Vec<Value> = select(layer, ids.as_deref(), &conditions)
            .into_iter()
            .filter(|f| !f.attachments.is_empty())
            .map(|f| {
                let infos: Vec<Value> = f
                    .attachments
                    .iter()
                    .map(|a| {
                        let url = with_url.then(|| format!("{base}/{}/{}/attachments/{}", layer.id, f.object_id, a.id));
                        attachment_info(url, a, f)
                    })
                    .collect();
                json!({
                    "parentObjectId": f.object_id,
                    "parentGlobalId": f.attributes.get(gid).cloned().unwrap_or(Value::Null),
                    "attachmentInfos": infos,
                })
            })
            .collect();
        Ok(Json(json!({ "fields": [], "attachmentGroups": groups })))
    })
}

#[derive(Deserialize)]
pub(super) struct FeaturePath {
    url_key: String,
    name: String,
    layer: String,
    oid: String,
}

fn find_feature<'a>(layer: &'a Layer, oid: &str) -> ApiResult<&'a Feature> {
    let oid: i64 = oid.parse().map_err(|_| super::invalid_url())?;
    layer
        .features
        .iter()
        .find(|f| f.object_id == oid)
        .ok_or_else(|| ApiError::not_found("Feature not found.").with_detail(format!("Object id {oid} does not exist")))
}

pub(super) async fn attachment_infos(
    State(state): State<SimState>,
    Path(p): Path<FeaturePath>,
    parts: Parts,
    Form(t): Form<super::TokenOnly>,
) -> ApiResult<Json<Value>> {
    let caller = caller_of(&state, &parts, t.token.as_deref())?;
    with_service(&state, &p.url_key, &p.name, caller.as_ref(), |_, _, layers, tables| {
        let layer = find_layer(layers, tables, &p.layer)?;
        if !layer.has_attachments {
            return Err(super::not_supported());
        }
        let f = find_feature(layer, &p.oid)?;
        let infos: Vec<Value> = f.attachments.iter().map(|a| attachment_info(None, a, f)).collect();
        Ok(Json(json!({ "attachmentInfos": infos })))
    })
}

#[derive(Deserialize)]
pub(super) struct AttachmentPath {
    url_key: String,
    name: String,
    layer: String,
    oid: String,
    aid: String,
}

/// RFC 5987 encoding for a `filename*` parameter: names may hold any Unicode.
pub(crate) fn content_disposition(name: &str) -> String {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

pub(super) async fn attachment_bytes(
    State(state): State<SimState>,
    Path(p): Path<AttachmentPath>,
    parts: Parts,
    Form(t): Form<super::TokenOnly>,
) -> ApiResult<Response> {
    let caller = caller_of(&state, &parts, t.token.as_deref())?;
    let (bytes, content_type, name) =
        with_service(&state, &p.url_key, &p.name, caller.as_ref(), |_, _, layers, tables| {
            let layer = find_layer(layers, tables, &p.layer)?;
            let f = find_feature(layer, &p.oid)?;
            let aid: i64 = p.aid.parse().map_err(|_| super::invalid_url())?;
            let a = f
                .attachments
                .iter()
                .find(|a| a.id == aid)
                .ok_or_else(|| ApiError::not_found("Attachment not found."))?;
            Ok((a.bytes.clone(), a.content_type.clone(), a.name.clone()))
        })?;
    Ok(([(header::CONTENT_TYPE, content_type), (header::CONTENT_DISPOSITION, content_disposition(&name))], bytes)
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_clauses_backup_clients_send_parse() {
        assert!(parse_where(Some("1=1")).expect("1=1").is_empty(), "1=1 selects everything");
        assert!(parse_where(Some(" 1 = 1 ")).expect("spaced").is_empty(), "spacing does not matter");
        let c = parse_where(Some("OBJECTID > 10 AND Name = 'it''s and more'")).expect("conjunction");
        assert_eq!(c.len(), 2, "AND inside quotes must not split: {c:?}");
        assert_eq!(c[0].op, ">", "operator of the first term");
        assert_eq!(c[1].value, Literal::Text("it's and more".into()), "quoted literal with an escaped quote");
        assert!(parse_where(Some("OBJECTID >= 5")).expect(">=")[0].op == ">=", ">= must not be read as >");
        assert!(parse_where(Some("DROP TABLE x")).is_err(), "unsupported syntax is refused, not ignored");
    }

    #[test]
    fn content_disposition_keeps_unicode_names_safe() {
        let h = content_disposition("Zone 北 \"x\".jpg");
        assert!(h.is_ascii(), "a header value must be ASCII: {h}");
        assert!(
            h.contains("filename*=UTF-8''Zone%20%E5%8C%97%20%22x%22.jpg"),
            "RFC 5987 form carries the exact name: {h}"
        );
    }
}
