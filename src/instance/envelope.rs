//! [`Envelope`]: what an instance's mailbox carries.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::RpcReplyPort;

use super::inbox::Inbox;
use super::kept::Kept;
use crate::actor::Actor;
use crate::dictionary::Dictionary;
use crate::error::CallError;

/// A message for an instance, as its ractor actor receives it.
///
/// ractor code that holds the instance's `ActorRef` (from
/// [`Handle::actor_ref`](crate::Handle::actor_ref)) builds envelopes with
/// [`Envelope::call`], [`Envelope::cast`] and [`Envelope::info`]. Unlike the
/// ones a [`Handle`](crate::Handle) sends, these are plain ractor messages: a
/// stop of the actor from outside drops them (see the
/// [module docs](crate::instance)).
///
/// ```
/// # use peeper::{Actor, BoxError, Context, Envelope, StateMut, Supervisor};
/// # struct Echo;
/// # impl Actor for Echo {
/// #     type State = ();
/// #     type Call = u32;
/// #     type Reply = u32;
/// #     type Cast = ();
/// #     type Info = ();
/// #     async fn handle_call(&self, n: u32, _: &mut StateMut<()>, _: &mut Context<Self>)
/// #         -> Result<u32, BoxError> { Ok(n) }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let sup = Supervisor::start("envelope-doc").await.unwrap();
/// # let handle = sup.start_child("echo-doc", Echo, ()).await.unwrap();
/// let actor = handle.actor_ref().expect("running");
/// let reply = ractor::call!(actor, Envelope::call, 7).expect("delivered");
/// assert_eq!(reply, Ok(7));
/// # sup.stop().await;
/// # }
/// ```
pub struct Envelope<A: Actor> {
    /// Taken by the worker when it handles the message; still here if the
    /// envelope is dropped unhandled.
    body: Option<Body<A>>,
    /// Where an envelope dropped unhandled puts its body back; `None` for
    /// envelopes built by ractor code.
    inbox: Option<Arc<Inbox<A>>>,
}

/// What an envelope holds.
pub(crate) enum Body<A: Actor> {
    Call(A::Call, RpcReplyPort<Result<A::Reply, CallError>>),
    Cast(A::Cast),
    /// A cast stored before it was queued, with its number in the store:
    /// handling it and removing it from the store are one transaction.
    #[cfg(feature = "durable")]
    Durable(A::Cast, u64),
    Info(A::Info),
    /// An info message from the timer with this id.
    Fired(A::Info, u64),
    /// Wakes the loop so that a kill of an idle worker takes effect.
    Wake,
    /// Runs in the loop, in mailbox order: everything queued before it is
    /// handled first, everything after it waits until it is done.
    Run(Job<A>),
}

impl<A: Actor> Body<A> {
    pub(crate) fn into_cast(self) -> Option<A::Cast> {
        match self {
            Body::Cast(msg) => Some(msg),
            _ => None,
        }
    }

    pub(crate) fn into_info(self) -> Option<A::Info> {
        match self {
            Body::Info(msg) | Body::Fired(msg, _) => Some(msg),
            _ => None,
        }
    }
}

/// What a [`Body::Run`] job gets: the instance as the loop holds it, or
/// `None` if the instance has moved away and its loop only relays.
pub(crate) struct Frozen<A: Actor> {
    pub(crate) kept: Arc<Kept<A>>,
    pub(crate) state: Arc<A::State>,
    pub(crate) dict: Dictionary,
}

/// A job for the loop; see [`Body::Run`].
pub(crate) type Job<A> = Box<dyn FnOnce(Option<Frozen<A>>) -> BoxFuture<'static, ()> + Send>;

impl<A: Actor> Envelope<A> {
    /// A call whose reply goes to `reply`.
    pub fn call(msg: A::Call, reply: RpcReplyPort<Result<A::Reply, CallError>>) -> Self {
        Envelope::plain(Body::Call(msg, reply))
    }

    /// A cast.
    pub fn cast(msg: A::Cast) -> Self {
        Envelope::plain(Body::Cast(msg))
    }

    /// An info message.
    pub fn info(msg: A::Info) -> Self {
        Envelope::plain(Body::Info(msg))
    }

    /// An envelope that nothing puts back if it is dropped.
    pub(crate) fn plain(body: Body<A>) -> Self {
        Envelope {
            body: Some(body),
            inbox: None,
        }
    }

    /// An envelope that puts its body back into `inbox` if it is dropped
    /// unhandled.
    pub(crate) fn kept(body: Body<A>, inbox: &Arc<Inbox<A>>) -> Self {
        Envelope {
            body: Some(body),
            inbox: Some(inbox.clone()),
        }
    }

    /// Takes the body out to handle it: its inbox slot, if any, is free.
    pub(crate) fn open(mut self) -> Option<Body<A>> {
        let body = self.body.take();
        let inbox = self.inbox.take();
        // Both parts are out: nothing is left for `Drop` to put back.
        std::mem::forget(self);
        if body.is_some()
            && let Some(inbox) = &inbox
        {
            inbox.release();
        }
        body
    }

    /// Takes the body back from a send that was refused: it keeps its inbox
    /// slot, for whoever delivers it next (or releases it).
    pub(crate) fn take_back(mut self) -> Option<Body<A>> {
        self.body.take()
    }
}

impl<A: Actor> Drop for Envelope<A> {
    fn drop(&mut self) {
        if let (Some(body), Some(inbox)) = (self.body.take(), self.inbox.as_ref()) {
            inbox.put_back(body);
        }
    }
}

impl<A: Actor> fmt::Debug for Envelope<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.body {
            Some(Body::Call(..)) => "call",
            Some(Body::Cast(_)) => "cast",
            #[cfg(feature = "durable")]
            Some(Body::Durable(..)) => "durable cast",
            Some(Body::Info(_)) => "info",
            Some(Body::Fired(..)) => "timer",
            Some(Body::Wake) => "wake",
            Some(Body::Run(_)) => "run",
            None => "opened",
        };
        f.debug_struct("Envelope").field("body", &kind).finish()
    }
}

impl<A: Actor> fmt::Debug for Frozen<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frozen")
            .field("instance", &self.kept.id())
            .finish_non_exhaustive()
    }
}

// With ractor's `cluster` feature on, ractor no longer implements `Message`
// for every type; an instance's envelope stays a local-only message.
#[cfg(feature = "cluster")]
impl<A: Actor> ractor::Message for Envelope<A> {}
