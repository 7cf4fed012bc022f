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

/// Acts if `PEEPER_FAULT` names `point`, once per point and process.
#[cfg(feature = "faults")]
pub(crate) fn point(point: &str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};
    struct Fault {
        at: String,
        action: String,
        fired: AtomicBool,
    }
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
    let Some(fault) = specs.iter().find(|f| f.at == point) else {
        return;
    };
    if fault.fired.swap(true, Ordering::AcqRel) {
        return;
    }
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
