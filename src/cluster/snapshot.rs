//! The versioned encoding of an instance's state and dictionary, as it
//! crosses nodes.
//!
//! ```text
//! "PEEP" | format (1 byte) | postcard(Header { kind, version }) | postcard(Body)
//! ```
//!
//! The header is read first: a snapshot of an unknown kind, or of a state
//! version the target's [`Portable::accepts`] refuses, is refused before its
//! body is decoded. Decoding never panics and never allocates more than the
//! input's own size because of a length prefix (postcard reads lengths
//! against the bytes actually there).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dictionary::{Dictionary, Value};
use crate::portable::{Parts, Portable};

const MAGIC: [u8; 4] = *b"PEEP";
const FORMAT: u8 = 2;

/// Why a snapshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes do not start like a peeper snapshot.
    #[error("not a peeper snapshot")]
    NotASnapshot,
    /// The snapshot was written by a newer peeper.
    #[error("snapshot format {0} is not supported")]
    Format(u8),
    /// The snapshot holds another kind of actor.
    #[error("snapshot of kind {found:?}, expected {expected:?}")]
    WrongKind {
        /// The kind expected here.
        expected: String,
        /// The kind in the snapshot.
        found: String,
    },
    /// This node cannot read the snapshot's state version.
    #[error("state version {found} of {kind:?} is not accepted here (this node writes {ours})")]
    Version {
        /// The kind.
        kind: String,
        /// The version in the snapshot.
        found: u32,
        /// The version this node writes.
        ours: u32,
    },
    /// A dictionary entry this node's kind does not declare.
    #[error("dictionary entry {0:?} is not declared portable here")]
    UnknownEntry(String),
    /// The bytes are damaged.
    #[error("damaged snapshot: {0}")]
    Corrupt(String),
}

#[derive(Serialize, Deserialize)]
struct Header {
    kind: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct Body {
    #[serde(with = "serde_bytes")]
    state: Vec<u8>,
    /// Each entry's encoding kept as one block of bytes: the same encoding
    /// as a `Vec<u8>`, written and read as one copy rather than byte by byte.
    dictionary: Vec<(String, serde_bytes::ByteBuf)>,
    /// Entries sent ahead, while the instance ran, and unchanged since.
    ahead: Vec<String>,
    timers: Vec<Timer>,
}

/// A pending timer, as it travels: its message is still encoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Timer {
    pub(crate) id: u64,
    pub(crate) remaining_us: u64,
    pub(crate) period_us: Option<u64>,
    #[serde(with = "serde_bytes")]
    pub(crate) msg: Vec<u8>,
}

/// Encodes `state` and `dict`; `Err` names the first part that cannot
/// travel (an undeclared dictionary entry) or fails to encode. Entries in
/// `ahead` that still hold the very value sent ahead are only named.
pub(crate) fn encode<A: Portable>(
    state: &A::State,
    dict: &Dictionary,
    timers: Vec<Timer>,
    parts: &Parts,
    ahead: &HashMap<String, Value>,
) -> Result<Vec<u8>, String> {
    let mut dictionary = Vec::new();
    let mut named = Vec::new();
    for (key, value) in dict.entries() {
        if ahead.get(key).is_some_and(|sent| Arc::ptr_eq(sent, value)) {
            named.push(key.to_owned());
            continue;
        }
        let port = parts.dictionary.get(key).ok_or_else(|| {
            format!("dictionary entry {key:?} is not declared in Portable::parts")
        })?;
        let bytes = (port.encode)(value).map_err(|e| format!("dictionary entry {key:?}: {e}"))?;
        dictionary.push((key.to_owned(), serde_bytes::ByteBuf::from(bytes)));
    }
    let body = Body {
        state: postcard::to_stdvec(state).map_err(|e| format!("state: {e}"))?,
        dictionary,
        ahead: named,
        timers,
    };
    let header = Header {
        kind: A::KIND.to_owned(),
        version: A::VERSION,
    };
    let mut out = MAGIC.to_vec();
    out.push(FORMAT);
    let out = postcard::to_extend(&header, out).map_err(|e| e.to_string())?;
    postcard::to_extend(&body, out).map_err(|e| e.to_string())
}

fn header(bytes: &[u8]) -> Result<(Header, &[u8]), SnapshotError> {
    let rest = bytes
        .strip_prefix(&MAGIC)
        .ok_or(SnapshotError::NotASnapshot)?;
    let (&format, rest) = rest.split_first().ok_or(SnapshotError::NotASnapshot)?;
    if format != FORMAT {
        return Err(SnapshotError::Format(format));
    }
    postcard::take_from_bytes::<Header>(rest).map_err(|e| SnapshotError::Corrupt(e.to_string()))
}

/// What a snapshot holds, decoded.
pub(crate) struct Decoded<A: Portable> {
    pub(crate) state: A::State,
    pub(crate) dict: Dictionary,
    pub(crate) timers: Vec<(Timer, A::Info)>,
}

/// Decodes a snapshot written by [`encode`] for kind `A`; the entries it
/// names come from `ahead`, the entries received (and decoded) before it.
pub(crate) fn decode<A: Portable>(
    bytes: &[u8],
    parts: &Parts,
    ahead: &mut HashMap<String, Value>,
) -> Result<Decoded<A>, SnapshotError> {
    let (header, rest) = header(bytes)?;
    if header.kind != A::KIND {
        return Err(SnapshotError::WrongKind {
            expected: A::KIND.to_owned(),
            found: header.kind,
        });
    }
    if !A::accepts(header.version) {
        return Err(SnapshotError::Version {
            kind: header.kind,
            found: header.version,
            ours: A::VERSION,
        });
    }
    let corrupt = |e: postcard::Error| SnapshotError::Corrupt(e.to_string());
    let (body, tail) = postcard::take_from_bytes::<Body>(rest).map_err(corrupt)?;
    if !tail.is_empty() {
        return Err(SnapshotError::Corrupt(format!(
            "{} bytes after the body",
            tail.len()
        )));
    }
    let state = postcard::from_bytes::<A::State>(&body.state).map_err(corrupt)?;
    let mut dict = Dictionary::default();
    for key in body.ahead {
        let value = ahead.remove(&key).ok_or_else(|| {
            SnapshotError::Corrupt(format!("dictionary entry {key:?} was not sent ahead"))
        })?;
        dict.put_erased(key, value);
    }
    for (key, bytes) in body.dictionary {
        let port = parts
            .dictionary
            .get(&key)
            .ok_or_else(|| SnapshotError::UnknownEntry(key.clone()))?;
        let value = (port.decode)(&bytes)
            .map_err(|e| SnapshotError::Corrupt(format!("dictionary entry {key:?}: {e}")))?;
        dict.put_erased(key, value);
    }
    let mut timers = Vec::new();
    for timer in body.timers {
        let msg = postcard::from_bytes::<A::Info>(&timer.msg).map_err(corrupt)?;
        timers.push((timer, msg));
    }
    Ok(Decoded {
        state,
        dict,
        timers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, BoxError, Context, StateMut};

    struct Thing;
    impl Actor for Thing {
        type State = Vec<u32>;
        type Call = ();
        type Reply = ();
        type Cast = ();
        type Info = ();
    }
    impl Portable for Thing {
        const KIND: &'static str = "thing";
        const VERSION: u32 = 2;
        fn parts(parts: &mut Parts) {
            parts.dictionary::<String>("label");
        }
    }

    struct Newer;
    impl Actor for Newer {
        type State = Vec<u32>;
        type Call = ();
        type Reply = ();
        type Cast = ();
        type Info = ();
        async fn handle_call(
            &self,
            (): (),
            _: &mut StateMut<Vec<u32>>,
            _: &mut Context<Self>,
        ) -> Result<(), BoxError> {
            Ok(())
        }
    }
    impl Portable for Newer {
        const KIND: &'static str = "thing";
        const VERSION: u32 = 3;
    }

    fn sample() -> Vec<u8> {
        let mut dict = Dictionary::default();
        dict.put("label", String::from("seven"));
        let timer = Timer {
            id: 4,
            remaining_us: 1500,
            period_us: None,
            msg: postcard::to_stdvec(&()).unwrap(),
        };
        encode::<Thing>(
            &vec![1, 2, 3],
            &dict,
            vec![timer],
            &Parts::of::<Thing>(),
            &HashMap::new(),
        )
        .unwrap()
    }

    #[test]
    fn round_trip_keeps_state_dictionary_and_timers() {
        let back = decode::<Thing>(&sample(), &Parts::of::<Thing>(), &mut HashMap::new()).unwrap();
        assert_eq!(back.state, vec![1, 2, 3]);
        let label = back.dict.get::<String>("label").map(String::as_str);
        assert_eq!(label, Some("seven"));
        assert_eq!(back.timers.len(), 1);
        let (timer, ()) = &back.timers[0];
        assert_eq!((timer.id, timer.remaining_us), (4, 1500));
    }

    #[test]
    fn another_version_is_refused_before_the_body_is_read() {
        let Err(err) = decode::<Newer>(&sample(), &Parts::of::<Newer>(), &mut HashMap::new())
        else {
            panic!("a newer version must be refused");
        };
        assert!(
            matches!(
                err,
                SnapshotError::Version {
                    found: 2,
                    ours: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn undeclared_dictionary_entries_do_not_travel() {
        let mut dict = Dictionary::default();
        dict.put("secret", 1_u8);
        let err = encode::<Thing>(
            &vec![],
            &dict,
            vec![],
            &Parts::of::<Thing>(),
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(err.contains("secret"), "{err}");
    }

    #[test]
    fn every_truncation_and_flip_is_an_error_or_a_value_never_a_panic() {
        let good = sample();
        for cut in 0..good.len() {
            assert!(
                decode::<Thing>(&good[..cut], &Parts::of::<Thing>(), &mut HashMap::new()).is_err()
            );
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                let _ = decode::<Thing>(&bad, &Parts::of::<Thing>(), &mut HashMap::new());
            }
        }
    }
}
