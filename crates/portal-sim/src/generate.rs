//! Deterministic generation of the simulated organizations from `SimConfig::seed`.
//!
//! Invariants: the same seed (and sizes) yields the same orgs, users, passwords, ids, times and
//! content, byte for byte; nothing reads the clock or depends on hash-map iteration order. Each org
//! draws from its own generator seeded from the universe generator, so orgs are independent.
//! Times are offsets from `model::EPOCH_MS` (2019-01-01).
//!
//! Sizes: `SimConfig::items`, `users` and `groups` are per org. A fixed "core" of items comes
//! first (every kind a backup must handle: services with relationship classes and attachments, a
//! view, maps naming them, apps in a reference cycle, files, a self-related item, Unicode titles),
//! then a random mix; a smaller `items` simply truncates that sequence.

mod bytes;
mod items;
mod plan;
mod scene;
mod services;

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use self::bytes::{file_bytes, file_vec, fill_file_bytes, metadata_xml, thumbnail_len, thumbnail_png, CHUNK};
use crate::model::{Folder, Group, OAuthApp, Org, Role, Universe, User, EPOCH_MS};
use crate::server::{Login, OrgLogin, SimConfig};

/// The key under which an item's file bytes are generated (see [`file_bytes`]).
pub fn item_file_key(item_id: &str, file_name: &str) -> String {
    format!("{item_id}/{file_name}")
}

/// The key under which a generated resource's bytes are produced.
pub fn resource_key(item_id: &str, path: &str) -> String {
    format!("{item_id}/resources/{path}")
}

/// A stable 64-bit hash of a string (FNV-1a), for derived values such as view counts.
pub fn stable_hash_of(s: &str) -> u64 {
    bytes::stable_hash(&[s.as_bytes()])
}

/// Default foreign layer URL named by some web maps: a host that never resolves (`.invalid`).
pub const DEFAULT_FOREIGN_SERVICE_URL: &str =
    "https://gis.foreign.invalid/arcgis/rest/services/Parcels/FeatureServer/0";

const DAY_MS: i64 = 86_400_000;

const URL_KEYS: [&str; 8] =
    ["contoso", "northwind", "fabrikam", "tailspin", "wingtip", "litware", "adatum", "proseware"];
const ORG_NAMES: [&str; 8] = [
    "Contoso Water Utility",
    "Northwind Planning Department",
    "Fabrikam County GIS",
    "Tailspin Parks & Recreation",
    "Wingtip Transit Authority",
    "Litware Environmental Agency",
    "Adatum Fire District",
    "Proseware Regional Council",
];
/// (longitude, latitude) the org's data clusters around.
const CENTERS: [(f64, f64); 8] = [
    (-122.42, 37.77),
    (8.54, 47.37),
    (139.69, 35.69),
    (36.82, -1.29),
    (-46.63, -23.55),
    (-3.70, 40.42),
    (151.21, -33.87),
    (-79.38, 43.65),
];
const FIRST: [&str; 26] = [
    "Amelia", "Bruno", "Chen", "Dalia", "Emeka", "Fatima", "Gustav", "Hana", "Ivan", "Jasmin", "Kofi", "Lena", "Mateo",
    "Nora", "Omar", "Priya", "Quentin", "Rosa", "Søren", "Tomás", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoë",
];
const LAST: [&str; 20] = [
    "Ross", "Okafor", "Müller", "Tanaka", "García", "Novak", "Singh", "Haddad", "Larsen", "Kim", "Moreau", "Silva",
    "Nguyen", "O'Brien", "Kowalski", "Mensah", "Ibrahim", "Rossi", "Jensen", "Costa",
];
const GROUP_TITLES: [&str; 10] = [
    "Field Operations",
    "Planning",
    "Emergency Response",
    "Public Data",
    "Editors",
    "Asset Management",
    "Analytics Team",
    "Grünflächen",
    "災害対応チーム",
    "Contractors",
];
const FOLDER_TITLES: [&str; 8] =
    ["Projects", "Field Work", "Archive 2021", "Données", "Ökologie", "Shared Drafts", "地図", "Reports"];
const GROUP_TAGS: [&str; 6] = ["operations", "planning", "public", "editing", "analytics", "partners"];

/// Privileges of a user of the `org_user` role.
const USER_PRIVILEGES: [&str; 13] = [
    "portal:user:createGroup",
    "portal:user:createItem",
    "portal:user:joinGroup",
    "portal:user:joinNonOrgGroup",
    "portal:user:shareGroupToOrg",
    "portal:user:shareGroupToPublic",
    "portal:user:shareToGroup",
    "portal:user:shareToOrg",
    "portal:user:shareToPublic",
    "portal:user:viewOrgGroups",
    "portal:user:viewOrgItems",
    "portal:user:viewOrgUsers",
    "premium:user:geocode",
];
const PUBLISHER_PRIVILEGES: [&str; 5] = [
    "features:user:edit",
    "portal:publisher:publishFeatures",
    "portal:publisher:publishScenes",
    "portal:publisher:publishTiles",
    "portal:publisher:bulkPublishFromDataStores",
];
const VIEWER_PRIVILEGES: [&str; 4] =
    ["portal:user:joinGroup", "portal:user:viewOrgGroups", "portal:user:viewOrgItems", "portal:user:viewOrgUsers"];
/// A custom administrator role that may only view (`Control::make_view_only_admin`).
pub const VIEW_ONLY_ADMIN_PRIVILEGES: [&str; 7] = [
    "portal:admin:viewGroups",
    "portal:admin:viewItems",
    "portal:admin:viewUsers",
    "portal:user:joinGroup",
    "portal:user:viewOrgGroups",
    "portal:user:viewOrgItems",
    "portal:user:viewOrgUsers",
];
/// Every admin privilege; the custom admin role lacks [`CUSTOM_ADMIN_LACKS`].
const ADMIN_PRIVILEGES: [&str; 25] = [
    "features:user:fullEdit",
    "portal:admin:assignToGroups",
    "portal:admin:changeUserRoles",
    "portal:admin:createUpdateCapableGroupOnlyUsers",
    "portal:admin:deleteGroups",
    "portal:admin:deleteItems",
    "portal:admin:deleteUsers",
    "portal:admin:disableUsers",
    "portal:admin:inviteUsers",
    "portal:admin:manageCredits",
    "portal:admin:manageLicenses",
    "portal:admin:manageRoles",
    "portal:admin:manageSecurity",
    "portal:admin:manageUtilityServices",
    "portal:admin:reassignGroups",
    "portal:admin:reassignItems",
    "portal:admin:reassignUsers",
    "portal:admin:shareToGroup",
    "portal:admin:shareToOrg",
    "portal:admin:shareToPublic",
    "portal:admin:updateGroups",
    "portal:admin:updateItems",
    "portal:admin:viewGroups",
    "portal:admin:viewItems",
    "portal:admin:viewUsers",
];
/// What the custom "Content Reviewer" admin role may not do: it can see but not move or delete.
pub const CUSTOM_ADMIN_LACKS: [&str; 6] = [
    "portal:admin:reassignItems",
    "portal:admin:deleteItems",
    "portal:admin:createUpdateCapableGroupOnlyUsers",
    "portal:admin:manageSecurity",
    "portal:admin:manageRoles",
    "portal:admin:deleteUsers",
];
/// Online's built-in Viewer role id.
const VIEWER_ROLE_ID: &str = "iAAAAAAAAAAAAAAA";

/// The role, custom role id and privileges a user created with `role` gets (invite, createUser,
/// updateuserrole): `org_admin`, `org_publisher`, `org_user`, Online's viewer role id, or the id of a
/// custom role some user of `org` already holds (its privileges are copied). `None`: unknown role.
pub fn role_privileges(org: &Org, role: &str) -> Option<(Role, Option<String>, Vec<String>)> {
    let list = |lists: &[&[&str]]| lists.iter().flat_map(|l| l.iter()).map(|p| (*p).to_string()).collect::<Vec<_>>();
    match role {
        "org_admin" | "account_admin" => {
            Some((Role::OrgAdmin, None, list(&[&ADMIN_PRIVILEGES, &PUBLISHER_PRIVILEGES, &USER_PRIVILEGES])))
        }
        "org_publisher" | "account_publisher" => {
            Some((Role::Publisher, None, list(&[&PUBLISHER_PRIVILEGES, &USER_PRIVILEGES])))
        }
        "org_user" | "account_user" => Some((Role::User, None, list(&[&USER_PRIVILEGES]))),
        VIEWER_ROLE_ID | "viewer" => Some((Role::Viewer, Some(VIEWER_ROLE_ID.into()), list(&[&VIEWER_PRIVILEGES]))),
        custom => org
            .users
            .values()
            .find(|u| u.role_id.as_deref() == Some(custom))
            .map(|u| (u.role.clone(), u.role_id.clone(), u.privileges.clone())),
    }
}

/// Every org of the universe and the logins printed on the ready line. `base_url` is
/// `http://127.0.0.1:PORT` (or https): portal URLs are `{base_url}/{url_key}`, hosted services
/// `{base_url}/{org_id}/arcgis/rest/services/{name}/FeatureServer`.
pub fn universe(cfg: &SimConfig, base_url: &str) -> (Universe, Vec<OrgLogin>) {
    universe_on(cfg, base_url, base_url)
}

/// As [`universe`], with hosted services (and scene and tile services) under `services_url`,
/// the services host (like `services1.arcgis.com`), apart from the portal's `base_url`.
pub fn universe_on(cfg: &SimConfig, base_url: &str, services_url: &str) -> (Universe, Vec<OrgLogin>) {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let seeds: Vec<u64> = (0..cfg.orgs).map(|_| rng.gen()).collect();
    // Orgs are independent (each has its own generator), so they are built in parallel; the
    // result is collected in index order and stays deterministic.
    let built: Vec<(Org, OrgLogin)> = std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .iter()
            .enumerate()
            .map(|(index, seed)| scope.spawn(move || org(cfg, base_url, services_url, index, *seed)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut universe =
        Universe { search_lag: std::time::Duration::from_millis(cfg.search_lag_ms), ..Universe::default() };
    let mut logins = Vec::with_capacity(cfg.orgs);
    for (org, login) in built {
        universe.orgs.push(org);
        logins.push(login);
    }
    (universe, logins)
}

pub(crate) fn random_id(rng: &mut ChaCha8Rng) -> String {
    hex::encode(rng.gen::<[u8; 16]>())
}

fn alnum(rng: &mut ChaCha8Rng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n).map(|_| A[rng.gen_range(0..A.len())] as char).collect()
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ø' | 'ö' => 'o',
            'á' | 'ä' => 'a',
            'ë' => 'e',
            'ü' => 'u',
            'í' => 'i',
            other => other,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

/// Web Mercator coordinates of a longitude/latitude.
fn mercator((lon, lat): (f64, f64)) -> (f64, f64) {
    let r = 6_378_137.0_f64;
    (r * lon.to_radians(), r * ((std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan()).ln())
}

fn org(cfg: &SimConfig, base_url: &str, services_url: &str, index: usize, org_seed: u64) -> (Org, OrgLogin) {
    let empty = index + cfg.empty_orgs.min(cfg.orgs) >= cfg.orgs;
    let mut rng = ChaCha8Rng::seed_from_u64(org_seed);
    let url_key = match URL_KEYS.get(index) {
        Some(k) => (*k).to_string(),
        None => format!("org{index}"),
    };
    let name = ORG_NAMES.get(index).map_or_else(|| format!("Simulated Org {index}"), |n| (*n).to_string());
    let id = alnum(&mut rng, 16);
    let created = EPOCH_MS - rng.gen_range(0..400) * DAY_MS;
    let mut org = Org {
        id,
        url_key: url_key.clone(),
        name,
        created,
        max_token_expiration_minutes: 20_160,
        users: BTreeMap::new(),
        groups: BTreeMap::new(),
        items: BTreeMap::new(),
        folders: BTreeMap::new(),
        services: BTreeMap::new(),
        relationships: vec![],
        oauth_apps: vec![
            OAuthApp {
                client_id: format!("orgvault-{url_key}"),
                redirect_uris: vec!["http://127.0.0.1".into(), "urn:ietf:wg:oauth:2.0:oob".into()],
            },
            // Esri's built-in apps, which every portal has (Esri's Python client signs in as one).
            OAuthApp { client_id: "pythonapi".into(), redirect_uris: vec!["urn:ietf:wg:oauth:2.0:oob".into()] },
            OAuthApp { client_id: "arcgisonline".into(), redirect_uris: vec!["urn:ietf:wg:oauth:2.0:oob".into()] },
        ],
        index_lag: Default::default(),
    };
    let order = users(&mut rng, &mut org, cfg.users.max(4));
    if empty {
        // A restore target: only the two ready-line accounts, nothing else.
        org.users.retain(|u, _| *u == order[0] || *u == order[2]);
    } else {
        groups(&mut rng, &mut org, &order, cfg.groups);
        folders(&mut rng, &mut org, &order);
        let center = CENTERS[index % CENTERS.len()];
        let foreign = cfg.foreign_service_url.clone().unwrap_or_else(|| DEFAULT_FOREIGN_SERVICE_URL.to_string());
        plan::generate(
            items::Context::new(
                rng,
                cfg.seed,
                base_url,
                services_url,
                &mut org,
                &order,
                foreign,
                center,
                mercator(center),
                cfg.items,
            ),
            cfg.items,
        );
    }

    let login = |i: usize| {
        let u = &org.users[&order[i]];
        Login { username: u.username.clone(), password: u.password.clone() }
    };
    let login = OrgLogin {
        id: org.id.clone(),
        url_key: url_key.clone(),
        portal_url: format!("{base_url}/{url_key}"),
        admin: login(0),
        user: login(2),
    };
    (org, login)
}

/// Generates `n` users; answers usernames in creation order. Index 0 is the full administrator,
/// 1 a custom admin role, 2 a plain `org_user` (the ready line's non-admin), 3 a publisher.
fn users(rng: &mut ChaCha8Rng, org: &mut Org, n: usize) -> Vec<String> {
    let custom_role_id = alnum(rng, 16);
    let mut order = Vec::with_capacity(n);
    let mut taken = BTreeSet::new();
    for i in 0..n {
        let role = match i {
            0 | 1 => Role::OrgAdmin,
            2 => Role::User,
            3 => Role::Publisher,
            4 => Role::Viewer,
            _ => match rng.gen_range(0..100) {
                0..=2 => Role::OrgAdmin,
                3..=27 => Role::Publisher,
                28..=69 => Role::User,
                _ => Role::Viewer,
            },
        };
        let first = FIRST[rng.gen_range(0..FIRST.len())];
        let last = LAST[rng.gen_range(0..LAST.len())];
        let mut local = match i {
            0 => "gisadmin".to_string(),
            1 => "reviewer".to_string(),
            _ => format!("{}.{}", slug(first), slug(last)),
        };
        let base = local.clone();
        let mut k = 2;
        while !taken.insert(local.clone()) {
            local = format!("{base}{k}");
            k += 1;
        }
        let username = format!("{local}_{}", org.url_key);
        let (role_id, privileges, license): (Option<String>, Vec<&str>, &str) = match role {
            Role::OrgAdmin if i == 1 => (
                Some(custom_role_id.clone()),
                ADMIN_PRIVILEGES
                    .iter()
                    .chain(&USER_PRIVILEGES)
                    .filter(|p| !CUSTOM_ADMIN_LACKS.contains(p))
                    .copied()
                    .collect(),
                "creatorUT",
            ),
            Role::OrgAdmin => (
                None,
                ADMIN_PRIVILEGES.iter().chain(&PUBLISHER_PRIVILEGES).chain(&USER_PRIVILEGES).copied().collect(),
                if i == 0 { "GISProfessionalAdvUT" } else { "creatorUT" },
            ),
            Role::Publisher => (
                None,
                PUBLISHER_PRIVILEGES.iter().chain(&USER_PRIVILEGES).copied().collect(),
                if rng.gen_bool(0.3) { "GISProfessionalStdUT" } else { "creatorUT" },
            ),
            Role::User => {
                (None, USER_PRIVILEGES.to_vec(), if rng.gen_bool(0.2) { "mobileWorkerUT" } else { "creatorUT" })
            }
            Role::Viewer => (Some(VIEWER_ROLE_ID.to_string()), VIEWER_PRIVILEGES.to_vec(), "viewerUT"),
        };
        let enterprise = i > 3 && rng.gen_bool(0.1);
        let created = org.created + i as i64 * 3_600_000 + rng.gen_range(0..300) * DAY_MS;
        let (full_name, email) = match i {
            0 => ("GIS Administrator".to_string(), format!("gisadmin@{}.example.com", org.url_key)),
            1 => ("Content Reviewer".to_string(), format!("reviewer@{}.example.com", org.url_key)),
            _ => (format!("{first} {last}"), format!("{local}@{}.example.com", org.url_key)),
        };
        let user = User {
            username: username.clone(),
            password: format!("{}-{:02}", alnum(rng, 12), rng.gen_range(0..100)),
            full_name,
            email,
            role,
            role_id,
            privileges: privileges.into_iter().map(String::from).collect(),
            user_license_type_id: license.into(),
            provider: if enterprise { "enterprise".into() } else { "arcgis".into() },
            idp_username: enterprise.then(|| format!("{local}@corp.example.com")),
            disabled: i > 3 && rng.gen_bool(0.03),
            created,
            modified: created + rng.gen_range(0..200) * DAY_MS,
            last_login: created + rng.gen_range(200..900) * DAY_MS,
        };
        org.users.insert(username.clone(), user);
        order.push(username);
    }
    order
}

/// Users who may own content: everyone but viewers.
fn creators(org: &Org, order: &[String]) -> Vec<String> {
    order.iter().filter(|u| org.users[*u].role != Role::Viewer).cloned().collect()
}

fn groups(rng: &mut ChaCha8Rng, org: &mut Org, order: &[String], n: usize) {
    let creators = creators(org, order);
    for i in 0..n {
        let id = random_id(rng);
        let owner = if i == 0 { order[0].clone() } else { creators[rng.gen_range(0..creators.len())].clone() };
        let mut admins = vec![];
        for _ in 0..rng.gen_range(0..=2) {
            let a = &creators[rng.gen_range(0..creators.len())];
            if *a != owner && !admins.contains(a) {
                admins.push(a.clone());
            }
        }
        let mut users: Vec<String> = vec![];
        for _ in 0..rng.gen_range(1..=25usize.min(order.len())) {
            let u = &order[rng.gen_range(0..order.len())];
            if *u != owner && !admins.contains(u) && !users.contains(u) {
                users.push(u.clone());
            }
        }
        // The ready line's non-admin belongs to the first groups, so sharing to groups is visible to it.
        if i < 2 && order[2] != owner && !admins.contains(&order[2]) && !users.contains(&order[2]) {
            users.push(order[2].clone());
        }
        let created = org.created + rng.gen_range(0..1500) * DAY_MS;
        let title = format!("{} {}", GROUP_TITLES[i % GROUP_TITLES.len()], i / GROUP_TITLES.len() + 1);
        let access = ["private", "org", "org", "public"][rng.gen_range(0..4)];
        let shared_update = rng.gen_bool(0.1);
        let group = Group {
            id: id.clone(),
            title,
            owner,
            admins,
            users,
            access: access.into(),
            tags: vec![GROUP_TAGS[rng.gen_range(0..GROUP_TAGS.len())].into()],
            description: format!("<p>Group {i} of the simulated organization.</p>"),
            snippet: format!("Simulated group {i}"),
            is_invitation_only: rng.gen_bool(0.7),
            is_view_only: rng.gen_bool(0.15),
            sort_field: ["title", "modified", "avgrating"][rng.gen_range(0..3)].into(),
            sort_order: if rng.gen_bool(0.5) { "asc".into() } else { "desc".into() },
            capabilities: if shared_update { vec!["updateitemcontrol".into()] } else { vec![] },
            auto_join: rng.gen_bool(0.1),
            thumbnail: rng.gen_bool(0.8).then(|| "group.png".to_string()),
            thumbnail_bytes: None,
            created,
            modified: created + rng.gen_range(0..300) * DAY_MS,
        };
        org.groups.insert(id, group);
    }
}

fn folders(rng: &mut ChaCha8Rng, org: &mut Org, order: &[String]) {
    for username in creators(org, order) {
        if !rng.gen_bool(0.5) {
            continue;
        }
        let created = org.users[&username].created;
        let mut titles = BTreeSet::new();
        for _ in 0..rng.gen_range(1..=3) {
            let title = FOLDER_TITLES[rng.gen_range(0..FOLDER_TITLES.len())];
            if titles.insert(title) {
                let id = random_id(rng);
                let folder = Folder {
                    id: id.clone(),
                    title: title.into(),
                    username: username.clone(),
                    created: created + rng.gen_range(0..100) * DAY_MS,
                };
                org.folders.insert(id, folder);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> SimConfig {
        SimConfig { seed, ..SimConfig::default() }
    }

    #[test]
    fn same_seed_same_universe_other_seed_other() {
        let (a, la) = universe(&small(5), "http://127.0.0.1:1");
        let (b, lb) = universe(&small(5), "http://127.0.0.1:1");
        let (c, _) = universe(&small(6), "http://127.0.0.1:1");
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "one seed must give one universe");
        assert_eq!(
            serde_json::to_string(&la).ok(),
            serde_json::to_string(&lb).ok(),
            "one seed must give one set of logins"
        );
        assert_ne!(a.orgs[0].id, c.orgs[0].id, "another seed must give other org ids");
    }

    #[test]
    fn default_config_data_stays_small_for_any_seed() {
        for seed in [0, 1, 2, 3, 42, 99] {
            let (u, _) = universe(&small(seed), "http://127.0.0.1:1");
            let total: u64 = u.orgs.iter().flat_map(|o| o.items.values()).map(|i| i.data.len()).sum();
            let biggest = u.orgs.iter().flat_map(|o| o.items.values()).map(|i| i.data.len()).max().unwrap_or(0);
            assert!(
                total < 20 * 1024 * 1024,
                "seed {seed}: the default config's item data must stay under 20 MB, was {total}"
            );
            assert!(biggest > 1_000_000, "seed {seed}: some file must be megabytes large, largest was {biggest}");
        }
    }

    #[test]
    fn roles_and_logins_are_as_promised() {
        let (u, logins) = universe(&small(1), "http://127.0.0.1:9");
        for (org, login) in u.orgs.iter().zip(&logins) {
            let admin = &org.users[&login.admin.username];
            assert!(admin.is_full_admin(), "the ready line's admin must be a full admin");
            let user = &org.users[&login.user.username];
            assert_eq!(user.role, Role::User, "the ready line's user must be a plain org_user");
            assert!(
                org.users.values().any(|u| u.role == Role::OrgAdmin
                    && u.role_id.is_some()
                    && !u.privileges.iter().any(|p| p == "portal:admin:deleteItems")),
                "a custom admin role lacking admin privileges must exist"
            );
            assert_eq!(login.portal_url, format!("http://127.0.0.1:9/{}", org.url_key), "portal url is base/urlKey");
            assert_eq!(org.id.len(), 16, "org ids have 16 characters");
            assert_eq!(org.items.len(), SimConfig::default().items, "items is a per-org count");
        }
    }
}
