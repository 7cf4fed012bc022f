//! Durable instances (feature `durable`): state, dictionary, tables,
//! durable messages and timers that survive the whole process dying, on an
//! embedded store.
//!
//! A kind opts in by being [`Portable`] (the same declaration that lets it
//! move between nodes: a serde state with a version, and the dictionary
//! entries and tables that go with it). Instances of it started through a
//! [`Durable`] are written to its store after every callback that changed
//! something; other instances, and every instance of a program built
//! without the feature, pay nothing.
//!
//! ```
//! use peeper::durable::Durable;
//! use peeper::portable::{Parts, Portable};
//! use peeper::{Actor, BoxError, Context, StateMut, Supervisor};
//!
//! struct Counter;
//!
//! impl Actor for Counter {
//!     type State = u64;
//!     type Call = u64;
//!     type Reply = u64;
//!     type Cast = u64;
//!     type Info = ();
//!
//!     async fn handle_call(&self, n: u64, s: &mut StateMut<u64>, _: &mut Context<Self>)
//!         -> Result<u64, BoxError> {
//!         **s += n;
//!         Ok(**s)
//!     }
//! }
//!
//! impl Portable for Counter {
//!     const KIND: &'static str = "counter";
//!     const VERSION: u32 = 1;
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let dir = std::env::temp_dir().join(format!("peeper-durable-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("counters.redb");
//! {
//!     let durable = Durable::open(&path).unwrap();
//!     durable.register(|| Counter);
//!     let sup = durable.supervisor("counters").await.unwrap();
//!     let c = durable.start_child(&sup, "c-doc", Counter, 0).await.unwrap();
//!     // The reply comes once the change is on disk.
//!     assert_eq!(c.call(5).await, Ok(5));
//!     sup.stop().await;
//! }
//! // Later, or in the next run of the program: the instance is back.
//! let durable = Durable::open(&path).unwrap();
//! durable.register(|| Counter);
//! let sup = durable.supervisor("counters").await.unwrap();
//! let c = peeper::lookup::<Counter>("c-doc").unwrap();
//! assert_eq!(c.call(1).await, Ok(6));
//! # sup.stop().await;
//! # drop(durable);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # }
//! ```
//!
//! # What is stored, and when
//!
//! - After each callback that completed: the state (whole) if it changed,
//!   with the timers and the supervisor's name; each declared dictionary
//!   entry that changed or went; each row of a declared table written since
//!   the last callback (never the whole table). Undeclared entries and
//!   tables are not stored.
//! - A call's reply is held until its change is stored
//!   ([`Durability::Immediate`], the default), so no acknowledged change is
//!   lost. The loop does not wait meanwhile: the next message is handled,
//!   and its change goes in the same transaction or a later one.
//! - Group commit: one writer thread takes every change waiting when a
//!   transaction begins, from every instance of the store, and commits them
//!   in one transaction with one fsync.
//! - [`Handle::cast_durable`](crate::Handle::cast_durable) returns once the
//!   message is stored; removing it and storing the change it caused are
//!   one transaction, so it is handled exactly once across a kill.
//! - A write that fails leaves the instance running in memory; the caller
//!   whose change it was gets [`CallError::NotDurable`](crate::CallError::NotDurable),
//!   the supervisor sees [`SupervisorEvent::NotStored`](crate::SupervisorEvent::NotStored),
//!   and the next change stores the instance whole.
//!
//! # Failure windows
//!
//! | the process dies… | after a restart on the same store |
//! |---|---|
//! | during a callback | the state as of the last stored change; the message being handled is handled again if it was a durable cast, lost if it was a plain cast or a call (its caller got no reply) |
//! | after a callback, before its change is stored | as above: the change is not there, and no reply to it had left |
//! | after the change is stored, before the reply left | the change is there; the caller got no reply |
//! | with durable casts stored and not yet handled | each is handled once, in order, before anything new |
//! | with a one-shot timer fired and its message not yet handled | the timer is still stored and fires again at once; its message is handled once (a one-shot timer stays stored until the change its message made is) |
//! | with an interval timer's firing queued | the timer goes on at its period; that firing is not repeated |
//!
//! With [`Durability::Batched`], replies do not wait: up to the batch
//! interval of acknowledged changes may be lost on a `kill -9`.
//!
//! # Between nodes
//!
//! With the `cluster` feature, a durable instance moves to a node whose
//! `NodeConfig::durable` holds a store: the source's store notes the move
//! before the target can start it, the target stores the instance before it
//! confirms, and the source's store forgets it after. A process killed at
//! any step comes back with the instance on exactly one node; the
//! `cluster::handoff` module docs give every window. Instances a restart
//! found noted as moving wait, not started, until their target answers
//! ([`Durable::in_doubt`] lists them).

mod cast;
mod error;
mod gate;
mod journal;
mod moves;
mod options;
mod record;
mod recovery;
mod redb_store;
mod store;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

pub use error::{CastDurableError, RecoverError};
pub(crate) use gate::CastGate;
pub use options::{Durability, DurableOptions};
pub use redb_store::RedbStore;
pub use store::{Store, StoreError, StoredInstance, StoredRows, Write};

use crate::error::StartError;
use crate::handle::Handle;
use crate::instance::Kept;
use crate::portable::{Parts, Portable};
use crate::supervisor::{StartOptions, Supervisor};
use journal::InstanceJournal;
use recovery::{Kind, KindOf};
use writer::Writer;

pub(crate) struct Inner {
    store: Arc<dyn Store>,
    writer: Writer,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    durability: Durability,
    kinds: Mutex<HashMap<String, Arc<dyn Kind>>>,
    /// Instances a restart found noted as moving to another node: not
    /// started until that node says whether it holds them.
    in_doubt: Mutex<HashMap<String, InDoubt>>,
}

/// An instance found noted as moving, with what it takes to start it here.
struct InDoubt {
    stored: StoredInstance,
    record: record::Record,
}

impl Drop for Inner {
    /// The store is let go (its file free for another holder) once what
    /// was sent before is stored; instances still running get
    /// [`StoreError::Closed`] for their later changes.
    fn drop(&mut self) {
        self.writer.close();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

/// A durable store, with its writer and the kinds it can bring back. Cheap
/// to clone; clones share the store, which closes when the last is dropped.
/// That drop waits for the writer to store what it was sent before (one
/// commit, or up to the interval of [`Durability::Batched`]): in async code
/// where that matters, drop it through `tokio::task::spawn_blocking`.
#[derive(Clone)]
pub struct Durable {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable")
            .field("durability", &self.inner.durability)
            .finish_non_exhaustive()
    }
}

impl Durable {
    /// Opens (or creates) the redb store at `path`, with
    /// [`Durability::Immediate`].
    ///
    /// # Errors
    /// [`StoreError::Locked`] if another process holds it,
    /// [`StoreError::Corrupt`] if it is damaged.
    pub fn open(path: impl AsRef<Path>) -> Result<Durable, StoreError> {
        DurableOptions::default().open(path)
    }

    /// Options to open a store with.
    pub fn options() -> DurableOptions {
        DurableOptions::default()
    }

    /// The durability the store was opened with.
    pub fn durability(&self) -> Durability {
        self.inner.durability
    }

    /// Registers kind `A`, with `make` to build its behaviour when one of
    /// its instances is brought back.
    pub fn register<A: Portable>(&self, make: impl Fn() -> A + Send + Sync + 'static) -> &Self {
        let kind = KindOf::<A> {
            make: Box::new(make),
            parts: Arc::new(Parts::of::<A>()),
        };
        self.inner
            .kinds
            .lock()
            .insert(A::KIND.to_owned(), Arc::new(kind));
        self
    }

    /// The parts of kind `A`: the registered kind's, or built now.
    fn parts_of<A: Portable>(&self) -> Arc<Parts> {
        let registered = self.inner.kinds.lock().get(A::KIND).cloned();
        registered
            .and_then(|kind| kind.parts_for(std::any::TypeId::of::<A>()))
            .unwrap_or_else(|| Arc::new(Parts::of::<A>()))
    }

    /// Starts the supervisor `name` and brings back every durable instance
    /// the store holds under it, with `init` told [`Start::Recovered`](crate::Start::Recovered),
    /// before it returns.
    ///
    /// # Errors
    /// [`RecoverError`]; the supervisor is stopped again then, so that no
    /// instance runs without the others.
    pub async fn supervisor(&self, name: impl Into<String>) -> Result<Supervisor, RecoverError> {
        let name = name.into();
        let sup = Supervisor::start(name).await.map_err(RecoverError::Start)?;
        match self.recover(&sup).await {
            Ok(()) => Ok(sup),
            Err(e) => {
                sup.stop().await;
                Err(e)
            }
        }
    }

    async fn recover(&self, sup: &Supervisor) -> Result<(), RecoverError> {
        let store = self.inner.store.clone();
        let all = tokio::task::spawn_blocking(move || store.load())
            .await
            .map_err(|e| StoreError::Read(e.to_string()))??;
        for (stored, record) in recovery::records_of(all, sup.name())? {
            if let Some(to) = &record.moving {
                tracing::info!(name = %stored.name, %to, "peeper: in doubt after a move, asking its target");
                self.inner
                    .in_doubt
                    .lock()
                    .insert(stored.name.clone(), InDoubt { stored, record });
                continue;
            }
            let kind = self.inner.kinds.lock().get(&record.kind).cloned();
            let Some(kind) = kind else {
                return Err(RecoverError::UnknownKind {
                    name: stored.name,
                    kind: record.kind,
                });
            };
            kind.recover(self, sup, stored, record, false).await?;
        }
        Ok(())
    }

    /// Starts a durable instance of `behaviour` named `name` under `sup`, as
    /// [`Supervisor::start_child`] does, and returns once its first state is
    /// stored (as the durability asks). Whatever the store held under that
    /// name before is replaced.
    ///
    /// # Errors
    /// As [`Supervisor::start_child`].
    pub async fn start_child<A: Portable>(
        &self,
        sup: &Supervisor,
        name: impl Into<String>,
        behaviour: A,
        state: A::State,
    ) -> Result<Handle<A>, StartError> {
        self.start_child_with(sup, name, behaviour, state, StartOptions::default())
            .await
    }

    /// As [`Durable::start_child`], with [`StartOptions`].
    ///
    /// # Errors
    /// As [`Supervisor::start_child`].
    pub async fn start_child_with<A: Portable>(
        &self,
        sup: &Supervisor,
        name: impl Into<String>,
        behaviour: A,
        state: A::State,
        options: impl Into<StartOptions>,
    ) -> Result<Handle<A>, StartError> {
        let name = name.into();
        let options = options.into();
        let policy = options.policy_or(sup.default_policy());
        let kept = Kept::fresh(
            name.clone(),
            behaviour,
            state,
            policy,
            options.capacity_limit(),
        );
        let journal = InstanceJournal::<A>::new(
            name,
            self.inner.writer.clone(),
            self.inner.durability,
            self.parts_of::<A>(),
            sup.name().to_owned(),
            None,
            0,
        );
        let _ = kept.journal.set(Box::new(Box::new(journal)));
        let handle = sup.adopt(kept.clone(), crate::actor::Start::Fresh).await?;
        if let Some(journal) = kept.journal.get()
            && let Err(reason) = journal.settle().await
        {
            // It runs, in memory; its next change is stored whole.
            return Err(StartError::NotStored {
                name: kept.name().to_owned(),
                reason,
            });
        }
        Ok(handle)
    }
}
