//! Calls run by their caller: a call to an idle instance runs `handle_call`
//! on the caller's own task, with no trip through the mailbox.
//!
//! "Idle" means: the instance is started, nobody holds its run token (see
//! `instance/run.rs`), nothing is queued for it, no kill or crash waits to be
//! applied, and it is not moving away, stopping or durable. The callback then
//! runs exactly as the worker would run it: over the committed state and
//! dictionary, guarded against panics, errors and kills, and committed the
//! same way. The caller runs inside a tokio runtime (as every call must: it
//! waits with a tokio timer), so the callback finds one as on the worker.
//!
//! What the worker would have done after a callback is left to it:
//! - a crash is answered to the caller at once (`CallError::Crashed`) and
//!   left in the run token; the worker restores (`init` with
//!   `Start::Restored`) before anything else, and no caller runs a call
//!   before then;
//! - a callback that awaits something not ready yet is handed over to the
//!   worker with the token, and the caller waits for its reply as for a
//!   queued call (within its timeout; a timeout does not cut the callback);
//! - a callback that blocks its thread blocks its caller: no timer can fire
//!   inside it (`Handle::call_timeout` answers `Timeout` afterwards if it
//!   ran past a timeout the caller chose).

use std::any::Any;
use std::cell::Cell;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures::future::BoxFuture;
use tokio::sync::oneshot;

use super::guard::{guard_pausing, scope_of};
use super::kept::Kept;
use super::run::Handed;
use crate::actor::{Actor, Context, StateMut};
use crate::crash_report::Callback;
use crate::error::{CallError, Crash};

/// How deep calls run by their callers may nest on one thread (a callback
/// run here that calls another idle instance runs that one's callback
/// inside its own): past it, calls go through the mailbox, so that a chain
/// of instances calling each other does not grow the thread's stack
/// without bound.
const MAX_DEPTH: u32 = 8;

thread_local! {
    /// How many calls run by their callers are being polled on this thread,
    /// one inside the other.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The instance of the call whose callback just paused at its first
    /// poll, for the caller that handed it to [`run`] with the only
    /// reference it had (see [`call`]).
    static PAUSED: Cell<Option<Arc<dyn Any + Send + Sync>>> = const { Cell::new(None) };
}

/// A call being run: the callback and its commit. It gives back the
/// instance it was given, so that its caller needs no reference of its own.
pub(crate) type Call<A> = BoxFuture<'static, (Arc<Kept<A>>, Result<<A as Actor>::Reply, Crash>)>;

/// What came of trying to run a call on the caller's task; each outcome
/// gives back the instance the caller passed in.
pub(crate) enum Direct<A: Actor> {
    /// It ran: the reply.
    Done(Arc<Kept<A>>, Result<A::Reply, CallError>),
    /// It awaits: the worker finishes it; the reply comes here.
    Handed(Arc<Kept<A>>, oneshot::Receiver<Result<A::Reply, CallError>>),
    /// The instance was not idle: the call goes through the mailbox.
    Refused(Arc<Kept<A>>, A::Call),
}

/// Runs `msg` on this task if the instance is idle; see the
/// [module docs](self).
///
/// Takes the caller's reference to the instance and moves it into the run:
/// a caller that looked the instance up by name then pays for one
/// reference, as a caller with a handle does.
pub(crate) async fn call<A: Actor>(kept: Arc<Kept<A>>, msg: A::Call) -> Direct<A> {
    // A call through the mailbox waits on a channel, which takes from the
    // task's budget and yields when it is spent; one run here would not, and
    // a task calling in a loop would never let the rest of its runtime run.
    tokio::task::coop::consume_budget().await;
    if DEPTH.get() >= MAX_DEPTH || !kept.run.try_take_direct() {
        return Direct::Refused(kept, msg);
    }
    if !idle(&kept) {
        kept.run.release();
        return Direct::Refused(kept, msg);
    }
    #[cfg(feature = "dashboard")]
    crate::dashboard::probe::count(crate::dashboard::probe::Counter::Calls);
    let mut call: Call<A> = Box::pin(run(kept, msg));
    let first = std::future::poll_fn(|cx| {
        DEPTH.set(DEPTH.get() + 1);
        let first = Pin::new(&mut call).poll(cx);
        DEPTH.set(DEPTH.get() - 1);
        Poll::Ready(first)
    })
    .await;
    match first {
        Poll::Ready((kept, Ok(reply))) => {
            kept.run.release();
            Direct::Done(kept, Ok(reply))
        }
        Poll::Ready((kept, Err(crash))) => {
            kept.run.leave_crash(crash.clone());
            kept.run.release();
            kept.wake_worker();
            let crashed = CallError::Crashed {
                name: kept.name().to_owned(),
                crash,
            };
            Direct::Done(kept, Err(crashed))
        }
        Poll::Pending => {
            let kept = paused::<A>();
            let (reply, rx) = oneshot::channel();
            kept.run.hand_over(Handed { call, reply });
            kept.wake_worker();
            Direct::Handed(kept, rx)
        }
    }
}

/// The instance [`run`] left in [`PAUSED`] as its callback paused. Polls
/// nested inside that callback's took theirs before it returned.
fn paused<A: Actor>() -> Arc<Kept<A>> {
    PAUSED
        .take()
        .and_then(|kept| kept.downcast::<Kept<A>>().ok())
        .expect("a call that paused at its first poll leaves its instance")
}

/// For a caller holding the run token: whether it may run its call itself.
/// Nothing is queued (so the call overtakes nothing accepted before it), no
/// kill waits to be applied, and the instance is not moving away, stopping,
/// or durable (whose calls are stored in order with everything else).
fn idle<A: Actor>(kept: &Kept<A>) -> bool {
    #[cfg(feature = "durable")]
    if kept.journal.get().is_some() {
        return false;
    }
    kept.inbox.is_idle()
        && !kept.kill.pending()
        && kept.relay.get().is_none()
        && kept.stop_reason().is_none()
}

/// The callback and its commit, run by whoever holds the run token.
async fn run<A: Actor>(
    kept: Arc<Kept<A>>,
    msg: A::Call,
) -> (Arc<Kept<A>>, Result<A::Reply, Crash>) {
    let (state, dict) = kept.read_committed();
    let before = Arc::as_ptr(&state).addr();
    let mut view = StateMut::with_spare(state, None);
    let mut ctx = Context::new(kept.clone(), dict.clone());
    let scope = scope_of(&kept, Callback::Call);
    let call = kept.behaviour.handle_call(msg, &mut view, &mut ctx);
    // The first pause returns to the caller's poll in `call`, which needs
    // the instance to hand this run over.
    let on_pause = || PAUSED.set(Some(kept.clone()));
    let out = guard_pausing(&kept.kill, scope, call, Some(on_pause)).await;
    let reply = match out {
        Ok(reply) => reply,
        Err(crash) => return (kept, Err(crash)),
    };
    if let Some(replaced) = kept.commit_outside(view, before, &dict, &ctx.dict) {
        kept.run.committed();
        drop(replaced);
    }
    (kept, Ok(reply))
}
