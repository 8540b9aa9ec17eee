//! Builds each configured provider from its entry: the adapter's own config
//! table (deny_unknown_fields, so typos are named) plus the gateway's settings.

use std::sync::Arc;

use isogate_core::{IsoProvider, ProviderKind};
use serde::de::DeserializeOwned;

use crate::config::{ConfigError, ProviderEntry, adapter_config_error};
use crate::providers::ProviderHandle;
use crate::providers::embedded::{Embedded, sim_name};

/// Builds every configured provider, wrapped in its resilience layers.
pub fn build_handles(
    entries: &[ProviderEntry],
    embedded: &Embedded,
) -> Result<Vec<ProviderHandle>, ConfigError> {
    entries
        .iter()
        .map(|entry| {
            let provider = build_provider(entry, embedded)?;
            Ok(ProviderHandle::from_entry(entry, provider).layered(&entry.resilience))
        })
        .collect()
}

/// Builds one adapter from its entry, resolving `sim:` base URLs.
pub fn build_provider(
    entry: &ProviderEntry,
    embedded: &Embedded,
) -> Result<Arc<dyn IsoProvider>, ConfigError> {
    let mut settings = entry.settings.clone();
    if let Some(sim) = sim_name(entry)? {
        let url = embedded.base_url(sim).ok_or_else(|| {
            ConfigError(format!(
                "providers.{}.base_url: simulator {sim} is not running",
                entry.name
            ))
        })?;
        settings.insert("base_url".into(), url.into());
    }
    let name = entry.name.as_str();
    let fail = |e: isogate_core::Error| adapter_config_error(entry, e.message());
    let provider: Arc<dyn IsoProvider> = match entry.kind {
        ProviderKind::Cloudmc => Arc::new(
            isogate_cloudmc::CloudMcProvider::new(name, parse(entry, settings)?).map_err(fail)?,
        ),
        ProviderKind::Cox => {
            Arc::new(isogate_cox::CoxProvider::new(name, parse(entry, settings)?).map_err(fail)?)
        }
        ProviderKind::Vss => {
            Arc::new(isogate_vss::VssProvider::new(name, parse(entry, settings)?).map_err(fail)?)
        }
        ProviderKind::Action => Arc::new(
            isogate_action::ActionProvider::new(name, parse(entry, settings)?).map_err(fail)?,
        ),
    };
    Ok(provider)
}

fn parse<T: DeserializeOwned>(
    entry: &ProviderEntry,
    settings: serde_json::Map<String, serde_json::Value>,
) -> Result<T, ConfigError> {
    // serde_json errors name the field ("unknown field `passwrd`") but never the value.
    serde_json::from_value(serde_json::Value::Object(settings))
        .map_err(|e| adapter_config_error(entry, e))
}

/// Validates an entry the way start-up would, without starting simulators:
/// a `sim:` base URL is replaced by a placeholder so the adapter's own
/// settings are still checked (no request is made).
pub fn validate_entry(entry: &ProviderEntry) -> Result<(), ConfigError> {
    let mut entry = entry.clone();
    if sim_name(&entry)?.is_some() {
        entry
            .settings
            .insert("base_url".into(), "http://127.0.0.1:9".into());
    }
    build_provider(&entry, &Embedded::default()).map(|_| ())
}
