//! One running instance: the kept parts, and the loop that runs callbacks and
//! survives their crashes.
//!
//! # The parts, by name
//!
//! - `Kept` (`instance/kept.rs`): what outlives every worker: the
//!   behaviour, the last `Committed` state and dictionary, the tables, the
//!   timers, the `Inbox` (`instance/inbox.rs`: the bound of a bounded one,
//!   and the messages a stopped actor left), the restart window, the owner
//!   (its supervisor).
//!   Every [`Handle`](crate::Handle), the supervisor and the registry point
//!   to it.
//! - `Worker` (`instance/worker.rs`): the ractor actor that runs the callbacks; its
//!   mailbox is the instance's inbox. A worker crash is not an actor crash.
//!   A new or arriving instance gets its first worker only when it needs
//!   one (`instance/dormant.rs`); a move freezes one that has none on the
//!   mover's task (`instance/frozen.rs`).
//! - [`Envelope`]: what the worker's mailbox carries: a call, a cast, an info
//!   message, a wake-up, or a job to run in the loop (the seam a move to
//!   another node uses).
//! - `AnyInstance` (`instance/any.rs`): the kept parts with the actor type erased, as
//!   supervisors and the registry hold them.
//!
//! # Who owns what
//!
//! - **state and dictionary**: the last committed `Arc<State>` and
//!   [`Dictionary`](crate::Dictionary) are in `Kept::committed`. Whoever
//!   holds the instance's run token (`instance/run.rs`) runs a callback and
//!   commits it: the worker, or a caller that found the instance idle (see
//!   below). The worker keeps its own copy, and reloads it when a caller
//!   committed since it last held the token.
//! - **tables and timers** live in `Kept` directly; callbacks reach them
//!   through the [`Context`](crate::Context).
//! - **the inbox** is the ractor mailbox. The actor itself never stops on a
//!   crash: a user callback runs inside `catch_unwind`, raced against the
//!   instance's kill signal (`instance/guard.rs`), so a panic, an error or a
//!   kill ends only that callback. The message that crashed is not retried;
//!   everything queued behind it stays queued.
//!
//! # A stop from outside loses nothing
//!
//! If ractor code stops or kills the worker's actor, ractor drops the
//! messages still in its mailbox. Every envelope a handle sends carries the
//! instance's inbox, and one dropped unhandled puts its message back there
//! (in mailbox order); a send refused by the dying actor goes there too, after
//! them. The supervisor then spawns a new worker over the same `Kept`, which
//! queues those messages in its own mailbox, first, before it becomes
//! reachable. So a cast that returned `Ok` is handled, and a call is answered,
//! whatever happens to the actor in between; state, dictionary, tables,
//! timers, name and handles survive as they do a crash. Envelopes built by
//! ractor code ([`Envelope::cast`] and friends) carry no inbox and are lost
//! like any ractor message.
//!
//! # One message
//!
//! 1. A pending kill is applied first: the worker restarts (`init` with
//!    [`Start::Restored`](crate::Start::Restored)) before the message is
//!    handled. Kills that arrive while one is pending coalesce into it.
//! 2. The callback gets a [`StateMut`](crate::StateMut) over the committed
//!    `Arc` and the context's working copy of the dictionary.
//! 3. On completion both are committed (nothing is copied if nothing changed)
//!    and then the reply is sent. On a crash both are dropped, the caller gets
//!    [`CallError::Crashed`](crate::CallError::Crashed), the crash is counted
//!    against the [`RestartPolicy`](crate::RestartPolicy), and `init` runs with
//!    [`Start::Restored`](crate::Start::Restored).
//!
//! The worker takes the run token for every message before it opens it.
//!
//! # Calls run by their caller
//!
//! A call to an idle instance (started, nothing queued, no callback running,
//! no kill or crash pending, not moving, stopping or durable) runs on the
//! caller's task: the caller takes the run token, runs `handle_call` over the
//! committed state under the same guard, and commits. No message is sent.
//! What a caller cannot finish is left to the worker (`instance/direct.rs`):
//! a crash is answered at once and restored from by the worker before
//! anything else; a callback that awaits is handed over with the token, and
//! the worker finishes it before anything else. A message counts as queued
//! until the worker holds the token for it, so a call never overtakes what
//! its sender sent before it through a handle.

mod any;
pub(crate) mod direct;
mod dormant;
mod envelope;
mod frozen;
mod guard;
mod inbox;
mod journal;
mod kept;
mod run;
mod worker;

pub(crate) use any::AnyInstance;
pub(crate) use direct::Direct;
pub use envelope::Envelope;
#[cfg_attr(not(feature = "cluster"), allow(unused_imports))]
pub(crate) use envelope::{Body, Frozen, Job};
#[cfg_attr(not(feature = "cluster"), allow(unused_imports))]
pub(crate) use inbox::Refused;
#[cfg(feature = "durable")]
pub(crate) use journal::Journal;
pub(crate) use journal::one_shot_clone;
#[cfg(all(feature = "durable", feature = "cluster"))]
pub(crate) use journal::record_committed;
#[cfg_attr(not(feature = "cluster"), allow(unused_imports))]
pub(crate) use kept::{Committed, Kept, Owner, Relay};
pub(crate) use worker::Worker;

pub use crate::id::InstanceId;
