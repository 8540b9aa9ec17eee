//! Run-time control of a simulator: injected faults and request counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use serde::{Deserialize, Serialize};

/// Faults a simulator injects. `Default` is a healthy upstream.
///
/// Errors, 429s and hangs happen *before* the handler runs (the upstream's
/// state does not change); `malformed_json` and `truncate` happen *after* it
/// (the write took effect, the answer is lost), like a connection reset after
/// the request was sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every answer, in milliseconds.
    pub latency_ms: u64,
    /// Up to this many more milliseconds, uniformly at random.
    pub jitter_ms: u64,
    /// Fraction (0.0..=1.0) of requests answered with `error_status`. The
    /// choice is a deterministic spread: of every 10 requests at 0.2, exactly 2 fail.
    pub error_rate: f64,
    /// The status of injected errors; 0 means 503.
    pub error_status: u16,
    /// Fraction of requests answered 429 with `Retry-After: retry_after_s`.
    pub rate_limit_rate: f64,
    /// The `Retry-After` of injected 429s, in seconds.
    pub retry_after_s: u64,
    /// Never answer (the client must time out).
    pub hang: bool,
    /// Replace the body by invalid JSON (status 200).
    pub malformed_json: bool,
    /// Send half of the body, then drop the connection.
    pub truncate: bool,
    /// Answer HTTP 200 with the upstream's error body, before the handler
    /// runs (CloudMC: an `errors` field means failure whatever the status).
    pub errors_in_200: bool,
    /// Only requests whose path contains this are affected.
    pub path_contains: Option<String>,
    /// Only these methods are affected (upper case); empty means all.
    pub methods: Vec<String>,
}

impl Faults {
    /// Whether the faults apply to this request at all.
    pub fn applies_to(&self, method: &str, path: &str) -> bool {
        let path_ok = self
            .path_contains
            .as_deref()
            .is_none_or(|needle| path.contains(needle));
        let method_ok =
            self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method));
        path_ok && method_ok
    }
}

/// Shared, thread-safe control state of one simulator.
#[derive(Debug, Default)]
pub struct Control {
    faults: RwLock<Faults>,
    counters: Mutex<BTreeMap<String, u64>>,
    total: AtomicU64,
    faulted: AtomicU64,
    error_seq: AtomicU64,
    limit_seq: AtomicU64,
}

impl Control {
    /// A control with the given initial faults.
    pub fn new(faults: Faults) -> Self {
        Control {
            faults: RwLock::new(faults),
            ..Default::default()
        }
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    /// Back to a healthy upstream.
    pub fn heal(&self) {
        self.set_faults(Faults::default());
    }

    /// The injected faults now.
    pub fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Adds one to the named counter (the server counts `METHOD /path` itself;
    /// simulators add their own, e.g. `action:list_iso`).
    pub fn bump(&self, key: &str) {
        *self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default() += 1;
    }

    /// The named counter.
    pub fn count(&self, key: &str) -> u64 {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    /// The sum of all counters whose key starts with `prefix`.
    pub fn count_prefix(&self, prefix: &str) -> u64 {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    }

    /// All counters.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests received (control API excluded), faulted or not.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }

    /// Requests answered with an injected fault.
    pub fn faulted(&self) -> u64 {
        self.faulted.load(Ordering::SeqCst)
    }

    /// Zeroes every counter.
    pub fn reset_counters(&self) {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.total.store(0, Ordering::SeqCst);
        self.faulted.store(0, Ordering::SeqCst);
        self.error_seq.store(0, Ordering::SeqCst);
        self.limit_seq.store(0, Ordering::SeqCst);
    }

    pub(crate) fn record(&self, key: &str) {
        self.total.fetch_add(1, Ordering::SeqCst);
        self.bump(key);
    }

    pub(crate) fn record_fault(&self) {
        self.faulted.fetch_add(1, Ordering::SeqCst);
    }

    /// Deterministic spread: request n fails when floor((n+1)r) > floor(nr).
    pub(crate) fn roll_error(&self, rate: f64) -> bool {
        roll(&self.error_seq, rate)
    }

    pub(crate) fn roll_limit(&self, rate: f64) -> bool {
        roll(&self.limit_seq, rate)
    }
}

fn roll(seq: &AtomicU64, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    if rate >= 1.0 {
        return true;
    }
    let n = seq.fetch_add(1, Ordering::SeqCst) as f64;
    ((n + 1.0) * rate).floor() > (n * rate).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_an_exact_deterministic_spread() {
        let c = Control::default();
        let fails = (0..100).filter(|_| c.roll_error(0.2)).count();
        assert_eq!(fails, 20);
        assert!(!(0..10).any(|_| c.roll_error(0.0)));
        assert!((0..10).all(|_| c.roll_error(1.0)));
    }

    #[test]
    fn faults_scope_by_path_and_method() {
        let f = Faults {
            path_contains: Some("/isos".into()),
            methods: vec!["POST".into()],
            ..Default::default()
        };
        assert!(f.applies_to("post", "/api/v2/services/x/y/isos"));
        assert!(!f.applies_to("GET", "/api/v2/services/x/y/isos"));
        assert!(!f.applies_to("POST", "/tasks/1"));
        assert!(Faults::default().applies_to("GET", "/anything"));
    }
}
