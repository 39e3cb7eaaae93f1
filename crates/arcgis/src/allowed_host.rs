//! Hosts outside the organization whose item URLs the user allows OrgVault to read.
//!
//! An item's `url` (a scene, tile, map or registered service) is whatever its owner typed: any
//! member can point it at an internal address or at a host that logs who calls. The client reads
//! such a URL only when it is on one of the org's own hosts (the token allow-list: portal host and
//! hosting servers, compared by scheme, host and port) or on a host the user allowed explicitly
//! ([`Portal::allow_host`](crate::Portal::allow_host)). The token never goes to an allowed foreign
//! host: allowing a host lets it be read, anonymously, nothing more.

use std::fmt;
use std::str::FromStr;

use url::{Host, Url};

use crate::error::{Error, Result};
use crate::portal::Portal;

/// One allowed host: `host`, `host:port` or `scheme://host[:port]`. Without a port only the
/// scheme's default port matches (443 for https, 80 for http); without a scheme both http and
/// https match. Host names compare as the URL parser normalises them (lower case, IDNA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: Host<String>,
    port: Option<u16>,
}

impl AllowedHost {
    /// Whether `url` is on this host.
    pub fn matches(&self, url: &Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        if self.scheme.as_deref().is_some_and(|s| s != url.scheme()) {
            return false;
        }
        let Some(host) = url.host() else { return false };
        if host.to_owned() != self.host {
            return false;
        }
        match self.port {
            Some(p) => url.port_or_known_default() == Some(p),
            None => url.port().is_none(),
        }
    }
}

impl FromStr for AllowedHost {
    type Err = Error;

    fn from_str(text: &str) -> std::result::Result<Self, Error> {
        let text = text.trim();
        let bad = |why: &str| Error::Config {
            message: format!("the allowed host {text:?} {why}; give host, host:port or https://host[:port]"),
        };
        if text.is_empty() {
            return Err(bad("is empty"));
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
            None => (None, text),
        };
        if scheme.as_deref().is_some_and(|s| s != "http" && s != "https") {
            return Err(bad("has a scheme other than http or https"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', '*', ' ']) {
            return Err(bad("is not a bare host (no path, user, query or wildcard)"));
        }
        let url = Url::parse(&format!("{}://{rest}", scheme.as_deref().unwrap_or("https")))
            .map_err(|e| bad(&format!("is not a host name ({e})")))?;
        let host = url.host().ok_or_else(|| bad("names no host"))?.to_owned();
        // `Url` drops a port equal to the scheme's default: ask the text whether one was given.
        let port = url.port().or_else(|| {
            let after_host = rest.rsplit_once(']').map(|(_, p)| p).unwrap_or(rest);
            after_host.contains(':').then(|| url.port_or_known_default()).flatten()
        });
        Ok(AllowedHost { scheme, host, port })
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.scheme {
            write!(f, "{s}://")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl Portal {
    /// Lets item URLs on `host` be read, without the token (see [`AllowedHost`]). Adding
    /// a host twice is harmless.
    pub fn allow_host(&self, host: AllowedHost) {
        self.inner.session.transport.allow_host(host);
    }

    /// Whether the URL found in an item may be read: it is on one of the org's own hosts, or
    /// on a host allowed with [`Portal::allow_host`]. `Err` is [`Error::HostNotAllowed`], naming
    /// the URL's origin. A request for such a URL checks every redirect hop the same way.
    pub fn check_item_url(&self, url: &Url) -> Result<()> {
        self.inner.session.transport.check_item_url(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn a_bare_host_matches_its_default_ports_only() {
        let h: AllowedHost = "Tiles.Example.com".parse().expect("a host");
        assert!(h.matches(&url("https://tiles.example.com/arcgis/rest/services/A/MapServer")), "https on 443");
        assert!(h.matches(&url("http://tiles.example.com/x")), "http on 80");
        assert!(!h.matches(&url("https://tiles.example.com:8443/x")), "another port is another origin");
        assert!(!h.matches(&url("https://evil.tiles.example.com/x")), "a sub-domain is another host");
        assert!(!h.matches(&url("https://tiles.example.com.evil.net/x")), "a longer name is another host");
    }

    #[test]
    fn a_port_and_a_scheme_narrow_the_match() {
        let h: AllowedHost = "127.0.0.1:8080".parse().expect("host:port");
        assert!(h.matches(&url("http://127.0.0.1:8080/arcgis")), "the given port");
        assert!(!h.matches(&url("http://127.0.0.1:8081/arcgis")), "not another port");
        let h: AllowedHost = "https://gis.example.com:443".parse().expect("origin");
        assert!(h.matches(&url("https://gis.example.com/x")), "443 given explicitly is https's default");
        assert!(!h.matches(&url("http://gis.example.com:443/x")), "the scheme is part of it");
        assert_eq!(h.to_string(), "https://gis.example.com:443", "shown as given");
    }

    #[test]
    fn anything_but_a_host_is_refused_with_its_text() {
        for bad in ["", "https://a.example.com/path", "*.example.com", "user@a.example.com", "ftp://a.example.com"] {
            let err = bad.parse::<AllowedHost>().expect_err("refused");
            assert!(err.to_string().contains(&format!("{bad:?}")), "the error names the input: {err}");
        }
    }
}
