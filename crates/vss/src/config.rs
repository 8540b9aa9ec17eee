//! Configuration of a VSS ISO provider.

use std::time::Duration;

use isogate_core::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Which ISO catalogue(s) a provider lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Catalogue {
    /// `/v2/iso`: the ISOs every VSS user sees.
    Public,
    /// `/v2/user/image/iso`: the user's own ISOs (from their VSKEY-STOR space).
    Personal,
    /// Both, public first.
    #[default]
    Both,
}

/// `[providers.<name>]` of kind `vss`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VssConfig {
    /// The API origin (default `https://cloud-api.eis.utoronto.ca`; the token
    /// endpoint is `{base_url}/auth/request-token`, the API `{base_url}/v2`).
    // pyvss's and vss-cli's default `api_endpoint` is https://cloud-api.eis.utoronto.ca.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    // VSS issues tokens at POST /auth/request-token with HTTP Basic auth (pyvss get_token).
    /// The account name, for a token requested with HTTP Basic auth.
    #[serde(default)]
    pub username: Option<String>,
    /// The account password.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// A ready access token instead of username and password (not refreshed).
    #[serde(default)]
    pub token: Option<SecretString>,
    // Public `/v2/iso` and personal `/v2/user/image/iso` (pyvss get_isos / get_user_isos).
    /// `public`, `personal` or `both` (default).
    #[serde(default)]
    pub catalogue: Catalogue,
    /// Pages fetched at once after the first (default 40).
    #[serde(default = "default_page_concurrency")]
    pub page_concurrency: usize,
    /// Items per page (default and VSS maximum 250).
    #[serde(default = "default_per_page")]
    pub per_page: u32,
    /// Return what was fetched, marked incomplete, when a page fails
    /// (default false: the listing fails).
    #[serde(default)]
    pub allow_incomplete: bool,
    /// Whole-request timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Connect timeout in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

// The seed's listing parameters: `per_page` default 10, maximum 250.
/// VSS serves at most 250 items per page.
pub const MAX_PER_PAGE: u32 = 250;

// 40 pages of 250 cover 10,000 ISOs (a large VSS catalogue) in one wave
// after the first page: two round trips; at 8 it was six. Lower it for an
// upstream that throttles concurrent clients.
fn default_page_concurrency() -> usize {
    40
}
/// The endpoint VSS's own clients use by default.
pub const DEFAULT_BASE_URL: &str = "https://cloud-api.eis.utoronto.ca";

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}
fn default_per_page() -> u32 {
    MAX_PER_PAGE
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_connect_timeout_ms() -> u64 {
    3_000
}

impl Default for VssConfig {
    fn default() -> Self {
        VssConfig {
            base_url: default_base_url(),
            username: None,
            password: None,
            token: None,
            catalogue: Catalogue::default(),
            page_concurrency: default_page_concurrency(),
            per_page: default_per_page(),
            allow_incomplete: false,
            timeout_ms: default_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
        }
    }
}

fn field_error(field: &str, why: &str) -> Error {
    Error::config(format!("field `{field}`: {why}"))
}

impl VssConfig {
    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        isogate_http::base_url("base_url", &self.base_url).map_err(|e| {
            if e.message().ends_with("credentials") {
                field_error(
                    "base_url",
                    "must not carry credentials; use `username`/`password` or `token`",
                )
            } else {
                e
            }
        })?;
        let nonblank = |s: &SecretString| !s.expose_secret().trim().is_empty();
        match (&self.token, &self.username, &self.password) {
            (Some(t), None, None) if nonblank(t) => {}
            (Some(_), None, None) => return Err(field_error("token", "is empty")),
            (Some(_), _, _) => {
                return Err(field_error(
                    "token",
                    "give either `token` or `username` and `password`, not both",
                ));
            }
            (None, Some(u), Some(p)) if !u.trim().is_empty() && nonblank(p) => {}
            (None, None, _) => {
                return Err(field_error(
                    "username",
                    "is required (with `password`) unless `token` is given",
                ));
            }
            (None, Some(u), _) if u.trim().is_empty() => {
                return Err(field_error("username", "is empty"));
            }
            (None, Some(_), _) => {
                return Err(field_error(
                    "password",
                    "is required with `username` (and must not be empty)",
                ));
            }
        }
        if !(1..=64).contains(&self.page_concurrency) {
            return Err(field_error("page_concurrency", "must be between 1 and 64"));
        }
        if !(1..=MAX_PER_PAGE).contains(&self.per_page) {
            return Err(field_error(
                "per_page",
                "must be between 1 and 250 (the VSS maximum)",
            ));
        }
        if self.timeout_ms == 0 {
            return Err(field_error("timeout_ms", "must be positive"));
        }
        if self.connect_timeout_ms == 0 {
            return Err(field_error("connect_timeout_ms", "must be positive"));
        }
        Ok(())
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The origin without a trailing slash.
    pub(crate) fn origin(&self) -> String {
        self.base_url.trim_end_matches('/').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> VssConfig {
        VssConfig {
            base_url: "https://vss-api.example".into(),
            username: Some("u".into()),
            password: Some("p".to_owned().into()),
            ..Default::default()
        }
    }

    fn field_of(c: VssConfig) -> String {
        let e = c.validate().unwrap_err();
        assert_eq!(e.kind(), isogate_core::ErrorKind::ConfigInvalid);
        let m = e.message().to_owned();
        m.split('`').nth(1).unwrap_or_default().to_owned()
    }

    #[test]
    fn validation_names_the_field() {
        assert!(base().validate().is_ok());
        let cases: Vec<(VssConfig, &str)> = vec![
            (
                VssConfig {
                    base_url: "nope".into(),
                    ..base()
                },
                "base_url",
            ),
            (
                VssConfig {
                    base_url: "ftp://x".into(),
                    ..base()
                },
                "base_url",
            ),
            (
                VssConfig {
                    base_url: "https://u:p@x".into(),
                    ..base()
                },
                "base_url",
            ),
            (
                VssConfig {
                    base_url: "https://x/?a=1".into(),
                    ..base()
                },
                "base_url",
            ),
            (
                VssConfig {
                    username: None,
                    password: None,
                    ..base()
                },
                "username",
            ),
            (
                VssConfig {
                    password: None,
                    ..base()
                },
                "password",
            ),
            (
                VssConfig {
                    password: Some(" ".to_owned().into()),
                    ..base()
                },
                "password",
            ),
            (
                VssConfig {
                    username: Some("".into()),
                    ..base()
                },
                "username",
            ),
            (
                VssConfig {
                    token: Some("t".to_owned().into()),
                    ..base()
                },
                "token",
            ),
            (
                VssConfig {
                    token: Some("".to_owned().into()),
                    username: None,
                    password: None,
                    ..base()
                },
                "token",
            ),
            (
                VssConfig {
                    page_concurrency: 0,
                    ..base()
                },
                "page_concurrency",
            ),
            (
                VssConfig {
                    per_page: 251,
                    ..base()
                },
                "per_page",
            ),
            (
                VssConfig {
                    per_page: 0,
                    ..base()
                },
                "per_page",
            ),
            (
                VssConfig {
                    timeout_ms: 0,
                    ..base()
                },
                "timeout_ms",
            ),
            (
                VssConfig {
                    connect_timeout_ms: 0,
                    ..base()
                },
                "connect_timeout_ms",
            ),
        ];
        for (c, field) in cases {
            assert_eq!(field_of(c), field);
        }
        let static_token = VssConfig {
            token: Some("t".to_owned().into()),
            username: None,
            password: None,
            ..base()
        };
        assert!(static_token.validate().is_ok());
    }

    #[test]
    fn deserialises_with_defaults_and_rejects_unknown_fields() {
        let c: VssConfig = toml::from_str(
            "base_url = 'https://vss-api.example'\nusername = 'u'\npassword = 'hunter2'\ncatalogue = 'personal'",
        )
        .unwrap();
        assert_eq!(c.catalogue, Catalogue::Personal);
        assert_eq!(
            (c.page_concurrency, c.per_page, c.timeout_ms),
            (40, 250, 10_000)
        );
        assert!(!c.allow_incomplete);
        assert!(!format!("{c:?}").contains("hunter2"));
        let c: VssConfig = toml::from_str("username = 'u'\npassword = 'p'").unwrap();
        assert_eq!(c.base_url, "https://cloud-api.eis.utoronto.ca");
        assert!(c.validate().is_ok());
        let e = toml::from_str::<VssConfig>("base_url = 'https://x'\npasword = 'p'").unwrap_err();
        assert!(e.to_string().contains("pasword"));
    }
}
