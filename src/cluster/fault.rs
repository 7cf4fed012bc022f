//! Fault points for the node-process tests (feature `faults`, never for
//! production): at a named point of a move, the process sends itself a
//! signal, so that a test can `kill -9` or freeze it exactly there.
//!
//! `PEEPER_FAULT=<point>:<signal>`, e.g. `source.go:KILL` or
//! `target.ready:STOP`. Points: `source.commit` (the source is about to send
//! `Commit`), `source.go` (it decided go and is about to send `Go`),
//! `target.ready` (the target is ready and about to answer `Commit`),
//! `relay.call` (a relay passed a call on).

/// Signals this process if `PEEPER_FAULT` names `point`. The signal is sent
/// once per process.
#[cfg(feature = "faults")]
pub(crate) fn point(point: &str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};
    static SPEC: OnceLock<Option<(String, String)>> = OnceLock::new();
    static FIRED: AtomicBool = AtomicBool::new(false);
    let spec = SPEC.get_or_init(|| {
        let value = std::env::var("PEEPER_FAULT").ok()?;
        let (at, signal) = value.split_once(':')?;
        Some((at.to_owned(), signal.to_owned()))
    });
    let Some((at, signal)) = spec else { return };
    if at != point || FIRED.swap(true, Ordering::AcqRel) {
        return;
    }
    eprintln!("peeper-fault: {point}: SIG{signal}");
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(std::process::id().to_string())
        .status();
}

/// Does nothing without the `faults` feature.
#[cfg(not(feature = "faults"))]
#[inline(always)]
pub(crate) fn point(_point: &str) {}
