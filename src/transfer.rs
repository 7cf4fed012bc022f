//! Moving an instance between supervisors on one node.
//!
//! A local transfer is bookkeeping and nothing else: the instance's actor is
//! unlinked from the source and linked to the target, and the entry moves from
//! one children map to the other. The actor, its mailbox, its state, its
//! dictionary, its tables and its timers stay exactly where they are, so the
//! cost does not depend on their size and no message can be lost, duplicated
//! or reordered: senders keep sending into the same mailbox throughout.
//!
//! # Ordering
//!
//! The instance is first claimed (a flag that a concurrent transfer or stop
//! of the same instance would find taken), then both supervisors' children
//! locks are taken in the order of the supervisors' ids, so that transfers in
//! opposite directions cannot deadlock; the links and maps change together
//! under both locks. Every check is made before anything changes, so a
//! refused transfer leaves the instance exactly as it was.
//!
//! ```
//! # use peeper::{Actor, BoxError, Context, StateMut, Supervisor};
//! # struct Idle;
//! # impl Actor for Idle {
//! #     type State = ();
//! #     type Call = ();
//! #     type Reply = ();
//! #     type Cast = ();
//! #     type Info = ();
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let a = Supervisor::start("transfer-doc-a").await.unwrap();
//! let b = Supervisor::start("transfer-doc-b").await.unwrap();
//! let handle = a.start_child("mover", Idle, ()).await.unwrap();
//! peeper::transfer("mover", &a, &b).await.unwrap();
//! assert_eq!(a.count(), 0);
//! assert_eq!(b.which_children()[0].id, handle.id());
//! assert!(matches!(
//!     peeper::transfer("mover", &b, &b).await,
//!     Err(peeper::TransferError::SameSupervisor { .. })
//! ));
//! # a.stop().await;
//! # b.stop().await;
//! # }
//! ```

use crate::error::TransferError;
use crate::supervisor::Supervisor;

/// Moves the instance registered as `name` from supervisor `from` to `to`, in
/// O(1), copying nothing; its name and every handle stay valid. The same as
/// [`Supervisor::transfer`].
///
/// # Errors
/// Each leaves the instance under `from`, running, with its state:
/// [`TransferError::Lookup`] (no such name), [`TransferError::NotChild`] (not
/// under `from`), [`TransferError::SameSupervisor`],
/// [`TransferError::TargetStopped`], [`TransferError::SourceStopped`],
/// [`TransferError::InProgress`] (another transfer, a move or a stop of it is
/// under way).
pub async fn transfer(name: &str, from: &Supervisor, to: &Supervisor) -> Result<(), TransferError> {
    from.transfer(name, to).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry;
    use crate::{Actor, Supervisor};

    struct Idle;
    impl Actor for Idle {
        type State = u32;
        type Call = ();
        type Reply = ();
        type Cast = ();
        type Info = ();
    }

    #[tokio::test]
    async fn a_claimed_instance_is_in_progress_and_stays_put() {
        let a = Supervisor::start("transfer-unit-a").await.unwrap();
        let b = Supervisor::start("transfer-unit-b").await.unwrap();
        let h = a.start_child("transfer-unit-p", Idle, 5).await.unwrap();
        let instance = registry::get("transfer-unit-p").unwrap();
        assert!(instance.try_claim(), "nothing else holds the claim");
        let refused = transfer("transfer-unit-p", &a, &b).await;
        assert!(matches!(refused, Err(TransferError::InProgress { .. })));
        assert_eq!(a.count(), 1);
        assert_eq!(b.count(), 0);
        instance.release_claim();
        transfer("transfer-unit-p", &a, &b).await.unwrap();
        assert_eq!(b.which_children()[0].id, h.id());
        assert_eq!(*h.last_state(), 5);
        a.stop().await;
        b.stop().await;
    }
}
