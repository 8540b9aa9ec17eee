//! Running checks: one task each, bounded, healed after; failures collected
//! and reported together; every error seen checked for all#1 and all#4.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use isogate_core::{
    Capability, Error, ErrorKind, Iso, IsoProvider, IsoProviderExt, ListOptions, Operation,
    Outcome, Task, TaskStatus,
};
use isogate_sim::{Control, SimServer};
use tracing::instrument::WithSubscriber;

use crate::logs::LogWatch;
use crate::{Fixtures, Subject};

/// The default bound of one check.
pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an accepted task may stay pending.
pub(crate) const TASK_TIMEOUT: Duration = Duration::from_secs(6);
pub(crate) const TASK_POLL: Duration = Duration::from_millis(50);

/// What a check returns: `Err` holds why its sentence failed.
pub(crate) type CheckResult = Result<(), String>;

type RunFn = Box<dyn FnOnce(Arc<Ctx>) -> BoxFuture<'static, CheckResult> + Send>;

/// One check: the sentence it asserts, a label telling variants apart, the
/// operations it needs, and its body.
pub(crate) struct Check {
    pub id: &'static str,
    pub label: String,
    pub needs: Vec<Operation>,
    pub timeout: Duration,
    run: RunFn,
}

impl Check {
    pub(crate) fn new<F, Fut>(id: &'static str, needs: &[Operation], f: F) -> Check
    where
        F: FnOnce(Arc<Ctx>) -> Fut + Send + 'static,
        Fut: Future<Output = CheckResult> + Send + 'static,
    {
        Check {
            id,
            label: String::new(),
            needs: needs.to_vec(),
            timeout: CHECK_TIMEOUT,
            run: Box::new(move |ctx| Box::pin(f(ctx))),
        }
    }

    pub(crate) fn label(mut self, label: impl Into<String>) -> Check {
        self.label = label.into();
        self
    }

    pub(crate) fn timeout(mut self, timeout: Duration) -> Check {
        self.timeout = timeout;
        self
    }

    fn name(&self) -> String {
        if self.label.is_empty() {
            self.id.to_owned()
        } else {
            format!("{} [{}]", self.id, self.label)
        }
    }
}

/// State checks hand on to later checks.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The native id of the item `import#1` created.
    pub imported: Option<String>,
    /// Every task an `Accepted` outcome returned, with its last status seen.
    pub tasks: Vec<Task>,
    /// Whether `attach#1` mounted something (so `detach#1` must succeed).
    pub attached: bool,
}

#[derive(Debug)]
struct Failure {
    sentence: String,
    check: String,
    message: String,
}

/// What every check gets.
pub(crate) struct Ctx {
    pub provider: Arc<dyn IsoProvider>,
    pub name: String,
    pub cap: Capability,
    pub control: Arc<Control>,
    pub sim: tokio::sync::Mutex<SimServer>,
    pub fixtures: Fixtures,
    pub state: Mutex<State>,
    failures: Mutex<Vec<Failure>>,
    notes: Mutex<Vec<String>>,
    current: Mutex<String>,
    errors_seen: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctx {
    fn new(subject: Subject) -> Ctx {
        let name = subject.provider.name().to_owned();
        let cap = subject.provider.capability();
        Ctx {
            control: subject.sim.control().clone(),
            provider: subject.provider,
            name,
            cap,
            sim: tokio::sync::Mutex::new(subject.sim),
            fixtures: subject.fixtures,
            state: Mutex::new(State::default()),
            failures: Mutex::new(Vec::new()),
            notes: Mutex::new(Vec::new()),
            current: Mutex::new(String::new()),
            errors_seen: Mutex::new(0),
        }
    }

    pub(crate) fn supports(&self, op: Operation) -> bool {
        self.cap.supports(op)
    }

    /// Records a failure of another sentence than the running check's.
    pub(crate) fn fail(&self, sentence: &str, message: impl Into<String>) {
        let check = lock(&self.current).clone();
        let message = self.redact(&message.into());
        let mut failures = lock(&self.failures);
        // One failure per sentence and check is enough to act on.
        if failures
            .iter()
            .any(|f| f.sentence == sentence && f.check == check)
        {
            return;
        }
        failures.push(Failure {
            sentence: sentence.to_owned(),
            check,
            message,
        });
    }

    /// Something worth knowing that is not a failure (printed to stderr).
    pub(crate) fn note(&self, message: impl Into<String>) {
        let check = lock(&self.current).clone();
        lock(&self.notes).push(format!("{check}: {}", message.into()));
    }

    fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in self.secrets() {
            out = out.replace(secret, "<secret>");
        }
        out
    }

    fn secrets(&self) -> impl Iterator<Item = &str> {
        // Empty or tiny strings would match everything.
        self.fixtures
            .secrets
            .iter()
            .map(String::as_str)
            .filter(|s| s.len() >= 3)
    }

    /// Checks one error against all#1 (names `provider` and an operation) and
    /// all#4 (holds no secret).
    pub(crate) fn observe_from(&self, provider: &str, e: &Error) {
        *lock(&self.errors_seen) += 1;
        if e.provider() != Some(provider) {
            self.fail(
                "all#1",
                format!(
                    "error names provider {:?}, expected {provider:?}: {}",
                    e.provider(),
                    describe(e)
                ),
            );
        }
        if e.operation().is_none_or(str::is_empty) {
            self.fail(
                "all#1",
                format!("error names no operation: {}", describe(e)),
            );
        }
        let mut texts = vec![e.message().to_owned(), e.to_string(), format!("{e:?}")];
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            texts.push(s.to_string());
            texts.push(format!("{s:?}"));
            source = s.source();
        }
        if self
            .secrets()
            .any(|secret| texts.iter().any(|t| t.contains(secret)))
        {
            self.fail(
                "all#4",
                format!(
                    "an error's message, Display, Debug or source holds a configured secret: {}",
                    self.redact(&describe(e))
                ),
            );
        }
    }

    /// [`Ctx::observe_from`] for the provider under test.
    pub(crate) fn observe(&self, e: &Error) {
        self.observe_from(&self.name, e);
    }

    /// The value, or why not (the error is observed).
    pub(crate) fn ok<T>(&self, what: &str, r: isogate_core::Result<T>) -> Result<T, String> {
        r.map_err(|e| {
            self.observe(&e);
            format!("{what}: unexpected error {}", describe(&e))
        })
    }

    /// The error, which must be of `kind` (the error is observed).
    pub(crate) fn err_of<T: std::fmt::Debug>(
        &self,
        what: &str,
        r: isogate_core::Result<T>,
        kind: ErrorKind,
    ) -> Result<Error, String> {
        match r {
            Ok(v) => Err(format!("{what}: expected {kind:?}, got Ok({})", short(&v))),
            Err(e) => {
                self.observe(&e);
                if e.kind() == kind {
                    Ok(e)
                } else {
                    Err(format!("{what}: expected {kind:?}, got {}", describe(&e)))
                }
            }
        }
    }

    /// A healthy listing (no raw), which must be `Ok`.
    pub(crate) async fn listing(&self) -> Result<Vec<Iso>, String> {
        let listing = self.ok("list", self.provider.list(&ListOptions::default()).await)?;
        Ok(listing.items)
    }

    /// Remembers a task and follows it to its end; `Err` unless it succeeded.
    pub(crate) async fn finish_task(&self, what: &str, task: &Task) -> Result<Task, String> {
        if task.provider != self.name {
            return Err(format!(
                "{what}: task {:?} names provider {:?}, expected {:?}",
                task.id, task.provider, self.name
            ));
        }
        let done = self.ok(
            &format!("{what}: waiting for task {:?}", task.id),
            self.provider
                .wait_task(&task.id, TASK_POLL, TASK_TIMEOUT)
                .await,
        )?;
        lock(&self.state).tasks.push(done.clone());
        match done.status {
            TaskStatus::Succeeded => Ok(done),
            TaskStatus::Failed => Err(format!(
                "{what}: task {:?} failed: {:?}",
                done.id, done.error
            )),
            TaskStatus::Pending => Err(format!("{what}: task {:?} still pending", done.id)),
        }
    }

    /// `Done`, or `Accepted` whose task succeeds.
    pub(crate) async fn done_or_accepted(&self, what: &str, o: Outcome) -> Result<(), String> {
        match o {
            Outcome::Done => Ok(()),
            Outcome::Accepted { task } => self.finish_task(what, &task).await.map(|_| ()),
            other => Err(format!(
                "{what}: expected Done or Accepted, got {}",
                short(&other)
            )),
        }
    }
}

/// An error in one line: kind, flags, status and text.
pub(crate) fn describe(e: &Error) -> String {
    format!(
        "{:?} (retryable={}, status={:?}, retry_after={:?}): {e}",
        e.kind(),
        e.retryable(),
        e.upstream_status(),
        e.retry_after()
    )
}

/// A value's `Debug`, cut short for messages.
pub(crate) fn short<T: std::fmt::Debug>(v: &T) -> String {
    let s = format!("{v:?}");
    if s.chars().count() > 300 {
        format!("{}...", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

/// Runs every check; panics with the list of failed contract sentences.
pub async fn run_conformance(subject: Subject) {
    let started = std::time::Instant::now();
    let ctx = Arc::new(Ctx::new(subject));
    let logs = LogWatch::new(ctx.secrets().map(str::to_owned).collect());
    let dispatch = logs.dispatch();
    let checks = crate::checks::all(&ctx);
    let mut passed = Vec::new();
    let mut skipped = BTreeSet::new();
    for check in checks {
        if let Some(op) = check.needs.iter().find(|op| !ctx.supports(**op)) {
            skipped.insert(format!("{} (no {op})", check.name()));
            continue;
        }
        let name = check.name();
        *lock(&ctx.current) = name.clone();
        let bound = match ctx.fixtures.check_timeout {
            Some(t) if check.timeout == CHECK_TIMEOUT => t,
            _ => check.timeout,
        };
        let handle = tokio::spawn((check.run)(ctx.clone()).with_subscriber(dispatch.clone()));
        let abort = handle.abort_handle();
        let result = match tokio::time::timeout(bound, handle).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) if join.is_panic() => {
                Err(format!("panicked: {}", panic_text(join.into_panic())))
            }
            Ok(Err(join)) => Err(format!("was cancelled: {join}")),
            Err(_) => {
                abort.abort();
                Err(format!(
                    "did not finish within {bound:?}: a hang is a failure"
                ))
            }
        };
        match result {
            Ok(()) => passed.push(name),
            Err(message) => ctx.fail(check.id, message),
        }
        heal(&ctx).await;
    }
    *lock(&ctx.current) = "end".to_owned();
    if ctx.secrets().next().is_some() {
        let debug = format!("{:?}", ctx.provider);
        if ctx.secrets().any(|s| debug.contains(s)) {
            ctx.fail(
                "all#4",
                "the provider's Debug output holds a configured secret",
            );
        }
    }
    let (lines, leaks) = logs.report();
    *lock(&ctx.current) = "log lines".to_owned();
    for leak in leaks {
        ctx.fail(
            "all#4",
            format!("a log line holds a configured secret: {leak}"),
        );
    }
    ctx.note(format!(
        "{lines} log lines checked for secrets; the suite took {:?}",
        started.elapsed()
    ));
    report(&ctx, &passed, &skipped);
}

async fn heal(ctx: &Ctx) {
    ctx.control.heal();
    let mut sim = ctx.sim.lock().await;
    if let Err(e) = sim.resume_listening().await {
        ctx.fail("harness", format!("could not resume the simulator: {e}"));
    }
}

fn report(ctx: &Ctx, passed: &[String], skipped: &BTreeSet<String>) {
    let failures = std::mem::take(&mut *lock(&ctx.failures));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "conformance of provider {:?} ({}): {} checks passed, {} failures, {} skipped, {} errors checked for all#1/all#4",
        ctx.name,
        ctx.provider.kind().as_str(),
        passed.len(),
        failures.len(),
        skipped.len(),
        *lock(&ctx.errors_seen)
    );
    for s in skipped {
        let _ = writeln!(out, "  skipped {s}");
    }
    for n in lock(&ctx.notes).iter() {
        let _ = writeln!(out, "  note {n}");
    }
    eprint!("{out}");
    if failures.is_empty() {
        return;
    }
    let mut by_sentence: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &failures {
        *by_sentence.entry(f.sentence.as_str()).or_default() += 1;
    }
    let mut msg = format!(
        "provider {:?} fails the conformance suite on {}:\n",
        ctx.name,
        by_sentence.keys().copied().collect::<Vec<_>>().join(", ")
    );
    for f in &failures {
        let _ = writeln!(msg, "  {} (in {}): {}", f.sentence, f.check, f.message);
    }
    panic!("{msg}");
}
