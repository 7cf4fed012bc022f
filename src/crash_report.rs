//! Crash reports: callback panics routed to [`tracing`] instead of stderr.
//!
//! A panic in a callback is an expected event in peeper: the instance keeps
//! what it knew and goes on. Rust's default panic hook still prints each one
//! to stderr, with a backtrace when `RUST_BACKTRACE` is set, and without the
//! instance it happened in. [`route_to_tracing`] installs a hook that reports
//! panics raised inside a callback as a `tracing` error event with the
//! instance's name, its actor type (`kind`), the callback (`init`, `call`,
//! `cast`, `info`, `terminate`), the panic message and its location, and
//! leaves every other panic to the hook that was installed before.
//!
//! ```
//! peeper::crash_report::route_to_tracing();
//! assert!(peeper::crash_report::is_routed());
//! // Panics outside callbacks still reach the previous hook.
//! ```
//!
//! It is opt-in and process-wide (panic hooks are); calling it again does
//! nothing. Until it is called, a callback pays nothing for it; after, one
//! thread-local write on each poll of a callback.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

static ROUTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

thread_local! {
    static CURRENT: RefCell<Option<Box<Scope>>> = const { RefCell::new(None) };
}

/// Which callback was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Callback {
    Init,
    Call,
    Cast,
    Info,
    Terminate,
}

impl Callback {
    fn as_str(self) -> &'static str {
        match self {
            Callback::Init => "init",
            Callback::Call => "call",
            Callback::Cast => "cast",
            Callback::Info => "info",
            Callback::Terminate => "terminate",
        }
    }
}

/// Where a callback runs, for a report of its panic.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) instance: String,
    pub(crate) kind: &'static str,
    pub(crate) callback: Callback,
}

/// Routes panics raised inside peeper callbacks to `tracing` from now on; see
/// the [module docs](self). Idempotent.
pub fn route_to_tracing() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let scope = CURRENT.with(|c| c.borrow().clone());
            let Some(scope) = scope else {
                previous(info);
                return;
            };
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".to_owned());
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            tracing::error!(
                instance = %scope.instance,
                kind = scope.kind,
                callback = scope.callback.as_str(),
                %location,
                panic = %message,
                "peeper: callback panicked"
            );
        }));
        ROUTED.store(true, Ordering::Release);
    });
}

/// Whether [`route_to_tracing`] has been called in this process.
pub fn is_routed() -> bool {
    ROUTED.load(Ordering::Acquire)
}

pin_project! {
    /// A callback with its scope recorded for the panic hook; see [`scoped`].
    pub(crate) struct Scoped<F, S> {
        #[pin]
        callback: F,
        // How to build the scope, until the first poll.
        make: Option<S>,
        // The scope, while crash reports are routed. Boxed: it is rarely
        // there, and this future sits in every worker's message future.
        scope: Option<Box<Scope>>,
    }
}

/// Runs `callback` with its scope recorded for the panic hook, when crash
/// reports are routed; as it is otherwise. `callback` must not unwind (the
/// worker catches its panics inside), or the scope would stay set.
pub(crate) fn scoped<F: Future, S: FnOnce() -> Scope>(scope: S, callback: F) -> Scoped<F, S> {
    Scoped {
        callback,
        make: Some(scope),
        scope: None,
    }
}

impl<F: Future, S: FnOnce() -> Scope> Future for Scoped<F, S> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let Some(make) = this.make.take()
            && ROUTED.load(Ordering::Relaxed)
        {
            *this.scope = Some(Box::new(make()));
        }
        if this.scope.is_none() {
            return this.callback.poll(cx);
        }
        // Swapped in and out around each poll: the callback's task may run
        // on another thread next time, and other tasks run on this one.
        let previous = CURRENT.with(|c| c.replace(this.scope.take()));
        let out = this.callback.poll(cx);
        *this.scope = CURRENT.with(|c| c.replace(previous));
        out
    }
}
