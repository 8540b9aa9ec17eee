//! Configuration of a Cox Edge images provider.
//!
//! Defaults follow Cox's own Go client (terraform-provider-coxedge
//! `apiclient`): base `https://portal.coxedge.com/api/v2`, service code
//! `edge-services`. Deployments on the old paths set `base_url = ".../api/v1"`
//! and `service_code = "cox"`.

use std::time::Duration;

use isogate_cloudmc::client::ClientSettings;
use isogate_cloudmc::config::{default_connect_timeout_ms, default_timeout_ms};
use isogate_core::Result;
use secrecy::SecretString;
use serde::Deserialize;

/// `[providers.<name>]` of kind `cox`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoxConfig {
    /// The API base URL, e.g. `https://portal.coxedge.com/api/v2` (Cox's Go
    /// client; `/api/v1` before 2022); never hard-coded.
    pub base_url: String,
    /// The `MC-Api-Key`.
    pub api_key: SecretString,
    /// The service connection code; `edge-services` (Cox's Go client) unless
    /// told otherwise (`cox` on the old paths).
    #[serde(default = "default_service_code")]
    pub service_code: String,
    /// The environment name, e.g. `test-area`.
    pub environment: String,
    /// An optional sub-organisation, sent as `org_id`.
    #[serde(default)]
    pub org_id: Option<String>,
    /// List only Cox's default (system) images.
    #[serde(default)]
    pub include_only_system_images: bool,
    /// Whole-request timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Connect timeout in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

/// The service code Cox's Go client calls (`.../services/edge-services/{env}/images`).
pub const DEFAULT_SERVICE_CODE: &str = "edge-services";

fn default_service_code() -> String {
    DEFAULT_SERVICE_CODE.into()
}

impl CoxConfig {
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

    #[test]
    fn defaults_unknown_fields_and_named_validation_errors() {
        let c: CoxConfig = serde_json::from_value(serde_json::json!({
            "base_url": "https://portal.example/api/v2",
            "api_key": "cox-k3y",
            "environment": "test-area",
        }))
        .unwrap();
        assert_eq!(c.service_code, "edge-services");
        // The old paths stay configurable.
        let old: CoxConfig = serde_json::from_value(serde_json::json!({
            "base_url": "https://portal.example/api/v1",
            "api_key": "k", "environment": "e", "service_code": "cox",
        }))
        .unwrap();
        assert_eq!(old.service_code, "cox");
        assert!(old.validate().is_ok());
        assert!(!c.include_only_system_images);
        assert_eq!(c.timeout_ms, 10_000);
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("cox-k3y"));
        let unknown = serde_json::from_value::<CoxConfig>(serde_json::json!({
            "base_url": "https://portal.example/api/v1",
            "api_key": "k", "environment": "e", "include_system": true,
        }))
        .unwrap_err();
        assert!(unknown.to_string().contains("include_system"));
        let bad = CoxConfig {
            environment: "a/b".into(),
            ..c.clone()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .message()
                .contains("environment")
        );
        let bad = CoxConfig {
            base_url: "file:///etc".into(),
            ..c
        };
        assert!(bad.validate().unwrap_err().message().contains("base_url"));
    }
}
