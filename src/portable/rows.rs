//! Tables cross nodes as a stream of bounded chunks of rows, so that moving a
//! table of any size holds only a few chunks in memory on either side.
//!
//! The source takes the table's keys when the move starts (the instance is
//! frozen then, so no callback writes to it), then encodes rows one by one,
//! reading each value in place, until a chunk reaches its size. A row bigger
//! than a chunk travels alone. The target decodes each chunk straight into the
//! new table.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::portable::{RowSink, RowSource};
use crate::table::{Table, TableKey, TableValue};

/// Bytes of encoded rows per chunk.
pub(crate) const CHUNK_BYTES: usize = 1024 * 1024;

/// Reads a table chunk by chunk.
pub(crate) struct TableRows<K, V> {
    table: Table<K, V>,
    keys: std::vec::IntoIter<K>,
    rows: u64,
}

impl<K: TableKey + Clone, V: TableValue> TableRows<K, V> {
    pub(crate) fn new(table: Table<K, V>) -> Self {
        let keys = table.keys();
        Self::with_keys(table, keys)
    }

    /// Reads only the rows under `keys`.
    pub(crate) fn with_keys(table: Table<K, V>, keys: Vec<K>) -> Self {
        let rows = keys.len() as u64;
        TableRows {
            table,
            keys: keys.into_iter(),
            rows,
        }
    }
}

impl<K, V> RowSource for TableRows<K, V>
where
    K: TableKey + Clone + Serialize,
    V: TableValue + Serialize,
{
    fn rows(&self) -> u64 {
        self.rows
    }

    fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<(Vec<u8>, u32)>, String> {
        // Sized once: growing by doubling would copy each chunk twice over.
        let mut buf = Vec::with_capacity(max_bytes.saturating_add(max_bytes / 8));
        let mut count = 0_u32;
        while buf.len() < max_bytes && count < u32::MAX {
            let Some(key) = self.keys.next() else { break };
            let mut failed = None;
            // A row removed since the keys were taken is skipped.
            let found = self.table.with(&key, |value| {
                match postcard::to_extend(&(&key, value), std::mem::take(&mut buf)) {
                    Ok(extended) => buf = extended,
                    Err(e) => failed = Some(e.to_string()),
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            if found.is_some() {
                count += 1;
            }
        }
        Ok((count > 0).then_some((buf, count)))
    }
}

/// Fills a table from chunks.
pub(crate) struct TableFill<K, V> {
    table: Table<K, V>,
}

impl<K, V> TableFill<K, V> {
    pub(crate) fn new(table: Table<K, V>) -> Self {
        TableFill { table }
    }
}

impl<K, V> RowSink for TableFill<K, V>
where
    K: TableKey + DeserializeOwned,
    V: TableValue + DeserializeOwned,
{
    fn absorb(&mut self, bytes: &[u8], count: u32) -> Result<(), String> {
        let mut rest = bytes;
        for _ in 0..count {
            let ((key, value), tail): ((K, V), &[u8]) =
                postcard::take_from_bytes(rest).map_err(|e| e.to_string())?;
            self.table.insert(key, value);
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(format!("{} bytes after the last row", rest.len()));
        }
        Ok(())
    }

    fn remove(&mut self, bytes: &[u8], count: u32) -> Result<(), String> {
        let mut rest = bytes;
        for _ in 0..count {
            let (key, tail): (K, &[u8]) =
                postcard::take_from_bytes(rest).map_err(|e| e.to_string())?;
            self.table.remove(&key);
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(format!("{} bytes after the last key", rest.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::TableSet;

    #[test]
    fn chunks_are_bounded_and_carry_every_row() {
        let from = TableSet::default();
        let table = from.open_or_create::<u64, String>("t").unwrap();
        for i in 0..10_000 {
            table.insert(i, format!("row {i}"));
        }
        let mut rows = TableRows::new(table);
        assert_eq!(rows.rows(), 10_000);
        let to = TableSet::default();
        let mut fill = TableFill::new(to.open_or_create::<u64, String>("t").unwrap());
        let mut chunks = 0;
        while let Some((bytes, count)) = rows.next_chunk(4096).unwrap() {
            // One row may cross the bound, never more.
            assert!(bytes.len() < 4096 + 64, "chunk of {} bytes", bytes.len());
            fill.absorb(&bytes, count).unwrap();
            chunks += 1;
        }
        assert!(chunks > 10);
        let copy = to.open_or_create::<u64, String>("t").unwrap();
        assert_eq!(copy.len(), 10_000);
        assert_eq!(copy.get(&1234), Some("row 1234".to_owned()));
    }

    #[test]
    fn a_bad_chunk_is_an_error() {
        let to = TableSet::default();
        let mut fill = TableFill::new(to.open_or_create::<u64, String>("t").unwrap());
        assert!(fill.absorb(&[0xff; 7], 3).is_err());
        assert!(fill.absorb(&[1, 1, b'a', 9], 1).is_err(), "trailing bytes");
    }
}
