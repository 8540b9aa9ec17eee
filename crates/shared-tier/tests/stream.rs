//! The change feed's stream primitives on a real `redis-server`: the
//! guarded append (one writer per change), the resume check (an entry, the
//! last trimmed id, the newest id; anything else is not resumable), the
//! blocking reader, and consumer groups with a dead consumer's entries
//! claimed by another.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{RedisServer, TierOf};
use isogate_shared_tier::{AppendGuard, AppendOutcome, Snapshot, testdata};

fn body(n: usize) -> Vec<u8> {
    format!("{{\"n\":{n}}}").into_bytes()
}

fn baseline(provider: &str, expect: &str, set: &str) -> AppendGuard {
    AppendGuard::Baseline {
        provider: provider.into(),
        expect: expect.into(),
        set: set.into(),
    }
}

#[tokio::test]
async fn a_baseline_guard_lets_exactly_one_of_two_writers_append_a_change() {
    let redis = RedisServer::start();
    let tier = redis.tier();
    // The tier holds snapshot v (as after the fetcher's publish).
    let v = tier.next_version().await.unwrap();
    let snap = Snapshot {
        version: v,
        fetched_at: Utc::now(),
        incomplete: None,
        items: testdata::catalogue("p", 3),
    };
    tier.publish_snapshot("p", &snap).await.unwrap();

    let first = tier
        .feed_append(&baseline("p", "", &v.to_string()), &[body(1)], 100)
        .await
        .unwrap();
    let AppendOutcome::Appended(ids) = first else {
        panic!("{first:?}")
    };
    assert_eq!(ids.len(), 1);
    // A second writer with the same (stale) expectation is refused and told
    // the baseline now.
    let second = tier
        .feed_append(&baseline("p", "", &v.to_string()), &[body(1)], 100)
        .await
        .unwrap();
    assert_eq!(second, AppendOutcome::Refused(v.to_string()));
    // The feed kept a copy of the tier's snapshot v as its baseline.
    let kept = tier
        .feed_baseline("p")
        .await
        .unwrap()
        .expect("a baseline copy");
    assert_eq!(kept.version, v);
    assert_eq!(kept.items.len(), 3);
    // An invalidation drops the tier's snapshot, not the feed's copy.
    tier.invalidate(&isogate_shared_tier::Scope::Provider("p".into()), &[])
        .await
        .unwrap();
    assert!(tier.get_snapshot("p").await.unwrap().is_none());
    assert_eq!(tier.feed_baseline("p").await.unwrap().unwrap().version, v);

    // A status guard appends only changes.
    let st = |s: &str| AppendGuard::Changes {
        key: "feedstatus:p".into(),
        set: s.into(),
    };
    assert!(matches!(
        tier.feed_append(&st("error"), &[body(2)], 100)
            .await
            .unwrap(),
        AppendOutcome::Appended(_)
    ));
    assert!(matches!(
        tier.feed_append(&st("error"), &[body(2)], 100)
            .await
            .unwrap(),
        AppendOutcome::Refused(_)
    ));
    // From the start while nothing was trimmed: everything.
    let all = tier.feed_range_after("0-0", 100).await.unwrap();
    assert!(all.resumable);
    assert_eq!(all.entries.len(), 2);
    assert_eq!(all.entries[0].body, body(1));
}

#[tokio::test]
async fn resumable_ids_are_entries_the_last_trimmed_one_or_the_newest() {
    let redis = RedisServer::start();
    let tier = redis.tier();
    // No stream yet: only its start resumes.
    let empty = tier.feed_range_after("5-0", 10).await.unwrap();
    assert!(!empty.resumable);
    assert_eq!(empty.last, "0-0");
    assert!(tier.feed_range_after("0-0", 10).await.unwrap().resumable);

    let mut ids = Vec::new();
    for n in 0..300 {
        let AppendOutcome::Appended(mut got) = tier
            .feed_append(&AppendGuard::None, &[body(n)], 50)
            .await
            .unwrap()
        else {
            panic!("unguarded appends are never refused")
        };
        ids.append(&mut got);
    }
    let r = tier.feed_range_after(&ids[290], 100).await.unwrap();
    assert!(r.resumable);
    let after: Vec<_> = r.entries.iter().map(|e| e.id.clone()).collect();
    assert_eq!(after, ids[291..]);
    assert_eq!(r.last, ids[299]);
    // The newest id: resumable, nothing after it.
    let r = tier.feed_range_after(&ids[299], 100).await.unwrap();
    assert!(r.resumable && r.entries.is_empty());
    // Trimmed (MAXLEN ~ 50 keeps about 50): the first id is gone; an id
    // between two entries was never issued. Neither resumes.
    let r = tier.feed_range_after(&ids[0], 100).await.unwrap();
    assert!(!r.resumable);
    assert!(r.entries.is_empty());
    let first = r.first.clone().expect("a first entry");
    assert!(first > ids[0]);
    let pos = ids.iter().position(|i| *i == first).unwrap();
    assert!(pos >= 200, "about 50 kept, {} are", 300 - pos);
    // The entry just before the first kept one was trimmed: Redis does not
    // record which ids trimming dropped, so it gets a reset (a spare one,
    // never a gap), as does the start of a stream that lost entries.
    assert!(
        !tier
            .feed_range_after(&ids[pos - 1], 400)
            .await
            .unwrap()
            .resumable
    );
    assert!(!tier.feed_range_after("0-0", 400).await.unwrap().resumable);
    let (ms, _) = ids[250].split_once('-').unwrap();
    let never = format!("{ms}-999999");
    assert!(!tier.feed_range_after(&never, 10).await.unwrap().resumable);
}

#[tokio::test]
async fn the_reader_blocks_until_an_entry_and_groups_hand_a_dead_consumers_entries_on() {
    let redis = RedisServer::start();
    let tier = redis.tier();
    tier.group_create("wh:test").await.unwrap();
    // Creating it again is fine (every replica does at start).
    tier.group_create("wh:test").await.unwrap();
    let start = tier.feed_last_id().await.unwrap();
    let mut reader = tier.feed_reader();
    let writer = tier.clone();
    let append = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        writer
            .feed_append(&AppendGuard::None, &[body(1), body(2), body(3)], 100)
            .await
            .unwrap()
    });
    let t = std::time::Instant::now();
    let got = reader
        .read(&start, Duration::from_secs(3), 10)
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150), "it blocked");
    let AppendOutcome::Appended(ids) = append.await.unwrap() else {
        panic!()
    };
    assert_eq!(
        got.iter().map(|e| &e.id).collect::<Vec<_>>(),
        ids.iter().collect::<Vec<_>>()
    );

    // Consumer "dead" reads two and dies before acknowledging.
    let taken = tier.group_read("wh:test", "dead", false, 2).await.unwrap();
    assert_eq!(taken.len(), 2);
    // Another consumer cannot claim them while they are fresh...
    assert_eq!(
        tier.group_claim("wh:test", "alive", Duration::from_millis(300), 10)
            .await
            .unwrap(),
        2
    );
    assert!(
        tier.group_read("wh:test", "alive", true, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // ...but once idle long enough it takes them, in order, then the rest.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        tier.group_claim("wh:test", "alive", Duration::from_millis(300), 10)
            .await
            .unwrap(),
        0
    );
    let mine = tier.group_read("wh:test", "alive", true, 10).await.unwrap();
    assert_eq!(
        mine.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ids[..2]
    );
    assert_eq!(mine[0].body, body(1));
    let ack: Vec<String> = mine.iter().map(|e| e.id.clone()).collect();
    tier.group_ack("wh:test", &ack).await.unwrap();
    let rest = tier
        .group_read("wh:test", "alive", false, 10)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ids[2..]
    );
    tier.group_ack("wh:test", &[rest[0].id.clone()])
        .await
        .unwrap();
    assert!(
        tier.group_read("wh:test", "alive", true, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The endpoint lease: one holder at a time, renewable by it, released.
    let ttl = Duration::from_millis(500);
    assert!(tier.take_named_lease("whlease:t", "a", ttl).await.unwrap());
    assert!(!tier.take_named_lease("whlease:t", "b", ttl).await.unwrap());
    assert!(tier.take_named_lease("whlease:t", "a", ttl).await.unwrap());
    assert!(tier.release_named_lease("whlease:t", "a").await.unwrap());
    assert!(tier.take_named_lease("whlease:t", "b", ttl).await.unwrap());
    // A dead holder's lease runs out.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(tier.take_named_lease("whlease:t", "c", ttl).await.unwrap());
}
