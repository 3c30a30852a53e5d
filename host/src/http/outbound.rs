//! Outbound HTTP from guests (`wasi:http/client`): denied unless the
//! destination is on the allowlist. The upstream next hop is always allowed.

use http_body_util::BodyExt;
use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// One allowed destination: a host, optionally with a port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    host: String,
    port: Option<u16>,
}

impl Allowed {
    /// Parses `host` or `host:port` (`[v6]:port` for IPv6).
    fn parse(entry: &str) -> Option<Allowed> {
        let authority: http::uri::Authority = entry.parse().ok()?;
        Some(Allowed {
            host: authority
                .host()
                .trim_matches(|c| c == '[' || c == ']')
                .to_ascii_lowercase(),
            port: authority.port_u16(),
        })
    }
}

/// The allowlist, shared by every store.
#[derive(Clone, Debug, Default)]
pub struct OutboundPolicy {
    allowed: Arc<Vec<Allowed>>,
}

/// An allowlist entry that is not `host` or `host:port`.
#[derive(Debug)]
pub struct InvalidAllowEntry(pub String);

impl std::fmt::Display for InvalidAllowEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid outbound allowlist entry `{}`: expected host or host:port",
            self.0
        )
    }
}

impl std::error::Error for InvalidAllowEntry {}

impl OutboundPolicy {
    /// Builds the policy from `host[:port]` entries.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<OutboundPolicy, InvalidAllowEntry> {
        let allowed = entries
            .into_iter()
            .map(|entry| Allowed::parse(entry).ok_or_else(|| InvalidAllowEntry(entry.into())))
            .collect::<Result<_, _>>()?;
        Ok(OutboundPolicy {
            allowed: Arc::new(allowed),
        })
    }

    /// Whether a request to `uri` may leave the host.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let host = host
            .trim_matches(|c| c == '[' || c == ']')
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        self.allowed
            .iter()
            .any(|a| a.host == host && a.port.is_none_or(|p| p == port))
    }
}

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_result: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        if !self.allows(request.uri()) {
            tracing::warn!(uri = %request.uri(), "outbound request denied: not on the allowlist");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let response = response.map(|body| body.map_err(Into::into).boxed_unsync());
            Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_only_listed_hosts_and_ports() {
        let policy =
            OutboundPolicy::new(["api.example.com", "127.0.0.1:9000", "[::1]:80"]).unwrap();
        let allows = |uri: &str| policy.allows(&uri.parse().unwrap());
        assert!(allows("https://api.example.com/x"));
        assert!(allows("http://API.example.com:8080/x"));
        assert!(allows("http://127.0.0.1:9000/"));
        assert!(!allows("http://127.0.0.1:9001/"));
        assert!(allows("http://[::1]/"));
        assert!(!allows("http://evil.example.com/"));
        assert!(!allows("http://api.example.com.evil.net/"));
        assert!(!allows("/relative"));
    }

    #[test]
    fn rejects_malformed_entries() {
        assert!(OutboundPolicy::new(["http://x/"]).is_err());
        assert!(OutboundPolicy::new(["a b"]).is_err());
    }
}
