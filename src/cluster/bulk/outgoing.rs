//! The source's side of one stream: frames written from the caller's task,
//! acknowledgements read by a task of the stream's own into a watch, which
//! `send` consults to keep at most a window of bytes unacknowledged.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::codec::{self, Reply};
use super::handshake;
use super::{BulkError, Frame, WINDOW};
use crate::cluster::node::Tls;

/// How long a failed write waits for the target's account of the failure.
const REPORT_GRACE: Duration = Duration::from_secs(1);

/// What the target has told the source so far.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Bytes applied, as [`codec::wire_size`] counts them.
    applied: u64,
    /// How the stream ended: `Ok(frames)` when the target is done.
    end: Option<Result<u64, BulkError>>,
}

/// The stream of one move, as its source writes it.
pub(crate) struct Outgoing {
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    progress: watch::Receiver<Progress>,
    replies: JoinHandle<()>,
    /// Bytes written, as [`codec::wire_size`] counts them.
    sent: u64,
    frames: u64,
    window: u64,
    /// Set while a frame is being written: if the call is dropped midway,
    /// the stream is left in the middle of a frame and cannot go on.
    unusable: bool,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("sent", &self.sent)
            .field("frames", &self.frames)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        self.replies.abort();
    }
}

impl Outgoing {
    /// Connects to a peer's data port and authenticates (mutually) for the
    /// move `key`, within `timeout`.
    ///
    /// # Errors
    /// [`BulkError::Auth`] if the peer does not know the cookie,
    /// [`BulkError::UnknownKey`] if it expects no stream for `key`,
    /// [`BulkError::AlreadyConnected`], [`BulkError::Refused`],
    /// [`BulkError::Tls`], [`BulkError::Timeout`], I/O errors.
    pub(crate) async fn open(
        addr: SocketAddr,
        cookie: &str,
        tls: Option<&Tls>,
        key: Vec<u8>,
        timeout: Duration,
    ) -> Result<Outgoing, BulkError> {
        let opening = handshake::open(addr, cookie.as_bytes(), tls, &key);
        let halves =
            tokio::time::timeout(timeout, opening)
                .await
                .map_err(|_| BulkError::Timeout {
                    during: "opening a bulk stream",
                    after: timeout,
                })??;
        let (report, progress) = watch::channel(Progress::default());
        let replies = tokio::spawn(read_replies(halves.reader, report));
        Ok(Outgoing {
            writer: halves.writer,
            progress,
            replies,
            sent: 0,
            frames: 0,
            window: WINDOW,
            unusable: false,
        })
    }

    /// Sets how many bytes may be unacknowledged before `send` waits
    /// (default [`WINDOW`]). A frame larger than the window still goes, alone.
    #[cfg(test)]
    pub(crate) fn with_window(mut self, bytes: u64) -> Self {
        self.window = bytes;
        self
    }

    /// Bytes sent that the target has not yet acknowledged.
    #[cfg(test)]
    pub(crate) fn unacknowledged(&self) -> u64 {
        self.sent.saturating_sub(self.progress.borrow().applied)
    }

    /// Queues a frame; waits while the window is full (more than
    /// [`WINDOW`] bytes unacknowledged, counting this frame), so memory stays
    /// bounded on both sides.
    ///
    /// Cancelling it while it waits for the window is harmless; cancelling
    /// it while it writes leaves the stream [unusable](BulkError::Unusable).
    ///
    /// # Errors
    /// [`BulkError::FrameTooLarge`] or [`BulkError::TableNameTooLong`]
    /// (nothing sent, the stream still usable), [`BulkError::Apply`] if the
    /// target failed to apply an earlier frame, [`BulkError::ClosedEarly`]
    /// or I/O errors if the connection is lost.
    pub(crate) async fn send(&mut self, frame: Frame) -> Result<(), BulkError> {
        self.usable()?;
        codec::check(&frame)?;
        let size = codec::wire_size(&frame);
        let (sent, window) = (self.sent, self.window);
        // In a block of its own: a future holding the borrow across the
        // write below would not be `Send`.
        let ended = {
            let progress = self
                .progress
                .wait_for(|p| {
                    let unacked = sent.saturating_sub(p.applied);
                    p.end.is_some() || unacked == 0 || unacked + size <= window
                })
                .await
                .map_err(|_| BulkError::ClosedEarly)?;
            progress.end.clone()
        };
        if let Some(end) = &ended {
            return Err(ended_early(end));
        }

        self.unusable = true;
        // Raced with the target's end, so that a target that stops reading
        // (it failed to apply a frame) cannot leave this write blocked.
        tokio::select! {
            biased;
            written = codec::write_frame(&mut self.writer, &frame) => {
                if let Err(e) = written {
                    return Err(self.failure(e).await);
                }
            }
            end = wait_end(&mut self.progress) => return Err(end),
        }
        self.unusable = false;
        self.sent += size;
        self.frames += 1;
        Ok(())
    }

    /// Waits until the receiver has applied every frame sent so far (or
    /// failed).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub(crate) async fn flush(&mut self) -> Result<(), BulkError> {
        self.usable()?;
        let sent = self.sent;
        let progress = self
            .progress
            .wait_for(|p| p.applied >= sent || p.end.is_some())
            .await
            .map_err(|_| BulkError::ClosedEarly)?;
        // Everything applied is a success even if the stream ended since.
        match &progress.end {
            Some(end) if progress.applied < sent => Err(ended_early(end)),
            _ => Ok(()),
        }
    }

    /// Flushes, then tells the receiver the stream is complete, waits for
    /// its answer and closes the stream.
    ///
    /// # Errors
    /// As [`send`](Self::send); [`BulkError::Malformed`] if the target
    /// counts another number of frames.
    pub(crate) async fn finish(mut self) -> Result<(), BulkError> {
        self.flush().await?;
        self.unusable = true;
        if let Err(e) = codec::write_end(&mut self.writer).await {
            return Err(self.failure(e).await);
        }
        let end = self
            .progress
            .wait_for(|p| p.end.is_some())
            .await
            .map_err(|_| BulkError::ClosedEarly)?
            .end
            .clone();
        match end {
            Some(Ok(frames)) if frames == self.frames => {}
            Some(Ok(_)) => return Err(BulkError::Malformed("the target counted other frames")),
            Some(Err(e)) => return Err(e),
            None => return Err(BulkError::ClosedEarly),
        }
        // The target has answered; a failed close changes nothing.
        let _ = self.writer.shutdown().await;
        tracing::debug!(
            frames = self.frames,
            bytes = self.sent,
            "peeper: bulk stream sent"
        );
        Ok(())
    }

    /// The error for a failed write. A target that failed to apply a frame
    /// says so and closes, and the write may notice the close first: its
    /// account, read shortly after, says more than a broken pipe.
    async fn failure(&mut self, e: std::io::Error) -> BulkError {
        match tokio::time::timeout(REPORT_GRACE, wait_end(&mut self.progress)).await {
            Ok(BulkError::Apply(reason)) => BulkError::Apply(reason),
            _ => e.into(),
        }
    }

    fn usable(&self) -> Result<(), BulkError> {
        if self.unusable {
            Err(BulkError::Unusable)
        } else {
            Ok(())
        }
    }
}

/// Waits for the stream to end, as an error for the caller.
async fn wait_end(progress: &mut watch::Receiver<Progress>) -> BulkError {
    // The borrow ends with this statement: a future that holds it is not
    // `Send`.
    let end = match progress.wait_for(|p| p.end.is_some()).await {
        Ok(p) => p.end.clone(),
        Err(_) => None,
    };
    match end {
        Some(end) => ended_early(&end),
        None => BulkError::ClosedEarly,
    }
}

/// The error for an end before the source finished.
fn ended_early(end: &Result<u64, BulkError>) -> BulkError {
    match end {
        Ok(_) => BulkError::Malformed("the target finished before the source"),
        Err(e) => e.clone(),
    }
}

/// Reads the target's replies into `report` until the stream ends.
async fn read_replies(
    mut reader: Box<dyn AsyncRead + Send + Unpin>,
    report: watch::Sender<Progress>,
) {
    let end = loop {
        match codec::read_reply(&mut reader).await {
            Ok(Reply::Applied(applied)) => {
                let mut backwards = false;
                report.send_modify(|p| {
                    backwards = applied < p.applied;
                    p.applied = applied;
                });
                if backwards {
                    break Err(BulkError::Malformed("acknowledgements going backwards"));
                }
            }
            Ok(Reply::Failed(reason)) => break Err(BulkError::Apply(reason)),
            Ok(Reply::Done(frames)) => break Ok(frames),
            Err(e) => break Err(e),
        }
    };
    report.send_modify(|p| p.end = Some(end));
}
