//! Image layouts in a scenario: `layout_export` writes a manifest and its referrers from the
//! target into a temporary OCI image layout (what the registry served, unverified, so the
//! layout check can point at it) and checks it as `referee layout check` does;
//! `layout_import` pushes such a layout into a repository. What they saw is judged by
//! `layout:` (`exec::expect`).

use super::super::context::Ctx;
use super::super::expect::{LayoutObservation, Observation};
use crate::client::ClientError;
use crate::layout::{check, export, import};
use crate::scenario::{LayoutExport, LayoutImport};
use std::sync::Arc;

/// A registry's answer that stopped the export or import is an observation (judged); a local
/// file problem or a transport failure is the harness's (an error).
fn stopped(e: ClientError) -> Result<String, ClientError> {
    match e {
        ClientError::Stopped(why) => Ok(why),
        other => Err(other),
    }
}

pub async fn export(ctx: &mut Ctx<'_>, l: &LayoutExport) -> Result<Observation, ClientError> {
    let repo = ctx.repo(l.repo);
    let digest = ctx.named(&l.of).digest.clone();
    let dir = tempfile::Builder::new()
        .prefix("referee-layout-")
        .tempdir()
        .map_err(|e| ClientError::Local(format!("cannot create a temporary directory for the layout '{}': {e}", l.r#as)))?;
    let opts = export::ExportOptions { as_served: true, sparse: l.sparse, ..export::ExportOptions::new(export::Source::Auto) };
    let outcome = export::export_with(ctx.client, &repo, digest.as_str(), dir.path(), opts).await;
    let _ = ctx.client.take_transcript();
    let stopped = match outcome {
        Ok(_) => None,
        Err(e) => Some(stopped(e)?),
    };
    // A stopped export leaves no index.json: the check says so (M1), the judge says why.
    let checked = check::check(dir.path());
    ctx.layouts.insert(l.r#as.clone(), (Arc::new(dir), stopped.clone()));
    Ok(Observation { layout: Some(LayoutObservation { check: Some(checked), stopped, imported: false }), ..Default::default() })
}

pub async fn import(ctx: &mut Ctx<'_>, l: &LayoutImport) -> Result<Observation, ClientError> {
    let repo = ctx.repo(l.repo);
    let Some((dir, export_stopped)) = ctx.layouts.get(&l.from).cloned() else {
        return Err(ClientError::Local(format!("no layout named '{}' was written", l.from)));
    };
    // An export that stopped left an incomplete layout: importing it would only say less.
    if let Some(why) = export_stopped {
        let stopped = Some(format!("the layout '{}' is incomplete: its export stopped: {why}", l.from));
        return Ok(Observation { layout: Some(LayoutObservation { check: None, stopped, imported: true }), ..Default::default() });
    }
    let mut done = import::Imported::default();
    let outcome = import::import_into(ctx.client, &repo, dir.path(), None, &mut done).await;
    let _ = ctx.client.take_transcript();
    // What the import pushed, also when it stopped halfway, is deleted with the rest of the
    // scenario's content: manifests (newest first), then the blobs it uploaded.
    for b in done.written {
        ctx.order.push((repo.clone(), b));
    }
    ctx.extra_blobs.extend(done.blobs.into_iter().map(|d| (repo.clone(), d)));
    let stopped = match outcome {
        Ok(()) => None,
        Err(e) => Some(stopped(e)?),
    };
    Ok(Observation { layout: Some(LayoutObservation { check: None, stopped, imported: true }), ..Default::default() })
}
