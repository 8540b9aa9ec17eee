//! VSS's own clients from PyPI, `pyvss` and `vss-cli`, against the VSS
//! simulator over loopback: token, every page of the public and personal
//! catalogues at several page sizes, filter, sort, sync and its request
//! status, wrong credentials. The drivers are `crates/sim/scripts/`; they
//! assert, and a failure here carries their output.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use isogate_sim::vss::{self, Options};
use isogate_testkit::tools::{python_env, workspace_root};

/// A generous bound for a loaded CI box; a hung client fails the test.
const LIMIT: Duration = Duration::from_secs(90);

fn script(name: &str) -> PathBuf {
    workspace_root().join("crates/sim/scripts").join(name)
}

/// Runs `cmd` to its end (or kills it at `LIMIT`); panics naming `what` with
/// the output when it does not exit 0.
fn run(what: &str, mut cmd: Command) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let readers = (
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        }),
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        }),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (readers.0.join().unwrap(), readers.1.join().unwrap());
    match status {
        Some(s) if s.success() => eprintln!("{what}: passed in {:?}", started.elapsed()),
        Some(s) => panic!(
            "{what} failed against the VSS simulator ({s}): the simulator no longer \
             speaks what VSS's own client expects.\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        ),
        None => panic!(
            "{what} did not finish within {LIMIT:?} against the VSS simulator.\n\
             --- stdout\n{stdout}\n--- stderr\n{stderr}"
        ),
    }
}

async fn simulator() -> isogate_sim::SimServer {
    vss::start(Options {
        sync_step: Duration::from_millis(150),
        ..Default::default()
    })
    .await
    .expect("VSS simulator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvss_lists_pages_filters_sorts_and_syncs() {
    let bin = python_env();
    let sim = simulator().await;
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(script("vss_pyvss_check.py")).arg(sim.base_url());
    tokio::task::spawn_blocking(move || run("pyvss (crates/sim/scripts/vss_pyvss_check.py)", cmd))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vss_cli_lists_filters_sorts_and_syncs() {
    let bin = python_env();
    let sim = simulator().await;
    let home = std::env::temp_dir().join(format!("isogate-vss-cli-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("vss-cli home");
    let mut cmd = Command::new("bash");
    cmd.arg(script("vss_cli_check.sh"))
        .arg(sim.base_url())
        .env("VSS_CLI", bin.join("vss-cli"))
        .env("PYTHON", bin.join("python"))
        .env("VSS_CLI_HOME", &home)
        .env("VSS_EXPECT_PUBLIC", "230")
        .env("VSS_EXPECT_PERSONAL", "12")
        .env("VSS_EXPECT_UPLOADS", "3");
    let result = tokio::task::spawn_blocking(move || {
        run("vss-cli (crates/sim/scripts/vss_cli_check.sh)", cmd)
    })
    .await;
    let _ = std::fs::remove_dir_all(&home);
    result.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
}
