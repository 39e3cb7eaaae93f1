//! Requests per route, for benchmarks and request-budget tests: `GET /_sim/stats` answers
//! `{"total_requests": n, "routes": [{"route": "...", "requests": n}, ...]}`, busiest route
//! first. Counting happens in the fault middleware (every API request, faults and 429s
//! included); `POST /_sim/faults/reset` sets the counters back to zero.
//!
//! A route is the request path with its variable parts replaced: the org's url key or id
//! (`{org}`), item ids (`{id}`), usernames (`{user}`), service names (`{service}`), numbers
//! (`{n}`), and everything after `resources/` or `info/` (`{path}`, except metadata.xml),
//! so that one item's thumbnail and another's count as the same route.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::server::SimState;

/// The route a request path belongs to.
pub fn route_of(path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let mut out: Vec<String> = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        let prev = if i > 0 { segments[i - 1] } else { "" };
        if i == 0 {
            out.push("{org}".into());
            continue;
        }
        if prev == "resources" && segments.get(i.wrapping_sub(3)) == Some(&"items") {
            out.push("{path}".into());
            break;
        }
        if prev == "info" && matches!(segments.get(i.wrapping_sub(3)), Some(&"items" | &"groups")) {
            if *seg == "metadata" {
                out.push(segments[i..].join("/"));
            } else {
                out.push("{path}".into());
            }
            break;
        }
        let replaced = if prev == "users" && segments.get(i.wrapping_sub(2)) != Some(&"self") {
            "{user}".to_owned()
        } else if prev == "services" {
            "{service}".to_owned()
        } else if seg.len() == 32 && seg.bytes().all(|b| b.is_ascii_hexdigit()) {
            "{id}".to_owned()
        } else if seg.bytes().all(|b| b.is_ascii_digit()) {
            "{n}".to_owned()
        } else {
            (*seg).to_owned()
        };
        out.push(replaced);
    }
    format!("/{}", out.join("/"))
}

/// Request counts grouped by route, busiest first (ties by route).
pub fn by_route(paths: &[(String, u64)]) -> Vec<(String, u64)> {
    let mut grouped: BTreeMap<String, u64> = BTreeMap::new();
    for (p, n) in paths {
        *grouped.entry(route_of(p)).or_default() += n;
    }
    let mut v: Vec<(String, u64)> = grouped.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

pub(super) async fn stats(State(state): State<SimState>) -> Json<Value> {
    let routes: Vec<Value> = by_route(&state.faults.path_counts())
        .into_iter()
        .map(|(route, requests)| json!({ "route": route, "requests": requests }))
        .collect();
    Json(json!({ "total_requests": state.faults.total_requests(), "routes": routes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_parts_collapse_into_one_route() {
        let a = "/acme/sharing/rest/content/items/0123456789abcdef0123456789abcdef/info/thumbnail/a.png";
        let b = "/acme/sharing/rest/content/items/fedcba9876543210fedcba9876543210/info/thumbnail/b%20c.png";
        assert_eq!(route_of(a), route_of(b), "two items' thumbnails must count as one route");
        assert_eq!(route_of(a), "/{org}/sharing/rest/content/items/{id}/info/{path}");
        let meta = "/acme/sharing/rest/content/items/0123456789abcdef0123456789abcdef/info/metadata/metadata.xml";
        assert_eq!(
            route_of(meta),
            "/{org}/sharing/rest/content/items/{id}/info/metadata/metadata.xml",
            "metadata.xml must stay apart from thumbnails"
        );
        let res = "/acme/sharing/rest/content/items/0123456789abcdef0123456789abcdef/resources/images/2024/x.png";
        assert_eq!(route_of(res), "/{org}/sharing/rest/content/items/{id}/resources/{path}");
        let q = "/0rg1d/arcgis/rest/services/Parcels_3/FeatureServer/2/query";
        assert_eq!(route_of(q), "/{org}/arcgis/rest/services/{service}/FeatureServer/{n}/query");
        assert_eq!(route_of("/acme/sharing/rest/community/users/jdoe"), "/{org}/sharing/rest/community/users/{user}");
        assert_eq!(
            route_of("/acme/sharing/rest/portals/self/users/search"),
            "/{org}/sharing/rest/portals/self/users/search",
            "portals/self/users/search is a fixed route, not a username"
        );
    }

    #[test]
    fn grouping_sums_and_sorts_busiest_first() {
        let paths = vec![
            ("/acme/sharing/rest/content/items/0123456789abcdef0123456789abcdef/data".to_owned(), 2),
            ("/acme/sharing/rest/content/items/fedcba9876543210fedcba9876543210/data".to_owned(), 3),
            ("/acme/sharing/rest/portals/self".to_owned(), 1),
        ];
        let got = by_route(&paths);
        assert_eq!(
            got,
            vec![
                ("/{org}/sharing/rest/content/items/{id}/data".to_owned(), 5),
                ("/{org}/sharing/rest/portals/self".to_owned(), 1)
            ],
            "per-item paths must add up under their route, busiest first"
        );
    }
}
