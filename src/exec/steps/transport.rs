//! Requests about the registry as a whole: `ping` (`GET /v2/`) and `burst` (quick requests
//! until a 429, then one more after `Retry-After`).

use super::super::context::Ctx;
use super::super::expect::Observation;
use super::{answer, answer_then};
use crate::client::ClientError;
use crate::scenario::Burst;
use std::time::Duration;

pub async fn ping(ctx: &mut Ctx<'_>) -> Result<Observation, ClientError> {
    Ok(answer(ctx.client.ping().await?))
}

pub async fn burst(ctx: &mut Ctx<'_>, b: &Burst) -> Result<Observation, ClientError> {
    let repo = ctx.repo(b.repo);
    let mut last = None;
    // Bounded: at most `count` requests (capped at 1000) and one retry.
    for _ in 0..b.count.min(1000) {
        let r = ctx.client.tags_list(&repo, None, None).await?;
        if r.status == 429 {
            let wait = r.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(1).min(10);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let again = ctx.client.tags_list(&repo, None, None).await?;
            return Ok(answer_then(r, Some(again)));
        }
        last = Some(r);
    }
    Ok(Observation { response: last, ..Default::default() })
}
