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

use std::any::{Any, type_name};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use parking_lot::Mutex;

use crate::error::TableError;
use crate::instance::InstanceId;

/// The identity of a table, unique in the process and stable across crashes,
/// restarts and local transfers of its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId(u64);

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table#{}", self.0)
    }
}

struct Inner<K, V> {
    id: TableId,
    name: String,
    map: DashMap<K, V>,
    /// Set while a move to another node copies the table with the instance
    /// running: writes then note their keys in `dirty`.
    #[cfg(feature = "cluster")]
    tracking: std::sync::atomic::AtomicBool,
    #[cfg(feature = "cluster")]
    dirty: Mutex<Option<Box<dyn DirtyLog<K>>>>,
}

/// The keys written while a table is being copied to another node.
#[cfg(feature = "cluster")]
pub(crate) trait DirtyLog<K>: Send {
    /// `key` was inserted, replaced or removed.
    fn record(&mut self, key: &K);
    /// Every row was removed.
    fn cleared(&mut self);
    /// Whether every row was removed since noting began.
    fn is_cleared(&self) -> bool;
    /// The log, for the table's typed port to take back.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
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
        #[cfg(feature = "cluster")]
        {
            use dashmap::mapref::entry::Entry;
            // The flag is read under the row's lock, after the write, so a
            // copier that set it before reading either sees this write or
            // finds the key in the log.
            match self.inner.map.entry(key) {
                Entry::Occupied(mut o) => {
                    let old = o.insert(value);
                    self.note(o.key());
                    Some(old)
                }
                Entry::Vacant(v) => {
                    let row = v.insert(value);
                    self.note(row.key());
                    None
                }
            }
        }
        #[cfg(not(feature = "cluster"))]
        self.inner.map.insert(key, value)
    }

    #[cfg(feature = "cluster")]
    fn note(&self, key: &K) {
        if self.inner.tracking.load(Ordering::SeqCst) {
            if let Some(log) = self.inner.dirty.lock().as_mut() {
                log.record(key);
            }
        }
    }

    /// Removes the row under `key`; returns its value.
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (_key, value) = self.inner.map.remove(key)?;
        #[cfg(feature = "cluster")]
        self.note(&_key);
        Some(value)
    }

    /// Removes every row.
    pub fn clear(&self) {
        self.inner.map.clear();
        #[cfg(feature = "cluster")]
        if self.inner.tracking.load(Ordering::SeqCst) {
            if let Some(log) = self.inner.dirty.lock().as_mut() {
                log.cleared();
            }
        }
    }

    /// Starts noting written keys in `log`.
    #[cfg(feature = "cluster")]
    pub(crate) fn track(&self, log: Box<dyn DirtyLog<K>>) {
        *self.inner.dirty.lock() = Some(log);
        self.inner.tracking.store(true, Ordering::SeqCst);
    }

    /// Goes on noting written keys in `log`, and returns what was noted so
    /// far; without a swap (and `None`) if nothing is being noted or the table
    /// was cleared meanwhile. A write lands in one log or the other.
    #[cfg(feature = "cluster")]
    pub(crate) fn swap_log(&self, log: Box<dyn DirtyLog<K>>) -> Option<Box<dyn DirtyLog<K>>> {
        let mut current = self.inner.dirty.lock();
        match current.as_ref() {
            Some(old) if !old.is_cleared() => current.replace(log),
            _ => None,
        }
    }

    /// Stops noting written keys; returns what was noted.
    #[cfg(feature = "cluster")]
    pub(crate) fn untrack(&self) -> Option<Box<dyn DirtyLog<K>>> {
        self.inner.tracking.store(false, Ordering::SeqCst);
        self.inner.dirty.lock().take()
    }

    /// Every key, for streaming the table in chunks.
    #[cfg(feature = "cluster")]
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

/// One stored table, with its types erased.
struct Entry {
    table: Arc<dyn Any + Send + Sync>,
    types: &'static str,
}

/// The tables of one instance, by name. Owned by the instance's kept parts, so
/// it outlives every worker.
#[derive(Default)]
pub(crate) struct TableSet {
    tables: Mutex<HashMap<String, Entry>>,
}

static NEXT_TABLE_ID: AtomicU64 = AtomicU64::new(1);

fn types_of<K, V>() -> &'static str {
    type_name::<(K, V)>()
}

impl TableSet {
    /// Opens the table `name`, creating it empty if it does not exist.
    pub(crate) fn open_or_create<K: TableKey, V: TableValue>(
        &self,
        name: &str,
    ) -> Result<Table<K, V>, TableError> {
        let mut tables = self.tables.lock();
        if let Some(entry) = tables.get(name) {
            return downcast::<K, V>(name, entry).map(|inner| Table { inner });
        }
        let inner = Arc::new(Inner {
            id: TableId(NEXT_TABLE_ID.fetch_add(1, Ordering::Relaxed)),
            name: name.to_owned(),
            map: DashMap::new(),
            #[cfg(feature = "cluster")]
            tracking: std::sync::atomic::AtomicBool::new(false),
            #[cfg(feature = "cluster")]
            dirty: Mutex::new(None),
        });
        tables.insert(
            name.to_owned(),
            Entry {
                table: inner.clone(),
                types: types_of::<K, V>(),
            },
        );
        Ok(Table { inner })
    }

    /// Opens an existing table for reading.
    pub(crate) fn reader<K: TableKey, V: TableValue>(
        &self,
        instance: InstanceId,
        name: &str,
    ) -> Result<TableReader<K, V>, TableError> {
        let tables = self.tables.lock();
        let entry = tables.get(name).ok_or_else(|| TableError::NotFound {
            instance,
            table: name.to_owned(),
        })?;
        downcast::<K, V>(name, entry).map(|inner| TableReader { inner })
    }

    /// Forgets the table `name`; readers that still hold it keep their view.
    pub(crate) fn drop_table(&self, name: &str) -> bool {
        self.tables.lock().remove(name).is_some()
    }

    /// Takes every table out: what the source of a move to another node does
    /// once the target has taken over.
    #[cfg(feature = "cluster")]
    pub(crate) fn take(&self) -> TableSet {
        TableSet {
            tables: Mutex::new(std::mem::take(&mut *self.tables.lock())),
        }
    }

    /// The names of all tables, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tables.lock().keys().cloned().collect();
        names.sort();
        names
    }
}

fn downcast<K: TableKey, V: TableValue>(
    name: &str,
    entry: &Entry,
) -> Result<Arc<Inner<K, V>>, TableError> {
    entry
        .table
        .clone()
        .downcast::<Inner<K, V>>()
        .map_err(|_| TableError::WrongType {
            table: name.to_owned(),
            actual: entry.types,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
