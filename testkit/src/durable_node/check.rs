//! `check`: recovers every instance, lets it finish what it recovered
//! (stored casts, then timers), and prints its figures.

use std::time::{Duration, Instant};

use peeper::Handle;

use super::account::Account;
use super::figures::Figures;
use super::out::say;
use super::{instance_name, report};

/// How long recovered timers are given to fire: they were set for
/// [`TIMER_DELAY`](super::account::TIMER_DELAY), so this is far more.
const TIMERS_GRACE: Duration = Duration::from_secs(5);
/// How often the pending timers are looked at meanwhile.
const POLL: Duration = Duration::from_millis(25);

/// Prints one `figures` line per instance, then `done`.
///
/// # Errors
/// An instance is missing or does not answer.
pub async fn check(instances: usize) -> Result<(), String> {
    let mut handles = Vec::with_capacity(instances);
    for i in 0..instances {
        let name = instance_name(i);
        let handle = peeper::lookup::<Account>(&name)
            .map_err(|e| format!("{name} was not recovered: {e}"))?;
        handles.push(handle);
    }
    // The first report queues behind the recovered durable casts: once it
    // answers, they are handled. Timers fire on their own clock: polled.
    let deadline = Instant::now() + TIMERS_GRACE;
    let mut all = reports(&handles).await?;
    while all.iter().any(|f| f.pending_timers > 0) && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        all = reports(&handles).await?;
    }
    // A timer stops being pending once its message is queued, not handled:
    // one more report, queued behind those messages, counts them.
    let all = reports(&handles).await?;
    for figures in all {
        say(figures);
    }
    say("done");
    Ok(())
}

async fn reports(handles: &[Handle<Account>]) -> Result<Vec<Figures>, String> {
    let mut all = Vec::with_capacity(handles.len());
    for handle in handles {
        all.push(report(handle).await?);
    }
    Ok(all)
}
