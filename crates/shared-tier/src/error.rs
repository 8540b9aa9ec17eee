//! The shared tier's errors: typed, cheap to match, and free of secrets.

use isogate_core::ErrorKind;

use crate::codec::CodecError;

/// Why a shared-tier call did not do its job. The gateway treats every one
/// of these as "the tier is not there right now" and carries on locally.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TierError {
    /// The configuration is wrong (no URL, unreadable `url_file`, bad prefix).
    #[error("shared tier config: {0}")]
    Config(String),
    /// The call did not finish within its timeout.
    #[error("shared tier: {op} timed out after {ms} ms")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The timeout.
        ms: u64,
    },
    /// Redis could not be reached or the connection broke.
    #[error("shared tier: {op}: redis unavailable: {message}")]
    Unavailable {
        /// The operation.
        op: &'static str,
        /// What the client said, with the URL and password scrubbed.
        message: String,
    },
    /// Redis answered with an error (script error, wrong type, OOM, ...).
    #[error("shared tier: {op}: redis error: {message}")]
    Redis {
        /// The operation.
        op: &'static str,
        /// What Redis said, scrubbed.
        message: String,
    },
    /// A stored snapshot could not be decoded.
    #[error("shared tier: snapshot of {provider}: {source}")]
    Codec {
        /// The provider whose snapshot it was.
        provider: String,
        /// Why.
        source: CodecError,
    },
}

impl TierError {
    /// The core error kind the gateway would report this as.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TierError::Config(_) => ErrorKind::ConfigInvalid,
            TierError::Timeout { .. } => ErrorKind::Timeout,
            TierError::Unavailable { .. } => ErrorKind::Unavailable,
            TierError::Redis { .. } | TierError::Codec { .. } => ErrorKind::Upstream,
        }
    }

    /// Whether the error says the connection is down (as opposed to one bad answer).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            TierError::Timeout { .. } | TierError::Unavailable { .. }
        )
    }
}

/// Scrubs the URL and its password out of client messages before they are
/// stored, logged or returned; redis-rs does not promise to leave them out.
#[derive(Clone)]
pub(crate) struct Redactor {
    needles: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor([REDACTED])")
    }
}

impl Redactor {
    pub(crate) fn new(url: &str) -> Self {
        let mut needles = vec![url.to_owned()];
        if let Ok(u) = url::Url::parse(url) {
            if let Some(p) = u.password() {
                needles.push(p.to_owned());
                if let Ok(d) = percent_encoding::percent_decode_str(p).decode_utf8() {
                    needles.push(d.into_owned());
                }
            }
            if !u.username().is_empty() && u.password().is_none() {
                // `redis://:secret@` parses with the secret as the username when
                // there is no colon; treat a lone user part as a secret too.
                needles.push(u.username().to_owned());
            }
        }
        needles.retain(|n| n.len() >= 3);
        // Longest first so the URL goes before the password inside it.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Redactor { needles }
    }

    pub(crate) fn scrub(&self, msg: &str) -> String {
        let mut out = msg.to_owned();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), "[REDACTED]");
            }
        }
        out
    }
}
