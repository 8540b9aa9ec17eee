//! isogate-vss: the University of Toronto ITS Private Cloud (VSS) API v2 ISO
//! catalogues as an [`IsoProvider`].
//!
//! - **Token** ([`token`]): `POST {base_url}/auth/request-token` with Basic
//!   auth, cached, renewed before expiry (at its lifetime, `duration` or else
//!   the answer's or the JWT's `exp`, minus the smaller of 60 s and a fifth) and once after a 401 on a read, with one token
//!   request in flight at most; a static `token` from the config is used as is.
//! - **Listing** ([`listing`]): `expand=1`, first page at `per_page` (250),
//!   the rest concurrently (`page_concurrency`, 40) at URLs in the form of
//!   `meta.pages.next_url` (falling back to walking `next_url` when the
//!   upstream answers a built one unexpectedly), so up to 41 pages take
//!   two round trips; a failed page fails the listing naming the page (or, with
//!   `allow_incomplete`, returns what it has with `Listing::incomplete`); a
//!   catalogue changing mid-walk is walked once more, then is an error.
//!   `catalogue = "both"` walks `/v2/iso` and `/v2/user/image/iso` at once.
//! - **Pushdown** ([`pushdown`]): `filter=`/`sort=` for the filters and sorts
//!   whose VSS semantics provably equal the local evaluator's; never dates
//!   (VSS compares its own text form of them).
//! - **Ids** ([`convert`]): public ISOs keep their VSS id (`223`), personal
//!   ones are `personal-<id>`, since both tables number from 1.
//! - **get** reads the catalogue filtered by `id,eq,<id>` with `per_page=1`
//!   (the documented filter; VSS documents no ISO-by-id endpoint).
//! - **sync** is `PATCH /v2/user/image/iso`; its task is the image-sync
//!   request (`GET /v2/request/image_sync/{id}`): `PROCESSED` is succeeded,
//!   `ERROR`/`ERROR_RETRY`/`Error Processed`/`CANCELLED`/`REFUSED`/`MISSED` failed (with the
//!   request's `message.errors`), anything else pending.

mod client;
pub mod config;
mod convert;
pub mod error;
mod listing;
#[cfg(test)]
mod live_fixtures;
mod model;
mod pushdown;
mod token;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use isogate_core::query::Sorter;
use isogate_core::{
    Capability, Error, Iso, IsoProvider, ListOptions, Listing, Outcome, ProviderKind, Pushdown,
    Result, Task, validate_native_id,
};

pub use config::{Catalogue, VssConfig};
pub use error::parse_error;

use client::{Client, PERSONAL, PUBLIC};
use convert::Source;
use listing::WalkSpec;
use model::id_text;

/// One public-catalogue page body decoded and converted as a listing does
/// it (the client's decode, then the walk's conversion): what
/// `benches/decode_identity.rs` times. Not an API.
#[doc(hidden)]
pub fn decode_public_page(provider: &str, body: &[u8]) -> Result<Vec<Iso>> {
    let page: model::Page = client::decode(body)?;
    listing::convert_items(provider, Source::Public, &page.data, false)
}

/// A VSS account's ISO catalogue(s).
pub struct VssProvider {
    name: String,
    config: VssConfig,
    client: Arc<Client>,
    capability: Capability,
}

impl std::fmt::Debug for VssProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VssProvider")
            .field("name", &self.name)
            .field("catalogue", &self.config.catalogue)
            .field("client", &self.client)
            .finish()
    }
}

impl VssProvider {
    /// Validates `config` and builds the provider (no request is made).
    pub fn new(name: &str, config: VssConfig) -> Result<VssProvider> {
        let fail = |e: Error| e.with_provider(name).with_operation("configure");
        config.validate().map_err(fail)?;
        let client = Arc::new(Client::new(&config).map_err(fail)?);
        // VSS documents list (paged, at most 250 per page, filter and sort)
        // and the personal catalogue's sync request; nothing else on ISOs.
        let capability = Capability {
            list: true,
            get: true,
            sync: true,
            tasks: true,
            filter_pushdown: true,
            sort_pushdown: true,
            max_page_size: Some(config::MAX_PER_PAGE),
            ..Default::default()
        };
        Ok(VssProvider {
            name: name.to_owned(),
            config,
            client,
            capability,
        })
    }

    fn ctx(&self, op: &'static str) -> impl Fn(Error) -> Error + '_ {
        move |e| e.with_provider(&self.name).with_operation(op)
    }

    fn sources(&self) -> &'static [Source] {
        match self.config.catalogue {
            Catalogue::Public => &[Source::Public],
            Catalogue::Personal => &[Source::Personal],
            Catalogue::Both => &[Source::Public, Source::Personal],
        }
    }

    fn resource(source: Source) -> &'static str {
        match source {
            Source::Public => PUBLIC,
            Source::Personal => PERSONAL,
        }
    }
}

#[async_trait]
impl IsoProvider for VssProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Vss
    }

    fn capability(&self) -> Capability {
        self.capability
    }

    async fn list(&self, opts: &ListOptions) -> Result<Listing> {
        let plan = pushdown::plan(&opts.filters, &opts.sort);
        let provider: Arc<str> = Arc::from(self.name.as_str());
        let (filter, sort): (Option<Arc<str>>, Option<Arc<str>>) = (
            plan.filter.as_deref().map(Arc::from),
            plan.sort.as_deref().map(Arc::from),
        );
        let walks = futures::future::join_all(self.sources().iter().map(|&source| {
            let spec = WalkSpec {
                resource: Self::resource(source),
                source,
                provider: provider.clone(),
                include_raw: opts.include_raw,
                per_page: self.config.per_page,
                concurrency: self.config.page_concurrency,
                filter: filter.clone(),
                sort: sort.clone(),
                allow_incomplete: self.config.allow_incomplete,
            };
            async move { listing::walk(&self.client, &spec).await }
        }))
        .await;
        let mut items: Vec<Iso> = Vec::new();
        let mut incomplete: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        let mut failed = 0;
        let walked = walks.len();
        for walk in walks {
            let walk = match walk {
                Ok(w) => w,
                Err(e) if self.config.allow_incomplete && walked > 1 => {
                    failed += 1;
                    incomplete.push(e.message().to_owned());
                    if failed == walked {
                        return Err(self.ctx("list")(e));
                    }
                    continue;
                }
                Err(e) => return Err(self.ctx("list")(e)),
            };
            incomplete.extend(walk.incomplete);
            for item in walk.items {
                if seen.insert(item.native_id.clone()) {
                    items.push(item);
                }
            }
        }
        items.retain(|i| plan.checks.iter().all(|c| c.matches(i)));
        if plan.sorted {
            let sorter = Sorter::new(&opts.sort);
            items.sort_by(|a, b| sorter.cmp(a, b));
        }
        Ok(Listing {
            items,
            pushdown: Pushdown {
                filters: plan.pushed,
                sorted: plan.sorted,
            },
            incomplete: (!incomplete.is_empty()).then(|| incomplete.join("; ")),
        })
    }

    async fn get(&self, native_id: &str, include_raw: bool) -> Result<Iso> {
        validate_native_id(native_id, false).map_err(self.ctx("get"))?;
        let missing = || {
            Error::not_found(format!("no ISO with id '{native_id}'"))
                .with_provider(&self.name)
                .with_operation("get")
        };
        let Some((source, id)) = Source::parse(native_id) else {
            return Err(missing());
        };
        if !self.sources().contains(&source) {
            return Err(missing());
        }
        let page = self
            .client
            .list_page(
                Self::resource(source),
                1,
                1,
                Some(&format!("id,eq,{id}")),
                None,
            )
            .await
            .map_err(self.ctx("get"))?;
        let Some(value) = page.data.into_iter().next() else {
            return Err(missing());
        };
        let item =
            convert::iso(&self.name, source, &value, include_raw).map_err(self.ctx("get"))?;
        if item.native_id != native_id {
            return Err(
                Error::upstream("VSS answered an id filter with another ISO")
                    .with_provider(&self.name)
                    .with_operation("get"),
            );
        }
        Ok(item)
    }

    async fn sync(&self) -> Result<Outcome> {
        let answer = self
            .client
            .sync_personal()
            .await
            .map_err(self.ctx("sync"))?;
        let id = id_text(&answer.data.request.id).ok_or_else(|| {
            self.ctx("sync")(Error::upstream(
                "VSS accepted the sync without a request id",
            ))
        })?;
        let task = convert::sync_task(&self.name, id, answer.data.request.status.as_deref(), None);
        Ok(Outcome::Accepted { task })
    }

    async fn task(&self, task_id: &str) -> Result<Task> {
        let numeric = !task_id.is_empty()
            && task_id.len() <= 19
            && task_id.bytes().all(|b| b.is_ascii_digit());
        if !numeric {
            return Err(self.ctx("task")(Error::not_found(format!(
                "no image sync request '{task_id}'"
            ))));
        }
        let answer = self
            .client
            .image_sync_request(task_id)
            .await
            .map_err(self.ctx("task"))?;
        let d = answer.data;
        let id = id_text(&d.id).unwrap_or_else(|| task_id.to_owned());
        Ok(convert::sync_task(
            &self.name,
            id,
            d.status.as_deref(),
            Some(&d),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isogate_core::ErrorKind;

    #[test]
    fn debug_shows_no_secret() {
        let p = VssProvider::new(
            "vss",
            VssConfig {
                base_url: "http://127.0.0.1:1".into(),
                username: Some("u".into()),
                password: Some("hunter2".to_owned().into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        let e = VssProvider::new("vss", VssConfig::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert_eq!(e.provider(), Some("vss"));
        assert!(e.message().contains("username"), "{}", e.message());
    }
}
