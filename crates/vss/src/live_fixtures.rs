//! Recorded-shape fixtures (`tests/fixtures/live.json`): upstream bodies in
//! the forms the live VSS sends, each run through the adapter's own decoding,
//! `parse_error` and `convert`, against the expected normalised result.

use serde_json::Value;
use serde_json::value::RawValue;

use crate::convert::{self, Source};
use crate::error::parse_error;
use crate::model::{Page, RequestAnswer, SyncAnswer, TokenAnswer, id_text};

const LIVE: &str = include_str!("../tests/fixtures/live.json");

fn fixture(section: &str) -> Vec<Value> {
    let all: Value = serde_json::from_str(LIVE).expect("live.json is JSON");
    let cases = all[section].as_array().cloned().unwrap_or_default();
    assert!(!cases.is_empty(), "live.json has no `{section}` cases");
    cases
}

fn source(case: &Value) -> Source {
    match case["source"].as_str() {
        Some("personal") => Source::Personal,
        _ => Source::Public,
    }
}

fn time_text(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    })
}

/// Checks one converted item against its `expect` object.
fn check_item(name: &str, item: &isogate_core::Iso, want: &Value) {
    assert_eq!(
        item.native_id,
        want["native_id"].as_str().unwrap(),
        "{name}"
    );
    assert_eq!(
        time_text(item.created_at),
        want["created_at"],
        "{name}: created_at"
    );
    assert_eq!(
        time_text(item.updated_at),
        want["updated_at"],
        "{name}: updated_at"
    );
    assert_eq!(
        item.visibility.as_str(),
        want["visibility"].as_str().unwrap(),
        "{name}"
    );
    assert_eq!(
        item.owner.as_deref(),
        want["owner"].as_str(),
        "{name}: owner"
    );
    assert_eq!(
        item.labels.get("unparsed_created_on"),
        want["unparsed_created_on"].as_str(),
        "{name}: unparsed label"
    );
}

#[test]
fn token_answers_decode_and_set_the_lifetime() {
    for case in fixture("tokens") {
        let name = case["name"].as_str().unwrap();
        let answer: TokenAnswer = serde_json::from_value(case["body"].clone()).expect(name);
        let renew = crate::token::renew_after(&answer).as_secs();
        let want = case["renew_after_s"].as_u64().unwrap();
        assert!(
            renew.abs_diff(want) <= 1,
            "{name}: renew after {renew} s, want {want}"
        );
    }
}

#[test]
fn pages_decode_and_every_item_converts() {
    for case in fixture("pages") {
        let name = case["name"].as_str().unwrap();
        let page: Page = serde_json::from_value(case["body"].clone()).expect(name);
        let p = &page.meta.pages;
        assert_eq!(Some(p.page), case["page"].as_u64(), "{name}");
        assert_eq!(Some(p.pages), case["pages"].as_u64(), "{name}");
        assert_eq!(Some(p.total), case["total"].as_u64(), "{name}");
        assert_eq!(p.next_url.as_deref(), case["next_url"].as_str(), "{name}");
        let want = case["items"].as_array().unwrap();
        assert_eq!(page.data.len(), want.len(), "{name}");
        for (raw, want) in page.data.iter().zip(want) {
            let item = convert::iso("vss", source(&case), raw, false).expect(name);
            check_item(name, &item, want);
        }
    }
}

#[test]
fn single_items_convert_in_both_timestamp_forms() {
    for case in fixture("items") {
        let name = case["name"].as_str().unwrap();
        let raw: Box<RawValue> = serde_json::value::to_raw_value(&case["body"]).unwrap();
        let item = convert::iso("vss", source(&case), &raw, true).expect(name);
        check_item(name, &item, &case["expect"]);
        assert_eq!(item.raw.as_ref(), Some(&case["body"]), "{name}: raw kept");
    }
}

#[test]
fn every_error_shape_maps_to_its_kind() {
    for case in fixture("errors") {
        let status = case["status"].as_u64().unwrap() as u16;
        let body = case["body"].as_str().unwrap();
        let e = parse_error(status, body.as_bytes());
        assert_eq!(
            e.kind().code(),
            case["kind"].as_str().unwrap(),
            "{status} {body}"
        );
        assert_eq!(
            e.retryable(),
            case["retryable"].as_bool().unwrap(),
            "{status} {body}"
        );
        assert_eq!(e.upstream_status(), Some(status));
        let needle = case["contains"].as_str().unwrap();
        assert!(
            e.message().contains(needle),
            "{} lacks {needle}",
            e.message()
        );
    }
}

#[test]
fn sync_answers_and_every_request_state_become_tasks() {
    let status_text = |t: &isogate_core::Task| serde_json::to_value(t.status).unwrap();
    for case in fixture("sync") {
        let name = case["name"].as_str().unwrap();
        let task = match case["kind"].as_str() {
            Some("accepted") => {
                let a: SyncAnswer = serde_json::from_value(case["body"].clone()).expect(name);
                let id = id_text(&a.data.request.id).expect(name);
                convert::sync_task("vss", id, a.data.request.status.as_deref(), None)
            }
            _ => {
                let a: RequestAnswer = serde_json::from_value(case["body"].clone()).expect(name);
                let id = id_text(&a.data.id).expect(name);
                let d = a.data;
                convert::sync_task("vss", id, d.status.as_deref(), Some(&d))
            }
        };
        assert_eq!(task.id, "12", "{name}");
        assert_eq!(status_text(&task), case["status"], "{name}");
        assert_eq!(task.result.as_ref(), case.get("result"), "{name}: result");
        assert_eq!(
            task.error.as_ref().map(|e| e.message.as_str()),
            case["error"].as_str(),
            "{name}: error"
        );
        if let Some(at) = case["created_at"].as_str() {
            assert_eq!(time_text(task.created_at), at, "{name}: created_at");
        }
    }
}
