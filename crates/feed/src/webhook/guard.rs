//! Where webhooks may go. The gateway plugs in its SSRF guard (the one
//! import URLs pass); [`AllowHosts`] is a strict allow-list for tests and
//! internal receivers.

use std::fmt;

use futures::future::BoxFuture;
use url::Url;

/// Decides whether a webhook URL may be called. Asked when the dispatcher
/// starts (a refused URL is a configuration error) and again before every
/// attempt (names can re-resolve elsewhere).
pub trait UrlGuard: Send + Sync + fmt::Debug {
    /// `Ok` to allow; `Err(why)` to refuse (`why` must not echo the URL).
    fn check<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<(), String>>;
}

/// Allows exactly these hosts (`host` or `host:port`), nothing else.
#[derive(Clone, Debug, Default)]
pub struct AllowHosts(pub Vec<String>);

impl UrlGuard for AllowHosts {
    fn check<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<(), String>> {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let with_port = url
            .port_or_known_default()
            .map(|p| format!("{host}:{p}"))
            .unwrap_or_else(|| host.clone());
        let ok = self
            .0
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&host) || a.eq_ignore_ascii_case(&with_port));
        Box::pin(async move {
            if ok {
                Ok(())
            } else {
                Err(format!("host '{host}' is not in the webhook allow-list"))
            }
        })
    }
}

/// The URL as status pages may show it: scheme, host and port only. Paths
/// and queries of webhook URLs often are the credential (`/hooks/<token>`).
pub fn redact_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    let tail = if url.path() == "/" && url.query().is_none() {
        "/"
    } else {
        "/…"
    };
    match url.port() {
        Some(p) => format!("{}://{host}:{p}{tail}", url.scheme()),
        None => format!("{}://{host}{tail}", url.scheme()),
    }
}
