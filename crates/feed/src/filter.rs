//! Which events one subscriber (an SSE client, a webhook) sees.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use isogate_core::{Limits, Query, QueryError};

use crate::event::{EventData, EventType, Record};

/// A subscriber's view of the feed. The default sees everything.
///
/// - `reset` always passes: it concerns the subscription, not a provider.
/// - The provider allow-list (an API key's providers) applies to every
///   other event, by the event's provider.
/// - `types`, when set, keeps only those types.
/// - The listing query (`filter`, `q`, `provider`, `kind`) applies to
///   `iso.*` events by their item; an `iso.changed` passes when the item
///   before **or** after matches, so a subscriber also learns that an item
///   left its view. Provider events (`provider.status`, `provider.synced`)
///   have no item: only the query's `provider=` list applies to them.
#[derive(Clone, Default)]
pub struct Selector {
    allow: Option<Arc<BTreeSet<String>>>,
    types: Option<Arc<BTreeSet<EventType>>>,
    query: Option<Arc<Query>>,
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("allow", &self.allow)
            .field("types", &self.types)
            .field("query", &self.query.is_some())
            .finish()
    }
}

impl Selector {
    /// Everything.
    pub fn all() -> Selector {
        Selector::default()
    }

    /// Only events of these providers (an API key's allow-list).
    pub fn allow_providers<I, S>(mut self, providers: I) -> Selector
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allow = Some(Arc::new(providers.into_iter().map(Into::into).collect()));
        self
    }

    /// Only these types.
    pub fn types<I: IntoIterator<Item = EventType>>(mut self, types: I) -> Selector {
        self.types = Some(Arc::new(types.into_iter().collect()));
        self
    }

    /// Only `iso.*` events whose item the listing query selects (its
    /// filters, `q`, `provider`, `kind`; paging and sorting are ignored).
    pub fn query(mut self, query: Query) -> Selector {
        self.query = Some(Arc::new(query));
        self
    }

    /// Like [`Selector::query`], from a `filter=` value of the query
    /// language (a webhook's `filter` key).
    pub fn filter(self, filter: &str) -> Result<Selector, QueryError> {
        let q = Query::parse(&[("filter", filter)], &Limits::default())?;
        Ok(self.query(q))
    }

    /// Whether `record` passes.
    pub fn matches(&self, record: &Record) -> bool {
        let ty = record.ty();
        if ty == EventType::Reset {
            return true;
        }
        if let Some(allow) = &self.allow
            && !record.provider().is_some_and(|p| allow.contains(p))
        {
            return false;
        }
        if let Some(types) = &self.types
            && !types.contains(&ty)
        {
            return false;
        }
        let Some(q) = &self.query else {
            return true;
        };
        match &record.event().data {
            EventData::Item(item) => q.matches(item),
            EventData::Change(c) => {
                q.matches(&c.item) || record.prior().is_some_and(|p| q.matches(p))
            }
            EventData::Status(_) | EventData::Synced(_) => {
                q.providers.is_empty()
                    || record
                        .provider()
                        .is_some_and(|p| q.providers.iter().any(|x| x == p))
            }
            EventData::Reset(_) => true,
        }
    }
}

/// Parses a list of type names (short `iso.added`, full
/// `io.isogate.iso.added`, or a family `iso.*` / `provider.*`).
pub fn parse_types<S: AsRef<str>>(names: &[S]) -> Result<Vec<EventType>, String> {
    let mut out = Vec::new();
    for n in names {
        let n = n.as_ref().trim();
        let short = n.strip_prefix(crate::event::TYPE_PREFIX).unwrap_or(n);
        if let Some(family) = short.strip_suffix(".*") {
            let found: Vec<_> = EventType::ALL
                .into_iter()
                .filter(|t| t.short().starts_with(&format!("{family}.")))
                .collect();
            if found.is_empty() {
                return Err(format!("unknown event type family '{n}'"));
            }
            out.extend(found);
        } else {
            out.push(EventType::parse(short).ok_or_else(|| {
                format!(
                    "unknown event type '{n}' (one of {})",
                    EventType::ALL.map(|t| t.short()).join(", ")
                )
            })?);
        }
    }
    Ok(out)
}
