//! Any text given as a connection string or destination ends in a target or a clean error that
//! never quotes a secret.

use std::path::Path;

use proptest::prelude::*;

use super::AzureConnection;
use crate::storage::StorageTarget;

/// `Key=Value;` strings built from the keys the parser knows (and a few it does not), with
/// arbitrary values, so the parser gets past its first checks.
fn connection_string() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("AccountName"),
        Just("AccountKey"),
        Just("SharedAccessSignature"),
        Just("BlobEndpoint"),
        Just("EndpointSuffix"),
        Just("DefaultEndpointsProtocol"),
        Just("UseDevelopmentStorage"),
        Just("DevelopmentStorageProxyUri"),
        Just("QueueEndpoint"),
        Just("accountkey"),
    ];
    let value = prop_oneof![".{0,40}", "[A-Za-z0-9+/=]{0,44}", Just("true".to_string()), "https?://[a-z0-9.:/]{0,30}"];
    proptest::collection::vec((key, value), 0..8)
        .prop_map(|parts| parts.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(";"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_parses_or_fails_cleanly(text in ".{0,200}") {
        let _ = AzureConnection::parse(&text);
        let _ = StorageTarget::parse_dest(&text, Some(&text), Path::new("/tmp/cache"));
    }

    #[test]
    fn connection_strings_parse_or_fail_without_quoting_secrets(conn in connection_string(), secret in "[A-Za-z0-9]{24}") {
        let conn = format!("{conn};AccountKey={secret}==;SharedAccessSignature=sv=1&sig={secret}");
        match AzureConnection::parse(&conn) {
            Ok(c) => prop_assert!(c.key.is_some() || c.sas.is_some(), "a parsed connection has a key or a SAS"),
            Err(e) => prop_assert!(!e.to_string().contains(&secret), "the error must not quote a secret: {}", e),
        }
        if let Err(e) = StorageTarget::parse_dest("az://backups/x", Some(&conn), Path::new("/tmp/cache")) {
            prop_assert!(!e.to_string().contains(&secret), "the error must not quote a secret: {}", e);
        }
    }
}
