//! Named per-instance tables: concurrent maps that other tasks read without
//! messaging the instance.
//!
//! An instance creates (or reopens) a table from a callback with
//! [`Context::table`](crate::Context::table) and gets a [`Table`] it can write.
//! Any task can open a read-only [`TableReader`] through the instance's
//! [`Handle::table`](crate::Handle::table) and read it directly, in parallel
//! with the instance, without going through its mailbox.
//!
//! Ownership: a table belongs to its instance, not to the worker that runs the
//! callbacks. It is never copied: a crash, a kill or a local transfer leaves the
//! very same table in place, with the same [`TableId`]. Unlike the state and the
//! dictionary, tables are not transactional: a write is visible at once, and
//! the writes made by a callback that later crashes stay (as with ETS).
//!
//! The maps are [`dashmap::DashMap`]s, sharded so that readers rarely wait.

mod set;

use std::any::Any;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;
use parking_lot::Mutex;

pub use crate::id::TableId;
pub(crate) use set::TableSet;

pub(crate) struct Inner<K, V> {
    id: TableId,
    name: String,
    map: DashMap<K, V>,
    /// Set while an observer is installed: writes then report their keys.
    /// Read on every write, so the common case (none) costs one load.
    observed: AtomicBool,
    observer: Mutex<Option<Box<dyn WriteObserver<K>>>>,
    /// As `observed`, for a durable instance's journal: it sees every write
    /// while the instance runs, beside a move's observer.
    journaled: AtomicBool,
    journal: Mutex<Option<Box<dyn WriteObserver<K>>>>,
}

/// Sees the keys written to a table, for as long as it is installed (a move
/// to another node installs one while it copies the table with the instance
/// running).
pub(crate) trait WriteObserver<K>: Send {
    /// `key` was inserted, replaced or removed.
    fn written(&mut self, key: &K);
    /// Every row was removed.
    fn cleared(&mut self);
    /// Whether every row was removed since observing began.
    fn is_cleared(&self) -> bool;
    /// The observer, for its owner to take back with its own type.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<K: TableKey, V> Inner<K, V> {
    fn new(name: &str) -> Self {
        Inner {
            id: TableId::next(),
            name: name.to_owned(),
            map: DashMap::new(),
            observed: AtomicBool::new(false),
            observer: Mutex::new(None),
            journaled: AtomicBool::new(false),
            journal: Mutex::new(None),
        }
    }
}

/// Bounds a table's key type must meet.
pub trait TableKey: Eq + Hash + Send + Sync + 'static {}
impl<T: Eq + Hash + Send + Sync + 'static> TableKey for T {}

/// Bounds a table's value type must meet.
pub trait TableValue: Send + Sync + 'static {}
impl<T: Send + Sync + 'static> TableValue for T {}

/// A named table of an instance, as seen by its own callbacks: read and write.
///
/// Cheap to clone; all clones are the same table.
pub struct Table<K, V> {
    inner: Arc<Inner<K, V>>,
}

/// A read-only view of an instance's table, for any task.
///
/// Cheap to clone; reads go straight to the map, never through the mailbox.
pub struct TableReader<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Table<K, V> {
    fn from_inner(inner: Arc<Inner<K, V>>) -> Self {
        Table { inner }
    }
}

impl<K, V> TableReader<K, V> {
    fn from_inner(inner: Arc<Inner<K, V>>) -> Self {
        TableReader { inner }
    }
}

impl<K, V> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        Table {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> Clone for TableReader<K, V> {
    fn clone(&self) -> Self {
        TableReader {
            inner: self.inner.clone(),
        }
    }
}

/// Read operations shared by [`Table`] and [`TableReader`].
macro_rules! read_ops {
    () => {
        /// The table's identity.
        pub fn id(&self) -> TableId {
            self.inner.id
        }

        /// The table's name.
        pub fn name(&self) -> &str {
            &self.inner.name
        }

        /// A clone of the value under `key`.
        pub fn get<Q>(&self, key: &Q) -> Option<V>
        where
            K: std::borrow::Borrow<Q>,
            Q: Hash + Eq + ?Sized,
            V: Clone,
        {
            self.inner.map.get(key).map(|v| v.value().clone())
        }

        /// Runs `f` on the value under `key` without cloning it.
        ///
        /// # Panics
        /// Do not touch the same table from inside `f` for writing: the entry's
        /// shard is read-locked while `f` runs.
        pub fn with<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
        where
            K: std::borrow::Borrow<Q>,
            Q: Hash + Eq + ?Sized,
        {
            self.inner.map.get(key).map(|v| f(v.value()))
        }

        /// Whether `key` has a value.
        pub fn contains_key<Q>(&self, key: &Q) -> bool
        where
            K: std::borrow::Borrow<Q>,
            Q: Hash + Eq + ?Sized,
        {
            self.inner.map.contains_key(key)
        }

        /// How many rows the table holds.
        pub fn len(&self) -> usize {
            self.inner.map.len()
        }

        /// Whether the table holds no row.
        pub fn is_empty(&self) -> bool {
            self.inner.map.is_empty()
        }

        /// A copy of every row, in no particular order. Rows written while this
        /// runs may or may not be included.
        pub fn to_vec(&self) -> Vec<(K, V)>
        where
            K: Clone,
            V: Clone,
        {
            self.inner
                .map
                .iter()
                .map(|e| (e.key().clone(), e.value().clone()))
                .collect()
        }

        /// Whether `other` is this very table (not a copy of it).
        pub fn same_table(&self, other: &TableReader<K, V>) -> bool {
            Arc::ptr_eq(&self.inner, &other.inner)
        }
    };
}

impl<K: TableKey, V: TableValue> Table<K, V> {
    read_ops!();

    /// Stores `value` under `key`; returns the value it replaced.
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        // The flag is read under the row's lock, after the write, so an
        // observer installed before a copy began either sees this write or
        // the copy reads it.
        match self.inner.map.entry(key) {
            MapEntry::Occupied(mut o) => {
                let old = o.insert(value);
                self.note(o.key());
                Some(old)
            }
            MapEntry::Vacant(v) => {
                let row = v.insert(value);
                self.note(row.key());
                None
            }
        }
    }

    fn note(&self, key: &K) {
        if self.inner.observed.load(Ordering::SeqCst)
            && let Some(observer) = self.inner.observer.lock().as_mut()
        {
            observer.written(key);
        }
        if self.inner.journaled.load(Ordering::SeqCst)
            && let Some(journal) = self.inner.journal.lock().as_mut()
        {
            journal.written(key);
        }
    }

    /// Removes the row under `key`; returns its value.
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (key, value) = self.inner.map.remove(key)?;
        self.note(&key);
        Some(value)
    }

    /// Removes every row.
    pub fn clear(&self) {
        self.inner.map.clear();
        if self.inner.observed.load(Ordering::SeqCst)
            && let Some(observer) = self.inner.observer.lock().as_mut()
        {
            observer.cleared();
        }
        if self.inner.journaled.load(Ordering::SeqCst)
            && let Some(journal) = self.inner.journal.lock().as_mut()
        {
            journal.cleared();
        }
    }

    /// Starts reporting written keys to `observer`.
    pub(crate) fn observe(&self, observer: Box<dyn WriteObserver<K>>) {
        *self.inner.observer.lock() = Some(observer);
        self.inner.observed.store(true, Ordering::SeqCst);
    }

    /// Goes on reporting to `observer`, and returns the one that saw the
    /// writes so far; without a swap (and `None`) if none is installed or the
    /// table was cleared meanwhile. A write lands in one or the other.
    pub(crate) fn swap_observer(
        &self,
        observer: Box<dyn WriteObserver<K>>,
    ) -> Option<Box<dyn WriteObserver<K>>> {
        let mut current = self.inner.observer.lock();
        match current.as_ref() {
            Some(old) if !old.is_cleared() => current.replace(observer),
            _ => None,
        }
    }

    /// Stops reporting written keys; returns the observer.
    pub(crate) fn stop_observing(&self) -> Option<Box<dyn WriteObserver<K>>> {
        self.inner.observed.store(false, Ordering::SeqCst);
        self.inner.observer.lock().take()
    }

    /// Starts reporting written keys to a durable instance's `journal`, and
    /// returns the one it replaces: a write lands in one or the other.
    pub(crate) fn swap_journal(
        &self,
        journal: Box<dyn WriteObserver<K>>,
    ) -> Option<Box<dyn WriteObserver<K>>> {
        let old = self.inner.journal.lock().replace(journal);
        self.inner.journaled.store(true, Ordering::SeqCst);
        old
    }

    /// Every key, for streaming the table in chunks.
    pub(crate) fn keys(&self) -> Vec<K>
    where
        K: Clone,
    {
        self.inner.map.iter().map(|e| e.key().clone()).collect()
    }

    /// A read-only view of this table, to hand to other tasks.
    pub fn reader(&self) -> TableReader<K, V> {
        TableReader {
            inner: self.inner.clone(),
        }
    }
}

impl<K: TableKey, V: TableValue> TableReader<K, V> {
    read_ops!();
}

impl<K, V> fmt::Debug for Table<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl<K, V> fmt::Debug for TableReader<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableReader")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TableError;
    use crate::id::InstanceId;

    fn instance() -> InstanceId {
        InstanceId::next()
    }

    #[test]
    fn reopening_gives_the_same_table() {
        let set = TableSet::default();
        let a = set.open_or_create::<u32, String>("t").unwrap();
        a.insert(1, "one".into());
        let b = set.open_or_create::<u32, String>("t").unwrap();
        assert_eq!(a.id(), b.id());
        assert!(a.same_table(&b.reader()));
        assert_eq!(b.get(&1).as_deref(), Some("one"));
    }

    #[test]
    fn reader_sees_writes_at_once() {
        let set = TableSet::default();
        let t = set.open_or_create::<String, u64>("hits").unwrap();
        let r = set.reader::<String, u64>(instance(), "hits").unwrap();
        t.insert("a".into(), 3);
        assert_eq!(r.get("a"), Some(3));
        assert_eq!(r.with("a", |v| v * 2), Some(6));
        assert_eq!(t.remove("a"), Some(3));
        assert!(r.is_empty());
    }

    #[test]
    fn wrong_types_and_missing_tables_are_typed_errors() {
        let set = TableSet::default();
        set.open_or_create::<u32, u32>("t").unwrap();
        assert!(matches!(
            set.open_or_create::<String, u32>("t"),
            Err(TableError::WrongType { .. })
        ));
        assert!(matches!(
            set.reader::<u32, u32>(instance(), "missing"),
            Err(TableError::NotFound { .. })
        ));
    }

    #[test]
    fn dropped_table_is_gone_by_name_and_new_one_gets_new_id() {
        let set = TableSet::default();
        let old = set.open_or_create::<u8, u8>("t").unwrap();
        assert!(set.drop_table("t"));
        assert!(!set.drop_table("t"));
        let new = set.open_or_create::<u8, u8>("t").unwrap();
        assert_ne!(old.id(), new.id());
        assert_eq!(set.names(), vec!["t".to_owned()]);
    }
}
