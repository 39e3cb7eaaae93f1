//! Places in an item where a URL sits: its `url` field, or a string of its JSON data named by a
//! JSON pointer (RFC 6901).

use serde_json::Value;

/// The place name of the item's own `url` field (not a JSON pointer: those start with `/`).
pub const ITEM_URL: &str = "url";

/// Every string of `v` that is an http(s) URL, with its JSON pointer below `at`.
pub(super) fn urls_in(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => {
            out.push((at.to_owned(), s.clone()))
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                urls_in(c, &format!("{at}/{i}"), out);
            }
        }
        Value::Object(o) => {
            for (k, c) in o {
                urls_in(c, &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        _ => {}
    }
}

/// The string at `pointer`, if there is one.
pub fn get_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Puts `new` at `pointer` where a value already is; answers whether it did.
pub fn set_at(v: &mut Value, pointer: &str, new: Value) -> bool {
    match v.pointer_mut(pointer) {
        Some(slot) => {
            *slot = new;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_are_found_by_pointer_and_written_back_there() {
        let mut v = json!({"operationalLayers": [{"url": "https://gis.example.com/arcgis/rest/services/A/MapServer", "title": "A"}],
                           "odd/key": "http://x.example/y", "n": 1});
        let mut found = Vec::new();
        urls_in(&v, "", &mut found);
        found.sort();
        assert_eq!(
            found,
            vec![
                ("/odd~1key".to_owned(), "http://x.example/y".to_owned()),
                (
                    "/operationalLayers/0/url".to_owned(),
                    "https://gis.example.com/arcgis/rest/services/A/MapServer".to_owned()
                ),
            ]
        );
        assert_eq!(get_at(&v, "/odd~1key"), Some("http://x.example/y"), "an escaped key reads back");
        assert!(set_at(&mut v, "/operationalLayers/0/url", json!("https://new/arcgis/rest/services/A/MapServer")));
        assert_eq!(v["operationalLayers"][0]["url"], "https://new/arcgis/rest/services/A/MapServer");
        assert!(!set_at(&mut v, "/missing/0", json!("x")), "nothing is added where no value was");
    }
}
