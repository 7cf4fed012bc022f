//! The tables of one instance, by name, with their types erased.

use std::any::{Any, type_name};
use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Inner, Table, TableKey, TableReader, TableValue};
use crate::error::TableError;
use crate::id::InstanceId;

/// One stored table, with its types erased.
struct Entry {
    table: Arc<dyn Any + Send + Sync>,
    types: &'static str,
    /// Counts the table's rows without knowing its types.
    rows: fn(&(dyn Any + Send + Sync)) -> usize,
}

fn rows_of<K: TableKey, V: TableValue>(table: &(dyn Any + Send + Sync)) -> usize {
    table
        .downcast_ref::<Inner<K, V>>()
        .map_or(0, |inner| inner.map.len())
}

/// The tables of one instance, by name. Owned by the instance's kept parts, so
/// it outlives every worker.
#[derive(Default)]
pub(crate) struct TableSet {
    /// A B-tree: an instance has few tables, and its names come sorted.
    /// Made at the first table: most instances have none, and every
    /// instance keeps its `TableSet` inline.
    #[allow(
        clippy::box_collection,
        reason = "a pointer inline in every instance, not the map's 24 bytes"
    )]
    tables: Mutex<Option<Box<BTreeMap<String, Entry>>>>,
}

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
        let tables = tables.get_or_insert_with(Box::default);
        if let Some(entry) = tables.get(name) {
            return downcast::<K, V>(name, entry).map(Table::from_inner);
        }
        let inner = Arc::new(Inner::new(name));
        tables.insert(
            name.to_owned(),
            Entry {
                table: inner.clone(),
                types: types_of::<K, V>(),
                rows: rows_of::<K, V>,
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
        let entry = tables.as_ref().and_then(|t| t.get(name));
        let entry = entry.ok_or_else(|| TableError::NotFound {
            instance,
            table: name.to_owned(),
        })?;
        downcast::<K, V>(name, entry).map(TableReader::from_inner)
    }

    /// Forgets the table `name`; readers that still hold it keep their view.
    pub(crate) fn drop_table(&self, name: &str) -> bool {
        let mut tables = self.tables.lock();
        tables.as_mut().is_some_and(|t| t.remove(name).is_some())
    }

    /// Takes every table out: what the source of a move to another node does
    /// once the target has taken over.
    pub(crate) fn take(&self) -> TableSet {
        TableSet {
            tables: Mutex::new(self.tables.lock().take()),
        }
    }

    /// The names of all tables, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let tables = self.tables.lock();
        tables.iter().flat_map(|t| t.keys().cloned()).collect()
    }

    /// The names of all tables, sorted, each with its row count.
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub(crate) fn sizes(&self) -> Vec<(String, usize)> {
        let tables = self.tables.lock();
        tables
            .iter()
            .flat_map(|t| t.iter())
            .map(|(name, entry)| (name.clone(), (entry.rows)(&*entry.table)))
            .collect()
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
