//! The shell's commands through the handle it holds: calls that say where
//! they ran (on the calling task, a call run by its caller, or on the
//! instance's worker), a call with a timeout of its own, and a rate of
//! casts.

use std::time::Duration;

use peeper::Handle;

use super::tally::{Call, Cast, Reply, Tally};

tokio::task_local! {
    /// Set around the shell's own calls: a callback that sees it runs on
    /// the shell's task.
    static ON_CALLER: ();
}

/// Whether the callback asking runs inside a call made by [`where_runs`].
pub(super) fn on_caller() -> bool {
    ON_CALLER.try_with(|()| ()).is_ok()
}

/// Calls `h` (or `name` by name when `h` is `None`) once: `caller` if its
/// callback ran on this task, `worker` if it went through the mailbox.
pub(super) async fn where_runs(h: Option<&Handle<Tally>>, name: &str) -> Result<String, String> {
    let reply = match h {
        Some(h) => ON_CALLER.scope((), h.call(Call::Where)).await,
        None => {
            ON_CALLER
                .scope((), peeper::call::<Tally>(name, Call::Where))
                .await
        }
    };
    match reply.map_err(|e| e.to_string())? {
        Reply::Where(true) => Ok("caller".to_owned()),
        Reply::Where(false) => Ok("worker".to_owned()),
        _ => Err("an answer that is not where".to_owned()),
    }
}

/// One call through `h` that waits at most `ms` for its reply.
pub(super) async fn call(h: &Handle<Tally>, ms: &str) -> Result<String, String> {
    let ms = ms.parse().map_err(|_| "bad ms")?;
    h.call_timeout(Call::Get, Duration::from_millis(ms))
        .await
        .map(|_| String::new())
        .map_err(|e| e.to_string())
}

/// `casts` numbered casts from `sender` through `h`, then a call behind
/// them: how many casts per second reached the instance and were handled.
pub(super) async fn cast_rate(
    h: &Handle<Tally>,
    sender: &str,
    casts: &str,
) -> Result<String, String> {
    let casts: u64 = casts.parse().map_err(|_| "bad casts")?;
    let started = std::time::Instant::now();
    for seq in 1..=casts {
        let sender = sender.to_owned();
        h.cast(Cast::Seq { sender, seq })
            .map_err(|e| e.to_string())?;
        if seq % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // Queued behind every cast on the same path: answered once all were
    // handled. Its timeout only bounds a run that went wrong.
    h.call_timeout(Call::Get, Duration::from_secs(300))
        .await
        .map_err(|e| e.to_string())?;
    let rate = casts as f64 / started.elapsed().as_secs_f64();
    Ok(format!("{rate:.0}"))
}
