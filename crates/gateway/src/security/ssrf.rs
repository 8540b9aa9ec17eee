//! The import URL guard: an upstream told to import a URL fetches it from its
//! own network, so a URL naming an internal address turns the upstream into a
//! proxy into that network (SSRF). Every import URL is checked here before
//! anything is forwarded.
//!
//! The host is normalised by the `url` crate's WHATWG host parser, which
//! already turns every numeric spelling (`2130706433`, `0x7f.1`,
//! `0177.0.0.1`, `127.1`, `0`), percent-encoding and IDNA/fullwidth digits
//! (`１２７.0.0.1`) into an IP address; IPv6 forms with embedded IPv4
//! (`::ffff:127.0.0.1`, NAT64, 6to4) are unwrapped and checked as IPv4.
//! Names are then checked by spelling (`localhost`, `*.localhost`, metadata
//! names, private-use suffixes) and, with `import_dns = "strict"`, resolved:
//! every address must pass too and a name that does not resolve is rejected
//! (fail closed). Hosts in `import_host_allow` skip the address checks
//! (private mirrors).
//!
//! Names under the RFC 2606 documentation domains (`example.com`,
//! `example.net`, `example.org`, `*.example`) are IANA-held and never private,
//! so they pass without a lookup (tests and docs use them offline).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use isogate_core::{Capability, Error};
use url::{Host, Url};

/// Resolves host names (pluggable so tests need no DNS).
pub trait Resolver: Send + Sync + fmt::Debug {
    /// Every address of `host`.
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver (`getaddrinfo` via tokio).
#[derive(Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host, port))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// A fixed table of names (tests).
#[derive(Debug, Default, Clone)]
pub struct StaticResolver(pub Vec<(String, Vec<IpAddr>)>);

impl Resolver for StaticResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        _port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
        let found = self
            .0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, addrs)| addrs.clone());
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))
        })
    }
}

/// The guard's settings and resolver.
#[derive(Debug)]
pub struct ImportGuard {
    allow_hosts: Vec<String>,
    resolve: bool,
    resolver: RwLock<Arc<dyn Resolver>>,
}

impl ImportGuard {
    /// From `[server] import_host_allow` and `import_dns`.
    pub fn new(allow_hosts: &[String], dns: &str) -> ImportGuard {
        ImportGuard {
            allow_hosts: allow_hosts
                .iter()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            resolve: dns != "skip",
            resolver: RwLock::new(Arc::new(SystemResolver)),
        }
    }

    /// Replaces the resolver (tests).
    pub fn set_resolver(&self, resolver: Arc<dyn Resolver>) {
        *self.resolver.write().unwrap_or_else(|p| p.into_inner()) = resolver;
    }

    fn resolver(&self) -> Arc<dyn Resolver> {
        self.resolver
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn allowed(&self, host: &str) -> bool {
        self.allow_hosts.iter().any(|a| match a.strip_prefix('.') {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == a,
        })
    }

    /// Checks `raw` for an import through a provider accepting `schemes`.
    /// The rejection never echoes the URL (it may hold credentials).
    pub async fn check(&self, raw: &str, schemes: &[String]) -> Result<(), Error> {
        let url = Url::parse(raw.trim()).map_err(|_| reject("it is not an absolute URL"))?;
        if !schemes.iter().any(|s| s == url.scheme()) {
            return Err(reject(&format!(
                "scheme '{}' is not allowed for this provider (allowed: {})",
                url.scheme(),
                schemes.join(", ")
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(reject("credentials in the URL are not allowed"));
        }
        let port = url.port_or_known_default().unwrap_or(0);
        match url.host() {
            None => Err(reject("it has no host")),
            Some(Host::Ipv4(ip)) => self.check_literal(&ip.to_string(), IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_literal(&ip.to_string(), IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if self.allowed(&name) {
                    return Ok(());
                }
                check_name(&name)?;
                if !self.resolve || is_documentation_name(&name) {
                    return Ok(());
                }
                let addrs = self
                    .resolver()
                    .resolve(&name, port)
                    .await
                    .map_err(|_| reject(&format!("host '{name}' does not resolve")))?;
                if addrs.is_empty() {
                    return Err(reject(&format!("host '{name}' does not resolve")));
                }
                for addr in addrs {
                    if let Some(why) = forbidden_ip(addr) {
                        return Err(reject(&format!("host '{name}' resolves to {why}")));
                    }
                }
                Ok(())
            }
        }
    }

    fn check_literal(&self, text: &str, ip: IpAddr) -> Result<(), Error> {
        if self.allowed(text) {
            return Ok(());
        }
        match forbidden_ip(ip) {
            Some(why) => Err(reject(&format!("the host is {why}"))),
            None => Ok(()),
        }
    }
}

/// The schemes an adapter's import accepts when the config says none: its
/// capability's, which cites the upstream's limit.
pub fn default_schemes(capability: &Capability) -> Vec<String> {
    capability
        .import_schemes
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

fn reject(why: &str) -> Error {
    Error::invalid_input(format!("url: rejected: {why}")).with_code("import_url_rejected")
}

fn check_name(name: &str) -> Result<(), Error> {
    const EXACT: [&str; 5] = [
        "localhost",
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
    ];
    // Suffixes reserved for private or local use (RFC 6761/6762/8375, ICANN .internal).
    const SUFFIXES: [&str; 6] = [
        ".localhost",
        ".local",
        ".localdomain",
        ".internal",
        ".home.arpa",
        ".in-addr.arpa",
    ];
    if name.is_empty()
        || EXACT.contains(&name)
        || SUFFIXES.iter().any(|s| name.ends_with(s))
        || !name.contains('.')
    {
        return Err(reject(&format!(
            "host '{name}' is local, internal or not fully qualified"
        )));
    }
    Ok(())
}

fn is_documentation_name(name: &str) -> bool {
    ["example.com", "example.net", "example.org", "example"]
        .iter()
        .any(|d| name == *d || name.ends_with(&format!(".{d}")))
}

/// Why an address may not be imported from, or `None` when it is public.
pub fn forbidden_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let why = if ip.is_unspecified() || o[0] == 0 {
        "an unspecified ('this network') address"
    } else if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_private() {
        "a private address"
    } else if o[0] == 169 && o[1] == 254 {
        "a link-local or cloud metadata address"
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        "a carrier-grade NAT address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if ip.is_broadcast() || o[0] >= 240 {
        "a broadcast or reserved address"
    } else if ip.is_documentation() || (o[0] == 198 && (o[1] & 0xfe) == 18) {
        "a documentation or benchmarking address"
    } else if o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2)
        || (o[0] == 192 && o[1] == 88 && o[2] == 99)
    {
        "a special-purpose address"
    } else {
        return None;
    };
    Some(why)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // Forms that carry an IPv4 address are judged by that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if s[0..6] == [0, 0, 0, 0, 0, 0] && !ip.is_unspecified() && !ip.is_loopback() {
        return forbidden_v4(embedded_v4(s[6], s[7])); // IPv4-compatible (deprecated)
    }
    if s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded_v4(s[6], s[7])); // NAT64
    }
    if s[0] == 0x2002 {
        return forbidden_v4(embedded_v4(s[1], s[2])); // 6to4
    }
    let why = if ip.is_unspecified() {
        "an unspecified address"
    } else if ip.is_loopback() {
        "a loopback address"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "a unique-local address (incl. cloud metadata fd00:ec2::254)"
    } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        "a link-local or site-local address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 || (s[0] & 0xfff0) == 0x3ff0 {
        "a documentation address"
    } else if s[0] == 0x2001 && (s[1] < 0x0200) {
        "a special-purpose (Teredo, ORCHID, benchmarking) address"
    } else if (s[0] & 0xe000) != 0x2000 {
        "not a global unicast address"
    } else {
        return None;
    };
    Some(why)
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http() -> Vec<String> {
        vec!["http".into(), "https".into()]
    }

    async fn verdict(guard: &ImportGuard, url: &str) -> Result<(), String> {
        guard
            .check(url, &http())
            .await
            .map_err(|e| e.message().to_owned())
    }

    #[tokio::test]
    async fn every_spelling_of_an_internal_address_is_rejected() {
        let guard = ImportGuard::new(&[], "skip");
        for url in [
            "http://127.0.0.1/x.iso",
            "http://2130706433/x.iso",
            "http://0x7f.1/x.iso",
            "http://0x7f000001/x.iso",
            "http://0177.0.0.1/x.iso",
            "http://127.1/x.iso",
            "http://127.0.0.1./x.iso",
            "http://%31%32%37.0.0.1/x.iso",
            "http://[::ffff:127.0.0.1]/x.iso",
            "http://[::ffff:7f00:1]/x.iso",
            "http://[::1]/x.iso",
            "http://[::]/x.iso",
            "http://[::127.0.0.1]/x.iso",
            "http://[64:ff9b::a9fe:a9fe]/x.iso",
            "http://[2002:7f00:1::]/x.iso",
            "http://0/x.iso",
            "http://0.0.0.0/x.iso",
            "http://localhost/x.iso",
            "http://LOCALHOST./x.iso",
            "http://a.localhost/x.iso",
            "http://１２７.0.0.1/x.iso",
            "http://１２７．０．０．１/x.iso",
            "http://10.1.2.3/x.iso",
            "http://172.16.0.1/x.iso",
            "http://192.168.1.1/x.iso",
            "http://169.254.169.254/latest/meta-data",
            "http://[fd00:ec2::254]/x",
            "http://metadata.google.internal/x",
            "http://100.64.0.1/x.iso",
            "http://224.0.0.1/x.iso",
            "http://255.255.255.255/x.iso",
            "http://192.0.2.1/x.iso",
            "http://[fe80::1]/x.iso",
            "http://[ff02::1]/x.iso",
            "http://[2001:db8::1]/x.iso",
            "http://user:pw@releases.ubuntu.com/x.iso",
            "http://user@releases.ubuntu.com/x.iso",
            "ftp://releases.ubuntu.com/x.iso",
            "file:///etc/passwd",
            "gopher://releases.ubuntu.com/",
            "not a url",
            "http://intranet/x.iso",
        ] {
            assert!(verdict(&guard, url).await.is_err(), "{url} was accepted");
        }
        for url in [
            "http://releases.ubuntu.com/x.iso",
            "https://8.8.8.8/x.iso",
            "http://[2606:4700::1111]/x.iso",
            "http://releases.example.com/x.iso",
        ] {
            verdict(&guard, url).await.unwrap();
        }
    }

    #[tokio::test]
    async fn resolved_names_are_checked_and_unresolvable_ones_fail_closed() {
        let guard = ImportGuard::new(&["mirror.corp".into(), ".lan.corp".into()], "strict");
        guard.set_resolver(Arc::new(StaticResolver(vec![
            (
                "public.test-cdn.org".into(),
                vec!["93.184.216.34".parse().unwrap()],
            ),
            (
                "rebind.attacker.org".into(),
                vec![
                    "93.184.216.34".parse().unwrap(),
                    "10.0.0.7".parse().unwrap(),
                ],
            ),
        ])));
        verdict(&guard, "http://public.test-cdn.org/x.iso")
            .await
            .unwrap();
        let e = verdict(&guard, "http://rebind.attacker.org/x.iso")
            .await
            .unwrap_err();
        assert!(e.contains("private"), "{e}");
        let e = verdict(&guard, "http://nowhere.invalid-tld.org/x.iso")
            .await
            .unwrap_err();
        assert!(e.contains("does not resolve"), "{e}");
        // Allow-listed private mirrors pass without any check.
        verdict(&guard, "http://mirror.corp/x.iso").await.unwrap();
        verdict(&guard, "http://a.lan.corp/x.iso").await.unwrap();
        // Documentation names pass without a lookup.
        verdict(&guard, "http://releases.example.com/x.iso")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn schemes_follow_the_provider_and_errors_never_echo_the_url() {
        let guard = ImportGuard::new(&[], "skip");
        // As the CloudMC and action adapters declare them (their own tests pin that).
        let cloudmc = default_schemes(&Capability {
            import_schemes: &["http"],
            ..Default::default()
        });
        assert!(
            guard
                .check("https://releases.ubuntu.com/x.iso", &cloudmc)
                .await
                .is_err()
        );
        guard
            .check("http://releases.ubuntu.com/x.iso", &cloudmc)
            .await
            .unwrap();
        let action = default_schemes(&Capability {
            import_schemes: &["https"],
            ..Default::default()
        });
        assert!(
            guard
                .check("http://releases.ubuntu.com/x.iso", &action)
                .await
                .is_err()
        );
        let e = guard
            .check("http://admin:SENTINEL@releases.ubuntu.com/x.iso", &cloudmc)
            .await
            .unwrap_err();
        assert!(!e.to_string().contains("SENTINEL"));
        assert_eq!(e.code(), "import_url_rejected");
        assert_eq!(e.kind(), isogate_core::ErrorKind::InvalidInput);
    }
}
