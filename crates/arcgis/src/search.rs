//! Paging, and the whole-org item search past the 10,000-result cap.
//!
//! ArcGIS pages with a 1-based `start`, `num` at most 100 and `nextStart == -1` at the end, and
//! never pages past the 10,000th result of a query even when `total` is larger. So
//! [`Portal::search_org_items`] walks the creation-time axis instead of offsets (keyset paging):
//! each page asks `created:[anchor TO end]` oldest first and the next anchor is the creation time
//! of the page's last item. A walk never uses `start` beyond 1, so the cap does not apply, and
//! deleting, adding or editing items meanwhile moves no anchor, so nothing is skipped (offset
//! paging would skip one item per item deleted before the current page). Items sharing an
//! anchor's millisecond are fetched twice and de-duplicated by id. Large orgs are split first
//! into creation-time ranges by bisecting on counts, and the ranges are walked concurrently.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use futures::StreamExt;
use serde_json::Value;
use url::{Origin, Url};

use crate::auth::as_i64;
use crate::error::{Error, Result};
use crate::model::ItemInfo;
use crate::portal::Portal;

/// The most results ArcGIS lets one query page through.
pub const SEARCH_CAP: u64 = 10_000;
/// Results per page (the API's maximum).
pub const PAGE_SIZE: u64 = 100;
/// Smallest share of a split search: below this, splitting costs more count requests than the
/// parallel walk saves.
const MIN_RANGE_SIZE: u64 = 500;
const ONE_DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The next `start` of a paged answer, or `None` at the end. Guards against servers that omit
/// `nextStart`, answer 0, or loop back.
pub(crate) fn next_start(answer: &Value, start: i64, got: i64) -> Option<i64> {
    let next = answer.get("nextStart").and_then(as_i64)?;
    (next > start && got > 0).then_some(next)
}

/// Every origin named in a `portals/<id>/urls` answer. Online answers host names grouped by
/// scheme (`{"urls":{"features":{"https":["services1.arcgis.com"]}}}`); Enterprise and the
/// simulator may answer full URLs. Both are accepted.
pub(crate) fn origins_in_urls_answer(v: &Value) -> Vec<Origin> {
    let mut out = Vec::new();
    collect_origins(v, None, &mut out);
    out
}

fn collect_origins(v: &Value, scheme: Option<&str>, out: &mut Vec<Origin>) {
    match v {
        Value::String(s) => {
            let s = s.trim();
            let parsed = if s.starts_with("http://") || s.starts_with("https://") {
                Url::parse(s).ok()
            } else if let Some(scheme) = scheme {
                Url::parse(&format!("{scheme}://{}", s.trim_start_matches("//"))).ok()
            } else {
                None
            };
            if let Some(u) = parsed.filter(|u| u.host_str().is_some()) {
                out.push(u.origin());
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_origins(x, scheme, out)),
        Value::Object(m) => {
            for (k, x) in m {
                let s = match k.as_str() {
                    "http" | "https" => Some(k.as_str()),
                    _ => scheme,
                };
                collect_origins(x, s, out);
            }
        }
        _ => {}
    }
}

impl Portal {
    /// All entries of a paged list under `key` (`results`, `resources`, `items`...), following
    /// `nextStart` from `start=1` with `num=100`. For lists that are not capped at 10,000.
    pub async fn paged(&self, url: Url, params: &[(&str, &str)], key: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut start: i64 = 1;
        loop {
            let s = start.to_string();
            let n = PAGE_SIZE.to_string();
            let mut p: Vec<(&str, &str)> = params.to_vec();
            p.push(("start", s.as_str()));
            p.push(("num", n.as_str()));
            let v = self.json_at(url.clone(), &p).await?;
            let page = v.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
            let got = page.len() as i64;
            out.extend(page);
            match next_start(&v, start, got) {
                Some(next) => start = next,
                None => return Ok(out),
            }
        }
    }

    /// The `total` of a search without fetching its results.
    pub async fn search_total(&self, q: &str) -> Result<u64> {
        let v = self.json_at(self.rest_url(&["search"])?, &[("q", q), ("num", "1"), ("start", "1")]).await?;
        Ok(v.get("total").and_then(as_i64).unwrap_or(0).max(0) as u64)
    }

    /// Results `start..start+num-1` of a search, oldest first.
    async fn search_page(&self, q: &str, start: u64) -> Result<Vec<Value>> {
        let s = start.to_string();
        let n = PAGE_SIZE.to_string();
        let params =
            [("q", q), ("start", s.as_str()), ("num", n.as_str()), ("sortField", "created"), ("sortOrder", "asc")];
        let v = self.json_at(self.rest_url(&["search"])?, &params).await?;
        Ok(v.get("results").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// Every item of the organization, each exactly once, whatever the 10,000-result cap.
    /// `progress(done, total)` is called as pages arrive.
    pub async fn search_org_items(&self, progress: &(dyn Fn(usize, usize) + Send + Sync)) -> Result<Vec<ItemInfo>> {
        let raw = self.search_org_items_json(progress).await?;
        raw.iter()
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|e| Error::Decode { url: "search results".into(), detail: e.to_string() })
            })
            .collect()
    }

    /// Like [`Portal::search_org_items`], each item as its compact JSON text (as the portal sent
    /// it), oldest first. A JSON document in text form costs a fraction of its parsed form, so a
    /// caller that reduces items one at a time keeps a large org's scan small in memory.
    pub async fn search_org_items_json(&self, progress: &(dyn Fn(usize, usize) + Send + Sync)) -> Result<Vec<String>> {
        let base = format!("orgid:{}", self.org_id());
        let total = self.search_total(&base).await?;
        progress(0, total as usize);
        let upper = self.inner.clock.now_ms() + ONE_DAY_MS;
        let target = (total.div_ceil(2 * self.inner.search_concurrency as u64)).max(MIN_RANGE_SIZE);
        let ranges =
            if total <= target { vec![(0, upper)] } else { self.split_by_created(&base, upper, target).await? };

        let seen: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());
        let report = || {
            let n = lock(&seen).len();
            progress(n, (total as usize).max(n));
        };
        let walks = ranges.into_iter().map(|(a, b)| self.walk_range(&base, a, b, &seen, &report));
        let results: Vec<Result<()>> =
            futures::stream::iter(walks).buffer_unordered(self.inner.search_concurrency).collect().await;
        results.into_iter().collect::<Result<Vec<()>>>()?;

        let found = lock(&seen).len() as u64;
        if found < total {
            // Items outside the creation-time bounds (a server clock far ahead) or deleted
            // meanwhile; a recount tells which, and a plain paged search picks up the former.
            let now_total = self.search_total(&base).await?;
            if found < now_total {
                tracing::warn!(
                    found,
                    total = now_total,
                    "the range walk came up short; paging the whole search as well"
                );
                self.offset_pages(&base, now_total, &seen, &report).await?;
            }
        }
        let all = seen.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut items: Vec<(i64, String, String)> = all
            .into_iter()
            .map(|(id, text)| {
                let created = serde_json::from_str::<CreatedOnly>(&text).map(|c| c.created).unwrap_or(0);
                (created, id, text)
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        progress(items.len(), items.len().max(total as usize));
        Ok(items.into_iter().map(|(_, _, text)| text).collect())
    }

    /// Walks `created:[a TO b]` oldest first, each page anchored at the creation time of the
    /// previous page's last item (keyset paging). Unlike `start` offsets, the anchor does not move
    /// when items are deleted, added or edited meanwhile, so none is skipped; items sharing the
    /// anchor's millisecond are fetched twice and de-duplicated.
    async fn walk_range(
        &self,
        base: &str,
        a: i64,
        b: i64,
        seen: &Mutex<HashMap<String, String>>,
        report: &(dyn Fn() + Send + Sync),
    ) -> Result<()> {
        let mut cursor = a;
        while cursor <= b {
            let q = range_query(base, cursor, b);
            let page = self.search_page(&q, 1).await?;
            let full = page.len() as u64 >= PAGE_SIZE;
            let first = page.first().and_then(created_of);
            let last = page.last().and_then(created_of);
            merge(seen, page);
            report();
            if !full {
                return Ok(());
            }
            match (first, last) {
                (Some(f), Some(l)) if l > f => cursor = l,
                (Some(_), Some(l)) => {
                    // A whole page created in one millisecond: page through that millisecond by
                    // offset, then move past it.
                    let same = range_query(base, l, l);
                    let n = self.search_total(&same).await?;
                    if n > SEARCH_CAP {
                        return Err(Error::SearchTooLarge { query: same, total: n });
                    }
                    self.offset_pages(&same, n, seen, report).await?;
                    cursor = l + 1;
                }
                _ => {
                    // Results without creation times cannot anchor a walk: page by offset.
                    let n = self.search_total(&q).await?;
                    if n > SEARCH_CAP {
                        return Err(Error::SearchTooLarge { query: q, total: n });
                    }
                    return self.offset_pages(&q, n, seen, report).await;
                }
            }
        }
        Ok(())
    }

    /// Pages `q` by `start` offsets (at most the cap), pages in parallel.
    async fn offset_pages(
        &self,
        q: &str,
        total: u64,
        seen: &Mutex<HashMap<String, String>>,
        report: &(dyn Fn() + Send + Sync),
    ) -> Result<()> {
        let reachable = total.min(SEARCH_CAP);
        let starts: Vec<u64> = (0..reachable.div_ceil(PAGE_SIZE)).map(|i| 1 + i * PAGE_SIZE).collect();
        let mut pages = futures::stream::iter(starts.into_iter().map(|s| self.search_page(q, s)))
            .buffer_unordered(self.inner.search_concurrency);
        while let Some(page) = pages.next().await {
            merge(seen, page?);
            report();
        }
        Ok(())
    }

    /// Splits `[0, upper]` by creation time into ranges of at most `target` items each, so that
    /// several ranges can be walked at once.
    async fn split_by_created(&self, base: &str, upper: i64, target: u64) -> Result<Vec<(i64, i64)>> {
        let mut pending: Vec<(i64, i64)> = match self.self_info().created.filter(|c| *c > 0 && *c < upper) {
            Some(created) => vec![(0, created - 1), (created, upper)],
            None => vec![(0, upper)],
        };
        let mut done = Vec::new();
        while !pending.is_empty() {
            let level: Vec<(i64, i64)> = std::mem::take(&mut pending);
            let counted: Vec<Result<(i64, i64, u64)>> =
                futures::stream::iter(level.into_iter().map(|(a, b)| async move {
                    let t = self.search_total(&range_query(base, a, b)).await?;
                    Ok((a, b, t))
                }))
                .buffer_unordered(self.inner.search_concurrency)
                .collect()
                .await;
            for c in counted {
                let (a, b, t) = c?;
                if t == 0 {
                    continue;
                }
                if t <= target || a >= b {
                    done.push((a, b));
                } else {
                    let mid = a + (b - a) / 2;
                    pending.push((a, mid));
                    pending.push((mid + 1, b));
                }
            }
        }
        done.sort_unstable();
        tracing::debug!(ranges = done.len(), "org search split by creation time");
        Ok(done)
    }
}

/// Adds a page to `seen`; the first copy of an id wins.
fn merge(seen: &Mutex<HashMap<String, String>>, page: Vec<Value>) {
    let mut seen = lock(seen);
    for item in page {
        if let Some(id) = item.get("id").and_then(Value::as_str) {
            if !seen.contains_key(id) {
                seen.insert(id.to_string(), item.to_string());
            }
        }
    }
}

/// The one field the final ordering needs, read without parsing the whole item.
#[derive(serde::Deserialize)]
struct CreatedOnly {
    #[serde(default, deserialize_with = "created_ms")]
    created: i64,
}

fn created_ms<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    let v = <Value as serde::Deserialize>::deserialize(d)?;
    Ok(as_i64(&v).unwrap_or(0))
}

fn created_of(item: &Value) -> Option<i64> {
    item.get("created").and_then(as_i64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Bounds zero-padded to 19 digits, as Esri's search reference writes them
/// (`created: [0000001249084800000 TO 0001249548000000]`): the index compares the terms as
/// text, so unpadded bounds of different lengths are not safe.
fn range_query(base: &str, a: i64, b: i64) -> String {
    format!("{base} AND created:[{a:019} TO {b:019}]")
}

/// Ids seen more than once in a list; for tests and sanity checks.
pub fn duplicate_ids(items: &[ItemInfo]) -> Vec<String> {
    let mut seen = HashSet::new();
    items.iter().filter(|i| !seen.insert(i.id.as_str())).map(|i| i.id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn next_start_ends_on_minus_one_and_guards_loops() {
        assert_eq!(next_start(&json!({"nextStart":101}), 1, 100), Some(101));
        assert_eq!(next_start(&json!({"nextStart":-1}), 1, 100), None, "-1 ends paging");
        assert_eq!(
            next_start(&json!({"nextStart":1}), 1, 100),
            None,
            "a nextStart that does not advance must end paging"
        );
        assert_eq!(next_start(&json!({}), 1, 100), None, "a missing nextStart ends paging");
        assert_eq!(next_start(&json!({"nextStart":101}), 1, 0), None, "an empty page ends paging");
    }

    #[test]
    fn created_ranges_are_zero_padded_to_19_digits() {
        assert_eq!(
            range_query("orgid:x", 1_249_084_800_000, 1_700_000_000_000),
            "orgid:x AND created:[0000001249084800000 TO 0000001700000000000]",
            "Esri's examples pad both bounds to 19 digits"
        );
    }

    #[test]
    fn urls_answer_yields_origins_in_both_shapes() {
        let online = json!({"urls":{"features":{"https":["services1.arcgis.com","services2.arcgis.com"]},"tiles":{"https":["tiles1.arcgis.com"]}}});
        let got: Vec<String> = origins_in_urls_answer(&online).iter().map(|o| o.ascii_serialization()).collect();
        assert!(
            got.contains(&"https://services1.arcgis.com".to_string()),
            "host names under https must become https origins: {got:?}"
        );
        assert_eq!(got.len(), 3);
        let full = json!({"urls":{"features":{"http":["http://127.0.0.1:4000/org1/arcgis"]}}});
        let got: Vec<String> = origins_in_urls_answer(&full).iter().map(|o| o.ascii_serialization()).collect();
        assert_eq!(got, vec!["http://127.0.0.1:4000".to_string()], "full URLs keep their port");
    }
}
