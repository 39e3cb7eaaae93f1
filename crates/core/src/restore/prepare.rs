//! Building the plan: reads the snapshot, the target and the journal; writes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::error::RestoreError;
use super::journal::{EntryKind, Journal};
use super::marks::MarkKey;
use super::options::{ConflictPolicy, RestoreMode, RestoreOptions};
use super::order::levels;
use super::ownership::{lost_service, made_as_journaled, SKEW_MS};
use super::plan::*;
use super::rewrite::{ids_in, Rewriter};
use super::service_kinds::{
    hosted_layer_note, is_hosted_service, layer_package_of, service_definition_of, view_source_of,
};
use super::RestoreContext;
use crate::jobs::SubjectKind;
use crate::repo::{DataKind, ExportMethod, ItemEntry, Manifest, RelDirection, SnapshotId};

/// The plan with what the apply needs beside it.
pub(crate) struct Prepared {
    pub plan: RestorePlan,
    pub manifest: Manifest,
    pub target: TargetState,
    /// Rules known before anything is made: URL prefixes, literal pairs, ids already in the target.
    pub rewriter: Rewriter,
    /// Item data JSON by source id (items with JSON data).
    pub data: HashMap<String, Value>,
    /// Source item JSON by source id.
    pub item_json: HashMap<String, Value>,
    /// The key of this database's marks in the target.
    pub marks: MarkKey,
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

async fn blob_json(ctx: &RestoreContext<'_>, blob: &crate::repo::BlobRef) -> Result<Value, RestoreError> {
    let bytes = ctx.repo.get_blob(blob).await?;
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A free service name of the type `service_type` starting from `base`: `base`, then
/// `base_restored`, `base_restored_2`...
pub(crate) async fn free_service_name(
    portal: &arcgis::Portal,
    base: &str,
    service_type: &str,
    taken: &mut BTreeSet<String>,
) -> Result<String, RestoreError> {
    for n in 1..=50 {
        let candidate = if n == 1 { format!("{base}_restored") } else { format!("{base}_restored_{n}") };
        if taken.contains(&candidate.to_lowercase()) {
            continue;
        }
        if portal.is_service_name_available_as(&candidate, service_type).await? {
            taken.insert(candidate.to_lowercase());
            return Ok(candidate);
        }
    }
    Err(RestoreError::InvalidInput(format!("no free service name found for {base}")))
}

/// The accounts ArcGIS Enterprise makes for itself (`esri_livingatlas`, `esri_boundaries`,
/// `esri_demographics`, `esri_nav`, ...): backed up as listed, never created by a restore.
pub(crate) fn is_system_account(username: &str) -> bool {
    username.to_ascii_lowercase().starts_with("esri_")
}

pub(crate) async fn prepare(
    ctx: &RestoreContext<'_>,
    snapshot: &SnapshotId,
    options: &RestoreOptions,
) -> Result<Prepared, RestoreError> {
    let manifest = ctx.repo.manifest(snapshot).await?;
    let portal = ctx.portal;
    let m = &options.mapping;
    ctx.progress.phase("plan", None);
    let mut target = TargetState::read(portal).await?;
    let same_org = manifest.org_id == portal.org_id();
    let mode = if same_org { m.mode } else { RestoreMode::Auto };
    let in_place = same_org && mode != RestoreMode::Copies;
    let journal = Journal::new(ctx.db, ctx.clock, portal.org_id(), snapshot.as_str());
    let rows = journal.load().await?;
    // Collected first: a borrowing iterator held across the awaits would keep this future from
    // being provably `Send` (the app spawns it).
    let journaled: Vec<String> = rows
        .iter()
        .filter(|((kind, _), j)| *kind == EntryKind::Item && !j.target_id.is_empty())
        .map(|(_, j)| j.target_id.clone())
        .collect();
    target.add_unindexed(portal, journaled.iter().map(String::as_str)).await?;
    let marks = MarkKey::for_target(ctx.db, ctx.clock, portal.org_id()).await?;
    let me = portal.self_info().user.as_ref().map(|u| u.username.clone()).unwrap_or_default();

    let source_self = match &manifest.org.portal_self {
        Some(b) => blob_json(ctx, b).await?,
        None => Value::Null,
    };
    let source_urls = match &manifest.org.urls {
        Some(b) => blob_json(ctx, b).await?,
        None => Value::Null,
    };
    let source_key = text(&source_self, "urlKey");
    let target_key = portal.self_info().url_key.clone();

    // URL rules: the source portal and hosting roots move to the target's.
    let mut rewriter = Rewriter::new(m.url_replace.clone());
    let source_portal = manifest.portal_url.trim_end_matches('/').to_owned() + "/";
    rewriter.map_url(&source_portal, portal.portal_url().as_str());
    let portal_host = url::Url::parse(&manifest.portal_url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_default();
    let mut hosts = features_hosts(&source_urls, "https");
    if !hosts.contains(&portal_host) {
        hosts.push(portal_host);
    }
    for host in &hosts {
        for scheme in ["https", "http"] {
            rewriter.map_url(&format!("{scheme}://{host}/{}/", manifest.org_id), &target.hosting_root);
        }
    }

    // Users.
    let mut users = Vec::new();
    let mut user_map: BTreeMap<String, String> = BTreeMap::new();
    for u in &manifest.users {
        let name = target_username(&u.username, &m.owners, source_key.as_deref(), target_key.as_deref());
        let exists = target.users.contains_key(&name);
        let journal_done = journal_row(&rows, EntryKind::User, &u.username).is_some();
        let mut notes = Vec::new();
        let action = if exists || journal_done {
            Action::Match { target_id: name.clone() }
        } else if is_system_account(&u.username) {
            Action::Skip {
                reason: "a system account of ArcGIS Enterprise (esri_*): the portal makes it, a restore never does"
                    .into(),
                target_id: None,
            }
        } else if options.users && options.user_names.as_ref().is_none_or(|s| s.contains(&u.username)) {
            Action::Create
        } else if options.users {
            Action::Skip { reason: "not selected".into(), target_id: None }
        } else {
            Action::Skip { reason: "users are not restored".into(), target_id: None }
        };
        if u.role_id.is_some() && !same_org {
            notes.push(format!(
                "custom role {} becomes the base role {}",
                u.role_id.clone().unwrap_or_default(),
                u.role
            ));
        }
        if !matches!(action, Action::Skip { .. }) {
            user_map.insert(u.username.clone(), name.clone());
        }
        users.push(PlannedUser {
            source_username: u.username.clone(),
            target_username: name,
            action,
            role: if same_org { u.role_id.clone().unwrap_or_else(|| u.role.clone()) } else { u.role.clone() },
            license_type: u.license_type.clone(),
            notes,
        });
    }
    // The content of every user this restore writes into, from the content listing: an item an
    // earlier run made a moment ago (and was killed before journaling) is not in search yet, and
    // only its mark proves it was made.
    let writes_into: BTreeSet<String> = manifest
        .items
        .iter()
        .filter_map(|i| {
            let t = user_map
                .get(&i.owner)
                .cloned()
                .unwrap_or_else(|| target_username(&i.owner, &m.owners, source_key.as_deref(), target_key.as_deref()));
            target.users.contains_key(&t).then_some(t)
        })
        .filter(|t| *t != me)
        .collect();
    for owner in &writes_into {
        target.add_owned(portal, owner).await?;
    }
    let mut missing_owners: BTreeSet<String> = BTreeSet::new();
    let owner_of = |source: &str, missing: &mut BTreeSet<String>| -> String {
        if let Some(t) = user_map.get(source) {
            return t.clone();
        }
        let t = target_username(source, &m.owners, source_key.as_deref(), target_key.as_deref());
        if target.users.contains_key(&t) {
            t
        } else {
            missing.insert(source.to_owned());
            me.clone()
        }
    };

    // Groups.
    let mut groups = Vec::new();
    let mut missing_groups = Vec::new();
    let mut new_memberships: BTreeMap<String, usize> = BTreeMap::new();
    if options.groups {
        for g in manifest.groups.iter().filter(|g| options.group_ids.as_ref().is_none_or(|s| s.contains(&g.id))) {
            let mapped = m.groups.get(&g.id).or_else(|| m.groups.get(&g.title));
            let (action, target_title, note) =
                resolve_group(&g.id, &g.title, mapped, &target, journal_row(&rows, EntryKind::Group, &g.id), same_org);
            if let Some(n) = &note {
                missing_groups.push(format!("{}: {n}", g.title));
            }
            let owner = owner_of(&g.owner, &mut missing_owners);
            let mut members: Vec<String> = g
                .admins
                .iter()
                .chain(&g.members)
                .map(|u| owner_of(u, &mut missing_owners))
                .filter(|u| *u != owner)
                .collect();
            members.sort();
            members.dedup();
            let mut managers: Vec<String> =
                g.admins.iter().map(|u| owner_of(u, &mut missing_owners)).filter(|u| *u != owner).collect();
            managers.sort();
            managers.dedup();
            for u in members.iter().chain(std::iter::once(&owner)) {
                *new_memberships.entry(u.clone()).or_default() += 1;
            }
            if let Action::Match { target_id }
            | Action::Update { target_id }
            | Action::Skip { target_id: Some(target_id), .. } = &action
            {
                rewriter.map_id(&g.id, target_id);
            }
            groups.push(PlannedGroup {
                source_id: g.id.clone(),
                title: g.title.clone(),
                target_title,
                action,
                owner,
                members,
                managers,
                notes: note.into_iter().collect(),
            });
        }
    }
    let group_limit: Vec<GroupLimit> = new_memberships
        .iter()
        .map(|(u, n)| (u, n + target.users.get(u).map(|i| i.groups.len()).unwrap_or(0)))
        .filter(|(_, n)| *n > 512)
        .map(|(u, n)| GroupLimit { username: u.clone(), groups: n })
        .collect();

    // Items offered: the snapshot's items (failed ones have no entry), narrowed by the selection.
    let failed_ids: BTreeSet<&str> =
        manifest.failed.iter().filter(|f| f.kind == SubjectKind::Item).map(|f| f.id.as_str()).collect();
    let mut not_offered: Vec<NotOffered> = manifest
        .failed
        .iter()
        .map(|f| NotOffered {
            kind: f.kind,
            id: f.id.clone(),
            title: f.title.clone(),
            reason: format!("failed in the backup: {}", f.reason),
        })
        .collect();
    let offered: Vec<&ItemEntry> = manifest
        .items
        .iter()
        .filter(|i| !failed_ids.contains(i.id.as_str()))
        .filter(|i| options.items.as_ref().is_none_or(|sel| sel.contains(&i.id)))
        .collect();
    if let Some(sel) = &options.items {
        for id in
            sel.iter().filter(|id| !manifest.items.iter().any(|i| &i.id == *id) && !failed_ids.contains(id.as_str()))
        {
            not_offered.push(NotOffered {
                kind: SubjectKind::Item,
                id: id.clone(),
                title: id.clone(),
                reason: "not in the snapshot".into(),
            });
        }
    }
    let offered_ids: BTreeSet<String> = offered.iter().map(|i| i.id.clone()).collect();

    let mut data: HashMap<String, Value> = HashMap::new();
    let mut item_json: HashMap<String, Value> = HashMap::new();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for it in &offered {
        let json = blob_json(ctx, &it.item_json).await?;
        let mut need: BTreeSet<String> = BTreeSet::new();
        if let Some(d) = it.data.as_ref().filter(|d| d.kind == DataKind::Json) {
            let v = blob_json(ctx, &d.blob).await?;
            need.extend(ids_in(&v, &|id| offered_ids.contains(id) && id != it.id));
            data.insert(it.id.clone(), v);
        }
        for r in &it.related {
            // A view (destination of Service2Service) needs its source service first.
            if r.rel_type == "Service2Service"
                && r.direction == RelDirection::Reverse
                && offered_ids.contains(&r.item_id)
            {
                need.insert(r.item_id.clone());
            }
        }
        deps.insert(it.id.clone(), need);
        item_json.insert(it.id.clone(), json);
    }
    let level_list = levels(&deps);
    let level_of: HashMap<&str, usize> =
        level_list.iter().enumerate().flat_map(|(n, l)| l.iter().map(move |id| (id.as_str(), n))).collect();

    let mut taken_names: BTreeSet<String> = BTreeSet::new();
    let mut items: Vec<PlannedItem> = Vec::new();
    for it in &offered {
        let json = &item_json[&it.id];
        let hosted = is_hosted_service(it, json);
        let method = match (&it.service, hosted) {
            (Some(s), true)
                if matches!(s.export_method, ExportMethod::Fgdb | ExportMethod::Replica) && s.export.is_some() =>
            {
                ItemMethod::Publish
            }
            (Some(_), true) => ItemMethod::CreateService,
            _ => ItemMethod::Item,
        };
        let mut methods = vec![method];
        let definition = if hosted { service_definition_of(it, &manifest.items) } else { None };
        if hosted && method == ItemMethod::Publish {
            methods.push(ItemMethod::CreateService);
        }
        if definition.is_some() {
            methods.push(ItemMethod::PublishDefinition);
        }
        // A hosted tile, vector tile or scene layer whose package the snapshot holds is published
        // again from it; without one only its item can be made.
        let package = if method == ItemMethod::Item && crate::item_type::is_hosted_layer_service(&it.item_type, json) {
            layer_package_of(it, &manifest.items)
        } else {
            None
        };
        let method = if package.is_some() {
            methods = vec![ItemMethod::PublishPackage, ItemMethod::Item];
            ItemMethod::PublishPackage
        } else {
            method
        };
        let target_owner = owner_of(&it.owner, &mut missing_owners);
        let target_folder =
            it.folder.as_ref().map(|f| m.folders.get(&f.title).cloned().unwrap_or_else(|| f.title.clone()));
        let mut notes = Vec::new();
        let mut conflict = None;
        let mut replaces = None;
        let mut target_title = it.title.clone();
        let mut service = if hosted {
            it.service.as_ref().and_then(|s| service_name(&s.url))
        } else if package.is_some() && method == ItemMethod::PublishPackage {
            text(json, "url").and_then(|u| super::plan::layer_service_name(&u))
        } else {
            None
        };
        // A hosted layer's name is claimed among services of its own type (and server kind).
        let (service_type, server) = if package.is_some() {
            let kind = text(json, "url").and_then(|u| super::plan::server_kind(&u)).unwrap_or("mapserver");
            (it.item_type.as_str(), kind)
        } else {
            ("Feature Service", super::plan::FEATURE_SERVER)
        };
        let method = match options.methods.get(&it.id) {
            Some(m) if methods.contains(m) => *m,
            Some(m) => {
                notes.push(format!("{m:?} is not a way this item can be restored: {method:?} is used"));
                method
            }
            None => method,
        };
        if method != ItemMethod::PublishPackage {
            // Made as an item after all (chosen so): no service name to claim.
            if package.is_some() {
                service = None;
            }
        } else if let Some(p) = package {
            notes.push(format!(
                "published again from its package “{}” ({}): the layer as it was packaged; this item then describes the new layer",
                p.title, p.item_type
            ));
        }
        if method == ItemMethod::PublishDefinition {
            let sd = definition.and_then(|d| manifest.items.iter().find(|i| i.id == d));
            notes.push(format!(
                "published from its service definition “{}”: the service as it was published then (its schema and the features it had), not as backed up",
                sd.map(|i| i.title.as_str()).unwrap_or("?")
            ));
        }
        if method == ItemMethod::CreateService
            && it.service.as_ref().is_some_and(|s| s.export_method == ExportMethod::None)
        {
            notes.push("the backup holds no features of this service: only its definition is restored".into());
        }
        if method == ItemMethod::Item && crate::item_type::is_hosted_layer_service(&it.item_type, json) {
            notes.push(hosted_layer_note(it, json, &manifest.items, &offered_ids));
        }
        let view_source = view_source_of(it, json).filter(|s| offered_ids.contains(s));
        let method = match (&view_source, method) {
            (Some(src), ItemMethod::Publish | ItemMethod::CreateService | ItemMethod::PublishDefinition) => {
                notes.push(format!("re-created as a view of the restored {src}"));
                ItemMethod::CreateService
            }
            (None, m @ (ItemMethod::Publish | ItemMethod::CreateService | ItemMethod::PublishDefinition))
                if view_source_of(it, json).is_some() =>
            {
                notes.push(
                    "its source service is not restored: the view becomes a standalone service holding the view's data"
                        .into(),
                );
                m
            }
            (_, m) => m,
        };

        let journaled = journal_row(&rows, EntryKind::Item, &it.id).filter(|j| target.items.contains_key(&j.target_id));
        let upload = journal_row(&rows, EntryKind::Upload, &it.id);
        let mark = marks.item_marker(&it.id);
        let action = if let Some(j) = journaled {
            if j.done {
                Action::Skip { reason: "restored by an earlier run".into(), target_id: Some(j.target_id.clone()) }
            } else if method != ItemMethod::Item && !j.detail.get("content").and_then(Value::as_bool).unwrap_or(false) {
                match target.items.get(&j.target_id).filter(|i| made_as_journaled(i, j, SKEW_MS)) {
                    Some(_) => {
                        replaces = Some(j.target_id.clone());
                        notes
                            .push(format!("an unfinished earlier attempt ({}) is deleted and made again", j.target_id));
                    }
                    None => notes.push(format!(
                        "the service an earlier attempt made ({}) no longer has the owner or creation time the journal recorded: left alone",
                        j.target_id
                    )),
                }
                Action::Create
            } else {
                Action::Update { target_id: j.target_id.clone() }
            }
        } else if let Some(tid) =
            target.marked(&mark, &target_owner).map(|i| i.id.clone()).filter(|t| !(in_place && *t == it.id))
        {
            if method == ItemMethod::Item {
                Action::Update { target_id: tid }
            } else {
                Action::Skip { reason: "found restored by an earlier run (marker)".into(), target_id: Some(tid) }
            }
        } else if in_place && target.items.contains_key(&it.id) {
            if method != ItemMethod::Item {
                notes.push("the service keeps its current features; its item is brought back to the snapshot".into());
            }
            Action::Update { target_id: it.id.clone() }
        } else {
            if let Some((u, name)) =
                upload.and_then(|u| Some((u, u.detail.get("service_name").and_then(Value::as_str)?)))
            {
                // A publish or createService whose answer was lost: the service it may have made
                // is replaced only when its owner and creation time show it is that one.
                if let Some(existing) = lost_service(&target, name, u) {
                    replaces = Some(existing.id.clone());
                    notes.push(format!(
                        "the service {name} an earlier attempt made (its answer was lost) is deleted and made again"
                    ));
                }
                service = Some(name.to_owned());
            }
            let mut action = Action::Create;
            if replaces.is_none() {
                if let Some(name) = service.clone() {
                    let free = !taken_names.contains(&name.to_lowercase())
                        && portal.is_service_name_available_as(&name, service_type).await?;
                    if free {
                        taken_names.insert(name.to_lowercase());
                    } else if mode == RestoreMode::Copies {
                        service = Some(free_service_name(portal, &name, service_type, &mut taken_names).await?);
                        notes.push(format!(
                            "service name {name} is taken: published as {}",
                            service.clone().unwrap_or_default()
                        ));
                    } else {
                        let existing = target.service_item_as(&name, server).map(|i| i.id.clone());
                        conflict = Some(Conflict {
                            on: ConflictOn::ServiceName,
                            value: name.clone(),
                            existing_id: existing.clone(),
                            policy: m.conflict,
                        });
                        match (m.conflict, existing) {
                            (ConflictPolicy::Rename, _) | (ConflictPolicy::Overwrite, None) => {
                                service = Some(free_service_name(portal, &name, service_type, &mut taken_names).await?);
                                target_title = format!("{} (restored)", it.title);
                            }
                            (ConflictPolicy::Overwrite, Some(e)) => action = Action::Update { target_id: e },
                            (ConflictPolicy::Skip, e) => {
                                action = Action::Skip {
                                    reason: format!("service name {name} is taken in the target"),
                                    target_id: e,
                                }
                            }
                        }
                    }
                } else if mode != RestoreMode::Copies {
                    if let Some(existing) = target.same_title(&target_owner, &it.item_type, &it.title) {
                        conflict = Some(Conflict {
                            on: ConflictOn::Title,
                            value: it.title.clone(),
                            existing_id: Some(existing.id.clone()),
                            policy: m.conflict,
                        });
                        match m.conflict {
                            ConflictPolicy::Skip => {
                                action = Action::Skip {
                                    reason: "an item of the same owner, type and title exists".into(),
                                    target_id: Some(existing.id.clone()),
                                }
                            }
                            ConflictPolicy::Rename => target_title = format!("{} (restored)", it.title),
                            ConflictPolicy::Overwrite => action = Action::Update { target_id: existing.id.clone() },
                        }
                    }
                }
            }
            let unproven = target.unproven_marks(&it.id, &mark, &target_owner);
            if let (Action::Create, None, Some(first)) = (&action, &conflict, unproven.first()) {
                // Anyone can put a marker on their item: it is not adopted, whatever the policy.
                conflict = Some(Conflict {
                    on: ConflictOn::Marker,
                    value: first.clone(),
                    existing_id: Some(first.clone()),
                    policy: m.conflict,
                });
                if m.conflict == ConflictPolicy::Skip {
                    action = Action::Skip {
                        reason: format!("item {first} carries its restore marker, but this restore did not make it"),
                        target_id: None,
                    };
                } else {
                    notes.push(format!(
                        "item {first} carries its restore marker but this restore did not make it: left alone, a new item is made"
                    ));
                }
            }
            action
        };
        if let Action::Update { target_id } | Action::Skip { target_id: Some(target_id), .. } = &action {
            rewriter.map_id(&it.id, target_id);
        }
        let mut upload_bytes = 0u64;
        let mut largest = 0u64;
        let mut add = |n: u64| {
            upload_bytes += n;
            largest = largest.max(n);
        };
        if let Some(d) = &it.data {
            add(d.blob.size);
        }
        it.resources.iter().for_each(|r| add(r.blob.size));
        // The file the chosen way uploads: the export, the .sd, or the layer's package.
        let uploaded = match method {
            ItemMethod::PublishDefinition => definition.and_then(|d| manifest.items.iter().find(|i| i.id == d)),
            ItemMethod::PublishPackage => package,
            _ => None,
        };
        if let Some(d) = uploaded.and_then(|u| u.data.as_ref()) {
            add(d.blob.size);
        }
        if let Some(s) = &it.service {
            if let Some(e) = s.export.as_ref().filter(|_| method == ItemMethod::Publish) {
                add(e.blob.size);
            }
            if !matches!(method, ItemMethod::PublishDefinition | ItemMethod::PublishPackage) {
                s.attachments.iter().for_each(|a| add(a.blob.size));
            }
        }
        items.push(PlannedItem {
            source_id: it.id.clone(),
            title: it.title.clone(),
            target_title,
            item_type: it.item_type.clone(),
            source_owner: it.owner.clone(),
            target_owner,
            target_folder,
            level: level_of.get(it.id.as_str()).copied().unwrap_or(0),
            action,
            method,
            methods,
            service_definition: definition.map(str::to_owned),
            package: package.map(|p| p.id.clone()),
            service_name: service,
            replaces,
            upload_bytes,
            multipart: largest > arcgis::write::SINGLE_UPLOAD_LIMIT as u64,
            conflict,
            rewrites: Vec::new(),
            notes,
        });
    }

    // Service URLs of services to be made, as the target will name them.
    for p in &items {
        let (Some(name), Some(entry)) = (&p.service_name, offered.iter().find(|i| i.id == p.source_id)) else {
            continue;
        };
        let Some(s) = &entry.service else { continue };
        if matches!(p.action, Action::Create) {
            let new_url = format!("{}arcgis/rest/services/{name}/FeatureServer", target.hosting_root);
            rewriter.map_url(s.url.trim_end_matches('/'), &new_url);
        } else if let Some(url) = match &p.action {
            Action::Update { target_id } | Action::Skip { target_id: Some(target_id), .. } => {
                target.items.get(target_id).and_then(|i| i.url.clone())
            }
            _ => None,
        } {
            rewriter.map_url(s.url.trim_end_matches('/'), &url);
        }
    }

    // The preview: placeholders for ids known only once created.
    let mut preview = rewriter.clone();
    for p in items.iter().filter(|p| matches!(p.action, Action::Create)) {
        preview.map_id(&p.source_id, &format!("<new id of {}>", p.source_id));
    }
    for p in &mut items {
        if let Some(d) = data.get(&p.source_id) {
            let mut copy = d.clone();
            p.rewrites = preview.rewrite_json(&mut copy);
        }
        if let Some(url) = item_json.get(&p.source_id).and_then(|j| text(j, "url")) {
            let new = preview.rewrite_str(&url);
            if new != url {
                p.rewrites.push(super::rewrite::Rewrite { pointer: "url".into(), from: url, to: new });
            }
        }
    }

    let mut counts = PlanCounts::default();
    for a in
        items.iter().map(|i| &i.action).chain(users.iter().map(|u| &u.action)).chain(groups.iter().map(|g| &g.action))
    {
        match a {
            Action::Create => counts.create += 1,
            Action::Update { .. } => counts.update += 1,
            Action::Skip { .. } => counts.skip += 1,
            Action::Match { .. } => counts.matched += 1,
        }
    }
    counts.conflicts = items.iter().filter(|i| i.conflict.is_some()).count();
    let resuming = !rows.is_empty();
    let entries: BTreeMap<&str, &ItemEntry> = offered.iter().map(|i| (i.id.as_str(), *i)).collect();
    let missing_privileges =
        super::privileges::missing(portal.self_info().user.as_ref(), &items, &users, &groups, &entries);
    let plan = RestorePlan {
        snapshot_id: snapshot.as_str().to_owned(),
        snapshot_name: manifest.name.clone(),
        source_org_id: manifest.org_id.clone(),
        source_portal_url: manifest.portal_url.clone(),
        target_org_id: portal.org_id().to_owned(),
        target_portal_url: portal.portal_url().to_string(),
        mode: PlanMode::resolve(mode, same_org),
        conflict_policy: m.conflict,
        resuming,
        upload_bytes: items.iter().map(|i| i.upload_bytes).sum(),
        largest_upload: offered
            .iter()
            .flat_map(|i| {
                i.data
                    .iter()
                    .map(|d| d.blob.size)
                    .chain(i.resources.iter().map(|r| r.blob.size))
                    .chain(i.service.iter().flat_map(|s| s.export.iter().map(|e| e.blob.size)))
            })
            .max()
            .unwrap_or(0),
        multipart_uploads: items.iter().filter(|i| i.multipart).count(),
        items,
        users,
        groups,
        not_offered,
        missing_owners: missing_owners.into_iter().collect(),
        missing_groups,
        missing_privileges,
        group_limit,
        url_rewrites: rewriter.url_rules(),
        levels: level_list.len(),
        counts,
    };
    Ok(Prepared { plan, manifest, target, rewriter, data, item_json, marks })
}
