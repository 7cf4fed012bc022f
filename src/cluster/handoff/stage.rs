//! The target side of one move, typed: the slot the steps fill, the
//! instance it builds on `Commit`, and its start on `Go`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::target::Staging;
use crate::actor::Start;
use crate::cluster::snapshot;
use crate::cluster::wire::{Begin, MoveKey, Step};
use crate::dictionary::Value;
use crate::instance::{Committed, Kept};
use crate::portable::{Parts, Portable, RowSink};
use crate::registry;
use crate::restart::RestartPolicy;
use crate::supervisor::Supervisor;
use crate::table::TableSet;
use crate::timer::Taken;

/// The target side of one move: a slot filled by the source's requests.
pub(crate) struct Stage<A: Portable> {
    mv: MoveKey,
    begin: Begin,
    behaviour: Option<A>,
    prepared: Option<Arc<Kept<A>>>,
    timers: Vec<Taken<A::Info>>,
    from: String,
    parts: Parts,
    tables: TableSet,
    sinks: HashMap<String, Box<dyn RowSink>>,
    snapshot: Vec<u8>,
    /// Dictionary entries sent ahead of the snapshot, decoded once whole.
    ahead: HashMap<String, Value>,
    /// Entries still arriving.
    pieces: HashMap<String, Vec<u8>>,
    /// Bytes of those received so far.
    received: u64,
    /// Where a durable instance is stored here.
    #[cfg(feature = "durable")]
    durable: Option<crate::durable::Durable>,
}

/// Why the target refuses a step of a move; its text is the reason the
/// source reports in [`MoveError::Refused`](crate::cluster::MoveError::Refused).
#[derive(Debug, thiserror::Error)]
pub(crate) enum StageError {
    #[error("state version {found} of {kind:?} is not accepted here (this node writes {ours})")]
    Version {
        kind: &'static str,
        found: u32,
        ours: u32,
    },
    #[error("no running supervisor {0:?}")]
    NoSupervisor(String),
    #[error("the name {0:?} is taken here")]
    NameTaken(String),
    #[error("table {0:?} is not declared here")]
    UndeclaredTable(String),
    #[error("dictionary entry {0:?} is not declared here")]
    UndeclaredEntry(String),
    #[error("{what} over the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
    #[error("dictionary entry {0:?} is longer than announced")]
    LongerThanAnnounced(String),
    #[error("a {0} step after commit")]
    AfterCommit(&'static str),
    #[error("{0} is not a data step")]
    NotData(&'static str),
    #[error("the move was not prepared")]
    NotPrepared,
    #[error("could not decode {what}: {reason}")]
    Decode { what: String, reason: String },
    #[error("the instance could not start: {0}")]
    Start(String),
}

fn decode(what: impl Into<String>) -> impl FnOnce(String) -> StageError {
    let what = what.into();
    move |reason| StageError::Decode { what, reason }
}

impl<A: Portable> Stage<A> {
    pub(crate) fn open(mv: MoveKey, begin: Begin, behaviour: A) -> Result<Self, StageError> {
        if !A::accepts(begin.version) {
            return Err(StageError::Version {
                kind: A::KIND,
                found: begin.version,
                ours: A::VERSION,
            });
        }
        match Supervisor::lookup(&begin.supervisor) {
            Some(s) if s.is_running() => {}
            _ => return Err(StageError::NoSupervisor(begin.supervisor.clone())),
        }
        if registry::get(&mv.name).is_some_and(|i| i.moved_to().is_none()) {
            return Err(StageError::NameTaken(mv.name.clone()));
        }
        let from = begin.from_node.clone();
        Ok(Stage {
            mv,
            begin,
            behaviour: Some(behaviour),
            prepared: None,
            timers: Vec::new(),
            from,
            parts: Parts::of::<A>(),
            tables: TableSet::default(),
            sinks: HashMap::new(),
            snapshot: Vec::new(),
            ahead: HashMap::new(),
            pieces: HashMap::new(),
            received: 0,
            #[cfg(feature = "durable")]
            durable: None,
        })
    }
}

impl<A: Portable> Stage<A> {
    /// The sink filling `table`, made on its first rows.
    fn sink(&mut self, table: &str) -> Result<&mut Box<dyn RowSink>, StageError> {
        if !self.sinks.contains_key(table) {
            let port = self
                .parts
                .tables
                .get(table)
                .ok_or_else(|| StageError::UndeclaredTable(table.to_owned()))?;
            let sink = port
                .sink(&self.tables, table)
                .map_err(decode(format!("table {table:?}")))?;
            self.sinks.insert(table.to_owned(), sink);
        }
        self.sinks
            .get_mut(table)
            .ok_or_else(|| StageError::UndeclaredTable(table.to_owned()))
    }
}

impl<A: Portable> Staging for Stage<A> {
    fn from(&self) -> (&str, u64) {
        (&self.from, self.begin.from_incarnation)
    }

    fn is_ready(&self) -> bool {
        self.prepared.is_some()
    }

    fn apply(&mut self, step: Step) -> Result<(), StageError> {
        if self.prepared.is_some() {
            return Err(StageError::AfterCommit(step.name()));
        }
        match step {
            Step::Rows { table, count, rows } => self
                .sink(&table)?
                .absorb(&rows, count)
                .map_err(decode(format!("rows of {table:?}"))),
            Step::Remove { table, count, keys } => self
                .sink(&table)?
                .remove(&keys, count)
                .map_err(decode(format!("removed keys of {table:?}"))),
            Step::ResetTable { table } => {
                self.sinks.remove(&table);
                self.tables.drop_table(&table);
                Ok(())
            }
            Step::Snapshot { piece } => self.piece(&piece),
            Step::Entry { key, total, piece } => self.entry(key, total, &piece),
            Step::Commit => self.prepare(),
            other => Err(StageError::NotData(other.name())),
        }
    }

    #[cfg(feature = "durable")]
    fn set_durable(&mut self, durable: crate::durable::Durable) {
        self.durable = Some(durable);
    }

    fn start(mut self: Box<Self>) -> BoxFuture<'static, Result<(), StageError>> {
        Box::pin(async move {
            let shared = self.prepared.take().ok_or(StageError::NotPrepared)?;
            #[cfg(feature = "durable")]
            if let Some(durable) = &self.durable {
                let journal = durable.journal_for::<A>(shared.name(), &self.begin.supervisor);
                let _ = shared.journal.set(Box::new(journal));
            }
            let supervisor = Supervisor::lookup(&self.begin.supervisor)
                .ok_or_else(|| StageError::NoSupervisor(self.begin.supervisor.clone()))?;
            let from = std::mem::take(&mut self.from);
            super::relay::note_back(shared.name());
            let started = supervisor
                .adopt(shared.clone(), Start::Moved { from })
                .await;
            if started.is_err() {
                registry::release(shared.name(), shared.id());
            } else {
                let timers = std::mem::take(&mut self.timers);
                // A durable instance's one-shot timers stay stored here
                // until their message is handled, as at the source.
                #[cfg(feature = "durable")]
                let timers: Vec<_> = timers
                    .into_iter()
                    .map(|t| match t.period {
                        None if self.durable.is_some() => {
                            t.kept_until_handled(super::reencode::<A::Info>)
                        }
                        _ => t,
                    })
                    .collect();
                shared.timers.restore(
                    shared.timer_target(),
                    timers,
                    Some(super::reencode::<A::Info>),
                );
                // Stored here, timers included, before the source hears
                // it started and forgets it.
                #[cfg(feature = "durable")]
                if let Some(journal) = shared.journal.get() {
                    crate::instance::record_committed(&shared);
                    if let Err(reason) = journal.flushed().await {
                        tracing::error!(name = %shared.name(), %reason, "peeper: a moved durable instance is not stored yet");
                    }
                    crate::cluster::fault::point("target.stored");
                }
            }
            started
                .map(|_| ())
                .map_err(|e| StageError::Start(e.to_string()))
        })
    }
}

impl<A: Portable> Stage<A> {
    /// Adds a piece of a dictionary entry sent ahead; decodes it once whole.
    fn entry(&mut self, key: String, total: u32, piece: &[u8]) -> Result<(), StageError> {
        self.received += piece.len() as u64;
        if self.received > super::MAX_SNAPSHOT {
            return Err(StageError::TooLarge {
                what: "dictionary entries",
                limit: super::MAX_SNAPSHOT,
            });
        }
        let codec = *self
            .parts
            .dictionary
            .get(&key)
            .ok_or_else(|| StageError::UndeclaredEntry(key.clone()))?;
        let bytes = self.pieces.entry(key.clone()).or_default();
        bytes.extend_from_slice(piece);
        if bytes.len() as u64 > u64::from(total) {
            return Err(StageError::LongerThanAnnounced(key));
        }
        if bytes.len() as u64 == u64::from(total) {
            let bytes = self.pieces.remove(&key).unwrap_or_default();
            let value =
                (codec.decode)(&bytes).map_err(decode(format!("dictionary entry {key:?}")))?;
            self.ahead.insert(key, value);
        }
        Ok(())
    }

    fn piece(&mut self, bytes: &[u8]) -> Result<(), StageError> {
        let len = (self.snapshot.len() + bytes.len()) as u64;
        if len > super::MAX_SNAPSHOT {
            return Err(StageError::TooLarge {
                what: "snapshot",
                limit: super::MAX_SNAPSHOT,
            });
        }
        self.snapshot.extend_from_slice(bytes);
        Ok(())
    }

    fn prepare(&mut self) -> Result<(), StageError> {
        let decoded = snapshot::decode::<A>(&self.snapshot, &self.parts, &mut self.ahead)
            .map_err(|e| decode("the snapshot")(e.to_string()))?;
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
            .ok_or(StageError::AfterCommit("commit"))?;
        let begin = &self.begin;
        let policy = RestartPolicy::new(
            begin.max_restarts,
            Duration::from_millis(begin.restart_window_ms),
        );
        let committed = Committed {
            state: Arc::new(state),
            dict,
        };
        let shared = Kept::new(
            self.mv.name.clone(),
            behaviour,
            committed,
            std::mem::take(&mut self.tables),
            policy,
            self.mv.epoch,
            begin
                .capacity
                .map(|c| usize::try_from(c).unwrap_or(usize::MAX)),
        );
        // A relay still under the name (the instance comes back before the
        // relay here retired) gives it up: messages reach it by name.
        registry::release_if(shared.name(), |i| i.moved_to().is_some());
        if !registry::reserve(shared.clone()) {
            return Err(StageError::NameTaken(self.mv.name.clone()));
        }
        self.snapshot = Vec::new();
        self.ahead = HashMap::new();
        self.sinks.clear();
        self.prepared = Some(shared);
        Ok(())
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
