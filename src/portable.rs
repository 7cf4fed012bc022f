//! What makes an actor's parts able to leave memory: [`Portable`], and
//! [`Parts`], the declaration of which tables and dictionary entries go with
//! it and as what types. One trait serves both ways out: a move to another
//! node (feature `cluster`) and a durable store (feature `durable`).
//!
//! A node builds a moved instance from the kind's registered factory
//! (`Node::register`), a store from the kind registered with
//! `Durable::register`; the kind's name and state version are written with
//! the state, so a node or a store that does not know the kind, or cannot
//! read that version, refuses it with a typed error.

#[cfg(feature = "durable")]
pub(crate) mod journal;
pub(crate) mod rows;
mod typed;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::actor::Actor;
use crate::table::{TableId, TableKey, TableSet, TableValue, WriteObserver};

/// An [`Actor`] whose instances can move to another node and be called
/// across nodes: its state and messages are serde types.
///
/// ```
/// use peeper::portable::{Parts, Portable};
/// use peeper::{Actor, BoxError, Context, StateMut};
/// use serde::{Deserialize, Serialize};
///
/// struct Room;
///
/// #[derive(Clone, Serialize, Deserialize)]
/// struct Chat { lines: Vec<String> }
///
/// impl Actor for Room {
///     type State = Chat;
///     type Call = ();
///     type Reply = usize;
///     type Cast = String;
///     type Info = ();
///
///     async fn handle_call(&self, _: (), s: &mut StateMut<Chat>, _: &mut Context<Self>)
///         -> Result<usize, BoxError> {
///         Ok(s.lines.len())
///     }
/// }
///
/// impl Portable for Room {
///     const KIND: &'static str = "room";
///     const VERSION: u32 = 1;
///
///     fn parts(parts: &mut Parts) {
///         parts.table::<u64, String>("members").dictionary::<u32>("topic_id");
///     }
/// }
/// ```
pub trait Portable:
    Actor<
        State: Serialize + DeserializeOwned,
        Call: Serialize + DeserializeOwned,
        Reply: Serialize + DeserializeOwned,
        Cast: Serialize + DeserializeOwned,
        Info: Serialize + DeserializeOwned,
    >
{
    /// The kind's name, the same on every node.
    const KIND: &'static str;
    /// The version of the state's encoding, written in every snapshot.
    const VERSION: u32;

    /// Whether this node can read a snapshot written at `version`. The
    /// default accepts only [`Portable::VERSION`].
    fn accepts(version: u32) -> bool {
        version == Self::VERSION
    }

    /// Reads a state stored at a `version` that [`Portable::accepts`]
    /// refuses, from its encoding (`state`: postcard, as the older program
    /// wrote it): decode it as the old type and convert. Used when a durable
    /// store brings an instance back after an upgrade. The default, `Ok(None)`,
    /// refuses with a typed error naming both versions; an `Err` refuses with
    /// its text.
    ///
    /// # Errors
    /// Whatever the conversion says.
    fn upgrade(version: u32, state: &[u8]) -> Result<Option<Self::State>, crate::BoxError> {
        let _ = (version, state);
        Ok(None)
    }

    /// Declares the tables and dictionary entries that travel with an
    /// instance. An instance holding a table or a dictionary entry that is not
    /// declared here refuses to move. The default declares none.
    fn parts(parts: &mut Parts) {
        let _ = parts;
    }
}

/// The tables and dictionary entries of a [`Portable`] kind that travel, by
/// name, with their types.
#[derive(Default)]
pub struct Parts {
    pub(crate) tables: BTreeMap<String, Arc<dyn TableCodec>>,
    pub(crate) dictionary: BTreeMap<String, EntryCodec>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("tables", &self.tables.keys().collect::<Vec<_>>())
            .field("dictionary", &self.dictionary.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Parts {
    /// Declares the table `name`, with keys `K` and values `V`.
    pub fn table<K, V>(&mut self, name: &str) -> &mut Self
    where
        K: TableKey + Clone + Serialize + DeserializeOwned,
        V: TableValue + Serialize + DeserializeOwned,
    {
        self.tables.insert(
            name.to_owned(),
            Arc::new(typed::TypedTable::<K, V>::default()),
        );
        self
    }

    /// Declares the dictionary entry `key`, holding a `V`.
    pub fn dictionary<V>(&mut self, key: &str) -> &mut Self
    where
        V: Any + Send + Sync + Serialize + DeserializeOwned,
    {
        self.dictionary.insert(
            key.to_owned(),
            EntryCodec {
                encode: encode_value::<V>,
                decode: decode_value::<V>,
            },
        );
        self
    }

    pub(crate) fn of<A: Portable>() -> Parts {
        let mut parts = Parts::default();
        A::parts(&mut parts);
        parts
    }
}

type Value = Arc<dyn Any + Send + Sync>;

/// How one declared dictionary entry is encoded and decoded.
#[derive(Clone, Copy)]
pub(crate) struct EntryCodec {
    pub(crate) encode: fn(&Value) -> Result<Vec<u8>, String>,
    pub(crate) decode: fn(&[u8]) -> Result<Value, String>,
}

fn encode_value<V: Any + Serialize>(value: &Value) -> Result<Vec<u8>, String> {
    let value = value
        .downcast_ref::<V>()
        .ok_or_else(|| format!("holds another type than {}", std::any::type_name::<V>()))?;
    postcard::to_stdvec(value).map_err(|e| e.to_string())
}

fn decode_value<V: Any + Send + Sync + DeserializeOwned>(bytes: &[u8]) -> Result<Value, String> {
    let value: V = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
    Ok(Arc::new(value))
}

/// One declared table, with its types erased.
pub(crate) trait TableCodec: Send + Sync {
    /// Rows of the instance's table `name`, or `None` if it has none.
    fn source(&self, tables: &TableSet, name: &str) -> Result<Option<Box<dyn RowSource>>, String>;
    /// A sink that fills a new table `name` in `tables`.
    fn sink(&self, tables: &TableSet, name: &str) -> Result<Box<dyn RowSink>, String>;
    /// Starts noting the keys written to the table; its id, or `None` if the
    /// instance has no such table.
    fn track(&self, tables: &TableSet, name: &str) -> Result<Option<TableId>, String>;
    /// Stops noting; what was written since [`TableCodec::track`] (or the
    /// last [`TableCodec::rotate`]).
    fn dirty(&self, tables: &TableSet, name: &str) -> Result<Option<Dirty>, String>;
    /// What was written since noting began or the last rotation, while
    /// noting goes on; `None` if the table is not the one with id `copied`
    /// any more, or was cleared: the catch-up sends those whole.
    fn rotate(
        &self,
        tables: &TableSet,
        name: &str,
        copied: TableId,
    ) -> Result<Option<Dirty>, String>;
    /// What changed in the table since the last look (see
    /// [`journal::look`]); `None` if the instance has no such table.
    #[cfg(feature = "durable")]
    fn look(
        &self,
        tables: &TableSet,
        name: &str,
        whole: bool,
    ) -> Result<Option<journal::Journaled>, String>;
    /// Fills the table with stored rows (see [`journal::fill`]).
    #[cfg(feature = "durable")]
    fn fill(
        &self,
        tables: &TableSet,
        name: &str,
        rows: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), String>;
}

/// What changed in a table while it was being copied.
pub(crate) struct Dirty {
    /// The table's id now (a table dropped and made again has a new one).
    pub(crate) id: TableId,
    /// Every row was removed at some point: send it whole again.
    pub(crate) cleared: bool,
    /// The rows written, as they are now.
    pub(crate) rows: Box<dyn RowSource>,
    /// Encoded keys removed, in chunks, with their counts.
    pub(crate) removed: Vec<(Vec<u8>, u32)>,
}

/// Reads a table in bounded chunks of encoded rows.
pub(crate) trait RowSource: Send {
    /// Rows in the table when the source was made.
    fn rows(&self) -> u64;
    /// The next chunk: about `max_bytes` of encoded rows (at least one row)
    /// and how many rows it holds; `None` at the end.
    fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<(Vec<u8>, u32)>, String>;
}

/// Writes chunks of encoded rows into a table.
pub(crate) trait RowSink: Send {
    /// Decodes `count` rows from `bytes` and inserts them.
    fn absorb(&mut self, bytes: &[u8], count: u32) -> Result<(), String>;
    /// Decodes `count` keys from `bytes` and removes their rows.
    fn remove(&mut self, bytes: &[u8], count: u32) -> Result<(), String>;
}

/// Keys written during a copy, or since a durable instance's last change.
struct KeyLog<K> {
    keys: std::collections::HashSet<K>,
    cleared: bool,
}

impl<K> Default for KeyLog<K> {
    fn default() -> Self {
        KeyLog {
            keys: std::collections::HashSet::new(),
            cleared: false,
        }
    }
}

impl<K: TableKey + Clone> WriteObserver<K> for KeyLog<K> {
    fn written(&mut self, key: &K) {
        if !self.cleared && !self.keys.contains(key) {
            self.keys.insert(key.clone());
        }
    }

    fn cleared(&mut self) {
        // The whole table goes again: the keys no longer matter.
        self.cleared = true;
        self.keys = std::collections::HashSet::new();
    }

    fn is_cleared(&self) -> bool {
        self.cleared
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Clones a message through its encoding: an interval timer that travelled
/// or was read back from a store needs copies of its message, and
/// `Portable` does not ask for `Clone`.
pub(crate) fn reencode<I: Serialize + DeserializeOwned>(msg: &I) -> Option<I> {
    let bytes = postcard::to_stdvec(msg).ok()?;
    postcard::from_bytes(&bytes).ok()
}
