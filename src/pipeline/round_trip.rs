//! One file's round trip: `POST /v1/assets`, then, unless the content is already there,
//! the upload to the signed URL; an expired URL (or one about to expire) is renewed by
//! asking again.

use std::time::{Duration, SystemTime};

use super::prepare::Prepared;
use super::Ctx;
use crate::api::{ApiClient, ApiError, Created};
use crate::event::{Event, FileReport, Outcome, Progress};
use crate::http::{Failure, Retrier, RetryPolicy};
use crate::ledger::Halt;
use crate::transfer::{self, TransferError, Uploader};

/// A signed URL must stay valid at least this long when its transfer starts.
pub(crate) const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// How many times a file asks for a fresh URL (expired, or about to).
const MAX_RENEWALS: u32 = 3;

/// What an upload talks to. A dry run has none, and never reaches the code that needs it.
pub(super) struct Remote {
    pub(super) api: ApiClient,
    pub(super) uploader: Uploader,
}

/// POST, then PUT when needed. `None` means the run is stopping (credentials refused, a
/// failure no retry mends, an outage too long).
pub(super) async fn process(ctx: &Ctx, remote: &Remote, p: &Prepared) -> Option<FileReport> {
    let Remote { api, uploader } = remote;
    // An upload URL that expired, or is about to, is replaced at once by asking again.
    let renewals = Retrier::new(RetryPolicy::immediate(MAX_RENEWALS), ctx.reporter.clone());
    let what = || format!("POST /v1/assets for {}", p.filename);
    renewals
        .run(what, |attempt| {
            create_and_upload(ctx, api, uploader, p, attempt)
        })
        .await
        .unwrap_or_else(Some)
}

/// One answer from the API and, when it asks for the bytes, the upload. A URL that has
/// expired, or would before the transfer starts, is a transient failure.
async fn create_and_upload(
    ctx: &Ctx,
    api: &ApiClient,
    uploader: &Uploader,
    p: &Prepared,
    attempt: u32,
) -> Result<Option<FileReport>, Failure<FileReport>> {
    let created = match api.create(&p.filename, &p.mime, &p.md5_hex).await {
        Ok(c) => c,
        // Refused credentials, or an API that sends us elsewhere: every later call
        // would end the same way, so the run stops (exit 2).
        Err(e @ (ApiError::Auth { .. } | ApiError::Redirect { .. })) => {
            ctx.halt(Halt::Refused(e));
            return Ok(None);
        }
        // No retry mends it, or the API was out too long: the run stops, and this file
        // is left undone, not failed.
        Err(ApiError::Stopped(stop)) => {
            ctx.halt(Halt::Stopped(stop));
            return Ok(None);
        }
        Err(e) => return Ok(Some(p.failed(e.to_string()))),
    };
    let (asset_id, status, target) = match created {
        Created::Exists { asset_id, status } => {
            if status.as_deref() == Some("failed") {
                ctx.reporter.warn(format!(
                    "{}: the project already holds this content as {asset_id}, but its ingest failed (status \"failed\")",
                    p.display
                ));
            }
            return Ok(Some(FileReport {
                asset_id: Some(asset_id),
                status,
                ..p.report(Outcome::Skipped)
            }));
        }
        Created::Unsupported {
            asset_id,
            status,
            method,
        } => {
            return Ok(Some(FileReport {
                asset_id: Some(asset_id),
                status,
                ..p.failed(format!(
                    "unsupported upload method {}; a newer chief-upload may support it",
                    method.escape_debug()
                ))
            }));
        }
        Created::Upload {
            asset_id,
            status,
            target,
        } => (asset_id, status, target),
    };
    let with_id = |r: FileReport| FileReport {
        asset_id: Some(asset_id.clone()),
        status: status.clone(),
        ..r
    };
    if let Some(exp) = target.expires_at {
        if exp < SystemTime::now() + EXPIRY_MARGIN {
            // Never start a transfer with a URL about to expire.
            return Err(Failure::transient(
                with_id(p.failed(format!(
                    "the upload URLs the API issues are expired or expire within {} ({attempt} tried); check that the computer's clock is right",
                    crate::duration::shown(EXPIRY_MARGIN),
                ))),
                "the upload URL expires too soon; asking for a fresh one",
            ));
        }
    }
    let id = ctx.id();
    let meter = Progress::default();
    ctx.reporter.emit(Event::TransferStart {
        id,
        path: p.display.clone(),
        size: p.size,
        meter: meter.clone(),
    });
    let src = transfer::UploadFile {
        source: &p.source,
        size: p.size,
        md5_hex: &p.md5_hex,
    };
    let result = uploader.upload(&target, &src, &meter).await;
    ctx.reporter.emit(Event::TransferEnd { id });
    match result {
        Ok(()) => Ok(Some(with_id(p.report(Outcome::Uploaded)))),
        Err(TransferError::Expired) => Err(Failure::transient(
            with_id(p.failed(format!(
                "the upload URL expired, also after {MAX_RENEWALS} fresh ones; check that the computer's clock is right"
            ))),
            "the upload URL expired; asking for a fresh one",
        )),
        Err(TransferError::Stopped(stop)) => {
            ctx.halt(Halt::Stopped(stop));
            Ok(None)
        }
        Err(e) => Ok(Some(with_id(p.failed(e.to_string())))),
    }
}
