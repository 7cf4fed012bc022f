//! Fault points for the node-process tests (feature `faults`, never for
//! production): at a named point of a move, the process sends itself a
//! signal, so that a test can `kill -9` or freeze it exactly there.
//!
//! `PEEPER_FAULT=<point>:<action>[,<point>:<action>…]`, e.g. `source.go:KILL`
//! or `target.answered:SLEEP500+KILL`; an action is `KILL` or `STOP` (the process sends
//! itself that signal; the thread at the point waits until it takes effect,
//! so nothing after the point runs before) or
//! `SLEEP<ms>` (the thread sleeps, the rest of the process runs on), and
//! actions joined by `+` run in turn. Points: `source.commit` (the source is about to send
//! `Commit`), `source.sent_commit` (`Commit` left, its answer not yet
//! back: nothing decided), `source.go` (it decided go and is about to send
//! `Go`),
//! `source.sent_go` (`Go` left, its answer not yet back),
//! `target.ready` (the target is ready and about to answer `Commit`),
//! `target.answered` (the target answered `Commit`: ready),
//! `target.stored` (a durable instance started at the target and is in its
//! store; `Go` not yet answered), `relay.call` (a relay passed a call on).
//!
//! A few points are awaited by a task instead ([`hold`]): their action
//! `HOLD` parks the first task that reaches them, and only it, until the
//! test lets it go ([`release`]), with the rest of the process running on;
//! [`reached`] waits until a task is parked there. Points:
//! `locate.asking` (a call or cast by name found nothing sure on its own
//! node and is about to ask the peers).

#[cfg(feature = "faults")]
struct Fault {
    at: String,
    action: String,
    fired: std::sync::atomic::AtomicBool,
}

/// The fault named for `point`, if it has not fired yet; marks it fired.
#[cfg(feature = "faults")]
fn fire(point: &str) -> Option<&'static Fault> {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};
    static SPECS: OnceLock<Vec<Fault>> = OnceLock::new();
    let specs = SPECS.get_or_init(|| {
        let value = std::env::var("PEEPER_FAULT").unwrap_or_default();
        value
            .split(',')
            .filter_map(|spec| spec.split_once(':'))
            .map(|(at, action)| Fault {
                at: at.to_owned(),
                action: action.to_owned(),
                fired: AtomicBool::new(false),
            })
            .collect()
    });
    let fault = specs.iter().find(|f| f.at == point)?;
    (!fault.fired.swap(true, Ordering::AcqRel)).then_some(fault)
}

/// Acts if `PEEPER_FAULT` names `point`, once per point and process.
#[cfg(feature = "faults")]
pub(crate) fn point(point: &str) {
    let Some(fault) = fire(point) else {
        return;
    };
    eprintln!("peeper-fault: {point}: {}", fault.action);
    for action in fault.action.split('+') {
        act(action);
    }
}

/// One action of a fault point.
#[cfg(feature = "faults")]
fn act(action: &str) {
    if let Some(ms) = action.strip_prefix("SLEEP") {
        let ms = ms.parse().unwrap_or(0);
        std::thread::sleep(std::time::Duration::from_millis(ms));
        return;
    }
    let signal = match action {
        "KILL" => rustix::process::Signal::KILL,
        "STOP" => rustix::process::Signal::STOP,
        _ => return,
    };
    let _ = rustix::process::kill_process(rustix::process::getpid(), signal);
    // Another thread may take the signal and stop the process a little
    // later: this one must not go on meanwhile.
    std::thread::sleep(std::time::Duration::from_secs(2));
}

/// Does nothing without the `faults` feature.
#[cfg(not(feature = "faults"))]
#[inline(always)]
pub(crate) fn point(_point: &str) {}

/// Whether a task is parked at a point, and whether it may go on.
#[cfg(feature = "faults")]
struct Parked {
    reached: tokio::sync::watch::Sender<bool>,
    released: tokio::sync::watch::Sender<bool>,
}

/// The parking place of `point`, made on first use.
#[cfg(feature = "faults")]
fn parked(point: &str) -> std::sync::Arc<Parked> {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock};
    static PARKED: LazyLock<parking_lot::Mutex<HashMap<String, Arc<Parked>>>> =
        LazyLock::new(Default::default);
    PARKED
        .lock()
        .entry(point.to_owned())
        .or_insert_with(|| {
            Arc::new(Parked {
                reached: tokio::sync::watch::Sender::new(false),
                released: tokio::sync::watch::Sender::new(false),
            })
        })
        .clone()
}

/// Parks the first task that reaches `point` if `PEEPER_FAULT` names it
/// with `HOLD`, until [`release`]; any other action runs as at [`point`].
/// A parked task holds no thread: the rest of the process runs on.
#[cfg(feature = "faults")]
pub(crate) async fn hold(point: &str) {
    let Some(fault) = fire(point) else {
        return;
    };
    eprintln!("peeper-fault: {point}: {}", fault.action);
    if fault.action != "HOLD" {
        fault.action.split('+').for_each(act);
        return;
    }
    let parked = parked(point);
    let mut released = parked.released.subscribe();
    parked.reached.send_replace(true);
    let _ = released.wait_for(|go| *go).await;
}

/// Does nothing without the `faults` feature.
#[cfg(not(feature = "faults"))]
#[inline(always)]
pub(crate) async fn hold(_point: &str) {}

/// Waits until a task is parked at `point` (see [`hold`]).
#[cfg(feature = "faults")]
pub(crate) async fn reached(point: &str) {
    let mut reached = parked(point).reached.subscribe();
    let _ = reached.wait_for(|here| *here).await;
}

/// Lets the task parked at `point` go on (or, if none is yet, the one that
/// comes), once and for all.
#[cfg(feature = "faults")]
pub(crate) fn release(point: &str) {
    parked(point).released.send_replace(true);
}
