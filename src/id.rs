//! Identities: of instances, supervisors, tables and timers.
//!
//! The lowest module of the crate: it imports nothing from it, so every other
//! module (errors included) can name an identity without reaching upward.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The identity of an instance: unique in the process, unchanged by crashes,
/// restarts and transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(u64);

/// The identity of a supervisor, unique in the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SupervisorId(u64);

/// The identity of a table, unique in the process and stable across crashes,
/// restarts and local transfers of its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId(u64);

/// Identifies a timer of one instance, for
/// [`Context::cancel_timer`](crate::Context::cancel_timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(pub(crate) u64);

static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);
static NEXT_SUPERVISOR: AtomicU64 = AtomicU64::new(1);
static NEXT_TABLE: AtomicU64 = AtomicU64::new(1);

impl InstanceId {
    pub(crate) fn next() -> Self {
        InstanceId(NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed))
    }
}

impl SupervisorId {
    pub(crate) fn next() -> Self {
        SupervisorId(NEXT_SUPERVISOR.fetch_add(1, Ordering::Relaxed))
    }
}

impl TableId {
    pub(crate) fn next() -> Self {
        TableId(NEXT_TABLE.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instance#{}", self.0)
    }
}

impl fmt::Display for SupervisorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "supervisor#{}", self.0)
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table#{}", self.0)
    }
}

impl fmt::Display for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timer#{}", self.0)
    }
}
