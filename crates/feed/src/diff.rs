//! Snapshots to events: what changed between two listings of one provider,
//! and when its health or breaker moved.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use isogate_core::Iso;
use serde_json::{Map, Value};
use xxhash_rust::xxh3::Xxh3;

use crate::event::{
    Breaker, ChangeData, EventData, EventDraft, EventType, Health, StatusData, SyncedData,
};

/// A content hash of an item: XXH3-128 of its JSON without `raw` (the
/// upstream object may carry volatile fields the model does not show).
/// Not a cryptographic hash: it only has to tell an item's versions apart
/// (a collision between an item's two versions, ~2^-128, would lose one
/// `iso.changed`), and it runs over every item of every snapshot.
pub type ContentHash = u128;

/// The content hash of `item` (`raw` ignored), hashed as it serialises:
/// no JSON value is built. The model's fields serialise in declaration
/// order and its maps are ordered, so equal content gives equal bytes.
pub fn content_hash(item: &Iso) -> ContentHash {
    let mut hasher = Xxh3::new();
    let written = if item.raw.is_some() {
        let mut bare = item.clone();
        bare.raw = None;
        serde_json::to_writer(HashWriter(&mut hasher), &bare)
    } else {
        serde_json::to_writer(HashWriter(&mut hasher), item)
    };
    // Serialising a model item cannot fail (string keys, no custom errors).
    debug_assert!(written.is_ok());
    hasher.digest128()
}

/// Feeds what is written to a hasher.
struct HashWriter<'a>(&'a mut Xxh3);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The item's top-level fields as JSON, `raw` left out.
fn fields_of(item: &Iso) -> Map<String, Value> {
    match serde_json::to_value(item) {
        Ok(Value::Object(mut m)) => {
            m.remove("raw");
            m
        }
        _ => Map::new(),
    }
}

/// The item as events carry it: without `raw`.
fn normalised(item: &Iso) -> Iso {
    let mut item = item.clone();
    item.raw = None;
    item
}

#[derive(Clone, Debug)]
struct Entry {
    hash: ContentHash,
    item: Iso,
}

/// Items a baseline can hold without copying or hashing them (the
/// gateway's cached snapshot, shared by `Arc`).
pub type SharedItems = Arc<dyn AsRef<[Iso]> + Send + Sync>;

/// One provider's last snapshot.
enum Baseline {
    /// Hashed, with its own copy of the items (without `raw`), so the
    /// gateway's cache may evict snapshots freely; a removal still carries
    /// the removed item.
    Hashed(BTreeMap<String, Entry>),
    /// Not hashed yet (see [`Differ::defer`]).
    Deferred(SharedItems),
}

impl Baseline {
    fn hashed(&mut self) -> &mut BTreeMap<String, Entry> {
        if let Baseline::Deferred(items) = self {
            *self = Baseline::Hashed(Differ::prepare((**items).as_ref()).0);
        }
        match self {
            Baseline::Hashed(map) => map,
            Baseline::Deferred(_) => unreachable!("hashed just above"),
        }
    }
}

impl std::fmt::Debug for Baseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Baseline::Hashed(m) => write!(f, "Hashed({} items)", m.len()),
            Baseline::Deferred(i) => write!(f, "Deferred({} items)", (**i).as_ref().len()),
        }
    }
}

/// The last snapshot of every provider, as hashes and items.
#[derive(Debug, Default)]
pub struct Differ {
    baselines: HashMap<String, Baseline>,
}

impl Differ {
    /// A differ that has seen nothing.
    pub fn new() -> Differ {
        Differ::default()
    }

    /// Whether `provider` has a baseline.
    pub fn knows(&self, provider: &str) -> bool {
        self.baselines.contains_key(provider)
    }

    /// Forgets `provider` (removed from the configuration): its next
    /// snapshot is a first one again.
    pub fn forget(&mut self, provider: &str) {
        self.baselines.remove(provider);
    }

    /// Takes a new snapshot of `provider` and answers what changed, in
    /// global-id order.
    ///
    /// - The first snapshot of a provider answers one `provider.synced`
    ///   with its count, never one `iso.added` per item.
    /// - `complete = false` (the listing is known to be partial) answers
    ///   additions and changes but no removals: an item missing from a
    ///   partial page is not gone, so it stays in the baseline.
    /// - A repeated global id in `items` counts once (the first wins).
    pub fn snapshot(&mut self, provider: &str, items: &[Iso], complete: bool) -> Vec<EventDraft> {
        self.apply(provider, Differ::prepare(items), complete)
    }

    /// The hashed form of a snapshot, made without the differ (so callers
    /// hash outside whatever lock guards it; it is most of the work).
    pub fn prepare(items: &[Iso]) -> Prepared {
        let mut next: BTreeMap<String, Entry> = BTreeMap::new();
        for item in items {
            next.entry(item.id.clone()).or_insert_with(|| Entry {
                hash: content_hash(item),
                item: normalised(item),
            });
        }
        Prepared(next)
    }

    /// Makes `items`, a complete snapshot, the baseline of `provider`
    /// without hashing it or answering events: it is hashed only if a later
    /// snapshot is diffed against it. For a snapshot whose changes another
    /// replica announced (adopted from the shared tier): most are replaced
    /// by the next adopted one before anything is diffed here.
    pub fn defer(&mut self, provider: &str, items: SharedItems) {
        self.baselines
            .insert(provider.to_owned(), Baseline::Deferred(items));
    }

    /// The baseline of `provider` when it is still [deferred](Differ::defer),
    /// to [prepare](Differ::prepare) outside a lock and hand to
    /// [`Differ::resolve`].
    pub fn deferred(&self, provider: &str) -> Option<SharedItems> {
        match self.baselines.get(provider) {
            Some(Baseline::Deferred(items)) => Some(items.clone()),
            _ => None,
        }
    }

    /// Puts `prepared`, the hashed form of `items`, in place of the deferred
    /// baseline `items` of `provider`; nothing when the baseline moved on.
    pub fn resolve(&mut self, provider: &str, items: &SharedItems, prepared: Prepared) {
        if let Some(b) = self.baselines.get_mut(provider)
            && matches!(b, Baseline::Deferred(current) if Arc::ptr_eq(current, items))
        {
            *b = Baseline::Hashed(prepared.0);
        }
    }

    /// [`Differ::snapshot`] of an already [prepared](Differ::prepare) snapshot.
    pub fn apply(&mut self, provider: &str, prepared: Prepared, complete: bool) -> Vec<EventDraft> {
        let next = prepared.0;
        let Some(prev) = self.baselines.get_mut(provider).map(Baseline::hashed) else {
            let count = next.len();
            self.baselines
                .insert(provider.to_owned(), Baseline::Hashed(next));
            return vec![EventDraft {
                ty: EventType::ProviderSynced,
                provider: Some(provider.to_owned()),
                subject: None,
                data: EventData::Synced(SyncedData {
                    provider: provider.to_owned(),
                    count,
                }),
            }];
        };
        let events = diff_maps(provider, prev, &next, complete);
        if complete {
            *prev = next;
        } else {
            prev.extend(next);
        }
        events
    }
}

/// A snapshot hashed for [`Differ::apply`].
#[derive(Debug)]
pub struct Prepared(BTreeMap<String, Entry>);

/// The events between two snapshots of `provider` (both complete), in
/// global-id order: what [`Differ::snapshot`] answers for `next` after `prev`.
pub fn diff_snapshots(provider: &str, prev: &[Iso], next: &[Iso]) -> Vec<EventDraft> {
    let mut d = Differ::new();
    d.snapshot(provider, prev, true);
    d.snapshot(provider, next, true)
}

fn diff_maps(
    provider: &str,
    prev: &BTreeMap<String, Entry>,
    next: &BTreeMap<String, Entry>,
    complete: bool,
) -> Vec<EventDraft> {
    let mut out = Vec::new();
    let mut old = prev.iter().peekable();
    let mut new = next.iter().peekable();
    // A merge of two id-ordered maps: one pass, events in id order.
    loop {
        let step = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match step {
            std::cmp::Ordering::Less => {
                let (id, e) = old.next().expect("peeked");
                if complete {
                    out.push(item_event(EventType::IsoRemoved, provider, id, &e.item));
                }
            }
            std::cmp::Ordering::Greater => {
                let (id, e) = new.next().expect("peeked");
                out.push(item_event(EventType::IsoAdded, provider, id, &e.item));
            }
            std::cmp::Ordering::Equal => {
                let (id, a) = old.next().expect("peeked");
                let (_, b) = new.next().expect("peeked");
                if a.hash != b.hash
                    && let Some(change) = change_of(&a.item, &b.item)
                {
                    out.push(EventDraft {
                        ty: EventType::IsoChanged,
                        provider: Some(provider.to_owned()),
                        subject: Some(id.clone()),
                        data: EventData::Change(Box::new(change)),
                    });
                }
            }
        }
    }
    out
}

fn item_event(ty: EventType, provider: &str, id: &str, item: &Iso) -> EventDraft {
    EventDraft {
        ty,
        provider: Some(provider.to_owned()),
        subject: Some(id.to_owned()),
        data: EventData::Item(Box::new(item.clone())),
    }
}

/// The changed fields of two versions of one item, `None` if none differ.
fn change_of(before: &Iso, after: &Iso) -> Option<ChangeData> {
    let a = fields_of(before);
    let b = fields_of(after);
    let mut change = ChangeData {
        fields: Vec::new(),
        before: Map::new(),
        after: Map::new(),
        item: Box::new(after.clone()),
    };
    // The model's field order, so `fields` reads like the item does.
    for name in isogate_core::query::FIELD_NAMES {
        let (x, y) = (a.get(name), b.get(name));
        if x != y {
            change.fields.push(name.to_owned());
            change
                .before
                .insert(name.to_owned(), x.cloned().unwrap_or(Value::Null));
            change
                .after
                .insert(name.to_owned(), y.cloned().unwrap_or(Value::Null));
        }
    }
    (!change.fields.is_empty()).then_some(change)
}

/// What the gateway knows of a provider's condition at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderStatus {
    /// Listing health.
    pub health: Health,
    /// The breaker (map half-open to [`Breaker::Open`]).
    pub breaker: Breaker,
    /// The error code when not ok (e.g. `upstream_unavailable`); not compared.
    pub error: Option<String>,
}

impl ProviderStatus {
    /// Healthy, breaker closed.
    pub fn ok() -> ProviderStatus {
        ProviderStatus {
            health: Health::Ok,
            breaker: Breaker::Closed,
            error: None,
        }
    }
}

/// The last status of every provider; answers an event only on change.
#[derive(Debug, Default)]
pub struct StatusTracker {
    last: HashMap<String, ProviderStatus>,
}

impl StatusTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> StatusTracker {
        StatusTracker::default()
    }

    /// Records `status` of `provider`: a `provider.status` event when its
    /// health or breaker differs from the last observation. The first
    /// observation answers an event only when it is not ok-and-closed (a
    /// provider that is down at start is news; a healthy one is not).
    /// A different error code with the same health is not a change.
    pub fn observe(&mut self, provider: &str, status: ProviderStatus) -> Option<EventDraft> {
        let before = self.last.get(provider);
        let changed = match before {
            None => status.health != Health::Ok || status.breaker != Breaker::Closed,
            Some(b) => b.health != status.health || b.breaker != status.breaker,
        };
        let draft = changed.then(|| EventDraft {
            ty: EventType::ProviderStatus,
            provider: Some(provider.to_owned()),
            subject: None,
            data: EventData::Status(StatusData {
                provider: provider.to_owned(),
                status: status.health,
                previous: before.map(|b| b.health),
                breaker: status.breaker,
                previous_breaker: before.map(|b| b.breaker),
                error: if status.health == Health::Ok {
                    None
                } else {
                    status.error.clone()
                },
            }),
        });
        self.last.insert(provider.to_owned(), status);
        draft
    }

    /// Forgets `provider`.
    pub fn forget(&mut self, provider: &str) {
        self.last.remove(provider);
    }
}
