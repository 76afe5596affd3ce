//! Files with the same content in one run are uploaded once: the first to arrive leads,
//! the others wait for its result and report its asset; if the leader fails, one of them
//! takes over. The upload stage also bounds the files in flight (`-j`, through the
//! `Limiter`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::task::TaskTracker;

use super::prepare::Prepared;
use super::round_trip::{process, Remote};
use super::{recv_or_cancel, Ctx};
use crate::admission::Limiter;
use crate::event::{FileReport, Outcome};
use crate::hash::Md5Sum;
use crate::sync::lock;

/// At most this many files wait at once for another file with the same content.
const MAX_FOLLOWERS: usize = 1024;

/// What a content group's leader has come to: nothing yet, its asset, or failure.
type Resolution = Option<Result<SharedAsset, ()>>;

/// What the leader of a content group tells the files that share its content.
#[derive(Clone)]
struct SharedAsset {
    asset_id: String,
    status: Option<String>,
    leader: String,
}

enum Claim {
    Leader,
    Follower(watch::Receiver<Resolution>),
}

/// The contents in flight in this run, each with the channel its leader resolves.
#[derive(Default)]
pub(super) struct InRun(Mutex<HashMap<Md5Sum, watch::Sender<Resolution>>>);

impl InRun {
    fn claim(&self, md5: Md5Sum) -> Claim {
        let mut map = lock(&self.0);
        if let Some(tx) = map.get(&md5) {
            return Claim::Follower(tx.subscribe());
        }
        map.insert(md5, watch::channel(None).0);
        Claim::Leader
    }

    /// The leader's result reaches the followers waiting now, and the content is forgotten:
    /// memory holds only contents in flight. A later file with the same content asks the
    /// API, which answers with the stored asset (a dedup hit, no upload); after a failure
    /// it tries again.
    fn resolve(&self, md5: Md5Sum, result: Result<SharedAsset, ()>) {
        let mut map = lock(&self.0);
        if let Some(tx) = map.remove(&md5) {
            tx.send_replace(Some(result));
        }
    }
}

pub(super) async fn upload_stage(
    ctx: Arc<Ctx>,
    remote: Arc<Remote>,
    limiter: Arc<Limiter>,
    mut rx: mpsc::Receiver<Prepared>,
) {
    let waiting = Arc::new(Semaphore::new(MAX_FOLLOWERS));
    let tracker = TaskTracker::new();
    loop {
        let Some(p) = recv_or_cancel(&mut rx, &ctx.cancel).await else {
            break;
        };
        let (ctx2, remote2) = (ctx.clone(), remote.clone());
        limiter.found(ctx.found.load(std::sync::atomic::Ordering::Relaxed));
        match ctx.in_run.claim(p.md5) {
            Claim::Leader => {
                let permit = tokio::select! {
                    p = limiter.acquire(p.size) => p,
                    () = ctx.cancel.cancelled() => break,
                };
                tracker.spawn(async move {
                    lead(&ctx2, &remote2, p).await;
                    drop(permit);
                });
            }
            Claim::Follower(rx) => {
                let acquired = tokio::select! {
                    p = waiting.clone().acquire_owned() => p,
                    () = ctx.cancel.cancelled() => break,
                };
                let Ok(wait_permit) = acquired else { break };
                let limiter = limiter.clone();
                tracker.spawn(async move {
                    follow(&ctx2, &remote2, p, rx, limiter).await;
                    drop(wait_permit);
                });
            }
        }
    }
    tracker.close();
    tracker.wait().await;
}

/// Uploads a file whose content no other file of this run carries (or carried and failed).
async fn lead(ctx: &Ctx, remote: &Remote, p: Prepared) {
    let result = tokio::select! {
        // A bug that panics fails this file (and frees its followers), not the run.
        r = std::panic::AssertUnwindSafe(process(ctx, remote, &p)).catch_unwind() => {
            r.unwrap_or_else(|_| Some(p.failed("internal error while uploading")))
        }
        () = ctx.cancel.cancelled() => None,
    };
    match result {
        Some(report) => {
            let shared = match (&report.outcome, &report.asset_id) {
                (Outcome::Uploaded | Outcome::Skipped, Some(id)) => Ok(SharedAsset {
                    asset_id: id.clone(),
                    status: report.status.clone(),
                    leader: report.path.clone(),
                }),
                _ => Err(()),
            };
            ctx.in_run.resolve(p.md5, shared);
            ctx.finish(report).await;
        }
        None => ctx.in_run.resolve(p.md5, Err(())),
    }
}

/// Waits for the leader of this content; reports its asset, or takes over if it failed.
async fn follow(
    ctx: &Ctx,
    remote: &Remote,
    p: Prepared,
    mut rx: watch::Receiver<Resolution>,
    limiter: Arc<Limiter>,
) {
    loop {
        let resolved = tokio::select! {
            r = rx.wait_for(Option::is_some) => r.ok().and_then(|v| v.clone()),
            () = ctx.cancel.cancelled() => return,
        };
        match resolved {
            Some(Ok(shared)) => {
                let report = FileReport {
                    asset_id: Some(shared.asset_id),
                    status: shared.status,
                    note: Some(format!("same content as {}", shared.leader)),
                    ..p.report(Outcome::Skipped)
                };
                ctx.finish(report).await;
                return;
            }
            Some(Err(())) | None => match ctx.in_run.claim(p.md5) {
                Claim::Follower(next) => rx = next,
                Claim::Leader => {
                    let _permit = tokio::select! {
                        p = limiter.acquire(p.size) => p,
                        () = ctx.cancel.cancelled() => return,
                    };
                    lead(ctx, remote, p).await;
                    return;
                }
            },
        }
    }
}
