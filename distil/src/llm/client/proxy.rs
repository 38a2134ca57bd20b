//! HTTP proxies for the LLM clients: `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (either case)
//! and `NO_PROXY`, as curl and reqwest read them, or one set on the client. Requests go
//! through the proxy's `CONNECT` tunnel, for `https://` and `http://` endpoints alike.

use base64::Engine;

use super::transport::Endpoint;

/// A proxy: where it is, and its credentials for `Proxy-Authorization` (never printed).
pub(crate) struct Proxy {
    pub(crate) endpoint: Endpoint,
    /// `Basic <base64(user:password)>`, when the URL has a user.
    pub(crate) authorization: Option<String>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.endpoint.authority())
    }
}

impl Proxy {
    /// Reads `http://[user:password@]host:port`.
    pub(crate) fn parse(url: &str) -> Result<Proxy, String> {
        let url = url.trim();
        let url = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        if !url.starts_with("http://") {
            return Err(format!(
                "the proxy `{}` is not an http:// proxy (the only kind supported)",
                without_credentials(&url)
            ));
        }
        let rest = &url["http://".len()..];
        let (credentials, address) = match rest.split('/').next().unwrap_or("").rsplit_once('@') {
            Some((credentials, _)) => (Some(credentials), &rest[credentials.len() + 1..]),
            None => (None, rest),
        };
        let (endpoint, _) = Endpoint::parse(&format!("http://{address}"))
            .map_err(|e| format!("the proxy: {}", without_credentials(&e)))?;
        let authorization = credentials.map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
        });
        Ok(Proxy {
            endpoint,
            authorization,
        })
    }

    /// The proxy the environment gives for `endpoint`, if any.
    pub(crate) fn from_env(endpoint: &Endpoint) -> Result<Option<Proxy>, String> {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        let url = if endpoint.is_tls() {
            var(&["HTTPS_PROXY", "https_proxy"])
        } else {
            var(&["HTTP_PROXY", "http_proxy"])
        }
        .or_else(|| var(&["ALL_PROXY", "all_proxy"]));
        let Some(url) = url else {
            return Ok(None);
        };
        let no_proxy = var(&["NO_PROXY", "no_proxy"]).unwrap_or_default();
        if bypasses(&no_proxy, endpoint.host()) {
            return Ok(None);
        }
        Proxy::parse(&url).map(Some)
    }
}

/// Whether `host` is in a `NO_PROXY` list: `*`, a host, or a domain (`example.com` and
/// `.example.com` both cover its subdomains).
pub(crate) fn bypasses(no_proxy: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(|entry| entry.trim().to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            let domain = entry.trim_start_matches('.');
            entry == "*" || host == domain || host.ends_with(&format!(".{domain}"))
        })
}

/// A URL without the `user:password@` part.
fn without_credentials(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &text[..scheme + 3], &text[at + 1..])
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxies_with_and_without_credentials() {
        let proxy = Proxy::parse("http://alice:s3cret@proxy.internal:3128").unwrap();
        assert_eq!(proxy.endpoint.authority(), "proxy.internal:3128");
        assert_eq!(
            proxy.authorization.as_deref(),
            Some("Basic YWxpY2U6czNjcmV0")
        );
        assert!(!format!("{proxy:?}").contains("s3cret"));
        let proxy = Proxy::parse("10.0.0.1:8080").unwrap();
        assert_eq!(proxy.endpoint.authority(), "10.0.0.1:8080");
        let error = Proxy::parse("https://bob:pw@secure:443").unwrap_err();
        assert!(
            error.contains("https://secure:443") && !error.contains("pw"),
            "{error}"
        );
    }

    #[test]
    fn no_proxy_lists_hosts_and_domains() {
        let list = "localhost, .internal,example.com";
        assert!(bypasses(list, "localhost"));
        assert!(bypasses(list, "api.internal"));
        assert!(bypasses(list, "example.com"));
        assert!(bypasses(list, "api.example.com"));
        assert!(!bypasses(list, "example.org"));
        assert!(!bypasses(list, "notexample.com"));
        assert!(bypasses("*", "anything"));
        assert!(!bypasses("", "anything"));
    }
}
