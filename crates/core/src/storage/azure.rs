//! Azure Blob: the connection string users copy from the Azure portal, the object store built
//! from it, and the "check credentials" probe.

use std::fmt;
use std::sync::Arc;

use arcgis::Secret;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::ObjectStore;
use url::Url;

use super::check::{check_store, AzureCheck, StoreCheck};
use super::error::StorageError;

/// Azurite's well-known development account, as in Microsoft's documentation.
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// The connection-string key by which the user accepts a SAS sent over plain http to a host
/// that is not this machine.
pub const ALLOW_HTTP_SAS: &str = "OrgVaultAllowHttp";

/// A parsed Azure Storage connection string: the account, how to sign in (account key or SAS)
/// and the blob endpoint. Invariant: at least one of `key` and `sas` is set. `Debug` prints
/// neither.
#[derive(Clone, PartialEq, Eq)]
pub struct AzureConnection {
    pub account: String,
    pub key: Option<Secret>,
    /// The SAS query string without a leading `?`.
    pub sas: Option<Secret>,
    /// The blob service URL, e.g. `https://acct.blob.core.windows.net` or Azurite's
    /// `http://127.0.0.1:10000/devstoreaccount1`.
    pub endpoint: Url,
}

impl fmt::Debug for AzureConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureConnection")
            .field("account", &self.account)
            .field("key", &self.key.as_ref().map(|_| "***"))
            .field("sas", &self.sas.as_ref().map(|_| "***"))
            .field("endpoint", &self.endpoint.as_str())
            .finish()
    }
}

impl AzureConnection {
    /// Parses `Key=Value;...` as the Azure portal shows it. Accepted keys: `AccountName`,
    /// `AccountKey`, `SharedAccessSignature`, `BlobEndpoint`, `EndpointSuffix`,
    /// `DefaultEndpointsProtocol`, `UseDevelopmentStorage`, `DevelopmentStorageProxyUri`, and our
    /// own [`ALLOW_HTTP_SAS`]; other service endpoints (`QueueEndpoint`, ...) are ignored. Errors
    /// name the missing or bad key and never quote a secret.
    ///
    /// A SAS travels in every request's URL, so a SAS-only string with a plain `http://`
    /// endpoint that is not on this machine is refused unless it also says
    /// `OrgVaultAllowHttp=true` (an account key only signs requests and is never sent).
    pub fn parse(conn: &str) -> Result<Self, StorageError> {
        let bad = |msg: String| StorageError::ConnectionString(msg);
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in conn.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            // Values (keys, SAS) may contain '='; only the first one separates.
            let Some((k, v)) = part.split_once('=') else {
                let shown = part.split('=').next().unwrap_or_default();
                let shown: String = shown.chars().take(30).collect();
                return Err(bad(format!("part {shown:?} is not Key=Value")));
            };
            pairs.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        if pairs.is_empty() {
            return Err(bad("it is empty; copy it from the storage account's Access keys page".into()));
        }
        let get = |name: &str| pairs.iter().find(|(k, _)| k == &name.to_ascii_lowercase()).map(|(_, v)| v.clone());

        if get("UseDevelopmentStorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            let endpoint = match get("DevelopmentStorageProxyUri") {
                Some(proxy) => {
                    let proxy =
                        Url::parse(&proxy).map_err(|e| bad(format!("DevelopmentStorageProxyUri is not a URL: {e}")))?;
                    Url::parse(&format!("{}/{DEV_ACCOUNT}", proxy.as_str().trim_end_matches('/')))
                        .map_err(|e| bad(format!("DevelopmentStorageProxyUri is not a URL: {e}")))?
                }
                None => Url::parse(DEV_ENDPOINT).map_err(|e| bad(e.to_string()))?,
            };
            return Ok(AzureConnection {
                account: DEV_ACCOUNT.into(),
                key: Some(Secret::new(DEV_KEY)),
                sas: None,
                endpoint,
            });
        }

        let key = get("AccountKey").filter(|v| !v.is_empty()).map(Secret::new);
        let sas = get("SharedAccessSignature")
            .filter(|v| !v.is_empty())
            .map(|v| Secret::new(v.trim_start_matches('?').to_owned()));
        if key.is_none() && sas.is_none() {
            return Err(bad("AccountKey or SharedAccessSignature is missing".into()));
        }
        if let Some(k) = &key {
            if !is_base64(k.expose()) {
                return Err(bad("AccountKey is not base64 (copy the whole key, ending in ==)".into()));
            }
        }
        if let Some(s) = &sas {
            if !s.expose().split('&').any(|p| p.starts_with("sig=")) {
                return Err(bad("SharedAccessSignature has no sig= part".into()));
            }
        }

        let endpoint = match get("BlobEndpoint") {
            Some(ep) => {
                let url = Url::parse(&ep).map_err(|e| bad(format!("BlobEndpoint is not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(bad(format!("BlobEndpoint must be http(s), not {}", url.scheme())));
                }
                url
            }
            None => {
                let account = get("AccountName").ok_or_else(|| bad("AccountName is missing".into()))?;
                let suffix = get("EndpointSuffix").unwrap_or_else(|| "core.windows.net".into());
                let proto = get("DefaultEndpointsProtocol").unwrap_or_else(|| "https".into());
                if !matches!(proto.as_str(), "http" | "https") {
                    return Err(bad(format!("DefaultEndpointsProtocol must be http or https, not {proto:?}")));
                }
                Url::parse(&format!("{proto}://{account}.blob.{suffix}"))
                    .map_err(|e| bad(format!("EndpointSuffix gives no valid URL: {e}")))?
            }
        };
        let account = match get("AccountName") {
            Some(a) if !a.is_empty() => a,
            // A SAS-only string often has no AccountName; the endpoint's host names the account.
            _ => endpoint
                .host_str()
                .and_then(|h| h.split('.').next())
                .filter(|_| sas.is_some())
                .map(str::to_owned)
                .ok_or_else(|| bad("AccountName is missing".into()))?,
        };
        if key.is_some() && account.is_empty() {
            return Err(bad("AccountName is empty".into()));
        }
        let opted_in = get(ALLOW_HTTP_SAS).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if key.is_none() && endpoint.scheme() == "http" && !arcgis::is_loopback(&endpoint) && !opted_in {
            return Err(bad(format!(
                "the endpoint {} is plain http, where the SharedAccessSignature would travel readable; use https, or add {ALLOW_HTTP_SAS}=true to accept that",
                endpoint.host_str().unwrap_or_default()
            )));
        }
        Ok(AzureConnection { account, key, sas, endpoint })
    }

    /// An object store over `container`, signing with the key (preferred) or the SAS.
    pub(crate) fn store(&self, container: &str) -> Result<Arc<dyn ObjectStore>, StorageError> {
        // object_store's HTTP client is reqwest with rustls and no built-in provider: the
        // process-wide ring provider must be installed first, as for the portal client.
        arcgis::install_crypto_provider();
        let mut builder = MicrosoftAzureBuilder::new()
            .with_account(&self.account)
            .with_container_name(container)
            .with_endpoint(self.endpoint.as_str().trim_end_matches('/').to_owned())
            .with_allow_http(self.endpoint.scheme() == "http");
        if let Some(key) = &self.key {
            builder = builder.with_access_key(key.expose());
        } else if let Some(sas) = &self.sas {
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(sas.expose().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            builder = builder.with_sas_authorization(pairs);
        }
        let store =
            builder.build().map_err(|e| StorageError::ConnectionString(super::error::redact(&e.to_string())))?;
        Ok(Arc::new(store))
    }
}

fn is_base64(s: &str) -> bool {
    !s.is_empty() && s.len() & 3 == 0 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Proves write, list, read and delete in `container` under `prefix` with a small probe object
/// (see [`check_store`]). Never fails itself: a refused credential shows up as failed steps.
pub async fn check_azure(conn: &AzureConnection, container: &str, prefix: &str) -> AzureCheck {
    match conn.store(container) {
        Ok(store) => check_store(store.as_ref(), prefix).await,
        Err(e) => StoreCheck::unusable(e.to_string()),
    }
}

pub(crate) fn join_prefix(prefix: &str, rest: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        rest.to_owned()
    } else {
        format!("{prefix}/{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    #[test]
    fn portal_form_with_endpoint_suffix() {
        let c = AzureConnection::parse(&format!(
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={KEY};EndpointSuffix=core.windows.net"
        ))
        .expect("the Azure portal's usual form must parse");
        assert_eq!(c.account, "acme", "AccountName is the account");
        assert_eq!(c.endpoint.as_str(), "https://acme.blob.core.windows.net/", "endpoint from suffix and protocol");
        assert_eq!(c.key.as_ref().map(|k| k.expose()), Some(KEY), "the key keeps its '=' padding");
        assert!(c.sas.is_none(), "no SAS in this form");
    }

    #[test]
    fn blob_endpoint_wins_and_sovereign_suffix_works() {
        let c = AzureConnection::parse(&format!(
            "AccountName=devstoreaccount1;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
        ))
        .expect("explicit BlobEndpoint must parse");
        assert_eq!(c.endpoint.as_str(), "http://127.0.0.1:10000/devstoreaccount1", "BlobEndpoint is used as given");
        let c =
            AzureConnection::parse(&format!("AccountName=gov;AccountKey={KEY};EndpointSuffix=core.usgovcloudapi.net"))
                .expect("a sovereign cloud suffix must parse");
        assert_eq!(c.endpoint.host_str(), Some("gov.blob.core.usgovcloudapi.net"), "suffix builds the host");
        assert_eq!(c.endpoint.scheme(), "https", "https is the default protocol");
    }

    #[test]
    fn sas_form_without_account_name() {
        let c = AzureConnection::parse(
            "BlobEndpoint=https://acme.blob.core.windows.net/;SharedAccessSignature=?sv=2022-11-02&ss=b&sp=rwdl&sig=AbC%2B123",
        )
        .expect("the portal's SAS connection string must parse");
        assert_eq!(c.account, "acme", "the account comes from the endpoint host when AccountName is absent");
        assert_eq!(
            c.sas.as_ref().map(|s| s.expose()),
            Some("sv=2022-11-02&ss=b&sp=rwdl&sig=AbC%2B123"),
            "leading '?' dropped"
        );
        assert!(c.key.is_none(), "no key in a SAS string");
    }

    #[test]
    fn a_sas_over_remote_plain_http_needs_the_opt_in() {
        let sas = "SharedAccessSignature=sv=2022-11-02&sp=rwdl&sig=SECRETSIG";
        let err = AzureConnection::parse(&format!("BlobEndpoint=http://acme.blob.core.windows.net;{sas}"))
            .expect_err("a SAS over remote http must be refused");
        assert!(err.to_string().contains(ALLOW_HTTP_SAS), "the message says how to opt in: {err}");
        assert!(!err.to_string().contains("SECRETSIG"), "the message never quotes the SAS: {err}");
        let err = AzureConnection::parse(&format!("AccountName=acme;DefaultEndpointsProtocol=http;{sas}"))
            .expect_err("the protocol key counts too");
        assert!(err.to_string().contains("plain http"), "{err}");
        AzureConnection::parse(&format!("BlobEndpoint=http://acme.blob.core.windows.net;{sas};{ALLOW_HTTP_SAS}=true"))
            .expect("with the opt-in it is accepted");
        AzureConnection::parse(&format!("BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;{sas}"))
            .expect("a SAS to the emulator on loopback needs no opt-in");
        AzureConnection::parse(&format!("AccountName=acme;AccountKey={KEY};DefaultEndpointsProtocol=http"))
            .expect("an account key is never sent, so http stays allowed for it");
    }

    #[test]
    fn development_storage() {
        let c = AzureConnection::parse("UseDevelopmentStorage=true").expect("Azurite shorthand must parse");
        assert_eq!(c.account, DEV_ACCOUNT, "the emulator's account");
        assert_eq!(c.endpoint.as_str(), DEV_ENDPOINT, "the emulator's default endpoint");
        let c = AzureConnection::parse("UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://127.0.0.1:4321")
            .expect("proxy form must parse");
        assert_eq!(c.endpoint.as_str(), "http://127.0.0.1:4321/devstoreaccount1", "the proxy replaces host and port");
    }

    #[test]
    fn errors_name_what_is_missing_and_never_the_secret() {
        let cases = [
            ("", "empty"),
            ("AccountName=acme;EndpointSuffix=core.windows.net", "AccountKey or SharedAccessSignature is missing"),
            (&format!("AccountKey={KEY};EndpointSuffix=core.windows.net")[..], "AccountName is missing"),
            ("AccountName=acme;AccountKey=not*base64!", "AccountKey is not base64"),
            (&format!("AccountName=acme;AccountKey={KEY};BlobEndpoint=ftp://x")[..], "BlobEndpoint must be http(s)"),
            (&format!("AccountName=acme;AccountKey={KEY};BlobEndpoint=::nope")[..], "BlobEndpoint is not a URL"),
            (
                &format!("AccountName=acme;AccountKey={KEY};DefaultEndpointsProtocol=gopher")[..],
                "DefaultEndpointsProtocol",
            ),
            ("BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=1&sp=r", "no sig= part"),
            ("AccountName=acme;garbage", "is not Key=Value"),
        ];
        for (input, want) in cases {
            let err = AzureConnection::parse(input).expect_err(&format!("{want} must be refused"));
            let msg = err.to_string();
            assert!(msg.contains(want), "error for a bad string must say {want:?}, got {msg:?}");
            assert!(!msg.contains(KEY) && !msg.contains("not*base64"), "an error must never quote the key: {msg}");
        }
    }

    #[test]
    fn debug_redacts_key_and_sas() {
        let c = AzureConnection::parse(&format!(
            "AccountName=acme;AccountKey={KEY};SharedAccessSignature=sv=1&sig=SECRETSIG"
        ))
        .expect("key and SAS together parse");
        let shown = format!("{c:?}");
        assert!(!shown.contains(KEY), "Debug must not print the account key: {shown}");
        assert!(!shown.contains("SECRETSIG"), "Debug must not print the SAS: {shown}");
        assert!(shown.contains("acme"), "Debug still names the account: {shown}");
    }
}

#[cfg(test)]
mod proptests;
