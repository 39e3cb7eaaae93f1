//! Hosted feature services: JSON, paged query, attachments, export and replica jobs.

use std::time::{Duration, Instant};

use portal_sim::model::{Feature, FeatureService};
use portal_sim::routes::hosted::{export_items, unpack_package, EXPORT_TYPE_KEYWORD, MAX_RECORD_COUNT};
use portal_sim::{RunningSim, SimConfig};
use serde_json::{json, Value};

use crate::common::{client, error_code, rest, sign_in, start};

/// The first non-view service of org 0 matching `pred`, with its item's access.
fn pick_service(sim: &RunningSim, pred: impl Fn(&FeatureService) -> bool) -> FeatureService {
    let universe = sim.state.universe.read().expect("lock");
    let org = universe.org_by_id(&sim.orgs[0].id).expect("org 0");
    org.services
        .values()
        .find(|s| s.view_of.is_none() && pred(s))
        .cloned()
        .expect("the generator makes a service of this kind in every org")
}

fn service_url(sim: &RunningSim, name: &str) -> String {
    format!("{}/{}/arcgis/rest/services/{name}/FeatureServer", sim.services_url, sim.orgs[0].id)
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str, query: &[(&str, &str)]) -> Value {
    let mut q = vec![("f", "json"), ("token", token)];
    q.extend_from_slice(query);
    http.get(url).query(&q).send().await.expect("reachable").json().await.expect("json")
}

async fn post_json(http: &reqwest::Client, url: &str, token: &str, form: &[(&str, &str)]) -> Value {
    let mut f = vec![("f", "json"), ("token", token)];
    f.extend_from_slice(form);
    http.post(url).form(&f).send().await.expect("reachable").json().await.expect("json")
}

#[tokio::test]
async fn service_and_layer_json() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let token = sign_in(&http, &sim.orgs[0].portal_url, &sim.orgs[0].admin).await;
    let svc = pick_service(&sim, |s| s.sync_enabled && !s.tables.is_empty() && !s.relationships.is_empty());
    let url = service_url(&sim, &svc.name);

    let v = get_json(&http, &url, &token, &[]).await;
    assert_eq!(error_code(&v), None, "the admin reads the service: {v}");
    assert_eq!(v["serviceItemId"], svc.item_id.as_str(), "service JSON names its item");
    assert_eq!(v["maxRecordCount"], MAX_RECORD_COUNT, "maxRecordCount as documented");
    assert!(v["capabilities"].as_str().expect("capabilities").contains("Sync"), "a sync service says so: {v}");
    assert_eq!(v["syncEnabled"], true, "syncEnabled");
    assert_eq!(v["layers"].as_array().expect("layers").len(), svc.layers.len(), "one entry per layer");
    assert_eq!(v["tables"].as_array().expect("tables").len(), svc.tables.len(), "one entry per table");

    let layer = &svc.layers[0];
    let l = get_json(&http, &format!("{url}/{}", layer.id), &token, &[]).await;
    assert_eq!(l["type"], "Feature Layer", "a layer with geometry is a Feature Layer");
    assert_eq!(l["objectIdField"], "OBJECTID", "objectIdField");
    assert_eq!(
        l["editingInfo"]["lastEditDate"], layer.last_edit_date,
        "editingInfo.lastEditDate drives incremental backups"
    );
    assert_eq!(l["fields"].as_array().expect("fields").len(), layer.fields.len(), "every field is described");
    let t = get_json(&http, &format!("{url}/{}", svc.tables[0].id), &token, &[]).await;
    assert_eq!(t["type"], "Table", "a table is typed Table");
    let all = get_json(&http, &format!("{url}/layers"), &token, &[]).await;
    assert_eq!(all["tables"].as_array().expect("tables").len(), svc.tables.len(), "/layers lists tables too");
    let rels = get_json(&http, &format!("{url}/relationships"), &token, &[]).await;
    assert_eq!(
        rels["relationships"].as_array().expect("relationships").len(),
        svc.relationships.len(),
        "/relationships"
    );
    let layer_rels = l["relationships"].as_array().cloned().unwrap_or_default();
    assert!(
        !layer_rels.is_empty() || svc.relationships.iter().all(|r| r["originLayerId"] != layer.id),
        "the origin layer lists its relationship"
    );

    let missing = get_json(&http, &format!("{url}/99"), &token, &[]).await;
    assert_eq!(error_code(&missing), Some(400), "an unknown layer is Invalid URL: {missing}");
    let nosvc = get_json(&http, &service_url(&sim, "NoSuchService"), &token, &[]).await;
    assert_eq!(error_code(&nosvc), Some(400), "an unknown service is Invalid URL: {nosvc}");
}

#[tokio::test]
async fn private_services_need_a_token_and_views_name_their_source() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let private = {
        let universe = sim.state.universe.read().expect("lock");
        let o = universe.org_by_id(&org.id).expect("org");
        o.services
            .values()
            .find(|s| o.items.get(&s.item_id).is_some_and(|i| i.access == "private"))
            .cloned()
            .expect("a private service")
    };
    let v: Value = http
        .get(service_url(&sim, &private.name))
        .query(&[("f", "json")])
        .send()
        .await
        .expect("r")
        .json()
        .await
        .expect("j");
    assert_eq!(error_code(&v), Some(499), "a private service without a token answers 499: {v}");

    let other = &sim.orgs[1];
    let foreign = sign_in(&http, &other.portal_url, &other.admin).await;
    let v = get_json(&http, &service_url(&sim, &private.name), &foreign, &[]).await;
    assert_eq!(error_code(&v), Some(498), "another org's token on this org's service host path answers 498: {v}");
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let v = get_json(&http, &service_url(&sim, &private.name), &token, &[]).await;
    assert_eq!(error_code(&v), None, "the org's admin reads the private service: {v}");
    let user = sign_in(&http, &org.portal_url, &org.user).await;
    let v = get_json(&http, &service_url(&sim, &private.name), &user, &[]).await;
    assert_eq!(error_code(&v), Some(403), "a member who cannot see the item gets 403: {v}");
    let view = {
        let universe = sim.state.universe.read().expect("lock");
        universe
            .org_by_id(&org.id)
            .expect("org")
            .services
            .values()
            .find(|s| s.view_of.is_some())
            .cloned()
            .expect("a view")
    };
    let v = get_json(&http, &service_url(&sim, &view.name), &token, &[]).await;
    assert_eq!(v["isView"], true, "a view says so: {v}");
    let s = get_json(&http, &format!("{}/sources", service_url(&sim, &view.name)), &token, &[]).await;
    assert_eq!(s["services"][0]["name"].as_str(), view.view_of.as_deref(), "/sources names the source service: {s}");
    let not_view = pick_service(&sim, |_| true);
    let e = get_json(&http, &format!("{}/sources", service_url(&sim, &not_view.name)), &token, &[]).await;
    assert_eq!(error_code(&e), Some(400), "/sources on a non-view is refused: {e}");
}

#[tokio::test]
async fn query_pages_with_exceeded_transfer_limit() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let token = sign_in(&http, &sim.orgs[0].portal_url, &sim.orgs[0].admin).await;
    let svc = pick_service(&sim, |s| s.layers[0].features.len() > 10);
    let layer = &svc.layers[0];
    let url = format!("{}/{}/query", service_url(&sim, &svc.name), layer.id);

    let count = get_json(&http, &url, &token, &[("where", "1=1"), ("returnCountOnly", "true")]).await;
    assert_eq!(count["count"], layer.features.len(), "returnCountOnly counts every feature");
    let ids = get_json(&http, &url, &token, &[("where", "1=1"), ("returnIdsOnly", "true")]).await;
    assert_eq!(ids["objectIds"].as_array().expect("ids").len(), layer.features.len(), "returnIdsOnly is not paged");

    let mut got = vec![];
    let mut offset = 0;
    loop {
        let o = offset.to_string();
        let page = get_json(
            &http,
            &url,
            &token,
            &[
                ("where", "1=1"),
                ("outFields", "*"),
                ("orderByFields", "OBJECTID ASC"),
                ("resultOffset", &o),
                ("resultRecordCount", "7"),
            ],
        )
        .await;
        let features = page["features"].as_array().expect("features");
        assert!(features.len() <= 7, "a page never exceeds resultRecordCount");
        got.extend(features.iter().map(|f| f["attributes"]["OBJECTID"].as_i64().expect("oid")));
        offset += features.len();
        if page["exceededTransferLimit"] != true {
            break;
        }
        assert_eq!(features.len(), 7, "a page that says more remain is full");
    }
    let mut want: Vec<i64> = layer.features.iter().map(|f| f.object_id).collect();
    want.sort();
    assert_eq!(got, want, "paging with exceededTransferLimit yields every feature once, in object id order");

    let one = get_json(
        &http,
        &url,
        &token,
        &[("objectIds", &want[2].to_string()), ("outFields", "Name"), ("returnGeometry", "false")],
    )
    .await;
    let f = &one["features"][0];
    assert_eq!(f["attributes"]["OBJECTID"], want[2], "objectIds selects the feature");
    assert!(f.get("geometry").is_none(), "returnGeometry=false leaves geometry out: {f}");
    assert!(f["attributes"].get("Category").is_none(), "outFields limits the attributes: {f}");

    let filtered = get_json(
        &http,
        &url,
        &token,
        &[("where", &format!("OBJECTID > {}", want[want.len() - 3])), ("returnCountOnly", "true")],
    )
    .await;
    assert_eq!(filtered["count"], 2, "a simple where clause filters");
    let bad = get_json(&http, &url, &token, &[("where", "NoSuchField = 1")]).await;
    assert_eq!(error_code(&bad), Some(400), "an unknown field in where is an error, not an empty page: {bad}");
}

#[tokio::test]
async fn record_count_is_capped_at_max_record_count() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let token = sign_in(&http, &sim.orgs[0].portal_url, &sim.orgs[0].admin).await;
    let svc = pick_service(&sim, |_| true);
    {
        let mut universe = sim.state.universe.write().expect("lock");
        let layer =
            &mut universe.org_by_id_mut(&sim.orgs[0].id).expect("org").services.get_mut(&svc.name).expect("svc").layers
                [0];
        let template = layer.features[0].clone();
        let start = layer.next_object_id;
        for oid in start..start + 2_100 {
            layer.features.push(Feature { object_id: oid, ..template.clone() });
        }
        layer.next_object_id = start + 2_100;
    }
    let url = format!("{}/0/query", service_url(&sim, &svc.name));
    let page =
        get_json(&http, &url, &token, &[("where", "1=1"), ("outFields", "OBJECTID"), ("resultRecordCount", "5000")])
            .await;
    assert_eq!(
        page["features"].as_array().expect("features").len(),
        MAX_RECORD_COUNT,
        "resultRecordCount is capped at maxRecordCount"
    );
    assert_eq!(page["exceededTransferLimit"], true, "and the cap is signalled");
}

#[tokio::test]
async fn attachments_are_listed_and_served() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let token = sign_in(&http, &sim.orgs[0].portal_url, &sim.orgs[0].admin).await;
    let svc = pick_service(&sim, |s| s.layers.iter().any(|l| l.features.iter().any(|f| !f.attachments.is_empty())));
    let layer = svc.layers.iter().find(|l| l.features.iter().any(|f| !f.attachments.is_empty())).expect("layer");
    let base = service_url(&sim, &svc.name);
    let v = get_json(
        &http,
        &format!("{base}/{}/queryAttachments", layer.id),
        &token,
        &[("definitionExpression", "1=1"), ("returnUrl", "true")],
    )
    .await;
    let groups = v["attachmentGroups"].as_array().unwrap_or_else(|| panic!("attachmentGroups: {v}"));
    let with: Vec<&Feature> = layer.features.iter().filter(|f| !f.attachments.is_empty()).collect();
    assert_eq!(groups.len(), with.len(), "one group per feature with attachments");
    let feature = with[0];
    let att = &feature.attachments[0];
    let infos = get_json(&http, &format!("{base}/{}/{}/attachments", layer.id, feature.object_id), &token, &[]).await;
    assert_eq!(
        infos["attachmentInfos"].as_array().expect("infos").len(),
        feature.attachments.len(),
        "per-feature attachment list"
    );
    let bytes = http
        .get(format!("{base}/{}/{}/attachments/{}", layer.id, feature.object_id, att.id))
        .query(&[("token", token.as_str())])
        .send()
        .await
        .expect("reachable")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes, att.bytes, "the attachment download is the stored bytes");
}

/// Polls an export job until it leaves `processing`; answers (final status, processing polls seen).
async fn poll_export(
    http: &reqwest::Client,
    portal: &str,
    user: &str,
    item: &str,
    job: &str,
    token: &str,
) -> (Value, usize) {
    let url = format!("{portal}/sharing/rest/content/users/{user}/items/{item}/status");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut processing = 0;
    loop {
        let v = get_json(http, &url, token, &[("jobType", "export"), ("jobId", job)]).await;
        match v["status"].as_str() {
            Some("processing") => processing += 1,
            Some(_) => return (v, processing),
            None => panic!("status must answer a status: {v}"),
        }
        assert!(Instant::now() < deadline, "an export must finish within 10 s");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

#[tokio::test]
async fn export_life_cycle_leaves_no_export_item() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let svc = pick_service(&sim, |s| !s.export_fails);
    let export = format!("{}/sharing/rest/content/users/{}/export", org.portal_url, org.admin.username);
    let v = post_json(
        &http,
        &export,
        &token,
        &[("itemId", &svc.item_id), ("exportFormat", "File Geodatabase"), ("exportParameters", "{}")],
    )
    .await;
    let job = v["jobId"].as_str().unwrap_or_else(|| panic!("export answers a jobId: {v}")).to_owned();
    let item = v["exportItemId"].as_str().expect("exportItemId").to_owned();
    assert_eq!(v["serviceItemId"], svc.item_id.as_str(), "serviceItemId names the exported service");
    assert_eq!(v["type"], "File Geodatabase", "the export item type");

    let listed = rest(&http, &org.portal_url, &format!("content/items/{item}"), Some(&token), &[]).await;
    assert_eq!(listed["type"], "File Geodatabase", "the export item is a real item while it exists: {listed}");
    {
        let universe = sim.state.universe.read().expect("lock");
        let o = universe.org_by_id(&org.id).expect("org");
        let found = export_items(o);
        assert_eq!(found.len(), 1, "exactly one export item exists during the job");
        assert!(found[0].type_keywords.iter().any(|k| k == EXPORT_TYPE_KEYWORD), "recognisable by its type keyword");
        assert_eq!(found[0].owner, org.admin.username, "owned by the caller");
    }

    let (done, processing) = poll_export(&http, &org.portal_url, &org.admin.username, &item, &job, &token).await;
    assert_eq!(done["status"], "completed", "a healthy export completes: {done}");
    assert!(processing >= 1, "a job answers processing at least once before completing");

    let data = http
        .get(format!("{}/sharing/rest/content/items/{item}/data", org.portal_url))
        .query(&[("token", token.as_str())])
        .send()
        .await
        .expect("reachable")
        .bytes()
        .await
        .expect("bytes");
    let unpacked = unpack_package(&data).expect("the export download is a package");
    assert_eq!(unpacked, svc, "the export holds the service exactly as it is");

    let del = post_json(
        &http,
        &format!("{}/sharing/rest/content/users/{}/items/{item}/delete", org.portal_url, org.admin.username),
        &token,
        &[],
    )
    .await;
    assert_eq!(del, json!({ "success": true, "itemId": item }), "delete answers success");
    {
        let universe = sim.state.universe.read().expect("lock");
        assert!(
            export_items(universe.org_by_id(&org.id).expect("org")).is_empty(),
            "no export item is left after delete"
        );
    }
    let gone = rest(&http, &org.portal_url, &format!("content/items/{item}"), Some(&token), &[]).await;
    assert_eq!(error_code(&gone), Some(400), "a deleted item is CONT_0001: {gone}");
}

#[tokio::test]
async fn failing_export_reports_failed_with_a_json_message() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let svc = pick_service(&sim, |s| s.export_fails);
    let export = format!("{}/sharing/rest/content/users/{}/export", org.portal_url, org.admin.username);
    let v = post_json(&http, &export, &token, &[("itemId", &svc.item_id), ("exportFormat", "File Geodatabase")]).await;
    let job = v["jobId"].as_str().unwrap_or_else(|| panic!("export answers a jobId: {v}")).to_owned();
    let item = v["exportItemId"].as_str().expect("exportItemId").to_owned();
    let (done, _) = poll_export(&http, &org.portal_url, &org.admin.username, &item, &job, &token).await;
    assert_eq!(done["status"], "failed", "an export of an export_fails service fails: {done}");
    let message: Value = serde_json::from_str(done["statusMessage"].as_str().expect("statusMessage string"))
        .expect("statusMessage is JSON in a string, as on Online");
    assert!(message.get("code").is_some(), "the embedded JSON carries a code: {message}");
    {
        let universe = sim.state.universe.read().expect("lock");
        assert_eq!(
            export_items(universe.org_by_id(&org.id).expect("org")).len(),
            1,
            "a failed export leaves its item behind until deleted"
        );
    }
    let del = post_json(
        &http,
        &format!("{}/sharing/rest/content/users/{}/items/{item}/delete", org.portal_url, org.admin.username),
        &token,
        &[],
    )
    .await;
    assert_eq!(del["success"], true, "the failed export's item can be deleted: {del}");
}

#[tokio::test]
async fn paging_without_order_by_fields_gets_rows_in_no_fixed_order() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let token = sign_in(&http, &sim.orgs[0].portal_url, &sim.orgs[0].admin).await;
    // The largest first layer: a random order equals object-id order by chance at most 1/n!.
    let most = {
        let universe = sim.state.universe.read().expect("lock");
        let org = universe.org_by_id(&sim.orgs[0].id).expect("org 0");
        org.services.values().filter(|s| s.view_of.is_none()).map(|s| s.layers[0].features.len()).max().unwrap_or(0)
    };
    assert!(most >= 12, "a layer with enough rows to tell orders apart ({most})");
    let svc = pick_service(&sim, |s| s.layers[0].features.len() == most);
    let layer = &svc.layers[0];
    let url = format!("{}/{}/query", service_url(&sim, &svc.name), layer.id);
    let page = |order: Option<&'static str>| {
        let (http, url, token) = (&http, &url, &token);
        async move {
            let mut params =
                vec![("where", "1=1"), ("outFields", "*"), ("resultOffset", "0"), ("resultRecordCount", "7")];
            if let Some(o) = order {
                params.push(("orderByFields", o));
            }
            let v = get_json(http, url, token, &params).await;
            v["features"]
                .as_array()
                .expect("features")
                .iter()
                .map(|f| f["attributes"]["OBJECTID"].as_i64().expect("oid"))
                .collect::<Vec<_>>()
        }
    };
    let mut lowest: Vec<i64> = layer.features.iter().map(|f| f.object_id).collect();
    lowest.sort();
    lowest.truncate(7);
    assert_eq!(page(Some("OBJECTID ASC")).await, lowest, "ordered by object id, the first page holds the lowest ids");
    assert_ne!(page(None).await, lowest, "unordered, a page's rows come in an order of the moment");
    let desc = page(Some("OBJECTID DESC")).await;
    assert!(desc.windows(2).all(|w| w[0] > w[1]), "DESC orders downwards: {desc:?}");
}

#[tokio::test]
async fn a_replica_without_layer_queries_leaves_rows_out() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let token = sign_in(&http, &sim.orgs[0].portal_url, &sim.orgs[0].admin).await;
    let svc = pick_service(&sim, |s| s.sync_enabled && s.layers.iter().any(|l| l.features.len() > 8));
    let layer = svc.layers.iter().find(|l| l.features.len() > 8).expect("a layer");
    let url = service_url(&sim, &svc.name);
    let id = layer.id.to_string();
    let rows = |extra: Vec<(&'static str, String)>| {
        let (http, url, token, id) = (&http, &url, &token, id.clone());
        async move {
            let mut params: Vec<(&str, String)> = vec![
                ("layers", id.clone()),
                ("async", "false".into()),
                ("syncModel", "none".into()),
                ("dataFormat", "json".into()),
                ("transportType", "esriTransportTypeUrl".into()),
            ];
            params.extend(extra);
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let v = post_json(http, &format!("{url}/createReplica"), token, &params).await;
            let file = v["responseUrl"].as_str().unwrap_or_else(|| panic!("responseUrl: {v}")).to_owned();
            let body: Value = http.get(&file).send().await.expect("reachable").json().await.expect("json replica");
            body["layers"][0]["features"].as_array().expect("features").len()
        }
    };
    let all = layer.features.len();
    let queries = format!(r#"{{"{id}":{{"queryOption":"all"}}}}"#);
    assert_eq!(rows(vec![("layerQueries", queries)]).await, all, "queryOption all takes every row");
    let extent = r#"{"xmin":-180,"ymin":-90,"xmax":180,"ymax":90,"spatialReference":{"wkid":4326}}"#;
    assert_eq!(rows(vec![("geometry", extent.to_owned())]).await, all, "a full-extent geometry takes every row");
    assert!(rows(vec![]).await < all, "without them the service's default filter leaves rows out");
}

#[tokio::test]
async fn replica_async_life_cycle() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let svc = pick_service(&sim, |s| s.sync_enabled && s.layers.iter().any(|l| l.has_attachments));
    let url = service_url(&sim, &svc.name);
    let layer_ids: Vec<String> = svc.layers.iter().chain(&svc.tables).map(|l| l.id.to_string()).collect();
    let layers = format!("[{}]", layer_ids.join(","));
    let all_rows = format!(
        "{{{}}}",
        layer_ids.iter().map(|id| format!(r#""{id}":{{"queryOption":"all"}}"#)).collect::<Vec<_>>().join(",")
    );
    let v = post_json(
        &http,
        &format!("{url}/createReplica"),
        &token,
        &[
            ("layers", &layers),
            ("layerQueries", &all_rows),
            ("returnAttachments", "true"),
            ("async", "true"),
            ("syncModel", "none"),
            ("dataFormat", "filegdb"),
            ("transportType", "esriTransportTypeUrl"),
        ],
    )
    .await;
    let status_url =
        v["statusUrl"].as_str().unwrap_or_else(|| panic!("async createReplica answers a statusUrl: {v}")).to_owned();

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = vec![];
    let result_url = loop {
        let s = get_json(&http, &status_url, &token, &[]).await;
        let status = s["status"].as_str().unwrap_or_else(|| panic!("status: {s}")).to_owned();
        seen.push(status.clone());
        match status.as_str() {
            "Completed" => break s["resultUrl"].as_str().expect("resultUrl").to_owned(),
            "Pending" | "ExportingData" => {}
            other => panic!("unexpected replica status {other}: {s}"),
        }
        assert!(Instant::now() < deadline, "a replica must complete within 10 s");
        tokio::time::sleep(Duration::from_millis(60)).await;
    };
    assert_eq!(seen[0], "Pending", "the first poll sees Pending: {seen:?}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bytes = http.get(&result_url).send().await.expect("reachable").bytes().await.expect("bytes");
    let unpacked = unpack_package(&bytes).expect("the replica download is a package");
    assert_eq!(unpacked.layers, svc.layers, "the replica holds every layer with its attachments");
    assert_eq!(unpacked.tables, svc.tables, "and every table");

    let no_sync = pick_service(&sim, |s| !s.sync_enabled && !s.capabilities.contains("Sync"));
    let e = post_json(
        &http,
        &format!("{}/createReplica", service_url(&sim, &no_sync.name)),
        &token,
        &[("layers", "0"), ("async", "true")],
    )
    .await;
    assert_eq!(error_code(&e), Some(400), "createReplica needs the Sync capability: {e}");
}
