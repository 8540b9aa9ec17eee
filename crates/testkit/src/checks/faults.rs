//! all#3 (injected transport faults map to the right kinds) and all#5
//! (writes reach the upstream at most once per call).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use isogate_core::{Error, ErrorKind, ListOptions, Operation};
use isogate_sim::Faults;

use super::WriteCall;
use crate::harness::{Check, CheckResult, Ctx, describe, short};

const WRITES: [Operation; 7] = [
    Operation::Import,
    Operation::Update,
    Operation::Delete,
    Operation::Attach,
    Operation::Detach,
    Operation::DownloadUrl,
    Operation::Sync,
];

/// The bound of a check against a hanging upstream (the provider's own
/// timeout must be at most 2 s).
const HANG_BOUND: Duration = Duration::from_secs(8);

/// One injected fault and what it must produce.
#[derive(Clone, Debug)]
struct Case {
    label: &'static str,
    faults: Option<Faults>,
    /// `None`: the call must succeed.
    kind: Option<ErrorKind>,
    retryable: Option<bool>,
    retry_after: Option<Duration>,
}

fn cases() -> Vec<Case> {
    let fault = |f: Faults| Some(f);
    let case = |label, faults, kind, retryable| Case {
        label,
        faults,
        kind,
        retryable,
        retry_after: None,
    };
    vec![
        case(
            "latency",
            fault(Faults {
                latency_ms: 300,
                jitter_ms: 100,
                ..Default::default()
            }),
            None,
            None,
        ),
        case(
            "500",
            fault(Faults {
                error_rate: 1.0,
                error_status: 500,
                ..Default::default()
            }),
            Some(ErrorKind::Upstream),
            Some(true),
        ),
        case(
            "503",
            fault(Faults {
                error_rate: 1.0,
                error_status: 503,
                ..Default::default()
            }),
            Some(ErrorKind::Upstream),
            Some(true),
        ),
        Case {
            retry_after: Some(Duration::from_secs(3)),
            ..case(
                "429",
                fault(Faults {
                    rate_limit_rate: 1.0,
                    retry_after_s: 3,
                    ..Default::default()
                }),
                Some(ErrorKind::RateLimited),
                Some(true),
            )
        },
        case(
            "malformed json",
            fault(Faults {
                malformed_json: true,
                ..Default::default()
            }),
            Some(ErrorKind::Upstream),
            Some(false),
        ),
        case(
            "truncated body",
            fault(Faults {
                truncate: true,
                ..Default::default()
            }),
            Some(ErrorKind::Upstream),
            Some(false),
        ),
        // `None` faults: the listener is stopped instead.
        case(
            "stopped listener",
            None,
            Some(ErrorKind::Unavailable),
            Some(true),
        ),
        case(
            "hang",
            fault(Faults {
                hang: true,
                ..Default::default()
            }),
            Some(ErrorKind::Timeout),
            Some(true),
        ),
    ]
}

/// How a write is made to fail in all#5.
#[derive(Clone, Copy, Debug)]
enum WriteFault {
    /// Every request answered 503 before the upstream acts.
    Status503,
    /// Every request hangs before the upstream acts.
    Hang,
    /// The upstream acts, then the answer's body is cut: the case where a
    /// resend would do the write twice.
    Cut,
}

pub(super) fn checks(ctx: &Ctx) -> Vec<Check> {
    let mut checks = Vec::new();
    for op in WRITES.into_iter().filter(|op| ctx.supports(*op)) {
        checks.push(
            Check::new("all#5", &[op], move |ctx| {
                write_once(ctx, op, WriteFault::Status503)
            })
            .label(op.as_str()),
        );
    }
    if let Some(op) = WRITES.into_iter().find(|op| ctx.supports(*op)) {
        checks.push(
            Check::new("all#5", &[op], move |ctx| {
                write_once(ctx, op, WriteFault::Hang)
            })
            .label(format!("{op}, hanging upstream"))
            .timeout(HANG_BOUND),
        );
        checks.push(
            Check::new("all#5", &[op], move |ctx| {
                write_once(ctx, op, WriteFault::Cut)
            })
            .label(format!("{op}, answer cut"))
            .timeout(HANG_BOUND),
        );
    }
    for case in cases() {
        let bound = if case.label == "hang" {
            HANG_BOUND
        } else {
            crate::harness::CHECK_TIMEOUT
        };
        let c = case.clone();
        checks.push(
            Check::new("all#3", &[Operation::List], move |ctx| {
                fault_case(ctx, c, false)
            })
            .label(format!("list, {}", case.label))
            .timeout(bound),
        );
        // One hang is enough time spent; the other cases are cheap.
        if case.label != "hang" {
            let c = case.clone();
            checks.push(
                Check::new("all#3", &[Operation::List, Operation::Get], move |ctx| {
                    fault_case(ctx, c, true)
                })
                .label(format!("get, {}", case.label))
                .timeout(bound),
            );
        }
    }
    if ctx.fixtures.unauthorized.is_some() {
        checks
            .push(Check::new("all#3", &[Operation::List], unauthorized).label("wrong credentials"));
    }
    checks
}

fn diff(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, d)| *d > 0)
        .collect()
}

async fn write_once(ctx: Arc<Ctx>, op: Operation, fault: WriteFault) -> CheckResult {
    let call = WriteCall::prepare(&ctx, op).await?;
    let what = short(&call);
    let (faults, kind, retryable) = match fault {
        WriteFault::Status503 => (
            Faults {
                error_rate: 1.0,
                error_status: 503,
                ..Default::default()
            },
            ErrorKind::Upstream,
            true,
        ),
        WriteFault::Hang => (
            Faults {
                hang: true,
                ..Default::default()
            },
            ErrorKind::Timeout,
            true,
        ),
        WriteFault::Cut => (
            Faults {
                truncate: true,
                ..Default::default()
            },
            ErrorKind::Upstream,
            false,
        ),
    };
    ctx.control.set_faults(faults);
    let before = ctx.control.counts();
    let r = call.run(&ctx).await;
    let sent = diff(&before, &ctx.control.counts());
    ctx.control.heal();
    match r {
        // The upstream acted; an adapter that never reads that answer's body
        // may well report success.
        Ok(_) if matches!(fault, WriteFault::Cut) => {}
        Ok(o) => {
            return Err(format!(
                "{what} succeeded although every request failed: {}",
                short(&o)
            ));
        }
        Err(e) => {
            ctx.observe(&e);
            if e.kind() != kind || e.retryable() != retryable {
                ctx.fail(
                    "all#3",
                    format!(
                        "{what} expected {kind:?} with retryable={retryable}, got {}",
                        describe(&e)
                    ),
                );
            }
        }
    }
    // Route counters are `METHOD /path`; simulators may add their own named
    // counters, which only their handlers bump (not reached here).
    let total: u64 = sent.values().sum();
    if total == 0 {
        return Err(format!("{what} failed without reaching the upstream"));
    }
    let repeated: Vec<String> = sent
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, n)| format!("{k} x{n}"))
        .collect();
    if !repeated.is_empty() {
        return Err(format!(
            "{what} was retried: {} during one call",
            repeated.join(", ")
        ));
    }
    Ok(())
}

async fn fault_case(ctx: Arc<Ctx>, case: Case, on_get: bool) -> CheckResult {
    // Chosen while healthy, so the fault hits the call under test only.
    let id = if on_get {
        let items = ctx.listing().await?;
        Some(
            items
                .first()
                .map(|i| i.native_id.clone())
                .ok_or("the listing is empty: nothing to get")?,
        )
    } else {
        None
    };
    let stopped = case.faults.is_none();
    if let Some(f) = &case.faults {
        ctx.control.set_faults(f.clone());
    } else {
        ctx.sim.lock().await.stop_listening();
    }
    let started = Instant::now();
    let r: isogate_core::Result<String> = match &id {
        Some(id) => ctx
            .provider
            .get(id, false)
            .await
            .map(|i| short(&i.native_id)),
        None => ctx
            .provider
            .list(&ListOptions::default())
            .await
            .map(|l| format!("{} items", l.items.len())),
    };
    let took = started.elapsed();
    if stopped {
        let mut sim = ctx.sim.lock().await;
        sim.resume_listening()
            .await
            .map_err(|e| format!("could not resume the simulator: {e}"))?;
    } else {
        ctx.control.heal();
    }
    let what = match &id {
        Some(id) => format!("get {id:?} with {}", case.label),
        None => format!("list with {}", case.label),
    };
    let op = if id.is_some() {
        Operation::Get
    } else {
        Operation::List
    };
    if let Err(e) = &r
        && e.operation().is_some_and(|o| o.parse() != Ok(op))
    {
        ctx.fail(
            "all#1",
            format!(
                "{what}: the error names operation {:?}, expected {:?}",
                e.operation(),
                op.method()
            ),
        );
    }
    judge(&ctx, &what, r, &case).map_err(|e| format!("{e} (after {took:?})"))
}

fn judge(ctx: &Ctx, what: &str, r: isogate_core::Result<String>, case: &Case) -> CheckResult {
    let Some(kind) = case.kind else {
        return ctx.ok(what, r).map(|_| ());
    };
    let e: Error = ctx.err_of(what, r, kind)?;
    if let Some(retryable) = case.retryable
        && e.retryable() != retryable
    {
        return Err(format!(
            "{what}: expected retryable={retryable}, got {}",
            describe(&e)
        ));
    }
    if let Some(after) = case.retry_after
        && e.retry_after() != Some(after)
    {
        return Err(format!(
            "{what}: expected retry_after {after:?} (from Retry-After), got {}",
            describe(&e)
        ));
    }
    Ok(())
}

async fn unauthorized(ctx: Arc<Ctx>) -> CheckResult {
    let Some(p) = ctx.fixtures.unauthorized.clone() else {
        return Ok(());
    };
    let r = p.list(&ListOptions::default()).await;
    match r {
        Ok(l) => Err(format!(
            "a provider with wrong credentials listed {} items",
            l.items.len()
        )),
        Err(e) => {
            ctx.observe_from(p.name(), &e);
            if e.kind() == ErrorKind::Unauthorized {
                Ok(())
            } else {
                Err(format!(
                    "wrong credentials: expected Unauthorized, got {}",
                    describe(&e)
                ))
            }
        }
    }
}
