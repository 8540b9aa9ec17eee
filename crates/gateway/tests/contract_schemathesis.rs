//! Schemathesis (PyPI) against the served document: every check, the
//! stateful phase included, once with API keys on (authorised as admin) and
//! once with auth off. Each run must report no failure.
//!
//! Bounded by `--max-time` (schemathesis repeats fuzzing and stateful
//! scenarios until the budget is spent), so the pair takes about three
//! minutes on two cores whatever the machine.

#[path = "support/live.rs"]
mod live;

use std::process::Command;

use live::{ADMIN_KEY, Live, run, scratch, text};

/// Seconds per run.
const BUDGET_S: &str = "75";

async fn schemathesis(keys: bool) {
    let bin = isogate_testkit::tools::python_env();
    let live = Live::start(keys).await;
    let dir = scratch(if keys { "st-keys" } else { "st-open" });
    // The stateful phase fills `{provider}` from `GET /v1/providers` (every
    // configured provider), not from the operation's documented enum of the
    // providers able to do it; so it sends requests outside the schema, and
    // their answer is the documented 405 with `Allow`. In that phase only,
    // 405 is accepted as well as schemathesis's defaults; elsewhere the
    // enum holds and a 405 on schema-valid data still fails.
    std::fs::write(
        dir.join("schemathesis.toml"),
        "[phases.stateful.checks.positive_data_acceptance]\n\
         expected-statuses = [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"405\", \
         \"409\", \"429\", \"5xx\"]\n",
    )
    .expect("schemathesis.toml");
    // CPython 3.11's `ast` can fail its own recursion-depth bookkeeping
    // (python/cpython#106905, fixed in 3.11.8; the machines have 3.11.7)
    // when Hypothesis parses a module only to print a lambda in a
    // strategy's repr. The repr is cosmetic: this hook names such a lambda
    // `lambda` instead of crashing the run. (Rerunning did not help: the
    // same ordering of the two workers can hit it again.)
    std::fs::write(
        dir.join("isogate_hooks.py"),
        "import hypothesis.internal.lambda_sources as _ls\n\
         _describe = _ls.lambda_description\n\
         def _safe(f):\n\
         \x20   try:\n\
         \x20       return _describe(f)\n\
         \x20   except SystemError:\n\
         \x20       return 'lambda'\n\
         _ls.lambda_description = _safe\n",
    )
    .expect("hooks");
    let command = || {
        let mut cmd = Command::new(bin.join("schemathesis"));
        cmd.current_dir(&dir)
            .env("SCHEMATHESIS_HOOKS", dir.join("isogate_hooks.py"))
            .env("NO_COLOR", "1")
            .arg("--config-file")
            .arg(dir.join("schemathesis.toml"))
            .arg("run")
            .arg(format!("{}/openapi.json", live.base()))
            .args(["--checks", "all"])
            .args(["--max-examples", "100"])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--seed", "42"])
            .args(["--workers", "2"])
            .args(["--request-timeout", "10"])
            .args(["--max-time", BUDGET_S])
            .arg("--no-shrink");
        if keys {
            cmd.args(["-H", &format!("Authorization: Bearer {ADMIN_KEY}")]);
        }
        cmd
    };
    let mut out = run(command()).await;
    // Should the interpreter's AST bug (above) still surface elsewhere:
    // a crash of the tool's interpreter, not a finding about the API. Such
    // a run, with no failure reported, is run once more.
    let interpreter_bug = |r: &str| {
        r.contains("AST constructor recursion depth mismatch") && !r.contains("failures in")
    };
    if !out.status.success() && interpreter_bug(&text(&out)) {
        eprintln!("schemathesis hit CPython's AST depth bug; running it once more");
        out = run(command()).await;
    }
    let report = text(&out);
    let summary: String = report
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!(
        "schemathesis (keys {}):\n{summary}",
        if keys { "on" } else { "off" }
    );
    assert!(
        out.status.success() && !report.contains("failures in") && report.contains("passed"),
        "schemathesis found failures (keys {}):\n{report}",
        if keys { "on" } else { "off" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_with_api_keys_on() {
    schemathesis(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_with_auth_off() {
    schemathesis(false).await;
}
