//! A controllable in-memory provider for route tests of the gateway's own
//! mechanics (cache, federation, errors). Upstream protocols are covered by
//! the simulator-backed tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use isogate::config::Config;
use isogate::{AppState, ProviderHandle, app};
use isogate_core::{
    Capability, Error, ErrorKind, ImportRequest, Iso, IsoProvider, ItemKind, ListOptions, Listing,
    Outcome, ProviderKind, Result, Status,
};
use tower::ServiceExt;

/// How the fake behaves now.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    pub delay: Duration,
    pub fail: Option<ErrorKind>,
}

#[derive(Debug)]
pub struct Fake {
    pub name: String,
    pub items: Mutex<Vec<Iso>>,
    pub behaviour: Mutex<Behaviour>,
    pub lists: AtomicUsize,
    pub writes: AtomicUsize,
    pub next_id: AtomicU64,
}

impl Fake {
    pub fn new(name: &str, n: usize) -> Arc<Fake> {
        let items = (0..n)
            .map(|i| item(name, &format!("{i:04}"), &format!("{name}-iso-{i}")))
            .collect();
        Arc::new(Fake {
            name: name.into(),
            items: Mutex::new(items),
            behaviour: Mutex::new(Behaviour::default()),
            lists: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            next_id: AtomicU64::new(n as u64),
        })
    }

    pub fn set(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap() = b;
    }

    pub fn lists(&self) -> usize {
        self.lists.load(Ordering::SeqCst)
    }
}

pub fn item(provider: &str, native: &str, name: &str) -> Iso {
    let mut iso = Iso::new(provider, ProviderKind::Cloudmc, ItemKind::Iso, native, name);
    iso.status = Status::Ready;
    iso.size_bytes = Some(native.bytes().map(u64::from).sum::<u64>() * 1000);
    iso
}

#[async_trait]
impl IsoProvider for Fake {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> ProviderKind {
        ProviderKind::Cloudmc
    }
    fn capability(&self) -> Capability {
        Capability {
            list: true,
            get: true,
            import: true,
            delete: true,
            // As the CloudMC adapter it claims to be declares.
            import_schemes: &["http"],
            ..Default::default()
        }
    }
    async fn list(&self, _opts: &ListOptions) -> Result<Listing> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        let b = self.behaviour.lock().unwrap().clone();
        tokio::time::sleep(b.delay).await;
        if let Some(kind) = b.fail {
            return Err(Error::new(kind, "injected")
                .with_provider(&self.name)
                .with_operation("list"));
        }
        Ok(Listing {
            items: self.items.lock().unwrap().clone(),
            ..Default::default()
        })
    }
    async fn get(&self, native_id: &str, _raw: bool) -> Result<Iso> {
        self.items
            .lock()
            .unwrap()
            .iter()
            .find(|i| i.native_id == native_id)
            .cloned()
            .ok_or_else(|| {
                Error::not_found("no such item")
                    .with_provider(&self.name)
                    .with_operation("get")
            })
    }
    async fn import(&self, req: &ImportRequest) -> Result<Outcome> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let iso = item(&self.name, &format!("{id:04}"), &req.name);
        self.items.lock().unwrap().push(iso.clone());
        Ok(Outcome::Item {
            item: Box::new(iso),
        })
    }
}

pub fn state_with(fakes: Vec<Arc<Fake>>, toml: &str) -> AppState {
    let (config, _) = Config::from_toml(toml).unwrap();
    let handles = fakes
        .iter()
        .map(|f| {
            ProviderHandle::new(
                f.clone() as Arc<dyn IsoProvider>,
                Duration::from_millis(300),
            )
        })
        .collect();
    let state = AppState::new(config, handles);
    state.set_ready();
    state
}

pub async fn call(state: &AppState, req: Request<Body>) -> (Response<Body>, serde_json::Value) {
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (Response::from_parts(parts, Body::empty()), json)
}

pub async fn get(state: &AppState, uri: &str) -> (Response<Body>, serde_json::Value) {
    call(state, Request::get(uri).body(Body::empty()).unwrap()).await
}
