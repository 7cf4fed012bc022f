//! The target's side of one stream: wait for the source, apply its frames
//! in order, acknowledge them, answer the end.

use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

use super::codec::{self, Reply};
use super::handshake::Halves;
use super::registry::Registration;
use super::{BulkError, Frame, WINDOW};

/// Buffered reads of headers and small frames; a payload at least this big
/// is read straight into its own buffer.
const READ_BUFFER: usize = 64 * 1024;

/// Applied bytes after which the target acknowledges even while more frames
/// are buffered, so that a fast run of small frames costs few replies yet
/// keeps the source's window moving.
const ACK_EVERY: u64 = WINDOW / 4;

/// The stream of one move, as its target expects it.
pub(crate) struct Incoming {
    registration: Registration,
    delivered: oneshot::Receiver<Halves>,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming").finish_non_exhaustive()
    }
}

impl Incoming {
    pub(super) fn new(registration: Registration, delivered: oneshot::Receiver<Halves>) -> Self {
        Incoming {
            registration,
            delivered,
        }
    }

    /// Waits (up to `timeout` for the sender to connect), then reads frames
    /// and applies each with `apply`, in order, acknowledging applied frames
    /// to the sender, until the sender finishes (returns the number of
    /// frames applied) or fails. If `apply` returns `Err(text)`, the
    /// sender's next `send`/`flush` fails with [`BulkError::Apply`] carrying
    /// that text (cut to 16 KiB), and this returns that error.
    ///
    /// `apply` runs on this task while another reads the next frames: a
    /// slow `apply` slows the stream but does not let it grow, as the sender
    /// waits for acknowledgements (at most its window is read ahead).
    ///
    /// # Errors
    /// [`BulkError::Timeout`] if no sender connects in time,
    /// [`BulkError::PortClosed`] if the port closes first,
    /// [`BulkError::ClosedEarly`] if the sender goes away before finishing,
    /// [`BulkError::Apply`] as above, and others for a broken stream.
    pub(crate) async fn run(
        self,
        timeout: Duration,
        mut apply: impl FnMut(Frame) -> Result<(), String> + Send,
    ) -> Result<u64, BulkError> {
        let Incoming {
            registration,
            delivered,
        } = self;
        let halves = match tokio::time::timeout(timeout, delivered).await {
            Err(_) => {
                return Err(BulkError::Timeout {
                    during: "waiting for the sender to connect",
                    after: timeout,
                });
            }
            Ok(Err(_)) => return Err(BulkError::PortClosed),
            Ok(Ok(halves)) => halves,
        };
        drop(registration);
        receive(halves, &mut apply).await
    }
}

/// Frames read ahead of the one being applied: reading the next frame off
/// the socket overlaps applying this one (decoding rows into fresh memory,
/// the target's main cost), on another worker.
const READ_AHEAD: usize = 4;

/// Ends the reading task when the stream ends early (a failed `apply`).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn receive(
    halves: Halves,
    apply: &mut (impl FnMut(Frame) -> Result<(), String> + Send),
) -> Result<u64, BulkError> {
    let Halves { reader, mut writer } = halves;
    let (frames_tx, mut frames_rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    let _reading = AbortOnDrop(tokio::spawn(async move {
        let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
        loop {
            let next = codec::read_frame(&mut reader).await;
            let last = !matches!(next, Ok(Some(_)));
            if frames_tx.send(next).await.is_err() || last {
                return;
            }
        }
    }));
    let mut frames = 0_u64;
    let mut applied = 0_u64;
    let mut acked = 0_u64;
    loop {
        // The reading task sends its end or its error before it stops.
        let next = frames_rx
            .recv()
            .await
            .unwrap_or(Err(BulkError::ClosedEarly));
        let Some(frame) = next? else {
            codec::write_reply(&mut writer, &Reply::Done(frames)).await?;
            // The source has its answer; a failed close changes nothing.
            let _ = writer.shutdown().await;
            tracing::debug!(frames, bytes = applied, "peeper: bulk stream complete");
            return Ok(frames);
        };
        let size = codec::wire_size(&frame);
        if let Err(reason) = apply(frame) {
            let reason = codec::cut(reason);
            // Best effort: if the source is gone it cannot be told, and the
            // failure is returned here all the same.
            let _ = codec::write_reply(&mut writer, &Reply::Failed(reason.clone())).await;
            let _ = writer.shutdown().await;
            return Err(BulkError::Apply(reason));
        }
        frames += 1;
        applied += size;
        // With no frame read ahead the source may be waiting on this very
        // acknowledgement (its window full), so it goes out now.
        if frames_rx.is_empty() || applied - acked >= ACK_EVERY {
            codec::write_reply(&mut writer, &Reply::Applied(applied)).await?;
            acked = applied;
        }
    }
}
