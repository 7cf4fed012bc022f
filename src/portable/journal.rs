//! A durable instance's tables, row by row: which rows changed since the
//! last look, encoded for a store, and a table filled back from stored rows.
//!
//! A table's journal is a key log installed beside a move's observer (see
//! [`Table::swap_journal`]). Each look swaps in a fresh log and reads the
//! rows its old one names as they are now: a write lands in one log or the
//! other, so none is missed, and a row written twice between looks is read
//! once.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::KeyLog;
use crate::table::{Table, TableId, TableKey, TableSet, TableValue};

/// What changed in one table since the last look.
pub(crate) struct Journaled {
    /// The table's id: a table dropped and made again has a new one.
    pub(crate) id: TableId,
    /// Every row follows, and what the store held before goes: the table is
    /// new to the journal, or was cleared.
    pub(crate) whole: bool,
    /// Encoded keys, with their encoded values or `None` for a removed row.
    pub(crate) rows: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// The changes of the table `name` of `tables` since the last look (every
/// row with `whole`), or `None` if there is no such table.
pub(crate) fn look<K, V>(
    tables: &TableSet,
    name: &str,
    whole: bool,
) -> Result<Option<Journaled>, String>
where
    K: TableKey + Clone + Serialize,
    V: TableValue + Serialize,
{
    if !tables.names().iter().any(|n| n == name) {
        return Ok(None);
    }
    let table = tables
        .open_or_create::<K, V>(name)
        .map_err(|e| e.to_string())?;
    let fresh = Box::new(KeyLog::<K>::default());
    let old = table
        .swap_journal(fresh)
        .map(|log| log.into_any().downcast::<KeyLog<K>>())
        .transpose()
        .map_err(|_| "a table's journal has another type".to_owned())?;
    let (whole, keys) = match old {
        Some(log) if !log.cleared && !whole => (false, log.keys.into_iter().collect()),
        // New to the journal, or cleared: the journal is in place, so any
        // write from now on is in it, and the rows read here are all there is.
        _ => (true, table.keys()),
    };
    let mut rows = Vec::with_capacity(keys.len());
    for key in keys {
        rows.push(encode_row(&table, &key)?);
    }
    Ok(Some(Journaled {
        id: table.id(),
        whole,
        rows,
    }))
}

fn encode_row<K, V>(table: &Table<K, V>, key: &K) -> Result<(Vec<u8>, Option<Vec<u8>>), String>
where
    K: TableKey + Serialize,
    V: TableValue + Serialize,
{
    let encoded_key = postcard::to_stdvec(key).map_err(|e| e.to_string())?;
    let value = table
        .with(key, |v| postcard::to_stdvec(v).map_err(|e| e.to_string()))
        .transpose()?;
    Ok((encoded_key, value))
}

/// Fills the table `name` of `tables` with stored `rows`, and starts its
/// journal, so that the first look reports only what changed after.
pub(crate) fn fill<K, V>(
    tables: &TableSet,
    name: &str,
    rows: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<(), String>
where
    K: TableKey + Clone + DeserializeOwned,
    V: TableValue + DeserializeOwned,
{
    let table = tables
        .open_or_create::<K, V>(name)
        .map_err(|e| e.to_string())?;
    for (key, value) in rows {
        let key: K = postcard::from_bytes(&key).map_err(|e| format!("a key: {e}"))?;
        let value: V = postcard::from_bytes(&value).map_err(|e| format!("a value: {e}"))?;
        table.insert(key, value);
    }
    table.swap_journal(Box::new(KeyLog::<K>::default()));
    Ok(())
}
