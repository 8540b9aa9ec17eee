//! The real binary: no keyless public bind, API keys reloaded on SIGHUP, and a
//! configuration of real upstreams served with the simulators off. The
//! gateway-only configs here name no providers, so they ask for the demo
//! under them with `--demo`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

fn config_file(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("isogate-hardening-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn keys(entries: &[(&str, &str)]) -> String {
    entries
        .iter()
        .map(|(name, secret)| {
            format!(
                "[[auth.keys]]\nname = \"{name}\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n",
                hex::encode(Sha256::digest(secret.as_bytes()))
            )
        })
        .collect()
}

fn status(addr: &str, key: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /v1/providers HTTP/1.1\r\nHost: x\r\nX-Api-Key: {key}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on the demo with `config` over it and `ISOGATE_LOG=log`.
fn start(
    config: &std::path::Path,
    log: &str,
) -> (Server, String, std::thread::JoinHandle<Vec<String>>) {
    start_with(&["--demo"], config, log)
}

/// Starts the binary with `args` and `--config config` and `ISOGATE_LOG=log`:
/// the server, its address, and the thread collecting its stdout until it
/// exits (kept draining: a closed pipe would make its `println!` panic).
fn start_with(
    args: &[&str],
    config: &std::path::Path,
    log: &str,
) -> (Server, String, std::thread::JoinHandle<Vec<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_isogate"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("ISOGATE_CONFIG")
        .env("ISOGATE_LOG", log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("isogate listening on http://") {
                let _ = tx.send(rest.trim().to_owned());
            }
            lines.push(line);
        }
        lines
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    assert!(!addr.is_empty(), "the server did not start");
    (server, addr, reader)
}

#[test]
fn a_keyless_public_listen_is_refused_unless_auth_is_none_explicitly() {
    let path = config_file("public.toml", "[server]\nlisten = \"0.0.0.0:0\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_isogate"))
        .arg("--demo")
        .arg("--config")
        .arg(&path)
        .env_remove("ISOGATE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0:0"), "{err}");
    assert!(err.contains("mode = \"none\""), "{err}");
}

#[test]
fn real_upstreams_are_served_alone_with_the_simulators_off() {
    // A VSS upstream over loopback (the simulator as a stand-in), named by
    // URL: nothing in the config uses `sim:`, so simulators.enabled = false
    // must start (it used to refuse: the demo's sim: providers leaked in).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let upstream = rt
        .block_on(isogate_sim::vss::start(isogate_sim::vss::Options::default()))
        .unwrap();
    let path = config_file(
        "real.toml",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[simulators]\nenabled = false\n\
             [providers.vss-campus]\nkind = \"vss\"\nbase_url = \"{}\"\n\
             username = \"sim-user\"\npassword = \"sim-password\"\n",
            upstream.base_url()
        ),
    );
    let (_server, addr, _) = start_with(&[], &path, "warn");
    let get = |target: &str| {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        exchange(
            &mut s,
            &format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    };
    let (status, _, body) = get("/v1/providers");
    assert_eq!(status, 200);
    let providers: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let names: Vec<&str> = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["vss-campus"], "{providers}");
    let (status, _, body) = get("/v1/isos?per_page=5");
    let listing: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{listing}");
    let sources = listing["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "{listing}");
    assert_eq!(sources[0]["provider"], "vss-campus", "{listing}");
    assert_eq!(sources[0]["status"], "ok", "{listing}");
    assert!(listing["meta"]["total"].as_u64().unwrap() > 0, "{listing}");
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_keys_without_a_restart() {
    let base = "[server]\nlisten = \"127.0.0.1:0\"\n";
    let path = config_file(
        "keys.toml",
        &format!("{base}{}", keys(&[("old", "old-key-1")])),
    );
    let (server, addr, _) = start(&path, "warn");
    assert_eq!(status(&addr, "old-key-1"), 200);
    assert_eq!(status(&addr, "new-key-2"), 401);
    std::fs::write(&path, format!("{base}{}", keys(&[("new", "new-key-2")]))).unwrap();
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    while status(&addr, "new-key-2") != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "keys not reloaded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(status(&addr, "old-key-1"), 401);
    // A broken section keeps the keys in force.
    std::fs::write(
        &path,
        format!("{base}[[auth.keys]]\nname = \"x\"\nsha256 = \"zz\"\nscopes = [\"read\"]\n"),
    )
    .unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(status(&addr, "new-key-2"), 200);
}

/// One HTTP/1.1 exchange on `stream`: status, lower-cased headers, body.
fn exchange(stream: &mut TcpStream, request: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let Some((k, v)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (status, headers, body)
}

#[cfg(unix)]
#[test]
fn stored_listings_are_logged_and_sigterm_drains_keep_alive_connections() {
    let path = config_file(
        "lane.toml",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n{}",
            keys(&[("lane", "lane-key-1")])
        ),
    );
    let (mut server, addr, reader) = start(&path, "info");
    // One keep-alive connection: a miss, a stored page, then the hot lane.
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut bodies = Vec::new();
    for n in 1..=3 {
        let (status, headers, body) = exchange(
            &mut conn,
            &format!(
                "GET /v1/isos?per_page=2 HTTP/1.1\r\nHost: x\r\nX-Api-Key: lane-key-1\r\nX-Request-Id: lane-{n}\r\n\r\n"
            ),
        );
        assert_eq!(status, 200);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header("x-request-id").as_deref(),
            Some(&*format!("lane-{n}"))
        );
        if n == 3 {
            assert_eq!(header("cache-status").as_deref(), Some("isogate; hit"));
            assert_eq!(header("vary").as_deref(), Some("accept-encoding"));
        }
        bodies.push(body);
    }
    let first: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();
    let third: serde_json::Value = serde_json::from_slice(&bodies[2]).unwrap();
    assert_eq!(first["data"], third["data"]);
    // The connection stays open and idle; SIGTERM closes it and exits 0.
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let code = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
    let mut rest = Vec::new();
    assert_eq!(
        conn.read_to_end(&mut rest).unwrap_or(0),
        0,
        "closed, nothing more sent"
    );
    let lines = reader.join().unwrap();
    for n in 1..=3 {
        let id = format!("request_id=lane-{n} ");
        let line = lines
            .iter()
            .find(|l| l.contains(&id))
            .unwrap_or_else(|| panic!("no request line for lane-{n}: {lines:?}"));
        assert!(
            line.contains(" INFO request request_id=")
                && line.contains(" method=GET route=/v1/isos status=200 elapsed_ms="),
            "{line}"
        );
        assert!(!line.contains("lane-key-1"), "{line}");
    }
    assert!(
        lines.iter().any(|l| l.contains("shut down cleanly")),
        "{lines:?}"
    );
}
