//! What a callback can reach besides its state: the instance's name and
//! handle, its dictionary, its tables and its timers.

use std::sync::Arc;
use std::time::Duration;

use crate::actor::Actor;
use crate::dictionary::Dictionary;
use crate::error::TableError;
use crate::handle::Handle;
use crate::instance::{InstanceId, Shared};
use crate::table::{Table, TableKey, TableValue};
use crate::timer::TimerId;

/// The context a callback runs in; see the [module docs](self).
pub struct Context<A: Actor> {
    shared: Arc<Shared<A>>,
    /// The callback's working copy of the dictionary; it becomes the kept one
    /// only when the callback completes.
    pub(crate) dict: Dictionary,
}

impl<A: Actor> Context<A> {
    pub(crate) fn new(shared: Arc<Shared<A>>, dict: Dictionary) -> Self {
        Context { shared, dict }
    }

    /// The instance's registered name.
    pub fn name(&self) -> &str {
        self.shared.name()
    }

    /// The instance's identity.
    pub fn id(&self) -> InstanceId {
        self.shared.id()
    }

    /// A handle to this very instance, e.g. to give to other tasks. Sending to
    /// it from a callback queues the message behind the current one; calling
    /// it from a callback would wait for itself and time out.
    pub fn handle(&self) -> Handle<A> {
        Handle::from_shared(self.shared.clone())
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
        self.shared.tables.open_or_create(name)
    }

    /// Forgets the table `name`. Readers that still hold it keep their view;
    /// opening the name again creates a new, empty table with a new id.
    pub fn drop_table(&self, name: &str) -> bool {
        self.shared.tables.drop_table(name)
    }

    /// The names of this instance's tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.shared.tables.names()
    }

    /// Delivers `msg` to [`Actor::handle_info`] after `delay`.
    ///
    /// # Panics
    /// Outside a tokio runtime; callbacks always run inside one.
    pub fn send_after(&self, delay: Duration, msg: A::Info) -> TimerId {
        self.shared
            .timers
            .start(Arc::downgrade(&self.shared), delay, None, msg, None)
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
        self.shared.timers.start(
            Arc::downgrade(&self.shared),
            period,
            Some(period),
            msg,
            Some(|m: &A::Info| Some(m.clone())),
        )
    }

    /// Cancels a timer. Returns `false` if it already fired (one-shot) or was
    /// cancelled. A message it already queued is still delivered.
    pub fn cancel_timer(&self, id: TimerId) -> bool {
        self.shared.timers.cancel(id)
    }

    /// How many timers are pending.
    pub fn pending_timers(&self) -> usize {
        self.shared.timers.pending()
    }
}
