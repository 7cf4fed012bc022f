//! The forwarding note: where an instance that left this node went, kept
//! for a few minutes; see the [module docs](super).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::Mutex;

/// How long a forwarding note is kept.
const NOTE_KEPT: Duration = Duration::from_secs(300);

struct Note {
    to: String,
    at: Instant,
}

static NOTES: LazyLock<DashMap<String, Note>> = LazyLock::new(DashMap::new);

static LAST_SWEEP: LazyLock<Mutex<Instant>> = LazyLock::new(|| Mutex::new(Instant::now()));

/// Notes that `name` left this node for `to`; drops old notes.
pub(crate) fn note_left(name: &str, to: &str) {
    NOTES.insert(
        name.to_owned(),
        Note {
            to: to.to_owned(),
            at: Instant::now(),
        },
    );
    let mut last = LAST_SWEEP.lock();
    if last.elapsed() > NOTE_KEPT / 10 {
        *last = Instant::now();
        NOTES.retain(|_, n| n.at.elapsed() < NOTE_KEPT);
    }
}

/// Forgets the note of `name`: it runs here again.
pub(crate) fn note_back(name: &str) {
    NOTES.remove(name);
}

/// Where `name` went from here, if it left lately.
pub(crate) fn forwarded(name: &str) -> Option<String> {
    NOTES
        .get(name)
        .filter(|n| n.at.elapsed() < NOTE_KEPT)
        .map(|n| n.to.clone())
}
