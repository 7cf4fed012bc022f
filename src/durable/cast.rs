//! [`Handle::cast_durable`]: a cast that is stored before it is queued.

use super::CastDurableError;
use crate::handle::Handle;
use crate::instance::Body;
use crate::portable::Portable;

impl<A: Portable> Handle<A> {
    /// Stores `msg` in the instance's durable store, then queues it, and
    /// returns once both are done. Handling it and taking it out of the
    /// store are one transaction, so it is handled exactly once, across a
    /// `kill -9` of the process too: one stored and not yet handled is
    /// queued again, in order, when the instance is brought back. In a
    /// bounded inbox, it waits for room. A callback that crashes on it does
    /// not get it again, as with any message.
    ///
    /// While the instance is being moved to another node, the cast waits
    /// for the move's outcome: it goes in if the move failed, and is refused
    /// if it succeeded, since the store that would hold it here forgets the
    /// instance (see [`CastDurableError::Moved`]); a handle to an instance
    /// that has come back to this node since reaches it.
    ///
    /// # Errors
    /// [`CastDurableError::NotDurable`] for an instance not started through
    /// a [`Durable`](super::Durable), [`CastDurableError::Store`] if it could
    /// not be stored (then it was not queued), [`CastDurableError::Moved`]
    /// if the instance moved to another node, [`CastDurableError::Stopped`]
    /// if it stopped for good meanwhile.
    pub async fn cast_durable(&self, msg: A::Cast) -> Result<(), CastDurableError> {
        let kept = self.kept();
        let name = || kept.name().to_owned();
        let Some(journal) = kept.journal.get() else {
            return Err(CastDurableError::NotDurable { name: name() });
        };
        // Held until the message is queued: a move freezes the instance only
        // once every stored cast is ahead of the freeze.
        let _pass = match journal.casts().enter().await {
            Ok(pass) => pass,
            Err(node) => {
                // Moved away, and perhaps back since: then the instance's
                // current kept parts here take it.
                if let Ok(now) = crate::registry::lookup::<A>(kept.name())
                    && !std::sync::Arc::ptr_eq(now.kept(), kept)
                {
                    return Box::pin(now.cast_durable(msg)).await;
                }
                return Err(CastDurableError::Moved { name: name(), node });
            }
        };
        let bytes = postcard::to_stdvec(&msg).map_err(|e| CastDurableError::Store {
            name: name(),
            reason: format!("the message cannot be encoded: {e}"),
        })?;
        let seq = journal
            .store_message(bytes)
            .await
            .map_err(|reason| CastDurableError::Store {
                name: name(),
                reason,
            })?;
        match kept.deliver_waiting(Body::Durable(msg, seq), None).await {
            Ok(()) => Ok(()),
            Err(_) => {
                journal.unstore_message(seq);
                Err(CastDurableError::Stopped { name: name() })
            }
        }
    }
}
