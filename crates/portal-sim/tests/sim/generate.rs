//! The generated orgs hold every kind of content a backup must handle, and the portal and
//! community endpoints describe them as Online does.

use portal_sim::model::{ItemData, Role};
use portal_sim::SimConfig;
use serde_json::Value;

use crate::common::{client, error_code, rest, sign_in, start};

#[tokio::test]
async fn the_default_org_holds_every_promised_kind() {
    let sim = start(SimConfig::default()).await;
    let u = sim.state.universe.read().expect("universe");
    for (o, login) in u.orgs.iter().zip(&sim.orgs) {
        let items: Vec<_> = o.items.values().collect();
        let has = |t: &str| items.iter().any(|i| i.item_type == t);
        for t in [
            "Feature Service",
            "Web Map",
            "Web Mapping Application",
            "Dashboard",
            "StoryMap",
            "Scene Service",
            "Vector Tile Service",
            "PDF",
            "CSV",
            "Shapefile",
            "File Geodatabase",
            "Service Definition",
            "Code Attachment",
            "Image",
            "Form",
        ] {
            assert!(has(t), "org {} must hold a {t}", o.url_key);
        }
        let hosted = items
            .iter()
            .filter(|i| i.type_keywords.iter().any(|k| k == "Hosted Service") && i.item_type == "Feature Service")
            .count();
        assert_eq!(hosted, o.services.len(), "every hosted feature service item has a service entry");
        for i in items.iter().filter(|i| i.service_name.is_some()) {
            let s = &o.services[i.service_name.as_deref().unwrap_or("")];
            assert_eq!(s.item_id, i.id, "a service names its item");
            assert_eq!(
                i.url.as_deref(),
                Some(format!("{}/{}/arcgis/rest/services/{}/FeatureServer", sim.services_url, o.id, s.name).as_str()),
                "service URLs follow the documented layout"
            );
        }
        let view = o.services.values().find(|s| s.view_of.is_some()).expect("a view");
        assert!(o.services.contains_key(view.view_of.as_deref().unwrap_or("")), "a view names an existing source");
        assert!(
            o.items[&view.item_id].type_keywords.iter().any(|k| k == "View Service"),
            "a view item says View Service"
        );
        assert!(o.services.values().any(|s| s.export_fails), "some services fail to export");
        assert!(o.services.values().any(|s| s.sync_enabled), "some services have sync");
        assert!(o.services.values().any(|s| !s.relationships.is_empty()), "some services have a relationship class");
        assert!(
            o.services.values().flat_map(|s| &s.layers).any(|l| l.features.iter().any(|f| !f.attachments.is_empty())),
            "some features have attachments"
        );
        assert!(o.services.values().any(|s| !s.tables.is_empty()), "some services have a table");

        let maps: Vec<&Value> = items
            .iter()
            .filter(|i| i.item_type == "Web Map")
            .filter_map(|i| match &i.data {
                ItemData::Json(v) => Some(v),
                _ => None,
            })
            .collect();
        let layers: Vec<&Value> =
            maps.iter().flat_map(|m| m["operationalLayers"].as_array().into_iter().flatten()).collect();
        assert!(
            layers
                .iter()
                .any(|l| l["itemId"].is_string() && l["url"].as_str().is_some_and(|u| u.ends_with("/FeatureServer/0"))),
            "maps name layers by itemId and url"
        );
        assert!(
            layers.iter().any(|l| l["itemId"].is_null() && l["url"].as_str().is_some_and(|u| u.contains(".invalid/"))),
            "a map names a foreign layer without itemId"
        );
        assert!(
            maps.iter().any(|m| m["baseMap"]["baseMapLayers"][0]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://services.arcgisonline.com/"))),
            "maps carry a basemap on a non-org host"
        );

        let app_links: Vec<(String, String)> = items
            .iter()
            .filter_map(|i| match &i.data {
                ItemData::Json(v) => v["values"]["linkedApp"]["itemId"].as_str().map(|o| (i.id.clone(), o.to_string())),
                _ => None,
            })
            .collect();
        assert!(
            app_links.iter().any(|(a, b)| app_links.contains(&(b.clone(), a.clone()))),
            "two apps name each other (a cycle)"
        );
        assert!(items.iter().any(|i| i.item_type == "Dashboard" && matches!(&i.data, ItemData::Json(v) if v["widgets"].as_array().into_iter().flatten().any(|w| w["datasets"][0]["dataSource"]["itemId"].is_string()))), "a dashboard names a data source by item id");
        assert!(o.relationships.iter().any(|r| r.origin == r.destination), "an item is related to itself");
        assert!(items.iter().any(|i| !i.title.is_ascii()), "some titles are not ASCII");
        assert!(
            items.iter().any(|i| i.title.contains('/')) && items.iter().any(|i| i.title.contains("..")),
            "some titles hold '/' and '..'"
        );
        assert!(items.iter().any(|i| i.owner_folder.is_some()), "some items live in folders");
        for access in ["private", "shared", "org", "public"] {
            assert!(items.iter().any(|i| i.access == access), "some items are {access}");
        }
        for i in &items {
            for g in &i.shared_groups {
                let group =
                    o.groups.get(g).unwrap_or_else(|| panic!("item {} is shared with a group of its own org", i.id));
                assert_ne!(group.member_type(&i.owner), "none", "an owner shares only to groups it belongs to");
            }
        }
        assert!(
            o.users.values().any(|u| u.role == Role::Publisher) && o.users.values().any(|u| u.role == Role::Viewer),
            "publishers and viewers exist"
        );
        assert_eq!(o.oauth_apps[0].client_id, format!("orgvault-{}", o.url_key), "each org registers the OrgVault app");
        assert!(
            !o.users[&login.user.username].is_admin_with(portal_sim::model::PRIV_VIEW_ITEMS),
            "the ready line's user is not an admin"
        );
    }
    let total: u64 = u.orgs.iter().flat_map(|o| o.items.values()).map(|i| i.data.len()).sum();
    eprintln!("default config: {} bytes of item data", total);
    assert!(total < 20 * 1024 * 1024, "the default config's item data must stay under ~20 MB, was {total}");
}

#[tokio::test]
async fn every_scene_service_has_a_backing_hosted_feature_service() {
    // Large enough for the random mix to add scenes beside the core's one.
    let sim = start(SimConfig { orgs: 1, items: 400, ..SimConfig::default() }).await;
    let u = sim.state.universe.read().expect("universe");
    let o = &u.orgs[0];
    assert_eq!(o.items.len(), 400, "a scene and its backing service together still fill the budget exactly");
    let scenes: Vec<_> = o.items.values().filter(|i| i.item_type == "Scene Service").collect();
    assert!(scenes.len() > 1, "the org holds several scenes, got {}", scenes.len());
    for scene in scenes {
        let backing: Vec<_> = o
            .relationships
            .iter()
            .filter(|r| r.origin == scene.id && r.kind == "Service2Service")
            .map(|r| &o.items[&r.destination])
            .collect();
        assert_eq!(backing.len(), 1, "scene {} has exactly one backing service", scene.id);
        let b = backing[0];
        assert_eq!(b.item_type, "Feature Service", "a scene is backed by a feature service");
        assert!(b.type_keywords.iter().any(|k| k == "Hosted Service"), "the backing service is hosted");
        let svc = o.services.get(b.service_name.as_deref().unwrap_or("")).expect("the backing service has data");
        assert_eq!(svc.item_id, b.id, "the backing service names its item");
        assert!(svc.layers.iter().all(|l| !l.features.is_empty()), "the backing service holds features");
        assert_eq!(b.owner, scene.owner, "the scene and its backing service have one owner");
    }
}

#[tokio::test]
async fn portal_and_community_endpoints_describe_the_org() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let admin = sign_in(&http, &org.portal_url, &org.admin).await;
    let user = sign_in(&http, &org.portal_url, &org.user).await;

    let info = rest(&http, &org.portal_url, "info", None, &[]).await;
    assert_eq!(info["authInfo"]["isTokenBasedSecurity"], true, "/info answers anonymously with token security");
    assert_eq!(
        info["authInfo"]["tokenServicesUrl"],
        format!("{}/sharing/rest/generateToken", org.portal_url),
        "/info names generateToken"
    );

    let me = rest(&http, &org.portal_url, "portals/self", Some(&admin), &[]).await;
    assert_eq!(me["id"], org.id.as_str(), "portals/self names the org");
    assert_eq!(me["user"]["role"], "org_admin", "the admin's role");
    assert!(me["user"].get("roleId").is_none(), "a full admin has no roleId");
    assert!(
        me["user"]["privileges"].as_array().is_some_and(|p| p.iter().any(|x| x == "portal:admin:viewItems")),
        "admins hold viewItems"
    );
    let plain = rest(&http, &org.portal_url, "portals/self", Some(&user), &[]).await;
    assert_eq!(plain["user"]["role"], "org_user", "the plain user's role");

    let urls = rest(&http, &org.portal_url, &format!("portals/{}/urls", org.id), Some(&admin), &[]).await;
    let host = sim.services_url.split("://").nth(1).unwrap_or_default();
    assert_eq!(urls["urls"]["features"]["https"][0], host, "the hosting host is the sim's services host");
    assert_ne!(sim.services_url, sim.base_url, "hosted services live on a host apart from the portal, as on Online");

    let avail = rest(
        &http,
        &org.portal_url,
        "portals/self/isServiceNameAvailable",
        Some(&admin),
        &[("name", "Inspections"), ("type", "Feature Service")],
    )
    .await;
    assert_eq!(avail["available"], false, "an existing service name is not available");
    let free = rest(
        &http,
        &org.portal_url,
        "portals/self/isServiceNameAvailable",
        Some(&admin),
        &[("name", "Brand_New_Name"), ("type", "Feature Service")],
    )
    .await;
    assert_eq!(free["available"], true, "an unused service name is available");

    let groups = rest(
        &http,
        &org.portal_url,
        "community/groups",
        Some(&admin),
        &[("q", &format!("orgid:{}", org.id)), ("num", "100")],
    )
    .await;
    assert_eq!(groups["total"], SimConfig::default().groups, "an admin finds every group of the org");
    let gid = groups["results"][0]["id"].as_str().expect("group id").to_string();
    let members = rest(&http, &org.portal_url, &format!("community/groups/{gid}/users"), Some(&admin), &[]).await;
    let owner = members["owner"].as_str().expect("owner").to_string();
    let n = 1
        + members["admins"].as_array().map_or(0, |a| a.iter().filter(|x| **x != owner.as_str()).count())
        + members["users"].as_array().map_or(0, Vec::len);
    let mut seen = 0;
    let mut start = 1;
    while start != -1 {
        let s = start.to_string();
        let page = rest(
            &http,
            &org.portal_url,
            &format!("community/groups/{gid}/userlist"),
            Some(&admin),
            &[("start", &s), ("num", "2")],
        )
        .await;
        assert_eq!(page["total"].as_u64(), Some(n as u64), "userlist total counts owner, admins and members");
        seen += page["users"].as_array().map_or(0, Vec::len);
        start = page["nextStart"].as_i64().expect("nextStart");
    }
    assert_eq!(seen, n, "paging the userlist reaches every member once");

    let u = rest(&http, &org.portal_url, &format!("community/users/{}", org.user.username), Some(&user), &[]).await;
    assert_eq!(u["username"], org.user.username.as_str(), "community/users answers the user");
    assert!(u["groups"].as_array().is_some_and(|g| !g.is_empty()), "the plain user belongs to groups");
    let me = rest(&http, &org.portal_url, "community/self", Some(&user), &[]).await;
    assert_eq!(me["username"], org.user.username.as_str(), "community/self answers the caller");
    let anon = rest(&http, &org.portal_url, "community/self", None, &[]).await;
    assert_eq!(error_code(&anon), Some(499), "community/self needs a token");
}
