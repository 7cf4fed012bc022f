//! Bringing a supervisor's durable instances back from the store, and
//! starting new ones: the kinds a [`Durable`] can rebuild, by name.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::journal::{Image, InstanceJournal};
use super::record::{self, Record};
use super::store::StoredInstance;
use super::{Durable, RecoverError};
use crate::actor::Start;
use crate::dictionary::Dictionary;
use crate::instance::{Body, Committed, Kept};
use crate::portable::{Parts, Portable, reencode};
use crate::supervisor::Supervisor;
use crate::table::TableSet;
use crate::timer::Taken;

/// A kind a store can rebuild: its behaviour's factory and its parts.
pub(super) trait Kind: Send + Sync {
    /// The kind's declared parts, built once, if the kind is `A`'s type.
    fn parts_for(&self, actor: std::any::TypeId) -> Option<Arc<Parts>>;
    /// Brings `stored` back under `sup`.
    fn recover<'a>(
        &'a self,
        durable: &'a Durable,
        sup: &'a Supervisor,
        stored: StoredInstance,
        record: Record,
        clear_note: bool,
    ) -> BoxFuture<'a, Result<(), RecoverError>>;
}

/// A registered kind.
pub(super) struct KindOf<A: Portable> {
    pub(super) make: Box<dyn Fn() -> A + Send + Sync>,
    pub(super) parts: Arc<Parts>,
}

impl<A: Portable> Kind for KindOf<A> {
    fn parts_for(&self, actor: std::any::TypeId) -> Option<Arc<Parts>> {
        (actor == std::any::TypeId::of::<A>()).then(|| self.parts.clone())
    }

    fn recover<'a>(
        &'a self,
        durable: &'a Durable,
        sup: &'a Supervisor,
        stored: StoredInstance,
        record: Record,
        clear_note: bool,
    ) -> BoxFuture<'a, Result<(), RecoverError>> {
        let behaviour = (self.make)();
        let parts = self.parts.clone();
        Box::pin(async move {
            let kept = rebuild::<A>(durable, sup, behaviour, parts, stored, record)?;
            if clear_note && let Some(journal) = kept.journal.get() {
                // The next record says it is no longer moving.
                journal.set_moving(None);
            }
            sup.adopt(kept, Start::Recovered)
                .await
                .map(drop)
                .map_err(RecoverError::Start)
        })
    }
}

fn corrupt(name: &str, reason: impl std::fmt::Display) -> RecoverError {
    RecoverError::Corrupt {
        name: name.to_owned(),
        reason: reason.to_string(),
    }
}

/// Rebuilds one instance from what the store holds, to be started with
/// [`Start::Recovered`]: its stored messages are queued first, in order,
/// and its timers armed for the time they were due.
fn rebuild<A: Portable>(
    durable: &Durable,
    sup: &Supervisor,
    behaviour: A,
    parts: Arc<Parts>,
    stored: StoredInstance,
    record: Record,
) -> Result<Arc<Kept<A>>, RecoverError> {
    let name = stored.name.clone();
    let state: A::State = if A::accepts(record.version) {
        postcard::from_bytes(&record.state).map_err(|e| corrupt(&name, format!("state: {e}")))?
    } else {
        match A::upgrade(record.version, &record.state) {
            Ok(Some(state)) => state,
            Ok(None) => {
                return Err(RecoverError::Version {
                    name,
                    kind: record.kind,
                    found: record.version,
                    ours: A::VERSION,
                });
            }
            Err(e) => {
                return Err(corrupt(
                    &name,
                    format!("upgrade from {}: {e}", record.version),
                ));
            }
        }
    };
    let mut dict = Dictionary::default();
    for (key, bytes) in stored.entries {
        let codec = parts
            .dictionary
            .get(&key)
            .ok_or_else(|| corrupt(&name, format!("entry {key:?} is not declared")))?;
        let value = (codec.decode)(&bytes).map_err(|e| corrupt(&name, format!("{key:?}: {e}")))?;
        dict.put_erased(key, value);
    }
    let tables = TableSet::default();
    let mut ids = HashMap::new();
    for (table, rows) in stored.tables {
        let codec = parts
            .tables
            .get(&table)
            .ok_or_else(|| corrupt(&name, format!("table {table:?} is not declared")))?;
        codec
            .fill(&tables, &table, rows)
            .map_err(|e| corrupt(&name, format!("table {table:?}: {e}")))?;
        if let Some(j) = codec
            .look(&tables, &table, false)
            .map_err(|e| corrupt(&name, e))?
        {
            ids.insert(table, j.id);
        }
    }
    let mut messages = Vec::with_capacity(stored.messages.len());
    for (seq, bytes) in &stored.messages {
        let msg: A::Cast = postcard::from_bytes(bytes)
            .map_err(|e| corrupt(&name, format!("message {seq}: {e}")))?;
        messages.push((msg, *seq));
    }
    let mut timers = Vec::with_capacity(record.timers.len());
    for t in &record.timers {
        let msg: A::Info = postcard::from_bytes(&t.msg)
            .map_err(|e| corrupt(&name, format!("timer {}: {e}", t.id)))?;
        let timer = Taken::arrived(t.id, t.remaining(), t.period(), msg);
        timers.push(match t.period() {
            Some(_) => timer,
            None => timer.kept_until_handled(reencode::<A::Info>),
        });
    }
    let state = Arc::new(state);
    let next_seq = stored.messages.last().map_or(0, |(seq, _)| seq + 1);
    let committed = Committed {
        state: state.clone(),
        dict: dict.clone(),
    };
    let (max_restarts, within_ms) = record.policy;
    let policy = crate::RestartPolicy::new(max_restarts, Duration::from_millis(within_ms));
    let capacity = record
        .capacity
        .map(|c| usize::try_from(c).unwrap_or(usize::MAX));
    let kept = Kept::new(
        name.clone(),
        behaviour,
        committed,
        tables,
        policy,
        0,
        capacity,
    );
    // Queued before the worker exists: it takes them first, in order.
    for (msg, seq) in messages {
        if kept.requeue(Body::Durable(msg, seq)).is_err() {
            return Err(corrupt(&name, "its stored messages could not be queued"));
        }
    }
    kept.timers
        .restore(kept.timer_target(), timers, Some(reencode::<A::Info>));
    let journal = InstanceJournal::<A>::new(
        name.clone(),
        durable.inner.writer.clone(),
        durable.inner.durability,
        parts,
        sup.name().to_owned(),
        Some(Image {
            state,
            dict,
            tables: ids,
            // What the store holds already: the first record after the
            // restart rewrites nothing that did not change since.
            timers: kept.timers.changes(),
        }),
        next_seq,
    );
    let _ = kept.journal.set(Box::new(Box::new(journal)));
    Ok(kept)
}

/// Reads every record under `supervisor`: (stored instance, record).
pub(super) fn records_of(
    all: Vec<StoredInstance>,
    supervisor: &str,
) -> Result<Vec<(StoredInstance, Record)>, RecoverError> {
    let mut mine = Vec::new();
    for stored in all {
        let record = record::decode(&stored.record).map_err(|e| corrupt(&stored.name, e))?;
        if record.supervisor == supervisor {
            mine.push((stored, record));
        }
    }
    Ok(mine)
}
