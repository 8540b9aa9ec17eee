//! The HTTP floor isogate's adapters stand on, written once: what a transport
//! failure means ([`transport_error`], [`body_error`]), how long an upstream
//! asks us to wait ([`retry_after`]), decoding a JSON answer without echoing
//! it ([`decode`]), checking a configured base URL ([`base_url`]), a token
//! cache that knows no client ([`TokenCache`]) and stamping provider and
//! operation onto an error ([`stamp`]).
//!
//! A leaf: it depends on core and reqwest only, and knows no adapter.

mod decode;
mod token;

use std::time::Duration;

use isogate_core::{Error, ErrorKind, Operation, Result};
use reqwest::header::{HeaderMap, RETRY_AFTER};

pub use decode::{decode, decode_error};
pub use token::{Fresh, Margin, Token, TokenCache};

/// Maps a failure to send a request or to read its answer's headers
/// (contract all#3): a timeout is `Timeout`, a refused, reset or closed
/// connection `Unavailable` (both retryable), an answer that started and broke
/// off `Upstream`, not retryable, as the request may have taken effect.
/// `upstream` names the service in the message ("VSS", "upstream"); the
/// URL is dropped, so no query-string secret reaches a message or log.
pub fn transport_error(upstream: &str, e: reqwest::Error) -> Error {
    let e = e.without_url();
    let err = if e.is_timeout() {
        Error::new(
            ErrorKind::Timeout,
            format!("{upstream} did not answer within the timeout"),
        )
    } else if e.is_connect() {
        Error::new(
            ErrorKind::Unavailable,
            format!("could not connect to {upstream}"),
        )
    } else if e.is_body() || e.is_decode() {
        Error::upstream(format!(
            "the answer from {upstream} was cut off or undecodable"
        ))
        .with_retryable(false)
    } else {
        Error::new(
            ErrorKind::Unavailable,
            format!("the connection to {upstream} failed before an answer arrived"),
        )
    };
    err.with_source(e)
}

/// Maps a failure to read a body whose headers arrived: a timeout is
/// `Timeout`, anything else a cut answer (`Upstream`, not retryable: the
/// request reached the upstream).
pub fn body_error(upstream: &str, e: reqwest::Error) -> Error {
    let e = e.without_url();
    let err = if e.is_timeout() {
        Error::new(
            ErrorKind::Timeout,
            format!("{upstream} did not finish its answer within the timeout"),
        )
    } else {
        Error::upstream(format!("the answer from {upstream} was cut off")).with_retryable(false)
    };
    err.with_source(e)
}

/// The `Retry-After` of an answer (RFC 9110 §10.2.3): delay-seconds or an
/// HTTP date; `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?)
}

/// One `Retry-After` value: delay-seconds, or an HTTP date (a date in the
/// past is no wait).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // IMF-fixdate is RFC 2822-shaped; chrono also takes the obsolete forms'
    // RFC 2822 subset, and nothing that is not a date.
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs.unsigned_abs()))
}

/// Checks a configured base URL: absolute http(s) with a host, no
/// credentials, no query or fragment. The error names `field` (and never
/// echoes the value, which may carry a password).
pub fn base_url(field: &str, value: &str) -> Result<url::Url> {
    let bad = |why: &str| Error::config(format!("field `{field}`: {why}"));
    let url = url::Url::parse(value).map_err(|_| bad("is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(bad("must be an http or https URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    Ok(url)
}

/// Names `provider` and `operation` on an error that names none yet; the one
/// place adapters stamp their errors (`.map_err(stamp(name, op))`).
pub fn stamp(provider: &str, operation: Operation) -> impl Fn(Error) -> Error + '_ {
    move |e| e.or_provider(provider).or_operation(operation.method())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_takes_seconds_and_dates_and_ignores_garbage() {
        let in_a_minute = (chrono::Utc::now() + chrono::Duration::seconds(60))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let cases: &[(&str, Option<(u64, u64)>)] = &[
            ("7", Some((7, 7))),
            (" 0 ", Some((0, 0))),
            ("120", Some((120, 120))),
            // A date in the past: no wait.
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some((0, 0))),
            (&in_a_minute, Some((58, 60))),
            ("soon", None),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("99999999999999999999999", None),
            ("Wed, 32 Oct 2015 07:28:00 GMT", None),
        ];
        for (value, want) in cases {
            let got = parse_retry_after(value);
            match want {
                None => assert_eq!(got, None, "{value:?}"),
                Some((lo, hi)) => {
                    let s = got.unwrap_or_else(|| panic!("{value:?}: None")).as_secs();
                    assert!((*lo..=*hi).contains(&s), "{value:?}: {s}");
                }
            }
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(RETRY_AFTER, v);
                assert_eq!(retry_after(&h).is_some(), want.is_some(), "{value:?}");
            }
        }
        assert_eq!(retry_after(&HeaderMap::new()), None);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_bytes(b"\xff7").unwrap());
        assert_eq!(retry_after(&h), None, "not visible ASCII");
    }

    #[test]
    fn base_urls_are_http_with_a_host_and_nothing_secret() {
        for ok in ["https://portal.example/api/v2", "http://127.0.0.1:8080/"] {
            assert_eq!(
                base_url("base_url", ok)
                    .unwrap()
                    .as_str()
                    .trim_end_matches('/'),
                ok.trim_end_matches('/')
            );
        }
        for (bad, why) in [
            ("not a url", "absolute"),
            ("ftp://x/y", "http or https"),
            ("file:///etc", "http or https"),
            ("https://user:SENTINEL@x/y", "credentials"),
            ("https://x/y?k=v", "query"),
            ("https://x/y#f", "fragment"),
        ] {
            let e = base_url("base_url", bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{bad}");
            assert!(e.message().starts_with("field `base_url`"), "{e}");
            assert!(e.message().contains(why), "{bad}: {e}");
            assert!(!e.message().contains("SENTINEL"));
        }
    }

    #[test]
    fn stamp_names_provider_and_operation_once() {
        let e = stamp("p", Operation::Task)(Error::upstream("x"));
        assert_eq!((e.provider(), e.operation()), (Some("p"), Some("task")));
        let inner = Error::upstream("x")
            .with_provider("q")
            .with_operation("get");
        let e = stamp("p", Operation::List)(inner);
        assert_eq!((e.provider(), e.operation()), (Some("q"), Some("get")));
    }

    #[tokio::test]
    async fn transport_failures_map_to_kinds_without_the_url() {
        // A port nothing listens on: refused.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = reqwest::Client::new();
        let e = client
            .get(format!("http://127.0.0.1:{port}/x?token=SENTINEL"))
            .send()
            .await
            .unwrap_err();
        let e = transport_error("VSS", e);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.retryable());
        assert_eq!(e.message(), "could not connect to VSS");
        assert!(!format!("{e:?}").contains("SENTINEL"));
        // A listener that never answers: timeout.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let _hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let e = reqwest::Client::builder()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap()
            .get(format!("http://{addr}/x"))
            .send()
            .await
            .unwrap_err();
        let e = transport_error("upstream", e);
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.retryable());
    }
}
