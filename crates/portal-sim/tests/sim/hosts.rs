//! The three hosts, as on ArcGIS Online: the portal, the services host its `portals/<id>/urls`
//! names, and the storage host a file item's `/data` redirects to; and slow operations.

use std::time::{Duration, Instant};

use portal_sim::SimConfig;
use serde_json::Value;

use crate::common::{client, post_form, rest, sign_in, start};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

#[tokio::test]
async fn a_file_download_redirects_to_a_signed_url_on_the_storage_host() {
    let sim = start(SimConfig::default()).await;
    let http = no_redirects();
    let org = &sim.orgs[0];
    let token = sign_in(&client(), &org.portal_url, &org.admin).await;
    let file = sim.control().item_ids(&org.url_key).into_iter().find(|id| {
        let u = sim.state.universe.read().expect("universe");
        u.orgs.iter().flat_map(|o| o.items.get(id)).any(|i| i.data.file_name().is_some())
    });
    let id = file.expect("the default org holds file items");
    let resp = http
        .get(format!("{}/sharing/rest/content/items/{id}/data", org.portal_url))
        .query(&[("token", token.as_str())])
        .send()
        .await
        .expect("reachable");
    assert!(resp.status().is_redirection(), "a file's /data answers a redirect, got {}", resp.status());
    let location = resp.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(&sim.storage_url), "the redirect leads to the storage host: {location}");
    assert!(location.contains("signature=") && !location.contains(&token), "signed, and without the token: {location}");

    let got = http.get(&location).send().await.expect("reachable");
    assert!(got.status().is_success(), "the signed URL needs no token: {}", got.status());
    assert!(!got.bytes().await.expect("body").is_empty(), "and serves the file");
    assert_eq!(sim.state.storage.tokens_seen(), 0, "no token reached the storage host so far");

    let tampered = location.replace("signature=", "signature=0");
    assert_eq!(http.get(&tampered).send().await.expect("reachable").status(), 403, "a changed signature is refused");
    let both = http.get(&location).bearer_auth(&token).send().await.expect("reachable");
    assert_eq!(both.status(), 400, "a signed URL with an Authorization header is refused, as S3 does");
    assert_eq!(sim.state.storage.tokens_seen(), 1, "and the token that reached the storage host is counted");
}

#[tokio::test]
async fn hosted_services_live_on_the_services_host_only() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let urls = rest(&http, &org.portal_url, &format!("portals/{}/urls", org.id), Some(&token), &[]).await;
    let services_host = sim.services_url.split("://").nth(1).expect("host");
    assert_eq!(urls["urls"]["features"]["https"][0], services_host, "portals/<id>/urls names the services host");
    let name = {
        let u = sim.state.universe.read().expect("universe");
        u.orgs[0].services.keys().next().expect("a hosted service").clone()
    };
    let path = format!("/{}/arcgis/rest/services/{name}/FeatureServer", org.id);
    let on_services: Value = http
        .get(format!("{}{path}", sim.services_url))
        .query(&[("f", "json"), ("token", token.as_str())])
        .send()
        .await
        .expect("reachable")
        .json()
        .await
        .expect("json");
    assert!(on_services.get("layers").is_some(), "the service answers on the services host: {on_services}");
    let on_portal =
        http.get(format!("{}{path}", sim.base_url)).query(&[("f", "json")]).send().await.expect("reachable");
    assert_eq!(on_portal.status(), 404, "the portal host does not serve hosted services");
    let portal_on_services = http
        .get(format!("{}/{}/sharing/rest/portals/self", sim.services_url, org.url_key))
        .send()
        .await
        .expect("reachable");
    assert_eq!(portal_on_services.status(), 404, "the services host does not serve the portal");
}

#[tokio::test]
async fn a_slow_operation_answers_late_having_done_its_work() {
    let sim = start(SimConfig { slow_ops: vec![("createFolder".into(), 1_500)], ..SimConfig::default() }).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let url = format!("{}/sharing/rest/content/users/{}/createFolder", org.portal_url, org.admin.username);
    let started = Instant::now();
    let v = post_form(&http, &url, &token, &[("title", "Slow")]).await;
    assert_eq!(v["success"], true, "the slow operation succeeds: {v}");
    assert!(started.elapsed() >= Duration::from_millis(1_500), "and answers no sooner than configured");
    let quick = Instant::now();
    rest(&http, &org.portal_url, "portals/self", Some(&token), &[]).await;
    assert!(quick.elapsed() < Duration::from_millis(1_000), "other operations are not slowed");
    let set: Value = http
        .post(format!("{}/_sim/faults", sim.base_url))
        .json(&serde_json::json!({"slow_ops": {"createFolder": 0, "applyEdits": 70000}}))
        .send()
        .await
        .expect("reachable")
        .json()
        .await
        .expect("json");
    assert_eq!(
        set["slow_ops"],
        serde_json::json!({"applyEdits": 70000}),
        "the control sets and clears slow operations"
    );
}
