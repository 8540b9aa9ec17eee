//! Configuration of a CloudMC ISO provider.
//!
//! Source: the CloudMC docs (cloudops/cloudmc-api-docs `_getting_started.md`):
//! `{base}/services/{service_code}/{environment}/...` with `MC-Api-Key`; the
//! base URL is configuration, and `api_version` selects fields and operations
//! only, never the URL (current CloudMC serves all of v2 under `/api/v1` too).

use std::time::Duration;

use isogate_core::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::client::ClientSettings;

/// Which CloudMC API generation the upstream speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    /// Old CloudMC: list and get, fewer fields.
    V1,
    /// Every seed operation (import, attach, detach, download URL, delete, tasks).
    #[default]
    V2,
}

/// `[providers.<name>]` of kind `cloudmc`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudMcConfig {
    /// The API base URL, e.g. `https://portal.coxedge.com/api/v2` or
    /// `https://cloudmc.example/v1`; never hard-coded.
    pub base_url: String,
    /// The `MC-Api-Key`.
    pub api_key: SecretString,
    /// The service connection code, e.g. `compute-on`.
    pub service_code: String,
    /// The environment name, e.g. `test_area`.
    pub environment: String,
    /// An optional sub-organisation, sent as `org_id`.
    #[serde(default)]
    pub org_id: Option<String>,
    /// `v1` or `v2` (default): which fields and operations, not which URL.
    #[serde(default)]
    pub api_version: ApiVersion,
    /// Whole-request timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Connect timeout in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

/// The default whole-request timeout.
pub fn default_timeout_ms() -> u64 {
    10_000
}

/// The default connect timeout.
pub fn default_connect_timeout_ms() -> u64 {
    3_000
}

fn field_error(field: &str, why: &str) -> Error {
    Error::config(format!("field `{field}`: {why}"))
}

impl ClientSettings {
    /// Checks the fields every CloudMC-family provider shares; errors name the
    /// config field (`base_url`, `timeout_ms`, ...).
    pub fn validate(&self) -> Result<()> {
        let (base_url, api_key) = (self.base_url.as_str(), &self.api_key);
        let (service_code, environment) = (self.service_code.as_str(), self.environment.as_str());
        let org_id = self.org_id.as_deref();
        let timeout_ms = self.timeout.as_millis();
        let connect_timeout_ms = self.connect_timeout.as_millis();
        isogate_http::base_url("base_url", base_url)?;
        let key = api_key.expose_secret();
        if key.trim().is_empty() {
            return Err(field_error("api_key", "must not be empty"));
        }
        if key.chars().any(|c| c.is_control() || !c.is_ascii()) {
            return Err(field_error("api_key", "must be printable ASCII"));
        }
        for (field, value) in [("service_code", service_code), ("environment", environment)] {
            isogate_core::validate_native_id(value, false)
                .map_err(|_| field_error(field, "must be one non-empty path segment"))?;
        }
        if let Some(org) = org_id
            && org.trim().is_empty()
        {
            return Err(field_error("org_id", "must not be empty when given"));
        }
        if !(1..=600_000).contains(&timeout_ms) {
            return Err(field_error("timeout_ms", "must be between 1 and 600000"));
        }
        if !(1..=600_000).contains(&connect_timeout_ms) {
            return Err(field_error(
                "connect_timeout_ms",
                "must be between 1 and 600000",
            ));
        }
        Ok(())
    }
}

impl CloudMcConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        self.client_settings().validate()
    }

    /// The client settings.
    pub fn client_settings(&self) -> ClientSettings {
        ClientSettings {
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone(),
            service_code: self.service_code.clone(),
            environment: self.environment.clone(),
            org_id: self.org_id.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> std::result::Result<CloudMcConfig, String> {
        serde_json::from_value::<CloudMcConfig>(json).map_err(|e| e.to_string())
    }

    fn good() -> serde_json::Value {
        serde_json::json!({
            "base_url": "https://portal.example/api/v2",
            "api_key": "k3y",
            "service_code": "compute-on",
            "environment": "test_area",
        })
    }

    #[test]
    fn defaults_and_versions() {
        let c = parse(good()).unwrap();
        assert_eq!(c.api_version, ApiVersion::V2);
        assert_eq!(c.timeout_ms, 10_000);
        assert!(c.validate().is_ok());
        let mut v1 = good();
        v1["api_version"] = "v1".into();
        assert_eq!(parse(v1).unwrap().api_version, ApiVersion::V1);
        let mut v3 = good();
        v3["api_version"] = "v3".into();
        assert!(parse(v3).is_err());
        let mut extra = good();
        extra["apikey"] = "x".into();
        assert!(parse(extra).unwrap_err().contains("apikey"));
        assert!(!format!("{c:?}").contains("k3y"), "Debug hides the key");
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            ("base_url", serde_json::json!("ftp://x/y")),
            ("base_url", serde_json::json!("https://user:pw@x/y")),
            ("base_url", serde_json::json!("not a url")),
            ("api_key", serde_json::json!(" ")),
            ("service_code", serde_json::json!("a/b")),
            ("environment", serde_json::json!("")),
            ("org_id", serde_json::json!("")),
            ("timeout_ms", serde_json::json!(0)),
            ("connect_timeout_ms", serde_json::json!(0)),
        ];
        for (field, value) in cases {
            let mut j = good();
            j[field] = value;
            let e = parse(j).unwrap().validate().unwrap_err();
            assert_eq!(e.kind(), isogate_core::ErrorKind::ConfigInvalid);
            assert!(e.message().contains(field), "{field}: {}", e.message());
            assert!(!e.message().contains("pw"));
        }
    }
}
