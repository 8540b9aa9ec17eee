//! The log as a mirror of a shared stream (the gateway's Redis Stream):
//! entries keep the ids the stream gave, a replay read elsewhere meets the
//! live ones without a gap or a repeat, and a switch of id source is one
//! `reset` that every subscriber follows, even to lower ids.

use std::sync::Arc;
use std::time::Duration;

use isogate_core::{Iso, ItemKind, ProviderKind};
use isogate_feed::{
    EventData, EventDraft, EventId, EventLog, EventType, LogOptions, Record, Selector, Subscription,
};

fn added(n: usize) -> EventDraft {
    let i = Iso::new(
        "p",
        ProviderKind::Cloudmc,
        ItemKind::Iso,
        &format!("n{n}"),
        "x",
    );
    EventDraft {
        ty: EventType::IsoAdded,
        provider: Some("p".into()),
        subject: Some(i.id.clone()),
        data: EventData::Item(Box::new(i)),
    }
}

/// As the stream would hand it back: the body, and the id Redis gave.
fn entry(id: &str, n: usize) -> Arc<Record> {
    Arc::new(Record::from_stream(id, &added(n).stream_body()).expect("readable"))
}

async fn next(sub: &mut Subscription) -> Arc<Record> {
    tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("an event within 5 s")
        .expect("the log is open")
}

#[test]
fn a_stream_entry_keeps_its_id_and_reads_back_as_the_event() {
    let r = entry("1700000000000-3", 7);
    assert_eq!(r.id(), EventId::new(1_700_000_000_000, 3));
    assert!(r.is_mirrored());
    assert_eq!(r.ty(), EventType::IsoAdded);
    assert_eq!(r.provider(), Some("p"));
    let json: serde_json::Value = serde_json::from_slice(r.json()).unwrap();
    assert_eq!(
        json["id"], "1700000000000-3",
        "the body carries the stream's id"
    );
    assert!(Record::from_stream("not-an-id", b"{}").is_none());
    assert!(Record::from_stream("1-0", b"{").is_none());
}

#[tokio::test]
async fn a_replay_read_elsewhere_meets_the_live_entries_exactly() {
    let log = EventLog::new(LogOptions::default());
    assert!(
        log.rebase(EventId::new(1, 0)),
        "an empty log moves silently"
    );
    // Subscribed first; the replay (what XRANGE answered) comes after, and
    // overlaps what the mirror delivers live.
    let mut sub = log.subscribe_from(None, Selector::all());
    log.insert(entry("10-0", 1));
    log.insert(entry("11-0", 2));
    sub.replay(vec![entry("9-0", 0), entry("10-0", 1)], EventId::new(8, 0));
    assert!(!log.insert(entry("11-0", 2)), "a repeat is dropped");
    log.insert(entry("12-0", 3));
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(next(&mut sub).await.id().to_string());
    }
    assert_eq!(got, ["9-0", "10-0", "11-0", "12-0"]);
    assert!(!log.rebase(EventId::new(1, 0)), "not once it holds events");
}

#[tokio::test]
async fn a_switch_is_one_reset_and_subscribers_follow_to_lower_ids() {
    let log = EventLog::new(LogOptions::default());
    log.rebase(EventId::new(1, 0));
    let mut sub = log.subscribe_from(None, Selector::all());
    log.insert(entry("100-0", 1));
    // Local ids while the stream is away, then the stream is back at 50-0.
    log.append(added(2));
    log.reset_to(EventId::new(50, 0), "failover");
    log.insert(entry("51-0", 3));
    let a = next(&mut sub).await;
    let b = next(&mut sub).await;
    let reset = next(&mut sub).await;
    let after = next(&mut sub).await;
    assert_eq!(a.id().to_string(), "100-0");
    assert!(!b.is_mirrored() && b.id() > a.id());
    assert_eq!(reset.ty(), EventType::Reset);
    assert_eq!(reset.id(), EventId::new(50, 0));
    assert!(
        reset.is_mirrored(),
        "the in-process webhook queue leaves it alone"
    );
    match &reset.event().data {
        EventData::Reset(r) => assert_eq!(r.reason, "failover"),
        other => panic!("{other:?}"),
    }
    assert_eq!(after.id().to_string(), "51-0");
    // The old history is gone: a resume from a local id is a reset.
    let mut late = log.subscribe_from(Some(b.id()), Selector::all());
    assert_eq!(next(&mut late).await.ty(), EventType::Reset);
}
