//! `/search`: paging, the 10,000 cap, the query language, visibility, determinism.

use std::collections::BTreeSet;
use std::time::Instant;

use portal_sim::SimConfig;
use serde_json::Value;

use crate::common::{all_ids, client, error_code, rest, sign_in, start};

fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_org_pages_to_the_cap_and_ranges_get_past_it() {
    let cfg = SimConfig { orgs: 1, items: 12_000, users: 2_000, groups: 500, ..SimConfig::default() };
    let t0 = Instant::now();
    let sim = start(cfg).await;
    let startup = t0.elapsed();
    let hwm = vm_hwm_kb().unwrap_or(0);
    eprintln!(
        "large org (12000 items, 2000 users, 500 groups): startup {startup:?}, peak RSS (VmHWM) {} MB",
        hwm / 1024
    );
    assert!(startup.as_secs() < 20, "startup of a 12,000-item org must stay fast, took {startup:?}");
    assert!(hwm < 1024 * 1024, "peak RSS must stay under 1 GB, was {hwm} kB");

    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let q = format!("orgid:{}", org.id);

    let (total, ids) = all_ids(&http, &org.portal_url, Some(&token), &q).await;
    assert_eq!(total, 12_000, "total must be exact even beyond the paging cap");
    assert_eq!(ids.len(), 10_000, "pages must chain through nextStart up to the 10,000th result and stop");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 10_000, "chained pages must not repeat an item");

    let last =
        rest(&http, &org.portal_url, "search", Some(&token), &[("q", &q), ("start", "9901"), ("num", "100")]).await;
    assert_eq!(error_code(&last), None, "start=9901&num=100 ends exactly at 10,000 and must work: {last}");
    assert_eq!(last["results"].as_array().map(Vec::len), Some(100), "the last allowed page is full");
    assert_eq!(last["nextStart"], -1, "no page may follow the 10,000th result");
    assert_eq!(last["total"], 12_000, "total stays exact on the last page");

    for (s, n) in [("10001", "1"), ("9950", "100"), ("9902", "100")] {
        let refused =
            rest(&http, &org.portal_url, "search", Some(&token), &[("q", &q), ("start", s), ("num", n)]).await;
        assert_eq!(
            error_code(&refused),
            Some(400),
            "start={s}&num={n} goes past 10,000 and must be refused: {refused}"
        );
        let msg = refused["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains("10000"), "the refusal must name the cap, got {msg:?}");
        assert!(refused.get("results").is_none(), "a refused page must carry no results");
    }

    let clamped = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &q), ("num", "500")]).await;
    assert_eq!(clamped["num"], 100, "num=500 must clamp to 100");
    assert_eq!(clamped["results"].as_array().map(Vec::len), Some(100), "a clamped page holds 100 results");
    assert_eq!(clamped["nextStart"], 101, "the next page after a clamped first page starts at 101");

    // The way past the cap: disjoint created ranges, each under 10,000, sum to the total.
    let (lo, hi) = created_bounds(&http, &org.portal_url, &token, &q).await;
    let mid = lo + (hi - lo) / 2;
    let mut seen = BTreeSet::new();
    let mut sum = 0;
    for (a, b) in [(lo, mid), (mid + 1, hi)] {
        let rq = format!("{q} AND created:[{a} TO {b}]");
        let (t, part) = all_ids(&http, &org.portal_url, Some(&token), &rq).await;
        assert!(t < 10_000, "each created range must hold under 10,000 items to be fully pageable, got {t}");
        assert_eq!(t as usize, part.len(), "a range under the cap must page completely");
        sum += t;
        seen.extend(part);
    }
    assert_eq!(sum, 12_000, "disjoint created ranges must sum to the org total");
    assert_eq!(seen.len(), 12_000, "together the ranges must reach every item");
}

async fn created_bounds(http: &reqwest::Client, portal: &str, token: &str, q: &str) -> (i64, i64) {
    let first = rest(
        http,
        portal,
        "search",
        Some(token),
        &[("q", q), ("num", "1"), ("sortField", "created"), ("sortOrder", "asc")],
    )
    .await;
    let last = rest(
        http,
        portal,
        "search",
        Some(token),
        &[("q", q), ("num", "1"), ("sortField", "created"), ("sortOrder", "desc")],
    )
    .await;
    let lo = first["results"][0]["created"].as_i64().expect("oldest created");
    let hi = last["results"][0]["created"].as_i64().expect("newest created");
    assert!(lo <= hi, "ascending and descending sorts must agree on the ends");
    (lo, hi)
}

#[tokio::test]
async fn created_ranges_in_both_documented_forms_partition_the_org() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let q = format!("orgid:{}", org.id);
    let total = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &q), ("num", "0")]).await["total"]
        .as_i64()
        .expect("total");
    assert_eq!(total as usize, SimConfig::default().items, "an admin's orgid search counts every item of the org");
    let (lo, hi) = created_bounds(&http, &org.portal_url, &token, &q).await;
    let cuts = [lo, lo + (hi - lo) / 3, lo + 2 * (hi - lo) / 3, hi + 1];
    for padded in [false, true] {
        let mut sum = 0;
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1] - 1);
            let range = if padded { format!("created:[{a:019} TO {b:019}]") } else { format!("created:[{a} TO {b}]") };
            let v = rest(
                &http,
                &org.portal_url,
                "search",
                Some(&token),
                &[("q", &format!("{q} AND {range}")), ("num", "100")],
            )
            .await;
            assert_eq!(error_code(&v), None, "range query {range} must be accepted: {v}");
            for r in v["results"].as_array().expect("results") {
                let c = r["created"].as_i64().expect("created");
                assert!(c >= a && c <= b, "every hit of {range} must lie inside it (inclusive), got {c}");
            }
            sum += v["total"].as_i64().expect("total");
        }
        assert_eq!(sum, total, "disjoint created ranges (padded form: {padded}) must sum to the org total");
    }
}

#[tokio::test]
async fn type_owner_and_boolean_queries_match_the_model() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let (n_maps, n_pdfs, n_user, n_user_maps) = {
        let u = sim.state.universe.read().expect("universe");
        let o = u.org_by_id(&org.id).expect("org");
        let maps = o.items.values().filter(|i| i.item_type == "Web Map").count();
        let pdfs = o.items.values().filter(|i| i.item_type == "PDF").count();
        let mine = o.items.values().filter(|i| i.owner == org.user.username).count();
        let mine_maps = o.items.values().filter(|i| i.owner == org.user.username && i.item_type == "Web Map").count();
        (maps, pdfs, mine, mine_maps)
    };
    assert!(n_maps >= 2 && n_user >= 2, "the default org must hold web maps and items of the plain user");
    let total = |q: String| {
        let (http, portal, token) = (http.clone(), org.portal_url.clone(), token.clone());
        async move {
            let v = rest(&http, &portal, "search", Some(&token), &[("q", &q), ("num", "0")]).await;
            assert_eq!(error_code(&v), None, "query {q} must be accepted: {v}");
            v["total"].as_i64().expect("total") as usize
        }
    };
    let oq = format!("orgid:{}", org.id);
    assert_eq!(total(format!("{oq} AND type:\"Web Map\"")).await, n_maps, "quoted type matches exactly that type");
    assert_eq!(total(format!("{oq} AND type:PDF")).await, n_pdfs, "unquoted type works too");
    assert_eq!(
        total(format!("{oq} AND (type:\"Web Map\" OR type:PDF)")).await,
        n_maps + n_pdfs,
        "OR unites disjoint types"
    );
    assert_eq!(total(format!("owner:{}", org.user.username)).await, n_user, "owner: counts the user's items");
    assert_eq!(total(format!("owner:{} AND type:\"Web Map\"", org.user.username)).await, n_user_maps, "AND intersects");
    assert_eq!(
        total(format!("{oq} AND NOT owner:{}", org.user.username)).await,
        SimConfig::default().items - n_user,
        "NOT excludes"
    );
    for (field, key) in [("modified", "modified"), ("created", "created")] {
        let v = rest(
            &http,
            &org.portal_url,
            "search",
            Some(&token),
            &[("q", &oq), ("num", "100"), ("sortField", field), ("sortOrder", "desc")],
        )
        .await;
        let got: Vec<i64> =
            v["results"].as_array().expect("results").iter().map(|r| r[key].as_i64().expect("time")).collect();
        assert!(
            got.windows(2).all(|w| w[0] >= w[1]),
            "sortField={field}&sortOrder=desc must order results newest first"
        );
    }
    let v = rest(&http, &org.portal_url, "search", Some(&token), &[("q", &oq), ("num", "100"), ("sortField", "title")])
        .await;
    let titles: Vec<String> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["title"].as_str().unwrap_or("").to_lowercase())
        .collect();
    assert!(titles.windows(2).all(|w| w[0] <= w[1]), "sortField=title sorts by title ascending");
    let form = [
        ("q", format!("{oq} AND type:\"Web Map\"")),
        ("f", "json".into()),
        ("num", "0".into()),
        ("token", token.clone()),
    ];
    let posted: Value = http
        .post(format!("{}/sharing/rest/search", org.portal_url))
        .form(&form)
        .send()
        .await
        .expect("POST search")
        .json()
        .await
        .expect("json");
    assert_eq!(
        posted["total"].as_u64(),
        Some(n_maps as u64),
        "a POSTed form (token in the form) must answer as the GET does"
    );
    let bad = rest(&http, &org.portal_url, "search", Some(&token), &[("q", "(orgid:x")]).await;
    assert_eq!(error_code(&bad), Some(400), "an unbalanced query must be refused with 400");
}

#[tokio::test]
async fn visibility_follows_roles_and_sharing() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let admin = sign_in(&http, &org.portal_url, &org.admin).await;
    let user = sign_in(&http, &org.portal_url, &org.user).await;
    let (private_other, visible_to_user, public) = {
        let u = sim.state.universe.read().expect("universe");
        let o = u.org_by_id(&org.id).expect("org");
        let aud = portal_sim::model::Audience::of(&u, &o.id, &org.user.username);
        let private_other = o
            .items
            .values()
            .find(|i| i.access == "private" && i.owner != org.user.username)
            .expect("a private item of another user")
            .id
            .clone();
        let visible = o.items.values().filter(|i| aud.can_see_item(o, i)).count();
        let public = u.orgs.iter().flat_map(|o| o.items.values()).filter(|i| i.access == "public").count();
        (private_other, visible, public)
    };
    let denied = rest(&http, &org.portal_url, &format!("content/items/{private_other}"), Some(&user), &[]).await;
    assert_eq!(error_code(&denied), Some(400), "a non-admin must not read another user's private item: {denied}");
    assert_eq!(denied["error"]["messageCode"], "CONT_0001", "inaccessible items answer CONT_0001");
    let seen = rest(&http, &org.portal_url, &format!("content/items/{private_other}"), Some(&admin), &[]).await;
    assert_eq!(seen["id"], private_other.as_str(), "the org admin sees every item of the org");

    let q = format!("orgid:{}", org.id);
    let (n_user, ids_user) = all_ids(&http, &org.portal_url, Some(&user), &q).await;
    assert_eq!(
        n_user as usize, visible_to_user,
        "a non-admin's search counts exactly what the sharing model lets it see"
    );
    assert!(!ids_user.contains(&private_other), "search must not leak another user's private item");
    let (n_anon, _) = all_ids(&http, &org.portal_url, None, "").await;
    assert_eq!(n_anon as usize, public, "an anonymous search sees public items only");

    let refused = rest(&http, &org.portal_url, "portals/self/users/search", Some(&user), &[("q", "")]).await;
    assert_eq!(error_code(&refused), Some(403), "users/search must answer 403 to a non-admin: {refused}");
    let listed = rest(&http, &org.portal_url, "portals/self/users/search", Some(&admin), &[("num", "100")]).await;
    assert_eq!(listed["total"], SimConfig::default().users, "an admin lists every user of the org");
    let anon = rest(&http, &org.portal_url, "portals/self/users/search", None, &[]).await;
    assert_eq!(error_code(&anon), Some(499), "users/search without a token answers 499");
}

/// Item fields that do not name the server's port, for comparing two sims.
fn portable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("url");
    }
    v
}

#[tokio::test]
async fn same_seed_same_answers_other_seed_other() {
    let a = start(SimConfig { seed: 7, ..SimConfig::default() }).await;
    let b = start(SimConfig { seed: 7, ..SimConfig::default() }).await;
    let c = start(SimConfig { seed: 8, ..SimConfig::default() }).await;
    let http = client();
    assert_eq!(a.orgs[0].id, b.orgs[0].id, "same seed, same org id");
    assert_eq!(a.orgs[0].admin.password, b.orgs[0].admin.password, "same seed, same passwords");
    assert_ne!(a.orgs[0].id, c.orgs[0].id, "another seed, another org id");

    let mut pages = vec![];
    for sim in [&a, &b, &c] {
        let org = &sim.orgs[0];
        let token = sign_in(&http, &org.portal_url, &org.admin).await;
        let v = rest(
            &http,
            &org.portal_url,
            "search",
            Some(&token),
            &[("q", &format!("orgid:{}", org.id)), ("num", "100"), ("sortField", "created")],
        )
        .await;
        let results: Vec<Value> = v["results"].as_array().expect("results").iter().map(portable).collect();
        let mut datas = vec![];
        for r in &results {
            let id = r["id"].as_str().expect("id");
            let body = crate::common::raw(
                &http,
                &format!("{}/sharing/rest/content/items/{id}/data", org.portal_url),
                Some(&token),
            )
            .await
            .bytes()
            .await
            .expect("data");
            // Service URLs in JSON data name the ports; everything else must be identical.
            datas.push(
                String::from_utf8_lossy(&body).replace(&sim.base_url, "BASE").replace(&sim.services_url, "SERVICES"),
            );
        }
        pages.push((results, datas));
    }
    assert_eq!(pages[0].0, pages[1].0, "two sims with one seed must answer identical search results");
    assert_eq!(pages[0].1, pages[1].1, "two sims with one seed must serve identical item data");
    assert_ne!(pages[0].0, pages[2].0, "another seed must answer other results");
}
