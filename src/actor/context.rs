//! What a callback can reach besides its state: the instance's name and
//! handle, its dictionary, its tables and its timers.

use std::sync::Arc;
use std::time::Duration;

use std::fmt;

use super::Actor;
use crate::dictionary::Dictionary;
use crate::error::TableError;
use crate::handle::Handle;
use crate::id::{InstanceId, TimerId};
use crate::instance::Kept;
use crate::table::{Table, TableKey, TableValue};

/// The context a callback runs in: the instance's name and handle, its
/// dictionary, its tables and its timers.
pub struct Context<A: Actor> {
    kept: Arc<Kept<A>>,
    /// The callback's working copy of the dictionary; it becomes the kept one
    /// only when the callback completes.
    pub(crate) dict: Dictionary,
}

impl<A: Actor> Context<A> {
    pub(crate) fn new(kept: Arc<Kept<A>>, dict: Dictionary) -> Self {
        Context { kept, dict }
    }

    /// The instance's registered name.
    pub fn name(&self) -> &str {
        self.kept.name()
    }

    /// The instance's identity.
    pub fn id(&self) -> InstanceId {
        self.kept.id()
    }

    /// A handle to this very instance, e.g. to give to other tasks. Sending to
    /// it from a callback queues the message behind the current one; calling
    /// it from a callback would wait for itself and time out.
    pub fn handle(&self) -> Handle<A> {
        Handle::from_kept(self.kept.clone())
    }

    /// The dictionary, as of the last completed callback plus this callback's
    /// own writes.
    pub fn dictionary(&self) -> &Dictionary {
        &self.dict
    }

    /// The dictionary, for writing. Writes are kept only if this callback
    /// completes.
    pub fn dictionary_mut(&mut self) -> &mut Dictionary {
        &mut self.dict
    }

    /// Opens the table `name`, creating it empty if it does not exist yet.
    /// The same name always gives the same table, across crashes and moves.
    ///
    /// # Errors
    /// [`TableError::WrongType`] if the table exists with other key or value
    /// types.
    pub fn table<K: TableKey, V: TableValue>(&self, name: &str) -> Result<Table<K, V>, TableError> {
        self.kept.tables.open_or_create(name)
    }

    /// Forgets the table `name`. Readers that still hold it keep their view;
    /// opening the name again creates a new, empty table with a new id.
    pub fn drop_table(&self, name: &str) -> bool {
        self.kept.tables.drop_table(name)
    }

    /// The names of this instance's tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.kept.tables.names()
    }

    /// Delivers `msg` to [`Actor::handle_info`] after `delay`. On a durable
    /// instance (feature `durable`) the timer stays stored until its
    /// message is handled.
    ///
    /// # Panics
    /// Outside a tokio runtime; callbacks always run inside one.
    pub fn send_after(&self, delay: Duration, msg: A::Info) -> TimerId {
        // A durable instance keeps the timer stored until its message is
        // handled, copying the message when it fires.
        let kept_until_handled = crate::instance::one_shot_clone(&self.kept);
        self.kept.timers.start(
            self.kept.timer_target(),
            delay,
            None,
            msg,
            kept_until_handled,
        )
    }

    /// Delivers a clone of `msg` to [`Actor::handle_info`] every `period`,
    /// the first after one period, until cancelled or the instance stops.
    ///
    /// # Panics
    /// Outside a tokio runtime; callbacks always run inside one.
    pub fn send_interval(&self, period: Duration, msg: A::Info) -> TimerId
    where
        A::Info: Clone,
    {
        self.kept.timers.start(
            self.kept.timer_target(),
            period,
            Some(period),
            msg,
            Some(|m: &A::Info| Some(m.clone())),
        )
    }

    /// Cancels a timer. Returns `false` if it already fired (one-shot) or was
    /// cancelled. A message it already queued is still delivered.
    pub fn cancel_timer(&self, id: TimerId) -> bool {
        self.kept.timers.cancel(id)
    }

    /// How many timers are pending: set and not yet fired (an interval
    /// timer stays pending until cancelled). A timer that fired is no
    /// longer counted even if its message still waits in the inbox.
    pub fn pending_timers(&self) -> usize {
        self.kept.timers.pending()
    }
}

impl<A: Actor> fmt::Debug for Context<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("name", &self.kept.name())
            .field("id", &self.kept.id())
            .finish_non_exhaustive()
    }
}
