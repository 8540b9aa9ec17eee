//! Configuration of one action-module provider instance.
//!
//! Upstream behaviour followed (source: hostkey-cloud/terraform-provider-hostkey
//! `internal/invapi`), one line each at the field it shapes.

use isogate_core::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Where the listing comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListSource {
    /// `list_iso` for `server_id`: the images that can be mounted (ready ones).
    ListIso,
    /// `uploaded`: the account's own images, in every status.
    Uploaded,
    /// Both, merged by id (the default: ready catalogue plus own uploads in progress).
    #[default]
    Both,
}

impl ListSource {
    pub(crate) fn list_iso(self) -> bool {
        matches!(self, ListSource::ListIso | ListSource::Both)
    }
    pub(crate) fn uploaded(self) -> bool {
        matches!(self, ListSource::Uploaded | ListSource::Both)
    }
}

/// `[providers.<name>]` for `kind = "action"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// Where `auth.php`, `<module>.php` and `eq_callback.php` live. Upstream
    /// (`auth.go`): later calls move to the `invapi` host a login answer names.
    pub base_url: String,
    /// The API key exchanged for a token at `auth.php` (only ever sent here).
    pub api_key: SecretString,
    /// The token lifetime asked for at login (`ttl`). Upstream (`auth.go`
    /// `NewTokenManager`): sent on every login, 3600 s by default.
    #[serde(default = "default_token_ttl_s")]
    pub token_ttl_s: u64,
    /// The module script name without `.php` (older deployments differ;
    /// upstream `client.go` `moduleURL`: `{base}{module}.php`).
    #[serde(default = "default_module")]
    pub module: String,
    /// The server whose `list_iso` is listed (required for client keys).
    #[serde(default)]
    pub server_id: Option<String>,
    /// Which listing actions make up the catalogue.
    #[serde(default)]
    pub list_source: ListSource,
    /// Customer email: `params[email]` of `upload`/`uploaded` for staff keys,
    /// and the owner (`params[private]`) of images registered with `add`.
    #[serde(default)]
    pub email: Option<String>,
    /// Customer id: `params[customer_id]` of `upload` for staff keys.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// The key is an administrator's: import registers with `add`, and the
    /// staff-only parameters are sent.
    #[serde(default)]
    pub admin: bool,
    /// Whole-request timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// TCP connect timeout.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn default_token_ttl_s() -> u64 {
    3600
}
fn default_module() -> String {
    "iso".to_owned()
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_connect_timeout_ms() -> u64 {
    3_000
}

impl ActionConfig {
    /// A config with defaults for everything but the URL and key.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        ActionConfig {
            base_url: base_url.into(),
            api_key: SecretString::from(api_key.into()),
            token_ttl_s: default_token_ttl_s(),
            module: default_module(),
            server_id: None,
            list_source: ListSource::default(),
            email: None,
            customer_id: None,
            admin: false,
            timeout_ms: default_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
        }
    }

    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: &str| Err(Error::config(format!("{field}: {why}")));
        match url::Url::parse(&self.base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if !u.username().is_empty() || u.password().is_some() {
                    return bad("base_url", "must not carry credentials (use api_key)");
                }
            }
            _ => return bad("base_url", "must be an absolute http(s) URL"),
        }
        if self.api_key.expose_secret().trim().is_empty() {
            return bad("api_key", "must not be empty");
        }
        if self.module.is_empty()
            || !self
                .module
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return bad(
                "module",
                "must be a script name like 'iso' (letters, digits, _ or -)",
            );
        }
        if let Some(id) = &self.server_id
            && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            return bad("server_id", "must be a numeric server id");
        }
        if self.list_source.list_iso() && self.server_id.is_none() && !self.admin {
            return bad("server_id", "is required for list_iso with a client key");
        }
        if let Some(e) = &self.email
            && !e.contains('@')
        {
            return bad("email", "must be an email address");
        }
        if self.list_source.uploaded() && self.admin && self.email.is_none() {
            return bad(
                "email",
                "is required for uploaded with an administrator key",
            );
        }
        if let Some(c) = &self.customer_id
            && (c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()))
        {
            return bad("customer_id", "must be a numeric customer id");
        }
        if !(60..=30 * 86_400).contains(&self.token_ttl_s) {
            return bad("token_ttl_s", "must be between 60 and 2592000 seconds");
        }
        if self.timeout_ms == 0 {
            return bad("timeout_ms", "must be greater than 0");
        }
        if self.connect_timeout_ms == 0 {
            return bad("connect_timeout_ms", "must be greater than 0");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ActionConfig {
        let mut c = ActionConfig::new("https://invapi.example", "k");
        c.server_id = Some("456".into());
        c
    }

    #[test]
    fn errors_name_the_field() {
        type Change = Box<dyn Fn(&mut ActionConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("base_url", Box::new(|c| c.base_url = "ftp://x".into())),
            (
                "base_url",
                Box::new(|c| c.base_url = "https://u:p@x".into()),
            ),
            ("api_key", Box::new(|c| c.api_key = SecretString::from(" "))),
            ("module", Box::new(|c| c.module = "../x".into())),
            ("server_id", Box::new(|c| c.server_id = Some("abc".into()))),
            ("server_id", Box::new(|c| c.server_id = None)),
            ("email", Box::new(|c| c.email = Some("nope".into()))),
            ("email", Box::new(|c| c.admin = true)),
            (
                "customer_id",
                Box::new(|c| c.customer_id = Some("x1".into())),
            ),
            ("token_ttl_s", Box::new(|c| c.token_ttl_s = 0)),
            ("timeout_ms", Box::new(|c| c.timeout_ms = 0)),
            ("connect_timeout_ms", Box::new(|c| c.connect_timeout_ms = 0)),
        ];
        assert!(base().validate().is_ok());
        for (field, change) in cases {
            let mut c = base();
            change(&mut c);
            let e = c.validate().unwrap_err();
            assert!(e.message().starts_with(field), "{field}: {}", e.message());
        }
    }

    #[test]
    fn deserialises_with_defaults_and_rejects_unknown_fields() {
        let c: ActionConfig = serde_json::from_value(serde_json::json!({
            "base_url": "https://invapi.example", "api_key": "s3cret", "server_id": "456"
        }))
        .unwrap();
        assert_eq!(c.module, "iso");
        assert_eq!(c.list_source, ListSource::Both);
        assert_eq!(c.timeout_ms, 10_000);
        assert_eq!(c.token_ttl_s, 3600);
        assert!(!format!("{c:?}").contains("s3cret"));
        let bad = serde_json::from_value::<ActionConfig>(serde_json::json!({
            "base_url": "https://x", "api_key": "k", "sever_id": "1"
        }));
        assert!(bad.unwrap_err().to_string().contains("sever_id"));
    }
}
