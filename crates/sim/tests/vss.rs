//! The VSS simulator over real HTTP: token, envelopes, paging arithmetic,
//! filters, sorts, auth failures, sync requests and faults.

use std::time::Duration;

use base64::Engine;
use isogate_sim::vss::{self, Options, VssHandle};
use isogate_sim::{Faults, SimServer};
use serde_json::Value;

struct Sim {
    sim: SimServer,
    handle: VssHandle,
    http: reqwest::Client,
    token: String,
}

async fn sim(opts: Options) -> Sim {
    let (sim, handle) = vss::start_with_handle(opts).await.unwrap();
    let http = reqwest::Client::new();
    let token = token(&http, &sim.base_url()).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    Sim {
        sim,
        handle,
        http,
        token,
    }
}

async fn token(http: &reqwest::Client, base: &str) -> Value {
    let r = http
        .post(format!("{base}/auth/request-token"))
        .basic_auth(vss::DEFAULT_USERNAME, Some(vss::DEFAULT_PASSWORD))
        .json(&serde_json::json!({"otp": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

impl Sim {
    async fn get_raw(&self, path_and_query: &str) -> reqwest::Response {
        let url = if path_and_query.starts_with("http") {
            path_and_query.to_owned()
        } else {
            format!("{}{path_and_query}", self.sim.base_url())
        };
        self.http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path_and_query: &str) -> Value {
        let r = self.get_raw(path_and_query).await;
        assert_eq!(r.status(), 200, "{path_and_query}");
        r.json().await.unwrap()
    }

    /// Every item of a listing, walked through `next_url`.
    async fn walk(&self, first: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut url = first.to_owned();
        loop {
            let page = self.get(&url).await;
            out.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["meta"]["pages"]["next_url"].as_str() {
                Some(next) => url = next.to_owned(),
                None => return out,
            }
        }
    }
}

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|i| i["id"].as_i64().unwrap()).collect()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn token_is_a_jwt_and_the_envelope_has_every_documented_key() {
    let s = sim(Options::default()).await;
    let t = token(&s.http, &s.sim.base_url()).await;
    assert_eq!(t["type"], "ACCESS");
    assert_eq!(t["duration"], 86400);
    assert!(t["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp() + 86000);
    assert!(t["exp_date"].is_string());
    let parts: Vec<&str> = t["token"].as_str().unwrap().split('.').collect();
    assert_eq!(parts.len(), 3);
    let payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["otp"], false);
    assert_eq!(payload["username"], vss::DEFAULT_USERNAME);
    assert_eq!(payload["exp"], t["exp"]);

    let page = s.get("/v2/iso?expand=1&sort=name,asc").await;
    let meta = &page["meta"]["pages"];
    assert_eq!(meta["per_page"], 10, "default page size");
    assert_eq!(meta["page"], 1);
    assert_eq!(meta["total"], 230);
    assert_eq!(meta["pages"], 23);
    assert_eq!(page["meta"]["count"], 10);
    assert!(page["meta"]["time"].is_string());
    assert_eq!(page["meta"]["user"]["username"], vss::DEFAULT_USERNAME);
    assert!(meta["prev_url"].is_null());
    let next = meta["next_url"].as_str().unwrap();
    assert!(next.starts_with(&s.sim.origin()), "absolute: {next}");
    for p in ["expand=1", "sort=name%2Casc", "per_page=10", "page=2"] {
        assert!(next.contains(p), "{next} lacks {p}");
    }
    assert!(page["_links"]["self"].as_str().unwrap().contains("page=1"));
    assert!(meta["last_url"].as_str().unwrap().contains("page=23"));
    let item = &page["data"][0];
    for k in [
        "id",
        "name",
        "path",
        "public",
        "data_store",
        "created_on",
        "updated_on",
    ] {
        assert!(!item[k].is_null(), "item lacks {k}: {item}");
    }
    assert_eq!(item["public"], true);
    let created = item["created_on"].as_str().unwrap();
    assert!(
        created.ends_with(" EST") || created.ends_with(" EDT"),
        "{created}"
    );
    assert!(item["path"].as_str().unwrap().starts_with('['));
}

#[tokio::test]
async fn paging_arithmetic_links_and_limits() {
    let s = sim(Options {
        scale: Some(23),
        ..Default::default()
    })
    .await;
    let last = s.get("/v2/iso?expand=1&per_page=5&page=5").await;
    assert_eq!(last["meta"]["pages"]["pages"], 5);
    assert_eq!(last["meta"]["count"], 3);
    assert!(last["meta"]["pages"]["next_url"].is_null());
    assert!(
        last["meta"]["pages"]["prev_url"]
            .as_str()
            .unwrap()
            .contains("page=4")
    );
    let all = s.walk("/v2/iso?expand=1&per_page=5").await;
    assert_eq!(ids(&all), (1..=23).collect::<Vec<_>>());

    let clamped = s.get("/v2/iso?per_page=1000").await;
    assert_eq!(clamped["meta"]["pages"]["per_page"], 250);
    // Without expand, data holds item URLs that resolve.
    let url = clamped["data"][4].as_str().unwrap().to_owned();
    assert!(url.ends_with("/v2/iso/5"), "{url}");
    assert_eq!(s.get(&url).await["data"]["id"], 5);

    let past = s.get("/v2/iso?per_page=5&page=9").await;
    assert_eq!(past["data"].as_array().unwrap().len(), 0);
    assert_eq!(past["meta"]["pages"]["total"], 23);
    for bad in ["per_page=0", "per_page=x", "page=0", "page=-1"] {
        let r = s.get_raw(&format!("/v2/iso?{bad}")).await;
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string() && body["message"].is_string());
    }
}

#[tokio::test]
async fn every_filter_operator_matches_a_local_evaluation() {
    let s = sim(Options::default()).await;
    let all = s.walk("/v2/iso?expand=1&per_page=250").await;
    assert_eq!(all.len(), 230);
    let pivot = all[100].clone();
    let name = pivot["name"].as_str().unwrap();
    let created = pivot["created_on"].as_str().unwrap();
    let when = |i: &Value| {
        chrono::DateTime::parse_from_rfc3339(&isogate_time(i["created_on"].as_str().unwrap()))
            .unwrap()
    };
    let pivot_t = when(&pivot);
    let text = |i: &Value| i["created_on"].as_str().unwrap().to_owned();
    type Pred<'a> = Box<dyn Fn(&Value) -> bool + 'a>;
    let cases: Vec<(String, Pred)> = vec![
        (
            format!("name,eq,{name}"),
            Box::new(|i: &Value| i["name"] == name),
        ),
        (
            format!("name,ne,{name}"),
            Box::new(|i: &Value| i["name"] != name),
        ),
        (
            format!("name,lt,{name}"),
            Box::new(|i: &Value| i["name"].as_str().unwrap() < name),
        ),
        (
            format!("name,le,{name}"),
            Box::new(|i: &Value| i["name"].as_str().unwrap() <= name),
        ),
        (
            format!("name,gt,{name}"),
            Box::new(|i: &Value| i["name"].as_str().unwrap() > name),
        ),
        (
            format!("name,ge,{name}"),
            Box::new(|i: &Value| i["name"].as_str().unwrap() >= name),
        ),
        (
            "name,like,CentO%".into(),
            Box::new(|i: &Value| i["name"].as_str().unwrap().starts_with("CentO")),
        ),
        ("name,like,cento%".into(), Box::new(|_: &Value| false)),
        ("name,like,%-x86\\_64%".into(), Box::new(|_: &Value| false)),
        (
            "name,like,ubuntu-2_.%".into(),
            Box::new(|i: &Value| {
                let n = i["name"].as_str().unwrap();
                n.starts_with("ubuntu-2") && n.as_bytes().get(9) == Some(&b'.')
            }),
        ),
        (
            "id,in,3,5,8".into(),
            Box::new(|i: &Value| [3, 5, 8].contains(&i["id"].as_i64().unwrap())),
        ),
        (
            "id,gt,200".into(),
            Box::new(|i: &Value| i["id"].as_i64().unwrap() > 200),
        ),
        (
            "id,le,9".into(),
            Box::new(|i: &Value| i["id"].as_i64().unwrap() <= 9),
        ),
        ("public,eq,false".into(), Box::new(|_: &Value| false)),
        // Timestamps compare as the text VSS renders, as VSS itself does.
        (
            format!("created_on,lt,{created}"),
            Box::new(|i: &Value| text(i).as_str() < created),
        ),
        (
            format!("created_on,ge,{}", pivot_t.to_rfc3339()),
            Box::new(|i: &Value| text(i) >= pivot_t.to_rfc3339()),
        ),
        (
            format!("created_on,eq,{created}"),
            Box::new(|i: &Value| when(i) == pivot_t),
        ),
        (
            "created_on,like,% Tue %".into(),
            Box::new(|i: &Value| text(i).contains(" Tue ")),
        ),
        (
            "data_store,in,vss-ISOs-02,vss-ISOs-ssd".into(),
            Box::new(|i: &Value| i["data_store"] != "vss-ISOs"),
        ),
        (
            format!("name,like,%x86_64%;created_on,gt,{created}"),
            Box::new(|i: &Value| {
                let n = i["name"].as_str().unwrap().as_bytes();
                n.windows(6).any(|w| &w[..3] == b"x86" && &w[4..] == b"64")
                    && text(i).as_str() > created
            }),
        ),
    ];
    for (filter, pred) in cases {
        let got = s
            .walk(&format!(
                "/v2/iso?expand=1&per_page=250&filter={}",
                enc(&filter)
            ))
            .await;
        let want: Vec<i64> = ids(&all.iter().filter(|i| pred(i)).cloned().collect::<Vec<_>>());
        assert_eq!(ids(&got), want, "filter {filter}");
    }
    // Repeated filter parameters are AND-ed like `;`-joined ones.
    let a = s
        .get("/v2/iso?expand=1&per_page=250&filter=id,gt,10&filter=id,lt,15")
        .await;
    assert_eq!(ids(a["data"].as_array().unwrap()), vec![11, 12, 13, 14]);
    for bad in [
        "nope,eq,1",
        "name,zz,1",
        "name,eq",
        "id,eq,abc",
        "id,like,1%",
        "public,like,t%",
    ] {
        let r = s.get_raw(&format!("/v2/iso?filter={}", enc(bad))).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
}

/// `2020-04-21 Tue 02:10:03 EDT` or `2017-11-17 13:51:31 EST` -> RFC 3339,
/// the way a client must read it.
fn isogate_time(s: &str) -> String {
    let (body, zone) = s.rsplit_once(' ').unwrap();
    let off = match zone {
        "EST" => "-05:00",
        "EDT" => "-04:00",
        other => panic!("zone {other}"),
    };
    let parts: Vec<&str> = body.split(' ').collect();
    let (date, time) = match parts.as_slice() {
        [date, _weekday, time] => (date, time),
        [date, time] => (date, time),
        _ => panic!("shape {s}"),
    };
    format!("{date}T{time}{off}")
}

#[tokio::test]
async fn timestamps_carry_the_weekday_except_on_old_rows() {
    let s = sim(Options::default()).await;
    let all = s.walk("/v2/iso?expand=1&per_page=250").await;
    let re_weekday = |t: &str| {
        let p: Vec<&str> = t.split(' ').collect();
        p.len() == 4 && ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&p[1])
    };
    for i in &all {
        let id = i["id"].as_i64().unwrap();
        for field in ["created_on", "updated_on"] {
            let t = i[field].as_str().unwrap();
            assert_eq!(re_weekday(t), id % 4 != 0, "{id} {field} {t}");
            chrono::DateTime::parse_from_rfc3339(&isogate_time(t)).unwrap();
        }
    }
    let personal = s.walk("/v2/user/image/iso?expand=1&per_page=250").await;
    assert!(
        personal
            .iter()
            .any(|i| re_weekday(i["created_on"].as_str().unwrap()))
    );
}

#[tokio::test]
async fn sorts_are_stable_multi_key_and_validated() {
    let s = sim(Options::default()).await;
    let got = s
        .walk("/v2/iso?expand=1&per_page=100&sort=data_store,asc;name,desc")
        .await;
    assert_eq!(got.len(), 230);
    let mut want = got.clone();
    want.sort_by(|a, b| {
        let k = |i: &Value| i["data_store"].as_str().unwrap().to_owned();
        k(a).cmp(&k(b))
            .then_with(|| b["name"].as_str().unwrap().cmp(a["name"].as_str().unwrap()))
    });
    assert_eq!(ids(&got), ids(&want));
    let by_created = s
        .walk("/v2/iso?expand=1&per_page=250&sort=created_on,desc")
        .await;
    // VSS sorts its text form, as it filters it.
    let times: Vec<String> = by_created
        .iter()
        .map(|i| i["created_on"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    assert_eq!(s.get_raw("/v2/iso?sort=nope,asc").await.status(), 400);
    assert_eq!(s.get_raw("/v2/iso?sort=name,up").await.status(), 400);
}

#[tokio::test]
async fn auth_failures_are_401_in_the_error_shape() {
    let s = sim(Options::default()).await;
    let base = s.sim.base_url();
    let check = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .contains("json")
        );
        let b: Value = r.json().await.unwrap();
        assert!(b["error"].is_string());
        b["message"].as_str().unwrap().to_owned()
    };
    let none = s.http.get(format!("{base}/v2/iso")).send().await.unwrap();
    check(none).await;
    let forged = format!("{}x", s.token);
    let bad = s
        .http
        .get(format!("{base}/v2/iso"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert!(check(bad).await.contains("Invalid"));
    let wrong = s
        .http
        .post(format!("{base}/auth/request-token"))
        .basic_auth("sim-user", Some("nope"))
        .send()
        .await
        .unwrap();
    check(wrong).await;
    // An empty body is tolerated.
    let empty = s
        .http
        .post(format!("{base}/auth/request-token"))
        .basic_auth(vss::DEFAULT_USERNAME, Some(vss::DEFAULT_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 200);

    s.handle.set_token_ttl(Duration::from_millis(150));
    let short: Value = token(&s.http, &base).await;
    let short = short["token"].as_str().unwrap().to_owned();
    let ok = s
        .http
        .get(format!("{base}/v2/iso"))
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let expired = s
        .http
        .get(format!("{base}/v2/iso"))
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    assert!(check(expired).await.contains("expired"));

    s.handle.revoke_all_tokens();
    assert!(check(s.get_raw("/v2/iso").await).await.contains("revoked"));
    s.handle.set_token_ttl(Duration::from_secs(60));
    let fresh: Value = token(&s.http, &base).await;
    let r = s
        .http
        .get(format!("{base}/v2/iso"))
        .bearer_auth(fresh["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.handle.tokens_issued(), 4);
    // The HTTP hook does the same.
    let r = s
        .http
        .post(format!("{base}/__sim/vss/expire"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = s
        .http
        .get(format!("{base}/v2/iso"))
        .bearer_auth(fresh["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(check(r).await.contains("expired"));
}

#[tokio::test]
async fn sync_requests_progress_and_register_uploads() {
    let s = sim(Options {
        sync_step: Duration::from_millis(60),
        ..Default::default()
    })
    .await;
    assert_eq!(
        s.get("/v2/user/image/iso?expand=1").await["meta"]["pages"]["total"],
        12
    );
    s.handle.upload_personal("my-installer");
    let r = s
        .http
        .patch(format!("{}/v2/user/image/iso", s.sim.base_url()))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    let req = &body["data"]["request"];
    assert_eq!(req["status"], "SUBMITTED");
    assert!(req["task_id"].is_string());
    assert!(body["data"]["message"].is_string());
    let id = req["id"].as_i64().unwrap();
    let mut seen = Vec::new();
    for _ in 0..40 {
        let st = s.get(&format!("/v2/request/image_sync/{id}")).await["data"].clone();
        let status = st["status"].as_str().unwrap().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "PROCESSED" {
            let added: Vec<&str> = st["added"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(added.len(), 4, "3 seeded uploads and ours: {added:?}");
            assert!(added.contains(&"my-installer"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert_eq!(seen, ["SUBMITTED", "IN_PROGRESS", "PROCESSED"]);
    let personal = s.walk("/v2/user/image/iso?expand=1&per_page=250").await;
    assert_eq!(personal.len(), 16);
    let mine = personal
        .iter()
        .find(|i| i["name"] == "my-installer")
        .unwrap();
    assert_eq!(mine["public"], false);
    assert_eq!(mine["path"], "[vssUser-xfers] sim-user/my-installer.iso");

    s.handle.fail_next_sync("store unreachable");
    let r = s
        .http
        .patch(format!("{}/v2/user/image/iso", s.sim.base_url()))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["data"]["request"]["id"]
        .as_i64()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let st = s.get(&format!("/v2/request/image_sync/{id}")).await["data"].clone();
    assert_eq!(st["status"], "ERROR");
    assert_eq!(st["message"]["errors"][0], "store unreachable");
    assert_eq!(s.get_raw("/v2/request/image_sync/999").await.status(), 404);
    let listed = s
        .get("/v2/request/image_sync?expand=1&filter=status,eq,ERROR")
        .await;
    assert_eq!(ids(listed["data"].as_array().unwrap()), vec![id]);
}

#[tokio::test]
async fn options_faults_unknown_routes_and_catalogue_growth() {
    let s = sim(Options::default()).await;
    let base = s.sim.base_url();
    let o = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{base}/v2/iso"))
        .send()
        .await
        .unwrap();
    assert_eq!(o.status(), 200);
    assert_eq!(o.headers()["allow"], "GET, OPTIONS");
    let o: Value = o.json().await.unwrap();
    assert_eq!(o["data"]["operators"].as_array().unwrap().len(), 8);

    for (method, path, status) in [("GET", "/v2/nothing", 404), ("DELETE", "/v2/iso", 405)] {
        let r = s
            .http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .contains("json")
        );
        let b: Value = r.json().await.unwrap();
        assert!(b["error"].is_string() && b["message"].is_string());
    }

    s.sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        path_contains: Some("/v2/iso".into()),
        ..Default::default()
    });
    let r = s.get_raw("/v2/iso").await;
    assert_eq!(r.status(), 500);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json")
    );
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "Internal Server Error");
    assert_eq!(b["message"], "injected failure");
    assert_eq!(s.get_raw("/v2/user/image/iso").await.status(), 200);
    s.sim.control().heal();

    s.handle.grow_public_after(1, 7);
    assert_eq!(s.get("/v2/iso").await["meta"]["pages"]["total"], 230);
    assert_eq!(s.get("/v2/iso").await["meta"]["pages"]["total"], 237);
    assert_eq!(s.handle.public_count(), 237);
    assert_eq!(s.sim.control().count("GET /v2/iso"), 3);
}
