//! A watch's files between hashing and uploading: a file whose content is what it was
//! last sent as gets no outcome (it is withdrawn from `found`).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::prepare::Prepared;
use super::{recv_or_cancel, Ctx};
use crate::watch::Watch;

/// A watch's files between hashing and uploading: one whose content is what it was last
/// sent as is not sent again.
pub(super) async fn watch_gate(
    ctx: Arc<Ctx>,
    watch: Arc<Watch>,
    mut rx: mpsc::Receiver<Prepared>,
    tx: mpsc::Sender<Prepared>,
    stop: CancellationToken,
) {
    while let Some(p) = recv_or_cancel(&mut rx, &stop).await {
        // Only files reach a watch (standard input is refused with --watch).
        if let Some(key) = p.key() {
            // The record is SQLite, on disk: asked on a blocking thread, never on a worker.
            let (w, display, md5) = (watch.clone(), p.display.clone(), p.md5);
            let send = tokio::task::spawn_blocking(move || w.hashed(&display, &key, &md5))
                .await
                .unwrap_or(true);
            if !send {
                ctx.withdraw(p.size);
                continue;
            }
        }
        tokio::select! {
            sent = tx.send(p) => if sent.is_err() { break },
            () = stop.cancelled() => break,
        }
    }
}
