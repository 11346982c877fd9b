//! One module per family of step kinds, each with its validation (what a file may not say,
//! found before anything is sent) next to its execution (the requests, and the
//! [`Observation`] they make). [`validate`] and [`exec`] dispatch one line per kind.
//!
//! - `push`: `push_image`, `push_artifact`, `push_index`, `push` (again, in halves, elsewhere).
//! - `blobs`: `push_blob`, `upload_session`, `mount`, `get_blob`, `delete_blob`.
//! - `manifests`: `get_manifest`, `delete_manifest`, `tags_list`.
//! - `transport`: `ping`, `burst`.
//! - `referrers`: `referrers` (with `Link` paging), `wait_listed`, `detect`.
//! - `fallback`: `fallback_add`, `fallback_remove`, `fallback_read` (the client side of the
//!   referrers tag schema, through `client::referrers_tag`).
//! - `lifecycle`: `hook`, `wait`.
//! - `copy`: `copy`, `list_on` (other registries).
//! - `layout`: `layout_export`, `layout_import` (OCI image layouts).
//! - `parallel`: `parallel` blocks (run by `step::run_step`, which owns judging).
//! - `together`: `together` blocks, different steps at the same moment (likewise).

pub mod blobs;
pub mod copy;
pub mod fallback;
pub mod layout;
pub mod lifecycle;
pub mod manifests;
pub mod parallel;
pub mod together;
pub mod push;
pub mod referrers;
pub mod transport;

use super::context::Ctx;
use super::expect::Observation;
use crate::client::{ClientError, Response};
use crate::scenario::Action;

/// Something wrong with a step's options, found before anything is sent: the word to point
/// at in the file, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub token: String,
    pub message: String,
}

impl Problem {
    pub fn new(token: &str, message: impl Into<String>) -> Problem {
        Problem { token: token.to_string(), message: message.into() }
    }
}

/// What is wrong with an action's own options (names and checks are the plan's business;
/// a `parallel` block's contents are validated by `plan` with `parallel::validate`).
pub fn validate(action: &Action) -> Vec<Problem> {
    match action {
        Action::Referrers(r) => referrers::validate(r),
        Action::Push(p) => push::validate_again(p),
        Action::FallbackAdd(f) | Action::FallbackRemove(f) => fallback::validate(f),
        _ => vec![],
    }
}

/// Sends an action's requests. A `parallel` block is not sent here: `step::run_step` runs it,
/// since its steps are judged one by one.
pub async fn exec(action: &Action, ctx: &mut Ctx<'_>) -> Result<Observation, ClientError> {
    match action {
        Action::PushImage(p) => push::image(ctx, p).await,
        Action::PushArtifact(p) => push::artifact(ctx, p).await,
        Action::PushIndex(p) => push::index(ctx, p).await,
        Action::Push(p) => push::again(ctx, p).await,
        Action::Referrers(r) => referrers::referrers(ctx, r).await,
        Action::WaitListed(w) => referrers::wait_listed(ctx, w).await,
        Action::Detect(_) => referrers::detect(ctx).await,
        Action::Copy(c) => copy::copy(ctx, c).await,
        Action::ListOn(l) => copy::list_on(ctx, l).await,
        Action::Reverse(r) => referrers::reverse(ctx, r).await,
        Action::LayoutExport(l) => layout::export(ctx, l).await,
        Action::LayoutImport(l) => layout::import(ctx, l).await,
        Action::Hook(h) => lifecycle::hook(ctx, h).await,
        Action::Wait(w) => lifecycle::wait(w).await,
        Action::Burst(b) => transport::burst(ctx, b).await,
        Action::Ping(_) => transport::ping(ctx).await,
        Action::PushBlob(p) => blobs::push_blob(ctx, p).await,
        Action::UploadSession(u) => blobs::upload_session(ctx, u).await,
        Action::FallbackAdd(f) => fallback::update(ctx, f, true).await,
        Action::FallbackRemove(f) => fallback::update(ctx, f, false).await,
        Action::FallbackRead(f) => fallback::read(ctx, f).await,
        Action::GetManifest(g) => manifests::get(ctx, g).await,
        Action::DeleteManifest(d) => manifests::delete(ctx, d).await,
        Action::TagsList(t) => manifests::tags_list(ctx, t).await,
        Action::Mount(m) => blobs::mount(ctx, m).await,
        Action::GetBlob(g) => blobs::get_blob(ctx, g).await,
        Action::DeleteBlob(d) => blobs::delete_blob(ctx, d).await,
        Action::Parallel(_) => unreachable!("step::run_step runs parallel blocks"),
        Action::Together(_) => unreachable!("step::run_step runs together blocks"),
    }
}

/// An observation of one answer.
fn answer(r: Response) -> Observation {
    Observation { response: Some(r), ..Default::default() }
}

/// An answer and the request made after it.
fn answer_then(r: Response, followup: Option<Response>) -> Observation {
    Observation { response: Some(r), followup, ..Default::default() }
}

/// A response that may be an index: listing expectations judge its `manifests`.
fn listing_observation(r: Response) -> Observation {
    let pages = if r.status == 200 && r.json().is_ok_and(|v| v.get("manifests").is_some()) { vec![r.clone()] } else { vec![] };
    Observation { response: Some(r), pages, ..Default::default() }
}
