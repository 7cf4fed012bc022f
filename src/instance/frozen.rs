//! A job run with the instance frozen on the caller's own task, for a
//! dormant instance: a move of an instance without a worker needs none.
//!
//! A move freezes an instance by running its last steps as a job in the
//! worker's loop (messages queue behind it). An instance with no worker is
//! frozen the way a caller runs a call to an idle instance (see
//! `instance/direct.rs`): by taking its run token with nothing queued, no
//! kill or crash waiting and nothing left for a worker. Holding the token,
//! nobody else runs a callback or commits, so the committed state and
//! dictionary are what the loop would have frozen with.
//!
//! The failure windows, and what happens in each:
//! - **A message comes while it is frozen** (a cast, an info message, a
//!   timer, a call that finds the token taken): it waits in the inbox's
//!   lists and wakes the instance, as for any dormant instance; the worker
//!   takes it first and waits for the token before it handles it, so it is
//!   handled after the job, or relayed if the job moved the instance away
//!   (the job's retire finds that worker and stops it behind its mailbox).
//!   If the job already released the instance from its supervisor, the wake
//!   gives up and the retire relays what waits in the lists.
//! - **A kill comes while it is frozen**: it wakes the instance, whose worker
//!   applies it after the job if the instance is still here; moved away,
//!   it relays everything instead, as a worker frozen in a move does.
//! - **A stop or a transfer**: they claim the instance as a move does, so
//!   none runs beside a move.
//! - **The instance is not idle, or has a worker**: the job is handed back,
//!   and goes through the worker's mailbox.

use std::sync::Arc;

use super::envelope::{Frozen, Job};
use super::kept::Kept;
use super::run::Held;
use crate::actor::Actor;

impl<A: Actor> Kept<A> {
    /// Runs `job` frozen on this task if the instance is dormant and idle;
    /// see the [module docs](self). Hands the job back if not.
    pub(crate) async fn run_frozen_here(self: &Arc<Self>, job: Job<A>) -> Result<(), Job<A>> {
        if !self.is_dormant() || !self.run.try_take_direct() {
            return Err(job);
        }
        let held = Held(&self.run);
        // Checked holding the token: a message accepted before it was taken
        // is handled before the job, by the worker.
        if !self.is_dormant()
            || !self.inbox.is_idle()
            || self.kill.pending()
            || self.relay.get().is_some()
            || self.stop_reason().is_some()
        {
            drop(held);
            return Err(job);
        }
        let (state, dict) = self.read_committed();
        let frozen = Frozen {
            kept: self.clone(),
            state,
            dict,
        };
        job(Some(frozen)).await;
        drop(held);
        Ok(())
    }
}
