//! Habits of the real ArcGIS REST API that portal-sim copies (docs/portal-sim-fidelity.md):
//! search lagging behind writes, the user search, the users list's shape, reassigning to the
//! root or a new folder, exports only into one's own content on Online, a lost thumbnail file,
//! a committed upload that is still processing, and parameter names in any case.

use std::time::{Duration, Instant};

use portal_sim::SimConfig;
use serde_json::Value;

use crate::common::{client, error_code, post_form, post_multipart, raw, rest, restore_config, sign_in, start};

fn ids_of(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().into_iter().flatten().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn a_new_item_reaches_search_after_the_lag_but_the_owner_listing_at_once() {
    let sim = start(SimConfig { search_lag_ms: 400, ..restore_config() }).await;
    let http = client();
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let me = &org.admin.username;
    let added = post_form(
        &http,
        &format!("{}/sharing/rest/content/users/{me}/addItem", org.portal_url),
        &token,
        &[("title", "Lagging"), ("type", "CSV"), ("typeKeywords", "lag-probe")],
    )
    .await;
    let id = added["id"].as_str().unwrap_or_else(|| panic!("addItem: {added}")).to_owned();
    let q = format!("typekeywords:\"lag-probe\" AND orgid:{}", org.id);
    let found = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &q)]).await;
    assert_eq!(found["total"], 0, "search does not show an item written a moment ago: {found}");
    let listed = rest(&http, &org.portal_url, &format!("content/users/{me}"), Some(&token), &[]).await;
    assert!(ids_of(&listed, "items").contains(&id), "the owner's content listing shows it at once: {listed}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &q)]).await;
        if found["total"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the item reaches search after the lag: {found}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A delete lags the same way: search still finds the deleted item for a while.
    let gone =
        post_form(&http, &format!("{}/sharing/rest/content/users/{me}/items/{id}/delete", org.portal_url), &token, &[])
            .await;
    assert_eq!(gone["success"], true, "{gone}");
    let found = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &q)]).await;
    assert_eq!(found["total"], 1, "a deleted item stays in search until the index catches up: {found}");

    sim.control().set_search_lag(Duration::ZERO);
    sim.control().index_now();
    let found = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &q)]).await;
    assert_eq!(found["total"], 0, "with no lag search is current: {found}");
}

#[tokio::test]
async fn users_are_searched_at_community_users_with_the_search_answer_shape() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let q = format!("accountid:{}", org.id);
    let page = rest(&http, &org.portal_url, "community/users", Some(&token), &[("q", &q), ("num", "3")]).await;
    for key in ["results", "total", "start", "num", "nextStart"] {
        assert!(page.get(key).is_some(), "the user search answers `{key}`: {page}");
    }
    let total = page["total"].as_u64().expect("total");
    assert!(total >= 4, "accountid: finds the org's users: {page}");
    assert_eq!(page["results"].as_array().map(Vec::len), Some(3), "num pages the results");
    assert_eq!(page["nextStart"], 4, "nextStart points past the page");
    let other = rest(
        &http,
        &org.portal_url,
        "community/users",
        Some(&token),
        &[("q", &format!("accountid:{}", sim.orgs[1].id))],
    )
    .await;
    assert_eq!(other["total"], 0, "another org's users are not listed: {other}");
    let one = rest(
        &http,
        &org.portal_url,
        "community/users",
        Some(&token),
        &[("q", &format!("username:{}", org.user.username))],
    )
    .await;
    assert_eq!(one["results"][0]["username"], org.user.username.as_str(), "username: finds one user: {one}");

    let list = rest(&http, &org.portal_url, "portals/self/users", Some(&token), &[("num", "100")]).await;
    assert_eq!(
        list["users"].as_array().map(Vec::len),
        Some(total as usize),
        "portals/self/users answers under `users`: {list}"
    );
    assert!(list.get("results").is_none(), "not under `results`");
    let search = rest(&http, &org.portal_url, "portals/self/users/search", Some(&token), &[("q", "*")]).await;
    assert!(search["results"].is_array(), "the users/search endpoint answers under `results`: {search}");
}

#[tokio::test]
async fn reassign_to_slash_is_the_root_and_a_missing_folder_is_made() {
    let sim = start(restore_config()).await;
    let http = client();
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let (me, other) = (&org.admin.username, &org.user.username);
    let root = format!("{}/sharing/rest/content/users", org.portal_url);
    let add = |title: &'static str| {
        let (http, token, url) = (&http, &token, format!("{root}/{me}/addItem"));
        async move {
            let v = post_form(http, &url, token, &[("title", title), ("type", "CSV")]).await;
            v["id"].as_str().unwrap_or_else(|| panic!("addItem: {v}")).to_owned()
        }
    };
    let a = add("to root").await;
    let moved = post_form(
        &http,
        &format!("{root}/{me}/items/{a}/reassign"),
        &token,
        &[("targetUsername", other), ("targetFolderName", "/")],
    )
    .await;
    assert_eq!(moved["success"], true, "{moved}");
    let item = rest(&http, &org.portal_url, &format!("content/items/{a}"), Some(&token), &[]).await;
    assert_eq!(item["owner"], other.as_str(), "the item changed owner");
    assert!(item["ownerFolder"].is_null(), "`/` is the root folder: {item}");

    let b = add("to a new folder").await;
    let moved = post_form(
        &http,
        &format!("{root}/{me}/items/{b}/reassign"),
        &token,
        &[("targetUsername", other), ("targetFolderName", "Handed over")],
    )
    .await;
    assert_eq!(moved["success"], true, "a folder the user lacks is made, not refused: {moved}");
    let listing = rest(&http, &org.portal_url, &format!("content/users/{other}"), Some(&token), &[]).await;
    let folder = listing["folders"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["title"] == "Handed over")
        .unwrap_or_else(|| panic!("the new folder is listed: {listing}"));
    let item = rest(&http, &org.portal_url, &format!("content/items/{b}"), Some(&token), &[]).await;
    assert_eq!(item["ownerFolder"], folder["id"], "the item is in it");
}

#[tokio::test]
async fn an_admin_exports_another_users_item_only_into_their_own_content_on_online() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let (item, owner) = {
        let universe = sim.state.universe.read().expect("lock");
        let o = universe.org_by_id(&org.id).expect("org");
        let s = o
            .services
            .values()
            .find(|s| s.view_of.is_none() && o.items.get(&s.item_id).is_some_and(|i| i.owner != org.admin.username))
            .expect("a service another user owns");
        (s.item_id.clone(), o.items[&s.item_id].owner.clone())
    };
    let export = |user: &str| format!("{}/sharing/rest/content/users/{user}/export", org.portal_url);
    let params = [("itemId", item.as_str()), ("exportFormat", "File Geodatabase")];
    let refused = post_form(&http, &export(&owner), &token, &params).await;
    assert_eq!(
        error_code(&refused),
        Some(403),
        "Online refuses an admin exporting into the owner's content: {refused}"
    );
    let mine = post_form(&http, &export(&org.admin.username), &token, &params).await;
    let export_id =
        mine["exportItemId"].as_str().unwrap_or_else(|| panic!("exports into their own: {mine}")).to_owned();
    let got = rest(&http, &org.portal_url, &format!("content/items/{export_id}"), Some(&token), &[]).await;
    assert_eq!(got["owner"], org.admin.username.as_str(), "the export item belongs to the signed-in admin");
    let wrong_path = rest(
        &http,
        &org.portal_url,
        &format!("content/users/{owner}/items/{export_id}/status"),
        Some(&token),
        &[("jobType", "export"), ("jobId", mine["jobId"].as_str().expect("jobId"))],
    )
    .await;
    assert_eq!(
        error_code(&wrong_path),
        Some(400),
        "status under another user's path does not find the item: {wrong_path}"
    );

    sim.state.jobs.set_admin_exports_anywhere(true);
    let anywhere = post_form(&http, &export(&owner), &token, &params).await;
    assert!(
        anywhere["exportItemId"].is_string(),
        "Enterprise lets an admin export into the owner's content: {anywhere}"
    );
}

#[tokio::test]
async fn a_lost_thumbnail_file_answers_http_400() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let (id, thumb) = {
        let universe = sim.state.universe.read().expect("lock");
        let o = universe.org_by_id(&org.id).expect("org");
        let i = o
            .items
            .values()
            .find(|i| i.thumbnail.is_some() && i.owner == org.admin.username)
            .expect("an item with a thumbnail");
        (i.id.clone(), i.thumbnail.clone().expect("thumbnail"))
    };
    assert!(sim.control().lose_thumbnail_file(&id), "the control finds the item");
    let got =
        raw(&http, &format!("{}/sharing/rest/content/items/{id}/info/{thumb}", org.portal_url), Some(&token)).await;
    assert_eq!(got.status().as_u16(), 400, "a named thumbnail whose file is gone answers HTTP 400");
}

#[tokio::test]
async fn a_committed_upload_cannot_be_published_until_processed_and_names_are_read_in_any_case() {
    let sim = start(restore_config()).await;
    let http = client();
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    sim.state.jobs.set_commit_work(Duration::from_secs(30));
    let me = &org.admin.username;
    let user_root = format!("{}/sharing/rest/content/users/{me}", org.portal_url);
    // Esri's Python client spells it `fileName` and sends the fields as multipart form fields.
    let added = post_multipart(
        &http,
        &format!("{user_root}/addItem"),
        &token,
        &[("title", "pkg"), ("type", "File Geodatabase"), ("multipart", "true"), ("fileName", "pkg.zip")],
        vec![],
    )
    .await;
    let id = added["id"].as_str().unwrap_or_else(|| panic!("addItem with fileName: {added}")).to_owned();
    let status =
        rest(&http, &org.portal_url, &format!("content/users/{me}/items/{id}/status"), Some(&token), &[]).await;
    assert_eq!(status["status"], "partial", "before the commit the upload is partial: {status}");
    let part = post_multipart(
        &http,
        &format!("{user_root}/items/{id}/addPart"),
        &token,
        &[("partNum", "1")],
        vec![("file", "split0", vec![7u8; 1000])],
    )
    .await;
    assert_eq!(part["success"], true, "{part}");
    let commit = post_form(&http, &format!("{user_root}/items/{id}/commit"), &token, &[]).await;
    assert_eq!(commit["success"], true, "{commit}");
    let publish = post_form(
        &http,
        &format!("{user_root}/publish"),
        &token,
        &[("itemId", &id), ("filetype", "fileGeodatabase"), ("publishParameters", r#"{"name":"Early"}"#)],
    )
    .await;
    assert_eq!(error_code(&publish), Some(400), "publish refuses an item still being processed: {publish}");
    let status =
        rest(&http, &org.portal_url, &format!("content/users/{me}/items/{id}/status"), Some(&token), &[]).await;
    assert_eq!(status["status"], "processing", "{status}");
}

#[tokio::test]
async fn relationship_classes_must_have_esris_documented_form() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let (name, rel) = {
        let universe = sim.state.universe.read().expect("lock");
        let o = universe.org_by_id(&org.id).expect("org");
        let s =
            o.services.values().find(|s| s.view_of.is_none() && !s.relationships.is_empty()).expect("related layers");
        (s.name.clone(), s.relationships[0].clone())
    };
    let url =
        format!("{}/{}/arcgis/rest/admin/services/{name}/FeatureServer/updateDefinition", sim.services_url, org.id);
    let send = |r: Value| {
        let (http, url, token) = (&http, &url, &token);
        async move {
            let def = serde_json::json!({ "relationships": [r] }).to_string();
            post_form(http, url, token, &[("updateDefinition", &def)]).await
        }
    };
    let ok = send(rel.clone()).await;
    assert_eq!(ok["success"], true, "the documented form is taken: {ok}");
    for (key, bad) in [
        ("originPrimaryKey", Value::from("NoSuchField")),
        ("destinationForeignKey", Value::Null),
        ("cardinality", Value::from("oneToMany")),
        ("name", Value::from("")),
    ] {
        let mut r = rel.clone();
        r[key] = bad;
        let refused = send(r).await;
        assert_eq!(error_code(&refused), Some(400), "a relationship with a bad '{key}' is refused: {refused}");
        assert!(refused.to_string().contains(key), "the refusal names '{key}': {refused}");
    }
}
