//! A registered [`Portable`] kind, with its types erased so that a node agent
//! can serve calls and moves for any kind it knows by name.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::cluster::error::MoveError;
use crate::cluster::handoff::{MoveReport, Stage, StageError, Staging};
use crate::cluster::node::Node;
use crate::cluster::wire::{Begin, Failure, MoveKey, Way};
use crate::error::{CallError, LookupError};
use crate::handle::Handle;
use crate::instance::{Body, Refused};
use crate::portable::Portable;
use crate::registry;
use crate::supervisor::Supervisor;

/// A reply on its way: the encoded reply (or why there is none), and the node
/// where the instance handled the call.
pub(crate) type Answer = BoxFuture<'static, (Result<Vec<u8>, Failure>, Option<String>)>;

/// What an agent needs of a kind.
pub(crate) trait AnyKind: Send + Sync {
    /// Queues a call to the local instance `name` now; the returned future
    /// waits for its reply, at most `budget`: a call not begun by then is
    /// dropped unhandled.
    fn call(&self, name: &str, budget: Duration, body: &[u8]) -> Result<Answer, Failure>;
    /// Queues a cast or an info message.
    fn one_way(&self, name: &str, body: &[u8], way: Way) -> Result<(), Failure>;
    /// Queues a barrier in the loop of the instance or relay `name` here;
    /// `None` if there is none (nothing of it is queued here).
    fn barrier(&self, name: &str) -> Option<tokio::sync::oneshot::Receiver<()>>;
    /// Prepares to receive a moved instance.
    fn stage(&self, mv: MoveKey, begin: Begin) -> Result<Box<dyn Staging>, StageError>;
    /// The Rust type of the kind's behaviour, as instances report it.
    fn actor_type(&self) -> &'static str;
    /// Moves the local instance `name` (see [`Node::move_to`]).
    fn move_out(
        &self,
        node: Node,
        name: String,
        from: Supervisor,
        to_node: String,
    ) -> BoxFuture<'static, Result<MoveReport, MoveError>>;
}

/// A kind: how to build its behaviour on this node.
pub(crate) struct Kind<A> {
    pub(crate) factory: Arc<dyn Fn() -> A + Send + Sync>,
}

/// The live instance `name` of kind `A` on this node.
fn handle<A: Portable>(name: &str) -> Result<Handle<A>, Failure> {
    registry::lookup::<A>(name).map_err(|e| match e {
        LookupError::NotFound { .. } => Failure::NotFound,
        _ => Failure::WrongKind,
    })
}

pub(crate) fn failure(e: CallError) -> Failure {
    match e {
        CallError::Lookup(LookupError::NotFound { .. }) => Failure::NotFound,
        CallError::Lookup(_) => Failure::WrongKind,
        CallError::Timeout { timeout, .. } => {
            Failure::Timeout(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
        }
        CallError::Crashed { crash, .. } => Failure::Crashed(crash),
        CallError::Stopped { reason, .. } => Failure::Stopped(reason),
        CallError::Dropped { .. } => Failure::Dropped,
        CallError::Unreachable { reason, .. } => Failure::Unreachable(reason),
        // Durable instances do not move, but they can be called from
        // another node: the change was handled and not stored.
        #[cfg(feature = "durable")]
        CallError::NotDurable { reason, .. } => {
            Failure::Unreachable(format!("handled, but not stored: {reason}"))
        }
    }
}

/// Turns a far end's failure back into the caller's error.
pub(crate) fn call_error(name: &str, f: Failure) -> CallError {
    let name = name.to_owned();
    match f {
        Failure::NotFound => LookupError::NotFound { name }.into(),
        Failure::WrongKind => LookupError::WrongType {
            name,
            actual: "another kind",
        }
        .into(),
        Failure::Crashed(crash) => CallError::Crashed { name, crash },
        Failure::Timeout(ms) => CallError::Timeout {
            name,
            timeout: Duration::from_millis(ms),
        },
        Failure::Stopped(reason) => CallError::Stopped { name, reason },
        Failure::Dropped => CallError::Dropped { name },
        Failure::Unreachable(reason) | Failure::Codec(reason) => {
            CallError::Unreachable { name, reason }
        }
    }
}

impl<A: Portable> AnyKind for Kind<A> {
    fn call(&self, name: &str, budget: Duration, body: &[u8]) -> Result<Answer, Failure> {
        let msg: A::Call = postcard::from_bytes(body).map_err(|e| Failure::Codec(e.to_string()))?;
        let h = handle::<A>(name)?;
        let deadline = tokio::time::Instant::now() + budget;
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Queued now, in arrival order; only a full bounded inbox makes the
        // call wait for room, within its budget.
        // The port carries the budget: a relay here that passes the call
        // on gives it that long at the next node.
        let waiting = match h.kept().deliver(Body::Call(msg, (tx, budget).into())) {
            Ok(()) => None,
            Err((call, Refused::Full(_))) => Some(call),
            Err((_, Refused::Stopped(reason))) => return Err(Failure::Stopped(reason)),
        };
        let timed_out =
            move || Failure::Timeout(u64::try_from(budget.as_millis()).unwrap_or(u64::MAX));
        Ok(Box::pin(async move {
            if let Some(call) = waiting {
                match h.kept().deliver_waiting(call, Some(deadline)).await {
                    Ok(()) => {}
                    Err((_, Refused::Stopped(reason))) => {
                        return (Err(Failure::Stopped(reason)), None);
                    }
                    Err((_, Refused::Full(_))) => return (Err(timed_out()), None),
                }
            }
            // At the deadline the receiver goes: a call the instance has not
            // begun by then is skipped (the loop checks the reply port first).
            let out = match tokio::time::timeout_at(deadline, rx).await {
                Err(_) => Err(timed_out()),
                Ok(Err(_)) => Err(Failure::Dropped),
                Ok(Ok(Err(e))) => Err(failure(e)),
                Ok(Ok(Ok(reply))) => {
                    postcard::to_stdvec(&reply).map_err(|e| Failure::Codec(e.to_string()))
                }
            };
            // Read after the reply: if the instance moved meanwhile, the
            // call was relayed, and the caller may go straight there next.
            let moved = crate::instance::AnyInstance::moved_to(&**h.kept());
            (out, moved)
        }))
    }

    fn one_way(&self, name: &str, body: &[u8], way: Way) -> Result<(), Failure> {
        let h = handle::<A>(name)?;
        let codec = |e: postcard::Error| Failure::Codec(e.to_string());
        let sent = match way {
            Way::Info => h
                .send(postcard::from_bytes(body).map_err(codec)?)
                .map_err(|e| e.without_message()),
            Way::Cast => h
                .cast(postcard::from_bytes(body).map_err(codec)?)
                .map_err(|e| e.without_message()),
        };
        sent.map_err(|e| Failure::Unreachable(e.to_string()))
    }

    fn barrier(&self, name: &str) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let h = handle::<A>(name).ok()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: crate::instance::Job<A> = Box::new(move |_| {
            Box::pin(async move {
                let _ = tx.send(());
            })
        });
        h.kept().deliver(Body::Run(job)).ok()?;
        Some(rx)
    }

    fn actor_type(&self) -> &'static str {
        std::any::type_name::<A>()
    }

    fn move_out(
        &self,
        node: Node,
        name: String,
        from: Supervisor,
        to_node: String,
    ) -> BoxFuture<'static, Result<MoveReport, MoveError>> {
        Box::pin(async move {
            // The supervisor of the same name on the target.
            let to_supervisor = from.name().to_owned();
            crate::cluster::handoff::move_out::<A>(&node, &name, &from, &to_node, &to_supervisor)
                .await
        })
    }

    fn stage(&self, mv: MoveKey, begin: Begin) -> Result<Box<dyn Staging>, StageError> {
        Stage::<A>::open(mv, begin, (self.factory)()).map(|s| Box::new(s) as Box<dyn Staging>)
    }
}
