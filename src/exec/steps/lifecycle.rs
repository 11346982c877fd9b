//! Lifecycle steps: `hook` runs a profile's or the command line's hook (GC, tag locks, restart,
//! the referrers API switch) and then waits for the registry to answer again; `wait` sleeps.
//! A missing hook stops the scenario as Skipped; a failing one as Errored.

use super::super::context::Ctx;
use super::super::expect::Observation;
use super::super::hooks;
use crate::client::{Client, ClientError};
use crate::scenario::{HookStep, WaitStep};
use std::time::Duration;

/// How long referee waits for a registry to answer again after a hook.
const AFTER_HOOK_READY: Duration = Duration::from_secs(30);

pub async fn hook(ctx: &mut Ctx<'_>, h: &HookStep) -> Result<Observation, ClientError> {
    let name = h.name.as_str();
    let Some(spec) = ctx.hooks.get(name).cloned() else {
        let why = format!("no `{name}` hook: give one with --hook {name}='<command>' or a profile that has it; the steps after it were not run");
        ctx.halted = Some((why, true));
        return Ok(Observation::default());
    };
    let entry = h.of.as_deref().and_then(|n| ctx.entries.get(n));
    let env = hooks::HookEnv {
        target: ctx.target.clone(),
        repo: entry.map_or_else(|| ctx.main.clone(), |e| e.repo.clone()),
        tag: h.tag.clone().or_else(|| entry.and_then(|e| e.tag.clone())).unwrap_or_default(),
        digest: entry.map(|e| e.built.digest.to_string()).unwrap_or_default(),
        extra: h.env.iter().map(|(k, v)| (k.0.clone(), v.clone())).collect(),
    };
    // A hook may have stopped and restarted the registry (an offline GC): go on only once it
    // answers again.
    let done = match hooks::run(name, &spec, &env).await {
        Ok(_) => await_registry(ctx.client, name).await,
        Err(why) => Err(why),
    };
    match done {
        Ok(()) => Ok(Observation::default()),
        Err(why) => {
            ctx.halted = Some((why.clone(), false));
            Err(ClientError::Other { url: format!("hook {name}"), msg: why })
        }
    }
}

pub async fn wait(w: &WaitStep) -> Result<Observation, ClientError> {
    tokio::time::sleep(w.duration()).await;
    Ok(Observation::default())
}

/// Waits until `GET /v2/` gets any HTTP answer (bounded by [`AFTER_HOOK_READY`]). Failed
/// attempts leave the transcript (the error of the last one is in the message); the answer
/// that ends the wait stays in it.
async fn await_registry(client: &Client, hook: &str) -> Result<(), String> {
    let started = std::time::Instant::now();
    let mut last = String::new();
    while started.elapsed() < AFTER_HOOK_READY {
        match client.ping().await {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        let _ = client.take_transcript();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "after the {hook} hook the registry did not answer GET /v2/ within {} s (last error: {last}); the steps after it were not run",
        AFTER_HOOK_READY.as_secs()
    ))
}
