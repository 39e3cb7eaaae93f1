//! Any bytes given to the manifest parser end in a manifest or a clean error naming the fault,
//! never a panic.

use proptest::prelude::*;

use super::Manifest;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A valid manifest's text, with an item, a user and a group: the base the mutations start from.
pub(crate) fn sample_text() -> Vec<u8> {
    let blob = |size: u64| serde_json::json!({"id": HEX, "size": size});
    serde_json::to_vec(&serde_json::json!({
        "version": 1, "name": "nightly", "identity_id": "ident", "org_id": "org1",
        "portal_url": "https://example.com/portal", "time_ms": 1_700_000_000_000i64, "tool_version": "0.1.0",
        "selection": {"kind": "all"},
        "org": {"portal_self": blob(10), "urls": null},
        "items": [{
            "id": "item1", "title": "Roads", "item_type": "Web Map", "owner": "ann", "folder": {"id": "f1", "title": "Maps"},
            "modified": 1, "size": 2, "item_json": blob(20), "data": null,
            "resources": [{"path": "img/legend.png", "blob": blob(30)}],
            "thumbnail": {"name": "t.png", "blob": blob(40)}, "metadata": blob(50),
            "related": [], "notes": ["a note"]
        }],
        "users": [{"username": "ann", "full_name": "Ann", "role": "org_admin", "role_id": null, "license_type": null,
                   "profile": blob(60), "thumbnail": null}],
        "groups": [{"id": "g1", "title": "Team", "owner": "ann", "settings": blob(70), "thumbnail": null}],
        "failed": []
    }))
    .expect("json")
}

/// `base` with bytes overwritten at `edits` (positions taken modulo its length) and cut at `cut`.
pub(crate) fn mutate(base: &[u8], edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut out = base.to_vec();
    for (at, byte) in edits {
        if !out.is_empty() {
            let i = at % out.len();
            out[i] = *byte;
        }
    }
    if let Some(c) = cut {
        out.truncate(c % (out.len() + 1));
    }
    out
}

#[test]
fn the_sample_is_a_valid_manifest() {
    let m = Manifest::parse(&sample_text()).expect("the mutation base parses");
    assert_eq!(m.blob_uses().len(), 7, "every reference of the sample is walked");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_give_a_manifest_or_a_clean_error(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Err(e) = Manifest::parse(&bytes) {
            prop_assert!(e.starts_with("manifest"), "the error says where it is: {}", e);
        }
    }

    #[test]
    fn a_damaged_manifest_parses_or_names_its_fault(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in proptest::option::weighted(0.2, any::<usize>()),
    ) {
        let text = mutate(&sample_text(), &edits, cut);
        match Manifest::parse(&text) {
            Ok(m) => {
                // Whatever parsed must be walkable.
                let uses = m.blob_uses();
                prop_assert_eq!(uses.len(), m.blob_refs().len());
            }
            Err(e) => prop_assert!(e.starts_with("manifest"), "the error names the fault: {}", e),
        }
    }
}
