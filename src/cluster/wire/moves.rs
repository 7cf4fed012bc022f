//! The move protocol's messages: each step from source to target, and what
//! a target or a source says of a move; see [`crate::cluster::handoff`].

use serde::{Deserialize, Serialize};

/// One step of a move, source to target; see [`crate::cluster::handoff`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Step {
    /// Opens the move: the target prepares an empty slot.
    Begin(Begin),
    /// Rows of one table, `count` postcard-encoded `(key, value)` pairs.
    Rows {
        table: String,
        count: u32,
        #[serde(with = "serde_bytes")]
        rows: Vec<u8>,
    },
    /// Keys removed from a table since it was copied, `count` of them.
    Remove {
        table: String,
        count: u32,
        #[serde(with = "serde_bytes")]
        keys: Vec<u8>,
    },
    /// Drops what the target holds of a table: it is sent again whole, or
    /// it no longer exists.
    ResetTable { table: String },
    /// The next piece of the snapshot (state and dictionary).
    Snapshot {
        #[serde(with = "serde_bytes")]
        piece: Vec<u8>,
    },
    /// The next piece of a large dictionary entry's encoding, sent while the
    /// instance still runs; the snapshot then names it instead of carrying
    /// it, if it has not changed since.
    Entry {
        key: String,
        /// The length of the whole encoding: the target decodes the entry
        /// as soon as it has it all, still before the freeze.
        total: u32,
        #[serde(with = "serde_bytes")]
        piece: Vec<u8>,
    },
    /// Get ready: decode everything, build the instance and reserve the
    /// name, but do not start it.
    Commit,
    /// Start the instance got ready: the source decided to hand over.
    Go,
    /// Drop the move: the source decided to keep the instance.
    Abort,
    /// Expect this move's data stream on your data port: the steps that
    /// carry rows and the snapshot come that way from now on.
    Stream,
    /// Where does the move stand with you? Answered `Status`.
    Status,
    /// The source relayed the last message it held for the instance:
    /// messages the target held back for its name may go in now.
    Drained,
}

impl Step {
    /// The step's name, for logs and errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Step::Begin(_) => "begin",
            Step::Rows { .. } => "rows",
            Step::Remove { .. } => "remove",
            Step::ResetTable { .. } => "reset",
            Step::Snapshot { .. } => "snapshot",
            Step::Entry { .. } => "entry",
            Step::Commit => "commit",
            Step::Go => "go",
            Step::Abort => "abort",
            Step::Stream => "stream",
            Step::Status => "status",
            Step::Drained => "drained",
        }
    }
}

/// Names one move: the instance and the epoch it will have at the target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct MoveKey {
    pub(crate) name: String,
    pub(crate) epoch: u64,
}

/// The opening of a move.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Begin {
    pub(crate) kind: String,
    pub(crate) version: u32,
    pub(crate) supervisor: String,
    pub(crate) from_node: String,
    /// The incarnation of the source node (see [`Hello`]).
    pub(crate) from_incarnation: u64,
    pub(crate) max_restarts: u32,
    pub(crate) restart_window_ms: u64,
    /// The bound of the instance's inbox, if it has one.
    pub(crate) capacity: Option<u64>,
    /// The instance is durable: the target stores it in its own store, and
    /// refuses it without one.
    pub(crate) durable: bool,
}

/// How a node holds a durable instance, as [`Request::Holds`] asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Holding {
    /// It runs here, or moved on from here (a forwarding note).
    Runs,
    /// A move of it is staged here and not decided: it may start here.
    Staged,
    /// Its record is in this node's store: a restart brought it back, or
    /// will.
    Stored,
    /// Not at all: it will not run here unless moved here again.
    Nothing,
}

/// Where a move stands at the target, as [`Step::Status`] asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StageStatus {
    /// Receiving, not ready: the source may still abort.
    Receiving,
    /// Ready, waiting for the source's decision.
    Ready,
    /// Started: the instance runs here.
    Started,
    /// No such move here: never begun, or dropped. It will not start here.
    Absent,
}

/// What the source of a move decided, as [`Request::Outcome`] asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Decision {
    /// Hand over: the target runs the instance.
    Go,
    /// Keep: the instance runs on at the source.
    Aborted,
    /// This node knows no such move (a new incarnation does not).
    Unknown,
}
