//! Configuration: built-in defaults, then the file named by `--config` /
//! `ISOGATE_CONFIG`, then `ISOGATE_...` environment variables with `__` as
//! separator. The embedded demo (`config/isogate.toml`, simulated providers)
//! is the bottom layer only when nothing configures providers (no file, no
//! `ISOGATE_PROVIDERS__...`) or when `--demo` asks for it: fake rows must never
//! mix into a real inventory. A provider secret can also be given as
//! `<key>_file`, a path whose contents (trimmed) become `<key>`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use isogate_core::ProviderKind;
use serde::Deserialize;

pub mod auth;
pub mod feed;
pub use feed::FeedConfig;

/// The demo configuration, compiled in so `cargo run` works from anywhere.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../../../config/isogate.toml");

/// How the embedded demo layer is named in origins and error messages.
pub const DEMO_ORIGIN: &str = "embedded demo (config/isogate.toml)";

/// The environment prefix; `ISOGATE_CONFIG` and `ISOGATE_LOG` are not keys.
const ENV_PREFIX: &str = "ISOGATE_";

/// The whole configuration. `Debug` shows provider tables by key only: they
/// hold upstream credentials in clear.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener, limits, CORS.
    #[serde(default)]
    pub server: ServerConfig,
    /// Listing cache windows.
    #[serde(default)]
    pub cache: CacheConfig,
    /// In-process simulators (the demo default).
    #[serde(default)]
    pub simulators: SimulatorsConfig,
    /// Gateway API keys and per-key rate limits.
    #[serde(default)]
    pub auth: crate::config::auth::AuthConfig,
    /// The change feed (`GET /v1/events`).
    #[serde(default)]
    pub feed: FeedConfig,
    /// Signed webhook receivers of the change feed.
    #[serde(default)]
    pub webhooks: Vec<isogate_feed::WebhookConfig>,
    /// Provider instances by name, as raw tables; see [`ProviderEntry`].
    #[serde(default)]
    pub providers: BTreeMap<String, serde_json::Value>,
}

/// Listener and HTTP limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Whole-request deadline, answered 504.
    ///
    /// The four timeouts, innermost first, and how they relate (the one place
    /// this is written down):
    /// 1. an adapter's own `timeout_ms` (`[providers.X] timeout_ms`, per HTTP
    ///    call to the upstream, connect included);
    /// 2. `[providers.X.resilience] timeout_ms` (20 s): per attempt of one
    ///    provider operation, which may be several HTTP calls (paging); retries
    ///    multiply it;
    /// 3. `[providers.X] deadline_ms` (5 s): how long a federated listing
    ///    waits for that provider before answering with its stale snapshot
    ///    or a `timeout` source; the load itself goes on (2 bounds it) and
    ///    lands in the cache for the next request;
    /// 4. this one (30 s): the whole request, any route, answered 504.
    ///
    /// So a listing answers within the largest `deadline_ms` (3 < 4 keeps a
    /// slow provider a partial answer, not a 504), while writes and item
    /// reads, which have no deadline of their own, are bounded by 2 × retries
    /// and finally by 4.
    pub request_timeout_ms: u64,
    /// Largest request body, answered 413.
    pub max_body_bytes: usize,
    /// Largest `per_page`.
    pub max_per_page: u32,
    /// Most filters in one query.
    pub max_filters: usize,
    /// Origins allowed by CORS (`*` for any); empty disables CORS.
    pub cors_origins: Vec<String>,
    /// gzip/br for large answers.
    pub compression: bool,
    /// Answer stored listings before the middleware stack (the hot lane);
    /// off, every request takes the whole stack (for measuring what it saves).
    pub hot_lane: bool,
    /// Key for cursor HMACs; random per start when absent (cursors then die with a restart).
    pub cursor_key: Option<String>,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Largest total size of request headers (names and values), answered 431.
    pub max_header_bytes: usize,
    /// Import URL hosts allowed even though they are private (mirrors);
    /// exact names, or `.suffix` for every name under it.
    pub import_host_allow: Vec<String>,
    /// `strict`: import URL host names are resolved and every address checked
    /// (a name that does not resolve is rejected); `skip`: names are checked
    /// by spelling only (offline demos and tests).
    pub import_dns: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_ms: 30_000,
            max_body_bytes: 64 * 1024,
            max_per_page: 1000,
            max_filters: 32,
            cors_origins: Vec::new(),
            compression: true,
            hot_lane: true,
            cursor_key: None,
            log_format: "text".into(),
            max_header_bytes: 16 * 1024,
            import_host_allow: Vec::new(),
            import_dns: "strict".into(),
        }
    }
}

/// Cache windows (DESIGN.md "Cache").
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// A snapshot younger than this is served as is.
    pub fresh_ttl_s: u64,
    /// Up to this age a snapshot is served while one background refresh runs.
    pub stale_ttl_s: u64,
    /// Up to this age a snapshot is served while its provider fails.
    pub stale_if_error_s: u64,
    /// `refresh=true` fetches at most once per this many seconds per provider.
    pub refresh_min_interval_s: u64,
    /// Bytes of rendered listing bodies kept for repeated queries (half for
    /// rendered pages, half for whole hot answers); a bound in bytes, since
    /// one 1,000-item page weighs as much as twenty 50-item ones.
    pub rendered_max_bytes: u64,
    /// `[cache.shared]`: the Redis tier several replicas share (issue 17); off when absent.
    pub shared: Option<isogate_shared_tier::SharedTierConfig>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            fresh_ttl_s: 30,
            stale_ttl_s: 300,
            stale_if_error_s: 3600,
            refresh_min_interval_s: 5,
            rendered_max_bytes: 64 * 1024 * 1024,
            shared: None,
        }
    }
}

/// The embedded simulators: base URLs written `sim:<name>` point at them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorsConfig {
    /// Start them at all (only when some provider uses `sim:`).
    pub enabled: bool,
    /// Catalogue seed.
    pub seed: u64,
    /// Catalogue size override (benchmarks).
    pub scale: Option<usize>,
}

impl Default for SimulatorsConfig {
    fn default() -> Self {
        SimulatorsConfig {
            enabled: true,
            seed: 42,
            scale: None,
        }
    }
}

/// One provider instance: gateway-side settings plus the adapter's own table.
/// `Debug` names the adapter settings' keys, never their values (secrets).
#[derive(Clone)]
pub struct ProviderEntry {
    /// The configured name.
    pub name: String,
    /// Which adapter.
    pub kind: ProviderKind,
    /// How long a federated listing waits for this provider.
    pub deadline_ms: u64,
    /// Timeout, concurrency, retries and breaker around the adapter.
    pub resilience: isogate_resilience::Resilience,
    /// URL schemes an import may use; `None` means the kind's default.
    pub import_schemes: Option<Vec<String>>,
    /// Seconds between background polls for the change feed; `None`: the
    /// default when the feed or a webhook is on; `Some(0)`: never.
    pub poll_interval_s: Option<u64>,
    /// Everything else, handed to the adapter's config (secrets from `*_file` resolved).
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The layers its keys came from (`check-config` prints it), e.g.
    /// `/etc/isogate.toml + env ISOGATE_PROVIDERS__VSS_PROD__*`.
    pub origin: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let providers: BTreeMap<&str, Vec<&str>> = self
            .providers
            .iter()
            .map(|(name, v)| {
                let keys = v
                    .as_object()
                    .map(|t| t.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                (name.as_str(), keys)
            })
            .collect();
        f.debug_struct("Config")
            .field("server", &self.server)
            .field("cache", &self.cache)
            .field("simulators", &self.simulators)
            .field("auth", &self.auth)
            .field("feed", &self.feed)
            .field("webhooks", &self.webhooks.len())
            .field("providers", &providers)
            .finish()
    }
}

impl std::fmt::Debug for ProviderEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderEntry")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("deadline_ms", &self.deadline_ms)
            .field("resilience", &self.resilience)
            .field("import_schemes", &self.import_schemes)
            .field("poll_interval_s", &self.poll_interval_s)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .field("origin", &self.origin)
            .finish()
    }
}

/// A configuration error: one line naming the key and where it came from.
#[derive(Debug, thiserror::Error)]
#[error("config error: {0}")]
pub struct ConfigError(pub String);

/// Where the layers come from.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// `--config` / `ISOGATE_CONFIG`.
    pub file: Option<PathBuf>,
    /// Read `ISOGATE_...` variables (off in tests for isolation).
    pub env: bool,
    /// `--demo`: the embedded demo under the file and env layers even when
    /// they configure providers (the demo with API keys added, say).
    pub demo: bool,
}

/// The one-line answer to a configuration that serves nothing.
pub const NO_PROVIDERS: &str = "no providers configured: add one to the --config file \
     ([providers.<name>] kind = \"cloudmc\" | \"cox\" | \"vss\" | \"action\", plus its base_url and credentials) \
     or as ISOGATE_PROVIDERS__<NAME>__KIND=... variables; or run the simulated demo with --demo";

impl Sources {
    /// Whether the embedded demo is layered in: asked for, or nothing else
    /// configures providers. Other `ISOGATE_` variables (a listen address, a
    /// log format) configure the gateway, not its providers, so the demo
    /// still applies under them.
    pub fn uses_demo(&self) -> bool {
        self.demo
            || (self.file.is_none()
                && !(self.env
                    && env_configures_providers(
                        std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned()),
                    )))
    }
}

/// Whether any of these variable names is an `ISOGATE_PROVIDERS__...` key
/// (names are case-insensitive, as the env layer reads them).
pub fn env_configures_providers(names: impl IntoIterator<Item = String>) -> bool {
    names.into_iter().any(|name| {
        name.to_ascii_uppercase()
            .strip_prefix(ENV_PREFIX)
            .is_some_and(|rest| rest.starts_with("PROVIDERS__"))
    })
}

/// The embedded demo as a figment layer, named so origins say "embedded demo".
struct DemoLayer;

impl Provider for DemoLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(DEMO_ORIGIN)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Toml::string(EMBEDDED_DEFAULT).data()
    }
}

impl Config {
    /// Loads and validates every layer; a configuration with no providers is
    /// an error ([`NO_PROVIDERS`]), since serving nothing is never meant.
    pub fn load(sources: &Sources) -> Result<(Config, Vec<ProviderEntry>), ConfigError> {
        let figment = Self::figment(sources)?;
        let config: Config = figment.extract().map_err(|e| describe(&figment, e))?;
        let entries = config.provider_entries(&figment)?;
        config.validate_gateway()?;
        if entries.is_empty() {
            return Err(ConfigError(NO_PROVIDERS.into()));
        }
        Ok((config, entries))
    }

    /// Parses a TOML string alone (tests).
    pub fn from_toml(toml: &str) -> Result<(Config, Vec<ProviderEntry>), ConfigError> {
        let figment = Figment::new().merge(Toml::string(toml));
        let config: Config = figment.extract().map_err(|e| describe(&figment, e))?;
        let entries = config.provider_entries(&figment)?;
        config.validate_gateway()?;
        Ok((config, entries))
    }

    /// Checks the gateway's own sections (auth keys, import guard).
    fn validate_gateway(&self) -> Result<(), ConfigError> {
        self.auth
            .validate()
            .map_err(|e| ConfigError(format!("auth{e}")))?;
        if self.cache.shared.as_ref().is_some_and(|s| s.enabled())
            && self.server.cursor_key.is_none()
        {
            // Replicas behind one balancer must all read each other's cursors.
            return Err(ConfigError(
                "server.cursor_key is required with [cache.shared] (every replica signs cursors with it)".into(),
            ));
        }
        self.feed.validate(&self.webhooks)?;
        if !matches!(self.server.import_dns.as_str(), "strict" | "skip") {
            return Err(ConfigError(
                "server.import_dns: expected 'strict' or 'skip'".into(),
            ));
        }
        Ok(())
    }

    /// Only the `[auth]` section of the same sources (SIGHUP key reload).
    pub fn load_auth(sources: &Sources) -> Result<crate::config::auth::AuthConfig, ConfigError> {
        let figment = Self::figment(sources)?;
        let auth: crate::config::auth::AuthConfig = figment.extract_inner("auth").or_else(|e| {
            if e.missing() {
                Ok(crate::config::auth::AuthConfig::default())
            } else {
                Err(describe(&figment, e))
            }
        })?;
        auth.validate()
            .map_err(|e| ConfigError(format!("auth{e}")))?;
        Ok(auth)
    }

    fn figment(sources: &Sources) -> Result<Figment, ConfigError> {
        let mut figment = Figment::new();
        if sources.uses_demo() {
            figment = figment.merge(DemoLayer);
        }
        if let Some(path) = &sources.file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        if sources.env {
            // Env names can't hold '-', so ISOGATE_PROVIDERS__VSS_PROD__X
            // must find the provider written `vss-prod` in a file.
            let names: Vec<String> = figment
                .extract_inner::<BTreeMap<String, serde_json::Value>>("providers")
                .map(|m| m.into_keys().collect())
                .unwrap_or_default();
            figment = figment.merge(
                Env::prefixed(ENV_PREFIX)
                    .split("__")
                    .ignore(&["CONFIG", "LOG"])
                    .map(move |key| map_env_key(key.as_str(), &names).into()),
            );
        }
        Ok(figment)
    }

    fn provider_entries(&self, figment: &Figment) -> Result<Vec<ProviderEntry>, ConfigError> {
        let mut out = Vec::new();
        for (name, value) in &self.providers {
            let origin = origin_of(figment, &format!("providers.{name}"));
            let layers = layers_of(figment, name, value);
            let fail = |msg: String| ConfigError(format!("providers.{name}{msg} ({origin})"));
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(fail(
                    ": provider names may hold only letters, digits, '-' and '_'".into(),
                ));
            }
            let serde_json::Value::Object(table) = value else {
                return Err(fail(": expected a table".into()));
            };
            let mut settings = table.clone();
            let kind = match settings.remove("kind") {
                Some(serde_json::Value::String(k)) => match k.as_str() {
                    "cloudmc" => ProviderKind::Cloudmc,
                    "vss" => ProviderKind::Vss,
                    "action" => ProviderKind::Action,
                    "cox" => ProviderKind::Cox,
                    other => {
                        return Err(fail(format!(
                            ".kind: unknown kind '{other}', expected cloudmc, vss, action or cox"
                        )));
                    }
                },
                _ => return Err(fail(".kind: missing (cloudmc, vss, action or cox)".into())),
            };
            let deadline_ms = match settings.remove("deadline_ms") {
                None => 5_000,
                Some(v) => v
                    .as_u64()
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| fail(".deadline_ms: expected a positive integer".into()))?,
            };
            let resilience = match settings.remove("resilience") {
                None => isogate_resilience::Resilience::default(),
                Some(v) => serde_json::from_value::<isogate_resilience::Resilience>(v)
                    .map_err(|e| fail(format!(".resilience: {e}")))?
                    .validated()
                    .map_err(|e| fail(format!(".resilience.{e}")))?,
            };
            let import_schemes = match settings.remove("import_schemes") {
                None => None,
                Some(v) => Some(
                    serde_json::from_value::<Vec<String>>(v)
                        .ok()
                        .filter(|s| {
                            s.iter()
                                .all(|x| matches!(x.as_str(), "http" | "https" | "ftp"))
                        })
                        .ok_or_else(|| {
                            fail(".import_schemes: expected a list of http, https, ftp".into())
                        })?,
                ),
            };
            let poll_interval_s = match settings.remove("poll_interval_s") {
                None => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| {
                    fail(".poll_interval_s: expected a whole number of seconds (0 = off)".into())
                })?),
            };
            resolve_secret_files(&mut settings)
                .map_err(|(key, msg)| fail(format!(".{key}: {msg}")))?;
            out.push(ProviderEntry {
                name: name.clone(),
                kind,
                deadline_ms,
                resilience,
                import_schemes,
                poll_interval_s,
                settings,
                origin: layers,
            });
        }
        Ok(out)
    }
}

fn map_env_key(key: &str, provider_names: &[String]) -> String {
    let lower = key.to_ascii_lowercase();
    let mut parts: Vec<String> = lower.split('.').map(str::to_owned).collect();
    if parts.len() >= 2
        && parts[0] == "providers"
        && let Some(found) = provider_names
            .iter()
            .find(|n| n.replace('-', "_").eq_ignore_ascii_case(&parts[1]))
    {
        parts[1] = found.clone();
    }
    parts.join(".")
}

fn resolve_secret_files(
    settings: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), (String, String)> {
    let file_keys: Vec<String> = settings
        .keys()
        .filter(|k| k.ends_with("_file"))
        .cloned()
        .collect();
    for key in file_keys {
        let target = key.trim_end_matches("_file").to_owned();
        let Some(serde_json::Value::String(path)) = settings.remove(&key) else {
            return Err((key, "expected a file path".into()));
        };
        // The error names the path, never the contents.
        let contents = std::fs::read_to_string(Path::new(&path))
            .map_err(|e| (key.clone(), format!("cannot read {path}: {}", e.kind())))?;
        settings.insert(
            target,
            serde_json::Value::String(contents.trim().to_owned()),
        );
    }
    Ok(())
}

fn origin_of(figment: &Figment, key: &str) -> String {
    figment
        .find_metadata(key)
        .map(|m| {
            m.source
                .as_ref()
                .map(|s| format!("from {} {s}", m.name))
                .unwrap_or_else(|| format!("from {}", m.name))
        })
        .unwrap_or_else(|| "from defaults".into())
}

/// The layers that set a provider's keys, in merge order, e.g.
/// `/etc/isogate.toml + env ISOGATE_PROVIDERS__VSS_PROD__*`.
fn layers_of(figment: &Figment, name: &str, value: &serde_json::Value) -> String {
    let mut leaves = Vec::new();
    leaf_paths(&format!("providers.{name}"), value, &mut leaves);
    let mut layers: Vec<(usize, String)> = Vec::new();
    for path in leaves {
        let Some(meta) = figment.find_metadata(&path) else {
            continue;
        };
        let (rank, label) = if meta.name == DEMO_ORIGIN {
            (0, "embedded demo".to_owned())
        } else if let Some(figment::Source::File(file)) = &meta.source {
            (1, file.display().to_string())
        } else if meta.name.contains("environment") {
            let var = name.replace('-', "_").to_ascii_uppercase();
            (2, format!("env {ENV_PREFIX}PROVIDERS__{var}__*"))
        } else {
            (3, meta.name.to_string())
        };
        if !layers.iter().any(|(_, l)| *l == label) {
            layers.push((rank, label));
        }
    }
    layers.sort();
    let labels: Vec<String> = layers.into_iter().map(|(_, l)| l).collect();
    if labels.is_empty() {
        "defaults".into()
    } else {
        labels.join(" + ")
    }
}

fn leaf_paths(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(table) if !table.is_empty() => {
            for (key, v) in table {
                leaf_paths(&format!("{prefix}.{key}"), v, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

fn describe(figment: &Figment, e: figment::Error) -> ConfigError {
    let e = e.into_iter().next().map(|e| {
        let path = e.path.join(".");
        let origin = if path.is_empty() {
            String::new()
        } else {
            format!(" ({})", origin_of(figment, &path))
        };
        let key = if path.is_empty() {
            "<root>".into()
        } else {
            path
        };
        format!("{key}: {}{origin}", without_value(&e.kind.to_string()))
    });
    ConfigError(e.unwrap_or_else(|| "unknown error".into()))
}

/// Turns an adapter config error (serde) into one line naming the key.
pub fn adapter_config_error(entry: &ProviderEntry, e: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!(
        "providers.{}: {}",
        entry.name,
        without_value(&e.to_string())
    ))
}

/// serde and figment quote the offending value in type and value errors
/// ("invalid type: integer `12345`, expected a string"); an API key typed
/// without quotes would reach stderr. Keep the shape, drop the value.
fn without_value(message: &str) -> String {
    for prefix in ["invalid type", "invalid value"] {
        if message.starts_with(prefix)
            && let Some(at) = message.find(", expected")
        {
            return format!("{prefix}{}", &message[at..]);
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_kinds_are_named() {
        let e = Config::from_toml("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n").unwrap_err();
        assert!(e.0.contains("lisen"), "{e}");
        let e = Config::from_toml("[providers.a]\nkind = \"ftp\"\n").unwrap_err();
        assert!(
            e.0.contains("providers.a.kind") && e.0.contains("ftp"),
            "{e}"
        );
        let e = Config::from_toml("[providers.a]\nbase_url = \"x\"\n").unwrap_err();
        assert!(e.0.contains("providers.a.kind"), "{e}");
        let e = Config::from_toml("[providers.\"a b\"]\nkind = \"vss\"\n").unwrap_err();
        assert!(e.0.contains("providers.a b"), "{e}");
    }

    #[test]
    fn secret_files_are_read_and_trimmed_and_errors_name_the_key() {
        let dir = std::env::temp_dir().join(format!("isogate-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, "s3cret\n").unwrap();
        let toml = format!(
            "[providers.a]\nkind = \"cloudmc\"\napi_key_file = \"{}\"\ndeadline_ms = 250\n",
            path.display()
        );
        let (_, entries) = Config::from_toml(&toml).unwrap();
        assert_eq!(entries[0].settings["api_key"], "s3cret");
        assert_eq!(entries[0].deadline_ms, 250);
        assert!(!entries[0].settings.contains_key("api_key_file"));
        let e = Config::from_toml(
            "[providers.a]\nkind = \"vss\"\npassword_file = \"/nonexistent/x\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("providers.a.password_file"), "{e}");
    }

    #[test]
    fn type_errors_never_echo_the_value() {
        let e = Config::from_toml("[server]\nmax_per_page = \"s3cret-value\"\n").unwrap_err();
        assert!(
            e.0.contains("server.max_per_page") && e.0.contains("expected"),
            "{e}"
        );
        assert!(!e.0.contains("s3cret-value"), "{e}");
        let (_, entries) = Config::from_toml("[providers.a]\nkind = \"cloudmc\"\n").unwrap();
        let serde_error =
            serde_json::from_value::<String>(serde_json::json!(987654321)).unwrap_err();
        let e = adapter_config_error(&entries[0], serde_error);
        assert!(
            e.0.starts_with("providers.a: invalid type, expected"),
            "{e}"
        );
        assert!(!e.0.contains("987654321"), "{e}");
    }

    #[test]
    fn env_keys_find_hyphenated_provider_names() {
        let names = vec!["vss-prod".to_owned()];
        assert_eq!(
            map_env_key("PROVIDERS.VSS_PROD.PASSWORD", &names),
            "providers.vss-prod.password"
        );
        assert_eq!(map_env_key("SERVER.LISTEN", &names), "server.listen");
    }

    #[test]
    fn gateway_keys_of_a_provider_are_stripped_and_checked() {
        let toml = "[providers.a]\nkind = \"cloudmc\"\nbase_url = \"x\"\nimport_schemes = [\"https\"]\n\
                    [providers.a.resilience]\nretries = 0\nbreaker_failures = 3\n";
        let (_, entries) = Config::from_toml(toml).unwrap();
        let a = &entries[0];
        assert_eq!(a.import_schemes.as_deref(), Some(&["https".to_owned()][..]));
        assert_eq!(a.resilience.retries, 0);
        assert_eq!(a.resilience.breaker_failures, 3);
        assert_eq!(
            a.resilience.timeout_ms, 20_000,
            "unset keys keep their defaults"
        );
        assert!(
            !a.settings.contains_key("resilience") && !a.settings.contains_key("import_schemes")
        );
        let e = Config::from_toml(
            "[providers.a]\nkind = \"vss\"\n[providers.a.resilience]\nretrys = 1\n",
        )
        .unwrap_err();
        assert!(
            e.0.contains("providers.a.resilience") && e.0.contains("retrys"),
            "{e}"
        );
        let e = Config::from_toml(
            "[providers.a]\nkind = \"vss\"\n[providers.a.resilience]\ntimeout_ms = 0\n",
        )
        .unwrap_err();
        assert!(e.0.contains("providers.a.resilience.timeout_ms"), "{e}");
        let e = Config::from_toml("[providers.a]\nkind = \"vss\"\nimport_schemes = [\"gopher\"]\n")
            .unwrap_err();
        assert!(e.0.contains("providers.a.import_schemes"), "{e}");
        let e = Config::from_toml("[server]\nimport_dns = \"maybe\"\n").unwrap_err();
        assert!(e.0.contains("server.import_dns"), "{e}");
        let e = Config::from_toml("[auth]\nmode = \"keys\"\n").unwrap_err();
        assert!(e.0.contains("auth.keys"), "{e}");
    }

    fn file(name: &str, body: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("isogate-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    fn names(entries: &[ProviderEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    const ONE_VSS: &str = "[providers.vss-campus]\nkind = \"vss\"\nbase_url = \"sim:vss\"\n\
                           username = \"u\"\npassword = \"p\"\n";

    #[test]
    fn a_file_with_one_provider_yields_exactly_that_one() {
        let path = file("one.toml", ONE_VSS);
        let sources = Sources {
            file: Some(path.clone()),
            ..Sources::default()
        };
        assert!(!sources.uses_demo());
        let (config, entries) = Config::load(&sources).unwrap();
        assert_eq!(names(&entries), ["vss-campus"]);
        assert_eq!(entries[0].origin, path.display().to_string());
        // Built-in defaults, not the demo's choices, fill the rest.
        assert_eq!(config.server.import_dns, "strict");
        assert_eq!(config.server.listen, ServerConfig::default().listen);
    }

    #[test]
    fn nothing_configured_means_the_demo() {
        let sources = Sources::default();
        assert!(sources.uses_demo());
        let (config, entries) = Config::load(&sources).unwrap();
        assert_eq!(
            names(&entries),
            [
                "cloudmc-legacy",
                "coxedge-images",
                "coxedge-prod",
                "hostkey",
                "vss-prod"
            ]
        );
        assert!(entries.iter().all(|e| e.origin == "embedded demo"));
        assert_eq!(config.server.import_dns, "skip");
    }

    #[test]
    fn the_demo_flag_layers_the_file_over_the_demo() {
        let path = file(
            "over-demo.toml",
            &format!("{ONE_VSS}[providers.vss-prod]\ncatalogue = \"public\"\n"),
        );
        let sources = Sources {
            file: Some(path.clone()),
            demo: true,
            ..Sources::default()
        };
        assert!(sources.uses_demo());
        let (_, entries) = Config::load(&sources).unwrap();
        assert_eq!(entries.len(), 6, "{:?}", names(&entries));
        let vss = entries.iter().find(|e| e.name == "vss-prod").unwrap();
        assert_eq!(vss.settings["catalogue"], "public");
        assert_eq!(vss.origin, format!("embedded demo + {}", path.display()));
        let campus = entries.iter().find(|e| e.name == "vss-campus").unwrap();
        assert_eq!(campus.origin, path.display().to_string());
    }

    #[test]
    fn a_configuration_without_providers_is_refused_with_the_way_out() {
        let path = file("none.toml", "[server]\nlisten = \"127.0.0.1:0\"\n");
        let e = Config::load(&Sources {
            file: Some(path),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(!e.contains('\n'), "one line: {e}");
        for hint in [
            "no providers configured",
            "[providers.<name>] kind = ",
            "ISOGATE_PROVIDERS__<NAME>__KIND",
            "--demo",
        ] {
            assert!(e.contains(hint), "{hint} missing: {e}");
        }
    }

    #[test]
    fn only_provider_variables_turn_the_demo_off() {
        let vars = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(env_configures_providers(vars(&[
            "PATH",
            "ISOGATE_PROVIDERS__VSS__KIND"
        ])));
        assert!(env_configures_providers(vars(&[
            "isogate_providers__vss__password"
        ])));
        assert!(!env_configures_providers(vars(&[
            "ISOGATE_SERVER__LISTEN",
            "ISOGATE_LOG",
            "ISOGATE_CONFIG",
            "ISOGATE_AUTH__MODE",
            "MY_ISOGATE_PROVIDERS__X__KIND",
        ])));
    }

    #[test]
    fn built_in_defaults_match_what_the_demo_file_sets() {
        // The demo file restates the defaults; a real configuration must get
        // the same server, cache and simulator settings without it. Only
        // import_dns differs on purpose (its simulators never fetch).
        let (demo, _) = Config::from_toml(EMBEDDED_DEFAULT).unwrap();
        let mut server = demo.server.clone();
        assert_eq!(server.import_dns, "skip");
        server.import_dns = ServerConfig::default().import_dns;
        assert_eq!(
            format!("{server:?}"),
            format!("{:?}", ServerConfig::default())
        );
        assert_eq!(
            format!("{:?}", demo.cache),
            format!("{:?}", CacheConfig::default())
        );
        assert_eq!(
            format!("{:?}", demo.simulators),
            format!("{:?}", SimulatorsConfig::default())
        );
        assert_eq!(
            format!("{:?}", demo.auth),
            format!("{:?}", crate::config::auth::AuthConfig::default())
        );
    }

    #[test]
    fn the_embedded_default_parses() {
        let (config, entries) = Config::from_toml(EMBEDDED_DEFAULT).unwrap();
        assert!(config.simulators.enabled);
        assert!(entries.len() >= 5);
    }
}
