//! [`InstanceJournal`]: what a durable instance's kept parts hold to reach
//! their store. After each callback it writes only what changed: the
//! record when the state, the timers or the supervisor changed, the
//! dictionary entries that changed, the table rows written since the last
//! look; after a failed write, the instance whole.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::Durability;
use super::gate::CastGate;
use super::record::{self, Record, StoredTimer};
use super::store::{StoreError, Write};
use super::writer::{self, Health, Kind, Writer};
use crate::dictionary::Dictionary;
use crate::instance::{Journal, Kept};
use crate::portable::{Parts, Portable};
use crate::table::TableId;

/// What the journal last wrote, to tell what changed since.
struct Last<S> {
    state: Option<Arc<S>>,
    dict: Dictionary,
    timers: Option<u64>,
    supervisor: String,
    /// The node it is being moved to, as the record says.
    moving: Option<String>,
    /// What the record says now differs from `moving`.
    moving_changed: bool,
    tables: HashMap<String, TableId>,
    /// The outcome of the last submission a reply must wait for.
    pending: Option<oneshot::Receiver<Result<(), StoreError>>>,
    /// Nothing of this instance may be in the store yet (a fresh start):
    /// the first write clears whatever an earlier instance of that name left.
    fresh: bool,
}

/// What the store already holds of an instance read back from it.
pub(crate) struct Image<S> {
    pub(crate) state: Arc<S>,
    pub(crate) dict: Dictionary,
    pub(crate) tables: HashMap<String, TableId>,
    /// The timers' change count once they were armed from the store.
    pub(crate) timers: u64,
}

/// One durable instance's journal.
pub(crate) struct InstanceJournal<A: Portable> {
    name: String,
    writer: Writer,
    durability: Durability,
    parts: Arc<Parts>,
    health: Arc<Health>,
    next_seq: AtomicU64,
    last: Mutex<Last<A::State>>,
    casts: CastGate,
}

impl<A: Portable> InstanceJournal<A> {
    /// A journal for an instance new to the store (`stored` is `None`), or
    /// one read back from it, whose store already holds that image; its next
    /// message number is `next_seq`.
    pub(crate) fn new(
        name: String,
        writer: Writer,
        durability: Durability,
        parts: Arc<Parts>,
        supervisor: String,
        stored: Option<Image<A::State>>,
        next_seq: u64,
    ) -> Self {
        let fresh = stored.is_none();
        let (state, dict, tables, timers) = match stored {
            Some(image) => (
                Some(image.state),
                image.dict,
                image.tables,
                Some(image.timers),
            ),
            None => (None, Dictionary::default(), HashMap::new(), None),
        };
        InstanceJournal {
            name,
            writer,
            durability,
            parts,
            health: Arc::new(Health::default()),
            next_seq: AtomicU64::new(next_seq),
            casts: CastGate::default(),
            last: Mutex::new(Last {
                state,
                dict,
                timers,
                supervisor,
                moving: None,
                moving_changed: false,
                tables,
                pending: None,
                fresh,
            }),
        }
    }

    fn submit(&self, writes: Vec<Write>, kind: Kind) -> oneshot::Receiver<Result<(), StoreError>> {
        self.writer.send(writes, self.health.clone(), kind)
    }

    /// Waits for the last submission's outcome, if `wait`.
    fn wait_pending(&self, wait: bool) -> BoxFuture<'static, Result<(), String>> {
        let pending = self.last.lock().pending.take();
        Box::pin(async move {
            match pending {
                Some(outcome) if wait => writer::stored(outcome).await,
                _ => Ok(()),
            }
        })
    }

    /// The record's write: state, timers, supervisor.
    fn record_write(
        &self,
        kept: &Kept<A>,
        state: &A::State,
        supervisor: &str,
        moving: Option<String>,
    ) -> Result<Write, String> {
        let mut timers = Vec::new();
        let mut failed = None;
        kept.timers.visit(
            |id, remaining, period, msg| match postcard::to_stdvec(msg) {
                Ok(bytes) => timers.push(StoredTimer::due_in(id, remaining, period, bytes)),
                Err(e) => failed = Some(e.to_string()),
            },
        );
        if let Some(e) = failed {
            return Err(format!("a timer's message: {e}"));
        }
        let record = Record {
            supervisor: supervisor.to_owned(),
            kind: A::KIND.to_owned(),
            version: A::VERSION,
            state: postcard::to_stdvec(state).map_err(|e| format!("the state: {e}"))?,
            timers,
            policy: (
                kept.policy().max_restarts,
                u64::try_from(kept.policy().within.as_millis()).unwrap_or(u64::MAX),
            ),
            capacity: kept.capacity().map(|c| c as u64),
            moving,
        };
        Ok(Write::Record {
            name: self.name.clone(),
            record: record::encode(&record)?,
        })
    }

    /// Everything that changed since the last write, as writes.
    fn changes(
        &self,
        last: &mut Last<A::State>,
        kept: &Kept<A>,
        state: &Arc<A::State>,
        dict: &Dictionary,
        whole: bool,
    ) -> Result<Vec<Write>, String> {
        let mut writes = Vec::new();
        if last.fresh {
            writes.push(Write::Forget {
                name: self.name.clone(),
            });
        } else if whole {
            writes.push(Write::Reset {
                name: self.name.clone(),
            });
        }
        let whole = whole || last.fresh;
        let supervisor = kept
            .current_owner()
            .map_or_else(|| last.supervisor.clone(), |o| o.name().to_owned());
        // Read before the timers are: a change after this is seen next time.
        let timers = kept.timers.changes();
        let record_changed = whole
            || last.state.as_ref().is_none_or(|s| !Arc::ptr_eq(s, state))
            || last.timers != Some(timers)
            || last.supervisor != supervisor
            || last.moving_changed;
        if record_changed {
            writes.push(self.record_write(kept, state, &supervisor, last.moving.clone())?);
        }
        if whole || !dict.same_as(&last.dict) {
            self.dictionary_changes(&mut writes, &last.dict, dict, whole)?;
        }
        self.table_changes(&mut writes, last, kept, whole)?;
        last.state = Some(state.clone());
        last.dict = dict.clone();
        last.timers = Some(timers);
        last.supervisor = supervisor;
        last.moving_changed = false;
        last.fresh = false;
        Ok(writes)
    }

    fn dictionary_changes(
        &self,
        writes: &mut Vec<Write>,
        before: &Dictionary,
        now: &Dictionary,
        whole: bool,
    ) -> Result<(), String> {
        for (key, value) in now.entries() {
            let Some(codec) = self.parts.dictionary.get(key) else {
                continue;
            };
            let same = before
                .get_erased(key)
                .is_some_and(|v| Arc::ptr_eq(v, value));
            if whole || !same {
                let bytes = (codec.encode)(value).map_err(|e| format!("entry {key:?}: {e}"))?;
                writes.push(Write::Entry {
                    name: self.name.clone(),
                    key: key.to_owned(),
                    value: Some(bytes),
                });
            }
        }
        if !whole {
            for (key, _) in before.entries() {
                if now.get_erased(key).is_none() && self.parts.dictionary.contains_key(key) {
                    writes.push(Write::Entry {
                        name: self.name.clone(),
                        key: key.to_owned(),
                        value: None,
                    });
                }
            }
        }
        Ok(())
    }

    fn table_changes(
        &self,
        writes: &mut Vec<Write>,
        last: &mut Last<A::State>,
        kept: &Kept<A>,
        whole: bool,
    ) -> Result<(), String> {
        for (table, codec) in &self.parts.tables {
            let looked = codec
                .look(&kept.tables, table, whole)
                .map_err(|e| format!("table {table:?}: {e}"))?;
            let Some(j) = looked else {
                if last.tables.remove(table).is_some() && !whole {
                    writes.push(Write::ClearTable {
                        name: self.name.clone(),
                        table: table.clone(),
                    });
                }
                continue;
            };
            let known = last.tables.insert(table.clone(), j.id);
            if (j.whole || known != Some(j.id)) && !whole {
                writes.push(Write::ClearTable {
                    name: self.name.clone(),
                    table: table.clone(),
                });
            }
            for (key, value) in j.rows {
                writes.push(Write::Row {
                    name: self.name.clone(),
                    table: table.clone(),
                    key,
                    value,
                });
            }
        }
        Ok(())
    }
}

impl<A: Portable> Journal<A> for InstanceJournal<A> {
    fn record(
        &self,
        kept: &Kept<A>,
        state: &Arc<A::State>,
        dict: &Dictionary,
        handled: Option<u64>,
    ) {
        let mut last = self.last.lock();
        let whole = self.health.needs_whole.swap(false, Ordering::AcqRel);
        if whole && let Some(reason) = self.health.reason.lock().take() {
            kept.notify_owner(|| crate::event::SupervisorEvent::NotStored {
                name: self.name.clone(),
                id: kept.id(),
                reason: reason.clone(),
            });
        }
        let mut writes = match self.changes(&mut last, kept, state, dict, whole) {
            Ok(writes) => writes,
            Err(reason) => {
                // Nothing of it can be stored; the next change goes whole.
                tracing::error!(name = %self.name, %reason, "peeper: a change cannot be encoded");
                *self.health.reason.lock() = Some(reason);
                self.health.needs_whole.store(true, Ordering::Release);
                let (done, outcome) = oneshot::channel();
                let _ = done.send(Err(StoreError::Write("a change cannot be encoded".into())));
                last.pending = Some(outcome);
                return;
            }
        };
        if let Some(seq) = handled {
            writes.push(Write::Message {
                name: self.name.clone(),
                seq,
                message: None,
            });
        }
        if writes.is_empty() {
            return;
        }
        let kind = if whole { Kind::Whole } else { Kind::Diff };
        last.pending = Some(self.submit(writes, kind));
    }

    fn casts(&self) -> &CastGate {
        &self.casts
    }

    fn set_moving(&self, to: Option<String>) {
        let mut last = self.last.lock();
        last.moving = to;
        last.moving_changed = true;
    }

    fn settle(&self) -> BoxFuture<'static, Result<(), String>> {
        let wait = matches!(self.durability, Durability::Immediate);
        self.wait_pending(wait)
    }

    fn flushed(&self) -> BoxFuture<'static, Result<(), String>> {
        self.wait_pending(true)
    }

    fn store_message(&self, msg: Vec<u8>) -> BoxFuture<'static, Result<u64, String>> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let write = Write::Message {
            name: self.name.clone(),
            seq,
            message: Some(msg),
        };
        let outcome = self.submit(vec![write], Kind::Apart);
        Box::pin(async move { writer::stored(outcome).await.map(|()| seq) })
    }

    fn one_shot_clone(&self) -> crate::timer::CloneFn<A::Info> {
        crate::portable::reencode::<A::Info>
    }

    fn unstore_message(&self, seq: u64) {
        let write = Write::Message {
            name: self.name.clone(),
            seq,
            message: None,
        };
        drop(self.submit(vec![write], Kind::Apart));
    }

    fn forget(&self) -> BoxFuture<'static, ()> {
        let write = Write::Forget {
            name: self.name.clone(),
        };
        let outcome = self.submit(vec![write], Kind::Apart);
        Box::pin(async move {
            let _ = outcome.await;
        })
    }
}
