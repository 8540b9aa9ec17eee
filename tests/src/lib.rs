//! Black-box tests of the built `isogate` binary live in `tests/`; this
//! library only helps them start it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `isogate` process; killed on drop.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of the `isogate` binary, brought up to date once per test
/// process (a no-op when `cargo test --workspace` already built it).
pub fn binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            // Test executables live in target/<profile>/deps; the binary one level up.
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("target/<profile>")
                .to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "isogate", "--bin", "isogate"])
                .env(
                    "CARGO_TARGET_DIR",
                    profile_dir.parent().expect("target dir"),
                )
                .status()
                .expect("cargo build");
            assert!(status.success(), "building the isogate binary failed");
            profile_dir.join(format!("isogate{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}

/// Starts the binary with its embedded default on an ephemeral loopback
/// port (plus `env` overrides) and waits until `/readyz` answers 200.
pub fn start(env: &[(&str, &str)]) -> Gateway {
    start_with(&[], env)
}

/// Starts the binary with `args` and `env` on an ephemeral loopback port and
/// waits until `/readyz` answers 200. The test process's own `ISOGATE_`
/// variables are removed: they would choose the configuration.
pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Gateway {
    let mut cmd = command();
    cmd.args(args)
        .env("ISOGATE_SERVER__LISTEN", "127.0.0.1:0")
        .env("ISOGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start isogate");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("isogate listening on ") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let base = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(base) => base,
        Err(_) => {
            let _ = child.kill();
            panic!("isogate did not print its address within 60 s");
        }
    };
    let gateway = Gateway { child, base };
    wait_ready(&gateway.base);
    gateway
}

/// The binary as a command, without the `ISOGATE_` variables of the test
/// process (a developer's own configuration must not leak into a test).
pub fn command() -> Command {
    let mut cmd = Command::new(binary());
    for (key, _) in std::env::vars_os() {
        if key
            .to_string_lossy()
            .to_ascii_uppercase()
            .starts_with("ISOGATE_")
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http_status(&format!("{base}/readyz")) == Some(200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("/readyz never answered 200");
}

/// The status of a plain HTTP/1.1 GET, over std (no runtime needed).
pub fn http_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    stream.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

impl Gateway {
    /// Asks the process to stop (SIGTERM) and waits for its exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}
