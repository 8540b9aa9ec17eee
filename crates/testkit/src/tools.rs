//! Real outside parts the tests drive: a Python virtual environment with the
//! upstreams' own clients and the contract tools (from PyPI), and Debian's
//! Chromium. Each is made once per machine and shared by every test binary:
//! a file lock serialises the first build, a stamp (the requirements' text)
//! says whether the environment is current.
//!
//! `cargo test --workspace` builds what is missing itself, so it runs on a
//! fresh machine; `.ci/run` builds the same things up front so that a
//! registry failure shows as a set-up step, not as a failing test.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate lives at `crates/testkit`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The virtual environment of `tests/python/requirements.txt`, built if
/// missing or stale. Returns its `bin` folder (`python`, `vss-cli`,
/// `schemathesis`, `openapi-python-client` live there).
///
/// Panics with what to do when the environment cannot be built: a test that
/// needs a real client must not pass without it.
pub fn python_env() -> PathBuf {
    let root = workspace_root();
    let requirements = root.join("tests/python/requirements.txt");
    let wanted = fs::read_to_string(&requirements).expect("tests/python/requirements.txt");
    let env = target_dir().join("pyenv");
    let bin = env.join("bin");
    let stamp = env.join("isogate-requirements.txt");
    let current = || fs::read_to_string(&stamp).is_ok_and(|s| s == wanted);
    if current() {
        return bin;
    }
    fs::create_dir_all(target_dir()).expect("target dir");
    let lock = File::create(target_dir().join("pyenv.lock")).expect("pyenv lock file");
    lock.lock().expect("lock pyenv");
    if !current() {
        let _ = fs::remove_dir_all(&env);
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&env),
            "python3 -m venv (Debian: apt-get install python3-venv)",
        );
        run(
            Command::new(bin.join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements),
            "pip install -r tests/python/requirements.txt (needs PyPI)",
        );
        fs::write(&stamp, &wanted).expect("write pyenv stamp");
    }
    bin
}

/// Debian's Chromium (`/usr/bin/chromium`), installed with apt-get when
/// missing and this process may (root). Playwright drives it by
/// `executable_path`; it can never download a browser here.
pub fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    if path.exists() {
        return path;
    }
    fs::create_dir_all(target_dir()).expect("target dir");
    let lock = File::create(target_dir().join("chromium.lock")).expect("chromium lock file");
    lock.lock().expect("lock chromium install");
    if !path.exists() {
        run(
            Command::new("sh").arg("-c").arg(
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
            ),
            "apt-get install chromium (Debian's browser; as root, or install it by hand)",
        );
    }
    assert!(
        path.exists(),
        "chromium is still missing after apt-get: install Debian's chromium"
    );
    path
}

fn run(cmd: &mut Command, what: &str) {
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("{what} failed ({status})"),
        Err(e) => panic!("{what} could not start: {e}"),
    }
}
