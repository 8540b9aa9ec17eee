//! The event log: resume misses and repeats nothing, old ids get `reset`,
//! filters and allow-lists never leak.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use isogate_core::{Iso, ItemKind, Limits, ProviderKind, Query, Status};
use isogate_feed::{
    Breaker, EventData, EventDraft, EventId, EventLog, EventType, Feed, Health, LogOptions,
    ProviderStatus, Record, Selector, Subscription,
};

fn item(provider: &str, n: usize, kind: ItemKind) -> Iso {
    let mut i = Iso::new(
        provider,
        ProviderKind::Cloudmc,
        kind,
        &format!("n{n:05}"),
        &format!("item {n}"),
    );
    i.status = Status::Ready;
    i
}

fn added(provider: &str, n: usize) -> EventDraft {
    let i = item(provider, n, ItemKind::Iso);
    EventDraft {
        ty: EventType::IsoAdded,
        provider: Some(provider.into()),
        subject: Some(i.id.clone()),
        data: EventData::Item(Box::new(i)),
    }
}

async fn next(sub: &mut Subscription) -> Arc<Record> {
    tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("an event within 5 s")
        .expect("the log is open")
}

async fn quiet(sub: &mut Subscription) {
    assert!(
        tokio::time::timeout(Duration::from_millis(100), sub.recv())
            .await
            .is_err(),
        "no further event"
    );
}

#[test]
fn ids_are_ordered_parseable_and_rendered_like_redis_stream_ids() {
    let id = EventId::new(1_718_000_000_000, 7);
    assert_eq!(id.to_string(), "1718000000000-7");
    assert_eq!("1718000000000-7".parse::<EventId>(), Ok(id));
    for bad in ["", "12", "a-1", "1-", "-1", "1-2-3", "+1-2", "1 -2"] {
        assert!(bad.parse::<EventId>().is_err(), "{bad:?}");
    }
    assert!(EventId::new(1, 9) < EventId::new(2, 0));
    assert_eq!(EventId::new(5, 3).next_at(5), EventId::new(5, 4));
    assert_eq!(
        EventId::new(5, 3).next_at(4),
        EventId::new(5, 4),
        "clock stepped back"
    );
    assert_eq!(EventId::new(5, 3).next_at(6), EventId::new(6, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_the_last_id_misses_nothing_and_repeats_nothing_under_concurrent_appends() {
    let log = EventLog::new(LogOptions {
        history: 100_000,
        live: 64,
    });
    let total = 3000;
    // Before any append: resuming from here replays everything.
    let start = log.last_id();
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            for n in 0..total {
                log.append(added("p", n));
                if n % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    // A client that reads a few events, disconnects and resumes, again and
    // again, while the writer appends.
    let mut seen: Vec<String> = Vec::new();
    let mut last: Option<EventId> = None;
    while seen.len() < total {
        let mut sub = log.subscribe_from(Some(last.unwrap_or(start)), Selector::all());
        for _ in 0..37 {
            if seen.len() == total {
                break;
            }
            let r = next(&mut sub).await;
            assert_ne!(r.ty(), EventType::Reset, "the history reaches back");
            if let Some(l) = last {
                assert!(r.id() > l, "ids only increase");
            }
            last = Some(r.id());
            seen.push(r.event().subject.clone().unwrap());
        }
    }
    writer.await.unwrap();
    let want: Vec<String> = (0..total).map(|n| item("p", n, ItemKind::Iso).id).collect();
    assert_eq!(seen, want, "every event once, in order");
}

#[tokio::test]
async fn a_subscriber_that_lags_behind_the_live_ring_catches_up_from_the_history() {
    let log = EventLog::new(LogOptions {
        history: 1000,
        live: 4,
    });
    let mut sub = log.subscribe_from(None, Selector::all());
    let ids: Vec<EventId> = (0..50).map(|n| log.append(added("p", n)).id()).collect();
    assert!(sub.lag() > 4, "behind the live ring");
    for want in ids {
        assert_eq!(next(&mut sub).await.id(), want);
    }
    quiet(&mut sub).await;
}

#[tokio::test]
async fn an_id_older_than_the_history_gets_one_reset_then_live_events() {
    let log = EventLog::new(LogOptions {
        history: 5,
        live: 16,
    });
    let first = log.append(added("p", 0)).id();
    for n in 1..20 {
        log.append(added("p", n));
    }
    let newest = log.last_id();
    let mut sub = log.subscribe_from(Some(first), Selector::all());
    let reset = next(&mut sub).await;
    assert_eq!(reset.ty(), EventType::Reset);
    assert_eq!(
        reset.id(),
        newest,
        "the reset is the point the stream continues from"
    );
    assert_eq!(reset.event().source, "/events");
    match &reset.event().data {
        EventData::Reset(r) => {
            assert_eq!(r.reason, "expired");
            assert_eq!(r.oldest, log.oldest_id());
        }
        other => panic!("{other:?}"),
    }
    quiet(&mut sub).await;
    let live = log.append(added("p", 99)).id();
    assert_eq!(next(&mut sub).await.id(), live);
    // Resuming from the reset's id (after re-listing) misses nothing.
    let mut again = log.subscribe_from(Some(reset.id()), Selector::all());
    assert_eq!(next(&mut again).await.id(), live);

    // An id from a previous run (before this log's start) and one from the
    // future (another replica) are resets too; so is the start of the ring.
    for (id, reason) in [
        (EventId::new(1, 0), "expired"),
        (EventId::new(u64::MAX, 0), "unknown"),
    ] {
        let mut s = log.subscribe_from(Some(id), Selector::all());
        let r = next(&mut s).await;
        match &r.event().data {
            EventData::Reset(d) => assert_eq!(d.reason, reason),
            other => panic!("{other:?}"),
        }
    }
    // An id still in the history resumes exactly after it.
    let oldest = log.oldest_id().unwrap();
    let mut s = log.subscribe_from(Some(oldest), Selector::all());
    let r = next(&mut s).await;
    assert_ne!(r.ty(), EventType::Reset);
    assert!(r.id() > oldest);
}

#[tokio::test]
async fn a_fresh_log_resumes_from_its_start_and_a_restart_resets_old_ids() {
    let log = EventLog::new(LogOptions::default());
    let start = log.last_id();
    let ids: Vec<EventId> = (0..3).map(|n| log.append(added("p", n)).id()).collect();
    let mut s = log.subscribe_from(Some(start), Selector::all());
    for id in &ids {
        assert_eq!(next(&mut s).await.id(), *id);
    }
    // "Restart": a new log; the old run's last id is older than its start.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let restarted = EventLog::new(LogOptions::default());
    let mut s = restarted.subscribe_from(Some(ids[2]), Selector::all());
    assert_eq!(next(&mut s).await.ty(), EventType::Reset);
}

fn query(pairs: &[(&str, &str)]) -> Query {
    Query::parse(pairs, &Limits::default()).unwrap()
}

#[tokio::test]
async fn filters_and_allow_lists_never_leak_other_providers_events() {
    let feed = Feed::new(LogOptions::default());
    let log = feed.log().clone();
    let allowed = log.subscribe_from(None, Selector::all().allow_providers(["a"]));
    let isos_of_b = log.subscribe_from(
        None,
        Selector::all()
            .allow_providers(["a", "b"])
            .query(query(&[("provider", "b"), ("kind", "iso")])),
    );
    let ready = log.subscribe_from(None, Selector::all().filter("status,eq,ready").unwrap());
    let only_status = log.subscribe_from(
        None,
        Selector::all()
            .allow_providers(["a"])
            .types([EventType::ProviderStatus]),
    );

    for p in ["a", "b", "c"] {
        let items: Vec<Iso> = (0..4)
            .map(|n| {
                item(
                    p,
                    n,
                    if n % 2 == 0 {
                        ItemKind::Iso
                    } else {
                        ItemKind::Image
                    },
                )
            })
            .collect();
        feed.snapshot(p, &items, true);
        let mut next_items = items.clone();
        next_items.push(item(p, 10, ItemKind::Iso));
        next_items.push(item(p, 11, ItemKind::Image));
        next_items[0].status = Status::Failed; // leaves the `ready` view
        next_items.remove(1);
        feed.snapshot(p, &next_items, true);
        let down = ProviderStatus {
            health: Health::Error,
            breaker: Breaker::Open,
            error: Some("upstream_unavailable".into()),
        };
        feed.observe_status(p, down);
    }
    let drain = |mut s: Subscription| async move {
        let mut out = Vec::new();
        while let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(100), s.recv()).await {
            out.push(r);
        }
        out
    };
    let a = drain(allowed).await;
    assert!(!a.is_empty());
    assert!(a.iter().all(|r| r.provider() == Some("a")), "allow-list");
    // synced, changed, removed, 2 added, status
    assert_eq!(a.len(), 6);

    let b = drain(isos_of_b).await;
    let kinds: BTreeSet<(EventType, String)> = b
        .iter()
        .map(|r| (r.ty(), r.event().subject.clone().unwrap_or_default()))
        .collect();
    assert!(
        b.iter().all(|r| r.provider() == Some("b")),
        "provider= applies to every event"
    );
    let want: BTreeSet<(EventType, String)> = [
        (EventType::ProviderSynced, String::new()),
        (EventType::IsoChanged, item("b", 0, ItemKind::Iso).id),
        (EventType::IsoAdded, item("b", 10, ItemKind::Iso).id),
        (EventType::ProviderStatus, String::new()),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        kinds, want,
        "kind=iso keeps images out; provider events pass"
    );

    let r = drain(ready).await;
    // The change to failed passes: the item was ready before, it left the view.
    assert_eq!(
        r.iter().filter(|r| r.ty() == EventType::IsoChanged).count(),
        3
    );
    for rec in &r {
        if let EventData::Item(i) = &rec.event().data {
            assert_eq!(i.status, Status::Ready);
        }
    }

    let s = drain(only_status).await;
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].ty(), EventType::ProviderStatus);
    assert_eq!(s[0].provider(), Some("a"));
}

#[tokio::test]
async fn resets_reach_every_subscriber_whatever_its_filter() {
    let log = EventLog::new(LogOptions {
        history: 2,
        live: 16,
    });
    let old = log.append(added("a", 0)).id();
    for n in 1..5 {
        log.append(added("a", n));
    }
    let mut s = log.subscribe_from(
        Some(old),
        Selector::all()
            .allow_providers(["nobody"])
            .types([EventType::IsoAdded]),
    );
    assert_eq!(next(&mut s).await.ty(), EventType::Reset);
    log.append(added("a", 9));
    quiet(&mut s).await;
}
