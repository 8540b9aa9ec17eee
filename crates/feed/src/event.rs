//! The event format: CloudEvents 1.0 in JSON structured mode.
//!
//! One [`Event`] is what an SSE client reads as `data:` and what a webhook
//! receiver gets as the body. [`Record`] is an event as the log holds it:
//! serialised once (every subscriber gets the same bytes) plus what filters
//! need without re-parsing (the provider, the item before a change).

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use isogate_core::Iso;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// `specversion` of every event.
pub const SPEC_VERSION: &str = "1.0";
/// `datacontenttype` of every event.
pub const DATA_CONTENT_TYPE: &str = "application/json";
/// The prefix of every `type`.
pub const TYPE_PREFIX: &str = "io.isogate.";
/// `source` of events that belong to no provider (`reset`).
pub const FEED_SOURCE: &str = "/events";

/// An event id: `<unix_ms>-<seq>`, the shape of a Redis Stream entry id.
///
/// Ordered (by `ms`, then `seq`), so "everything after id X" means the same
/// whether the history is this process's ring or a Redis Stream. Ids carry
/// the wall clock, so an id issued by an earlier run of the process is older
/// than anything this run holds and gets a `reset`, never a silent gap.
/// Clients should treat it as opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId {
    /// Milliseconds since the Unix epoch (never decreasing within one log).
    pub ms: u64,
    /// Order within one millisecond.
    pub seq: u64,
}

impl EventId {
    /// An id from its parts.
    pub const fn new(ms: u64, seq: u64) -> EventId {
        EventId { ms, seq }
    }

    /// The id after `self` at wall-clock time `now_ms`, as Redis assigns
    /// them: a later millisecond starts at `seq` 0, the same (or an earlier,
    /// if the clock stepped back) one counts on.
    pub fn next_at(self, now_ms: u64) -> EventId {
        if now_ms > self.ms {
            EventId::new(now_ms, 0)
        } else {
            EventId::new(self.ms, self.seq + 1)
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A string that is not an event id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an event id (expected <ms>-<seq>, e.g. 1718000000000-0)")]
pub struct ParseIdError;

impl FromStr for EventId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = s.trim().split_once('-').ok_or(ParseIdError)?;
        let digits = |p: &str| -> Result<u64, ParseIdError> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseIdError);
            }
            p.parse().map_err(|_| ParseIdError)
        };
        Ok(EventId::new(digits(ms)?, digits(seq)?))
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// An item appeared.
    IsoAdded,
    /// An item disappeared.
    IsoRemoved,
    /// An item's content changed.
    IsoChanged,
    /// A provider's health or breaker changed.
    ProviderStatus,
    /// A provider's first snapshot since start (its item count, not its items).
    ProviderSynced,
    /// The history cannot answer the resume point: re-list, then follow.
    Reset,
}

impl EventType {
    /// Every type, for docs and `types` validation.
    pub const ALL: [EventType; 6] = [
        EventType::IsoAdded,
        EventType::IsoRemoved,
        EventType::IsoChanged,
        EventType::ProviderStatus,
        EventType::ProviderSynced,
        EventType::Reset,
    ];

    /// The short name: the SSE `event:` field (`iso.added`).
    pub fn short(self) -> &'static str {
        match self {
            EventType::IsoAdded => "iso.added",
            EventType::IsoRemoved => "iso.removed",
            EventType::IsoChanged => "iso.changed",
            EventType::ProviderStatus => "provider.status",
            EventType::ProviderSynced => "provider.synced",
            EventType::Reset => "reset",
        }
    }

    /// The CloudEvents `type` (`io.isogate.iso.added`).
    pub fn full(self) -> &'static str {
        match self {
            EventType::IsoAdded => "io.isogate.iso.added",
            EventType::IsoRemoved => "io.isogate.iso.removed",
            EventType::IsoChanged => "io.isogate.iso.changed",
            EventType::ProviderStatus => "io.isogate.provider.status",
            EventType::ProviderSynced => "io.isogate.provider.synced",
            EventType::Reset => "io.isogate.reset",
        }
    }

    /// From the short or the full name.
    pub fn parse(s: &str) -> Option<EventType> {
        let short = s.strip_prefix(TYPE_PREFIX).unwrap_or(s);
        EventType::ALL.into_iter().find(|t| t.short() == short)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.full())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.full())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EventType::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event type '{s}'")))
    }
}

/// A provider's health, as the gateway sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// The last listing succeeded.
    Ok,
    /// The last listing failed and nothing usable is cached.
    Error,
    /// The last listing failed; a snapshot past its freshness is served.
    Stale,
}

/// A provider's circuit breaker, for events: half-open counts as open (it
/// closes only when the probe succeeds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Breaker {
    /// Calls go through.
    Closed,
    /// Calls are refused (or one probe is in flight).
    Open,
}

/// `data` of `iso.changed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeData {
    /// The top-level fields that changed, in the model's order.
    pub fields: Vec<String>,
    /// Those fields before.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub before: Map<String, Value>,
    /// Those fields after.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub after: Map<String, Value>,
    /// The whole item after the change (so a receiver need not fetch it).
    pub item: Box<Iso>,
}

impl ChangeData {
    /// The whole item before the change: `item` with `before` laid over it.
    pub fn before_item(&self) -> Option<Iso> {
        let mut v = serde_json::to_value(&*self.item).ok()?;
        let obj = v.as_object_mut()?;
        for (k, val) in &self.before {
            obj.insert(k.clone(), val.clone());
        }
        serde_json::from_value(v).ok()
    }
}

/// `data` of `provider.status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusData {
    /// The provider instance.
    pub provider: String,
    /// Its health now.
    pub status: Health,
    /// Its health before (absent on the first observation).
    pub previous: Option<Health>,
    /// Its breaker now.
    pub breaker: Breaker,
    /// Its breaker before (absent on the first observation).
    pub previous_breaker: Option<Breaker>,
    /// The error code of the failure, when not ok (never a message that may hold a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `data` of `provider.synced`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncedData {
    /// The provider instance.
    pub provider: String,
    /// How many items its first snapshot holds.
    pub count: usize,
}

/// `data` of `reset`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetData {
    /// `expired` (the resume point is older than the history), `unknown`
    /// (not issued by this history: another run or replica), `lagged` (the
    /// subscriber fell behind the history while connected), `failover` (the
    /// replicas' shared stream took over from this replica's own ids, or the
    /// other way round).
    pub reason: String,
    /// The oldest id the history still holds, if any.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub oldest: Option<EventId>,
}

/// `data`, by `type`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum EventData {
    /// `iso.added`, `iso.removed`: the normalised item (without `raw`).
    Item(Box<Iso>),
    /// `iso.changed`.
    Change(Box<ChangeData>),
    /// `provider.status`.
    Status(StatusData),
    /// `provider.synced`.
    Synced(SyncedData),
    /// `reset`.
    Reset(ResetData),
}

/// One CloudEvents 1.0 event (JSON structured mode).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Always `1.0`.
    pub specversion: String,
    /// Ordered, resumable (`Last-Event-ID`); unique per `source`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1718000000000-0"))]
    pub id: EventId,
    /// `/providers/<name>`, or `/events` for `reset`.
    pub source: String,
    /// `io.isogate.iso.added`, ... (see [`EventType`]).
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "io.isogate.iso.added"))]
    pub ty: EventType,
    /// The item's global id (`iso.*` events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When the event was recorded (RFC 3339, UTC).
    pub time: DateTime<Utc>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// By type: the item, `{fields, before, after, item}`, a status, a count or a reset.
    pub data: EventData,
}

impl<'de> Deserialize<'de> for Event {
    /// `data` is read by `type`, so an item is never mistaken for a status.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            specversion: String,
            id: EventId,
            source: String,
            #[serde(rename = "type")]
            ty: EventType,
            #[serde(default)]
            subject: Option<String>,
            time: DateTime<Utc>,
            datacontenttype: String,
            data: Value,
        }
        use serde::de::Error as _;
        let w = Wire::deserialize(d)?;
        let data = match w.ty {
            EventType::IsoAdded | EventType::IsoRemoved => {
                EventData::Item(serde_json::from_value(w.data).map_err(D::Error::custom)?)
            }
            EventType::IsoChanged => {
                EventData::Change(serde_json::from_value(w.data).map_err(D::Error::custom)?)
            }
            EventType::ProviderStatus => {
                EventData::Status(serde_json::from_value(w.data).map_err(D::Error::custom)?)
            }
            EventType::ProviderSynced => {
                EventData::Synced(serde_json::from_value(w.data).map_err(D::Error::custom)?)
            }
            EventType::Reset => {
                EventData::Reset(serde_json::from_value(w.data).map_err(D::Error::custom)?)
            }
        };
        Ok(Event {
            specversion: w.specversion,
            id: w.id,
            source: w.source,
            ty: w.ty,
            subject: w.subject,
            time: w.time,
            datacontenttype: w.datacontenttype,
            data,
        })
    }
}

/// An event before the log gives it an id and a time.
#[derive(Clone, Debug, PartialEq)]
pub struct EventDraft {
    /// What happened.
    pub ty: EventType,
    /// The provider it concerns (`None` for `reset`).
    pub provider: Option<String>,
    /// The item's global id (`iso.*`).
    pub subject: Option<String>,
    /// The payload.
    pub data: EventData,
}

impl EventDraft {
    /// The event with its id and time.
    pub fn into_event(self, id: EventId, time: DateTime<Utc>) -> Event {
        Event {
            specversion: SPEC_VERSION.to_owned(),
            id,
            source: self
                .provider
                .as_deref()
                .map_or_else(|| FEED_SOURCE.to_owned(), source_of),
            ty: self.ty,
            subject: self.subject,
            time,
            datacontenttype: DATA_CONTENT_TYPE.to_owned(),
            data: self.data,
        }
    }
}

impl EventDraft {
    /// The event as a stream entry's body: its JSON with a placeholder id
    /// (`0-0`; the stream assigns the real one) and the time now.
    pub fn stream_body(self) -> Vec<u8> {
        let event = self.into_event(EventId::default(), Utc::now());
        serde_json::to_vec(&event).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// The `source` of a provider's events.
pub fn source_of(provider: &str) -> String {
    format!("/providers/{provider}")
}

/// An event as the log holds it: serialised once, with what filters need.
#[derive(Debug)]
pub struct Record {
    event: Event,
    json: Bytes,
    provider: Option<String>,
    /// For `iso.changed`: the whole item before, so a filter can match either side.
    prior: Option<Iso>,
    /// Read from the shared stream (another replica's, or this one's after
    /// the round trip), not appended by this process.
    mirrored: bool,
}

impl Record {
    /// Wraps `event`, serialising it.
    pub fn new(event: Event) -> Record {
        // Serialising plain data into a Vec cannot fail; an empty object
        // keeps the stream well-formed if it ever did.
        let json = serde_json::to_vec(&event).unwrap_or_else(|_| b"{}".to_vec());
        let provider = event.source.strip_prefix("/providers/").map(str::to_owned);
        let prior = match &event.data {
            EventData::Change(c) => c.before_item(),
            _ => None,
        };
        Record {
            event,
            json: Bytes::from(json),
            provider,
            prior,
            mirrored: false,
        }
    }

    /// An entry of the shared stream: its id (assigned by Redis) and its
    /// body (the event as [`EventDraft::stream_body`] wrote it). `None` for
    /// an id or body this build cannot read.
    pub fn from_stream(id: &str, body: &[u8]) -> Option<Record> {
        let id: EventId = id.parse().ok()?;
        let mut event: Event = serde_json::from_slice(body).ok()?;
        event.id = id;
        let mut r = Record::new(event);
        r.mirrored = true;
        Some(r)
    }

    /// Marks a record of the shared stream's life (a `reset` when the
    /// stream takes over), which the in-process webhook queue leaves alone.
    pub(crate) fn into_mirrored(mut self) -> Record {
        self.mirrored = true;
        self
    }

    /// Whether it came from the shared stream (see [`Record::from_stream`]).
    pub fn is_mirrored(&self) -> bool {
        self.mirrored
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Its id.
    pub fn id(&self) -> EventId {
        self.event.id
    }

    /// Its type.
    pub fn ty(&self) -> EventType {
        self.event.ty
    }

    /// The event as one line of JSON (no newline inside).
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The provider it concerns, if any.
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// For `iso.changed`, the item before the change.
    pub fn prior(&self) -> Option<&Iso> {
        self.prior.as_ref()
    }
}
