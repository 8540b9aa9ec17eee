//! all#2: what the capability switches off is `Unsupported`, names the
//! provider, and never reaches the upstream.

use std::sync::Arc;

use isogate_core::{
    AttachRequest, DetachRequest, ErrorKind, ImportRequest, Operation, Outcome, UpdateRequest,
};

use crate::harness::{Check, CheckResult, Ctx, describe, short};

pub(super) fn checks(ctx: &Ctx) -> Vec<Check> {
    Operation::ALL
        .into_iter()
        .filter(|op| !ctx.supports(*op))
        .map(|op| Check::new("all#2", &[], move |ctx| unsupported(ctx, op)).label(op.as_str()))
        .collect()
}

/// Calls `op` with plausible arguments and returns the result's Debug or the error.
async fn call(ctx: &Ctx, op: Operation) -> Result<String, isogate_core::Error> {
    let p = &ctx.provider;
    let id = "isogate-conformance-id";
    let instance = ctx
        .fixtures
        .instance_id
        .clone()
        .unwrap_or_else(|| "isogate-conformance-instance".to_owned());
    let outcome = |o: Outcome| short(&o);
    Ok(match op {
        Operation::List => short(&p.list(&Default::default()).await?.items.len()),
        Operation::Get => short(&p.get(id, false).await?),
        Operation::Import => {
            let req = ctx.fixtures.valid_import.clone().unwrap_or(ImportRequest {
                name: "isogate-conformance".into(),
                url: "http://example.com/conformance.iso".into(),
                ..Default::default()
            });
            outcome(p.import(&req).await?)
        }
        Operation::Update => {
            let req = UpdateRequest {
                description: Some("isogate conformance".into()),
                ..Default::default()
            };
            outcome(p.update(id, &req).await?)
        }
        Operation::Delete => outcome(p.delete(id).await?),
        Operation::Attach => outcome(
            p.attach(
                id,
                &AttachRequest {
                    instance_id: instance,
                },
            )
            .await?,
        ),
        Operation::Detach => outcome(
            p.detach(&DetachRequest {
                instance_id: instance,
            })
            .await?,
        ),
        Operation::DownloadUrl => outcome(p.download_url(id).await?),
        Operation::History => short(&p.history(id).await?),
        Operation::Sync => outcome(p.sync().await?),
        Operation::Task => short(&p.task(id).await?),
    })
}

async fn unsupported(ctx: Arc<Ctx>, op: Operation) -> CheckResult {
    let before = ctx.control.total();
    let r = call(&ctx, op).await;
    let sent = ctx.control.total() - before;
    let e = match r {
        Ok(v) => return Err(format!("{op} is switched off but answered Ok({v})")),
        Err(e) => e,
    };
    ctx.observe(&e);
    if e.kind() != ErrorKind::Unsupported {
        return Err(format!(
            "{op} is switched off but failed with {}",
            describe(&e)
        ));
    }
    if e.provider() != Some(ctx.name.as_str()) {
        return Err(format!(
            "Unsupported does not name the provider: {}",
            describe(&e)
        ));
    }
    if sent != 0 {
        return Err(format!(
            "{op} is switched off but sent {sent} request(s) to the upstream"
        ));
    }
    Ok(())
}
