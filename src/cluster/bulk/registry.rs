//! Which streams a port expects: one entry per registered move, from
//! [`DataPort::expect`](super::DataPort::expect) until its stream is
//! delivered or its [`Incoming`](super::Incoming) is dropped.
//!
//! The map's mutex is held for single map operations only, never across an
//! await. Each registration carries a generation, so that dropping a
//! replaced registration leaves its successor in place.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::handshake::{Halves, KeyId, key_id};

/// The streams a port expects.
#[derive(Debug, Default)]
pub(super) struct Registry {
    expected: Mutex<HashMap<KeyId, Expected>>,
    generations: AtomicU64,
}

#[derive(Debug)]
struct Expected {
    key: Vec<u8>,
    generation: u64,
    deliver: oneshot::Sender<Halves>,
}

/// A key a connection asked for, as found before it authenticated.
#[derive(Debug)]
pub(super) struct Found {
    /// The key itself, which the proofs cover.
    pub(super) key: Vec<u8>,
    generation: u64,
}

/// Keeps a key expected while it lives.
#[derive(Debug)]
pub(super) struct Registration {
    registry: Arc<Registry>,
    id: KeyId,
    generation: u64,
}

impl Registry {
    /// Expects a stream under `key`, replacing an earlier registration of
    /// the same key (whose waiter then sees the port closed).
    pub(super) fn expect(
        self: &Arc<Self>,
        key: Vec<u8>,
    ) -> (Registration, oneshot::Receiver<Halves>) {
        let id = key_id(&key);
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let (deliver, delivered) = oneshot::channel();
        self.expected.lock().insert(
            id,
            Expected {
                key,
                generation,
                deliver,
            },
        );
        let registration = Registration {
            registry: Arc::clone(self),
            id,
            generation,
        };
        (registration, delivered)
    }

    /// The key filed under `id`, if someone still waits for it.
    pub(super) fn find(&self, id: &KeyId) -> Option<Found> {
        let expected = self.expected.lock();
        let entry = expected.get(id).filter(|e| !e.deliver.is_closed())?;
        Some(Found {
            key: entry.key.clone(),
            generation: entry.generation,
        })
    }

    /// Takes the entry `found` came from, if it is still there: from now on
    /// no other connection can claim it. The caller delivers the stream
    /// through what this returns.
    pub(super) fn claim(&self, id: &KeyId, found: &Found) -> Option<oneshot::Sender<Halves>> {
        let mut expected = self.expected.lock();
        match expected.get(id) {
            Some(entry) if entry.generation == found.generation && !entry.deliver.is_closed() => {
                expected.remove(id).map(|entry| entry.deliver)
            }
            _ => None,
        }
    }

    /// Forgets every registration: their waiters see the port closed.
    pub(super) fn close(&self) {
        // Taken out first, so the waiters are woken with the lock released.
        let expected = std::mem::take(&mut *self.expected.lock());
        drop(expected);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut expected = self.registry.expected.lock();
        if expected
            .get(&self.id)
            .is_some_and(|e| e.generation == self.generation)
        {
            expected.remove(&self.id);
        }
    }
}
