//! Amazon S3 and S3-compatible services (MinIO, Ceph, Wasabi): the `s3://` destination, where
//! its credentials come from, and the object store built from it.
//!
//! A destination is `s3://<bucket>[/prefix][?region=R&endpoint=URL&path_style=true&profile=P]`;
//! the options let one command name two services (`orgvault copy --from s3://.. --to s3://..`).
//! Credentials, first found wins: the named `profile` of the shared credentials file; the
//! standard variables `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! the profile `AWS_PROFILE` (or `default`) of `AWS_SHARED_CREDENTIALS_FILE` (or
//! `~/.aws/credentials`). With none, the destination is refused: OrgVault never falls back to
//! the instance-metadata service, so nothing is asked of a network address the user did not name.
//!
//! object_store's AWS backend is used without its `aws` feature (which pulls aws-lc-rs): the
//! `aws-base` feature plus the workspace's `ring` and reqwest with rustls, as for Azure.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arcgis::Secret;
use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;
use url::Url;

use super::error::StorageError;

/// The region used when none is named (S3's own default, and what MinIO accepts).
pub const DEFAULT_REGION: &str = "us-east-1";

/// S3 access keys. `Debug` prints only the key id's first characters.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.access_key_id.chars().take(4).collect();
        f.debug_struct("S3Credentials")
            .field("access_key_id", &format!("{shown}***"))
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Where a bucket is and how to sign in to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Connection {
    pub bucket: String,
    pub region: String,
    /// A custom endpoint (MinIO, Ceph, Wasabi, a loopback test server); `None` is AWS.
    pub endpoint: Option<Url>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted
    /// (`bucket.endpoint/key`); the default for a custom endpoint.
    pub path_style: bool,
    pub credentials: S3Credentials,
}

/// Options of an `s3://` destination, from its query string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct S3Options {
    pub region: Option<String>,
    pub endpoint: Option<Url>,
    pub path_style: Option<bool>,
    pub profile: Option<String>,
}

/// A parsed `s3://bucket[/prefix][?options]`, before credentials are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Address {
    pub bucket: String,
    pub prefix: String,
    pub options: S3Options,
}

impl S3Address {
    /// Parses `s3://...`; the error says what is wrong and never contains a secret (there is
    /// none in the address).
    pub fn parse(dest: &str) -> Result<S3Address, String> {
        let rest = dest.strip_prefix("s3://").ok_or("an S3 destination starts with s3://")?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if !valid_bucket(bucket) {
            return Err(format!(
                "{bucket:?} is not a bucket name (3-63 lowercase letters, digits, dots and hyphens, \
                 starting and ending with a letter or digit)"
            ));
        }
        if prefix.split('/').any(|s| s == ".." || s == ".") {
            return Err("the prefix may not contain '.' or '..' segments".into());
        }
        let mut options = S3Options::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "region" if !v.is_empty() => options.region = Some(v.into_owned()),
                "endpoint" => {
                    let url = Url::parse(&v).map_err(|e| format!("endpoint {v:?} is not a URL: {e}"))?;
                    if !matches!(url.scheme(), "http" | "https") {
                        return Err(format!("endpoint must be http(s), not {}", url.scheme()));
                    }
                    options.endpoint = Some(url);
                }
                "path_style" => {
                    options.path_style = Some(match v.as_ref() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        other => return Err(format!("path_style is true or false, not {other:?}")),
                    })
                }
                "profile" if !v.is_empty() => options.profile = Some(v.into_owned()),
                other => {
                    return Err(format!(
                        "unknown option {other:?} (an s3:// destination takes region, endpoint, path_style, profile)"
                    ))
                }
            }
        }
        Ok(S3Address { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned(), options })
    }
}

/// Where [`S3Connection::discover`] looks: the process environment and the home folder, passed
/// in so tests do not depend on the machine.
pub struct S3Environment<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
}

impl S3Environment<'_> {
    /// The running process's environment and home folder.
    pub fn process() -> S3Environment<'static> {
        S3Environment {
            var: &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.trim().is_empty())
    }

    fn aws_file(&self, var: &str, default: &str) -> Option<PathBuf> {
        self.get(var).map(PathBuf::from).or_else(|| self.home.as_ref().map(|h| h.join(".aws").join(default)))
    }
}

impl S3Connection {
    /// Completes an address with credentials and a region from `env` (see the module
    /// documentation for the order). The error names what is missing.
    pub fn discover(address: &S3Address, env: &S3Environment<'_>) -> Result<S3Connection, StorageError> {
        let bad = |reason: String| StorageError::Destination { dest: format!("s3://{}", address.bucket), reason };
        let opts = &address.options;
        let credentials_file = env.aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        let config_file = env.aws_file("AWS_CONFIG_FILE", "config");
        let from_profile = |name: &str| -> Result<Option<S3Credentials>, StorageError> {
            let Some(file) = &credentials_file else { return Ok(None) };
            let section = match read_ini_section(file, name) {
                Ok(s) => s,
                Err(e) => return Err(bad(format!("cannot read {}: {e}", file.display()))),
            };
            Ok(section.and_then(|s| {
                let id = ini_get(&s, "aws_access_key_id")?;
                let secret = ini_get(&s, "aws_secret_access_key")?;
                Some(S3Credentials {
                    access_key_id: id,
                    secret_access_key: Secret::new(secret),
                    session_token: ini_get(&s, "aws_session_token").map(Secret::new),
                })
            }))
        };
        let profile_name =
            opts.profile.clone().or_else(|| env.get("AWS_PROFILE")).unwrap_or_else(|| "default".to_owned());
        let credentials = if let Some(profile) = &opts.profile {
            from_profile(profile)?.ok_or_else(|| {
                bad(format!(
                    "the profile {profile:?} has no aws_access_key_id and aws_secret_access_key in {}",
                    credentials_file.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default()
                ))
            })?
        } else if let (Some(id), Some(secret)) = (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")) {
            S3Credentials {
                access_key_id: id,
                secret_access_key: Secret::new(secret),
                session_token: env.get("AWS_SESSION_TOKEN").map(Secret::new),
            }
        } else {
            from_profile(&profile_name)?.ok_or_else(|| {
                bad("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in \
                     ~/.aws/credentials (AWS_PROFILE or ?profile=NAME)"
                    .into())
            })?
        };
        let region =
            match opts.region.clone().or_else(|| env.get("AWS_REGION")).or_else(|| env.get("AWS_DEFAULT_REGION")) {
                Some(r) => r,
                None => {
                    let section = if profile_name == "default" {
                        "default".to_owned()
                    } else {
                        format!("profile {profile_name}")
                    };
                    config_file
                        .and_then(|f| read_ini_section(&f, &section).ok().flatten())
                        .and_then(|s| ini_get(&s, "region"))
                        .unwrap_or_else(|| DEFAULT_REGION.to_owned())
                }
            };
        let endpoint = match &opts.endpoint {
            Some(e) => Some(e.clone()),
            None => match env.get("AWS_ENDPOINT_URL_S3").or_else(|| env.get("AWS_ENDPOINT_URL")) {
                Some(e) => Some(Url::parse(&e).map_err(|err| bad(format!("AWS_ENDPOINT_URL is not a URL: {err}")))?),
                None => None,
            },
        };
        let path_style = opts.path_style.unwrap_or(endpoint.is_some());
        Ok(S3Connection { bucket: address.bucket.clone(), region, endpoint, path_style, credentials })
    }

    /// The connection of an identity's S3 storage: its address (`s3://...`, whose options give
    /// region, endpoint and addressing) with the access key kept for it, nothing from the
    /// process environment or profile files.
    pub fn with_keys(url: &str, access_key_id: &str, secret_access_key: &Secret) -> Result<S3Connection, StorageError> {
        let address = S3Address::parse(url.trim())
            .map_err(|reason| StorageError::Destination { dest: url.to_owned(), reason })?;
        let (id, secret) = (access_key_id.trim().to_owned(), secret_access_key.expose().to_owned());
        let var = move |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some(id.clone()),
            "AWS_SECRET_ACCESS_KEY" => Some(secret.clone()),
            _ => None,
        };
        S3Connection::discover(&address, &S3Environment { var: &var, home: None })
    }

    /// The bucket as shown to users: `s3://bucket/prefix` and the endpoint's host when custom.
    pub fn describe(&self, prefix: &str) -> String {
        let path = super::azure::join_prefix(&self.bucket, prefix);
        match &self.endpoint {
            Some(e) => format!("s3://{path} ({})", e.host_str().unwrap_or_default()),
            None => format!("s3://{path} ({})", self.region),
        }
    }

    /// An object store over the bucket. Keys only sign requests (SigV4); a session token does
    /// travel in a header, so plain http is accepted only for a loopback endpoint or when the
    /// credentials have no token.
    pub(crate) fn store(&self) -> Result<Arc<dyn ObjectStore>, StorageError> {
        arcgis::install_crypto_provider();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_access_key_id(&self.credentials.access_key_id)
            .with_secret_access_key(self.credentials.secret_access_key.expose())
            .with_virtual_hosted_style_request(!self.path_style);
        if let Some(token) = &self.credentials.session_token {
            builder = builder.with_token(token.expose());
        }
        if let Some(endpoint) = &self.endpoint {
            let http = endpoint.scheme() == "http";
            if http && self.credentials.session_token.is_some() && !arcgis::is_loopback(endpoint) {
                return Err(StorageError::Destination {
                    dest: self.describe(""),
                    reason: "the endpoint is plain http, where the session token would travel readable; use https"
                        .into(),
                });
            }
            let mut base = endpoint.as_str().trim_end_matches('/').to_owned();
            if !self.path_style {
                // Virtual-hosted style: object_store wants the bucket in the endpoint's host.
                let mut with_bucket = endpoint.clone();
                if let Some(host) = endpoint.host_str() {
                    let _ = with_bucket.set_host(Some(&format!("{}.{host}", self.bucket)));
                }
                base = with_bucket.as_str().trim_end_matches('/').to_owned();
            }
            builder = builder.with_endpoint(base).with_allow_http(http);
        }
        let store = builder.build().map_err(|e| StorageError::Destination {
            dest: self.describe(""),
            reason: super::error::redact(&e.to_string()),
        })?;
        Ok(Arc::new(store))
    }
}

fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        && !name.contains("..")
}

/// The `key = value` lines of `[section]` in an AWS ini file; `None` when the file or section
/// is absent. Files over 1 MiB are refused (bounded memory).
fn read_ini_section(file: &Path, section: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if meta.len() > 1024 * 1024 {
        return Err(format!("it is {} bytes, more than an AWS credentials file holds", meta.len()));
    }
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    Ok(parse_ini_section(&text, section))
}

fn parse_ini_section(text: &str, section: &str) -> Option<Vec<(String, String)>> {
    let mut current: Option<&str> = None;
    let mut found: Option<Vec<(String, String)>> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim());
            if current == Some(section) {
                found.get_or_insert_with(Vec::new);
            }
            continue;
        }
        if current == Some(section) {
            if let Some((k, v)) = line.split_once('=') {
                found.get_or_insert_with(Vec::new).push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
    }
    found
}

fn ini_get(section: &[(String, String)], key: &str) -> Option<String> {
    section.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)], home: Option<PathBuf>) -> S3Environment<'a> {
        let lookup = move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        S3Environment { var: Box::leak(Box::new(lookup)), home }
    }

    #[test]
    fn addresses_parse_with_their_options() {
        let a = S3Address::parse(
            "s3://my-backups/acme/prod/?endpoint=http://127.0.0.1:9000&path_style=true&region=eu-west-1",
        )
        .expect("a full address parses");
        assert_eq!((a.bucket.as_str(), a.prefix.as_str()), ("my-backups", "acme/prod"), "bucket and prefix split");
        assert_eq!(a.options.endpoint.as_ref().map(Url::as_str), Some("http://127.0.0.1:9000/"), "endpoint kept");
        assert_eq!(a.options.path_style, Some(true), "path style read");
        assert_eq!(a.options.region.as_deref(), Some("eu-west-1"), "region read");
        for (bad, want) in [
            ("s3://Bad_Bucket", "not a bucket name"),
            ("s3://ab", "not a bucket name"),
            ("s3://bucket/../x", "'..'"),
            ("s3://bucket?endpoint=ftp://x", "http(s)"),
            ("s3://bucket?path_style=maybe", "true or false"),
            ("s3://bucket?secret=x", "unknown option"),
        ] {
            let err = S3Address::parse(bad).expect_err(bad);
            assert!(err.contains(want), "{bad}: the error must say {want:?}, got {err:?}");
        }
    }

    #[test]
    fn credentials_come_from_the_environment_then_the_profile() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join(".aws")).expect("aws dir");
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = defaultsecret\n\n\
             [backup]\naws_access_key_id=AKIABACKUP\naws_secret_access_key=backupsecret\naws_session_token=tok\n",
        )
        .expect("credentials file");
        std::fs::write(dir.path().join(".aws/config"), "[profile backup]\nregion = eu-central-1\n").expect("config");
        let home = Some(dir.path().to_owned());
        let addr = S3Address::parse("s3://bucket").expect("address");

        let vars =
            [("AWS_ACCESS_KEY_ID", "AKIAENV"), ("AWS_SECRET_ACCESS_KEY", "envsecret"), ("AWS_REGION", "us-west-2")];
        let c = S3Connection::discover(&addr, &env(&vars, home.clone())).expect("env credentials");
        assert_eq!(c.credentials.access_key_id, "AKIAENV", "the standard variables win over the default profile");
        assert_eq!(c.region, "us-west-2", "AWS_REGION names the region");
        assert!(!c.path_style, "AWS itself is addressed virtual-hosted style");

        let c = S3Connection::discover(&addr, &env(&[], home.clone())).expect("default profile");
        assert_eq!(c.credentials.access_key_id, "AKIADEFAULT", "without variables the default profile is used");
        assert_eq!(c.region, DEFAULT_REGION, "no region anywhere: us-east-1");

        let c = S3Connection::discover(&addr, &env(&[("AWS_PROFILE", "backup")], home.clone())).expect("AWS_PROFILE");
        assert_eq!(c.credentials.access_key_id, "AKIABACKUP", "AWS_PROFILE picks the profile");
        assert_eq!(c.credentials.session_token.as_ref().map(Secret::expose), Some("tok"), "session token read");
        assert_eq!(c.region, "eu-central-1", "the profile's region comes from ~/.aws/config");

        let named = S3Address::parse("s3://bucket?profile=backup&endpoint=http://127.0.0.1:9000").expect("address");
        let c = S3Connection::discover(&named, &env(&vars, home.clone())).expect("named profile");
        assert_eq!(c.credentials.access_key_id, "AKIABACKUP", "a profile named in the address wins over variables");
        assert!(c.path_style, "a custom endpoint defaults to path style");

        let err = S3Connection::discover(&addr, &env(&[], None)).expect_err("nothing anywhere");
        assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "the error says how to give credentials: {err}");
        let missing = S3Address::parse("s3://bucket?profile=nope").expect("address");
        let err = S3Connection::discover(&missing, &env(&[], home)).expect_err("unknown profile");
        assert!(err.to_string().contains("\"nope\""), "the error names the profile: {err}");
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let c = S3Credentials {
            access_key_id: "AKIAEXAMPLEKEY".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            session_token: Some(Secret::new("SESSIONTOKEN")),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("wJalrXUtnFEMI") && !shown.contains("SESSIONTOKEN"), "no secret in Debug: {shown}");
        assert!(!shown.contains("AKIAEXAMPLEKEY"), "the key id is shortened: {shown}");
    }
}
