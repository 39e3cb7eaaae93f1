//! Rewriting ids and URLs inside restored item data, URLs and text resources.
//!
//! One pass over every string: first the user's literal find/replace list, then URL prefixes
//! (longest first, each position replaced at most once, so a mapping's output is never mapped
//! again), then every run of exactly 32 hex characters that is a known source item id. The same
//! rules serve the plan's preview and the apply, so the preview is what happens.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One change the restore makes in an item's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Rewrite {
    /// RFC 6901 pointer of the string in the item's data; `url` for the item's own URL.
    pub pointer: String,
    pub from: String,
    pub to: String,
}

/// The rules: source ids to target ids, URL prefixes, literal replacements.
#[derive(Debug, Clone, Default)]
pub struct Rewriter {
    ids: HashMap<String, String>,
    urls: Vec<(String, String)>,
    literal: Vec<(String, String)>,
}

impl Rewriter {
    pub fn new(literal: Vec<(String, String)>) -> Self {
        Rewriter { literal: literal.into_iter().filter(|(a, _)| !a.is_empty()).collect(), ..Default::default() }
    }

    /// Maps a source item id (any case) to its target id.
    pub fn map_id(&mut self, from: &str, to: &str) {
        if from != to {
            self.ids.insert(from.to_ascii_lowercase(), to.to_owned());
        }
    }

    /// Maps a URL prefix (a service URL, an org's hosting root, the portal URL).
    pub fn map_url(&mut self, from: &str, to: &str) {
        if from.is_empty() || from == to {
            return;
        }
        self.urls.retain(|(f, _)| f != from);
        self.urls.push((from.to_owned(), to.to_owned()));
        self.urls.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    }

    /// The URL prefix rules, longest first.
    pub fn url_rules(&self) -> Vec<(String, String)> {
        self.urls.clone()
    }

    /// The target id of a source id, when known.
    pub fn id(&self, from: &str) -> Option<&str> {
        self.ids.get(&from.to_ascii_lowercase()).map(String::as_str)
    }

    /// The string with every rule applied.
    pub fn rewrite_str(&self, s: &str) -> String {
        let mut text = s.to_owned();
        for (a, b) in &self.literal {
            if text.contains(a.as_str()) {
                text = text.replace(a.as_str(), b);
            }
        }
        let text = self.rewrite_urls(&text);
        self.rewrite_ids(&text)
    }

    fn rewrite_urls(&self, s: &str) -> String {
        if self.urls.is_empty() || !s.contains("http") {
            return s.to_owned();
        }
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            let rest = &s[i..];
            let Some(at) = rest.find("http") else {
                out.push_str(rest);
                break;
            };
            out.push_str(&rest[..at]);
            let here = &rest[at..];
            match self.urls.iter().find(|(from, _)| here.starts_with(from.as_str())) {
                Some((from, to)) => {
                    out.push_str(to);
                    i += at + from.len();
                }
                None => {
                    out.push_str("http");
                    i += at + 4;
                }
            }
        }
        out
    }

    fn rewrite_ids(&self, s: &str) -> String {
        if self.ids.is_empty() {
            return s.to_owned();
        }
        let bytes = s.as_bytes();
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_hexdigit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
                    i += 1;
                }
                let run = &s[start..i];
                match (run.len() == 32).then(|| self.ids.get(&run.to_ascii_lowercase())).flatten() {
                    Some(to) => out.push_str(to),
                    None => out.push_str(run),
                }
            } else {
                let ch = s[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
        out
    }

    /// Rewrites every string (and object key) of `v` in place; answers what changed.
    pub fn rewrite_json(&self, v: &mut Value) -> Vec<Rewrite> {
        let mut changes = Vec::new();
        let mut pointer = String::new();
        self.walk(v, &mut pointer, &mut changes);
        changes
    }

    fn walk(&self, v: &mut Value, pointer: &mut String, out: &mut Vec<Rewrite>) {
        match v {
            Value::String(s) => {
                let new = self.rewrite_str(s);
                if new != *s {
                    out.push(Rewrite { pointer: pointer.clone(), from: s.clone(), to: new.clone() });
                    *s = new;
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter_mut().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    self.walk(child, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                // Keys can hold ids too (story map resources keyed by item id).
                let old = std::mem::take(map);
                for (k, mut child) in old {
                    let key = self.rewrite_str(&k);
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    self.walk(&mut child, pointer, out);
                    pointer.truncate(len);
                    map.insert(key, child);
                }
            }
            _ => {}
        }
    }
}

/// Source ids found in `v` (whole or embedded 32-hex runs) that `known` accepts: what a data
/// document still refers to.
pub fn ids_in(v: &Value, known: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    collect_ids(v, known, &mut out);
    out.sort();
    out.dedup();
    out
}

fn scan_ids(s: &str, known: &dyn Fn(&str) -> bool, out: &mut Vec<String>) {
    for run in s.split(|c: char| !c.is_ascii_hexdigit()).filter(|r| r.len() == 32) {
        let id = run.to_ascii_lowercase();
        if known(&id) {
            out.push(id);
        }
    }
}

fn collect_ids(v: &Value, known: &dyn Fn(&str) -> bool, out: &mut Vec<String>) {
    match v {
        Value::String(s) => scan_ids(s, known, out),
        Value::Array(a) => a.iter().for_each(|c| collect_ids(c, known, out)),
        Value::Object(m) => {
            for (k, c) in m {
                scan_ids(k, known, out);
                collect_ids(c, known, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OLD_MAP: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const NEW_MAP: &str = "11111111111111111111111111111111";
    const OLD_SVC: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const NEW_SVC: &str = "22222222222222222222222222222222";

    fn rewriter() -> Rewriter {
        let mut r = Rewriter::new(vec![("http://intranet/".into(), "https://intranet.example.com/".into())]);
        r.map_id(OLD_MAP, NEW_MAP);
        r.map_id(OLD_SVC, NEW_SVC);
        r.map_url(
            "http://h/orgA/arcgis/rest/services/Parks/FeatureServer",
            "http://h/orgB/arcgis/rest/services/Parks_2/FeatureServer",
        );
        r.map_url("http://h/orgA/", "http://h/orgB/");
        r.map_url("http://h/keyA/", "http://h/keyB/");
        r
    }

    #[test]
    fn web_map_ids_and_urls_move_to_the_target() {
        let mut data = json!({
            "operationalLayers": [{"itemId": OLD_SVC, "url": "http://h/orgA/arcgis/rest/services/Parks/FeatureServer/0"}],
            "tables": [{"itemId": OLD_SVC.to_uppercase(), "url": "http://h/orgA/arcgis/rest/services/Other/FeatureServer/3"}],
            "baseMap": {"baseMapLayers": [{"url": "https://services.arcgisonline.com/ArcGIS/rest/services/World_Topo_Map/MapServer"}]},
            "source": "cccccccccccccccccccccccccccccccc",
        });
        let changes = rewriter().rewrite_json(&mut data);
        assert_eq!(data["operationalLayers"][0]["itemId"], NEW_SVC, "a layer's item id is remapped");
        assert_eq!(
            data["operationalLayers"][0]["url"], "http://h/orgB/arcgis/rest/services/Parks_2/FeatureServer/0",
            "a renamed service's exact URL wins over the org-wide prefix"
        );
        assert_eq!(data["tables"][0]["itemId"], NEW_SVC, "an upper-case id is found too");
        assert_eq!(
            data["tables"][0]["url"], "http://h/orgB/arcgis/rest/services/Other/FeatureServer/3",
            "any other hosted URL of the source org moves to the target org"
        );
        assert_eq!(
            data["baseMap"]["baseMapLayers"][0]["url"],
            "https://services.arcgisonline.com/ArcGIS/rest/services/World_Topo_Map/MapServer",
            "foreign URLs are left alone"
        );
        assert_eq!(data["source"], "cccccccccccccccccccccccccccccccc", "an unknown id is left alone");
        assert_eq!(changes.len(), 4, "every change is reported for the plan: {changes:?}");
    }

    #[test]
    fn embedded_ids_keys_and_literal_replacements() {
        let r = rewriter();
        assert_eq!(
            r.rewrite_str(&format!("http://h/keyA/apps/instant/index.html?appid={OLD_MAP}")),
            format!("http://h/keyB/apps/instant/index.html?appid={NEW_MAP}"),
            "an app URL gets both the portal and the id rewritten"
        );
        assert_eq!(
            r.rewrite_str("see http://intranet/doc"),
            "see https://intranet.example.com/doc",
            "literal pairs apply"
        );
        let hash = format!("{OLD_MAP}ff");
        assert_eq!(r.rewrite_str(&hash), hash, "a 34-hex run is not an id");
        let mut story = json!({"resources": {(format!("r-{OLD_MAP}")): {"data": {"itemId": OLD_MAP}}}});
        r.rewrite_json(&mut story);
        let key = format!("r-{NEW_MAP}");
        assert_eq!(story["resources"][&key]["data"]["itemId"], NEW_MAP, "ids in object keys are remapped too");
        let left = ids_in(&story, &|id| id == OLD_MAP);
        assert!(left.is_empty(), "no source id is left after the rewrite: {left:?}");
    }
}
