//! The source side of a move: copy while running, freeze, commit, decide,
//! hand over. The state machine it follows is in the
//! [module docs](super).

use std::time::Instant;

use super::relay::{self, Forwarder};
use super::{MovePhase, MoveReport};
use crate::cluster::bulk::Outgoing;
use crate::cluster::error::MoveError;
use crate::cluster::node::Node;
use crate::cluster::snapshot;
use crate::cluster::wire::{self, Begin, MoveKey, Request, Step, Wire};
use crate::error::LookupError;
use crate::instance::{AnyInstance, Body, Envelope, Frozen, Job, Kept};
use crate::portable::rows::CHUNK_BYTES;
use crate::portable::{Parts, Portable};
use crate::registry;
use crate::supervisor::Supervisor;
use crate::timer::Taken;

use super::copy::Precopied;
use super::durable::CastsHeld;

/// Moves the instance `name` of kind `A` from `from` (on this node) to the
/// supervisor `to_supervisor` on `to_node`.
pub(crate) async fn move_out<A: Portable>(
    node: &Node,
    name: &str,
    from: &Supervisor,
    to_node: &str,
    to_supervisor: &str,
) -> Result<MoveReport, MoveError> {
    let not_found = || -> MoveError {
        LookupError::NotFound {
            name: name.to_owned(),
        }
        .into()
    };
    let handle = registry::lookup_uncached::<A>(name).map_err(|_| not_found())?;
    let kept = handle.kept().clone();
    if kept.moved_to().is_some() {
        return Err(not_found());
    }
    if !from.owns(kept.current_owner()) {
        return Err(MoveError::NotChild {
            name: name.to_owned(),
            supervisor: from.name().to_owned(),
        });
    }
    let parts = Parts::of::<A>();
    super::check_portable(&kept, &parts)?;
    let unknown = || MoveError::UnknownNode {
        node: to_node.to_owned(),
    };
    let target = node.inner.peers.known(to_node).ok_or_else(unknown)?;
    node.agent_of(to_node).ok_or_else(unknown)?;
    if kept.stop_reason().is_some() {
        return Err(not_found());
    }
    if !node
        .inner
        .stages
        .settled(name, node.config().step_timeout)
        .await
    {
        return Err(MoveError::InProgress {
            name: name.to_owned(),
        });
    }
    if !kept.try_claim() {
        return Err(MoveError::InProgress {
            name: name.to_owned(),
        });
    }
    let mover = Mover {
        node: node.clone(),
        to_node: to_node.to_owned(),
        to_incarnation: target.incarnation,
        to_supervisor: to_supervisor.to_owned(),
        from: from.clone(),
        parts,
        mv: MoveKey {
            name: name.to_owned(),
            epoch: kept.epoch + 1,
        },
        started: Instant::now(),
        data: tokio::sync::Mutex::new(None),
        durable: super::durable::is_durable(&kept),
    };
    let out = match mover.precopy(&kept).await {
        Ok(precopied) => {
            let held = CastsHeld::close(&kept).await;
            mover.hand_over(&handle, precopied, held).await
        }
        Err(e) => {
            mover.untrack(&kept);
            mover.abort();
            Err(e)
        }
    };
    kept.release_claim();
    if let Err(e) = &out {
        tracing::warn!(%name, error = %e, "peeper: move aborted");
    }
    out
}

/// The source side of one move.
pub(super) struct Mover {
    pub(super) node: Node,
    pub(super) to_node: String,
    pub(super) to_incarnation: u64,
    to_supervisor: String,
    from: Supervisor,
    pub(super) parts: Parts,
    pub(super) mv: MoveKey,
    started: Instant,
    /// The move's data stream, once opened; see [`crate::cluster::bulk`].
    pub(super) data: tokio::sync::Mutex<Option<Outgoing>>,
    /// The instance is durable: its target stores it too.
    pub(super) durable: bool,
}

impl Mover {
    pub(super) fn begin<A: Portable>(&self, kept: &Kept<A>) -> Step {
        let policy = kept.policy();
        Step::Begin(Begin {
            kind: A::KIND.to_owned(),
            version: A::VERSION,
            supervisor: self.to_supervisor.clone(),
            from_node: self.node.name().to_owned(),
            from_incarnation: self.node.inner.peers.incarnation(),
            max_restarts: policy.max_restarts,
            restart_window_ms: u64::try_from(policy.within.as_millis()).unwrap_or(u64::MAX),
            capacity: kept.capacity().map(|c| c as u64),
            durable: self.durable,
        })
    }

    /// Runs the hand-over with the instance frozen: on this task if it has
    /// no worker and is idle (see `instance/frozen.rs`), queued in its
    /// worker's mailbox if not; waits for it.
    async fn hand_over<A: Portable>(
        self,
        handle: &crate::Handle<A>,
        precopied: Precopied,
        held: CastsHeld<A>,
    ) -> Result<MoveReport, MoveError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let name = self.mv.name.clone();
        // The held casts go with the job: whatever becomes of it, run or
        // dropped unrun, they are let in or refused by what it decided.
        let job: Job<A> = Box::new(move |frozen| {
            Box::pin(async move {
                // `None`: the instance has moved away already; dropping the
                // sender tells the mover.
                let Some(frozen) = frozen else { return };
                let kept = frozen.kept.clone();
                match self.frozen(frozen, precopied).await {
                    Ok(report) => {
                        self.retire(&kept);
                        held.gone(&self.to_node);
                        let _ = tx.send(Ok(report));
                    }
                    Err(e) => {
                        self.untrack(&kept);
                        let _ = tx.send(Err(e));
                    }
                }
            })
        });
        if let Err(job) = handle.kept().run_frozen_here(job).await {
            // Asking for the actor gives a dormant instance its worker.
            let sent = handle
                .actor_ref()
                .map(|actor| actor.send_message(Envelope::plain(Body::Run(job))));
            if !matches!(sent, Some(Ok(()))) {
                return Err(LookupError::NotFound { name }.into());
            }
        }
        rx.await.unwrap_or(Err(MoveError::InProgress { name }))
    }

    /// Runs inside the frozen loop: sends what changed since the copy, the
    /// snapshot, commits and decides.
    async fn frozen<A: Portable>(
        &self,
        frozen: Frozen<A>,
        precopied: Precopied,
    ) -> Result<MoveReport, MoveError> {
        let frozen_at = Instant::now();
        let kept = frozen.kept.clone();
        // A durable instance's store notes the move, timers included, before
        // `Commit` can leave: a restart here then asks the target first.
        let noted = super::durable::note_moving(self, &frozen).await;
        // Timers stop here and travel; if the move fails they start again.
        let timers = kept.timers.take_all();
        let sent = match noted.and_then(|()| super::check_portable(&kept, &self.parts)) {
            Ok(()) => self.send_frozen(&frozen, &precopied, &timers).await,
            Err(e) => Err(e),
        };
        let sent = match sent {
            Ok(sent) => self.close_data().await.map(|()| sent),
            Err(e) => Err(e),
        };
        let decided = match sent {
            Ok(sent) => self.commit().await.map(|confirmed| (sent, confirmed)),
            Err(e) => {
                self.abort();
                Err(e)
            }
        };
        let ((resent, bytes), confirmed) = match decided {
            Ok(done) => done,
            Err(e) => {
                kept.timers.restore(
                    kept.timer_target(),
                    timers,
                    Some(super::reencode::<A::Info>),
                );
                super::durable::unnote(&kept);
                return Err(e);
            }
        };
        // The target runs it and holds it in its store: it goes from here.
        super::durable::forget(&kept);
        let name = self.mv.name.clone();
        // Dropping a big table takes a while: not while the mailbox waits.
        let tables = kept.tables.take();
        tokio::task::spawn_blocking(move || drop(tables));
        kept.committed.lock().dict = crate::dictionary::Dictionary::default();
        self.from.release_moved(
            &name,
            kept.id(),
            format!("{}/{}", self.to_node, self.to_supervisor),
        );
        let bytes = precopied.bytes + bytes;
        self.progress(MovePhase::Committed, precopied.rows, precopied.rows, bytes);
        tracing::info!(%name, to = %self.to_node, rows = precopied.rows, bytes, "peeper: moved to another node");
        Ok(MoveReport {
            name,
            to_node: self.to_node.clone(),
            rows: precopied.rows,
            rows_resent: resent,
            bytes,
            frozen_for: frozen_at.elapsed(),
            took: self.started.elapsed(),
            confirmed,
        })
    }

    /// Sends the catch-up, the timers and the snapshot; the rows sent again
    /// and the bytes sent.
    async fn send_frozen<A: Portable>(
        &self,
        frozen: &Frozen<A>,
        precopied: &Precopied,
        timers: &[Taken<A::Info>],
    ) -> Result<(u64, u64), MoveError> {
        let mut travelling = Vec::new();
        for t in timers {
            let Some(msg) = t.msg.lock().as_ref().map(postcard::to_stdvec) else {
                continue;
            };
            travelling.push(snapshot::Timer {
                id: t.id,
                remaining_us: u64::try_from(t.remaining.as_micros()).unwrap_or(u64::MAX),
                period_us: t
                    .period
                    .map(|p| u64::try_from(p.as_micros()).unwrap_or(u64::MAX)),
                msg: msg.map_err(|e| self.encode(format!("a timer's message: {e}")))?,
            });
        }
        let snapshot = snapshot::encode::<A>(
            &frozen.state,
            &frozen.dict,
            travelling,
            &self.parts,
            &precopied.entries,
        )
        .map_err(|what| MoveError::NotPortable {
            name: self.mv.name.clone(),
            what,
        })?;
        let (resent, bytes) = self.catch_up(&frozen.kept, precopied).await?;
        self.progress(MovePhase::Snapshot, 0, 0, 0);
        if snapshot.len() > CHUNK_BYTES {
            self.open_data().await?;
        }
        for piece in snapshot.chunks(CHUNK_BYTES) {
            self.send_data(Step::Snapshot {
                piece: piece.to_vec(),
            })
            .await?;
        }
        Ok((resent, bytes + snapshot.len() as u64))
    }

    /// Installs the relay and lets the worker retire once its mailbox is
    /// relayed; see [`relay`](super::relay).
    fn retire<A: Portable>(&self, kept: &std::sync::Arc<Kept<A>>) {
        let name = self.mv.name.clone();
        let forwarder = Forwarder::<A>::new(self.node.clone(), name.clone(), self.to_node.clone());
        let _ = kept.relay.set(Box::new(Box::new(forwarder)));
        relay::note_left(&name, &self.to_node);
        self.node.tell_moved(&name, &self.to_node);
        let drained = Request::Move {
            mv: self.mv.clone(),
            step: Step::Drained,
        };
        let (node, to) = (self.node.clone(), self.to_node.clone());
        // Behind every message relayed, on the same connection.
        let tell_drained = move || {
            if let (Some(agent), Ok(bytes)) = (node.agent_of(&to), wire::encode(&drained)) {
                let _ = agent.send_message(Wire::Cast(bytes));
            }
        };
        let Some(actor) = kept.detach_worker() else {
            // No worker (a dormant instance frozen on the mover's task, or
            // one being respawned): nothing is queued behind a mailbox.
            kept.finish_retire();
            tell_drained();
            registry::release(kept.name(), kept.id());
            return;
        };
        let last = kept.clone();
        let worker = actor.clone();
        let job: Job<A> = Box::new(move |_| {
            Box::pin(async move {
                last.finish_retire();
                tell_drained();
                registry::release(last.name(), last.id());
                worker.stop(Some("moved away".to_owned()));
            })
        });
        // Behind every message sent to the worker before it was detached.
        let _ = actor.send_message(Envelope::plain(Body::Run(job)));
    }
}
