//! Write endpoints for hosted feature services: built piece by piece, and published from a package.

use std::time::{Duration, Instant};

use portal_sim::model::FeatureService;
use portal_sim::routes::hosted::{package_service, unpack_package};
use portal_sim::RunningSim;
use serde_json::{json, Value};

use crate::common::{
    client, error_code, error_message, get_json, post_form, post_multipart, rest, restore_config, sign_in, start,
};

fn service_url(sim: &RunningSim, org: usize, name: &str) -> String {
    format!("{}/{}/arcgis/rest/services/{name}/FeatureServer", sim.services_url, sim.orgs[org].id)
}

fn admin_url(sim: &RunningSim, org: usize, name: &str) -> String {
    format!("{}/{}/arcgis/rest/admin/services/{name}/FeatureServer", sim.services_url, sim.orgs[org].id)
}

/// The stored service `name` of org `org`.
fn model_service(sim: &RunningSim, org: usize, name: &str) -> FeatureService {
    let universe = sim.state.universe.read().expect("lock");
    universe.org_by_id(&sim.orgs[org].id).and_then(|o| o.services.get(name).cloned()).expect("the service exists")
}

#[tokio::test]
async fn a_service_built_piece_by_piece_serves_its_data() {
    let sim = start(restore_config()).await;
    let http = client();
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let root = format!("{}/sharing/rest", org.portal_url);
    let user_root = format!("{root}/content/users/{}", org.admin.username);
    let available = |name: &'static str| {
        let (http, root, token) = (http.clone(), root.clone(), token.clone());
        async move {
            get_json(
                &http,
                &format!("{root}/portals/self/isServiceNameAvailable"),
                Some(&token),
                &[("name", name), ("type", "Feature Service")],
            )
            .await["available"]
                .clone()
        }
    };
    assert_eq!(available("Hydrants").await, true, "a new name is available");
    let params = json!({ "name": "Hydrants", "serviceDescription": "restored", "capabilities": "Create,Query,Update,Editing,Sync",
        "spatialReference": { "wkid": 102100 }, "maxRecordCount": 2000 });
    let created = post_form(
        &http,
        &format!("{user_root}/createService"),
        &token,
        &[("createParameters", &params.to_string()), ("outputType", "featureService")],
    )
    .await;
    assert_eq!(created["success"], true, "createService succeeds: {created}");
    let item_id = created["serviceItemId"].as_str().expect("serviceItemId").to_owned();
    assert_eq!(
        created["serviceurl"],
        service_url(&sim, 1, "Hydrants").as_str(),
        "the service URL is on the org's services path"
    );
    assert_eq!(available("hydrants").await, false, "names compare case-insensitively once taken");
    let again =
        post_form(&http, &format!("{user_root}/createService"), &token, &[("createParameters", &params.to_string())])
            .await;
    assert_eq!(error_code(&again), Some(400), "a taken name is refused: {again}");
    let item = rest(&http, &org.portal_url, &format!("content/items/{item_id}"), Some(&token), &[]).await;
    assert_eq!(
        (item["type"].clone(), item["url"].clone()),
        (json!("Feature Service"), created["serviceurl"].clone()),
        "{item}"
    );

    let fields = json!([
        { "name": "OBJECTID", "type": "esriFieldTypeOID", "alias": "OBJECTID", "nullable": false },
        { "name": "GlobalID", "type": "esriFieldTypeGlobalID", "alias": "GlobalID", "length": 38, "nullable": false },
        { "name": "Name", "type": "esriFieldTypeString", "alias": "Name", "length": 64, "nullable": true },
    ]);
    let mut child_fields = fields.as_array().cloned().expect("array");
    child_fields.push(json!({ "name": "ParentGUID", "type": "esriFieldTypeGUID", "alias": "ParentGUID", "length": 38, "nullable": true }));
    let relationship = json!({ "id": 0, "name": "Hydrants_Inspections", "originLayerId": 0, "destinationLayerId": 1,
        "originPrimaryKey": "GlobalID", "destinationForeignKey": "ParentGUID", "cardinality": "esriRelCardinalityOneToMany", "composite": false });
    let layers = json!({
        "layers": [{ "id": 0, "name": "Hydrants", "type": "Feature Layer", "geometryType": "esriGeometryPoint", "fields": fields, "hasAttachments": true, "objectIdField": "OBJECTID" }],
        "tables": [{ "id": 1, "name": "Inspections", "type": "Table", "fields": child_fields, "hasAttachments": false, "objectIdField": "OBJECTID" }],
    });
    let mut with_rels = layers.clone();
    with_rels["relationships"] = json!([relationship]);
    let refused = post_form(
        &http,
        &format!("{}/addToDefinition", admin_url(&sim, 1, "Hydrants")),
        &token,
        &[("addToDefinition", &with_rels.to_string())],
    )
    .await;
    assert_eq!(error_code(&refused), Some(400), "relationships are refused in addToDefinition: {refused}");
    assert!(error_message(&refused).contains("updateDefinition"), "the message says where they belong: {refused}");
    let added = post_form(
        &http,
        &format!("{}/addToDefinition", admin_url(&sim, 1, "Hydrants")),
        &token,
        &[("addToDefinition", &layers.to_string())],
    )
    .await;
    assert_eq!(
        added["layers"],
        json!([{ "name": "Hydrants", "id": 0 }, { "name": "Inspections", "id": 1 }]),
        "layers are added: {added}"
    );
    let upd = json!({ "relationships": [relationship] });
    let updated = post_form(
        &http,
        &format!("{}/updateDefinition", admin_url(&sim, 1, "Hydrants")),
        &token,
        &[("updateDefinition", &upd.to_string())],
    )
    .await;
    assert_eq!(updated["success"], true, "updateDefinition takes the relationships: {updated}");
    let url = service_url(&sim, 1, "Hydrants");
    let rels = get_json(&http, &format!("{url}/relationships"), Some(&token), &[]).await;
    assert_eq!(rels["relationships"], json!([relationship]), "/relationships serves them: {rels}");
    let layer0 = get_json(&http, &format!("{url}/0"), Some(&token), &[]).await;
    assert_eq!(
        layer0["relationships"][0]["role"], "esriRelRoleOrigin",
        "the layer JSON names its relationship: {layer0}"
    );

    let too_many: Vec<Value> = (0..2001).map(|i| json!({ "attributes": { "Name": format!("h{i}") } })).collect();
    let refused =
        post_form(&http, &format!("{url}/0/applyEdits"), &token, &[("adds", &json!(too_many).to_string())]).await;
    assert_eq!(error_code(&refused), Some(400), "2001 adds in one call are refused: {refused}");
    let gid = "{11111111-2222-3333-4444-555555555555}";
    let adds = json!([
        { "attributes": { "OBJECTID": 99, "GlobalID": gid, "Name": "first" }, "geometry": { "x": 1.0, "y": 2.0 } },
        { "attributes": { "OBJECTID": 98, "Name": "second" }, "geometry": { "x": 3.0, "y": 4.0 } },
    ]);
    let edits = post_form(
        &http,
        &format!("{url}/0/applyEdits"),
        &token,
        &[("adds", &adds.to_string()), ("rollbackOnFailure", "true"), ("useGlobalIds", "true")],
    )
    .await;
    let oids: Vec<i64> =
        edits["addResults"].as_array().expect("addResults").iter().filter_map(|r| r["objectId"].as_i64()).collect();
    assert_eq!(oids, vec![1, 2], "the service assigns object ids, ignoring the sent ones: {edits}");
    assert_eq!(edits["addResults"][0]["globalId"], gid, "with useGlobalIds a sent GlobalID is kept");
    // The same GlobalID again fails that add and, with rollbackOnFailure, the whole batch.
    let again = json!([
        { "attributes": { "Name": "third" }, "geometry": { "x": 5.0, "y": 6.0 } },
        { "attributes": { "Name": "dup", "GlobalID": gid }, "geometry": { "x": 5.0, "y": 6.0 } },
    ]);
    let dup = post_form(
        &http,
        &format!("{url}/0/applyEdits"),
        &token,
        &[("adds", &again.to_string()), ("rollbackOnFailure", "true"), ("useGlobalIds", "true")],
    )
    .await;
    assert_eq!(dup["addResults"][1]["success"], false, "a GlobalID already in the layer fails the add: {dup}");
    let count =
        get_json(&http, &format!("{url}/0/query"), Some(&token), &[("where", "1=1"), ("returnCountOnly", "true")])
            .await;
    assert_eq!(count["count"], 2, "the failed batch was rolled back whole: {count}");
    // Without useGlobalIds (its default is false) the layer assigns new GlobalIDs.
    let fresh = json!([{ "attributes": { "Name": "third", "GlobalID": gid }, "geometry": { "x": 5.0, "y": 6.0 } }]);
    let plain = post_form(&http, &format!("{url}/0/applyEdits"), &token, &[("adds", &fresh.to_string())]).await;
    assert_eq!(plain["addResults"][0]["success"], true, "{plain}");
    assert_ne!(plain["addResults"][0]["globalId"], gid, "without useGlobalIds the layer assigns its own GlobalID");
    let deleted = post_form(
        &http,
        &format!("{url}/0/applyEdits"),
        &token,
        &[("deletes", &plain["addResults"][0]["objectId"].to_string())],
    )
    .await;
    assert_eq!(deleted["deleteResults"][0]["success"], true, "{deleted}");
    let child = json!([{ "attributes": { "Name": "inspection", "ParentGUID": gid } }]);
    let edits = post_form(&http, &format!("{url}/1/applyEdits"), &token, &[("adds", &child.to_string())]).await;
    assert_eq!(edits["addResults"][0]["success"], true, "a table row is added: {edits}");

    let photo = vec![0xFFu8, 0xD8, 0xFF, 1, 2, 3, 4];
    let att = post_multipart(
        &http,
        &format!("{url}/0/1/addAttachment"),
        &token,
        &[],
        vec![("attachment", "photo 1.jpg", photo.clone())],
    )
    .await;
    assert_eq!(att["addAttachmentResult"]["success"], true, "addAttachment succeeds: {att}");
    let aid = att["addAttachmentResult"]["objectId"].as_i64().expect("attachment id");

    let q = get_json(&http, &format!("{url}/0/query"), Some(&token), &[("where", "1=1"), ("outFields", "*")]).await;
    let names: Vec<&str> =
        q["features"].as_array().expect("features").iter().filter_map(|f| f["attributes"]["Name"].as_str()).collect();
    assert_eq!(names, vec!["first", "second"], "query returns the added features: {q}");
    assert_eq!(q["features"][0]["geometry"], json!({ "x": 1.0, "y": 2.0 }), "with their geometry");
    let qa = get_json(
        &http,
        &format!("{url}/0/queryAttachments"),
        Some(&token),
        &[("objectIds", "1,2"), ("returnUrl", "true")],
    )
    .await;
    let groups = qa["attachmentGroups"].as_array().expect("attachmentGroups");
    assert_eq!(groups.len(), 1, "one feature has an attachment: {qa}");
    assert_eq!(groups[0]["attachmentInfos"][0]["name"], "photo 1.jpg", "its name reads back");
    let bytes = http
        .get(format!("{url}/0/1/attachments/{aid}"))
        .query(&[("token", token.as_str())])
        .send()
        .await
        .expect("reachable")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes.to_vec(), photo, "the attachment's bytes read back");

    // A view: createService isView, then layers naming their source; it serves the source's rows.
    let view_params = json!({ "name": "Hydrants_view", "capabilities": "Query", "isView": true });
    let view = post_form(
        &http,
        &format!("{user_root}/createService"),
        &token,
        &[("createParameters", &view_params.to_string()), ("isView", "true")],
    )
    .await;
    assert_eq!(view["isView"], true, "a view is created: {view}");
    let view_layers = json!({ "layers": [{ "id": 0, "name": "Hydrants", "geometryType": "esriGeometryPoint", "fields": fields,
        "adminLayerInfo": { "viewLayerDefinition": { "sourceServiceName": "Hydrants", "sourceLayerId": 0, "sourceLayerFields": "*" } } }] });
    let added = post_form(
        &http,
        &format!("{}/addToDefinition", admin_url(&sim, 1, "Hydrants_view")),
        &token,
        &[("addToDefinition", &view_layers.to_string())],
    )
    .await;
    assert_eq!(added["success"], true, "a view's layers are added: {added}");
    let count = get_json(
        &http,
        &format!("{}/0/query", service_url(&sim, 1, "Hydrants_view")),
        Some(&token),
        &[("where", "1=1"), ("returnCountOnly", "true")],
    )
    .await;
    assert_eq!(count["count"], 2, "the view serves its source's features: {count}");
    let sources =
        get_json(&http, &format!("{}/sources", service_url(&sim, 1, "Hydrants_view")), Some(&token), &[]).await;
    assert_eq!(sources["services"][0]["name"], "Hydrants", "the view names its source: {sources}");

    // Only the owner or an admin edits; the org's plain user may not.
    let user = sign_in(&http, &org.portal_url, &org.user).await;
    let denied = post_form(&http, &format!("{url}/0/applyEdits"), &user, &[("adds", &adds.to_string())]).await;
    assert!(matches!(error_code(&denied), Some(403) | Some(499)), "a non-owner may not edit: {denied}");
    assert_eq!(model_service(&sim, 1, "Hydrants").layers[0].features.len(), 2, "the refused edit added nothing");
}

async fn poll_publish(
    http: &reqwest::Client,
    root: &str,
    owner: &str,
    token: &str,
    item: &str,
    job: &str,
) -> (Vec<String>, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = vec![];
    loop {
        let s = get_json(
            http,
            &format!("{root}/content/users/{owner}/items/{item}/status"),
            Some(token),
            &[("jobType", "publish"), ("jobId", job)],
        )
        .await;
        let status = s["status"].as_str().unwrap_or_else(|| panic!("a publish status: {s}")).to_owned();
        seen.push(status.clone());
        if status != "processing" {
            return (seen, s);
        }
        assert!(Instant::now() < deadline, "a publish job must end within 10 s");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

#[tokio::test]
async fn a_published_package_comes_back_whole_in_the_empty_org() {
    let sim = start(restore_config()).await;
    let http = client();
    let source = {
        let universe = sim.state.universe.read().expect("lock");
        let org = universe.org_by_id(&sim.orgs[0].id).expect("org 0");
        org.services
            .values()
            .find(|s| {
                s.view_of.is_none()
                    && s.sync_enabled
                    && !s.relationships.is_empty()
                    && s.layers.iter().any(|l| l.features.iter().any(|f| !f.attachments.is_empty()))
            })
            .cloned()
            .expect("the generator makes a service with relationships and attachments")
    };
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let root = format!("{}/sharing/rest", org.portal_url);
    let owner = org.admin.username.clone();
    let user_root = format!("{root}/content/users/{owner}");

    let upload = post_multipart(
        &http,
        &format!("{user_root}/addItem"),
        &token,
        &[("title", "Backup of the service"), ("type", "File Geodatabase")],
        vec![("file", "backup.zip", package_service(&source))],
    )
    .await;
    let file_id = upload["id"].as_str().expect("file item").to_owned();
    let publish = |name: &'static str, item: String| {
        let (http, user_root, token) = (http.clone(), user_root.clone(), token.clone());
        async move {
            let params = json!({ "name": name, "maxRecordCount": 2000 }).to_string();
            post_form(
                &http,
                &format!("{user_root}/publish"),
                &token,
                &[("itemid", &item), ("filetype", "fileGeodatabase"), ("publishParameters", &params)],
            )
            .await
        }
    };
    let answer = publish("Restored_Service", file_id.clone()).await;
    let svc = &answer["services"][0];
    let (item_id, job) = (
        svc["serviceItemId"].as_str().expect("serviceItemId").to_owned(),
        svc["jobId"].as_str().expect("jobId").to_owned(),
    );
    assert_ne!(item_id, source.item_id, "the published service gets a new item id");
    let (seen, done) = poll_publish(&http, &root, &owner, &token, &item_id, &job).await;
    assert_eq!(seen[0], "processing", "the job is asynchronous: {seen:?}");
    assert_eq!(done["status"], "completed", "the publish completes: {done}");

    let url = service_url(&sim, 1, "Restored_Service");
    assert_eq!(svc["serviceurl"], url.as_str(), "the service URL is in the target org");
    let item = rest(&http, &org.portal_url, &format!("content/items/{item_id}"), Some(&token), &[]).await;
    assert_eq!(
        (item["owner"].clone(), item["url"].clone()),
        (json!(owner), json!(url)),
        "owned by the publisher: {item}"
    );
    let restored = model_service(&sim, 1, "Restored_Service");
    assert_eq!(restored.layers, source.layers, "every layer with its features and attachments came back");
    assert_eq!(restored.tables, source.tables, "and every table");
    assert_eq!(restored.relationships, source.relationships, "and the relationship classes");
    let json = get_json(&http, &url, Some(&token), &[]).await;
    assert_eq!(json["serviceItemId"], item_id.as_str(), "the service JSON names its new item");
    for layer in source.layers.iter().chain(&source.tables) {
        let q = get_json(
            &http,
            &format!("{url}/{}/query", layer.id),
            Some(&token),
            &[("where", "1=1"), ("returnCountOnly", "true")],
        )
        .await;
        assert_eq!(q["count"], layer.features.len(), "layer {} serves every feature: {q}", layer.id);
    }
    let rels = get_json(&http, &format!("{url}/relationships"), Some(&token), &[]).await;
    assert_eq!(rels["relationships"], json!(source.relationships), "/relationships as in the source");

    // The restored service can be backed up again: its replica holds the same data.
    let layer_ids: Vec<String> = restored.layers.iter().chain(&restored.tables).map(|l| l.id.to_string()).collect();
    let v = post_form(
        &http,
        &format!("{url}/createReplica"),
        &token,
        &[
            ("layers", &format!("[{}]", layer_ids.join(","))),
            ("geometry", r#"{"xmin":-180,"ymin":-90,"xmax":180,"ymax":90,"spatialReference":{"wkid":4326}}"#),
            ("returnAttachments", "true"),
            ("async", "false"),
            ("syncModel", "none"),
            ("dataFormat", "filegdb"),
            ("transportType", "esriTransportTypeUrl"),
        ],
    )
    .await;
    let result = v["responseUrl"].as_str().unwrap_or_else(|| panic!("a sync replica answers a responseUrl: {v}"));
    let bytes = http
        .get(result)
        .query(&[("token", token.as_str())])
        .send()
        .await
        .expect("reachable")
        .bytes()
        .await
        .expect("bytes");
    let again = unpack_package(&bytes).expect("the replica is a package");
    assert_eq!(again.layers, source.layers, "a replica of the restored service holds the source's data");

    // A taken name and a file that is not a package both end in a failed job.
    let taken = publish("Restored_Service", file_id.clone()).await;
    let svc = &taken["services"][0];
    let (_, failed) = poll_publish(
        &http,
        &root,
        &owner,
        &token,
        svc["serviceItemId"].as_str().expect("id"),
        svc["jobId"].as_str().expect("job"),
    )
    .await;
    assert_eq!(failed["status"], "failed", "a taken name fails the job: {failed}");
    let message: Value =
        serde_json::from_str(failed["statusMessage"].as_str().expect("statusMessage")).expect("JSON inside the string");
    assert!(message["message"].as_str().unwrap_or("").contains("already exists"), "the message says why: {message}");
    let junk = post_multipart(
        &http,
        &format!("{user_root}/addItem"),
        &token,
        &[("title", "junk"), ("type", "File Geodatabase")],
        vec![("file", "junk.zip", b"not a zip".to_vec())],
    )
    .await;
    let junk_answer = publish("Junk", junk["id"].as_str().expect("junk id").to_owned()).await;
    let svc = &junk_answer["services"][0];
    let (_, failed) = poll_publish(
        &http,
        &root,
        &owner,
        &token,
        svc["serviceItemId"].as_str().expect("id"),
        svc["jobId"].as_str().expect("job"),
    )
    .await;
    assert_eq!(failed["status"], "failed", "a file that is not a package fails the job: {failed}");
    let avail = get_json(
        &http,
        &format!("{root}/portals/self/isServiceNameAvailable"),
        Some(&token),
        &[("name", "Junk"), ("type", "Feature Service")],
    )
    .await;
    assert_eq!(avail["available"], true, "a failed publish leaves its name free: {avail}");
}
