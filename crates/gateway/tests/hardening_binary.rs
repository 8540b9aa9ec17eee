//! The real binary: no keyless public bind, and API keys reloaded on SIGHUP.

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

#[test]
fn a_keyless_public_listen_is_refused_unless_auth_is_none_explicitly() {
    let path = config_file("public.toml", "[server]\nlisten = \"0.0.0.0:0\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_isogate"))
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

#[cfg(unix)]
#[test]
fn sighup_reloads_the_keys_without_a_restart() {
    let base = "[server]\nlisten = \"127.0.0.1:0\"\n";
    let path = config_file(
        "keys.toml",
        &format!("{base}{}", keys(&[("old", "old-key-1")])),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_isogate"))
        .arg("--config")
        .arg(&path)
        .env_remove("ISOGATE_CONFIG")
        .env("ISOGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    // Keep draining stdout: the server prints more after the address, and a
    // closed pipe would make its println! panic.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("isogate listening on http://") {
                let _ = tx.send(rest.trim().to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    assert!(!addr.is_empty(), "the server did not start");
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
