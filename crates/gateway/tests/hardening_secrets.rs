//! Secrets never leak: a whole scenario (listings, items, writes, failures,
//! rejected keys, rejected URLs, a wrong upstream key) with every log line
//! captured, and no sentinel credential may appear in a log line, an answer,
//! or the Debug output of the configuration and state.

#[path = "support/hardening.rs"]
mod hardening;

use std::io::Write;
use std::sync::{Arc, Mutex};

use hardening::{demo, key_entry, send, set, sim};
use isogate::config::{Config, EMBEDDED_DEFAULT};
use isogate_sim::Faults;
use serde_json::json;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const GATEWAY_KEY: &str = "SENTINEL-GW-KEY-7f3a";
const WRONG_GATEWAY_KEY: &str = "SENTINEL-BADGW-KEY-19c2";
const WRONG_COX_KEY: &str = "SENTINEL-WRONG-COX-KEY-5b1";
const CLIENT_MC_KEY: &str = "SENTINEL-CLIENT-MC-KEY-0e4";
const URL_PASSWORD: &str = "SENTINEL-URL-PW-8d2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_appears_in_logs_answers_or_debug_output() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    // The embedded default's upstream credentials are real credentials of
    // the simulators: they are sentinels too.
    let upstream = [
        "sim-cloudmc-key",
        "sim-cox-key",
        "sim-password",
        "sim-action-admin-key",
    ];
    for s in upstream {
        assert!(
            EMBEDDED_DEFAULT.contains(s),
            "{s} is no longer in the default"
        );
    }
    let edit = |t: String| {
        let t = set(
            &t,
            "providers.coxedge-images",
            &[("api_key", &format!("\"{WRONG_COX_KEY}\""))],
        );
        format!(
            "{t}{}",
            key_entry("ops", GATEWAY_KEY, &["read", "write", "admin"], &["*"])
        )
    };
    let (state, sims) = demo(edit).await;
    let ok = format!("Bearer {GATEWAY_KEY}");
    let auth = [
        ("authorization", ok.as_str()),
        ("mc-api-key", CLIENT_MC_KEY),
    ];
    let mut answers = Vec::new();
    // Listings, with a client-supplied upstream credential that must not be forwarded.
    let r = send(&state, "GET", "/v1/isos?per_page=20", &auth, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cox = r.body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["provider"] == "coxedge-images")
        .unwrap()
        .clone();
    assert_eq!(
        cox["status"], "error",
        "the wrong upstream key was refused: {cox}"
    );
    let v2 = r.body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["provider"] == "coxedge-prod")
        .unwrap()
        .clone();
    assert_eq!(
        v2["status"], "ok",
        "the adapter used its configured key, not the client's: {v2}"
    );
    answers.push(r.text);
    let r = send(
        &state,
        "GET",
        "/v1/providers/coxedge-prod/isos?per_page=1",
        &auth,
        None,
    )
    .await;
    let first = r.body["data"][0].clone();
    answers.push(r.text);
    let id = first["native_id"].as_str().unwrap();
    let zone = first["zones"][0]["id"].as_str().unwrap();
    for uri in [
        format!("/v1/providers/coxedge-prod/isos/{id}"),
        "/v1/providers/coxedge-images/isos/a/b/c".to_owned(),
        "/v1/providers/vss-prod/isos?per_page=2&refresh=true".to_owned(),
        "/v1/providers/hostkey/isos?per_page=2".to_owned(),
        "/v1/isos/stats?group_by=provider,status".to_owned(),
        "/v1/providers".to_owned(),
        "/metrics".to_owned(),
        "/readyz".to_owned(),
    ] {
        answers.push(send(&state, "GET", &uri, &auth, None).await.text);
    }
    // Writes: accepted, rejected URL with a password in it, lost answers.
    let import = |url: String| json!({"name": "secret-test", "url": url, "zone_id": zone});
    answers.push(
        send(
            &state,
            "POST",
            "/v1/providers/coxedge-prod/isos",
            &auth,
            Some(import("http://releases.example.com/s.iso".into())),
        )
        .await
        .text,
    );
    let r = send(
        &state,
        "POST",
        "/v1/providers/coxedge-prod/isos",
        &auth,
        Some(import(format!(
            "http://admin:{URL_PASSWORD}@releases.example.com/s.iso"
        ))),
    )
    .await;
    assert_eq!(r.status, 400);
    answers.push(r.text);
    sim(&sims, "cloudmc-v2").control().set_faults(Faults {
        truncate: true,
        ..Default::default()
    });
    answers.push(
        send(
            &state,
            "GET",
            &format!("/v1/providers/coxedge-prod/isos/{id}"),
            &auth,
            None,
        )
        .await
        .text,
    );
    sim(&sims, "cloudmc-v2").control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 401,
        ..Default::default()
    });
    answers.push(
        send(
            &state,
            "GET",
            &format!("/v1/providers/coxedge-prod/isos/{id}"),
            &auth,
            None,
        )
        .await
        .text,
    );
    sim(&sims, "cloudmc-v2").control().heal();
    // Rejected gateway keys.
    let bad = format!("Bearer {WRONG_GATEWAY_KEY}");
    let r = send(&state, "GET", "/v1/isos", &[("authorization", &bad)], None).await;
    assert_eq!(r.status, 401);
    answers.push(r.text);
    answers.push(
        send(
            &state,
            "GET",
            "/v1/isos",
            &[("x-api-key", WRONG_GATEWAY_KEY)],
            None,
        )
        .await
        .text,
    );
    // Debug output of everything a careless log line might print.
    let (config, entries) = Config::from_toml(&edit(EMBEDDED_DEFAULT.to_owned())).unwrap();
    let debug = format!("{config:?}\n{entries:?}\n{state:?}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request"), "logs were captured: {logs}");
    let sentinels = [
        GATEWAY_KEY,
        WRONG_GATEWAY_KEY,
        WRONG_COX_KEY,
        CLIENT_MC_KEY,
        URL_PASSWORD,
    ]
    .into_iter()
    .chain(upstream);
    for s in sentinels {
        assert!(!logs.contains(s), "{s} in the logs");
        assert!(!debug.contains(s), "{s} in Debug output");
        for a in &answers {
            assert!(!a.contains(s), "{s} in an answer: {a}");
        }
    }
}
