//! The table runner of the CloudMC family's recorded-shape fixtures
//! (`fixtures/live.json` of cloudmc and cox): each body through the shared
//! client's answer check and decoders and the adapter's own item conversion.
//! Included by path from both crates' `live_fixtures.rs`.

use isogate_cloudmc::client::{
    WriteAnswer, decode_data, decode_each, parse_task, parse_write_answer,
};
use isogate_cloudmc::convert::task_from_upstream;
use isogate_cloudmc::error::answer_error;
use isogate_core::Iso;
use serde_json::Value;

/// Every key of `expected` has that value in `actual` (absent = null), and
/// nested objects likewise: fields the model grows later (the image
/// identity inside `os`) need no edit of the recorded expectations.
pub fn assert_subset(case: &str, actual: &Value, expected: &Value) {
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

/// Runs every case of `fixtures` (the JSON text), converting items with
/// `convert`, and checks the file holds at least `minimums` cases per op.
pub fn run_table(
    fixtures: &str,
    convert: impl Fn(&str, Value) -> isogate_core::Result<Iso>,
    minimums: &[(&str, usize)],
) {
    let doc: Value = serde_json::from_str(fixtures).unwrap();
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
                let items = decode_each(&bytes, |v| convert(provider, v)).unwrap();
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
                let item = convert(provider, raw).unwrap();
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
    for (op, at_least) in minimums {
        assert!(
            seen.get(op).copied().unwrap_or(0) >= *at_least,
            "{op}: {seen:?}"
        );
    }
}
