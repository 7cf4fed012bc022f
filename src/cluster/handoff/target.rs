//! The target side of moves: every open move, each step applied by one
//! function in the order the agent received it, and the resolution of a move
//! whose source was lost once the target was ready. The state machine it
//! follows is in the [module docs](super).

use std::collections::{HashMap, HashSet, VecDeque};

use std::time::Instant;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use ractor::RpcReplyPort;

use super::stage::StageError;
use crate::cluster::bulk::{Frame, FrameKind};
use crate::cluster::fault;
use crate::cluster::node::Node;
use crate::cluster::peers::is_peer;
use crate::cluster::wire::{MoveKey, Response, StageStatus, Step, Way};

mod resolve;

/// How many started moves are remembered, to answer a repeated `Go`.
const STARTED_KEPT: usize = 4096;

/// A move being received, its types erased.
pub(crate) trait Staging: Send {
    /// The source node and its incarnation.
    fn from(&self) -> (&str, u64);
    /// Whether `Commit` succeeded: the instance is built, its name reserved.
    fn is_ready(&self) -> bool;
    /// Applies a data step (rows, removals, resets, snapshot) or `Commit`.
    fn apply(&mut self, step: Step) -> Result<(), StageError>;
    /// Stores the instance in `durable` once it starts.
    #[cfg(feature = "durable")]
    fn set_durable(&mut self, durable: crate::durable::Durable);
    /// Starts the instance under its supervisor.
    fn start(self: Box<Self>) -> BoxFuture<'static, Result<(), StageError>>;
}

/// A request for an arriving instance, held back until the source relayed
/// everything it had queued for it.
pub(crate) enum Held {
    Call {
        kind: String,
        budget_ms: u64,
        body: Vec<u8>,
        reply: Option<RpcReplyPort<Vec<u8>>>,
        since: Instant,
    },
    OneWay {
        kind: String,
        way: Way,
        hops: u8,
        body: Vec<u8>,
    },
    /// A barrier from this node's relay: passed once what came before it
    /// went in.
    LocalBarrier(tokio::sync::oneshot::Sender<()>),
    /// A barrier from another node's relay.
    Barrier {
        kind: String,
        from: String,
        token: u64,
    },
}

/// The requests held back for one name, and the node it comes from.
struct Holding {
    from: String,
    held: Vec<Held>,
}

/// The moves this node receives; see the [module docs](self).
#[derive(Default)]
pub(crate) struct Stages {
    open: Mutex<HashMap<MoveKey, Box<dyn Staging>>>,
    started: Mutex<VecDeque<MoveKey>>,
    resolving: Mutex<HashSet<MoveKey>>,
    /// Names arriving here: requests by name wait until the source relayed
    /// its queue, so that each sender's order holds across the move.
    holding: Mutex<HashMap<String, Holding>>,
    /// Woken when held requests are let in.
    released: tokio::sync::Notify,
    /// Why a step sent without waiting was refused, for `Commit` to say.
    refused: Mutex<HashMap<MoveKey, String>>,
}

impl Stages {
    /// Whether a move of `name` is staged here and not yet started.
    pub(crate) fn stages_name(&self, name: &str) -> bool {
        self.open.lock().keys().any(|mv| mv.name == name)
    }

    fn status(&self, mv: &MoveKey) -> StageStatus {
        if let Some(stage) = self.open.lock().get(mv) {
            return if stage.is_ready() {
                StageStatus::Ready
            } else {
                StageStatus::Receiving
            };
        }
        if self.started.lock().contains(mv) {
            StageStatus::Started
        } else {
            StageStatus::Absent
        }
    }

    /// Whether a move brings `name` here and holds requests for it back.
    pub(crate) fn arriving(&self, name: &str) -> bool {
        self.holding.lock().contains_key(name)
    }

    /// Holds `msg` back if its name is arriving here; hands it back if not.
    pub(crate) fn try_hold(&self, name: &str, msg: Held) -> Result<(), Held> {
        match self.holding.lock().get_mut(name) {
            Some(holding) => {
                holding.held.push(msg);
                Ok(())
            }
            None => Err(msg),
        }
    }

    fn hold(&self, name: &str, from: &str) {
        let mut holding = self.holding.lock();
        let entry = holding.entry(name.to_owned()).or_insert_with(|| Holding {
            from: from.to_owned(),
            held: Vec::new(),
        });
        entry.from = from.to_owned();
    }

    /// Waits until nothing is held back for `name`, at most `limit`;
    /// whether it came to that. An instance that just arrived moves on only
    /// once its previous node relayed its queue.
    pub(crate) async fn settled(&self, name: &str, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let released = self.released.notified();
            if !self.holding.lock().contains_key(name) {
                return true;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return false;
            }
        }
    }

    /// Notes why `mv` was refused; bounded, as nothing may ever ask.
    fn note_refused(&self, mv: MoveKey, reason: &str) {
        let mut refused = self.refused.lock();
        if refused.len() >= STARTED_KEPT {
            refused.clear();
        }
        refused.insert(mv, reason.to_owned());
    }

    /// Why `mv` has no slot here.
    fn why_absent(&self, mv: &MoveKey) -> String {
        self.refused
            .lock()
            .get(mv)
            .cloned()
            .unwrap_or_else(|| "no such move".to_owned())
    }

    fn note_started(&self, mv: MoveKey) {
        let mut started = self.started.lock();
        if started.len() >= STARTED_KEPT {
            started.pop_front();
        }
        started.push_back(mv);
    }
}

/// The step a data frame carries.
fn step_of(frame: Frame) -> Step {
    let Frame {
        kind,
        table,
        count,
        bytes,
    } = frame;
    match kind {
        FrameKind::Rows => Step::Rows {
            table,
            count,
            rows: bytes,
        },
        FrameKind::Remove => Step::Remove {
            table,
            count,
            keys: bytes,
        },
        FrameKind::Reset => Step::ResetTable { table },
        FrameKind::Snapshot => Step::Snapshot { piece: bytes },
        FrameKind::Entry => Step::Entry {
            key: table,
            total: count,
            piece: bytes,
        },
    }
}

fn done(result: Result<(), String>) -> Response {
    match result {
        Ok(()) => Response::Done,
        Err(reason) => Response::Refused(reason),
    }
}

impl Node {
    /// Applies one step of a move received from another node.
    pub(crate) async fn apply_step(&self, mv: MoveKey, step: Step) -> Response {
        let stages = &self.inner.stages;
        match step {
            Step::Begin(begin) => {
                // Only a connected, authenticated node may move an instance in.
                let opened = if !is_peer(&begin.from_node) {
                    Err(format!("{:?} is not a connected node", begin.from_node))
                } else if let Some(kind) = self.inner.kinds.get(&begin.kind).map(|k| k.clone()) {
                    let from = begin.from_node.clone();
                    let durable = begin.durable;
                    kind.stage(mv.clone(), begin)
                        .map_err(|e| e.to_string())
                        .and_then(|stage| super::durable::store_for(self, stage, durable))
                        .map(|stage| {
                            stages.hold(&mv.name, &from);
                            stages.open.lock().insert(mv.clone(), stage);
                        })
                } else {
                    Err(format!("kind {:?} is not registered here", begin.kind))
                };
                // `Begin` may have been sent without waiting: `Commit` says why.
                if let Err(reason) = &opened {
                    stages.note_refused(mv, reason);
                }
                done(opened)
            }
            Step::Go => self.start_stage(&mv).await,
            Step::Drained => {
                self.release_held(&mv.name);
                Response::Done
            }
            Step::Abort => {
                stages.refused.lock().remove(&mv);
                if stages.open.lock().remove(&mv).is_some() {
                    self.release_held(&mv.name);
                }
                if stages.started.lock().contains(&mv) {
                    Response::Refused("the move was started here".to_owned())
                } else {
                    Response::Done
                }
            }
            Step::Status => Response::Status(stages.status(&mv)),
            Step::Stream => self.expect_stream(mv),
            data => {
                let mut open = stages.open.lock();
                let Some(stage) = open.get_mut(&mv) else {
                    return Response::Refused(stages.why_absent(&mv));
                };
                let what = data.name();
                match stage.apply(data) {
                    Ok(()) => {
                        if stage.is_ready() {
                            drop(open);
                            fault::point("target.ready");
                        }
                        Response::Done
                    }
                    Err(reason) => {
                        // A failed step ends the move here: the source aborts.
                        open.remove(&mv);
                        drop(open);
                        let reason = reason.to_string();
                        stages.note_refused(mv.clone(), &reason);
                        self.release_held(&mv.name);
                        tracing::warn!(name = %mv.name, step = what, %reason, "peeper: move refused");
                        Response::Refused(reason)
                    }
                }
            }
        }
    }

    /// Starts the ready move `mv`: on `Go`, or once its source is known to
    /// have decided go, or to be gone.
    pub(crate) async fn start_stage(&self, mv: &MoveKey) -> Response {
        let stages = &self.inner.stages;
        let stage = stages.open.lock().remove(mv);
        let started = match stage {
            Some(stage) if stage.is_ready() => stage.start().await.map_err(|e| e.to_string()),
            Some(_) => Err("the move is not ready".to_owned()),
            None if stages.started.lock().contains(mv) => return Response::Done,
            None => Err("no such move".to_owned()),
        };
        match &started {
            Ok(()) => stages.note_started(mv.clone()),
            Err(e) => {
                self.release_held(&mv.name);
                tracing::error!(name = %mv.name, error = %e, "peeper: a moved instance could not start");
            }
        }
        done(started)
    }

    /// Opens the way for `mv`'s data stream: its frames are applied to the
    /// move's slot as they come, each before it is acknowledged.
    fn expect_stream(&self, mv: MoveKey) -> Response {
        if !self.inner.stages.open.lock().contains_key(&mv) {
            return Response::Refused("no such move".to_owned());
        }
        let Ok(key) = postcard::to_stdvec(&mv) else {
            return Response::Refused("bad move key".to_owned());
        };
        let incoming = self.inner.data.expect(key);
        let weak = std::sync::Arc::downgrade(&self.inner);
        let wait = self.config().step_timeout;
        tokio::spawn(async move {
            let name = mv.name.clone();
            let applied = incoming
                .run(wait, move |frame| {
                    let inner = weak.upgrade().ok_or("the node stopped")?;
                    let mut open = inner.stages.open.lock();
                    let stage = open.get_mut(&mv).ok_or("no such move")?;
                    stage.apply(step_of(frame)).map_err(|e| e.to_string())
                })
                .await;
            if let Err(e) = applied {
                tracing::warn!(%name, error = %e, "peeper: a move's data stream failed");
            }
        });
        Response::Done
    }

    /// Drops a move that will not start here.
    pub(crate) fn drop_stage(&self, mv: &MoveKey) {
        self.inner.stages.open.lock().remove(mv);
        self.release_held(&mv.name);
    }

    /// Lets the requests held back for `name` in, in the order they came.
    pub(crate) fn release_held(&self, name: &str) {
        let Some(holding) = self.inner.stages.holding.lock().remove(name) else {
            return;
        };
        for held in holding.held {
            crate::cluster::agent::serve_held(self, name, held);
        }
        self.inner.stages.released.notify_waiters();
    }
}
