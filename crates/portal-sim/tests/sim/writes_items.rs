//! Write endpoints for folders and items: what is written reads back through every read endpoint,
//! multipart upload, permissions, and writes whose answer is lost after they were applied.

use portal_sim::faults::{FaultKind, ForcedFault};
use serde_json::{json, Value};

use crate::common::{
    client, error_code, error_message, get_json, post_form, post_form_raw, post_multipart, raw, rest, restore_config,
    sign_in, start,
};

/// A deterministic byte pattern of `len` bytes.
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)).collect()
}

#[tokio::test]
async fn the_empty_org_holds_only_its_two_accounts() {
    let sim = start(restore_config()).await;
    let counts = sim.control().org(&sim.orgs[1].url_key).expect("org 1 exists");
    assert_eq!((counts.items, counts.groups, counts.folders), (0, 0, 0), "an empty org has no content: {counts:?}");
    assert_eq!(counts.users, 2, "an empty org has its admin and its non-admin user");
    let ready: Value = serde_json::from_str(&sim.ready_line()).expect("ready line is JSON");
    assert_eq!(ready["orgs"].as_array().map(Vec::len), Some(2), "the ready line lists the empty org too");
    let populated = sim.control().org(&sim.orgs[0].url_key).expect("org 0 exists");
    assert_eq!(populated.items, 24, "the other org is generated as before");
}

#[tokio::test]
async fn an_added_item_reads_back_through_every_read_endpoint() {
    let sim = start(restore_config()).await;
    let http = client();
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let root = format!("{}/sharing/rest", org.portal_url);
    let me = &org.admin.username;
    let user_root = format!("{root}/content/users/{me}");

    let folder = post_form(&http, &format!("{user_root}/createFolder"), &token, &[("title", "Restored Maps")]).await;
    assert_eq!(folder["success"], true, "createFolder succeeds: {folder}");
    let folder_id = folder["folder"]["id"].as_str().expect("folder id").to_owned();
    let again = post_form(&http, &format!("{user_root}/createFolder"), &token, &[("title", "Restored Maps")]).await;
    assert_eq!(error_code(&again), Some(400), "a folder title is unique per user: {again}");
    assert!(error_message(&again).contains("not available"), "the message says the title is taken: {again}");

    let map = json!({ "operationalLayers": [{ "id": "a", "itemId": "0123", "url": "https://x/FeatureServer/0" }] });
    let thumb = pattern(900, 7);
    let added = post_multipart(
        &http,
        &format!("{user_root}/{folder_id}/addItem"),
        &token,
        &[
            ("title", "Città – Map 🚲"),
            ("type", "Web Map"),
            ("typeKeywords", "Web Map,orgvault-source-aaaabbbbccccdddd"),
            ("tags", "water, 2024"),
            ("snippet", "restored"),
            ("description", "<p>desc</p>"),
            ("extent", "-1.5,2,3,4.25"),
            ("accessInformation", "Contoso"),
            ("text", &map.to_string()),
            ("itemIdToCreate", "ffffffffffffffffffffffffffffffff"),
        ],
        vec![("thumbnail", "thumb.png", thumb.clone())],
    )
    .await;
    assert_eq!(added["success"], true, "addItem succeeds: {added}");
    assert_eq!(added["folder"], folder_id.as_str(), "the item lands in the folder named by the path");
    let id = added["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 32, "a new item id is 32 hex characters");
    assert_ne!(id, "ffffffffffffffffffffffffffffffff", "itemIdToCreate is ignored, as on Online");

    let item = rest(&http, &org.portal_url, &format!("content/items/{id}"), Some(&token), &[]).await;
    assert_eq!(item["title"], "Città – Map 🚲", "the title reads back: {item}");
    assert_eq!(item["owner"], me.as_str(), "the caller owns it");
    assert_eq!(item["ownerFolder"], folder_id.as_str(), "ownerFolder");
    assert_eq!(item["tags"], json!(["water", "2024"]), "tags are a trimmed list");
    assert_eq!(item["extent"], json!([[-1.5, 2.0], [3.0, 4.25]]), "extent in Online's corner form");
    assert_eq!(item["access"], "private", "a new item is private");
    let data = rest(&http, &org.portal_url, &format!("content/items/{id}/data"), Some(&token), &[]).await;
    assert_eq!(data, map, "/data answers the text sent");
    let thumb_name = item["thumbnail"].as_str().expect("thumbnail name").to_owned();
    let got = raw(&http, &format!("{root}/content/items/{id}/info/{thumb_name}"), Some(&token)).await;
    assert_eq!(got.bytes().await.expect("thumbnail bytes").to_vec(), thumb, "the uploaded thumbnail is served");

    let q = format!("typekeywords:\"orgvault-source-aaaabbbbccccdddd\" AND orgid:{}", org.id);
    let found = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &q)]).await;
    assert_eq!(found["total"], 0, "search lags behind the write: the new item is not found yet: {found}");
    let listed = rest(&http, &org.portal_url, &format!("content/users/{me}/{folder_id}"), Some(&token), &[]).await;
    assert!(
        listed["items"].as_array().expect("items").iter().any(|i| i["id"] == id.as_str()),
        "the owner's content listing shows the new item at once: {listed}"
    );
    sim.control().index_now();
    let found = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &q)]).await;
    assert_eq!(found["total"], 1, "the idempotency keyword finds exactly the restored item: {found}");
    assert_eq!(found["results"][0]["id"], id.as_str(), "and it is this item");
    let by_owner = rest(
        &http,
        &org.portal_url,
        "search",
        Some(&token),
        &[("q", &format!("owner:{me} AND type:\"Web Map\" AND orgid:{}", org.id))],
    )
    .await;
    assert_eq!(by_owner["total"], 1, "owner/type/orgid filters see the new item: {by_owner}");
    let listing = rest(&http, &org.portal_url, &format!("content/users/{me}/{folder_id}"), Some(&token), &[]).await;
    assert_eq!(listing["items"][0]["id"], id.as_str(), "the folder listing holds the item: {listing}");
    let root_listing = rest(&http, &org.portal_url, &format!("content/users/{me}"), Some(&token), &[]).await;
    assert_eq!(root_listing["folders"][0]["id"], folder_id.as_str(), "the user's folders list the new folder");

    // A file item, metadata, resources.
    let file = pattern(70_000, 3);
    let f = post_multipart(
        &http,
        &format!("{user_root}/addItem"),
        &token,
        &[("title", "Report"), ("type", "PDF")],
        vec![("file", "report 2024.pdf", file.clone())],
    )
    .await;
    let file_id = f["id"].as_str().expect("file item id").to_owned();
    let got = raw(&http, &format!("{root}/content/items/{file_id}/data"), Some(&token)).await;
    let disposition = got.headers().get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(disposition.contains("report 2024.pdf"), "the file name is the download name: {disposition}");
    assert_eq!(got.bytes().await.expect("data").to_vec(), file, "/data answers the uploaded bytes");
    let file_item = rest(&http, &org.portal_url, &format!("content/items/{file_id}"), Some(&token), &[]).await;
    assert_eq!(file_item["name"], "report 2024.pdf", "the item's name is the file part's name");
    assert_eq!(file_item["size"], 70_000, "size is the file's length");

    let xml = b"<?xml version=\"1.0\"?><metadata><idinfo>restored</idinfo></metadata>".to_vec();
    let info = post_multipart(
        &http,
        &format!("{user_root}/items/{file_id}/updateinfo"),
        &token,
        &[("folderName", "metadata")],
        vec![("file", "metadata.xml", xml.clone())],
    )
    .await;
    assert_eq!(info["success"], true, "updateinfo succeeds: {info}");
    let got = raw(&http, &format!("{root}/content/items/{file_id}/info/metadata/metadata.xml"), Some(&token)).await;
    assert_eq!(got.bytes().await.expect("metadata").to_vec(), xml, "the uploaded metadata is served");

    let res_bytes = pattern(5000, 9);
    let r1 = post_multipart(
        &http,
        &format!("{user_root}/items/{id}/addResources"),
        &token,
        &[("resourcesPrefix", "images/2024")],
        vec![("file", "photo ü.jpg", res_bytes.clone())],
    )
    .await;
    assert_eq!(r1["success"], true, "addResources with a file: {r1}");
    let r2 = post_form(
        &http,
        &format!("{user_root}/items/{id}/addResources"),
        &token,
        &[("text", "{\"a\":1}"), ("fileName", "config.json")],
    )
    .await;
    assert_eq!(r2["success"], true, "addResources with text: {r2}");
    let list = rest(&http, &org.portal_url, &format!("content/items/{id}/resources"), Some(&token), &[]).await;
    let paths: Vec<&str> =
        list["resources"].as_array().expect("resources").iter().filter_map(|r| r["resource"].as_str()).collect();
    assert_eq!(paths, vec!["images/2024/photo ü.jpg", "config.json"], "both resources are listed with their paths");
    let got =
        raw(&http, &format!("{root}/content/items/{id}/resources/images/2024/photo%20%C3%BC.jpg"), Some(&token)).await;
    assert_eq!(got.bytes().await.expect("resource").to_vec(), res_bytes, "a resource reads back byte for byte");

    // Relationships both ways; a duplicate is accepted once.
    for _ in 0..2 {
        let rel = post_form(
            &http,
            &format!("{user_root}/addRelationship"),
            &token,
            &[("originItemId", &id), ("destinationItemId", &file_id), ("relationshipType", "Map2Service")],
        )
        .await;
        assert_eq!(rel["success"], true, "addRelationship succeeds, also when repeated: {rel}");
    }
    let fwd = rest(
        &http,
        &org.portal_url,
        &format!("content/items/{id}/relatedItems"),
        Some(&token),
        &[("relationshipType", "Map2Service")],
    )
    .await;
    assert_eq!(fwd["total"], 1, "one forward relationship, not duplicated: {fwd}");
    assert_eq!(fwd["relatedItems"][0]["id"], file_id.as_str(), "forward names the destination");
    let rev = rest(
        &http,
        &org.portal_url,
        &format!("content/items/{file_id}/relatedItems"),
        Some(&token),
        &[("relationshipType", "Map2Service"), ("direction", "reverse")],
    )
    .await;
    assert_eq!(rev["relatedItems"][0]["id"], id.as_str(), "reverse names the origin: {rev}");

    // update moves `modified` and changes only what is sent.
    let before = item["modified"].as_i64().expect("modified");
    let up =
        post_form(&http, &format!("{user_root}/items/{id}/update"), &token, &[("title", "Renamed"), ("snippet", "")])
            .await;
    assert_eq!(up["success"], true, "update succeeds: {up}");
    let after = rest(&http, &org.portal_url, &format!("content/items/{id}"), Some(&token), &[]).await;
    assert_eq!(after["title"], "Renamed", "the title changed");
    assert_eq!(after["snippet"], "", "a field sent empty is cleared");
    assert_eq!(after["tags"], json!(["water", "2024"]), "fields not sent stay");
    assert!(after["modified"].as_i64().expect("modified") > before, "modified moves on update");
}

#[tokio::test]
async fn large_files_go_through_multipart_upload() {
    let sim = start(restore_config()).await;
    let http = client();
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let root = format!("{}/sharing/rest", org.portal_url);
    let user_root = format!("{root}/content/users/{}", org.admin.username);

    let too_big = vec![1u8; 16 * 1024 * 1024 + 1];
    let refused = post_multipart(
        &http,
        &format!("{user_root}/addItem"),
        &token,
        &[("title", "Big"), ("type", "File Geodatabase")],
        vec![("file", "big.zip", too_big)],
    )
    .await;
    assert_eq!(error_code(&refused), Some(400), "a single part over 16 MiB is refused: {refused}");
    assert!(error_message(&refused).contains("multipart"), "the message points to multipart upload: {refused}");

    let started = post_form(
        &http,
        &format!("{user_root}/addItem"),
        &token,
        &[("title", "Big"), ("type", "File Geodatabase"), ("multipart", "true"), ("filename", "big.zip")],
    )
    .await;
    let id =
        started["id"].as_str().unwrap_or_else(|| panic!("a multipart addItem answers an id: {started}")).to_owned();
    let partial = rest(&http, &org.portal_url, &format!("content/items/{id}"), Some(&token), &[]).await;
    assert_eq!(partial["status"], "partial", "an uncommitted item is partial: {partial}");
    let no_data = rest(&http, &org.portal_url, &format!("content/items/{id}/data"), Some(&token), &[]).await;
    assert_eq!(error_code(&no_data), Some(400), "an uncommitted item has no /data: {no_data}");

    let (one, two) = (pattern(300_000, 1), pattern(123_457, 2));
    let bad = post_multipart(
        &http,
        &format!("{user_root}/items/{id}/addPart"),
        &token,
        &[("partNum", "0")],
        vec![("file", "p", one.clone())],
    )
    .await;
    assert_eq!(error_code(&bad), Some(400), "partNum starts at 1: {bad}");
    // Parts may arrive out of order; the data is assembled by part number.
    for (n, bytes) in [("2", two.clone()), ("1", one.clone())] {
        let r = post_multipart(
            &http,
            &format!("{user_root}/items/{id}/addPart"),
            &token,
            &[("partNum", n)],
            vec![("file", "big.zip", bytes)],
        )
        .await;
        assert_eq!(r["success"], true, "addPart {n} succeeds: {r}");
    }
    let done = post_form(&http, &format!("{user_root}/items/{id}/commit"), &token, &[]).await;
    assert_eq!(done["success"], true, "commit succeeds: {done}");
    // The commit is asynchronous: the item is processed for a while, its data refused meanwhile.
    let status = rest(
        &http,
        &org.portal_url,
        &format!("content/users/{}/items/{id}/status", org.admin.username),
        Some(&token),
        &[],
    )
    .await;
    assert_eq!(status["status"], "processing", "right after commit the item is processing: {status}");
    let early = rest(&http, &org.portal_url, &format!("content/items/{id}/data"), Some(&token), &[]).await;
    assert_eq!(error_code(&early), Some(400), "its data is refused while processing: {early}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = rest(
            &http,
            &org.portal_url,
            &format!("content/users/{}/items/{id}/status", org.admin.username),
            Some(&token),
            &[],
        )
        .await;
        if s["status"] == "completed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "processing ends: {s}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let item = rest(&http, &org.portal_url, &format!("content/items/{id}"), Some(&token), &[]).await;
    assert!(item.get("status").is_none(), "a committed item is no longer partial: {item}");
    let got = raw(&http, &format!("{root}/content/items/{id}/data"), Some(&token)).await;
    let mut want = one;
    want.extend_from_slice(&two);
    assert_eq!(got.bytes().await.expect("data").to_vec(), want, "the data is the parts in partNum order");
}

#[tokio::test]
async fn only_the_owner_or_an_admin_may_write() {
    let sim = start(restore_config()).await;
    let http = client();
    let org = &sim.orgs[0];
    let admin = sign_in(&http, &org.portal_url, &org.admin).await;
    let user = sign_in(&http, &org.portal_url, &org.user).await;
    let root = format!("{}/sharing/rest", org.portal_url);
    let admin_root = format!("{root}/content/users/{}", org.admin.username);

    let added =
        post_form(&http, &format!("{admin_root}/addItem"), &admin, &[("title", "Admin's"), ("type", "CSV")]).await;
    let id = added["id"].as_str().expect("id").to_owned();
    let denied = post_form(&http, &format!("{admin_root}/items/{id}/update"), &user, &[("title", "Hijacked")]).await;
    assert_eq!(error_code(&denied), Some(403), "a non-owner may not update: {denied}");
    assert!(error_message(&denied).starts_with("You do not have permissions"), "Online's message: {denied}");
    let denied = post_form(&http, &format!("{admin_root}/addItem"), &user, &[("title", "x"), ("type", "CSV")]).await;
    assert_eq!(error_code(&denied), Some(403), "a non-admin may not add to another user's content: {denied}");
    let item = rest(&http, &org.portal_url, &format!("content/items/{id}"), Some(&admin), &[]).await;
    assert_eq!(item["title"], "Admin's", "a refused update changes nothing");

    let missing = post_form(&http, &format!("{admin_root}/addItem"), &admin, &[("type", "CSV")]).await;
    assert_eq!(error_code(&missing), Some(400), "a missing title is refused: {missing}");
    assert!(error_message(&missing).contains("'title'"), "the message names the missing parameter: {missing}");
    let no_token = post_form_raw(&http, &format!("{admin_root}/addItem"), "", &[("title", "x"), ("type", "CSV")]).await;
    let v: Value = no_token.json().await.expect("json");
    assert_eq!(error_code(&v), Some(499), "a write without a token needs one: {v}");
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_was_still_applied() {
    let sim = start(restore_config()).await;
    let http = client();
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let user_root = format!("{}/sharing/rest/content/users/{}", org.portal_url, org.admin.username);
    let marker = |k: &str| format!("typekeywords:\"orgvault-source-{k}\" AND orgid:{}", org.id);

    sim.state
        .faults
        .force_timed(ForcedFault { path_contains: Some("/addItem".into()), kind: FaultKind::Http500, count: 1 }, true);
    let resp = post_form_raw(
        &http,
        &format!("{user_root}/addItem"),
        &token,
        &[("title", "A"), ("type", "CSV"), ("typeKeywords", "orgvault-source-after")],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 500, "the forced fault answers 500");
    sim.control().index_now();
    let found = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &marker("after"))]).await;
    assert_eq!(found["total"], 1, "a fault after the write leaves the item created: {found}");

    sim.state
        .faults
        .force_timed(ForcedFault { path_contains: Some("/addItem".into()), kind: FaultKind::Http502, count: 1 }, false);
    let resp = post_form_raw(
        &http,
        &format!("{user_root}/addItem"),
        &token,
        &[("title", "B"), ("type", "CSV"), ("typeKeywords", "orgvault-source-before")],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 502, "the forced fault answers 502");
    let found = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &marker("before"))]).await;
    assert_eq!(found["total"], 0, "a fault before the write creates nothing: {found}");

    // The same through the HTTP control hook, for out-of-process tests.
    let control: Value = http
        .post(format!("{}/_sim/faults/force", sim.base_url))
        .json(
            &json!({ "path_contains": "/createFolder", "kind": "dropped_connection", "count": 1, "after_apply": true }),
        )
        .send()
        .await
        .expect("control reachable")
        .json()
        .await
        .expect("control JSON");
    assert_eq!(control["faults_injected"], 2, "the control answers the counters: {control}");
    let dropped = http
        .post(format!("{user_root}/createFolder"))
        .form(&[("f", "json"), ("token", token.as_str()), ("title", "Lost")])
        .send()
        .await;
    assert!(dropped.is_err(), "the connection is dropped");
    let again = post_form(&http, &format!("{user_root}/createFolder"), &token, &[("title", "Lost")]).await;
    assert!(error_message(&again).contains("not available"), "the dropped createFolder did create the folder: {again}");
    let status = get_json(&http, &format!("{}/_sim/faults", sim.base_url), None, &[]).await;
    assert_eq!(status["faults_after_apply"], 2, "two faults struck after their write: {status}");
}
