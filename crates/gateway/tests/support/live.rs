//! The embedded demo served on a loopback port in-process, for tests that
//! drive real clients (schemathesis, a generated client, a browser).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use isogate::config::{Config, EMBEDDED_DEFAULT};
use isogate::{Embedded, app, build_state};
use sha2::{Digest, Sha256};

/// The admin key of [`Live::start`] with keys on.
pub const ADMIN_KEY: &str = "contract-admin-key-0123456789";

/// A running gateway; dropping it stops the server and the simulators.
pub struct Live {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _embedded: Embedded,
}

impl Live {
    /// The demo with API keys required (one admin key, limits high enough
    /// for a fuzzer) when `keys`, else with auth off.
    pub async fn start(keys: bool) -> Live {
        let mut toml = EMBEDDED_DEFAULT.to_owned();
        // Rate limits far above what a test sends: a 429 would hide answers.
        toml.push_str(
            "\n[auth.rate_limit]\nper_second = 100000\nburst = 100000\n\
             refresh_per_minute = 100000\nrefresh_burst = 100000\n",
        );
        // Event streams end after 2 s (clients resume with Last-Event-ID):
        // a fuzzer reading `/v1/events` to its end gets an answer well within
        // its request timeout. Providers are polled every second, so a
        // change made through the API reaches open streams quickly.
        toml.push_str("\n[feed]\nmax_stream_s = 2\ndefault_poll_interval_s = 1\n");
        if keys {
            toml.push_str(&format!(
                "\n[[auth.keys]]\nname = \"contract\"\nsha256 = \"{}\"\n\
                 scopes = [\"read\", \"write\", \"admin\"]\nproviders = [\"*\"]\n",
                hex::encode(Sha256::digest(ADMIN_KEY.as_bytes()))
            ));
        }
        let (config, entries) = Config::from_toml(&toml).expect("demo config");
        let embedded = Embedded::start(&config.simulators, &entries)
            .await
            .expect("simulators");
        let state = build_state(config, &entries, &embedded).expect("state");
        isogate::feed::start(&state).await.expect("feed");
        state.set_ready();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(isogate::serve(listener, app(state), async move {
            let _ = stopped.await;
        }));
        Live {
            addr,
            stop: Some(stop),
            _embedded: embedded,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A fresh scratch folder under cargo's target tmp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Runs `cmd` off the async runtime (the server keeps answering meanwhile).
pub async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("could not run a tool of the Python venv: {e}"))
}

/// stdout and stderr of a finished tool, for a failure message.
pub fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
