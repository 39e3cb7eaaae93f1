//! The order items are restored in: dependency levels from what each item's data refers to and
//! from view-to-source links. Level 0 holds items that need nothing; level n items need only
//! items of lower levels. Items on a cycle are put in one level together; they are created with
//! the references still unresolved and patched once every id is known.

use std::collections::{BTreeMap, BTreeSet};

/// `deps[item]` = the items (within the restore) it needs first. Answers the levels, each
/// sorted; every item appears exactly once.
pub fn levels(deps: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = deps
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).filter(|d| *d != k && deps.contains_key(*d)).collect()))
        .collect();
    let mut out = Vec::new();
    while !remaining.is_empty() {
        let mut ready: Vec<&str> = remaining.iter().filter(|(_, d)| d.is_empty()).map(|(k, _)| *k).collect();
        if ready.is_empty() {
            ready = a_cycle(&remaining);
        }
        for r in &ready {
            remaining.remove(r);
        }
        for d in remaining.values_mut() {
            for r in &ready {
                d.remove(r);
            }
        }
        out.push(ready.into_iter().map(str::to_owned).collect());
    }
    out
}

/// One cycle of the remaining graph, where every node still needs another: walking needs from
/// the first node must come back to a node already seen; the nodes from there on are the cycle.
fn a_cycle<'a>(remaining: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<&'a str> {
    let mut path: Vec<&str> = Vec::new();
    let mut at = match remaining.keys().next() {
        Some(k) => *k,
        None => return Vec::new(),
    };
    loop {
        if let Some(pos) = path.iter().position(|p| *p == at) {
            let mut cycle = path[pos..].to_vec();
            cycle.sort();
            return cycle;
        }
        path.push(at);
        at = match remaining.get(at).and_then(|d| d.iter().next()) {
            Some(next) => next,
            None => return vec![at],
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    fn level_of(levels: &[Vec<String>], id: &str) -> usize {
        levels.iter().position(|l| l.iter().any(|x| x == id)).expect("every item is placed")
    }

    #[test]
    fn services_before_maps_before_apps_views_after_sources() {
        let d = deps(&[
            ("svc", &[]),
            ("view", &["svc"]),
            ("map", &["svc", "view"]),
            ("app", &["map"]),
            ("dash", &["map", "svc"]),
            ("pdf", &["not-restored"]),
        ]);
        let l = levels(&d);
        assert!(level_of(&l, "svc") < level_of(&l, "view"), "a view comes after its source");
        assert!(level_of(&l, "view") < level_of(&l, "map"), "a map comes after the layers it uses");
        assert!(level_of(&l, "map") < level_of(&l, "app"), "an app comes after its map");
        assert!(level_of(&l, "map") < level_of(&l, "dash"), "a dashboard comes after its map");
        assert_eq!(level_of(&l, "pdf"), 0, "a reference outside the restore does not hold an item back");
        assert_eq!(l.iter().map(Vec::len).sum::<usize>(), 6, "each item exactly once");
    }

    #[test]
    fn cycles_and_self_references_still_terminate() {
        let d = deps(&[("a", &["b"]), ("b", &["a"]), ("self", &["self"]), ("c", &["a"])]);
        let l = levels(&d);
        assert_eq!(level_of(&l, "self"), 0, "a self reference needs nothing first");
        assert_eq!(level_of(&l, "a"), level_of(&l, "b"), "a two-item cycle is created together");
        assert!(level_of(&l, "c") > level_of(&l, "a"), "what depends on a cycle follows it");
    }
}
