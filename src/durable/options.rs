//! How a [`Durable`](super::Durable) is opened: its [`Durability`] and
//! the size of its group commits.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::redb_store::RedbStore;
use super::store::{Store, StoreError};
use super::writer::Writer;
use super::{Durable, Inner};

/// How long a durable change may wait before it is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// A call's reply leaves once its change is on disk (fsync'd); every
    /// transaction takes all the changes waiting when it begins. Nothing
    /// acknowledged is lost on a `kill -9` or a power loss.
    #[default]
    Immediate,
    /// Changes are committed (with an fsync) once per interval, and replies
    /// do not wait for them: up to this long of acknowledged changes may be
    /// lost on a `kill -9` or a power loss.
    Batched(Duration),
}

/// How a [`Durable`] is opened.
#[derive(Debug, Clone, Copy)]
pub struct DurableOptions {
    durability: Durability,
    max_batch: usize,
}

impl Default for DurableOptions {
    fn default() -> Self {
        DurableOptions {
            durability: Durability::Immediate,
            max_batch: 4096,
        }
    }
}

impl DurableOptions {
    /// How long a change may wait before it is on disk. Default
    /// [`Durability::Immediate`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// At most this many instances' changes share a transaction (at least
    /// one). Default 4096; 1 gives one fsync per change, for comparison.
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Opens the redb store at `path` with these options.
    ///
    /// # Errors
    /// As [`RedbStore::open`].
    pub fn open(self, path: impl AsRef<Path>) -> Result<Durable, StoreError> {
        self.with_store(RedbStore::open(path)?)
    }

    /// Uses `store` with these options.
    ///
    /// # Errors
    /// [`StoreError::Write`] if the writer thread cannot start.
    pub fn with_store(self, store: impl Store) -> Result<Durable, StoreError> {
        let store: Arc<dyn Store> = Arc::new(store);
        let (writer, thread) = Writer::start(store.clone(), self.durability, self.max_batch)?;
        Ok(Durable {
            inner: Arc::new(Inner {
                store,
                writer,
                thread: Mutex::new(Some(thread)),
                durability: self.durability,
                kinds: Mutex::new(HashMap::new()),
                in_doubt: Mutex::new(HashMap::new()),
            }),
        })
    }
}
