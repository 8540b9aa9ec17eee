//! The CloudMC simulator over HTTP: envelopes, field sets per version, auth,
//! validation, tasks, one ISO per instance and fault injection.

use std::time::Duration;

use isogate_sim::Faults;
use isogate_sim::cloudmc::{
    self, ApiVersion, DEFAULT_API_KEY, ENVIRONMENT, INSTANCE_IDS, ORG_ID, Options, SEED_ISO_ID,
    SEED_ZONE_ID, SERVICE_CODE,
};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const DELAY: Duration = Duration::from_millis(80);

struct Sim {
    sim: isogate_sim::SimServer,
    http: Client,
}

impl Sim {
    async fn start(opts: Options) -> Sim {
        Sim {
            sim: cloudmc::start(Options {
                task_delay: DELAY,
                ..opts
            })
            .await
            .unwrap(),
            http: Client::new(),
        }
    }
    fn isos(&self) -> String {
        format!(
            "{}/services/{SERVICE_CODE}/{ENVIRONMENT}/isos",
            self.sim.base_url()
        )
    }
    async fn call(&self, method: Method, url: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, url)
            .header("MC-Api-Key", DEFAULT_API_KEY);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
    async fn list(&self) -> Vec<Value> {
        let (s, v) = self.call(Method::GET, &self.isos(), None).await;
        assert_eq!(s, 200);
        v["data"].as_array().unwrap().clone()
    }
    async fn task(&self, id: &str) -> Value {
        let (s, v) = self
            .call(
                Method::GET,
                &format!("{}/tasks/{id}", self.sim.base_url()),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }
    /// Polls until the task leaves PENDING; returns (status, result).
    async fn finish(&self, id: &str, legacy: bool) -> (String, Value) {
        for _ in 0..50 {
            let v = self.task(id).await;
            let (status, result) = if legacy {
                (v["taskStatus"].clone(), v["result"].clone())
            } else {
                (v["data"]["status"].clone(), v["data"]["result"].clone())
            };
            let status = status.as_str().unwrap().to_owned();
            if status != "PENDING" {
                return (status, result);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("task {id} never finished");
    }
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn error_of(v: &Value) -> (i64, String) {
    let e = &v["errors"][0];
    assert!(e["context"].is_object(), "errors carry a context: {v}");
    (
        e["code"].as_i64().unwrap(),
        e["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn v2_list_and_get_match_the_seed_shape_and_example() {
    let s = Sim::start(Options::default()).await;
    let (status, body) = s.call(Method::GET, &s.isos(), None).await;
    assert_eq!(status, 200);
    let data = body["data"].as_array().unwrap();
    assert!(data.len() >= 30, "dozens of ISOs");
    assert_eq!(body["metadata"]["recordCount"], data.len());
    let expected: Value = json!({
        "id": "0b3fea04-b1ed-48cf-921d-96795dfe9a81", "name": "ubuntu", "description": "Example ISO",
        "architectureWidth": 64, "size": 52428800, "ready": true, "bootable": true,
        "availablePublicly": false, "extractable": false,
        "osTypeId": "d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b", "osTypeName": "Other (64-bit)",
        "zoneId": "ea901007-056b-4c50-bb3a-2dd635fce2ab", "zoneName": "zone1",
        "created": "2017-12-21 4:41:33 PM Z",
        "availableInZones": ["ea901007-056b-4c50-bb3a-2dd635fce2ab"]
    });
    assert_eq!(data[0], expected);
    for iso in data {
        assert_eq!(keys(iso), keys(&expected), "v2 field set");
        let zones = iso["availableInZones"].as_array().unwrap();
        if zones.len() > 1 {
            assert_eq!(iso["zoneId"], "", "multi-zone ISOs have an empty zoneId");
        } else {
            assert_eq!(iso["zoneId"], zones[0]);
        }
    }
    let names: Vec<&str> = data.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.starts_with("ubuntu-22.04")));
    assert!(names.iter().any(|n| n.contains("indows")));
    assert!(data.iter().any(|i| i["architectureWidth"] == 32));
    assert!(data.iter().any(|i| i["availablePublicly"] == true));

    let (status, one) = s
        .call(Method::GET, &format!("{}/{SEED_ISO_ID}", s.isos()), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["data"], expected);
    // org_id is accepted.
    let (status, _) = s
        .call(Method::GET, &format!("{}?org_id={ORG_ID}", s.isos()), None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn catalogues_are_deterministic_per_seed_and_scale() {
    let a = Sim::start(Options::default()).await.list().await;
    let b = Sim::start(Options::default()).await.list().await;
    let c = Sim::start(Options {
        seed: 7,
        ..Default::default()
    })
    .await
    .list()
    .await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let big = Sim::start(Options {
        scale: Some(500),
        ..Default::default()
    })
    .await
    .list()
    .await;
    assert_eq!(big.len(), 500);
    let mut ids: Vec<&str> = big.iter().map(|i| i["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 500, "ids are unique");
}

#[tokio::test]
async fn v1_has_the_smaller_field_set_and_only_reads() {
    let s = Sim::start(Options {
        version: ApiVersion::V1,
        ..Default::default()
    })
    .await;
    assert!(s.sim.base_url().ends_with("/v1"));
    let data = s.list().await;
    assert_eq!(
        data[0],
        json!({
            "id": "0b3fea04-b1ed-48cf-921d-96795dfe9a81", "name": "ubuntu", "description": "Example ISO",
            "size": 52428800, "ready": true, "bootable": true,
            "osTypeId": "d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b", "osTypeName": "Other (64-bit)",
            "zoneId": "ea901007-056b-4c50-bb3a-2dd635fce2ab"
        })
    );
    for iso in &data {
        for absent in [
            "architectureWidth",
            "availablePublicly",
            "extractable",
            "zoneName",
            "created",
            "availableInZones",
        ] {
            assert!(iso.get(absent).is_none(), "v1 lacks {absent}");
        }
    }
    let (status, body) = s
        .call(
            Method::POST,
            &s.isos(),
            Some(json!({"name":"x","description":"","url":"http://h/x.iso"})),
        )
        .await;
    assert_eq!(status, 405);
    assert_eq!(error_of(&body).0, 2005);
    let (status, _) = s
        .call(Method::DELETE, &format!("{}/{SEED_ISO_ID}", s.isos()), None)
        .await;
    assert_eq!(status, 405);
    let (status, body) = s
        .call(Method::GET, &format!("{}/tasks/x", s.sim.base_url()), None)
        .await;
    assert_eq!(status, 404);
    error_of(&body);
}

#[tokio::test]
async fn auth_scope_and_not_found_use_the_errors_shape() {
    let s = Sim::start(Options::default()).await;
    let missing = s.http.get(s.isos()).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(error_of(&body).0, 1001);
    let wrong = s
        .http
        .get(s.isos())
        .header("MC-Api-Key", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let (status, body) = s
        .call(Method::GET, &format!("{}?org_id=other", s.isos()), None)
        .await;
    assert_eq!(status, 403);
    assert_eq!(error_of(&body).0, 1003);
    let other_service = s.isos().replace(SERVICE_CODE, "other");
    let (status, body) = s.call(Method::GET, &other_service, None).await;
    assert_eq!(status, 404);
    assert!(error_of(&body).1.contains("other"));
    let other_env = s.isos().replace(ENVIRONMENT, "prod");
    assert_eq!(s.call(Method::GET, &other_env, None).await.0, 404);
    let (status, body) = s
        .call(Method::GET, &format!("{}/nope", s.isos()), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["context"]["id"], "nope");
    let (status, _) = s.call(Method::PUT, &s.isos(), Some(json!({}))).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn import_validates_like_the_seed_and_becomes_ready() {
    let s = Sim::start(Options::default()).await;
    let ok = json!({"name":"tools","description":"d","url":"http://mirror.example/tools.iso","zoneId":SEED_ZONE_ID});
    let bad: Vec<(Value, &str)> = vec![
        (
            json!({"description":"d","url":"http://h/x.iso","zoneId":SEED_ZONE_ID}),
            "name",
        ),
        (
            json!({"name":"n","url":"http://h/x.iso","zoneId":SEED_ZONE_ID}),
            "description",
        ),
        (
            json!({"name":"n","description":"d","url":"https://h/x.iso","zoneId":SEED_ZONE_ID}),
            "url",
        ),
        (
            json!({"name":"n","description":"d","url":"ftp://h/x.iso","zoneId":SEED_ZONE_ID}),
            "url",
        ),
        (
            json!({"name":"n","description":"d","url":"http://h/x.iso"}),
            "zoneId",
        ),
        (
            json!({"name":"n","description":"d","url":"http://h/x.iso","zoneId":"zz"}),
            "zoneId",
        ),
        (
            json!({"name":"n","description":"d","url":"http://h/x.iso","zoneId":SEED_ZONE_ID,"bootable":true}),
            "osTypeId",
        ),
        (
            json!({"name":"n","description":"d","url":"http://h/x.iso","zoneId":SEED_ZONE_ID,"osTypeId":"d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b"}),
            "osTypeId",
        ),
    ];
    for (body, field) in bad {
        let (status, resp) = s.call(Method::POST, &s.isos(), Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(resp["errors"][0]["context"]["field"], field, "{body}");
        assert_eq!(error_of(&resp).0, 2012);
    }
    let (status, resp) = s.call(Method::POST, &s.isos(), Some(ok)).await;
    assert_eq!(status, 200, "{resp}");
    let id = resp["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(resp["data"]["ready"], false);
    assert_eq!(resp["data"]["bootable"], false);
    let listed = s.list().await;
    assert!(listed.iter().any(|i| i["id"] == id.as_str()));
    tokio::time::sleep(DELAY + Duration::from_millis(20)).await;
    let (_, one) = s
        .call(Method::GET, &format!("{}/{id}", s.isos()), None)
        .await;
    assert_eq!(one["data"]["ready"], true);
    assert!(one["data"]["size"].as_u64().unwrap() > 0);

    // One zone: zoneId may be left out; bootable with an OS type is fine.
    let single = Sim::start(Options {
        zones: 1,
        import_as_task: true,
        ..Default::default()
    })
    .await;
    let (status, resp) = single
        .call(
            Method::POST,
            &single.isos(),
            Some(
                json!({"name":"b","description":"","url":"http://h/b.iso","bootable":true,
                "osTypeId":"d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    let task = resp["taskId"].as_str().unwrap().to_owned();
    let (status, result) = single.finish(&task, false).await;
    assert_eq!(status, "SUCCESS");
    assert_eq!(result["bootable"], true);
    assert_eq!(result["ready"], true);
    assert_eq!(result["zoneId"], SEED_ZONE_ID);
}

async fn attachable(s: &Sim) -> String {
    s.list()
        .await
        .into_iter()
        .find(|i| i["bootable"] == false && i["ready"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn attach_is_one_iso_per_instance_and_tasks_progress_in_both_shapes() {
    for legacy in [false, true] {
        let s = Sim::start(Options {
            legacy_tasks: legacy,
            ..Default::default()
        })
        .await;
        let iso = attachable(&s).await;
        let attach = |iso: String, instance: &'static str| {
            let url = format!("{}/{iso}?operation=attach", s.isos());
            let s = &s;
            async move {
                s.call(Method::POST, &url, Some(json!({"instanceId": instance})))
                    .await
            }
        };
        let (status, resp) = attach(iso.clone(), INSTANCE_IDS[0]).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["taskStatus"], "PENDING");
        let first = resp["taskId"].as_str().unwrap().to_owned();
        let t = s.task(&first).await;
        let pending = if legacy {
            &t["taskStatus"]
        } else {
            &t["data"]["status"]
        };
        assert_eq!(pending, "PENDING", "a task starts PENDING");
        // A second attach on the same instance fails in its task.
        let (_, resp) = attach(iso.clone(), INSTANCE_IDS[0]).await;
        let second = resp["taskId"].as_str().unwrap().to_owned();
        assert_eq!(s.finish(&first, legacy).await.0, "SUCCESS");
        let (status, result) = s.finish(&second, legacy).await;
        // The docs' FAILED; the old shape's FAILURE (Cox's Go client).
        let failed = if legacy { "FAILURE" } else { "FAILED" };
        assert_eq!(status, failed);
        assert!(
            result["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("already has")
        );
        if !legacy {
            let t = s.task(&first).await;
            let created = t["data"]["created"].as_str().unwrap();
            let at = chrono::DateTime::parse_from_rfc3339(created).expect(created);
            assert!(
                created.ends_with('Z') && !created.contains(' '),
                "{created}"
            );
            assert!((chrono::Utc::now() - at.to_utc()).num_seconds().abs() < 60);
        }
        // Detach frees the instance; detaching again fails in its task.
        let detach = format!(
            "{}/services/{SERVICE_CODE}/{ENVIRONMENT}/instances/{}?operation=detachIso",
            s.sim.base_url(),
            INSTANCE_IDS[0]
        );
        let (_, resp) = s.call(Method::POST, &detach, None).await;
        let t = resp["taskId"].as_str().unwrap().to_owned();
        assert_eq!(s.finish(&t, legacy).await.0, "SUCCESS");
        let (_, resp) = s.call(Method::POST, &detach, None).await;
        let t = resp["taskId"].as_str().unwrap().to_owned();
        assert_eq!(s.finish(&t, legacy).await.0, failed);
        // attachIso through the instances endpoint.
        let via_instance = format!(
            "{}/services/{SERVICE_CODE}/{ENVIRONMENT}/instances/{}?operation=attachIso",
            s.sim.base_url(),
            INSTANCE_IDS[1]
        );
        let (_, resp) = s
            .call(Method::POST, &via_instance, Some(json!({"isoId": iso})))
            .await;
        let t = resp["taskId"].as_str().unwrap().to_owned();
        assert_eq!(s.finish(&t, legacy).await.0, "SUCCESS");
        // Rules answered at once: bootable ISO, unknown instance, unknown task.
        let (status, _) = attach(SEED_ISO_ID.to_owned(), INSTANCE_IDS[2]).await;
        assert_eq!(status, 400);
        let (status, _) = attach(iso.clone(), "no-such-instance").await;
        assert_eq!(status, 404);
        let (status, _) = s
            .call(
                Method::GET,
                &format!("{}/tasks/nope", s.sim.base_url()),
                None,
            )
            .await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn download_url_only_for_extractable_and_delete_removes() {
    let s = Sim::start(Options::default()).await;
    let isos = s.list().await;
    let extractable = isos
        .iter()
        .find(|i| i["extractable"] == true && i["ready"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/{extractable}?operation=generateDownloadUrl", s.isos());
    let (status, resp) = s.call(Method::POST, &url, None).await;
    assert_eq!(status, 200, "{resp}");
    let (status, result) = s.finish(resp["taskId"].as_str().unwrap(), false).await;
    assert_eq!(status, "SUCCESS");
    assert!(result["url"].as_str().unwrap().starts_with("http://"));
    let url = format!("{}/{SEED_ISO_ID}?operation=generateDownloadUrl", s.isos());
    let (status, resp) = s.call(Method::POST, &url, None).await;
    assert_eq!(status, 400);
    assert!(error_of(&resp).1.contains("extractable"));
    let (status, _) = s
        .call(
            Method::POST,
            &format!("{}/{SEED_ISO_ID}?operation=explode", s.isos()),
            None,
        )
        .await;
    assert_eq!(status, 400);

    let one = format!("{}/{SEED_ISO_ID}", s.isos());
    let (status, resp) = s.call(Method::DELETE, &one, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        s.finish(resp["taskId"].as_str().unwrap(), false).await.0,
        "SUCCESS"
    );
    assert_eq!(s.call(Method::GET, &one, None).await.0, 404);
    assert_eq!(s.call(Method::DELETE, &one, None).await.0, 404);
    assert_eq!(s.list().await.len(), isos.len() - 1);
}

#[tokio::test]
async fn injected_faults_use_the_errors_shape_and_writes_are_counted() {
    let s = Sim::start(Options {
        faults: Faults {
            error_rate: 1.0,
            error_status: 500,
            methods: vec!["GET".into()],
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let (status, body) = s.call(Method::GET, &s.isos(), None).await;
    assert_eq!(status, 500);
    assert_eq!(error_of(&body).1, "injected failure");
    s.sim.control().set_faults(Faults {
        rate_limit_rate: 1.0,
        retry_after_s: 3,
        ..Default::default()
    });
    let resp = s
        .http
        .get(s.isos())
        .header("MC-Api-Key", DEFAULT_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    s.sim.control().heal();
    let iso = attachable(&s).await;
    let path = format!("/api/v2/services/{SERVICE_CODE}/{ENVIRONMENT}/isos/{iso}");
    s.call(
        Method::POST,
        &format!("{}/{iso}?operation=attach", s.isos()),
        Some(json!({"instanceId": INSTANCE_IDS[3]})),
    )
    .await;
    assert_eq!(s.sim.control().count(&format!("POST {path}")), 1);
}

#[tokio::test]
async fn errors_in_200_answer_the_errors_shape_with_status_200_and_change_nothing() {
    let s = Sim::start(Options::default()).await;
    let before = s.list().await.len();
    s.sim.control().set_faults(Faults {
        errors_in_200: true,
        methods: vec!["DELETE".into()],
        ..Default::default()
    });
    let one = format!("{}/{SEED_ISO_ID}", s.isos());
    let (status, body) = s.call(Method::DELETE, &one, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["code"], 9000);
    assert_eq!(
        body["errors"][0]["message"],
        "injected error in a 200 answer"
    );
    assert!(body.get("data").is_none() && body.get("taskId").is_none());
    assert_eq!(s.sim.control().faulted(), 1);
    // Before the handler: the ISO is still there (reads are not affected).
    assert_eq!(s.list().await.len(), before);
    assert_eq!(s.call(Method::GET, &one, None).await.0, 200);
}

#[tokio::test]
async fn a_v2_simulator_answers_every_operation_under_api_v1_too() {
    let s = Sim::start(Options::default()).await;
    let v1 = format!(
        "{}{}/services/{SERVICE_CODE}/{ENVIRONMENT}/isos",
        s.sim.origin(),
        cloudmc::V2_ALSO_AT
    );
    let (status, list) = s.call(Method::GET, &v1, None).await;
    assert_eq!(status, 200);
    assert!(
        list["data"][0]["availableInZones"].is_array(),
        "the v2 field set"
    );
    let (status, resp) = s
        .call(Method::DELETE, &format!("{v1}/{SEED_ISO_ID}"), None)
        .await;
    assert_eq!(status, 200, "{resp}");
    let task = resp["taskId"].as_str().unwrap();
    let (status, t) = s
        .call(
            Method::GET,
            &format!("{}/api/v1/tasks/{task}", s.sim.origin()),
            None,
        )
        .await;
    assert_eq!(
        (status, t["data"]["id"].as_str()),
        (StatusCode::OK, Some(task))
    );
    // One catalogue behind both bases.
    assert_eq!(
        s.list().await.len(),
        list["data"].as_array().unwrap().len() - 1
    );
}
