//! Standard output, one whole line at a time: the test reads it while the
//! process may be killed at any moment, and a line cut by a kill must be
//! the last one, never one mixed with another sender's.

use std::fmt::Display;
use std::io::Write;

/// Writes `line` and flushes it, under the lock of standard output. A
/// reader gone (the test ended) is not this process's failure: ignored.
pub fn say(line: impl Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
