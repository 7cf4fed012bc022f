//! The fenced move of a live instance to a supervisor on another node.
//!
//! One side decides: the **source**. The target runs the instance only once
//! it knows the source decided to hand over, or that the source is gone for
//! certain while it could not have decided otherwise. What "gone for
//! certain" means is in [`peers`](crate::cluster::peers): its address
//! refuses connections, or it answers as a new process. Silence (a frozen
//! process, a partition) is never taken for death.
//!
//! # Steps
//! Every step is one `Step` (in `cluster/wire.rs`) sent by the source and
//! applied by one function at the target (`Stages::apply`), in the order
//! sent:
//!
//! 1. `Begin`: the target checks the kind, the state version, the
//!    supervisor and the name, and opens an empty slot.
//! 2. `Rows`, `Remove`, `ResetTable`: the declared tables, in chunks of about
//!    1 MiB, a few in flight, while the instance keeps running; rows written
//!    meanwhile go again for a few rounds.
//! 3. The source **freezes** the instance: the rest of the move runs inside
//!    the instance's own loop, so it handles nothing more and later messages
//!    wait in its mailbox, in order. It sends the rows changed since, its
//!    timers and its state and dictionary (`Snapshot`).
//! 4. `Commit`: the target decodes everything, builds the instance, reserves
//!    its name, and answers **ready**. It does not start it.
//! 5. The source decides and writes its decision down, then sends `Go` (the
//!    target starts the instance) or `Abort` (it drops the slot).
//!
//! # The source, as a state machine
//! | state | event | next |
//! |---|---|---|
//! | copying (running) | any failure, target lost | aborted: `Abort` sent, the instance runs on |
//! | frozen, sending | any failure, target lost | aborted, timers back, the loop goes on |
//! | committing | target answered ready | **go** |
//! | committing | target refused | aborted |
//! | committing | no answer, connection closed | in doubt |
//! | in doubt | target gone for certain | aborted (its copy died with it) |
//! | in doubt | target back: asked `Status` → ready or started | go |
//! | in doubt | target back: asked `Status` → absent | aborted |
//! | in doubt | target silent | stays in doubt, **frozen**: messages queue |
//! | committing, in doubt | the target asks `Outcome` | go (the target is ready) |
//! | go | target confirms the start | relays every message, never handles one again |
//! | go | `Go` unanswered, target back: started, or ready (`Go` again) | relays |
//! | go | `Go` unanswered, target gone for certain, or it does not run it | aborted: the instance runs on here, as it froze |
//! | go | `Go` unanswered, target silent | stays frozen |
//!
//! The decision is a compare-and-set on a record kept until the target
//! confirms: whichever of "the target answered", "the target asked" and "the
//! target is gone" comes first decides, and the others read it.
//!
//! # The target, as a state machine
//! | state | event | next |
//! |---|---|---|
//! | receiving | a step fails | dropped (answered refused) |
//! | receiving | `Abort`, or the source's connection closes | dropped |
//! | receiving | `Commit` succeeds | ready |
//! | ready | `Go` | **started** |
//! | ready | `Abort` | dropped |
//! | ready | the source's connection closes | resolving |
//! | resolving | source back: asked `Outcome` → go | started |
//! | resolving | source back: asked `Outcome` → aborted | dropped |
//! | resolving | source gone for certain, or answers as a new process | started |
//! | resolving | source silent | stays resolving: the name is reserved, the instance not started |
//! | started | `Go` again | answered done |
//!
//! A session that closes is reported to the agent through its mailbox, so a
//! `Go` received before the connection closed is always applied first.
//!
//! # What happens in each failure window
//! - The target dies or falls silent before it is ready: the move fails
//!   ([`MoveError::Lost`](crate::cluster::MoveError::Lost)), the instance runs
//!   on at the source with everything it had.
//! - The target dies between `Commit` and its answer: the source probes it,
//!   finds it gone, and runs on. If the target is only silent, the instance
//!   stays frozen at the source until the target answers (the move then
//!   completes or aborts) or is gone for certain (it runs on at the source):
//!   never two copies, and nothing acknowledged is lost.
//! - The source dies after the target is ready and before `Go` arrived: the
//!   target finds it gone and starts the instance, with the state, tables,
//!   dictionary and timers it had when it froze (the messages that were still
//!   queued at the source are lost with that process; none of them had been
//!   handled). If the source is only silent, the target waits; the source,
//!   when it comes back, decides go on the target's question.
//! - The source dies after `Go` left: the target runs the instance.
//! - The target dies after it answered ready and before it confirmed the
//!   start: the source, frozen meanwhile, finds it gone and the instance runs
//!   on at the source with the state it froze with (if the target had
//!   started it, what it handled there is lost with the target). A silent
//!   target keeps the source frozen until it answers.
//! - A caller's node dies: its calls in flight are handled at most once.
//!
//! # Durable instances (feature `durable`)
//! Both nodes keep a store (`NodeConfig::durable`); a target without one
//! refuses at `Begin`. Three writes are added, and one rule changes:
//!
//! - before the freeze, new durable casts are held back, and the freeze is
//!   queued only once every cast already stored is queued: each is handled
//!   before the freeze and its effect travels in the snapshot. The held
//!   casts go in if the move fails and get `CastDurableError::Moved` if it
//!   succeeds, with nothing stored at the source (a stored cast relayed as
//!   a plain message would be forgotten with the source's records);
//! - frozen, before `Commit` can leave, the source's store **notes** the
//!   move (the record says "moving to T", timers included), fsync'd;
//! - at `Go`, the target stores the instance whole before it answers;
//! - once the target confirmed, the source's store forgets the instance;
//!   after an abort, the note is taken off and the instance runs on.
//! - A durable target gone for certain after `Go` left may have stored the
//!   instance, and a restart there brings it back: the source does not run
//!   it on, but stays frozen until the node in the target's place answers
//!   `Holds` (runs or stores it: the move happened; holds nothing: it runs
//!   on at the source).
//!
//! | the process that dies… | when | after restarts |
//! |---|---|---|
//! | source | before the note is stored | it runs at the source, from its last stored change; the target drops the move |
//! | source | after the note, before `Go` reached the target | the target drops a move still receiving, or starts a ready one (source gone); the source, restarted, starts nothing noted as moving until the target says: runs or stored → forgotten at the source, nothing → it runs at the source |
//! | source | after `Go` | the target runs it; the source's restart forgets it |
//! | target | before `Go` | nothing was stored there; the source runs on (once the node in the target's place says it holds nothing, if `Go` had left) |
//! | target | after storing it, before answering `Go` | its restart brings it back; the source stays frozen until then, then relays; a later restart of the source forgets it |
//! | target | after answering `Go` | its restart brings it back; the source forgot it |
//!
//! A node restarted with instances noted as moving asks their targets every
//! heartbeat (`Durable::in_doubt` lists them). Until the target answers,
//! the instance runs nowhere: never two copies. A target that moved the
//! instance on answers from its forwarding note, which lasts 5 minutes;
//! a source that stays down longer than that, while the instance moved on
//! and away again, could start a second copy.
//!
//! # After the move
//! The source keeps a relay for the messages already queued and those sent
//! through handles held there; once its mailbox is drained, the worker stops
//! and the relay sends straight to where the instance went, by name. The
//! name is freed here, and a forwarding note, kept a few minutes, tells
//! late callers and casts where the instance went (`handoff/relay.rs`).

use crate::portable::reencode;
use std::time::Duration;

mod commit;
mod copy;
mod data;
mod decisions;
mod durable;
pub(crate) mod relay;
mod source;
mod stage;
mod steps;
mod target;

pub(crate) use decisions::Decisions;
#[cfg(feature = "durable")]
pub(crate) use durable::settle_in_doubt;
pub(crate) use source::move_out;
pub(crate) use stage::{Stage, StageError};
pub(crate) use target::{Held, Stages, Staging};
/// Where a move stands, as reported to [`Node::subscribe_moves`](crate::cluster::Node::subscribe_moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MovePhase {
    /// Table rows are streaming while the instance keeps running.
    Tables,
    /// Rows written during that copy are streaming, the instance still
    /// running.
    Changes,
    /// The instance is frozen; rows written during the copy are streaming.
    CatchUp,
    /// The state and dictionary are streaming.
    Snapshot,
    /// The target took over.
    Committed,
    /// The move failed; the instance runs on at the source.
    Aborted,
}

/// Progress of one move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveProgress {
    /// The instance moving.
    pub name: String,
    /// The node it moves to.
    pub to_node: String,
    /// Where the move stands.
    pub phase: MovePhase,
    /// Table rows sent so far.
    pub rows_done: u64,
    /// Table rows to send in all.
    pub rows_total: u64,
    /// Encoded bytes sent so far.
    pub bytes_done: u64,
}

/// What a finished move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveReport {
    /// The instance moved.
    pub name: String,
    /// The node it moved to.
    pub to_node: String,
    /// Table rows copied while the instance ran.
    pub rows: u64,
    /// Rows sent again because they were written during the copy.
    pub rows_resent: u64,
    /// Encoded bytes sent (tables and snapshot).
    pub bytes: u64,
    /// How long the instance handled no message: from the freeze to the
    /// hand-over. It does not grow with the tables, only with what was
    /// written to them during the copy and with the state.
    pub frozen_for: Duration,
    /// How long the whole move took.
    pub took: Duration,
    /// Whether the target confirmed that the instance runs there: always
    /// `true`, as a move returns only once the target confirmed (a target
    /// lost before that makes the move fail, and the instance runs on at
    /// the source).
    pub confirmed: bool,
}

/// The largest snapshot (state and dictionary, encoded) a node accepts.
pub(crate) const MAX_SNAPSHOT: u64 = 1 << 30;

/// Refuses an instance holding a table its kind does not declare.
fn check_portable<A: crate::cluster::Portable>(
    kept: &crate::instance::Kept<A>,
    parts: &crate::cluster::Parts,
) -> Result<(), crate::cluster::MoveError> {
    for table in kept.tables.names() {
        if !parts.tables.contains_key(&table) {
            return Err(crate::cluster::MoveError::NotPortable {
                name: kept.name().to_owned(),
                what: format!("table {table:?} is not declared in Portable::parts"),
            });
        }
    }
    Ok(())
}
