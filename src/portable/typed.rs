//! One declared table with its types: how its rows are read, written,
//! tracked during a move and journaled for a store, behind the type-erased
//! [`TableCodec`].

use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(feature = "durable")]
use super::journal;
use super::{Dirty, KeyLog, RowSink, RowSource, TableCodec, rows};
use crate::table::{Table, TableId, TableKey, TableSet, TableValue};

/// The codec of a table with keys `K` and values `V`.
pub(super) struct TypedTable<K, V>(std::marker::PhantomData<fn() -> (K, V)>);

impl<K, V> Default for TypedTable<K, V> {
    fn default() -> Self {
        TypedTable(std::marker::PhantomData)
    }
}

impl<K, V> TableCodec for TypedTable<K, V>
where
    K: TableKey + Clone + Serialize + DeserializeOwned,
    V: TableValue + Serialize + DeserializeOwned,
{
    #[cfg(feature = "durable")]
    fn look(
        &self,
        tables: &TableSet,
        name: &str,
        whole: bool,
    ) -> Result<Option<journal::Journaled>, String> {
        journal::look::<K, V>(tables, name, whole)
    }

    #[cfg(feature = "durable")]
    fn fill(
        &self,
        tables: &TableSet,
        name: &str,
        rows: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), String> {
        journal::fill::<K, V>(tables, name, rows)
    }

    fn source(&self, tables: &TableSet, name: &str) -> Result<Option<Box<dyn RowSource>>, String> {
        if !tables.names().iter().any(|n| n == name) {
            return Ok(None);
        }
        let table = tables
            .open_or_create::<K, V>(name)
            .map_err(|e| e.to_string())?;
        Ok(Some(Box::new(rows::TableRows::new(table))))
    }

    fn sink(&self, tables: &TableSet, name: &str) -> Result<Box<dyn RowSink>, String> {
        let table = tables
            .open_or_create::<K, V>(name)
            .map_err(|e| e.to_string())?;
        Ok(Box::new(rows::TableFill::new(table)))
    }

    fn track(&self, tables: &TableSet, name: &str) -> Result<Option<TableId>, String> {
        let Some(table) = existing::<K, V>(tables, name)? else {
            return Ok(None);
        };
        table.observe(Box::new(KeyLog::<K> {
            keys: std::collections::HashSet::new(),
            cleared: false,
        }));
        Ok(Some(table.id()))
    }

    fn dirty(&self, tables: &TableSet, name: &str) -> Result<Option<Dirty>, String> {
        let Some(table) = existing::<K, V>(tables, name)? else {
            return Ok(None);
        };
        let log = match table.stop_observing() {
            Some(log) => log
                .into_any()
                .downcast::<KeyLog<K>>()
                .map_err(|_| "a table's log has another type".to_owned())?,
            None => Box::new(KeyLog {
                keys: std::collections::HashSet::new(),
                cleared: true,
            }),
        };
        changes(table, *log).map(Some)
    }

    fn rotate(
        &self,
        tables: &TableSet,
        name: &str,
        copied: TableId,
    ) -> Result<Option<Dirty>, String> {
        let Some(table) = existing::<K, V>(tables, name)? else {
            return Ok(None);
        };
        if table.id() != copied {
            return Ok(None);
        }
        let fresh = Box::new(KeyLog::<K> {
            keys: std::collections::HashSet::new(),
            cleared: false,
        });
        let Some(log) = table.swap_observer(fresh) else {
            return Ok(None);
        };
        let log = log
            .into_any()
            .downcast::<KeyLog<K>>()
            .map_err(|_| "a table's log has another type".to_owned())?;
        changes(table, *log).map(Some)
    }
}

/// The rows written (as they are now) and the keys removed, from a log.
fn changes<K, V>(table: Table<K, V>, log: KeyLog<K>) -> Result<Dirty, String>
where
    K: TableKey + Clone + Serialize,
    V: TableValue + Serialize,
{
    let mut written = Vec::new();
    let mut removed = Vec::new();
    let mut chunk = Vec::new();
    let mut count = 0_u32;
    for key in log.keys {
        if table.contains_key(&key) {
            written.push(key);
            continue;
        }
        chunk = postcard::to_extend(&key, chunk).map_err(|e| e.to_string())?;
        count += 1;
        if chunk.len() >= rows::CHUNK_BYTES {
            removed.push((std::mem::take(&mut chunk), count));
            count = 0;
        }
    }
    if count > 0 {
        removed.push((chunk, count));
    }
    Ok(Dirty {
        id: table.id(),
        cleared: log.cleared,
        rows: Box::new(rows::TableRows::with_keys(table, written)),
        removed,
    })
}

fn existing<K: TableKey, V: TableValue>(
    tables: &TableSet,
    name: &str,
) -> Result<Option<Table<K, V>>, String> {
    if !tables.names().iter().any(|n| n == name) {
        return Ok(None);
    }
    tables
        .open_or_create::<K, V>(name)
        .map(Some)
        .map_err(|e| e.to_string())
}
