//! Snapshots of a real (simulated) catalogue become exactly the expected events.

use std::collections::BTreeMap;

use isogate_core::{Iso, IsoProviderExt, Status};
use isogate_cox::{CoxConfig, CoxProvider};
use isogate_feed::{
    Breaker, Differ, Event, EventData, EventType, Feed, Health, LogOptions, ProviderStatus,
    content_hash, diff_snapshots,
};
use isogate_sim::cox::{self, Options};
use secrecy::SecretString;

/// The Cox simulator's catalogue, listed through the real adapter.
async fn cox_listing(name: &str) -> Vec<Iso> {
    let sim = cox::start(Options::default()).await.unwrap();
    let cfg = CoxConfig {
        base_url: sim.base_url(),
        api_key: SecretString::from(cox::DEFAULT_API_KEY),
        service_code: cox::SERVICE_CODE.into(),
        environment: cox::ENVIRONMENT.into(),
        org_id: None,
        include_only_system_images: false,
        timeout_ms: 2000,
        connect_timeout_ms: 2000,
    };
    let items = CoxProvider::new(name, cfg)
        .unwrap()
        .list_all()
        .await
        .unwrap();
    assert!(items.len() > 20, "the simulator lists a catalogue");
    items
}

fn summary(drafts: &[isogate_feed::EventDraft]) -> Vec<(EventType, String)> {
    drafts
        .iter()
        .map(|d| (d.ty, d.subject.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn first_snapshot_is_one_synced_event_never_an_avalanche_of_adds() {
    let items = cox_listing("cox-a").await;
    let mut d = Differ::new();
    let first = d.snapshot("cox-a", &items, true);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].ty, EventType::ProviderSynced);
    match &first[0].data {
        EventData::Synced(s) => {
            assert_eq!(s.count, items.len());
            assert_eq!(s.provider, "cox-a");
        }
        other => panic!("{other:?}"),
    }
    // The same listing again, in another order and with other raw objects: nothing.
    let mut again = items.clone();
    again.reverse();
    for i in &mut again {
        i.raw = Some(serde_json::json!({"etag": "changes every poll"}));
    }
    assert!(d.snapshot("cox-a", &again, true).is_empty());
    // Another provider's first snapshot is its own synced event.
    let other = d.snapshot("cox-b", &items[..3], true);
    assert_eq!(
        summary(&other),
        vec![(EventType::ProviderSynced, String::new())]
    );
}

#[tokio::test]
async fn catalogue_changes_give_exactly_the_expected_events_in_id_order() {
    let before = cox_listing("cox").await;
    let mut after = before.clone();
    // Removed: two items. Added: one new one (a copy with a new identity).
    let gone_a = after.remove(3);
    let gone_b = after.remove(10);
    let mut fresh = before[0].clone();
    fresh.native_id = "stack/new-family/v1".into();
    fresh.id = isogate_core::GlobalId::encode("cox", &fresh.native_id);
    fresh.name = "new-family v1".into();
    after.push(fresh.clone());
    // Changed: one item's name and status; another's labels only.
    let ch = after
        .iter_mut()
        .find(|i| i.status != Status::Failed)
        .unwrap();
    let ch_id = ch.id.clone();
    let (old_name, old_status) = (ch.name.clone(), ch.status);
    ch.name = format!("{} (renamed)", ch.name);
    ch.status = Status::Failed;
    let lab = after
        .iter_mut()
        .rev()
        .find(|i| i.id != ch_id && i.id != fresh.id)
        .unwrap();
    let lab_id = lab.id.clone();
    lab.labels.insert("tier".into(), "gold".into());
    // A raw-only change is not a change.
    let quiet = after
        .iter()
        .position(|i| i.id != ch_id && i.id != lab_id)
        .unwrap();
    after[quiet].raw = Some(serde_json::json!({"noise": 1}));

    let events = diff_snapshots("cox", &before, &after);
    let mut expected: BTreeMap<String, EventType> = BTreeMap::new();
    expected.insert(gone_a.id.clone(), EventType::IsoRemoved);
    expected.insert(gone_b.id.clone(), EventType::IsoRemoved);
    expected.insert(fresh.id.clone(), EventType::IsoAdded);
    expected.insert(ch_id.clone(), EventType::IsoChanged);
    expected.insert(lab_id.clone(), EventType::IsoChanged);
    let want: Vec<(EventType, String)> = expected.into_iter().map(|(id, t)| (t, id)).collect();
    assert_eq!(summary(&events), want, "exactly these, in global-id order");

    for e in &events {
        match (&e.ty, &e.data) {
            (EventType::IsoRemoved, EventData::Item(item)) => {
                let orig = [&gone_a, &gone_b]
                    .into_iter()
                    .find(|g| g.id == item.id)
                    .unwrap();
                assert_eq!(item.name, orig.name, "a removal carries the removed item");
                assert!(item.raw.is_none());
            }
            (EventType::IsoAdded, EventData::Item(item)) => assert_eq!(item.as_ref(), &fresh),
            (EventType::IsoChanged, EventData::Change(c)) if c.item.id == ch_id => {
                assert_eq!(c.fields, vec!["name", "status"]);
                assert_eq!(c.before["name"], serde_json::json!(old_name));
                assert_eq!(c.before["status"], serde_json::json!(old_status.as_str()));
                assert_eq!(c.after["status"], serde_json::json!("failed"));
                assert_eq!(c.item.status, Status::Failed);
                let prior = c.before_item().unwrap();
                assert_eq!(prior.name, old_name);
                assert_eq!(prior.status, old_status);
            }
            (EventType::IsoChanged, EventData::Change(c)) => {
                assert_eq!(c.item.id, lab_id);
                assert_eq!(c.fields, vec!["labels"]);
                assert_eq!(c.after["labels"]["tier"], "gold");
                assert!(c.before["labels"].get("tier").is_none());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn the_content_hash_ignores_raw_and_sees_every_field() {
    let mut a = Iso::new(
        "p",
        isogate_core::ProviderKind::Cloudmc,
        isogate_core::ItemKind::Iso,
        "n1",
        "Debian",
    );
    let h = content_hash(&a);
    a.raw = Some(serde_json::json!({"x": 1}));
    assert_eq!(content_hash(&a), h);
    a.size_bytes = Some(1);
    assert_ne!(content_hash(&a), h);
    let h2 = content_hash(&a);
    a.zones.push(isogate_core::ZoneRef {
        id: "z".into(),
        name: None,
    });
    assert_ne!(content_hash(&a), h2);
}

#[tokio::test]
async fn a_partial_listing_adds_and_changes_but_never_removes() {
    let items = cox_listing("cox").await;
    let mut d = Differ::new();
    d.snapshot("cox", &items, true);
    let mut partial: Vec<Iso> = items[..5].to_vec();
    partial[0].name = "changed".into();
    let events = d.snapshot("cox", &partial, false);
    assert_eq!(
        summary(&events),
        vec![(EventType::IsoChanged, items[0].id.clone())]
    );
    // The missing items are still known: the next complete listing of the
    // original catalogue reports only the change back, not re-additions.
    let events = d.snapshot("cox", &items, true);
    assert_eq!(
        summary(&events),
        vec![(EventType::IsoChanged, items[0].id.clone())]
    );
    // And a complete listing without them removes them.
    let events = d.snapshot("cox", &items[..5], true);
    assert_eq!(events.len(), items.len() - 5);
    assert!(events.iter().all(|e| e.ty == EventType::IsoRemoved));
}

#[test]
fn provider_status_events_only_on_change() {
    let feed = Feed::new(LogOptions::default());
    let down = ProviderStatus {
        health: Health::Error,
        breaker: Breaker::Closed,
        error: Some("upstream_unavailable".into()),
    };
    let open = ProviderStatus {
        breaker: Breaker::Open,
        ..down.clone()
    };
    // A healthy first observation is no news.
    assert!(feed.observe_status("a", ProviderStatus::ok()).is_none());
    assert!(feed.observe_status("a", ProviderStatus::ok()).is_none());
    let e = feed.observe_status("a", down.clone()).expect("ok -> error");
    match &e.event().data {
        EventData::Status(s) => {
            assert_eq!((s.status, s.previous), (Health::Error, Some(Health::Ok)));
            assert_eq!(s.error.as_deref(), Some("upstream_unavailable"));
        }
        other => panic!("{other:?}"),
    }
    let other_code = ProviderStatus {
        error: Some("timeout".into()),
        ..down.clone()
    };
    assert!(
        feed.observe_status("a", other_code).is_none(),
        "same health, other code"
    );
    let e = feed.observe_status("a", open).expect("breaker opened");
    match &e.event().data {
        EventData::Status(s) => {
            assert_eq!(s.breaker, Breaker::Open);
            assert_eq!(s.previous_breaker, Some(Breaker::Closed));
        }
        other => panic!("{other:?}"),
    }
    let stale = ProviderStatus {
        health: Health::Stale,
        breaker: Breaker::Closed,
        error: Some("timeout".into()),
    };
    assert!(
        feed.observe_status("a", stale).is_some(),
        "error/open -> stale/closed"
    );
    let back = feed
        .observe_status("a", ProviderStatus::ok())
        .expect("back to ok");
    match &back.event().data {
        EventData::Status(s) => {
            assert_eq!((s.status, s.previous), (Health::Ok, Some(Health::Stale)));
            assert_eq!(s.error, None);
        }
        other => panic!("{other:?}"),
    }
    // A provider down at start is news.
    assert!(feed.observe_status("b", down).is_some());
    assert_eq!(feed.log().len(), 5);
}

#[tokio::test]
async fn events_are_cloudevents_1_0_structured_json() {
    let items = cox_listing("cox").await;
    let feed = Feed::new(LogOptions::default());
    feed.snapshot("cox", &items, true);
    let mut next = items.clone();
    next[1].description = Some("now described".into());
    let recs = feed.snapshot("cox", &next[1..], true);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        let v: serde_json::Value = serde_json::from_slice(r.json()).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["source"], "/providers/cox");
        assert_eq!(v["datacontenttype"], "application/json");
        assert_eq!(v["id"], r.id().to_string());
        assert!(v["type"].as_str().unwrap().starts_with("io.isogate.iso."));
        let time = v["time"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        assert!(!r.json().contains(&b'\n'), "one line of JSON");
        // Round trip through the typed form.
        let back: Event = serde_json::from_slice(r.json()).unwrap();
        assert_eq!(&back, r.event());
    }
    let by_type = |t: EventType| recs.iter().find(|r| r.ty() == t).unwrap();
    let removed: serde_json::Value =
        serde_json::from_slice(by_type(EventType::IsoRemoved).json()).unwrap();
    assert_eq!(removed["type"], "io.isogate.iso.removed");
    assert_eq!(removed["subject"], items[0].id);
    assert_eq!(removed["data"]["id"], items[0].id);
    let changed: serde_json::Value =
        serde_json::from_slice(by_type(EventType::IsoChanged).json()).unwrap();
    assert_eq!(changed["type"], "io.isogate.iso.changed");
    assert_eq!(
        changed["data"]["fields"],
        serde_json::json!(["description"])
    );
    assert_eq!(changed["data"]["after"]["description"], "now described");
    assert!(recs[0].id() < recs[1].id(), "ids increase");
}

/// Items shared with a deferred baseline, counting how often they are read.
struct Counted(Vec<Iso>, std::sync::atomic::AtomicUsize);

impl AsRef<[Iso]> for Counted {
    fn as_ref(&self) -> &[Iso] {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.0
    }
}

#[tokio::test]
async fn a_deferred_baseline_is_hashed_only_when_diffed_and_gives_the_same_events() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    let before = cox_listing("cox").await;
    let mut after = before.clone();
    after.remove(5);
    after[0].name = format!("{} (renamed)", after[0].name);
    let eager = diff_snapshots("cox", &before, &after);
    assert_eq!(eager.len(), 2, "{:?}", summary(&eager));

    let feed = Feed::new(LogOptions::default());
    // Replicas adopt several snapshots in a row: none of them is read.
    let older = Arc::new(Counted(before[1..].to_vec(), Default::default()));
    let base = Arc::new(Counted(before.clone(), Default::default()));
    assert!(feed.defer("cox", older.clone(), true));
    assert!(feed.defer("cox", base.clone(), true));
    assert_eq!(older.1.load(Ordering::Relaxed), 0, "replaced unhashed");
    assert_eq!(base.1.load(Ordering::Relaxed), 0, "deferring reads nothing");
    // A snapshot of its own is diffed against the deferred one: the same
    // events as with a hashed baseline, and the baseline is read once.
    let deferred = feed.diff("cox", &after, true);
    assert_eq!(summary(&deferred), summary(&eager));
    assert_eq!(base.1.load(Ordering::Relaxed), 1);
    assert!(
        feed.diff("cox", &after, true).is_empty(),
        "now hashed: no change"
    );
    assert_eq!(base.1.load(Ordering::Relaxed), 1, "hashed once");
    // A partial snapshot adds to a baseline it cannot replace: not deferred.
    let partial = Arc::new(Counted(after[..3].to_vec(), Default::default()));
    assert!(!feed.defer("cox", partial.clone(), false));
    assert_eq!(partial.1.load(Ordering::Relaxed), 0);
    // Unknown providers have nothing to add to: deferred.
    assert!(feed.defer("new", partial, false));
}
