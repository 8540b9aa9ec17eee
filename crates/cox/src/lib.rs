//! isogate-cox: Cox Edge images (a CloudMC "images" entity), on the shared
//! CloudMC client of `isogate-cloudmc`.
//!
//! - `list`: `GET .../images`, with `includeOnlySystemImages=true` when the
//!   provider is configured with `include_only_system_images`. The upstream
//!   lists only non-deprecated images; a deprecated one can still be read by id.
//! - `get`: the id is `stackId/family/tag`. It is checked before any request
//!   (get#3): `validate_native_id(id, true)` (else `InvalidInput`), and
//!   exactly three segments, else `NotFound`: such an id names no image (the
//!   document's id grammar is every provider's, so this is not bad input).
//!   Each segment is percent-encoded on its own.
//! - Nothing else is documented for images, so nothing else is supported.

mod client;
pub mod config;
pub mod convert;
pub mod error;
mod model;

use async_trait::async_trait;
use isogate_cloudmc::CloudMcClient;
use isogate_core::{
    Capability, Error, Iso, IsoProvider, ListOptions, Listing, ProviderKind, Result,
    validate_native_id,
};

pub use config::CoxConfig;

/// A Cox Edge images catalogue (one service connection and environment).
#[derive(Debug)]
pub struct CoxProvider {
    name: String,
    client: CloudMcClient,
    only_system: bool,
    capability: Capability,
}

impl CoxProvider {
    /// A provider named `name` (its instance name in ids and errors).
    pub fn new(name: &str, config: CoxConfig) -> Result<CoxProvider> {
        config
            .validate()
            .map_err(|e| e.with_provider(name).with_operation("config"))?;
        let client = CloudMcClient::new(config.client_settings())
            .map_err(|e| e.with_provider(name).with_operation("config"))?;
        Ok(CoxProvider {
            name: name.to_owned(),
            client,
            only_system: config.include_only_system_images,
            // The images seed documents list and get only; no paging,
            // filters (besides includeOnlySystemImages) or sorting.
            capability: Capability {
                list: true,
                get: true,
                ..Default::default()
            },
        })
    }

    fn fail(&self, op: &'static str) -> impl Fn(Error) -> Error + '_ {
        move |e| e.or_provider(&self.name).or_operation(op)
    }
}

/// `stackId/family/tag`: `InvalidInput` for an id no provider could take,
/// `NotFound` for a well-formed id of another shape (no image has it).
pub fn split_image_id(id: &str) -> Result<[&str; 3]> {
    validate_native_id(id, true)?;
    let parts: Vec<&str> = id.split('/').collect();
    <[&str; 3]>::try_from(parts).map_err(|_| {
        Error::not_found(format!(
            "no image with id '{id}' (Cox image ids are stackId/family/tag)"
        ))
    })
}

#[async_trait]
impl IsoProvider for CoxProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Cox
    }

    fn capability(&self) -> Capability {
        self.capability
    }

    async fn list(&self, opts: &ListOptions) -> Result<Listing> {
        let items = client::list_images(&self.client, self.only_system, |v| {
            convert::image_from_value(&self.name, v, opts.include_raw)
        })
        .await
        .map_err(self.fail("list"))?;
        Ok(Listing {
            items,
            ..Default::default()
        })
    }

    async fn get(&self, native_id: &str, include_raw: bool) -> Result<Iso> {
        let segments = split_image_id(native_id).map_err(self.fail("get"))?;
        let raw = client::get_image(&self.client, segments)
            .await
            .map_err(self.fail("get"))?;
        convert::image_from_value(&self.name, raw, include_raw).map_err(self.fail("get"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_need_three_clean_segments() {
        assert_eq!(split_image_id("s/f/t").unwrap(), ["s", "f", "t"]);
        for bad in ["", "s//t", "s/../t", "/f/t", "s/f/", "s/f/t\n", "s/./t"] {
            let e = split_image_id(bad).unwrap_err();
            assert_eq!(e.kind(), isogate_core::ErrorKind::InvalidInput, "{bad:?}");
        }
        // Clean, but not three segments: no image can have it.
        for absent in ["s", "s/f", "s/f/t/x"] {
            let e = split_image_id(absent).unwrap_err();
            assert_eq!(e.kind(), isogate_core::ErrorKind::NotFound, "{absent:?}");
        }
    }
}
