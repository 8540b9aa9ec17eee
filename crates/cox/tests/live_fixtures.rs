//! Recorded-shape fixtures: every body of `fixtures/live.json` (the forms
//! live Cox Edge sends) through the adapter's own decoding, table-style.

use isogate_cloudmc::client::{
    WriteAnswer, decode_data, decode_each, parse_task, parse_write_answer,
};
// Cox images ride on the CloudMC client: the same answer check and decoders.
use isogate_cloudmc::convert::task_from_upstream;
use isogate_cloudmc::error::answer_error;
use isogate_cox::convert::image_from_value;
use serde_json::Value;

/// Every key of `expected` has that value in `actual` (absent = null), and
/// nested objects likewise: fields the model grows later (the image
/// identity inside `os`) need no edit of the recorded expectations.
fn assert_subset(case: &str, actual: &Value, expected: &Value) {
    let Some(fields) = expected.as_object() else {
        assert_eq!(actual, expected, "{case}");
        return;
    };
    for (k, want) in fields {
        let got = actual.get(k).unwrap_or(&Value::Null);
        if want.is_object() && got.is_object() {
            assert_subset(&format!("{case}: field `{k}`"), got, want);
        } else {
            assert_eq!(got, want, "{case}: field `{k}`");
        }
    }
}

fn body(case: &Value) -> Vec<u8> {
    match case.get("body_text") {
        Some(text) => text.as_str().unwrap().as_bytes().to_vec(),
        None => serde_json::to_vec(&case["body"]).unwrap(),
    }
}

#[test]
fn every_recorded_body_decodes_to_what_the_table_says() {
    let doc: Value = serde_json::from_str(include_str!("fixtures/live.json")).unwrap();
    let provider = doc["provider"].as_str().unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let op = case["op"].as_str().unwrap();
        let status = u16::try_from(case["status"].as_u64().unwrap()).unwrap();
        let bytes = body(case);
        let expect = &case["expect"];
        *seen.entry(op).or_default() += 1;
        let error = answer_error(status, &bytes);
        if op == "error" {
            let e = error.unwrap_or_else(|| panic!("{name}: must be an error"));
            assert_eq!(e.kind().code(), expect["kind"], "{name}");
            assert_eq!(e.retryable(), expect["retryable"], "{name}");
            assert_eq!(e.message(), expect["message"], "{name}");
            assert_eq!(e.upstream_status(), Some(status), "{name}");
            continue;
        }
        assert!(error.is_none(), "{name}: a success, got {error:?}");
        match op {
            "list" => {
                let items = decode_each(&bytes, |v| image_from_value(provider, v, false)).unwrap();
                assert_eq!(
                    items.len() as u64,
                    expect["count"].as_u64().unwrap(),
                    "{name}"
                );
                for (item, want) in items.iter().zip(expect["items"].as_array().unwrap()) {
                    assert_subset(name, &serde_json::to_value(item).unwrap(), want);
                }
            }
            "get" => {
                let raw: Value = decode_data(&bytes).unwrap();
                let item = image_from_value(provider, raw, false).unwrap();
                assert_subset(name, &serde_json::to_value(&item).unwrap(), &expect["item"]);
            }
            "task" => {
                let task = task_from_upstream(provider, "attach", parse_task(&bytes).unwrap());
                assert_subset(name, &serde_json::to_value(&task).unwrap(), expect);
            }
            "write" => {
                let answer = parse_write_answer(&bytes).unwrap();
                let (kind, status) = match &answer {
                    WriteAnswer::Task(t) => (
                        "task",
                        Some(task_from_upstream(provider, "delete", t.clone()).status),
                    ),
                    WriteAnswer::Data(_) => ("data", None),
                    WriteAnswer::Empty => ("empty", None),
                };
                assert_eq!(kind, expect["answer"], "{name}");
                if let Some(want) = expect.get("status") {
                    assert_eq!(&serde_json::to_value(status).unwrap(), want, "{name}");
                }
            }
            other => panic!("{name}: unknown op {other}"),
        }
    }
    // The file covers each shape the issue lists.
    for (op, at_least) in [("list", 3), ("get", 1), ("error", 8), ("task", 6)] {
        assert!(
            seen.get(op).copied().unwrap_or(0) >= at_least,
            "{op}: {seen:?}"
        );
    }
}
