//! Group commit: one thread writes for every durable instance of a store.
//! Each transaction takes every change waiting when it begins, so that many
//! instances share one transaction and one fsync.
//!
//! An instance whose change could not be stored is *broken*: its later
//! changes are refused without being written (they are differences from a
//! state the store lacks) until one comes that holds the instance whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::Durability;
use super::store::{Store, StoreError, Write};

/// What the writer knows of one instance's writes.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Set by the writer when a change failed; the journal takes it and
    /// writes the instance whole next.
    pub(crate) needs_whole: AtomicBool,
    /// The writer's own mark: later differences are refused.
    broken: AtomicBool,
    /// Why the last change failed.
    pub(crate) reason: Mutex<Option<String>>,
}

/// One instance's writes, stored in one transaction.
pub(crate) struct Submission {
    pub(crate) writes: Vec<Write>,
    pub(crate) health: Arc<Health>,
    pub(crate) kind: Kind,
    pub(crate) done: Option<oneshot::Sender<Result<(), StoreError>>>,
}

/// What a submission's writes are to the instance's stored image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A difference from the last change.
    Diff,
    /// The instance whole: it mends a broken instance.
    Whole,
    /// Apart from the image: a stored message, or the instance forgotten.
    Apart,
}

/// What the writer thread is sent.
enum Job {
    Write(Submission),
    /// Store what came before, then end and let go of the store.
    Close,
}

/// The sending end of the writer thread.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread over `store`. At most `max_batch`
    /// submissions share a transaction.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        durability: Durability,
        max_batch: usize,
    ) -> Result<(Writer, JoinHandle<()>), StoreError> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("peeper-durable".to_owned())
            .spawn(move || run(store, &rx, durability, max_batch.max(1)))
            .map_err(|e| StoreError::Write(format!("the writer thread: {e}")))?;
        Ok((Writer { tx }, thread))
    }

    /// Queues `submission`; its `done` is answered once it is stored or not.
    pub(crate) fn submit(&self, submission: Submission) {
        if let Err(mpsc::SendError(Job::Write(s))) = self.tx.send(Job::Write(submission))
            && let Some(done) = s.done
        {
            let _ = done.send(Err(StoreError::Closed));
        }
    }

    /// Queues `writes` as one submission of `kind` for the instance whose
    /// writes `health` follows; its outcome comes on the receiver.
    pub(crate) fn send(
        &self,
        writes: Vec<Write>,
        health: Arc<Health>,
        kind: Kind,
    ) -> oneshot::Receiver<Result<(), StoreError>> {
        let (done, outcome) = oneshot::channel();
        self.submit(Submission {
            writes,
            health,
            kind,
            done: Some(done),
        });
        outcome
    }

    /// Asks the thread to store what it was sent so far and end; later
    /// submissions fail with [`StoreError::Closed`].
    pub(crate) fn close(&self) {
        let _ = self.tx.send(Job::Close);
    }
}

/// Waits for a submission's outcome: why it was not stored, as text.
pub(crate) async fn stored(
    outcome: oneshot::Receiver<Result<(), StoreError>>,
) -> Result<(), String> {
    match outcome.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(StoreError::Closed.to_string()),
    }
}

fn run(store: Arc<dyn Store>, rx: &mpsc::Receiver<Job>, durability: Durability, max_batch: usize) {
    let mut closing = false;
    while !closing {
        let first = match rx.recv() {
            Ok(Job::Write(s)) => s,
            Ok(Job::Close) | Err(_) => break,
        };
        let mut batch = vec![first];
        let until = match durability {
            Durability::Immediate => None,
            Durability::Batched(every) => Some(Instant::now() + every),
        };
        while batch.len() < max_batch {
            let next = match until {
                None => rx.try_recv().ok(),
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    rx.recv_timeout(left.max(Duration::from_micros(1))).ok()
                }
            };
            match next {
                Some(Job::Write(s)) => batch.push(s),
                Some(Job::Close) => {
                    closing = true;
                    break;
                }
                None => break,
            }
        }
        write(&*store, batch);
    }
    // Submissions sent from now on fail: the receiver goes with this thread.
}

fn write(store: &dyn Store, batch: Vec<Submission>) {
    let mut writes = Vec::new();
    let mut taken = Vec::with_capacity(batch.len());
    for mut s in batch {
        if s.health.broken.load(Ordering::Acquire) && s.kind == Kind::Diff {
            // A difference from a state the store does not have.
            s.health.needs_whole.store(true, Ordering::Release);
            let reason = "an earlier change of this instance was not stored".to_owned();
            if let Some(done) = s.done.take() {
                let _ = done.send(Err(StoreError::Write(reason)));
            }
            continue;
        }
        writes.append(&mut s.writes);
        taken.push(s);
    }
    if taken.is_empty() {
        return;
    }
    let outcome = store.commit(&writes, true);
    if let Err(e) = &outcome {
        tracing::error!(error = %e, "peeper: a durable transaction failed");
    }
    for s in taken {
        match &outcome {
            Ok(()) => {
                if s.kind == Kind::Whole {
                    s.health.broken.store(false, Ordering::Release);
                }
            }
            Err(_) if s.kind == Kind::Apart => {}
            Err(e) => {
                *s.health.reason.lock() = Some(e.to_string());
                s.health.broken.store(true, Ordering::Release);
                s.health.needs_whole.store(true, Ordering::Release);
            }
        }
        if let Some(done) = s.done {
            let _ = done.send(outcome.clone());
        }
    }
}
