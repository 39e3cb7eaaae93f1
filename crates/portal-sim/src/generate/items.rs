//! Item builders: one method per kind of item (hosted service, view, web map, app, dashboard,
//! StoryMap, scene and tile services, files), each filling the fields Online reports.

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::bytes::{metadata_xml, thumbnail_len};
use super::services::{feature_service, view_of, ServiceShape};
use super::{random_id, DAY_MS};
use crate::model::{Item, ItemData, Org, Relationship, Resource, Role, EPOCH_MS};

pub(super) struct FileType {
    pub item_type: &'static str,
    ext: &'static str,
    content_type: &'static str,
    keywords: &'static [&'static str],
    titles: &'static [&'static str],
}

pub(super) const PDF: FileType = FileType {
    item_type: "PDF",
    ext: "pdf",
    content_type: "application/pdf",
    keywords: &["Data", "Document", "PDF"],
    titles: &["Annual Report", "Field Manual", "Inspection Summary"],
};
pub(super) const CSV: FileType = FileType {
    item_type: "CSV",
    ext: "csv",
    content_type: "text/csv",
    keywords: &["CSV", "Data"],
    titles: &["Sensor Readings", "Asset List", "Survey Results"],
};
pub(super) const SHP: FileType = FileType {
    item_type: "Shapefile",
    ext: "zip",
    content_type: "application/zip",
    keywords: &["Data", "Esri Shapefile", "Shapefile"],
    titles: &["Boundaries", "Road Centerlines", "Flood Zones"],
};
pub(super) const FGDB: FileType = FileType {
    item_type: "File Geodatabase",
    ext: "zip",
    content_type: "application/zip",
    keywords: &["Data", "File Geodatabase"],
    titles: &["Utility Network", "Base Data", "Export"],
};
pub(super) const SD: FileType = FileType {
    item_type: "Service Definition",
    ext: "sd",
    content_type: "application/octet-stream",
    keywords: &["Data", "Service Definition", "Feature Service"],
    titles: &["Published Layers", "Hydro Package"],
};
pub(super) const CODE: FileType = FileType {
    item_type: "Code Attachment",
    ext: "zip",
    content_type: "application/zip",
    keywords: &["Code", "Code Sample", "JavaScript"],
    titles: &["Widget Source", "Scripts"],
};
pub(super) const IMAGE: FileType = FileType {
    item_type: "Image",
    ext: "jpg",
    content_type: "image/jpeg",
    keywords: &["Data", "Image", "JPEG"],
    titles: &["Site Photo", "Aerial Snapshot", "Logo"],
};
pub(super) const WORD: FileType = FileType {
    item_type: "Microsoft Word",
    ext: "docx",
    content_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    keywords: &["Data", "Document", "Microsoft Word"],
    titles: &["Meeting Notes", "Procedure"],
};
pub(super) const EXCEL: FileType = FileType {
    item_type: "Microsoft Excel",
    ext: "xlsx",
    content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    keywords: &["Data", "Document", "Microsoft Excel"],
    titles: &["Budget", "Work Orders"],
};
pub(super) const FORM_FILE: FileType = FileType {
    item_type: "Form",
    ext: "zip",
    content_type: "application/zip",
    keywords: &["Form", "Survey123", "Survey123 Connect", "xForm"],
    titles: &["Inspection Survey", "Damage Assessment"],
};

/// Titles that trip naive tools: Unicode of every plane, path separators, `..`.
pub(super) const AWKWARD_TITLES: [&str; 8] = [
    "Rapport annuel – Übersicht 🚲 2023",
    "東京都 公園データ",
    "Roads / Bridges 2020",
    "../../etc/passwd",
    "Ñandú 🌎 ..\\survey photo",
    "Ελληνικά: Χάρτης",
    "مخطط المدينة",
    "a/b/../c",
];
pub(super) const SERVICE_TITLES: [&str; 8] = [
    "Inspections",
    "Hydrant Inventory",
    "Zoning Areas",
    "Street Trees",
    "Bike Lanes",
    "Parcels",
    "Storm Drains",
    "公園 Parks",
];
pub(super) const MAP_TITLES: [&str; 5] =
    ["City Operations", "Partner Parcels", "Asset Overview", "Carte des risques", "Network Status"];
const TAGS: [&str; 10] =
    ["water", "planning", "operations", "public", "survey", "assets", "transport", "环境", "émissions", "2024"];

/// A hosted service as maps, dashboards and apps name it.
#[derive(Clone)]
pub(super) struct ServiceRef {
    pub item_id: String,
    pub url: String,
    pub title: String,
    pub layers: Vec<i64>,
    pub tables: Vec<i64>,
}

pub(super) enum Kind {
    Service(ServiceShape),
    WebMap { foreign: bool },
    WebApp,
    AppPair,
    Dashboard,
    StoryMap,
    Scene,
    VectorTile,
    File(&'static FileType),
}

/// Generation state of one org's items.
pub(super) struct Context<'a> {
    pub(super) rng: ChaCha8Rng,
    pub(super) seed: u64,
    base_url: &'a str,
    services_url: &'a str,
    pub(super) org: &'a mut Org,
    order: &'a [String],
    pub(super) creators: Vec<String>,
    pub(super) publishers: Vec<String>,
    user_groups: BTreeMap<String, Vec<String>>,
    user_folders: BTreeMap<String, Vec<String>>,
    foreign: String,
    lonlat: (f64, f64),
    pub(super) center: (f64, f64),
    pub(super) services: Vec<ServiceRef>,
    pub(super) maps: Vec<String>,
    service_names: BTreeSet<String>,
    thumb_len: u64,
    /// File bytes the org may still draw at random (see `file_len`).
    file_budget: u64,
}

/// Random file bytes an org may hold per item: keeps the default config near 20 MB in all.
const FILE_BYTES_PER_ITEM: u64 = 140_000;

impl<'a> Context<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rng: ChaCha8Rng,
        seed: u64,
        base_url: &'a str,
        services_url: &'a str,
        org: &'a mut Org,
        order: &'a [String],
        foreign: String,
        lonlat: (f64, f64),
        center: (f64, f64),
        items: usize,
    ) -> Self {
        let creators: Vec<String> = order.iter().filter(|u| org.users[*u].role != Role::Viewer).cloned().collect();
        let publishers: Vec<String> =
            order.iter().filter(|u| matches!(org.users[*u].role, Role::Publisher | Role::OrgAdmin)).cloned().collect();
        let mut user_groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for g in org.groups.values() {
            for m in g.all_members() {
                user_groups.entry(m.clone()).or_default().push(g.id.clone());
            }
        }
        let mut user_folders: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in org.folders.values() {
            user_folders.entry(f.username.clone()).or_default().push(f.id.clone());
        }
        Self {
            rng,
            seed,
            base_url,
            services_url,
            org,
            order,
            creators,
            publishers,
            user_groups,
            user_folders,
            foreign,
            lonlat,
            center,
            services: vec![],
            maps: vec![],
            service_names: BTreeSet::new(),
            thumb_len: thumbnail_len(),
            file_budget: FILE_BYTES_PER_ITEM * items as u64,
        }
    }

    pub(super) fn pick<'s>(&mut self, from: &'s [String]) -> &'s str {
        &from[self.rng.gen_range(0..from.len())]
    }

    /// A vector tile package the tile layer `service_item` was published from (`Service2Data`,
    /// as ArcGIS relates a hosted tile layer to its package). Drawn from its own random stream,
    /// so the rest of the organization is generated as before.
    pub(super) fn add_tile_package(&mut self, service_item: &str, title: &str) -> String {
        let derived = ChaCha8Rng::seed_from_u64(self.seed ^ 0x7670_6b5f_7061_636b);
        let saved = std::mem::replace(&mut self.rng, derived);
        let owner = self.org.items.get(service_item).map(|i| i.owner.clone()).unwrap_or_default();
        let mut item =
            self.item(&owner, title, "Vector Tile Package", &["Vector Tile Package", "vtpk"], Some("private"));
        self.rng = saved;
        let stem: String = title.chars().map(|c| if c.is_alphanumeric() { c } else { '_' }).collect();
        item.data = ItemData::Generated {
            file_name: format!("{stem}.vtpk"),
            len: 64_000,
            content_type: "application/octet-stream".into(),
        };
        let id = self.insert(item);
        self.relate(service_item, &id, "Service2Data");
        id
    }

    /// Makes the file item `sd_item` the service definition of the service of `service_item`:
    /// its bytes are that service packaged (what `publish` with `fileType=serviceDefinition`
    /// reads back), as ArcGIS keeps the `.sd` a hosted layer was published from.
    pub(super) fn hold_service_definition(&mut self, sd_item: &str, service_item: &str) {
        let Some(service) = self.org.services.values().find(|s| s.item_id == service_item) else { return };
        let bytes = bytes::Bytes::from(crate::routes::hosted::package_service(service));
        if let Some(item) = self.org.items.get_mut(sd_item) {
            let file_name = format!("{}.sd", service.name);
            item.data = ItemData::Bytes { file_name, bytes, content_type: "application/octet-stream".into() };
        }
    }

    pub(super) fn relate(&mut self, origin: &str, destination: &str, kind: &str) {
        self.org.relationships.push(Relationship {
            origin: origin.into(),
            destination: destination.into(),
            kind: kind.into(),
        });
    }

    /// A new item with the fields every kind shares; `access` None draws one at random.
    pub(super) fn item(
        &mut self,
        owner: &str,
        title: &str,
        item_type: &str,
        keywords: &[&str],
        access: Option<&str>,
    ) -> Item {
        let rng = &mut self.rng;
        let id = random_id(rng);
        let created = EPOCH_MS + rng.gen_range(0..5 * 365 * DAY_MS);
        let modified = created + rng.gen_range(0..400 * DAY_MS);
        let access = access.unwrap_or_else(|| match rng.gen_range(0..100) {
            0..=34 => "private",
            35..=59 => "shared",
            60..=84 => "org",
            _ => "public",
        });
        let owner_groups = self.user_groups.get(owner).cloned().unwrap_or_default();
        let mut shared_groups = vec![];
        if !owner_groups.is_empty() && (access == "shared" || (access != "private" && rng.gen_bool(0.3))) {
            for _ in 0..rng.gen_range(1..=3) {
                let g = &owner_groups[rng.gen_range(0..owner_groups.len())];
                if !shared_groups.contains(g) {
                    shared_groups.push(g.clone());
                }
            }
        }
        let access = if access == "shared" && shared_groups.is_empty() { "private" } else { access };
        let owner_folder = match self.user_folders.get(owner) {
            Some(f) if rng.gen_bool(0.4) => Some(f[rng.gen_range(0..f.len())].clone()),
            _ => None,
        };
        let mut tags: Vec<String> =
            (0..rng.gen_range(1..=4)).map(|_| TAGS[rng.gen_range(0..TAGS.len())].to_string()).collect();
        tags.dedup();
        let (lon, lat) = self.lonlat;
        let thumbnail = rng.gen_bool(0.85).then(|| "thumbnail/ago_downloaded.png".to_string());
        let metadata_len = rng.gen_bool(0.25).then(|| metadata_xml(self.seed, &id).len() as u64);
        Item {
            id,
            owner: owner.into(),
            owner_folder,
            title: title.into(),
            item_type: item_type.into(),
            type_keywords: keywords.iter().map(|k| (*k).to_string()).collect(),
            tags,
            snippet: format!("{item_type} about {title}"),
            description: format!("<div>{title}: generated for the simulated org.</div>"),
            url: None,
            access: access.into(),
            shared_groups,
            created,
            modified,
            thumbnail_len: if thumbnail.is_some() { self.thumb_len } else { 0 },
            thumbnail,
            metadata_len,
            properties: rng.gen_bool(0.2).then(|| json!({ "source": "portal-sim", "revision": rng.gen_range(1..9) })),
            extent: json!([[lon - 0.2, lat - 0.15], [lon + 0.2, lat + 0.15]]),
            spatial_reference: Some("102100".into()),
            access_information: rng.gen_bool(0.5).then(|| format!("{} GIS", self.org.name)),
            license_info: rng.gen_bool(0.4).then(|| "CC-BY 4.0".to_string()),
            categories: if rng.gen_bool(0.2) { vec!["/Categories/Infrastructure".into()] } else { vec![] },
            protected: rng.gen_bool(0.05),
            content_origin: "self".into(),
            data: ItemData::None,
            resources: vec![],
            service_name: None,
            uploads: Default::default(),
        }
    }

    pub(super) fn insert(&mut self, item: Item) -> String {
        let id = item.id.clone();
        self.org.items.insert(id.clone(), item);
        id
    }

    pub(super) fn service_name(&mut self, title: &str) -> String {
        let base: String = title.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let base = base.trim_matches('_').to_string();
        let base = if base.is_empty() { "Layer".to_string() } else { base };
        let mut name = base.clone();
        let mut k = 2;
        while !self.service_names.insert(name.to_lowercase()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        name
    }

    pub(super) fn service_url(&self, name: &str) -> String {
        format!("{}/{}/arcgis/rest/services/{name}/FeatureServer", self.services_url, self.org.id)
    }

    pub(super) fn add_service(
        &mut self,
        owner: &str,
        title: &str,
        shape: ServiceShape,
        access: Option<&str>,
    ) -> String {
        let mut kw =
            vec!["ArcGIS Server", "Data", "Feature Access", "Feature Service", "Metadata", "Service", "Hosted Service"];
        if shape.sync {
            kw.push("Sync");
        }
        let mut item = self.item(owner, title, "Feature Service", &kw, access);
        let name = self.service_name(title);
        let svc = feature_service(&mut self.rng, self.seed, &name, &item.id, shape, item.modified, self.center);
        item.url = Some(self.service_url(&name));
        item.service_name = Some(name.clone());
        if self.rng.gen_bool(0.4) {
            item.data = ItemData::Json(
                json!({ "layers": svc.layers.iter().map(|l| json!({ "id": l.id, "popupInfo": { "title": format!("{} {{Name}}", l.name) } })).collect::<Vec<_>>() }),
            );
        }
        self.services.push(ServiceRef {
            item_id: item.id.clone(),
            url: item.url.clone().unwrap_or_default(),
            title: title.into(),
            layers: svc.layers.iter().map(|l| l.id).collect(),
            tables: svc.tables.iter().map(|l| l.id).collect(),
        });
        self.org.services.insert(name, svc);
        self.insert(item)
    }

    pub(super) fn add_view(&mut self, owner: &str) -> Option<String> {
        let source = self.services.first()?.clone();
        let kw =
            ["ArcGIS Server", "Data", "Feature Access", "Feature Service", "Service", "Hosted Service", "View Service"];
        let mut item =
            self.item(owner, &format!("{} (public view)", source.title), "Feature Service", &kw, Some("public"));
        let name = self.service_name(&format!("{}_view", source.title));
        let src = self.org.services.values().find(|s| s.item_id == source.item_id)?;
        let view = view_of(src, &name, &item.id);
        item.url = Some(self.service_url(&name));
        item.service_name = Some(name.clone());
        self.org.services.insert(name, view);
        self.relate(&source.item_id, &item.id, "Service2Service");
        Some(self.insert(item))
    }

    fn web_map_data(&mut self, services: &[ServiceRef], foreign: bool) -> Value {
        let mut layers = vec![];
        let mut tables = vec![];
        for s in services {
            for l in &s.layers {
                layers.push(json!({
                    "id": format!("{}-layer-{l}", &s.item_id[..8]), "layerType": "ArcGISFeatureLayer",
                    "url": format!("{}/{l}", s.url), "itemId": s.item_id, "title": format!("{} {l}", s.title),
                    "visibility": true, "opacity": 1,
                    "popupInfo": { "title": "{Name}", "fieldInfos": [{ "fieldName": "Name", "visible": true }] },
                }));
            }
            for t in &s.tables {
                tables.push(json!({ "id": format!("{}-table-{t}", &s.item_id[..8]), "url": format!("{}/{t}", s.url), "itemId": s.item_id, "title": format!("{} table", s.title) }));
            }
        }
        if foreign {
            layers.push(json!({ "id": "partner-layer", "layerType": "ArcGISFeatureLayer", "url": self.foreign, "itemId": null, "title": "Partner layer", "visibility": true, "opacity": 0.8 }));
        }
        json!({
            "operationalLayers": layers,
            "tables": tables,
            "baseMap": { "baseMapLayers": [{ "id": "World_Topo_Map", "layerType": "ArcGISTiledMapServiceLayer",
                "url": "https://services.arcgisonline.com/ArcGIS/rest/services/World_Topo_Map/MapServer", "visibility": true, "opacity": 1 }],
                "title": "Topographic" },
            "spatialReference": { "wkid": 102100, "latestWkid": 3857 },
            "authoringApp": "ArcGISMapViewer", "authoringAppVersion": "2024.2", "version": "2.31",
        })
    }

    pub(super) fn add_web_map(
        &mut self,
        owner: &str,
        title: &str,
        services: Vec<ServiceRef>,
        foreign: bool,
        access: Option<&str>,
    ) -> String {
        let kw = ["ArcGIS API for JavaScript", "ArcGIS Online", "Explorer Web Map", "Map", "Online Map", "Web Map"];
        let mut item = self.item(owner, title, "Web Map", &kw, access);
        item.data = ItemData::Json(self.web_map_data(&services, foreign));
        let id = self.insert(item);
        for s in &services {
            self.relate(&id, &s.item_id, "Map2Service");
        }
        self.maps.push(id.clone());
        id
    }

    pub(super) fn some_services(&mut self, max: usize) -> Vec<ServiceRef> {
        let mut out: Vec<ServiceRef> = vec![];
        if self.services.is_empty() {
            return out;
        }
        for _ in 0..self.rng.gen_range(1..=max) {
            let s = self.services[self.rng.gen_range(0..self.services.len())].clone();
            if !out.iter().any(|o| o.item_id == s.item_id) {
                out.push(s);
            }
        }
        out
    }

    pub(super) fn some_map(&mut self) -> Option<String> {
        (!self.maps.is_empty()).then(|| self.maps[self.rng.gen_range(0..self.maps.len())].clone())
    }

    fn app_url(&self, id: &str) -> String {
        format!("{}/{}/apps/instant/sidebar/index.html?appid={id}", self.base_url, self.org.url_key)
    }

    pub(super) fn add_web_app(
        &mut self,
        owner: &str,
        title: &str,
        webmap: Option<String>,
        linked_app: Option<(&str, &str)>,
        access: Option<&str>,
    ) -> String {
        let kw = ["JavaScript", "Map", "Mapping Site", "Online Map", "Ready To Use", "configurableApp", "Instant App"];
        let mut item = self.item(owner, title, "Web Mapping Application", &kw, access);
        if let Some((own_id, _)) = linked_app {
            item.id = own_id.to_string();
        }
        item.url = Some(self.app_url(&item.id));
        let mut values = json!({ "webmap": webmap, "title": title, "showLegend": true });
        if let Some((_, other)) = linked_app {
            values["linkedApp"] = json!({ "itemId": other, "label": "Open the companion app" });
        }
        item.data =
            ItemData::Json(json!({ "source": "a9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5", "folderId": null, "values": values }));
        if self.rng.gen_bool(0.4) {
            item.resources = self.resources(&["config/settings.json", "images/logo.png"], item.created);
        }
        self.insert(item)
    }

    fn resources(&mut self, paths: &[&str], created: i64) -> Vec<Resource> {
        paths
            .iter()
            .map(|p| Resource {
                path: (*p).into(),
                len: self.rng.gen_range(200..50_000),
                created: created + self.rng.gen_range(0..30 * DAY_MS),
                bytes: None,
            })
            .collect()
    }

    pub(super) fn add_dashboard(&mut self, owner: &str, access: Option<&str>) -> String {
        let map = self.some_map();
        let services = self.some_services(2);
        let mut item =
            self.item(owner, "Operations Dashboard", "Dashboard", &["Dashboard", "Operations Dashboard"], access);
        item.url = Some(format!("{}/{}/apps/dashboards/{}", self.base_url, self.org.url_key, item.id));
        let mut widgets = vec![json!({ "type": "mapWidget", "id": "map-1", "itemId": map, "datasets": [] })];
        for (i, s) in services.iter().enumerate() {
            widgets.push(json!({ "type": "indicatorWidget", "id": format!("indicator-{i}"),
                "datasets": [{ "type": "serviceDataset", "dataSource": { "type": "featureServiceDataSource", "itemId": s.item_id, "layerId": s.layers.first().copied().unwrap_or(0) } }] }));
        }
        item.data = ItemData::Json(
            json!({ "version": 27, "widgets": widgets, "headerPanel": { "type": "header", "title": "Operations" } }),
        );
        self.insert(item)
    }

    pub(super) fn add_story(&mut self, owner: &str, access: Option<&str>) -> String {
        let maps: Vec<String> = (0..2).filter_map(|_| self.some_map()).collect();
        let kw = ["arcgis-storymaps", "StoryMap", "Web Application", "smstatusPublished"];
        let mut item = self.item(owner, "Our Watershed Story 🌊", "StoryMap", &kw, access);
        item.url = Some(format!("https://storymaps.arcgis.com/stories/{}", item.id));
        let mut resources = serde_json::Map::new();
        for (i, m) in maps.iter().enumerate() {
            resources.insert(
                format!("r-map-{i}"),
                json!({ "type": "webmap", "data": { "itemId": m, "itemType": "Web Map" } }),
            );
        }
        resources.insert(
            "r-image-0".into(),
            json!({ "type": "image", "data": { "resourceId": "images/photo 1.jpg", "provider": "item-resource" } }),
        );
        item.data = ItemData::Json(
            json!({ "root": "n-root", "nodes": { "n-root": { "type": "story", "children": [] } }, "resources": resources }),
        );
        item.resources = self
            .resources(&["images/photo 1.jpg", "images/2024/übersicht.png", "draft/v1..v2 data.json"], item.created);
        self.insert(item)
    }

    pub(super) fn add_tiles(&mut self, owner: &str, scene: bool, access: Option<&str>) -> String {
        let (title, kind, kw): (&str, &str, &[&str]) = if scene {
            (
                "City Buildings 3D",
                "Scene Service",
                &["Hosted Service", "Scene Service", "Data", "Service", "Scene Layer"],
            )
        } else {
            (
                "Basemap Vector Tiles",
                "Vector Tile Service",
                &["Hosted Service", "Vector Tile Service", "Data", "Service"],
            )
        };
        let mut item = self.item(owner, title, kind, kw, access);
        let name = self.service_name(title);
        item.url = Some(if scene {
            format!("{}/{}/arcgis/rest/services/Hosted/{name}/SceneServer", self.services_url, self.org.id)
        } else {
            format!("{}/tiles/{}/arcgis/rest/services/{name}/VectorTileServer", self.services_url, self.org.id)
        });
        self.insert(item)
    }

    /// Most files are kilobytes, some hundreds of kilobytes, a few megabytes; a draw that would
    /// overrun the org's file budget falls back to kilobytes, so the total scales with `items`.
    fn file_len(&mut self) -> u64 {
        let len = match self.rng.gen_range(0..100) {
            0..=81 => self.rng.gen_range(1_000..150_000),
            82..=98 => self.rng.gen_range(150_000..900_000),
            _ => self.rng.gen_range(1_000_000..3_500_000),
        };
        if len > self.file_budget {
            self.rng.gen_range(1_000..20_000)
        } else {
            len
        }
    }

    pub(super) fn add_file(
        &mut self,
        owner: &str,
        ft: &'static FileType,
        title: Option<&str>,
        len: Option<u64>,
        access: Option<&str>,
    ) -> String {
        let title = title.map(String::from).unwrap_or_else(|| {
            let t = ft.titles[self.rng.gen_range(0..ft.titles.len())];
            if self.rng.gen_bool(0.05) {
                AWKWARD_TITLES[self.rng.gen_range(0..AWKWARD_TITLES.len())].to_string()
            } else {
                format!("{t} {}", self.rng.gen_range(1..500))
            }
        });
        let mut item = self.item(owner, &title, ft.item_type, ft.keywords, access);
        let len = len.unwrap_or_else(|| self.file_len());
        self.file_budget = self.file_budget.saturating_sub(len);
        let stem: String = title.chars().map(|c| if c.is_alphanumeric() { c } else { '_' }).collect();
        item.data =
            ItemData::Generated { file_name: format!("{stem}.{}", ft.ext), len, content_type: ft.content_type.into() };
        if self.rng.gen_bool(0.05) {
            item.resources = self.resources(&["notes/ünïcode notes.txt", "nested/deeper/data.json"], item.created);
        }
        if ft.item_type == "Form" {
            item.url = Some(format!("https://survey123.arcgis.com/share/{}", item.id));
        }
        self.insert(item)
    }

    pub(super) fn user(&self, i: usize) -> String {
        self.order[i.min(self.order.len() - 1)].clone()
    }
}
