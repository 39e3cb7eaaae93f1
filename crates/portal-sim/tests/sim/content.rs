//! Content endpoints: item JSON and data, resources, thumbnails, metadata, related items, user
//! content and group content, and the control API.

use portal_sim::model::ItemData;
use portal_sim::SimConfig;
use serde_json::Value;

use crate::common::{client, error_code, raw, rest, sign_in, start};

#[tokio::test]
async fn every_item_serves_as_many_data_bytes_as_its_size_says() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let ids = sim.control().item_ids(&org.url_key);
    assert_eq!(ids.len(), SimConfig::default().items, "control lists every item of the org");
    let mut files = 0;
    for id in &ids {
        let item = rest(&http, &org.portal_url, &format!("content/items/{id}"), Some(&token), &[]).await;
        let size = item["size"].as_u64().unwrap_or_else(|| panic!("item {id} must report a size: {item}"));
        let resp = raw(&http, &format!("{}/sharing/rest/content/items/{id}/data", org.portal_url), Some(&token)).await;
        let disposition = resp.headers().get("content-disposition").is_some();
        let body = resp.bytes().await.expect("data body");
        assert_eq!(body.len() as u64, size, "item {id} ({}) must serve exactly `size` bytes from /data", item["type"]);
        if item["name"].is_string() {
            files += 1;
            assert!(disposition, "a file item's /data must name the file in Content-Disposition");
        }
    }
    assert!(files >= 5, "the default org must hold file items, found {files}");
}

#[tokio::test]
async fn resources_thumbnails_and_metadata() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let (with_resources, thumb, with_meta, without_meta) = {
        let u = sim.state.universe.read().expect("universe");
        let o = u.org_by_id(&org.id).expect("org");
        let r = o
            .items
            .values()
            .find(|i| {
                i.resources.iter().any(|r| r.path.contains("..")) && i.resources.iter().any(|r| !r.path.is_ascii())
            })
            .expect("an item with nested resources named in Unicode and with '..'")
            .id
            .clone();
        let t = o.items.values().find(|i| i.thumbnail.is_some()).expect("an item with a thumbnail");
        let m = o.items.values().find(|i| i.metadata_len.is_some()).expect("an item with metadata").id.clone();
        let n = o.items.values().find(|i| i.metadata_len.is_none()).expect("an item without metadata").id.clone();
        (r, (t.id.clone(), t.thumbnail.clone().unwrap_or_default(), t.thumbnail_len), m, n)
    };
    let base = format!("{}/sharing/rest/content/items", org.portal_url);

    let list = rest(
        &http,
        &org.portal_url,
        &format!("content/items/{with_resources}/resources"),
        Some(&token),
        &[("num", "100")],
    )
    .await;
    let resources = list["resources"].as_array().expect("resources array");
    assert_eq!(list["total"].as_u64(), Some(resources.len() as u64), "one page lists every resource");
    assert!(!resources.is_empty(), "the item must list its resources");
    for r in resources {
        let path = r["resource"].as_str().expect("resource path");
        let encoded: String = path
            .split('/')
            .map(|s| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20"))
            .collect::<Vec<_>>()
            .join("/");
        let body = raw(&http, &format!("{base}/{with_resources}/resources/{encoded}"), Some(&token))
            .await
            .bytes()
            .await
            .expect("resource body");
        assert_eq!(Some(body.len() as u64), r["size"].as_u64(), "resource {path} must serve its listed size");
    }
    let missing = raw(&http, &format!("{base}/{with_resources}/resources/no/such.json"), Some(&token))
        .await
        .json::<Value>()
        .await
        .expect("json");
    assert!(error_code(&missing).is_some(), "a missing resource answers an error body");

    let (tid, tname, tlen) = thumb;
    let png = raw(&http, &format!("{base}/{tid}/info/{tname}"), Some(&token)).await.bytes().await.expect("thumbnail");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "the thumbnail must be a PNG");
    assert_eq!(png.len() as u64, tlen, "the thumbnail must have the length the model records");

    let xml = raw(&http, &format!("{base}/{with_meta}/info/metadata/metadata.xml"), Some(&token))
        .await
        .text()
        .await
        .expect("metadata");
    assert!(xml.starts_with("<?xml") && xml.contains(&with_meta), "metadata.xml must be XML about the item");
    let absent = raw(&http, &format!("{base}/{without_meta}/info/metadata/metadata.xml"), Some(&token)).await;
    assert_eq!(absent.status().as_u16(), 400, "an item without metadata answers HTTP 400, as ArcGIS does");
}

async fn related(
    http: &reqwest::Client,
    portal: &str,
    token: &str,
    id: &str,
    kind: &str,
    direction: &str,
) -> Vec<String> {
    let v = rest(
        http,
        portal,
        &format!("content/items/{id}/relatedItems"),
        Some(token),
        &[("relationshipType", kind), ("direction", direction)],
    )
    .await;
    let items = v["relatedItems"].as_array().unwrap_or_else(|| panic!("relatedItems must answer a list: {v}"));
    assert_eq!(v["total"].as_u64(), Some(items.len() as u64), "total counts the related items");
    items.iter().map(|i| i["id"].as_str().expect("id").to_string()).collect()
}

#[tokio::test]
async fn related_items_both_directions_and_a_self_relation() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let (rels, self_rel) = {
        let u = sim.state.universe.read().expect("universe");
        let o = u.org_by_id(&org.id).expect("org");
        let self_rel =
            o.relationships.iter().find(|r| r.origin == r.destination).expect("an item related to itself").clone();
        (o.relationships.clone(), self_rel)
    };
    for kind in ["Map2Service", "Service2Data", "Survey2Service"] {
        let r = rels
            .iter()
            .find(|r| r.kind == kind && r.origin != r.destination)
            .unwrap_or_else(|| panic!("a {kind} relationship must exist"));
        let fwd = related(&http, &org.portal_url, &token, &r.origin, kind, "forward").await;
        assert!(fwd.contains(&r.destination), "{kind} forward from the origin must reach the destination");
        let rev = related(&http, &org.portal_url, &token, &r.destination, kind, "reverse").await;
        assert!(rev.contains(&r.origin), "{kind} reverse from the destination must reach the origin");
        let wrong = related(&http, &org.portal_url, &token, &r.destination, kind, "forward").await;
        assert!(!wrong.contains(&r.origin), "{kind} forward from the destination must not reach the origin");
    }
    let fwd = related(&http, &org.portal_url, &token, &self_rel.origin, &self_rel.kind, "forward").await;
    assert!(fwd.contains(&self_rel.origin), "a self-related item lists itself forward");
    let rev = related(&http, &org.portal_url, &token, &self_rel.origin, &self_rel.kind, "reverse").await;
    assert!(rev.contains(&self_rel.origin), "a self-related item lists itself in reverse");
    let both =
        related(&http, &org.portal_url, &token, &self_rel.origin, "Map2Service,Service2Service", "forward").await;
    assert!(both.len() >= fwd.len(), "comma-separated types widen the answer");
}

#[tokio::test]
async fn user_content_folders_sharing_and_group_content_agree() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let admin = sign_in(&http, &org.portal_url, &org.admin).await;
    let user = sign_in(&http, &org.portal_url, &org.user).await;
    let (owner, owner_items, folders, groups) = {
        let u = sim.state.universe.read().expect("universe");
        let o = u.org_by_id(&org.id).expect("org");
        // The owner with the most items in folders, to exercise both listings.
        let owner = o
            .folders
            .values()
            .map(|f| f.username.clone())
            .max_by_key(|u| o.items.values().filter(|i| &i.owner == u).count())
            .expect("a user with folders");
        let items: Vec<(String, Option<String>, Vec<String>, String)> = o
            .items
            .values()
            .filter(|i| i.owner == owner)
            .map(|i| (i.id.clone(), i.owner_folder.clone(), i.shared_groups.clone(), i.access.clone()))
            .collect();
        let folders: Vec<String> = o.folders.values().filter(|f| f.username == owner).map(|f| f.id.clone()).collect();
        let groups: Vec<(String, usize)> =
            o.groups.values().map(|g| (g.id.clone(), o.items_in_group(&g.id).count())).collect();
        (owner, items, folders, groups)
    };
    let root = rest(&http, &org.portal_url, &format!("content/users/{owner}"), Some(&admin), &[("num", "100")]).await;
    let root_n = owner_items.iter().filter(|i| i.1.is_none()).count();
    assert_eq!(root["total"].as_u64(), Some(root_n as u64), "the root listing counts the owner's root items");
    assert_eq!(root["folders"].as_array().map(Vec::len), Some(folders.len()), "the root listing names every folder");
    let mut listed = root_n;
    for f in &folders {
        let v =
            rest(&http, &org.portal_url, &format!("content/users/{owner}/{f}"), Some(&admin), &[("num", "100")]).await;
        assert_eq!(v["currentFolder"]["id"], f.as_str(), "a folder listing names its folder");
        listed += v["items"].as_array().map(Vec::len).unwrap_or(0);
    }
    assert_eq!(listed, owner_items.len(), "root and folders together list every item of the owner");
    let paged = rest(&http, &org.portal_url, &format!("content/users/{owner}"), Some(&admin), &[("num", "1")]).await;
    if root_n > 1 {
        assert_eq!(paged["nextStart"], 2, "a one-item page of a longer listing continues at 2");
    }
    if owner != org.user.username {
        let denied = rest(&http, &org.portal_url, &format!("content/users/{owner}"), Some(&user), &[]).await;
        assert_eq!(error_code(&denied), Some(403), "a non-admin may not list another user's content");
    }

    let (id, _, shared, access) = owner_items.iter().find(|i| !i.2.is_empty()).expect("a shared item").clone();
    let v = rest(&http, &org.portal_url, &format!("content/users/{owner}/items/{id}"), Some(&admin), &[]).await;
    assert_eq!(v["sharing"]["access"], access.as_str(), "sharing.access is the item's access");
    let got: Vec<String> = v["sharing"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g.as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(got, shared, "sharing.groups are the item's groups");

    for (gid, n) in groups {
        let v = rest(&http, &org.portal_url, &format!("content/groups/{gid}/search"), Some(&admin), &[("num", "100")])
            .await;
        assert_eq!(v["total"].as_u64(), Some(n as u64), "group {gid}'s content must be the items shared with it");
        for r in v["results"].as_array().expect("results") {
            let item = rest(
                &http,
                &org.portal_url,
                &format!("content/items/{}/groups", r["id"].as_str().unwrap_or("")),
                Some(&admin),
                &[],
            )
            .await;
            let all: Vec<&Value> =
                ["admin", "member", "other"].iter().flat_map(|k| item[*k].as_array().into_iter().flatten()).collect();
            assert!(
                all.iter().any(|g| g["id"] == gid.as_str()),
                "an item in group {gid}'s content must list that group"
            );
        }
    }
}

#[tokio::test]
async fn control_touch_delete_and_counts() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let control = sim.control();
    let (json_item, file_item) = {
        let u = sim.state.universe.read().expect("universe");
        let o = u.org_by_id(&org.id).expect("org");
        let j = o.items.values().find(|i| matches!(i.data, ItemData::Json(_))).expect("a JSON item").id.clone();
        let f =
            o.items.values().find(|i| matches!(i.data, ItemData::Generated { .. })).expect("a file item").id.clone();
        (j, f)
    };
    for id in [&json_item, &file_item] {
        let before = rest(&http, &org.portal_url, &format!("content/items/{id}"), Some(&token), &[]).await;
        let data_before = raw(&http, &format!("{}/sharing/rest/content/items/{id}/data", org.portal_url), Some(&token))
            .await
            .bytes()
            .await
            .expect("data");
        assert!(control.touch_item(id), "touch must find the item");
        let after = rest(&http, &org.portal_url, &format!("content/items/{id}"), Some(&token), &[]).await;
        let data_after = raw(&http, &format!("{}/sharing/rest/content/items/{id}/data", org.portal_url), Some(&token))
            .await
            .bytes()
            .await
            .expect("data");
        assert_eq!(
            after["modified"].as_i64(),
            before["modified"].as_i64().map(|m| m + portal_sim::control::TOUCH_STEP_MS),
            "touch moves modified by the fixed step"
        );
        assert_ne!(data_before, data_after, "touch must change the item's data");
        assert_eq!(after["size"].as_u64(), Some(data_after.len() as u64), "size stays true after a touch");
    }
    assert!(control.set_item_data_json(&json_item, serde_json::json!({"k": "v"})), "set data must find the item");
    let body = raw(&http, &format!("{}/sharing/rest/content/items/{json_item}/data", org.portal_url), Some(&token))
        .await
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(body, serde_json::json!({"k": "v"}), "set data replaces the JSON served");

    let counts = http
        .get(format!("{}/_sim/orgs/{}/counts", sim.base_url, org.url_key))
        .send()
        .await
        .expect("counts")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(counts["items"], SimConfig::default().items, "HTTP counts report the item count");
    let deleted = http
        .post(format!("{}/_sim/items/{file_item}/delete", sim.base_url))
        .send()
        .await
        .expect("delete")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(deleted["deleted"], true, "HTTP delete reports success");
    let gone = rest(&http, &org.portal_url, &format!("content/items/{file_item}"), Some(&token), &[]).await;
    assert_eq!(gone["error"]["messageCode"], "CONT_0001", "a deleted item answers CONT_0001");
    assert_eq!(
        control.org(&org.url_key).map(|c| c.items),
        Some(SimConfig::default().items - 1),
        "counts drop after a delete"
    );
    assert!(!control.delete_item(&file_item), "deleting twice reports false");
}
