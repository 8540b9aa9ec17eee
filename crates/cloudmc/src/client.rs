//! The CloudMC HTTP client, shared by the ISO provider and `isogate-cox`.
//!
//! - One `reqwest::Client` per provider (connections are reused).
//! - `MC-Api-Key` on every call, from a [`SecretString`], marked sensitive.
//! - Entity URLs are `{base}/services/{service_code}/{environment}/{segments..}`
//!   with every segment percent-encoded; an optional `org_id` query parameter.
//! - `{data}` and `{data, metadata}` envelopes are unwrapped here; non-2xx
//!   answers, and 2xx answers with a top-level `errors` field, go through
//!   [`crate::error::parse_error`] (see [`crate::error::answer_error`]).
//! - Tasks are read at `{base}/tasks/{id}` in either documented shape.
//!
//! Methods return errors without provider or operation; the provider adds both.

use std::time::Duration;

use bytes::Bytes;
use isogate_core::{Error, Result};
use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::error::{answer_error, body_error, decode_error, transport_error};
use crate::model::{AcceptedBody, DataEnvelope, EachData, IsoDto, TaskBody};

/// How to reach one CloudMC environment.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// The API base URL (`https://portal.example/api/v2`).
    pub base_url: String,
    /// The `MC-Api-Key`.
    pub api_key: SecretString,
    /// The service connection code (`compute-on`, `cox`).
    pub service_code: String,
    /// The environment name.
    pub environment: String,
    /// The sub-organisation, sent as `org_id`.
    pub org_id: Option<String>,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

/// A CloudMC client for one environment. Cloning shares the connection pool.
#[derive(Clone)]
pub struct CloudMcClient {
    http: reqwest::Client,
    base: Url,
    key: HeaderValue,
    service_code: String,
    environment: String,
    org_id: Option<String>,
}

impl std::fmt::Debug for CloudMcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudMcClient")
            .field("base", &self.base.as_str())
            .field("service_code", &self.service_code)
            .field("environment", &self.environment)
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}

/// The state of an upstream task, in either documented shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Still running (`PENDING`, or a status this client does not know).
    Pending,
    /// `SUCCESS`.
    Success,
    /// `FAILED` (the CloudMC docs) or `FAILURE` (Cox's Go client).
    Failure,
}

/// An upstream task as read.
#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamTask {
    /// The task id.
    pub id: String,
    /// Where it stands.
    pub state: TaskState,
    /// The raw `created` string, if any.
    pub created: Option<String>,
    /// The `result` object, if any.
    pub result: Option<Value>,
}

impl UpstreamTask {
    /// The upstream's reason for a failed task: the first of
    /// `result.errors[0].message`, `result.message`, `result.error`
    /// (string or `{message}`).
    pub fn failure_message(&self) -> Option<String> {
        let r = self.result.as_ref()?;
        let candidates = [
            r.pointer("/errors/0/message"),
            r.get("message"),
            r.pointer("/error/message"),
            r.get("error"),
        ];
        candidates
            .into_iter()
            .flatten()
            .find_map(|v| v.as_str().filter(|s| !s.trim().is_empty()))
            .map(|s| s.chars().take(300).collect())
    }
}

/// What a write answered: a task to follow, or data right away.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteAnswer {
    /// `{"taskId","taskStatus"}` or `{"data":{"id","status"}}`.
    Task(UpstreamTask),
    /// `{"data": ...}` that is not a task.
    Data(Value),
    /// An empty body.
    Empty,
}

impl CloudMcClient {
    /// A client; the settings must have been validated (see the configs).
    pub fn new(settings: ClientSettings) -> Result<CloudMcClient> {
        let base = Url::parse(settings.base_url.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| Error::config("base_url must be an absolute http(s) URL"))?;
        let mut key = HeaderValue::from_str(settings.api_key.expose_secret())
            .map_err(|_| Error::config("api_key holds characters a header cannot carry"))?;
        key.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::config("could not build the HTTP client").with_source(e))?;
        Ok(CloudMcClient {
            http,
            base,
            key,
            service_code: settings.service_code,
            environment: settings.environment,
            org_id: settings.org_id,
        })
    }

    /// `{base}/{segments..}`, each segment percent-encoded.
    pub fn root_url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `{base}/services/{service_code}/{environment}/{segments..}`.
    pub fn entity_url(&self, segments: &[&str]) -> Url {
        let mut all = vec!["services", &self.service_code, &self.environment];
        all.extend_from_slice(segments);
        self.root_url(&all)
    }

    /// Sends one request and returns the 2xx body; other statuses, and 2xx
    /// bodies with `errors`, go through `parse_error`. Never retries.
    pub async fn send(
        &self,
        method: Method,
        mut url: Url,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Bytes> {
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
            if let Some(org) = &self.org_id {
                pairs.append_pair("org_id", org);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut req = self
            .http
            .request(method, url)
            .header(ACCEPT, "application/json")
            .header("MC-Api-Key", self.key.clone());
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(transport_error)?;
        let status = resp.status();
        let retry_after = isogate_http::retry_after(resp.headers());
        let bytes = if status.is_success() {
            resp.bytes().await.map_err(body_error)?
        } else {
            resp.bytes().await.unwrap_or_default()
        };
        let Some(mut err) = answer_error(status.as_u16(), &bytes) else {
            return Ok(bytes);
        };
        if status == StatusCode::TOO_MANY_REQUESTS
            && let Some(after) = retry_after
        {
            err = err.with_retry_after(after);
        }
        Err(err)
    }

    /// GET and unwrap `{"data": T}`.
    pub async fn get_data<T: DeserializeOwned>(
        &self,
        url: Url,
        query: &[(&str, &str)],
    ) -> Result<T> {
        let bytes = self.send(Method::GET, url, query, None).await?;
        decode_data(&bytes)
    }

    /// GET `{"data": [..]}` and convert each element as it is decoded.
    /// A conversion error stops the decoding and is returned as it is.
    pub async fn get_data_each<T>(
        &self,
        url: Url,
        query: &[(&str, &str)],
        convert: impl FnMut(Value) -> Result<T>,
    ) -> Result<Vec<T>> {
        let bytes = self.send(Method::GET, url, query, None).await?;
        decode_each(&bytes, convert)
    }

    /// A POST or DELETE whose answer is a task, data, or nothing.
    pub async fn write(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<WriteAnswer> {
        let bytes = self.send(method, url, query, body).await?;
        parse_write_answer(&bytes)
    }

    /// `GET {base}/tasks/{id}`.
    pub async fn task(&self, id: &str) -> Result<UpstreamTask> {
        let bytes = self
            .send(Method::GET, self.root_url(&["tasks", id]), &[], None)
            .await?;
        parse_task(&bytes)
    }

    /// `GET .../isos`, each raw object converted as it is decoded.
    pub async fn list_isos<T>(&self, convert: impl FnMut(Value) -> Result<T>) -> Result<Vec<T>> {
        self.get_data_each(self.entity_url(&["isos"]), &[], convert)
            .await
    }

    /// `GET .../isos/{id}`: the raw object.
    pub async fn get_iso(&self, id: &str) -> Result<Value> {
        self.get_data(self.entity_url(&["isos", id]), &[]).await
    }

    /// `POST .../isos`.
    pub async fn import_iso(&self, body: &Value) -> Result<WriteAnswer> {
        self.write(Method::POST, self.entity_url(&["isos"]), &[], Some(body))
            .await
    }

    /// `POST .../isos/{id}?operation=attach`.
    pub async fn attach_iso(&self, id: &str, instance_id: &str) -> Result<WriteAnswer> {
        let body = serde_json::json!({ "instanceId": instance_id });
        self.write(
            Method::POST,
            self.entity_url(&["isos", id]),
            &[("operation", "attach")],
            Some(&body),
        )
        .await
    }

    /// `POST .../instances/{id}?operation=detachIso`.
    pub async fn detach_iso(&self, instance_id: &str) -> Result<WriteAnswer> {
        self.write(
            Method::POST,
            self.entity_url(&["instances", instance_id]),
            &[("operation", "detachIso")],
            None,
        )
        .await
    }

    /// `POST .../isos/{id}?operation=generateDownloadUrl`.
    pub async fn generate_download_url(&self, id: &str) -> Result<WriteAnswer> {
        self.write(
            Method::POST,
            self.entity_url(&["isos", id]),
            &[("operation", "generateDownloadUrl")],
            None,
        )
        .await
    }

    /// `DELETE .../isos/{id}`.
    pub async fn delete_iso(&self, id: &str) -> Result<WriteAnswer> {
        self.write(Method::DELETE, self.entity_url(&["isos", id]), &[], None)
            .await
    }
}

/// `{"data": T}` unwrapped (a 2xx body that `send` let through).
pub fn decode_data<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let env: DataEnvelope<T> =
        serde_json::from_slice(bytes).map_err(|e| decode_error("answer", &e))?;
    Ok(env.data)
}

/// `{"data": [..]}` with each element converted as it is decoded.
pub fn decode_each<T>(bytes: &[u8], mut convert: impl FnMut(Value) -> Result<T>) -> Result<Vec<T>> {
    let mut failed = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = EachData {
        convert: &mut convert,
        failed: &mut failed,
        items: std::marker::PhantomData,
    };
    let decoded = serde::de::DeserializeSeed::deserialize(seed, &mut de).and_then(|items| {
        de.end()?;
        Ok(items)
    });
    match (decoded, failed) {
        (_, Some(e)) => Err(e),
        (Ok(items), None) => Ok(items),
        (Err(e), None) => Err(decode_error("answer", &e)),
    }
}

/// Decodes an ISO object.
pub(crate) fn iso_dto(v: &Value) -> Result<IsoDto> {
    IsoDto::deserialize(v).map_err(|e| decode_error("ISO object", &e))
}

// CloudMC docs and JS client: PENDING | SUCCESS | FAILED; Cox's Go client
// (terraform-provider-coxedge apiclient) checks FAILURE: both end a task.
fn task_state(s: &str) -> TaskState {
    match s.to_ascii_uppercase().as_str() {
        "SUCCESS" | "SUCCEEDED" | "COMPLETED" | "DONE" => TaskState::Success,
        "FAILURE" | "FAILED" | "ERROR" => TaskState::Failure,
        _ => TaskState::Pending,
    }
}

/// A task answer: `{"data":{"id","status","created","result"}}` (newer) or
/// `{"taskId","taskStatus","result"}` (older).
pub fn parse_task(bytes: &[u8]) -> Result<UpstreamTask> {
    let body: TaskBody = serde_json::from_slice(bytes).map_err(|e| decode_error("task", &e))?;
    body.into_task()
        .ok_or_else(|| Error::upstream("upstream task answer has neither data.id nor taskId"))
}

/// A write answer: a task in either shape, `{"data": ...}`, or nothing.
pub fn parse_write_answer(bytes: &[u8]) -> Result<WriteAnswer> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(WriteAnswer::Empty);
    }
    let body: AcceptedBody =
        serde_json::from_slice(bytes).map_err(|e| decode_error("answer", &e))?;
    if let Some(id) = body.task_id {
        return Ok(WriteAnswer::Task(UpstreamTask {
            id,
            state: task_state(body.task_status.as_deref().unwrap_or("PENDING")),
            created: None,
            result: body.result,
        }));
    }
    match body.data {
        Some(data) => {
            let is_task = data.get("status").is_some_and(Value::is_string)
                && data.get("id").is_some_and(Value::is_string)
                && data.get("name").is_none();
            if is_task {
                let task = TaskBody {
                    data: Some(data),
                    ..Default::default()
                };
                task.into_task()
                    .map(WriteAnswer::Task)
                    .ok_or_else(|| Error::upstream("upstream task answer has no id"))
            } else {
                Ok(WriteAnswer::Data(data))
            }
        }
        None => Ok(WriteAnswer::Empty),
    }
}

impl TaskBody {
    fn into_task(self) -> Option<UpstreamTask> {
        if let Some(data) = self.data {
            let s = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_owned);
            return Some(UpstreamTask {
                id: s("id")?,
                state: task_state(&s("status").unwrap_or_default()),
                created: s("created"),
                result: data.get("result").filter(|r| !r.is_null()).cloned(),
            });
        }
        Some(UpstreamTask {
            id: self.task_id?,
            state: task_state(self.task_status.as_deref().unwrap_or_default()),
            created: self.created,
            result: self.result.filter(|r| !r.is_null()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_elements_are_converted_in_order_and_the_first_failure_stops_it() {
        let id = |v: Value| -> Result<String> {
            v["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::upstream("no id"))
        };
        // Keys around `data` are skipped, whatever their shape.
        let ok = br#"{"metadata":{"recordCount":3},"data":[{"id":"a"},{"id":"b"},{"id":"c"}],"more":[1,{"x":null}]}"#;
        assert_eq!(decode_each(ok, id).unwrap(), ["a", "b", "c"]);
        assert_eq!(
            decode_each(br#"{"data":[]}"#, id).unwrap(),
            Vec::<String>::new()
        );
        let mut seen = 0;
        let err = decode_each(
            br#"{"data":[{"id":"a"},{"name":"no id"},{"id":"c"}]}"#,
            |v| {
                seen += 1;
                id(v)
            },
        )
        .unwrap_err();
        assert_eq!(err.message(), "no id", "the conversion's own error");
        assert_eq!(seen, 2, "nothing converted after the failure");
        for (body, why) in [
            (&br#"{"metadata":{}}"#[..], "missing field `data`"),
            (br#"{"data":null}"#, "invalid type: null"),
            (br#"{"data":[{"id":"a"},{"id":"#, "EOF while parsing"),
            (br#"{"data":[]} trailing"#, "trailing characters"),
            (br#"[{"id":"a"}]"#, "invalid type: sequence"),
        ] {
            let err = decode_each(body, id).unwrap_err();
            assert_eq!(err.kind(), isogate_core::ErrorKind::Upstream);
            assert!(
                err.message()
                    .starts_with("could not decode upstream answer")
                    && err.message().contains(why),
                "{}: {}",
                String::from_utf8_lossy(body),
                err.message()
            );
        }
    }

    #[test]
    fn both_task_shapes_parse() {
        let new = br#"{"data":{"id":"t1","status":"FAILURE","created":"2017-12-21 4:41:33 PM Z",
            "result":{"errors":[{"code":2017,"message":"Instance busy","context":{}}]}}}"#;
        let t = parse_task(new).unwrap();
        assert_eq!(t.id, "t1");
        assert_eq!(t.state, TaskState::Failure);
        assert_eq!(t.created.as_deref(), Some("2017-12-21 4:41:33 PM Z"));
        assert_eq!(t.failure_message().as_deref(), Some("Instance busy"));
        let old = br#"{"taskId":"t2","taskStatus":"SUCCESS","result":{"url":"http://x/y.iso"}}"#;
        let t = parse_task(old).unwrap();
        assert_eq!(t.state, TaskState::Success);
        assert_eq!(t.result.unwrap()["url"], "http://x/y.iso");
        let pending = br#"{"taskId":"t3","taskStatus":"PENDING"}"#;
        assert_eq!(parse_task(pending).unwrap().state, TaskState::Pending);
        let odd = br#"{"data":{"id":"t4","status":"RUNNING"}}"#;
        assert_eq!(parse_task(odd).unwrap().state, TaskState::Pending);
        assert!(parse_task(br#"{"data":{"status":"SUCCESS"}}"#).is_err());
        assert!(parse_task(b"{").is_err());
        let msg = UpstreamTask {
            id: "x".into(),
            state: TaskState::Failure,
            created: None,
            result: Some(serde_json::json!({"error": {"message": "boom"}})),
        };
        assert_eq!(msg.failure_message().as_deref(), Some("boom"));
    }

    #[test]
    fn write_answers_tell_tasks_from_data() {
        assert!(matches!(
            parse_write_answer(br#"{"taskId":"t","taskStatus":"PENDING"}"#).unwrap(),
            WriteAnswer::Task(t) if t.id == "t" && t.state == TaskState::Pending
        ));
        assert!(matches!(
            parse_write_answer(br#"{"data":{"id":"t","status":"PENDING"}}"#).unwrap(),
            WriteAnswer::Task(_)
        ));
        assert!(matches!(
            parse_write_answer(br#"{"data":{"id":"i","name":"n","ready":false}}"#).unwrap(),
            WriteAnswer::Data(_)
        ));
        assert_eq!(parse_write_answer(b"").unwrap(), WriteAnswer::Empty);
        assert!(parse_write_answer(b"[1,").is_err());
    }

    #[test]
    fn urls_encode_each_segment_and_keep_the_base_path() {
        let c = CloudMcClient::new(ClientSettings {
            base_url: "http://h:1/api/v2/".into(),
            api_key: SecretString::from("sekrit-key-123"),
            service_code: "compute-on".into(),
            environment: "test_area".into(),
            org_id: None,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
        })
        .unwrap();
        assert_eq!(
            c.entity_url(&["images", "a", "b c", "d/e"]).as_str(),
            "http://h:1/api/v2/services/compute-on/test_area/images/a/b%20c/d%2Fe"
        );
        assert_eq!(
            c.root_url(&["tasks", "t"]).as_str(),
            "http://h:1/api/v2/tasks/t"
        );
        assert!(!format!("{c:?}").contains("sekrit"));
    }
}
