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
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static ROUTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

thread_local! {
    static CURRENT: RefCell<Option<Scope>> = const { RefCell::new(None) };
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

/// Runs `callback` with its scope recorded for the panic hook, when crash
/// reports are routed; as it is otherwise. `callback` must not unwind (the
/// worker catches its panics inside), or the scope would stay set.
pub(crate) async fn scoped<F: Future>(scope: impl FnOnce() -> Scope, callback: F) -> F::Output {
    if !ROUTED.load(Ordering::Relaxed) {
        return callback.await;
    }
    let mut scope = Some(scope());
    let mut callback = std::pin::pin!(callback);
    std::future::poll_fn(|cx| {
        // Swapped in and out around each poll: the callback's task may run
        // on another thread next time, and other tasks run on this one.
        let previous = CURRENT.with(|c| c.replace(scope.take()));
        let out = callback.as_mut().poll(cx);
        scope = CURRENT.with(|c| c.replace(previous));
        out
    })
    .await
}
