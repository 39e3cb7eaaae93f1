//! Any stored bytes given to the blob decoder end in the content or a clean error; decoded
//! content never exceeds the size recorded for it.

use proptest::prelude::*;

use super::*;

/// Stored objects to try: arbitrary bytes, and each valid header followed by arbitrary bytes
/// (the decoder then gets past the header check).
fn stored() -> impl Strategy<Value = Vec<u8>> {
    let body = proptest::collection::vec(any::<u8>(), 0..512);
    prop_oneof![
        body.clone(),
        (0u8..2, body).prop_map(|(enc, body)| {
            let mut out = vec![MAGIC[0], MAGIC[1], MAGIC[2], FORMAT_VERSION, enc];
            out.extend(body);
            out
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_header_bytes_parse_or_fail_cleanly(head in proptest::collection::vec(any::<u8>(), 0..16)) {
        if let Ok(enc) = parse_header(&head) {
            prop_assert!(head.len() >= HEADER_LEN && head[..3] == MAGIC[..], "only a real header parses ({:?})", enc);
        }
    }

    #[test]
    fn any_stored_bytes_decode_or_fail_cleanly(stored in stored(), size in prop_oneof![0u64..1024, Just(u64::MAX)]) {
        let blob = BlobRef { id: BlobId::of(b"some content"), size };
        if let Ok(content) = decode(&blob, &stored) {
            prop_assert!(content.len() as u64 <= size, "decoded content never exceeds its recorded size");
        }
    }

    #[test]
    fn zstd_content_decodes_only_within_its_recorded_size(
        content in proptest::collection::vec(0u8..4, 0..4096),
        slack in -64i64..64,
    ) {
        let mut stored = header(Encoding::Zstd).to_vec();
        stored.extend(zstd::bulk::compress(&content, 3).expect("compress"));
        let size = (content.len() as i64 + slack).max(0) as u64;
        let blob = BlobRef { id: BlobId::of(&content), size };
        match decode(&blob, &stored) {
            Ok(got) => prop_assert_eq!(got, content),
            Err(e) => prop_assert!(
                size < content.len() as u64 || check_stored_len(&blob, stored.len() as u64, false).is_err(),
                "content within its recorded size decodes, got {}", e
            ),
        }
    }
}
