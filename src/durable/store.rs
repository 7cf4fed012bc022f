//! [`Store`]: where durable instances are written, and what is written.

use std::collections::BTreeMap;

/// One write of a transaction, for the instance `name`. Names are unique on
/// a node, so they key everything an instance stores.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Write {
    /// The instance's record (its supervisor, kind, version, state and
    /// timers; opaque to the store), replacing the one before.
    Record {
        /// The instance.
        name: String,
        /// The encoded record.
        record: Vec<u8>,
    },
    /// A dictionary entry, or its removal (`None`).
    Entry {
        /// The instance.
        name: String,
        /// The entry's key.
        key: String,
        /// The encoded value.
        value: Option<Vec<u8>>,
    },
    /// A table row, or its removal (`None`).
    Row {
        /// The instance.
        name: String,
        /// The table.
        table: String,
        /// The encoded key.
        key: Vec<u8>,
        /// The encoded value.
        value: Option<Vec<u8>>,
    },
    /// Every row of a table goes.
    ClearTable {
        /// The instance.
        name: String,
        /// The table.
        table: String,
    },
    /// A durable message, stored under its number, or its removal once
    /// handled (`None`).
    Message {
        /// The instance.
        name: String,
        /// Its number, in the order the instance queued them.
        seq: u64,
        /// The encoded message.
        message: Option<Vec<u8>>,
    },
    /// Its dictionary entries and table rows go (its record and stored
    /// messages stay): what is written after holds it whole.
    Reset {
        /// The instance.
        name: String,
    },
    /// Everything stored for the instance goes: it stopped for good.
    Forget {
        /// The instance.
        name: String,
    },
}

/// A table's rows as stored: encoded keys and values.
pub type StoredRows = Vec<(Vec<u8>, Vec<u8>)>;

/// Everything a store holds for one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredInstance {
    /// Its name.
    pub name: String,
    /// Its record, as written by [`Write::Record`].
    pub record: Vec<u8>,
    /// Its dictionary entries.
    pub entries: Vec<(String, Vec<u8>)>,
    /// Its tables' rows, by table.
    pub tables: BTreeMap<String, StoredRows>,
    /// Its stored messages, by number.
    pub messages: Vec<(u64, Vec<u8>)>,
}

/// Why a store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (or another store in this one) holds the file.
    #[error("the store {path:?} is held by another process")]
    Locked {
        /// The file.
        path: String,
    },
    /// The file is damaged or is not a store.
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    /// A write failed (a full disk, an I/O error): nothing of its
    /// transaction was stored.
    #[error("a write failed: {0}")]
    Write(String),
    /// Reading failed.
    #[error("reading failed: {0}")]
    Read(String),
    /// The store's writer stopped (its process is ending).
    #[error("the store is closed")]
    Closed,
}

/// Where durable instances are written: one transaction at a time, all or
/// nothing. [`RedbStore`](super::RedbStore) is the embedded one; another
/// (a networked database) implements this and nothing else changes.
///
/// Calls come from one writer thread, never two at once.
pub trait Store: Send + Sync + 'static {
    /// Applies `writes` in order, in one transaction. With `sync`, the
    /// transaction is on disk (fsync'd) when this returns `Ok`.
    ///
    /// # Errors
    /// [`StoreError::Write`] (nothing of `writes` is stored then).
    fn commit(&self, writes: &[Write], sync: bool) -> Result<(), StoreError>;

    /// The record of the instance `name`, if it has one.
    ///
    /// # Errors
    /// [`StoreError::Read`].
    fn record(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Everything stored, instance by instance.
    ///
    /// # Errors
    /// [`StoreError::Read`], [`StoreError::Corrupt`].
    fn load(&self) -> Result<Vec<StoredInstance>, StoreError>;
}
