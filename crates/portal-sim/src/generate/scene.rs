//! Hosted scene layers with their backing feature service, as Online publishes them: a scene
//! layer published from a hosted feature layer keeps that feature service as its source, and
//! the portal records it as a `Service2Service` relationship from the scene item to the feature
//! service item. A backup of the scene needs both.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::items::Context;
use super::services::{feature_service, ServiceShape};
use super::stable_hash_of;

/// The backing service's shape: one layer of buildings, nothing a scene cannot carry.
const BACKING: ServiceShape = ServiceShape {
    layers: 1,
    table: false,
    relationship: false,
    attachments: false,
    sync: false,
    change_tracking: false,
    export_fails: false,
};

impl Context<'_> {
    /// A Scene Service item and its backing hosted Feature Service item (two items); returns the
    /// scene's id. The backing service is drawn from a random stream of its own (derived from
    /// the seed and the scene's id), so the rest of the org is the same with or without it.
    pub(super) fn add_scene(&mut self, owner: &str, access: Option<&str>) -> String {
        let scene_id = self.add_tiles(owner, true, access);
        let (title, scene_access) = {
            let scene = &self.org.items[&scene_id];
            (scene.title.clone(), scene.access.clone())
        };
        let mut own = ChaCha8Rng::seed_from_u64(self.seed ^ stable_hash_of(&scene_id));
        std::mem::swap(&mut self.rng, &mut own);
        let backing = self.add_backing_service(owner, &title, &scene_access);
        std::mem::swap(&mut self.rng, &mut own);
        self.relate(&scene_id, &backing, "Service2Service");
        scene_id
    }

    /// A hosted feature service item that only backs a scene: not offered to maps and apps.
    fn add_backing_service(&mut self, owner: &str, scene_title: &str, access: &str) -> String {
        let kw =
            ["ArcGIS Server", "Data", "Feature Access", "Feature Service", "Metadata", "Service", "Hosted Service"];
        let title = format!("{scene_title} (features)");
        let mut item = self.item(owner, &title, "Feature Service", &kw, Some(access));
        let name = self.service_name(&title);
        let svc = feature_service(&mut self.rng, self.seed, &name, &item.id, BACKING, item.modified, self.center);
        item.url = Some(self.service_url(&name));
        item.service_name = Some(name.clone());
        self.org.services.insert(name, svc);
        self.insert(item)
    }
}
