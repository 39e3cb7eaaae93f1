//! Scene and vector tile services: the service JSON a client reads to learn their layers, at the
//! URLs the generator gives their items (`.../Hosted/<name>/SceneServer` on the services host,
//! `/tiles/<orgId>/.../<name>/VectorTileServer` on the tiles host). Tiles themselves are not served:
//! a backup keeps the item, its data and its backing service, not a tile cache.

use axum::extract::{Form, Path, State};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::caller_for_request;
use crate::model::{Audience, Item};
use crate::routes::error::{ApiError, ApiResult};
use crate::routes::hosted::TokenOnly;
use crate::server::SimState;

pub fn routes() -> Router<SimState> {
    Router::new()
        .route("/{org_id}/arcgis/rest/services/Hosted/{name}/SceneServer", get(scene_server).post(scene_server))
        .route(
            "/tiles/{org_id}/arcgis/rest/services/{name}/VectorTileServer",
            get(vector_tile_server).post(vector_tile_server),
        )
}

#[derive(Deserialize)]
struct ServicePath {
    org_id: String,
    name: String,
}

/// Finds the item whose `url` ends with `suffix` and checks the caller may see it, as the
/// real services answer: no token for a non-public service is 499, an invisible one 403.
fn visible_item(state: &SimState, parts: &Parts, token: Option<&str>, org_id: &str, suffix: &str) -> ApiResult<Item> {
    let caller = caller_for_request(state, parts, token)?;
    let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org =
        universe.org_by_id(org_id).ok_or_else(|| ApiError::bad_request("Invalid URL").with_detail("Invalid URL"))?;
    let item = org
        .items
        .values()
        .find(|i| i.url.as_deref().is_some_and(|u| u.ends_with(suffix)))
        .ok_or_else(|| ApiError::new(400, "Invalid URL").with_detail("Service not found"))?;
    let audience = match &caller {
        Some(c) => Audience::of(&universe, &c.org_id, &c.username),
        None if item.access != "public" => return Err(ApiError::token_required()),
        None => Audience::anonymous(),
    };
    if !audience.can_see_item(org, item) {
        return Err(ApiError::forbidden("the caller cannot see this service"));
    }
    Ok(item.clone())
}

async fn scene_server(
    State(state): State<SimState>,
    Path(p): Path<ServicePath>,
    parts: Parts,
    Form(t): Form<TokenOnly>,
) -> ApiResult<Json<Value>> {
    let suffix = format!("/{}/arcgis/rest/services/Hosted/{}/SceneServer", p.org_id, p.name);
    let item = visible_item(&state, &parts, t.token.as_deref(), &p.org_id, &suffix)?;
    Ok(Json(json!({
        "serviceName": p.name,
        "name": p.name,
        "currentVersion": 11.3,
        "serviceVersion": "1.8",
        "supportedBindings": ["REST"],
        "serviceItemId": item.id,
        "layers": [{
            "id": 0,
            "name": item.title,
            "layerType": "3DObject",
            "version": "1.8",
            "href": "./layers/0",
            "spatialReference": { "wkid": 102100, "latestWkid": 3857 },
            "store": { "profile": "meshpyramids", "version": "1.8" },
        }],
    })))
}

async fn vector_tile_server(
    State(state): State<SimState>,
    Path(p): Path<ServicePath>,
    parts: Parts,
    Form(t): Form<TokenOnly>,
) -> ApiResult<Json<Value>> {
    let suffix = format!("/tiles/{}/arcgis/rest/services/{}/VectorTileServer", p.org_id, p.name);
    let item = visible_item(&state, &parts, t.token.as_deref(), &p.org_id, &suffix)?;
    Ok(Json(json!({
        "currentVersion": 11.3,
        "name": p.name,
        "serviceItemId": item.id,
        "capabilities": "TilesOnly",
        "type": "indexedVector",
        "defaultStyles": "resources/styles",
        "tiles": ["tile/{z}/{y}/{x}.pbf"],
        "exportTilesAllowed": false,
        "maxzoom": 15,
        "tileInfo": { "rows": 512, "cols": 512, "dpi": 96, "format": "pbf", "spatialReference": { "wkid": 102100, "latestWkid": 3857 } },
        "initialExtent": { "xmin": -2.0037508342787e7, "ymin": -2.0037508342787e7, "xmax": 2.0037508342787e7, "ymax": 2.0037508342787e7, "spatialReference": { "wkid": 102100 } },
        "fullExtent": { "xmin": -2.0037508342787e7, "ymin": -2.0037508342787e7, "xmax": 2.0037508342787e7, "ymax": 2.0037508342787e7, "spatialReference": { "wkid": 102100 } },
    })))
}
