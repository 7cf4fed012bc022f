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

/// Below this many slots the notes' map is not worth shrinking.
const NOTES_SMALL: usize = 256;

/// Forgets the note of `name`: it runs here again. The map gives back its
/// room once it is a quarter full: a drain there and back notes every name
/// and takes every note off again, and the room for them all would stay
/// behind on the node that runs them. A shrink costs one pass over the
/// map; at a quarter it comes after as many removals as the map holds, so
/// a removal still costs O(1) on average.
pub(crate) fn note_back(name: &str) {
    if NOTES.remove(name).is_some() {
        let room = NOTES.capacity();
        if room > NOTES_SMALL && NOTES.len() < room / 4 {
            NOTES.shrink_to_fit();
        }
    }
}

/// Where `name` went from here, if it left lately.
pub(crate) fn forwarded(name: &str) -> Option<String> {
    NOTES
        .get(name)
        .filter(|n| n.at.elapsed() < NOTE_KEPT)
        .map(|n| n.to.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_taken_off_give_back_their_room() {
        let names: Vec<String> = (0..10_000).map(|i| format!("note-room-{i}")).collect();
        for name in &names {
            note_left(name, "elsewhere");
        }
        let full = NOTES.capacity();
        for name in &names {
            note_back(name);
        }
        assert!(names.iter().all(|n| forwarded(n).is_none()));
        let left = NOTES.capacity();
        assert!(
            left <= NOTES_SMALL.max(full / 8),
            "{left} slots left of {full} once every note was taken off"
        );
    }
}
