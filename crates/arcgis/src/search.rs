//! Paging, and the whole-org item search past the 10,000-result cap.
//!
//! ArcGIS pages with a 1-based `start`, `num` at most 100 and `nextStart == -1` at the end, and
//! never pages past the 10,000th result of a query even when `total` is larger. So
//! [`Portal::search_org_items`] first asks for the total; when it exceeds the cap it bisects the
//! creation-time axis (`created:[a TO b]`, both ends inclusive) until every range holds at most
//! 10,000 items, fetches the ranges' pages with bounded concurrency and de-duplicates by id.
//! Results are sorted by creation time, which an edit cannot change, so an item modified during
//! the scan keeps its place; a range whose count falls short of its total (items deleted while
//! paging shift later ones forward) is fetched once more and merged.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use serde_json::Value;
use url::{Origin, Url};

use crate::auth::as_i64;
use crate::error::{Error, Result};
use crate::model::ItemInfo;
use crate::portal::{decode_all, Portal};

/// The most results ArcGIS lets one query page through.
pub const SEARCH_CAP: u64 = 10_000;
/// Results per page (the API's maximum).
pub const PAGE_SIZE: u64 = 100;
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
        let params = [("q", q), ("start", s.as_str()), ("num", n.as_str()), ("sortField", "created"), ("sortOrder", "asc")];
        let v = self.json_at(self.rest_url(&["search"])?, &params).await?;
        Ok(v.get("results").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// Every item of the organization, each exactly once, whatever the 10,000-result cap.
    /// `progress(done, total)` is called as pages arrive.
    pub async fn search_org_items(&self, progress: &(dyn Fn(usize, usize) + Send + Sync)) -> Result<Vec<ItemInfo>> {
        let base = format!("orgid:{}", self.org_id());
        let total = self.search_total(&base).await?;
        progress(0, total as usize);
        let ranges: Vec<(String, u64)> = if total <= SEARCH_CAP {
            vec![(base.clone(), total)]
        } else {
            self.split_by_created(&base).await?
        };
        let mut seen: HashMap<String, Value> = HashMap::new();
        for (q, range_total) in &ranges {
            let found = self.fetch_query(q, *range_total, &mut seen, total as usize, progress).await?;
            if (found as u64) < (*range_total).min(SEARCH_CAP) {
                // Deletions during paging move later results onto pages already read; a recount
                // tells whether anything may have been skipped.
                let now_total = self.search_total(q).await?;
                if now_total > 0 {
                    tracing::debug!(query = %q, "range came up short; fetching it again");
                    self.fetch_query(q, now_total, &mut seen, total as usize, progress).await?;
                }
            }
        }
        let mut items: Vec<ItemInfo> = decode_all(seen.into_values().collect(), "search results")?;
        items.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        progress(items.len(), items.len().max(total as usize));
        Ok(items)
    }

    /// Fetches every page of `q` (at most the cap) concurrently into `seen`, keyed by id, and
    /// returns how many distinct ids this query yielded.
    async fn fetch_query(
        &self,
        q: &str,
        total: u64,
        seen: &mut HashMap<String, Value>,
        grand_total: usize,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<usize> {
        let mut found: HashSet<String> = HashSet::new();
        let reachable = total.min(SEARCH_CAP);
        let starts: Vec<u64> = (0..reachable.div_ceil(PAGE_SIZE)).map(|i| 1 + i * PAGE_SIZE).collect();
        let mut pages = futures::stream::iter(starts.into_iter().map(|s| self.search_page(q, s))).buffer_unordered(self.inner.search_concurrency);
        while let Some(page) = pages.next().await {
            for item in page? {
                if let Some(id) = item.get("id").and_then(Value::as_str) {
                    let id = id.to_string();
                    found.insert(id.clone());
                    seen.entry(id).or_insert(item);
                }
            }
            progress(seen.len(), grand_total.max(seen.len()));
        }
        Ok(found.len())
    }

    /// Splits the org's items into `created` ranges of at most the cap each.
    async fn split_by_created(&self, base: &str) -> Result<Vec<(String, u64)>> {
        let upper = self.inner.clock.now_ms() + ONE_DAY_MS;
        let mut pending: Vec<(i64, i64)> = match self.self_info().created.filter(|c| *c > 0 && *c < upper) {
            Some(created) => vec![(0, created - 1), (created, upper)],
            None => vec![(0, upper)],
        };
        let mut done = Vec::new();
        while !pending.is_empty() {
            let level: Vec<(i64, i64)> = std::mem::take(&mut pending);
            let counted: Vec<Result<(i64, i64, u64)>> = futures::stream::iter(level.into_iter().map(|(a, b)| async move {
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
                if t <= SEARCH_CAP {
                    done.push((range_query(base, a, b), t));
                } else if a >= b {
                    return Err(Error::SearchTooLarge { query: range_query(base, a, b), total: t });
                } else {
                    let mid = a + (b - a) / 2;
                    pending.push((a, mid));
                    pending.push((mid + 1, b));
                }
            }
        }
        tracing::debug!(ranges = done.len(), "org search split by creation time");
        Ok(done)
    }
}

fn range_query(base: &str, a: i64, b: i64) -> String {
    format!("{base} AND created:[{a} TO {b}]")
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
        assert_eq!(next_start(&json!({"nextStart":1}), 1, 100), None, "a nextStart that does not advance must end paging");
        assert_eq!(next_start(&json!({}), 1, 100), None, "a missing nextStart ends paging");
        assert_eq!(next_start(&json!({"nextStart":101}), 1, 0), None, "an empty page ends paging");
    }

    #[test]
    fn urls_answer_yields_origins_in_both_shapes() {
        let online = json!({"urls":{"features":{"https":["services1.arcgis.com","services2.arcgis.com"]},"tiles":{"https":["tiles1.arcgis.com"]}}});
        let got: Vec<String> = origins_in_urls_answer(&online).iter().map(|o| o.ascii_serialization()).collect();
        assert!(got.contains(&"https://services1.arcgis.com".to_string()), "host names under https must become https origins: {got:?}");
        assert_eq!(got.len(), 3);
        let full = json!({"urls":{"features":{"http":["http://127.0.0.1:4000/org1/arcgis"]}}});
        let got: Vec<String> = origins_in_urls_answer(&full).iter().map(|o| o.ascii_serialization()).collect();
        assert_eq!(got, vec!["http://127.0.0.1:4000".to_string()], "full URLs keep their port");
    }
}
