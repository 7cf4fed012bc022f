//! What makes an actor able to move between nodes: [`Portable`], and
//! [`Parts`], the declaration of which tables and dictionary entries travel
//! with it and as what types.
//!
//! A node builds the moved instance from the kind's registered factory (see
//! [`Node::register`](crate::cluster::Node::register)); the kind's name and
//! state version travel in the snapshot header, so a node that does not know
//! the kind, or cannot read that version, refuses the move and the instance
//! stays where it was.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::actor::Actor;
use crate::table::{TableKey, TableSet, TableValue};

/// An [`Actor`] whose instances can move to another node and be called
/// across nodes: its state and messages are serde types.
///
/// ```
/// use peeper::cluster::{Parts, Portable};
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
    pub(crate) tables: BTreeMap<String, Arc<dyn TablePort>>,
    pub(crate) dictionary: BTreeMap<String, DictionaryPort>,
}

impl Parts {
    /// Declares the table `name`, with keys `K` and values `V`.
    pub fn table<K, V>(&mut self, name: &str) -> &mut Self
    where
        K: TableKey + Clone + Serialize + DeserializeOwned,
        V: TableValue + Serialize + DeserializeOwned,
    {
        self.tables
            .insert(name.to_owned(), Arc::new(TypedTable::<K, V>::default()));
        self
    }

    /// Declares the dictionary entry `key`, holding a `V`.
    pub fn dictionary<V>(&mut self, key: &str) -> &mut Self
    where
        V: Any + Send + Sync + Serialize + DeserializeOwned,
    {
        self.dictionary.insert(
            key.to_owned(),
            DictionaryPort {
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
pub(crate) struct DictionaryPort {
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
pub(crate) trait TablePort: Send + Sync {
    /// Rows of the instance's table `name`, or `None` if it has none.
    fn source(&self, tables: &TableSet, name: &str) -> Result<Option<Box<dyn RowSource>>, String>;
    /// A sink that fills a new table `name` in `tables`.
    fn sink(&self, tables: &TableSet, name: &str) -> Result<Box<dyn RowSink>, String>;
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
}

struct TypedTable<K, V>(std::marker::PhantomData<fn() -> (K, V)>);

impl<K, V> Default for TypedTable<K, V> {
    fn default() -> Self {
        TypedTable(std::marker::PhantomData)
    }
}

impl<K, V> TablePort for TypedTable<K, V>
where
    K: TableKey + Clone + Serialize + DeserializeOwned,
    V: TableValue + Serialize + DeserializeOwned,
{
    fn source(&self, tables: &TableSet, name: &str) -> Result<Option<Box<dyn RowSource>>, String> {
        if !tables.names().iter().any(|n| n == name) {
            return Ok(None);
        }
        let table = tables
            .open_or_create::<K, V>(name)
            .map_err(|e| e.to_string())?;
        Ok(Some(Box::new(crate::cluster::stream::TableRows::new(
            table,
        ))))
    }

    fn sink(&self, tables: &TableSet, name: &str) -> Result<Box<dyn RowSink>, String> {
        let table = tables
            .open_or_create::<K, V>(name)
            .map_err(|e| e.to_string())?;
        Ok(Box::new(crate::cluster::stream::TableFill::new(table)))
    }
}
