//! The writes and what follows from them: import, update, attach, detach,
//! download_url, history, sync, tasks, delete. Each builds on the state the
//! previous ones left in the simulator.

use std::collections::BTreeSet;
use std::sync::Arc;

use isogate_core::{
    AttachRequest, DetachRequest, ErrorKind, ImportRequest, Iso, Operation, Outcome, Status,
    TaskStatus, UpdateRequest,
};

use isogate_core::IsoProviderExt;

use crate::harness::{Check, CheckResult, Ctx, TASK_POLL, TASK_TIMEOUT, describe, short};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("import#2", &[Operation::Import], import_invalid),
        Check::new("import#1", &[Operation::Import], import_valid),
        Check::new("update#1", &[Operation::Update], update_shows),
        Check::new("update#2", &[Operation::Update], update_missing),
        Check::new("attach#1", &[Operation::Attach], attach),
        Check::new("attach#2", &[Operation::Attach], attach_missing),
        Check::new("detach#1", &[Operation::Detach], detach),
        Check::new("download_url#1", &[Operation::DownloadUrl], download_url),
        Check::new(
            "download_url#2",
            &[Operation::DownloadUrl],
            download_url_refused,
        ),
        Check::new("history#1", &[Operation::History], history),
        Check::new("sync#1", &[Operation::Sync], sync),
        Check::new("task#1", &[Operation::Task], task_reads_back),
        Check::new("task#2", &[Operation::Task], task_missing),
        Check::new("task#3", &[Operation::Task], task_stays_finished),
        Check::new("delete#1", &[Operation::Delete], delete),
        Check::new("delete#2", &[Operation::Delete], delete_missing),
    ]
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn fixture<T: Clone>(v: &Option<T>, name: &str) -> Result<T, String> {
    v.clone()
        .ok_or_else(|| format!("fixtures.{name} is needed, as the capability switches this on"))
}

/// The first preferred id that is listed, else the fallback's pick.
fn choose<'a>(
    items: &'a [Iso],
    preferred: &[Option<String>],
    fallback: impl Fn(&'a [Iso]) -> Option<&'a Iso>,
) -> Option<String> {
    preferred
        .iter()
        .flatten()
        .find(|id| items.iter().any(|i| &i.native_id == *id))
        .cloned()
        .or_else(|| fallback(items).map(|i| i.native_id.clone()))
}

fn imported(ctx: &Ctx) -> Option<String> {
    lock(&ctx.state).imported.clone()
}

fn update_target(ctx: &Ctx, items: &[Iso]) -> Option<String> {
    choose(
        items,
        &[imported(ctx), ctx.fixtures.update_id.clone()],
        |i| i.first(),
    )
}

fn attach_target(ctx: &Ctx, items: &[Iso]) -> Option<String> {
    choose(items, std::slice::from_ref(&ctx.fixtures.attach_id), |i| {
        i.iter().find(|x| x.status == Status::Ready).or(i.first())
    })
}

fn extractable_target(ctx: &Ctx, items: &[Iso]) -> Option<String> {
    choose(
        items,
        std::slice::from_ref(&ctx.fixtures.extractable_id),
        |i| i.iter().find(|x| x.extractable == Some(true)),
    )
}

fn delete_target(ctx: &Ctx, items: &[Iso]) -> Option<String> {
    choose(
        items,
        &[imported(ctx), ctx.fixtures.delete_id.clone()],
        |i| i.last(),
    )
}

fn update_request(ctx: &Ctx) -> UpdateRequest {
    ctx.fixtures.update.clone().unwrap_or(UpdateRequest {
        name: None,
        description: Some("changed by the isogate conformance suite".into()),
    })
}

/// One write with its arguments chosen, so it can be made under faults.
#[derive(Debug)]
pub(crate) enum WriteCall {
    Import(ImportRequest),
    Update(String, UpdateRequest),
    Delete(String),
    Attach(String, AttachRequest),
    Detach(DetachRequest),
    DownloadUrl(String),
    Sync,
}

impl WriteCall {
    /// Chooses arguments for `op` from the fixtures and the current listing.
    pub(crate) async fn prepare(ctx: &Ctx, op: Operation) -> Result<WriteCall, String> {
        let items = if ctx.supports(Operation::List) {
            ctx.listing().await?
        } else {
            Vec::new()
        };
        let none = |what: &str| {
            format!("no item to {what}: the listing is empty and no fixture names one")
        };
        Ok(match op {
            Operation::Import => {
                WriteCall::Import(fixture(&ctx.fixtures.valid_import, "valid_import")?)
            }
            Operation::Update => WriteCall::Update(
                update_target(ctx, &items).ok_or_else(|| none("update"))?,
                update_request(ctx),
            ),
            Operation::Delete => {
                WriteCall::Delete(delete_target(ctx, &items).ok_or_else(|| none("delete"))?)
            }
            Operation::Attach => WriteCall::Attach(
                attach_target(ctx, &items).ok_or_else(|| none("attach"))?,
                AttachRequest {
                    instance_id: fixture(&ctx.fixtures.instance_id, "instance_id")?,
                },
            ),
            Operation::Detach => WriteCall::Detach(DetachRequest {
                instance_id: fixture(&ctx.fixtures.instance_id, "instance_id")?,
            }),
            Operation::DownloadUrl => {
                WriteCall::DownloadUrl(extractable_target(ctx, &items).ok_or_else(|| {
                    "no listed item has extractable == Some(true); set fixtures.extractable_id"
                        .to_owned()
                })?)
            }
            Operation::Sync => WriteCall::Sync,
            other => return Err(format!("{other} is not a write")),
        })
    }

    /// Makes the call once.
    pub(crate) async fn run(&self, ctx: &Ctx) -> isogate_core::Result<Outcome> {
        let p = &ctx.provider;
        match self {
            WriteCall::Import(req) => p.import(req).await,
            WriteCall::Update(id, req) => p.update(id, req).await,
            WriteCall::Delete(id) => p.delete(id).await,
            WriteCall::Attach(id, req) => p.attach(id, req).await,
            WriteCall::Detach(req) => p.detach(req).await,
            WriteCall::DownloadUrl(id) => p.download_url(id).await,
            WriteCall::Sync => p.sync().await,
        }
    }
}

async fn import_invalid(ctx: Arc<Ctx>) -> CheckResult {
    let req = fixture(&ctx.fixtures.invalid_import, "invalid_import")?;
    let before = ctx.control.total();
    let r = ctx.provider.import(&req).await;
    let sent = ctx.control.total() - before;
    ctx.err_of(
        "import of fixtures.invalid_import",
        r,
        ErrorKind::InvalidInput,
    )?;
    if sent != 0 {
        return Err(format!(
            "the forbidden import was rejected, but only after {sent} request(s) to the upstream"
        ));
    }
    Ok(())
}

async fn import_valid(ctx: Arc<Ctx>) -> CheckResult {
    let req = fixture(&ctx.fixtures.valid_import, "valid_import")?;
    let before: BTreeSet<String> = ctx
        .listing()
        .await?
        .into_iter()
        .map(|i| i.native_id)
        .collect();
    let outcome = ctx.ok("import", ctx.provider.import(&req).await)?;
    let direct = match outcome {
        Outcome::Item { item } => {
            if item.provider != ctx.name {
                return Err(format!(
                    "the imported item names provider {:?}",
                    item.provider
                ));
            }
            Some(item.native_id)
        }
        Outcome::Accepted { task } => {
            ctx.finish_task("import", &task).await?;
            None
        }
        other => {
            return Err(format!(
                "import answered {}, expected Item or Accepted",
                short(&other)
            ));
        }
    };
    let after = ctx.listing().await?;
    let new_id = match direct {
        Some(id) => after
            .iter()
            .any(|i| i.native_id == id)
            .then_some(id.clone())
            .ok_or_else(|| format!("the imported item {id:?} is not in the next listing"))?,
        None => {
            let new: Vec<&Iso> = after
                .iter()
                .filter(|i| !before.contains(&i.native_id))
                .collect();
            new.iter()
                .find(|i| i.name == req.name)
                .or(if new.len() == 1 { new.first() } else { None })
                .map(|i| i.native_id.clone())
                .ok_or_else(|| {
                    format!(
                        "after the import's task succeeded, the listing holds no new item named {:?} ({} new items)",
                        req.name,
                        new.len()
                    )
                })?
        }
    };
    lock(&ctx.state).imported = Some(new_id);
    Ok(())
}

async fn update_shows(ctx: Arc<Ctx>) -> CheckResult {
    let items = ctx.listing().await?;
    let id = update_target(&ctx, &items).ok_or("no item to update: the listing is empty")?;
    let req = update_request(&ctx);
    let shows = |item: &Iso| {
        req.name.as_ref().is_none_or(|n| &item.name == n)
            && req
                .description
                .as_ref()
                .is_none_or(|d| item.description.as_ref() == Some(d))
    };
    match ctx.ok(
        &format!("update {id:?}"),
        ctx.provider.update(&id, &req).await,
    )? {
        Outcome::Item { item } if !shows(&item) => {
            return Err(format!(
                "update answered an item without the change {req:?}: name {:?}, description {:?}",
                item.name, item.description
            ));
        }
        Outcome::Item { .. } | Outcome::Done => {}
        other => {
            return Err(format!(
                "update answered {}, expected Item or Done",
                short(&other)
            ));
        }
    }
    let now = if ctx.supports(Operation::Get) {
        ctx.ok(
            &format!("get {id:?} after update"),
            ctx.provider.get(&id, false).await,
        )?
    } else {
        ctx.listing()
            .await?
            .into_iter()
            .find(|i| i.native_id == id)
            .ok_or_else(|| format!("{id:?} is no longer listed after update"))?
    };
    if !shows(&now) {
        return Err(format!(
            "after update {req:?}, the item has name {:?}, description {:?}",
            now.name, now.description
        ));
    }
    Ok(())
}

fn missing_id(ctx: &Ctx) -> Result<String, String> {
    let m = ctx.fixtures.missing_id.clone();
    if m.is_empty() {
        Err("fixtures.missing_id must be set to a well-formed id that is not listed".into())
    } else {
        Ok(m)
    }
}

async fn update_missing(ctx: Arc<Ctx>) -> CheckResult {
    let m = missing_id(&ctx)?;
    let r = ctx.provider.update(&m, &update_request(&ctx)).await;
    ctx.err_of(&format!("update {m:?}"), r, ErrorKind::NotFound)?;
    Ok(())
}

async fn attach(ctx: Arc<Ctx>) -> CheckResult {
    let call = WriteCall::prepare(&ctx, Operation::Attach).await?;
    let WriteCall::Attach(_, req) = &call else {
        return Err("internal: attach prepared another call".into());
    };
    // The instance may hold an ISO already (one per instance): free it first.
    if ctx.supports(Operation::Detach) {
        free_instance(&ctx, &req.instance_id).await;
    }
    let what = short(&call);
    let o = match call.run(&ctx).await {
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            ctx.observe(&e);
            return Err(format!(
                "{what}: {} (set fixtures.attach_id to an item the upstream will mount)",
                describe(&e)
            ));
        }
        r => ctx.ok(&what, r)?,
    };
    ctx.done_or_accepted(&what, o).await?;
    lock(&ctx.state).attached = true;
    Ok(())
}

/// Detaches whatever is on `instance`, whatever the outcome (a task that
/// fails because nothing was mounted is fine, and is kept for task#3).
async fn free_instance(ctx: &Ctx, instance: &str) {
    let req = DetachRequest {
        instance_id: instance.to_owned(),
    };
    match ctx.provider.detach(&req).await {
        Ok(Outcome::Accepted { task }) => {
            match ctx
                .provider
                .wait_task(&task.id, TASK_POLL, TASK_TIMEOUT)
                .await
            {
                Ok(done) => lock(&ctx.state).tasks.push(done),
                Err(e) => ctx.observe(&e),
            }
        }
        Ok(_) => {}
        Err(e) => ctx.observe(&e),
    }
}

async fn attach_missing(ctx: Arc<Ctx>) -> CheckResult {
    let m = missing_id(&ctx)?;
    let req = AttachRequest {
        instance_id: fixture(&ctx.fixtures.instance_id, "instance_id")?,
    };
    let r = ctx.provider.attach(&m, &req).await;
    ctx.err_of(&format!("attach {m:?}"), r, ErrorKind::NotFound)?;
    Ok(())
}

async fn detach(ctx: Arc<Ctx>) -> CheckResult {
    let call = WriteCall::prepare(&ctx, Operation::Detach).await?;
    let what = short(&call);
    let o = ctx.ok(&what, call.run(&ctx).await)?;
    let attached = lock(&ctx.state).attached;
    match o {
        Outcome::Accepted { task } if !attached => {
            // Nothing was mounted: the upstream may well fail the task, but
            // it must end.
            let r = ctx.finish_task(&what, &task).await;
            if let Err(e) = r
                && e.contains("still pending")
            {
                return Err(e);
            }
            Ok(())
        }
        o => ctx.done_or_accepted(&what, o).await,
    }
}

async fn download_url(ctx: Arc<Ctx>) -> CheckResult {
    let call = WriteCall::prepare(&ctx, Operation::DownloadUrl).await?;
    let what = short(&call);
    match ctx.ok(&what, call.run(&ctx).await)? {
        Outcome::Url { url } if url.trim().is_empty() => {
            Err(format!("{what} answered an empty URL"))
        }
        Outcome::Url { .. } => Ok(()),
        Outcome::Accepted { task } => {
            let done = ctx.finish_task(&what, &task).await?;
            match done
                .result
                .as_ref()
                .and_then(|r| r.get("url"))
                .and_then(|u| u.as_str())
            {
                Some(u) if !u.trim().is_empty() => Ok(()),
                _ => Err(format!(
                    "{what}: the task succeeded without a string result.url: {:?}",
                    done.result
                )),
            }
        }
        other => Err(format!(
            "{what} answered {}, expected Url or Accepted",
            short(&other)
        )),
    }
}

async fn download_url_refused(ctx: Arc<Ctx>) -> CheckResult {
    let items = ctx.listing().await?;
    let refused = choose(
        &items,
        std::slice::from_ref(&ctx.fixtures.non_extractable_id),
        |i| i.iter().find(|x| x.extractable == Some(false)),
    );
    match refused {
        Some(id) => {
            let r = ctx.provider.download_url(&id).await;
            ctx.err_of(
                &format!("download_url of non-extractable {id:?}"),
                r,
                // The item's state forbids it; the request itself is fine.
                ErrorKind::Conflict,
            )?;
        }
        None => ctx.note(
            "no listed item has extractable == Some(false): only the missing case is checked",
        ),
    }
    let m = missing_id(&ctx)?;
    let r = ctx.provider.download_url(&m).await;
    ctx.err_of(&format!("download_url {m:?}"), r, ErrorKind::NotFound)?;
    Ok(())
}

async fn history(ctx: Arc<Ctx>) -> CheckResult {
    let items = ctx.listing().await?;
    let id = choose(&items, &[imported(&ctx)], |i| i.first())
        .ok_or("no item to read the history of: the listing is empty")?;
    let entries = ctx.ok(&format!("history {id:?}"), ctx.provider.history(&id).await)?;
    let times: Vec<_> = entries.iter().filter_map(|e| e.at).collect();
    if let Some(w) = times.windows(2).find(|w| w[0] > w[1]) {
        return Err(format!(
            "history of {id:?} is not oldest first: {} before {}",
            w[0], w[1]
        ));
    }
    if entries.iter().any(|e| e.operation.trim().is_empty()) {
        return Err(format!(
            "history of {id:?} has an entry without an operation"
        ));
    }
    Ok(())
}

async fn sync(ctx: Arc<Ctx>) -> CheckResult {
    let task = match ctx.ok("sync", ctx.provider.sync().await)? {
        Outcome::Accepted { task } => task,
        other => {
            return Err(format!(
                "sync answered {}, expected Accepted",
                short(&other)
            ));
        }
    };
    if ctx.supports(Operation::Task) {
        let read = ctx.ok(
            &format!("task {:?}", task.id),
            ctx.provider.task(&task.id).await,
        )?;
        if read.id != task.id {
            return Err(format!("task {:?} read back as {:?}", task.id, read.id));
        }
        let done = ctx.finish_task("sync", &task).await;
        if let Err(e) = done
            && e.contains("still pending")
        {
            return Err(e);
        }
    } else {
        return Err("sync answered Accepted, but the capability has no tasks to read it".into());
    }
    Ok(())
}

async fn task_reads_back(ctx: Arc<Ctx>) -> CheckResult {
    let tasks = lock(&ctx.state).tasks.clone();
    if tasks.is_empty() {
        ctx.note("no write answered Accepted, so no real task could be read back");
    }
    for t in tasks {
        let read = ctx.ok(&format!("task {:?}", t.id), ctx.provider.task(&t.id).await)?;
        if read.id != t.id || read.provider != ctx.name {
            return Err(format!(
                "task {:?} read back with id {:?} and provider {:?}",
                t.id, read.id, read.provider
            ));
        }
    }
    Ok(())
}

async fn task_missing(ctx: Arc<Ctx>) -> CheckResult {
    let m = match &ctx.fixtures.missing_task_id {
        Some(m) => m.clone(),
        None => missing_id(&ctx)?,
    };
    let r = ctx.provider.task(&m).await;
    ctx.err_of(&format!("task {m:?}"), r, ErrorKind::NotFound)?;
    Ok(())
}

async fn task_stays_finished(ctx: Arc<Ctx>) -> CheckResult {
    let tasks = lock(&ctx.state).tasks.clone();
    for t in tasks {
        if t.status == TaskStatus::Failed
            && t.error.as_ref().is_none_or(|e| e.message.trim().is_empty())
        {
            return Err(format!("task {:?} failed without a message", t.id));
        }
        for _ in 0..2 {
            let read = ctx.ok(&format!("task {:?}", t.id), ctx.provider.task(&t.id).await)?;
            if read.status != t.status {
                return Err(format!(
                    "task {:?} was {:?} and is now {:?}",
                    t.id, t.status, read.status
                ));
            }
        }
    }
    Ok(())
}

async fn delete(ctx: Arc<Ctx>) -> CheckResult {
    let call = WriteCall::prepare(&ctx, Operation::Delete).await?;
    let WriteCall::Delete(id) = &call else {
        return Err("internal: delete prepared another call".into());
    };
    let what = short(&call);
    let o = ctx.ok(&what, call.run(&ctx).await)?;
    ctx.done_or_accepted(&what, o).await?;
    if ctx.supports(Operation::Get) {
        let r = ctx.provider.get(id, false).await;
        ctx.err_of(&format!("get {id:?} after delete"), r, ErrorKind::NotFound)?;
    } else if ctx.listing().await?.iter().any(|i| &i.native_id == id) {
        return Err(format!("{id:?} is still listed after delete"));
    }
    Ok(())
}

async fn delete_missing(ctx: Arc<Ctx>) -> CheckResult {
    let m = missing_id(&ctx)?;
    let r = ctx.provider.delete(&m).await;
    ctx.err_of(&format!("delete {m:?}"), r, ErrorKind::NotFound)?;
    Ok(())
}
