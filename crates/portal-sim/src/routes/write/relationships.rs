//! Relationship classes as `updateDefinition` takes them: the service-level form Esri documents
//! for a feature service's relationships (REST API "Relationships (Feature Service)" and the
//! layer/table `relationships` of "Layer (Feature Service)"): `id`, `name`, `originLayerId`,
//! `destinationLayerId`, `originPrimaryKey` (a field of the origin), `destinationForeignKey` (a
//! field of the destination), `cardinality` (`esriRelCardinalityOneToOne`, `...OneToMany`,
//! `...ManyToMany`), `composite`. A many-to-many class needs its relationship table
//! (`relationshipTableId`, with `originForeignKey` and `destinationPrimaryKey`). A definition
//! that does not match is refused with the field it lacks, as the real service refuses it,
//! instead of being stored and served back broken.

use serde_json::Value;

use crate::model::FeatureService;
use crate::routes::error::{ApiError, ApiResult};

const CARDINALITIES: [&str; 3] =
    ["esriRelCardinalityOneToOne", "esriRelCardinalityOneToMany", "esriRelCardinalityManyToMany"];

fn refused(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("Unable to update the service definition.").with_detail(detail)
}

/// Checks one relationship class against the service's layers and tables.
pub(super) fn check(service: &FeatureService, r: &Value) -> ApiResult<()> {
    let name = r.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty());
    let Some(name) = name else { return Err(refused("a relationship needs a 'name'")) };
    if r.get("id").and_then(Value::as_i64).is_none_or(|id| id < 0) {
        return Err(refused(format!("relationship '{name}' needs a non-negative integer 'id'")));
    }
    let layer = |end: &str| {
        let id = r.get(end).and_then(Value::as_i64);
        service
            .layers
            .iter()
            .chain(&service.tables)
            .find(|l| Some(l.id) == id)
            .ok_or_else(|| refused(format!("relationship '{name}': {end} {id:?} names no layer of the service")))
    };
    let (origin, destination) = (layer("originLayerId")?, layer("destinationLayerId")?);
    let field_of = |key: &str, l: &crate::model::Layer| {
        let f = r.get(key).and_then(Value::as_str).unwrap_or("");
        if l.fields.iter().any(|x| x.name.eq_ignore_ascii_case(f)) {
            Ok(())
        } else {
            Err(refused(format!("relationship '{name}': {key} '{f}' is not a field of layer {}", l.id)))
        }
    };
    field_of("originPrimaryKey", origin)?;
    let cardinality = r.get("cardinality").and_then(Value::as_str).unwrap_or("");
    if !CARDINALITIES.contains(&cardinality) {
        return Err(refused(format!(
            "relationship '{name}': cardinality '{cardinality}' is not one of {}",
            CARDINALITIES.join(", ")
        )));
    }
    if r.get("composite").is_some_and(|c| !c.is_boolean()) {
        return Err(refused(format!("relationship '{name}': 'composite' must be true or false")));
    }
    if cardinality == "esriRelCardinalityManyToMany" {
        if r.get("relationshipTableId").and_then(Value::as_i64).is_none() {
            return Err(refused(format!("relationship '{name}': many-to-many needs its 'relationshipTableId'")));
        }
    } else {
        field_of("destinationForeignKey", destination)?;
    }
    Ok(())
}
