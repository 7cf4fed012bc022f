//! The data stream of a move, source side: rows, removals and pieces of
//! the snapshot and of large dictionary entries go on it once it is open (see
//! [`crate::cluster::bulk`]), and as steps on the control connection when it
//! is not.

use super::source::Mover;
use crate::cluster::bulk::{BulkError, Frame, FrameKind, Outgoing};
use crate::cluster::error::MoveError;
use crate::cluster::wire::Step;

/// The frame that carries a data step.
fn frame_of(step: Step) -> Frame {
    let (kind, table, count, bytes) = match step {
        Step::Rows { table, count, rows } => (FrameKind::Rows, table, count, rows),
        Step::Remove { table, count, keys } => (FrameKind::Remove, table, count, keys),
        Step::ResetTable { table } => (FrameKind::Reset, table, 0, Vec::new()),
        Step::Snapshot { piece } => (FrameKind::Snapshot, String::new(), 0, piece),
        Step::Entry { key, total, piece } => (FrameKind::Entry, key, total, piece),
        // Only data steps are sent this way.
        other => (FrameKind::Snapshot, other.name().to_owned(), 0, Vec::new()),
    };
    Frame {
        kind,
        table,
        count,
        bytes,
    }
}

impl Mover {
    /// Opens the move's data stream, unless it is open or the target has no
    /// data port (then data goes as steps).
    pub(super) async fn open_data(&self) -> Result<(), MoveError> {
        let mut data = self.data.lock().await;
        let addr = self
            .node
            .inner
            .peers
            .known(&self.to_node)
            .and_then(|k| k.data_addr);
        let Some(addr) = addr.filter(|_| data.is_none()) else {
            return Ok(());
        };
        self.step(Step::Stream).await?;
        let key = postcard::to_stdvec(&self.mv).map_err(|e| self.encode(e.to_string()))?;
        let config = self.node.config();
        let out = Outgoing::open(
            addr,
            &config.cookie,
            config.tls.as_ref(),
            key,
            config.connect_timeout,
        )
        .await
        .map_err(|e| self.bulk(e))?;
        *data = Some(out);
        Ok(())
    }

    pub(super) async fn has_data(&self) -> bool {
        self.data.lock().await.is_some()
    }

    /// Sends rows, removals, a reset or a piece of the snapshot: on the data
    /// stream if it is open, as a step if not.
    pub(super) async fn send_data(&self, step: Step) -> Result<(), MoveError> {
        let mut data = self.data.lock().await;
        match data.as_mut() {
            Some(out) => self.unless_lost(out.send(frame_of(step))).await,
            // Rows are answered, so that a big table without a stream is
            // still sent a window at a time; the rest is answered by `Commit`.
            None if matches!(step, Step::Rows { .. }) => {
                drop(data);
                self.step(step).await
            }
            None => self.post(step),
        }
    }

    /// Waits until the target applied everything sent so far on the data
    /// stream, if one is open.
    pub(super) async fn flush_data(&self) -> Result<(), MoveError> {
        let mut data = self.data.lock().await;
        match data.as_mut() {
            Some(out) => self.unless_lost(out.flush()).await,
            None => Ok(()),
        }
    }

    /// Waits until the target applied everything the data stream carried,
    /// and closes it.
    pub(super) async fn close_data(&self) -> Result<(), MoveError> {
        let open = self.data.lock().await.take();
        match open {
            Some(out) => self.unless_lost(out.finish()).await,
            None => Ok(()),
        }
    }

    /// Runs a data stream's `work`, unless the target is declared lost
    /// first: a frozen target stops reading, and the stream would wait for
    /// its TCP window for as long as the freeze lasts.
    async fn unless_lost(
        &self,
        work: impl std::future::Future<Output = Result<(), BulkError>>,
    ) -> Result<(), MoveError> {
        let lost = self.node.lost(&self.to_node);
        tokio::select! {
            done = work => done.map_err(|e| self.bulk(e)),
            () = lost => Err(self.lost("the node was declared lost".to_owned())),
        }
    }

    fn bulk(&self, e: BulkError) -> MoveError {
        match e {
            BulkError::Apply(reason) => MoveError::Refused {
                name: self.mv.name.clone(),
                node: self.to_node.clone(),
                reason,
            },
            other => self.lost(format!("data stream: {other}")),
        }
    }
}
