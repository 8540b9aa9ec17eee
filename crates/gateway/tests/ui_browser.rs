//! The dashboard in a real browser: the built binary on the embedded demo
//! (with an API key, so the key field is exercised), driven by Playwright
//! (`ui_browser.py`) in Debian's Chromium. The script compares what the page
//! shows with the API's own answers, faults two embedded simulators through
//! their `/__sim/faults` control routes, and saves a screenshot of each view
//! under `target/ui-screenshots/`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

const KEY: &str = "ui-browser-test-key";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the binary printed on start: its address and each simulator's base URL.
struct Started {
    addr: String,
    simulators: Vec<(String, String)>,
}

fn start(config: &std::path::Path) -> (Server, Started) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_isogate"))
        // The demo, with the test's file (a free port, one key) over it.
        .arg("--demo")
        .arg("--config")
        .arg(config)
        .env_remove("ISOGATE_CONFIG")
        // The "embedded simulator" lines name the simulators' addresses.
        .env("ISOGATE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the isogate binary");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps draining stdout: a closed pipe would fail the server's writes.
    std::thread::spawn(move || {
        let mut simulators = Vec::new();
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("embedded simulator") {
                let field = |name: &str| {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(name))
                        .map(str::to_owned)
                };
                if let (Some(sim), Some(url)) = (field("simulator="), field("base_url=")) {
                    simulators.push((sim, url));
                }
            }
            if let Some(rest) = line.strip_prefix("isogate listening on http://")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Started {
                    addr: rest.trim().to_owned(),
                    simulators: std::mem::take(&mut simulators),
                });
            }
        }
    });
    let started = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the isogate binary did not print its address within 30 s");
    (server, started)
}

/// A simulator's origin (its base URL without the API path): `/__sim/` lives there.
fn origin(started: &Started, sim: &str) -> String {
    let url = started
        .simulators
        .iter()
        .find(|(name, _)| name == sim)
        .map(|(_, url)| url.clone())
        .unwrap_or_else(|| panic!("the binary did not report simulator {sim}"));
    let after_scheme = url.trim_start_matches("http://");
    let host = after_scheme.split('/').next().unwrap_or(after_scheme);
    format!("http://{host}")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| isogate_testkit::tools::workspace_root().join("target"))
}

#[test]
fn the_dashboard_shows_the_catalogue_its_sources_and_stats_in_a_real_browser() {
    let python = isogate_testkit::tools::python_env().join("python");
    let chromium = isogate_testkit::tools::chromium();
    let dir = std::env::temp_dir().join(format!("isogate-ui-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("ui.toml");
    // The demo's providers and simulators, on a free port, behind one key
    // (read for the page, admin to drop a cached listing for the fault case,
    // write for an import the Live view must show), providers polled every second.
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[[auth.keys]]\nname = \"ui\"\nsha256 = \"{}\"\nscopes = [\"read\", \"write\", \"admin\"]\n\n[feed]\ndefault_poll_interval_s = 1\n",
            hex::encode(Sha256::digest(KEY.as_bytes()))
        ),
    )
    .expect("write config");
    let (_server, started) = start(&config);
    let shots = target_dir().join("ui-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui_browser.py");
    let out = Command::new(&python)
        .arg(&script)
        .env("UI_BASE", format!("http://{}", started.addr))
        .env("UI_KEY", KEY)
        .env("UI_SIM_VSS", origin(&started, "vss"))
        .env("UI_SIM_COX", origin(&started, "cox"))
        .env("UI_SHOTS", &shots)
        .env("UI_CHROMIUM", &chromium)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "could not run {} {}: {e}",
                python.display(),
                script.display()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Playwright script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("ui ok"),
        "the script did not finish:\n{stdout}\n{stderr}"
    );
    for view in [
        "catalogue-1280",
        "drawer-1280",
        "stats-1280",
        "sources-1280",
        "sources-faulted-1280",
        "catalogue-390",
        "drawer-390",
        "stats-390",
        "sources-faulted-390",
        "catalogue-dark-1280",
        "readme",
    ] {
        let png = shots.join(format!("{view}.png"));
        let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "no screenshot {}", png.display());
    }
}
