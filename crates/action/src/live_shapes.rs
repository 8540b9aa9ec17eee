//! The recorded-shape table: every body of `tests/fixtures/live.json` (the
//! forms the live InvAPI sends) through `convert` and `parse_error`, each
//! with the result it must give.

use isogate_core::Visibility;
use serde_json::{Value, json};

use crate::convert;
use crate::error::{is_callback_state, is_error_body, parse_error};

fn fixtures() -> Value {
    serde_json::from_str(include_str!("../tests/fixtures/live.json")).expect("live.json is JSON")
}

fn cases<'a>(all: &'a Value, section: &str) -> &'a [Value] {
    let list = all[section]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    assert!(!list.is_empty(), "section {section} is empty");
    list
}

fn name(case: &Value) -> &str {
    case["name"].as_str().unwrap_or("?")
}

fn snake(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn login_answers_old_and_new_with_and_without_an_invapi_host() {
    let all = fixtures();
    for case in cases(&all, "login") {
        let got = convert::login(&case["body"]);
        if let Some(needle) = case["error"].as_str() {
            let e = got.expect_err(name(case));
            assert!(e.message().contains(needle), "{}: {e}", name(case));
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{}: {e}", name(case)));
        assert!(!is_error_body(&case["body"]), "{}", name(case));
        assert_eq!(
            json!({"token": got.token, "expires": got.expires, "invapi": got.invapi}),
            json!({"token": case["token"], "expires": case["expires"], "invapi": case["invapi"]}),
            "{}",
            name(case)
        );
    }
}

#[test]
fn listings_and_records_convert_to_the_model() {
    let all = fixtures();
    for case in cases(&all, "lists") {
        let body = &case["body"];
        assert!(!is_error_body(body), "{}: a success", name(case));
        let items = match &body[case["items_at"].as_str().unwrap()] {
            Value::Array(a) => a.clone(),
            one => vec![one.clone()],
        };
        let want = case["items"].as_array().unwrap();
        assert_eq!(items.len(), want.len(), "{}", name(case));
        for (item, want) in items.iter().zip(want) {
            let iso = convert::to_iso("hk", item, Visibility::Public, false).unwrap();
            let got = json!({
                "native_id": iso.native_id, "name": iso.name, "status": snake(iso.status),
                "size_bytes": iso.size_bytes,
                "created_at": iso.created_at.map(|t| t.to_rfc3339()),
                "owner": iso.owner, "visibility": snake(iso.visibility),
            });
            assert_eq!(&got, want, "{}", name(case));
        }
    }
}

#[test]
fn async_answers_give_their_callback_key() {
    let all = fixtures();
    for case in cases(&all, "async") {
        assert!(!is_error_body(&case["body"]), "{}", name(case));
        let key = convert::callback_key(&case["body"]);
        assert_eq!(
            key.as_deref(),
            case["key"].as_str(),
            "{}: {key:?}",
            name(case)
        );
    }
}

#[test]
fn every_callback_state_maps_to_a_task_status() {
    let all = fixtures();
    for case in cases(&all, "callbacks") {
        let body = &case["body"];
        assert!(
            is_callback_state(body),
            "{}: a state, not an error",
            name(case)
        );
        let state = convert::callback(body);
        assert_eq!(snake(state.status), case["status"], "{}", name(case));
        let operation = case["operation"].as_str().unwrap_or("callback");
        assert_eq!(state.operation, operation, "{}", name(case));
        match case["code"].as_str() {
            Some(code) => {
                let e = state
                    .error
                    .as_ref()
                    .unwrap_or_else(|| panic!("{}", name(case)));
                assert_eq!(e.code, code, "{}", name(case));
                assert!(!e.message.is_empty(), "{}", name(case));
                if let Some(needle) = case["message"].as_str() {
                    assert!(e.message.contains(needle), "{}: {}", name(case), e.message);
                }
                assert!(state.result.is_none());
            }
            None => assert!(state.error.is_none(), "{}", name(case)),
        }
        if case["status"] == "succeeded" {
            assert!(state.result.is_some(), "{}", name(case));
        }
    }
}

#[test]
fn every_error_shape_maps_to_its_kind() {
    let all = fixtures();
    for case in cases(&all, "errors") {
        let status = case["status"].as_u64().unwrap() as u16;
        let body = match case.get("raw").and_then(Value::as_str) {
            Some(raw) => raw.as_bytes().to_vec(),
            None => case["body"].to_string().into_bytes(),
        };
        if let Ok(v) = serde_json::from_slice::<Value>(&body)
            && (200..300).contains(&status)
        {
            assert!(is_error_body(&v), "{}: an error answer", name(case));
            if case["callback_error"] == true {
                assert!(
                    !is_callback_state(&v),
                    "{}: an error, not a state",
                    name(case)
                );
            }
        }
        let e = parse_error(status, &body);
        assert_eq!(snake(e.kind()), case["kind"], "{}: {e}", name(case));
        let needle = case["needle"].as_str().unwrap();
        assert!(
            e.message().contains(needle),
            "{}: {}",
            name(case),
            e.message()
        );
        assert_eq!(
            e.retryable(),
            case["retryable"].as_bool().unwrap_or(false),
            "{}",
            name(case)
        );
        assert!(!e.message().contains("<html"), "{}", name(case));
    }
}

#[test]
fn success_answers_are_not_errors() {
    let all = fixtures();
    for body in cases(&all, "successes") {
        assert!(!is_error_body(body), "{body}");
    }
}
