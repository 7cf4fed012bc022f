//! The fenced move of a live instance to a supervisor on another node.
//!
//! # How a move goes
//!
//! 1. **Begin.** The target checks the kind, the state version, the
//!    supervisor and the name, and prepares an empty slot for the new epoch.
//! 2. **Copy, running.** Each declared table goes over in chunks of about
//!    1 MiB, a few in flight at a time, so neither side holds more than a
//!    few chunks, while the instance goes on handling messages. Its table
//!    writes are noted; the rows they touched go again, still running, for a
//!    few rounds until few are left.
//! 3. **Freeze.** The rest of the move is queued in the instance's own
//!    mailbox, as a message. Everything queued before it is handled at the
//!    source; from the moment the loop reaches it, the instance handles
//!    nothing more there and later messages wait in the mailbox, in order.
//!    Frozen, it sends the rows changed since the last round, its pending
//!    timers and the snapshot (state and dictionary).
//! 4. **Commit.** The target decodes everything, builds the instance and
//!    reserves its name, but does not start it, and answers. Until that
//!    answer, any failure (refusal, lost node, timeout) aborts the move: the
//!    target drops its slot and the source goes on handling its mailbox as if
//!    nothing happened.
//! 5. **Go.** Once the target answered, the source decides: it sends `Go`,
//!    and never handles a message again (even if `Go` goes unanswered: then
//!    [`MoveReport::confirmed`](crate::cluster::MoveReport::confirmed) is
//!    `false`). It drops its tables, leaves its
//!    supervisor, and relays every message still in its mailbox, and every
//!    one that reaches it later, to the target, in order, behind the `Go`.
//!    The target starts the instance (`init` with [`Start::Moved`]) on `Go`
//!    only, so a target cut off before the decision never runs a second copy:
//!    its slot is dropped when the source's session goes away. Replies to
//!    relayed calls tell the caller where the instance is now.
//!
//! The one window left: if the source dies after the target's answer and
//! before its `Go` leaves, neither side runs the instance.
//!
//! Who owns what: the instance's loop runs the frozen part of the move (it
//! is the only task that could handle a message), so there is never a moment
//! in which both sides handle messages. The claim flag that guards local transfers and
//! stops also guards the move.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use ractor::ActorRef;
use ractor::rpc::CallResult;

use crate::actor::Start;
use crate::cluster::error::MoveError;
use crate::cluster::kind::{OneWay, Staging, call_error};
use crate::cluster::node::{MovePhase, MoveProgress, MoveReport, Node};
use crate::cluster::portable::{Parts, Portable, RowSink, RowSource};
use crate::cluster::relays;
use crate::cluster::snapshot;
use crate::cluster::stream::CHUNK_BYTES;
use crate::cluster::wire::{self, Begin, MoveKey, Request, Response, Wire};
use crate::error::{CallError, LookupError};
use crate::instance::{AnyInstance, Body, Committed, Envelope, Frozen, Job, Kept, Relay};
use crate::registry;
use crate::restart::RestartPolicy;
use crate::supervisor::Supervisor;
use crate::table::{TableId, TableSet};
use crate::timer::Taken;

/// Rounds of sending rows written during the copy, before the freeze.
const RECOPY_ROUNDS: usize = 4;

/// Few enough changed rows to leave to the frozen catch-up.
const RECOPY_ENOUGH: u64 = 1024;

/// Chunks of rows in flight at once during a move.
const WINDOW: usize = 8;

/// The largest snapshot (state and dictionary, encoded) a node accepts.
pub(crate) const MAX_SNAPSHOT: u64 = 1 << 30;

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
    let handle = registry::lookup::<A>(name).map_err(|_| not_found())?;
    let shared = handle.kept().clone();
    if shared.moved_to().is_some() {
        return Err(not_found());
    }
    if !from.owns(shared.current_owner()) {
        return Err(MoveError::NotChild {
            name: name.to_owned(),
            supervisor: from.name().to_owned(),
        });
    }
    let parts = Parts::of::<A>();
    check_portable(&shared, &parts)?;
    let agent = node
        .agent_of(to_node)
        .ok_or_else(|| MoveError::UnknownNode {
            node: to_node.to_owned(),
        })?;
    let actor = handle.actor_ref().ok_or_else(not_found)?;
    if !shared.try_claim() {
        return Err(MoveError::InProgress {
            name: name.to_owned(),
        });
    }
    let mover = Mover {
        node: node.clone(),
        agent,
        to_node: to_node.to_owned(),
        to_supervisor: to_supervisor.to_owned(),
        from: from.clone(),
        parts,
        mv: MoveKey {
            name: name.to_owned(),
            epoch: shared.epoch + 1,
        },
        started: Instant::now(),
    };
    let out = match mover.precopy(&shared).await {
        Ok(precopied) => mover.hand_over(&actor, precopied).await,
        Err(e) => {
            mover.untrack(&shared);
            mover.abort();
            Err(e)
        }
    };
    shared.release_claim();
    if let Err(e) = &out {
        tracing::warn!(%name, error = %e, "peeper: move aborted");
    }
    out
}

fn check_portable<A: Portable>(shared: &Kept<A>, parts: &Parts) -> Result<(), MoveError> {
    let refuse = |what: String| MoveError::NotPortable {
        name: shared.name().to_owned(),
        what,
    };
    for table in shared.tables.names() {
        if !parts.tables.contains_key(&table) {
            return Err(refuse(format!(
                "table {table:?} is not declared in Portable::parts"
            )));
        }
    }
    Ok(())
}

/// A table copied while the instance ran: its id then, and rows sent.
struct Precopied {
    tables: Vec<(String, TableId)>,
    rows: u64,
    bytes: u64,
}

/// The source side of one move.
struct Mover {
    node: Node,
    agent: ActorRef<Wire>,
    to_node: String,
    to_supervisor: String,
    from: Supervisor,
    parts: Parts,
    mv: MoveKey,
    started: Instant,
}

impl Mover {
    /// Opens the move and copies every declared table while the instance
    /// keeps running; writes made meanwhile are noted for the catch-up.
    async fn precopy<A: Portable>(&self, shared: &Kept<A>) -> Result<Precopied, MoveError> {
        let policy = shared.policy();
        let begin = Begin {
            mv: self.mv.clone(),
            kind: A::KIND.to_owned(),
            version: A::VERSION,
            supervisor: self.to_supervisor.clone(),
            from_node: self.node.name().to_owned(),
            max_restarts: policy.max_restarts,
            restart_window_ms: u64::try_from(policy.within.as_millis()).unwrap_or(u64::MAX),
            capacity: shared.capacity().map(|c| c as u64),
        };
        self.ask(Request::Begin(begin)).await?;
        let mut sources = Vec::new();
        let mut tables = Vec::new();
        for (table, port) in &self.parts.tables {
            // Noting starts before the first read: a write either lands
            // before the read or in the log.
            let Some(id) = port
                .track(&shared.tables, table)
                .map_err(|e| self.encode(e))?
            else {
                continue;
            };
            tables.push((table.clone(), id));
            if let Some(source) = port
                .source(&shared.tables, table)
                .map_err(|e| self.encode(e))?
            {
                sources.push((table.clone(), source));
            }
        }
        let (rows, mut bytes) = self.send_rows(sources, MovePhase::Tables).await?;
        // Rows written during that copy go again, still while the instance
        // runs, until few enough are left for the frozen catch-up.
        for _ in 0..RECOPY_ROUNDS {
            let (changed, sent) = self.recopy(shared, &tables).await?;
            bytes += sent;
            if changed <= RECOPY_ENOUGH {
                break;
            }
        }
        Ok(Precopied {
            tables,
            rows,
            bytes,
        })
    }

    /// Sends the rows written since the last look, with the instance
    /// running; returns how many rows had changed, and the bytes sent.
    async fn recopy<A: Portable>(
        &self,
        shared: &Kept<A>,
        tables: &[(String, TableId)],
    ) -> Result<(u64, u64), MoveError> {
        let mut sources = Vec::new();
        let mut changed = 0;
        for (table, id) in tables {
            let Some(port) = self.parts.tables.get(table) else {
                continue;
            };
            let rotated = port.rotate(&shared.tables, table, *id);
            let Some(d) = rotated.map_err(|e| self.encode(e))? else {
                continue;
            };
            changed += self.send_removed(table, d.removed).await?;
            changed += d.rows.rows();
            sources.push((table.clone(), d.rows));
        }
        let (_, bytes) = self.send_rows(sources, MovePhase::Changes).await?;
        Ok((changed, bytes))
    }

    /// Queues the hand-over in the instance's mailbox and waits for it.
    async fn hand_over<A: Portable>(
        self,
        actor: &ActorRef<Envelope<A>>,
        precopied: Precopied,
    ) -> Result<MoveReport, MoveError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let name = self.mv.name.clone();
        let job: Job<A> = Box::new(move |frozen| {
            Box::pin(async move {
                // `None`: the instance has moved away already; dropping the
                // sender tells the mover.
                let Some(frozen) = frozen else { return };
                let shared = frozen.kept.clone();
                match self.finish(frozen, precopied).await {
                    Ok((report, relay)) => {
                        // Installed before the mover hears of success, so
                        // that the name here reads as moved from then on
                        // (the instance may come straight back).
                        let _ = shared.relay.set(relay);
                        let _ = tx.send(Ok(report));
                    }
                    Err(e) => {
                        self.untrack(&shared);
                        self.abort();
                        let _ = tx.send(Err(e));
                    }
                }
            })
        });
        if actor.send_message(Envelope::plain(Body::Run(job))).is_err() {
            return Err(LookupError::NotFound { name }.into());
        }
        rx.await.unwrap_or(Err(MoveError::InProgress { name }))
    }

    /// Runs inside the frozen loop: sends what changed since the copy, the
    /// snapshot, and hands over.
    async fn finish<A: Portable>(
        &self,
        frozen: Frozen<A>,
        precopied: Precopied,
    ) -> Result<(MoveReport, Box<dyn Relay<A>>), MoveError> {
        let frozen_at = Instant::now();
        let shared = frozen.kept.clone();
        check_portable(&shared, &self.parts)?;
        // Timers stop here and travel; if the move fails they start again.
        let timers = shared.timers.take_all();
        let out = self
            .finish_with(frozen, precopied, &timers, frozen_at)
            .await;
        if out.is_err() {
            shared
                .timers
                .restore(shared.timer_target(), timers, Some(reencode::<A::Info>));
        }
        out
    }

    async fn finish_with<A: Portable>(
        &self,
        frozen: Frozen<A>,
        precopied: Precopied,
        timers: &[Taken<A::Info>],
        frozen_at: Instant,
    ) -> Result<(MoveReport, Box<dyn Relay<A>>), MoveError> {
        let shared = frozen.kept.clone();
        let name = self.mv.name.clone();
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
        let snapshot = snapshot::encode::<A>(&frozen.state, &frozen.dict, travelling, &self.parts)
            .map_err(|what| MoveError::NotPortable {
                name: name.clone(),
                what,
            })?;
        let (rows, bytes) = self.catch_up(&shared, &precopied).await?;
        self.progress(MovePhase::Snapshot, 0, 0, 0);
        for piece in snapshot.chunks(CHUNK_BYTES) {
            self.ask(Request::Snapshot {
                mv: self.mv.clone(),
                piece: piece.to_vec(),
            })
            .await?;
        }
        self.ask(Request::Commit {
            mv: self.mv.clone(),
        })
        .await?;
        // The decision: from here on the target owns the instance, whatever
        // comes of `Go`; a relayed message can only follow it, on the same
        // connection. Its answer says the instance runs there.
        let confirmed = self
            .ask(Request::Go {
                mv: self.mv.clone(),
            })
            .await;
        if let Err(e) = &confirmed {
            tracing::error!(%name, error = %e, "peeper: handed over, but the target did not confirm the start");
        }
        // Dropping a big table takes a while: not while the mailbox waits.
        let tables = shared.tables.take();
        tokio::task::spawn_blocking(move || drop(tables));
        shared.committed.lock().dict = crate::dictionary::Dictionary::default();
        self.from.release_moved(
            &name,
            shared.id(),
            format!("{}/{}", self.to_node, self.to_supervisor),
        );
        let bytes = precopied.bytes + bytes + snapshot.len() as u64;
        let report = MoveReport {
            name: name.clone(),
            to_node: self.to_node.clone(),
            rows: precopied.rows,
            rows_resent: rows,
            bytes,
            frozen_for: frozen_at.elapsed(),
            took: self.started.elapsed(),
            confirmed: confirmed.is_ok(),
        };
        self.progress(MovePhase::Committed, precopied.rows, precopied.rows, bytes);
        tracing::info!(%name, to = %self.to_node, rows = precopied.rows, bytes, "peeper: moved to another node");
        let relay = Forwarder::<A> {
            agent: self.agent.clone(),
            node: self.to_node.clone(),
            name,
            epoch: self.mv.epoch,
            marker: std::marker::PhantomData,
        };
        Ok((report, Box::new(relay)))
    }

    /// Sends, for each declared table, what changed since it was copied; a
    /// table made, cleared or dropped meanwhile goes again whole (or away).
    async fn catch_up<A: Portable>(
        &self,
        shared: &Kept<A>,
        precopied: &Precopied,
    ) -> Result<(u64, u64), MoveError> {
        let mut sources = Vec::new();
        for (table, port) in &self.parts.tables {
            let copied = precopied
                .tables
                .iter()
                .find(|(t, _)| t == table)
                .map(|(_, id)| *id);
            let dirty = port
                .dirty(&shared.tables, table)
                .map_err(|e| self.encode(e))?;
            match (copied, dirty) {
                (Some(id), Some(d)) if d.id == id && !d.cleared => {
                    self.send_removed(table, d.removed).await?;
                    sources.push((table.clone(), d.rows));
                }
                (copied, dirty) => {
                    if copied.is_some() {
                        self.ask(Request::ResetTable {
                            mv: self.mv.clone(),
                            table: table.clone(),
                        })
                        .await?;
                    }
                    if dirty.is_some()
                        && let Some(all) = port
                            .source(&shared.tables, table)
                            .map_err(|e| self.encode(e))?
                    {
                        sources.push((table.clone(), all));
                    }
                }
            }
        }
        self.send_rows(sources, MovePhase::CatchUp).await
    }

    /// Tells the target which keys left `table`; how many.
    async fn send_removed(
        &self,
        table: &str,
        removed: Vec<(Vec<u8>, u32)>,
    ) -> Result<u64, MoveError> {
        let mut keys_sent = 0;
        for (keys, count) in removed {
            keys_sent += u64::from(count);
            self.ask(Request::Remove {
                mv: self.mv.clone(),
                table: table.to_owned(),
                count,
                keys,
            })
            .await?;
        }
        Ok(keys_sent)
    }

    /// Streams rows chunk by chunk, up to WINDOW in flight; rows and bytes sent.
    async fn send_rows(
        &self,
        sources: Vec<(String, Box<dyn RowSource>)>,
        phase: MovePhase,
    ) -> Result<(u64, u64), MoveError> {
        let total: u64 = sources.iter().map(|(_, s)| s.rows()).sum();
        let (mut rows, mut bytes) = (0_u64, 0_u64);
        self.progress(phase, 0, total, 0);
        // Up to WINDOW chunks in flight: enough to keep the connection busy,
        // few enough that memory stays bounded on both sides.
        let mut in_flight = futures::stream::FuturesOrdered::new();
        for (table, mut source) in sources {
            while let Some((chunk, count)) =
                source.next_chunk(CHUNK_BYTES).map_err(|e| self.encode(e))?
            {
                if in_flight.len() >= WINDOW
                    && let Some(done) = in_flight.next().await
                {
                    let (n, b) = done?;
                    rows += n;
                    bytes += b;
                    self.progress(phase, rows, total, bytes);
                }
                let sent = (u64::from(count), chunk.len() as u64);
                let ask = self.ask(Request::Rows {
                    mv: self.mv.clone(),
                    table: table.clone(),
                    count,
                    rows: chunk,
                });
                in_flight.push_back(async move { ask.await.map(|()| sent) });
            }
        }
        while let Some(done) = in_flight.next().await {
            let (n, b) = done?;
            rows += n;
            bytes += b;
            self.progress(phase, rows, total, bytes);
        }
        Ok((rows, bytes))
    }

    /// Stops noting writes (after a failed move).
    fn untrack<A: Portable>(&self, shared: &Kept<A>) {
        for (table, port) in &self.parts.tables {
            let _ = port.dirty(&shared.tables, table);
        }
    }

    fn encode(&self, reason: String) -> MoveError {
        MoveError::Encode {
            name: self.mv.name.clone(),
            reason,
        }
    }

    fn progress(&self, phase: MovePhase, rows_done: u64, rows_total: u64, bytes: u64) {
        self.node.emit(MoveProgress {
            name: self.mv.name.clone(),
            to_node: self.to_node.clone(),
            phase,
            rows_done,
            rows_total,
            bytes_done: bytes,
        });
    }

    fn abort(&self) {
        self.progress(MovePhase::Aborted, 0, 0, 0);
        if let Ok(bytes) = wire::encode(&Request::Abort {
            mv: self.mv.clone(),
        }) {
            // Best effort: a target that is gone drops its slot with the session.
            let _ = self.agent.send_message(Wire::Cast(bytes));
        }
    }

    /// One step of the move: a request the target must answer `Done`.
    async fn ask(&self, req: Request) -> Result<(), MoveError> {
        let name = &self.mv.name;
        let lost = |reason: String| MoveError::Lost {
            name: name.clone(),
            node: self.to_node.clone(),
            reason,
        };
        let bytes = wire::encode(&req).map_err(|e| self.encode(e))?;
        let timeout = self.node.step_timeout();
        let lost_peer = self.node.lost(&self.to_node);
        let answer = tokio::select! {
            answer = self.agent.call(|port| Wire::Call(bytes, port), Some(timeout)) => answer,
            () = lost_peer => return Err(lost("the node was declared lost".to_owned())),
        };
        let reply = match answer {
            Ok(CallResult::Success(reply)) => reply,
            Ok(CallResult::Timeout) => return Err(lost(format!("no answer within {timeout:?}"))),
            Ok(CallResult::SenderError) => return Err(lost("connection closed".to_owned())),
            Err(e) => return Err(lost(e.to_string())),
        };
        match wire::decode::<Response>(&reply).map_err(lost)? {
            Response::Done => Ok(()),
            Response::Refused(reason) => Err(MoveError::Refused {
                name: name.clone(),
                node: self.to_node.clone(),
                reason,
            }),
            other => Err(lost(format!("unexpected answer {other:?}"))),
        }
    }
}

/// Clones a message through its encoding: an interval timer that travelled
/// needs copies of its message, and `Portable` does not ask for `Clone`.
fn reencode<I: serde::Serialize + serde::de::DeserializeOwned>(msg: &I) -> Option<I> {
    let bytes = postcard::to_stdvec(msg).ok()?;
    postcard::from_bytes(&bytes).ok()
}

/// Relays the messages of an instance that moved away.
struct Forwarder<A> {
    agent: ActorRef<Wire>,
    node: String,
    name: String,
    /// The epoch of the instance it relays to: the target, not the name.
    epoch: u64,
    marker: std::marker::PhantomData<fn() -> A>,
}

impl<A: Portable> Forwarder<A> {
    fn send_one_way(&self, body: Result<Vec<u8>, postcard::Error>, way: OneWay) {
        let Ok(body) = body else {
            tracing::error!(name = %self.name, "peeper: could not encode a relayed message");
            return;
        };
        let (name, kind, epoch) = (self.name.clone(), A::KIND.to_owned(), Some(self.epoch));
        let req = if way == OneWay::Info {
            Request::Info {
                name,
                kind,
                epoch,
                body,
            }
        } else {
            Request::Cast {
                name,
                kind,
                epoch,
                body,
            }
        };
        let sent = wire::encode(&req).map(|bytes| self.agent.send_message(Wire::Cast(bytes)));
        if !matches!(sent, Ok(Ok(()))) {
            tracing::error!(name = %self.name, node = %self.node, "peeper: could not relay a message");
        }
    }
}

impl<A: Portable> Relay<A> for Forwarder<A> {
    fn node(&self) -> &str {
        &self.node
    }

    fn relay(&self, letter: Body<A>) {
        match letter {
            Body::Call(msg, reply) => {
                let name = self.name.clone();
                let unreachable = |reason: String| CallError::Unreachable {
                    name: name.clone(),
                    reason,
                };
                let req = postcard::to_stdvec(&msg).map(|body| Request::Call {
                    name: name.clone(),
                    kind: A::KIND.to_owned(),
                    epoch: Some(self.epoch),
                    body,
                });
                let Ok(Ok(bytes)) = req.map(|r| wire::encode(&r)) else {
                    let _ = reply.send(Err(unreachable("could not encode the call".into())));
                    return;
                };
                let (tx, rx) = tokio::sync::oneshot::channel();
                // Queued now, in mailbox order; only the wait is spawned.
                if self
                    .agent
                    .send_message(Wire::Call(bytes, tx.into()))
                    .is_err()
                {
                    let _ = reply.send(Err(unreachable(format!("node {} is gone", self.node))));
                    return;
                }
                tokio::spawn(async move {
                    let out = relayed_reply::<A>(&name, rx).await;
                    let _ = reply.send(out);
                });
            }
            Body::Cast(msg) => self.send_one_way(postcard::to_stdvec(&msg), OneWay::Cast),
            Body::Info(msg) => self.send_one_way(postcard::to_stdvec(&msg), OneWay::Info),
            Body::Wake | Body::Run(_) => {}
        }
    }
}

async fn relayed_reply<A: Portable>(
    name: &str,
    rx: tokio::sync::oneshot::Receiver<Vec<u8>>,
) -> Result<A::Reply, CallError> {
    let unreachable = |reason: String| CallError::Unreachable {
        name: name.to_owned(),
        reason,
    };
    let bytes = match tokio::time::timeout(crate::cluster::wire::RELAY_WAIT, rx).await {
        Err(_) => {
            return Err(CallError::Timeout {
                name: name.to_owned(),
                timeout: crate::cluster::wire::RELAY_WAIT,
            });
        }
        Ok(Err(_)) => return Err(unreachable("connection closed".into())),
        Ok(Ok(bytes)) => bytes,
    };
    match wire::decode::<Response>(&bytes).map_err(unreachable)? {
        Response::Called { reply: Ok(r), .. } => {
            postcard::from_bytes(&r).map_err(|e| unreachable(e.to_string()))
        }
        Response::Called { reply: Err(f), .. } => Err(call_error(name, f)),
        other => Err(unreachable(format!("unexpected answer {other:?}"))),
    }
}

/// The target side of one move: a slot filled by the source's requests.
pub(crate) struct Stage<A: Portable> {
    begin: Begin,
    behaviour: Option<A>,
    prepared: Option<Arc<Kept<A>>>,
    timers: Vec<Taken<A::Info>>,
    from: String,
    parts: Parts,
    tables: TableSet,
    sinks: HashMap<String, Box<dyn RowSink>>,
    snapshot: Vec<u8>,
}

impl<A: Portable> Stage<A> {
    pub(crate) fn open(begin: Begin, behaviour: A, from: String) -> Result<Self, String> {
        if !A::accepts(begin.version) {
            return Err(format!(
                "state version {} of {:?} is not accepted here (this node writes {})",
                begin.version,
                A::KIND,
                A::VERSION
            ));
        }
        match Supervisor::lookup(&begin.supervisor) {
            Some(s) if s.is_running() => {}
            _ => return Err(format!("no running supervisor {:?}", begin.supervisor)),
        }
        if registry::get(&begin.mv.name).is_some_and(|i| i.moved_to().is_none()) {
            return Err(format!("the name {:?} is taken here", begin.mv.name));
        }
        Ok(Stage {
            begin,
            behaviour: Some(behaviour),
            prepared: None,
            timers: Vec::new(),
            from,
            parts: Parts::of::<A>(),
            tables: TableSet::default(),
            sinks: HashMap::new(),
            snapshot: Vec::new(),
        })
    }
}

impl<A: Portable> Stage<A> {
    /// The sink filling `table`, made on its first rows.
    fn sink(&mut self, table: &str) -> Result<&mut Box<dyn RowSink>, String> {
        if !self.sinks.contains_key(table) {
            let port = self
                .parts
                .tables
                .get(table)
                .ok_or_else(|| format!("table {table:?} is not declared here"))?;
            let sink = port.sink(&self.tables, table)?;
            self.sinks.insert(table.to_owned(), sink);
        }
        self.sinks
            .get_mut(table)
            .ok_or_else(|| format!("table {table:?} vanished"))
    }
}

impl<A: Portable> Staging for Stage<A> {
    fn sender(&self) -> &str {
        &self.from
    }

    fn reset(&mut self, table: &str) {
        self.sinks.remove(table);
        self.tables.drop_table(table);
    }

    fn remove(&mut self, table: &str, bytes: &[u8], count: u32) -> Result<(), String> {
        self.sink(table)?.remove(bytes, count)
    }

    fn rows(&mut self, table: &str, bytes: &[u8], count: u32) -> Result<(), String> {
        self.sink(table)?.absorb(bytes, count)
    }

    fn piece(&mut self, bytes: &[u8]) -> Result<(), String> {
        let len = (self.snapshot.len() + bytes.len()) as u64;
        if len > MAX_SNAPSHOT {
            return Err(format!("snapshot over the limit of {MAX_SNAPSHOT} bytes"));
        }
        self.snapshot.extend_from_slice(bytes);
        Ok(())
    }

    fn prepare(&mut self) -> Result<(), String> {
        if self.prepared.is_some() {
            return Ok(());
        }
        let decoded =
            snapshot::decode::<A>(&self.snapshot, &self.parts).map_err(|e| e.to_string())?;
        let (state, dict) = (decoded.state, decoded.dict);
        self.timers = decoded
            .timers
            .into_iter()
            .map(|(t, msg)| {
                Taken::arrived(
                    t.id,
                    Duration::from_micros(t.remaining_us),
                    t.period_us.map(Duration::from_micros),
                    msg,
                )
            })
            .collect();
        let behaviour = self
            .behaviour
            .take()
            .ok_or_else(|| "the move was already prepared".to_owned())?;
        let begin = &self.begin;
        let policy = RestartPolicy::new(
            begin.max_restarts,
            Duration::from_millis(begin.restart_window_ms),
        );
        let committed = Committed {
            state: Arc::new(state),
            dict,
        };
        let shared = Arc::new(Kept::new(
            begin.mv.name.clone(),
            behaviour,
            committed,
            std::mem::take(&mut self.tables),
            policy,
            begin.mv.epoch,
            begin
                .capacity
                .map(|c| usize::try_from(c).unwrap_or(usize::MAX)),
        ));
        relays::release_relay(shared.name());
        if !registry::reserve(shared.name(), shared.id()) {
            return Err(format!("the name {:?} is taken here", begin.mv.name));
        }
        self.snapshot = Vec::new();
        self.sinks.clear();
        self.prepared = Some(shared);
        Ok(())
    }

    fn start(mut self: Box<Self>) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            let shared = self
                .prepared
                .take()
                .ok_or_else(|| "the move was not prepared".to_owned())?;
            let supervisor = Supervisor::lookup(&self.begin.supervisor)
                .ok_or_else(|| format!("no running supervisor {:?}", self.begin.supervisor))?;
            let from = std::mem::take(&mut self.from);
            let started = supervisor
                .adopt(shared.clone(), Start::Moved { from })
                .await;
            if started.is_err() {
                registry::release(shared.name(), shared.id());
            } else {
                let timers = std::mem::take(&mut self.timers);
                shared
                    .timers
                    .restore(shared.timer_target(), timers, Some(reencode::<A::Info>));
            }
            started.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

impl<A: Portable> Drop for Stage<A> {
    fn drop(&mut self) {
        // A slot dropped after `Commit` but without `Go` frees the name.
        if let Some(shared) = self.prepared.take() {
            registry::release(shared.name(), shared.id());
        }
    }
}
