//! Where a callback runs: inside `catch_unwind`, raced against the
//! instance's kill signal, so that a panic, an error or a kill ends only
//! that callback.

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::watch;

use super::kept::Kept;
use crate::actor::Actor;
use crate::crash_report::{self, Callback, Scope};
use crate::error::{BoxError, Crash, panic_text};

/// Where a callback runs, built only if a crash report may need it.
pub(super) fn scope_of<A: Actor>(
    kept: &Kept<A>,
    callback: Callback,
) -> impl FnOnce() -> Scope + '_ {
    move || Scope {
        instance: kept.name().to_owned(),
        kind: std::any::type_name::<A>(),
        callback,
    }
}

/// Runs a callback: its outcome, or the crash that ended it.
pub(super) async fn guard<T>(
    kill: &mut watch::Receiver<u64>,
    scope: impl FnOnce() -> Scope,
    callback: impl Future<Output = Result<T, BoxError>>,
) -> Result<T, Crash> {
    let caught = crash_report::scoped(scope, AssertUnwindSafe(callback).catch_unwind());
    tokio::select! {
        // The callback is polled first, so one that completes without
        // awaiting is never cut off by a kill: the kill applies after it.
        biased;
        out = caught => match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Crash::Failed(e.to_string())),
            Err(payload) => Err(Crash::Panicked(panic_text(&*payload))),
        },
        () = killed(kill) => Err(Crash::Killed),
    }
}

async fn killed(kill: &mut watch::Receiver<u64>) {
    if kill.changed().await.is_err() {
        // The sender lives as long as the instance; never a kill.
        std::future::pending::<()>().await;
    }
}
