//! Which items an org gets: a fixed core of every kind a backup must handle, in dependency order
//! (services before the maps naming them, maps before apps), then a weighted random mix.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::items::{
    Context, Kind, ServiceRef, AWKWARD_TITLES, CODE, CSV, EXCEL, FGDB, FORM_FILE, IMAGE, MAP_TITLES, PDF, SD,
    SERVICE_TITLES, SHP, WORD,
};
use super::random_id;
use super::services::{feature_total, ServiceShape};
use crate::model::ItemData;

/// Steps of the core; each adds one item (the app pair and the scene two).
const CORE_STEPS: usize = 20;

/// One step of the core. Owners: 0 full admin, 1 custom admin, 2 plain user, 3 publisher.
/// `budget` is the org's item count, which a two-item step must not overrun.
fn core_step(cx: &mut Context<'_>, step: usize, budget: usize) {
    let (admin, reviewer, user, publisher) = (cx.user(0), cx.user(1), cx.user(2), cx.user(3));
    match step {
        0 => {
            let shape = ServiceShape {
                layers: 2,
                table: true,
                relationship: true,
                attachments: true,
                sync: true,
                change_tracking: true,
                export_fails: false,
            };
            cx.add_service(&publisher, SERVICE_TITLES[0], shape, Some("org"));
        }
        1 => {
            let shape = ServiceShape {
                layers: 1,
                table: false,
                relationship: false,
                attachments: true,
                sync: false,
                change_tracking: false,
                export_fails: true,
            };
            cx.add_service(&publisher, SERVICE_TITLES[1], shape, Some("private"));
        }
        2 => {
            let shape = ServiceShape {
                layers: 3,
                table: false,
                relationship: true,
                attachments: false,
                sync: true,
                change_tracking: false,
                export_fails: false,
            };
            let id = cx.add_service(&admin, SERVICE_TITLES[2], shape, Some("public"));
            // An item related to itself: clients must not loop on it.
            cx.relate(&id, &id, "Service2Service");
        }
        3 => {
            cx.add_view(&publisher);
        }
        4 => {
            let id = cx.add_file(&publisher, &FGDB, Some("Inspections export"), Some(2_600_000), Some("shared"));
            if let Some(s) = cx.services.first().cloned() {
                cx.relate(&s.item_id, &id, "Service2Data");
            }
        }
        5 => {
            let id = cx.add_file(&publisher, &SD, Some("Hydrant Inventory"), None, Some("private"));
            if let Some(s) = cx.services.get(1).cloned() {
                cx.relate(&s.item_id, &id, "Service2Data");
                // The service definition the service was published from: publishing it again
                // makes the service as it was then (its schema and the features it had).
                cx.hold_service_definition(&id, &s.item_id);
            }
        }
        6 => {
            let id = cx.add_file(&publisher, &FORM_FILE, Some("Inspection Survey"), Some(48_000), Some("org"));
            if let Some(s) = cx.services.first().cloned() {
                cx.relate(&id, &s.item_id, "Survey2Service");
            }
        }
        7 => {
            let svcs: Vec<ServiceRef> = [0, 2].iter().filter_map(|i| cx.services.get(*i).cloned()).collect();
            cx.add_web_map(&user, MAP_TITLES[0], svcs, false, Some("org"));
        }
        8 => {
            let svcs: Vec<ServiceRef> = cx.services.get(1).cloned().into_iter().collect();
            cx.add_web_map(&admin, MAP_TITLES[1], svcs, true, Some("public"));
        }
        9 => {
            let m = cx.maps.first().cloned();
            cx.add_web_app(&user, "Operations Viewer", m, None, Some("org"));
        }
        10 => {
            // Two apps naming each other: a reference cycle a restore must break.
            let (one, two) = (random_id(&mut cx.rng), random_id(&mut cx.rng));
            let m = cx.maps.first().cloned();
            cx.add_web_app(&admin, "Field App North", m.clone(), Some((&one, &two)), Some("org"));
            cx.add_web_app(&admin, "Field App South", m, Some((&two, &one)), Some("org"));
        }
        11 => {
            cx.add_dashboard(&reviewer, Some("org"));
        }
        12 => {
            cx.add_story(&user, Some("public"));
        }
        // A scene brings its backing feature service: two items.
        13 if cx.org.items.len() + 2 <= budget => {
            cx.add_scene(&publisher, Some("public"));
        }
        13 => {
            cx.add_tiles(&publisher, false, Some("public"));
        }
        14 => {
            let tiles = cx.add_tiles(&publisher, false, Some("org"));
            cx.add_tile_package(&tiles, "Basemap Vector Tiles package");
        }
        15 => {
            cx.add_file(&user, &PDF, Some(AWKWARD_TITLES[0]), None, Some("shared"));
        }
        16 => {
            cx.add_file(&user, &CSV, Some(AWKWARD_TITLES[1]), None, Some("private"));
        }
        17 => {
            cx.add_file(&publisher, &SHP, Some(AWKWARD_TITLES[2]), None, Some("org"));
        }
        18 => {
            cx.add_file(&user, &CODE, Some(AWKWARD_TITLES[3]), None, Some("org"));
        }
        _ => {
            cx.add_file(&admin, &IMAGE, Some(AWKWARD_TITLES[4]), None, Some("public"));
        }
    }
}

fn random_kind(rng: &mut ChaCha8Rng) -> Kind {
    match rng.gen_range(0..100) {
        0..=3 => Kind::Service(ServiceShape::random(rng)),
        4..=17 => Kind::WebMap { foreign: rng.gen_bool(0.05) },
        18..=23 => Kind::WebApp,
        24..=26 => Kind::Dashboard,
        27..=29 => Kind::StoryMap,
        30..=31 => Kind::Scene,
        32..=33 => Kind::VectorTile,
        34..=35 => Kind::File(&FORM_FILE),
        36..=47 => Kind::File(&PDF),
        48..=59 => Kind::File(&CSV),
        60..=65 => Kind::File(&SHP),
        66..=69 => Kind::File(&FGDB),
        70..=72 => Kind::File(&SD),
        73..=74 => Kind::File(&CODE),
        75..=88 => Kind::File(&IMAGE),
        89..=93 => Kind::File(&WORD),
        94..=98 => Kind::File(&EXCEL),
        _ => Kind::AppPair,
    }
}

/// Fills `cx.org` with `budget` items: the core first (truncated when `budget` is smaller), then
/// the random mix.
pub(super) fn generate(mut cx: Context<'_>, budget: usize) {
    for step in 0..CORE_STEPS {
        if cx.org.items.len() >= budget {
            break;
        }
        core_step(&mut cx, step, budget);
    }
    let creators = cx.creators.clone();
    let publishers = cx.publishers.clone();
    let mut service_count = cx.services.len();
    while cx.org.items.len() < budget {
        let kind = random_kind(&mut cx.rng);
        let owner = match kind {
            Kind::Service(_) | Kind::Scene | Kind::VectorTile => cx.pick(&publishers).to_string(),
            _ => cx.pick(&creators).to_string(),
        };
        match kind {
            Kind::Service(mut shape) => {
                service_count += 1;
                // Every fifth service fails to export, so the replica fallback is exercised at scale.
                shape.export_fails = service_count.rem_euclid(5) == 0;
                let title = format!("{} {}", SERVICE_TITLES[cx.rng.gen_range(0..SERVICE_TITLES.len())], service_count);
                let id = cx.add_service(&owner, &title, shape, None);
                if cx.rng.gen_bool(0.3) {
                    let n = cx.rng.gen_range(0..cx.org.items.len());
                    let d = cx.org.items.keys().nth(n).cloned().unwrap_or_default();
                    if d != id && cx.org.items.get(&d).is_some_and(|i| matches!(i.data, ItemData::Generated { .. })) {
                        cx.relate(&id, &d, "Service2Data");
                    }
                }
            }
            Kind::WebMap { foreign } => {
                let svcs = cx.some_services(3);
                let title =
                    format!("{} {}", MAP_TITLES[cx.rng.gen_range(0..MAP_TITLES.len())], cx.rng.gen_range(1..999));
                cx.add_web_map(&owner, &title, svcs, foreign, None);
            }
            Kind::WebApp => {
                let m = cx.some_map();
                let title = format!("Viewer {}", cx.rng.gen_range(1..999));
                cx.add_web_app(&owner, &title, m, None, None);
            }
            Kind::AppPair if cx.org.items.len() + 2 <= budget => {
                let (one, two) = (random_id(&mut cx.rng), random_id(&mut cx.rng));
                let m = cx.some_map();
                cx.add_web_app(&owner, "Companion App A", m.clone(), Some((&one, &two)), None);
                cx.add_web_app(&owner, "Companion App B", m, Some((&two, &one)), None);
            }
            Kind::AppPair => {
                cx.add_file(&owner, &PDF, None, None, None);
            }
            Kind::Dashboard => {
                cx.add_dashboard(&owner, None);
            }
            Kind::StoryMap => {
                cx.add_story(&owner, None);
            }
            Kind::Scene if cx.org.items.len() + 2 <= budget => {
                cx.add_scene(&owner, None);
            }
            Kind::Scene => {
                cx.add_tiles(&owner, false, None);
            }
            Kind::VectorTile => {
                cx.add_tiles(&owner, false, None);
            }
            Kind::File(ft) => {
                let id = cx.add_file(&owner, ft, None, None, None);
                if ft.item_type == "Form" && !cx.services.is_empty() {
                    let s = cx.services[cx.rng.gen_range(0..cx.services.len())].item_id.clone();
                    cx.relate(&id, &s, "Survey2Service");
                }
            }
        }
    }
    // The largest service fails to export too: large exports are the ones that fail on Online.
    let largest = cx
        .org
        .services
        .values()
        .filter(|s| s.view_of.is_none())
        .max_by_key(|s| (feature_total(s), s.name.clone()))
        .map(|s| s.name.clone());
    if let Some(s) = largest.and_then(|name| cx.org.services.get_mut(&name)) {
        s.export_fails = true;
    }
}
