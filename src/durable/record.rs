//! An instance's record, as a store keeps it:
//!
//! ```text
//! "PDUR" | format (1 byte) | postcard(Record)
//! ```
//!
//! The kind and the state's version are read before the state, so a record
//! of an unknown kind or of a version the kind does not accept is refused
//! with a typed error and never decoded as something else.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

const MAGIC: [u8; 4] = *b"PDUR";
const FORMAT: u8 = 1;

/// An instance's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The supervisor it runs under.
    pub(crate) supervisor: String,
    /// Its kind ([`Portable::KIND`](crate::portable::Portable::KIND)).
    pub(crate) kind: String,
    /// The version its state was written at.
    pub(crate) version: u32,
    /// The encoded state.
    #[serde(with = "serde_bytes")]
    pub(crate) state: Vec<u8>,
    /// Its pending timers.
    pub(crate) timers: Vec<StoredTimer>,
    /// Its restart policy: restarts allowed, within this many milliseconds.
    pub(crate) policy: (u32, u64),
    /// The bound of its inbox, if it has one.
    pub(crate) capacity: Option<u64>,
    /// Set while it is being moved to this node: it may run there now, so a
    /// restart here does not start it before that node says it does not
    /// hold it.
    pub(crate) moving: Option<String>,
}

/// A pending timer, with the wall-clock time it is due, so that it fires
/// on time after a restart (or at once, if that time has passed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredTimer {
    pub(crate) id: u64,
    /// Milliseconds since the Unix epoch.
    pub(crate) due_ms: u64,
    pub(crate) period_us: Option<u64>,
    #[serde(with = "serde_bytes")]
    pub(crate) msg: Vec<u8>,
}

impl StoredTimer {
    /// A timer due in `remaining` from now.
    pub(crate) fn due_in(
        id: u64,
        remaining: Duration,
        period: Option<Duration>,
        msg: Vec<u8>,
    ) -> Self {
        let due = SystemTime::now() + remaining;
        let due_ms = due
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        StoredTimer {
            id,
            due_ms,
            period_us: period.map(|p| u64::try_from(p.as_micros()).unwrap_or(u64::MAX)),
            msg,
        }
    }

    /// The time left until it is due; zero if that time has passed.
    pub(crate) fn remaining(&self) -> Duration {
        let due = UNIX_EPOCH + Duration::from_millis(self.due_ms);
        due.duration_since(SystemTime::now()).unwrap_or_default()
    }

    pub(crate) fn period(&self) -> Option<Duration> {
        self.period_us.map(Duration::from_micros)
    }
}

/// Encodes a record.
pub(crate) fn encode(record: &Record) -> Result<Vec<u8>, String> {
    let mut out = MAGIC.to_vec();
    out.push(FORMAT);
    postcard::to_extend(record, out).map_err(|e| e.to_string())
}

/// Decodes a record; `Err` says why it is not one.
pub(crate) fn decode(bytes: &[u8]) -> Result<Record, String> {
    let rest = bytes
        .strip_prefix(&MAGIC)
        .ok_or_else(|| "not a peeper record".to_owned())?;
    let (&format, rest) = rest
        .split_first()
        .ok_or_else(|| "a record cut short".to_owned())?;
    if format != FORMAT {
        return Err(format!("record format {format} is not supported"));
    }
    postcard::from_bytes(rest).map_err(|e| format!("a damaged record: {e}"))
}
