//! Reading one item's parts: data as JSON or a stream, resources, related items.

use futures::StreamExt;

use arcgis::{Direction, Error, Portal};
use portal_sim::SimConfig;

use crate::{config_for, sim};

async fn stream_len(mut s: arcgis::ByteStream) -> Result<u64, Error> {
    let mut n = 0u64;
    while let Some(chunk) = s.next().await {
        n += chunk?.len() as u64;
    }
    Ok(n)
}

#[tokio::test]
async fn item_data_resources_and_relations_are_read() {
    let sim = sim(SimConfig { orgs: 1, items: 80, ..SimConfig::default() }).await;
    let portal = Portal::connect(config_for(&sim, 0, &sim.orgs[0].admin)).await.expect("connect");
    let items = portal.search_org_items(&|_, _| {}).await.expect("search");
    let mut web_maps = 0;
    let mut resources_read = 0;
    for item in &items {
        if item.item_type == "Web Map" {
            let data = portal.item_data_json(&item.id).await.expect("a web map's data is JSON");
            let data = data.expect("a web map has data");
            assert!(
                data.get("operationalLayers").is_some() || data.get("baseMap").is_some(),
                "web map data must be the web map JSON, got keys {:?}",
                data.as_object().map(|o| o.keys().collect::<Vec<_>>())
            );
            web_maps += 1;
            portal.related_items(&item.id, "Map2Service", Direction::Forward).await.expect("relatedItems answers");
        }
        for r in portal.item_resources(&item.id).await.expect("resources list") {
            let got = stream_len(portal.item_resource_stream(&item.id, &r.resource).await.expect("resource download"))
                .await
                .expect("resource body");
            if let Some(size) = r.size {
                assert_eq!(got as i64, size, "resource {} must download whole", r.resource);
            }
            resources_read += 1;
        }
    }
    assert!(web_maps > 0, "the sim must have web maps for this test to mean anything");
    assert!(resources_read > 0, "the sim must have resources for this test to mean anything");

    let file_item = items.iter().find(|i| i.item_type == "PDF" || i.item_type == "CSV").expect("a file item");
    let n = stream_len(portal.item_data_stream(&file_item.id).await.expect("file download")).await.expect("file body");
    if let Some(size) = file_item.size {
        assert_eq!(n as i64, size, "a file item downloads whole");
    }

    let missing = portal.item("0123456789abcdef0123456789abcdef").await;
    assert!(matches!(missing, Err(Error::NotFound { .. })), "an unknown item id is NotFound, got {missing:?}");
}
