//! [`RedbStore`]: the embedded store, one redb file.
//!
//! Four tables, keyed by the instance's name first, so that everything of
//! one instance is one key range:
//!
//! | table | key | value |
//! |---|---|---|
//! | `records` | name | the instance's record |
//! | `entries` | (name, dictionary key) | the encoded value |
//! | `rows` | (name, table, encoded key) | the encoded value |
//! | `messages` | (name, number) | the encoded message |

use std::collections::HashMap;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::store::{Store, StoreError, StoredInstance, Write};

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
const ROWS: TableDefinition<(&str, &str, &[u8]), &[u8]> = TableDefinition::new("rows");
const MESSAGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("messages");

/// The embedded store: one redb file, ACID and crash-safe, held by one
/// process at a time.
///
/// ```
/// use peeper::durable::RedbStore;
///
/// let dir = std::env::temp_dir().join(format!("peeper-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("store.redb");
/// let store = RedbStore::open(&path).unwrap();
/// // A second holder of the same file gets a typed error.
/// assert!(matches!(
///     RedbStore::open(&path),
///     Err(peeper::durable::StoreError::Locked { .. })
/// ));
/// drop(store);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct RedbStore {
    db: Database,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the store at `path`, creating it if there is none.
    ///
    /// # Errors
    /// [`StoreError::Locked`] if another process (or another `RedbStore` in
    /// this one) holds it, [`StoreError::Corrupt`] if the file is damaged or
    /// is not a store.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore, StoreError> {
        let path = path.as_ref();
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.display().to_string(),
            },
            other => StoreError::Corrupt(other.to_string()),
        })?;
        let store = RedbStore { db };
        // The tables exist from the start, so that reading a new store
        // finds them empty rather than missing.
        store.commit(&[], true)?;
        Ok(store)
    }
}

fn write_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Write(e.to_string())
}

fn read_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Read(e.to_string())
}

/// The smallest string after `s`: a key range up to it holds `s`'s keys.
fn after(s: &str) -> String {
    format!("{s}\0")
}

impl Store for RedbStore {
    fn commit(&self, writes: &[Write], sync: bool) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().map_err(write_error)?;
        let durability = if sync {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        };
        tx.set_durability(durability).map_err(write_error)?;
        {
            let mut records = tx.open_table(RECORDS).map_err(write_error)?;
            let mut entries = tx.open_table(ENTRIES).map_err(write_error)?;
            let mut rows = tx.open_table(ROWS).map_err(write_error)?;
            let mut messages = tx.open_table(MESSAGES).map_err(write_error)?;
            for write in writes {
                let done = match write {
                    Write::Record { name, record } => {
                        records.insert(name.as_str(), record.as_slice()).map(drop)
                    }
                    Write::Entry { name, key, value } => match value {
                        Some(v) => entries
                            .insert((name.as_str(), key.as_str()), v.as_slice())
                            .map(drop),
                        None => entries.remove((name.as_str(), key.as_str())).map(drop),
                    },
                    Write::Row {
                        name,
                        table,
                        key,
                        value,
                    } => {
                        let k = (name.as_str(), table.as_str(), key.as_slice());
                        match value {
                            Some(v) => rows.insert(k, v.as_slice()).map(drop),
                            None => rows.remove(k).map(drop),
                        }
                    }
                    Write::ClearTable { name, table } => {
                        let next = after(table);
                        let (from, to): (&[u8], &[u8]) = (&[], &[]);
                        rows.retain_in(
                            (name.as_str(), table.as_str(), from)
                                ..(name.as_str(), next.as_str(), to),
                            |_, _| false,
                        )
                    }
                    Write::Message { name, seq, message } => match message {
                        Some(m) => messages
                            .insert((name.as_str(), *seq), m.as_slice())
                            .map(drop),
                        None => messages.remove((name.as_str(), *seq)).map(drop),
                    },
                    Write::Reset { name } => reset(name, &mut entries, &mut rows),
                    Write::Forget { name } => {
                        forget(name, &mut records, &mut entries, &mut rows, &mut messages)
                    }
                };
                done.map_err(write_error)?;
            }
        }
        tx.commit().map_err(write_error)
    }

    fn record(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(read_error)?;
        let records = tx.open_table(RECORDS).map_err(read_error)?;
        let found = records.get(name).map_err(read_error)?;
        Ok(found.map(|r| r.value().to_vec()))
    }

    fn load(&self) -> Result<Vec<StoredInstance>, StoreError> {
        let tx = self.db.begin_read().map_err(read_error)?;
        let mut found: HashMap<String, StoredInstance> = HashMap::new();
        let records = tx.open_table(RECORDS).map_err(read_error)?;
        for item in records.iter().map_err(read_error)? {
            let (name, record) = item.map_err(read_error)?;
            let name = name.value().to_owned();
            found.insert(
                name.clone(),
                StoredInstance {
                    name,
                    record: record.value().to_vec(),
                    ..StoredInstance::default()
                },
            );
        }
        let entries = tx.open_table(ENTRIES).map_err(read_error)?;
        for item in entries.iter().map_err(read_error)? {
            let (key, value) = item.map_err(read_error)?;
            let (name, entry) = key.value();
            if let Some(instance) = found.get_mut(name) {
                instance
                    .entries
                    .push((entry.to_owned(), value.value().to_vec()));
            }
        }
        let rows = tx.open_table(ROWS).map_err(read_error)?;
        for item in rows.iter().map_err(read_error)? {
            let (key, value) = item.map_err(read_error)?;
            let (name, table, row) = key.value();
            if let Some(instance) = found.get_mut(name) {
                instance
                    .tables
                    .entry(table.to_owned())
                    .or_default()
                    .push((row.to_vec(), value.value().to_vec()));
            }
        }
        let messages = tx.open_table(MESSAGES).map_err(read_error)?;
        for item in messages.iter().map_err(read_error)? {
            let (key, value) = item.map_err(read_error)?;
            let (name, seq) = key.value();
            if let Some(instance) = found.get_mut(name) {
                instance.messages.push((seq, value.value().to_vec()));
            }
        }
        let mut all: Vec<StoredInstance> = found.into_values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }
}

type Tables<'t, K> = redb::Table<'t, K, &'static [u8]>;

fn forget(
    name: &str,
    records: &mut Tables<'_, &'static str>,
    entries: &mut Tables<'_, (&'static str, &'static str)>,
    rows: &mut Tables<'_, (&'static str, &'static str, &'static [u8])>,
    messages: &mut Tables<'_, (&'static str, u64)>,
) -> Result<(), redb::StorageError> {
    records.remove(name)?;
    reset(name, entries, rows)?;
    messages.retain_in((name, 0)..=(name, u64::MAX), |_, _| false)
}

fn reset(
    name: &str,
    entries: &mut Tables<'_, (&'static str, &'static str)>,
    rows: &mut Tables<'_, (&'static str, &'static str, &'static [u8])>,
) -> Result<(), redb::StorageError> {
    let next = after(name);
    let empty: &[u8] = &[];
    entries.retain_in((name, "")..(next.as_str(), ""), |_, _| false)?;
    rows.retain_in((name, "", empty)..(next.as_str(), "", empty), |_, _| false)
}
