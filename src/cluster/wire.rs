//! What node agents say to each other: one ractor message type that
//! ractor_cluster carries, with peeper's requests and responses inside it,
//! encoded with postcard.
//!
//! ractor_cluster frames and authenticates the bytes; this module only gives
//! them a meaning. Every decode is bounded by [`MAX_MESSAGE`] and fails with
//! an error, never a panic, on garbage.

use ractor::RpcReplyPort;
use ractor::message::{BoxedDowncastErr, SerializedMessage};
use serde::{Deserialize, Serialize};

/// How long a hop on a call's way (an agent, a relay) waits for the reply.
/// The caller's own timeout is what it sees; a hop waits longer, so that a
/// call queued behind a long backlog is not failed half way. This only bounds
/// the wait for a node that neither answers nor closes its connection.
pub(crate) const RELAY_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The largest encoded request or response a node accepts. Table rows travel
/// in chunks far below it.
pub(crate) const MAX_MESSAGE: usize = 32 * 1024 * 1024;

/// The ractor message of a node agent: a postcard-encoded [`Request`], with a
/// reply port when it is a call.
pub(crate) enum Wire {
    /// A request that expects no response.
    Cast(Vec<u8>),
    /// A request whose encoded [`Response`] goes to the port.
    Call(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

impl ractor::Message for Wire {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        Ok(match self {
            Wire::Cast(args) => SerializedMessage::Cast {
                variant: "cast".to_owned(),
                args,
                metadata: None,
            },
            Wire::Call(args, reply) => SerializedMessage::Call {
                variant: "call".to_owned(),
                args,
                reply,
                metadata: None,
            },
        })
    }

    fn deserialize(msg: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        match msg {
            SerializedMessage::Cast { args, .. } => Ok(Wire::Cast(args)),
            SerializedMessage::Call { args, reply, .. } => Ok(Wire::Call(args, reply)),
            SerializedMessage::CallReply(..) => Err(BoxedDowncastErr),
        }
    }
}

/// What one agent asks another.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Are you there? Answered `Done` by the node's heartbeat responder.
    Ping,
    /// How many live instances run here? Answered `Count`.
    Count,
    /// Do you see this node's agent? Answered `Here`.
    Knows { node: String },
    /// Does an instance of this name run here?
    Whereis { name: String },
    /// A call to the instance `name` of kind `kind`; `body` is its message.
    /// A relay addresses the very epoch it relays to (`Some`), so that its
    /// messages follow one path, in order; callers by name give `None`.
    Call {
        name: String,
        kind: String,
        epoch: Option<u64>,
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
    },
    /// A cast to the instance.
    Cast {
        name: String,
        kind: String,
        epoch: Option<u64>,
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
    },
    /// An info message to the instance.
    Info {
        name: String,
        kind: String,
        epoch: Option<u64>,
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
    },
    /// Opens a move: the target prepares an empty slot.
    Begin(Begin),
    /// Drops what the target holds of a table: it is sent again whole, or
    /// it no longer exists.
    ResetTable { mv: MoveKey, table: String },
    /// Keys removed from a table since it was copied, `count` of them.
    Remove {
        mv: MoveKey,
        table: String,
        count: u32,
        #[serde(with = "serde_bytes")]
        keys: Vec<u8>,
    },
    /// Rows of one table, `count` postcard-encoded `(key, value)` pairs.
    Rows {
        mv: MoveKey,
        table: String,
        count: u32,
        #[serde(with = "serde_bytes")]
        rows: Vec<u8>,
    },
    /// The next piece of the snapshot (state and dictionary).
    Snapshot {
        mv: MoveKey,
        #[serde(with = "serde_bytes")]
        piece: Vec<u8>,
    },
    /// Asks the target to get ready: it decodes everything, builds the
    /// instance and reserves the name, but does not start it.
    Commit { mv: MoveKey },
    /// Tells the target to start the instance it got ready: the source has
    /// handed over and will only relay from now on.
    Go { mv: MoveKey },
    /// Drops a move that will not be committed.
    Abort { mv: MoveKey },
}

/// Names one move: the instance and the epoch it will have at the target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct MoveKey {
    pub(crate) name: String,
    pub(crate) epoch: u64,
}

/// The opening of a move.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Begin {
    pub(crate) mv: MoveKey,
    pub(crate) kind: String,
    pub(crate) version: u32,
    pub(crate) supervisor: String,
    pub(crate) from_node: String,
    pub(crate) max_restarts: u32,
    pub(crate) restart_window_ms: u64,
    /// The bound of the instance's inbox, if it has one.
    pub(crate) capacity: Option<u64>,
}

/// What one agent answers.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    /// Answer to [`Request::Whereis`]: `true` if it runs here and has not
    /// moved away.
    Here(bool),
    /// Answer to [`Request::Call`]: the encoded reply, and the node where the
    /// instance handled it (which may not be the node asked).
    Called {
        reply: Result<Bytes, Failure>,
        at: String,
    },
    /// Answer to [`Request::Count`].
    Count(u64),
    /// The request was done.
    Done,
    /// The request was refused.
    Refused(String),
}

/// Encoded bytes inside a response, kept as one block on the wire.
pub(crate) type Bytes = serde_bytes::ByteBuf;

/// Why a call failed at the far end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Failure {
    NotFound,
    WrongKind,
    Crashed(crate::error::Crash),
    /// Milliseconds waited.
    Timeout(u64),
    Stopped(crate::error::StopReason),
    Dropped,
    Unreachable(String),
    Codec(String),
}

/// Asks `agent` and returns its decoded answer, or `None` if the request
/// could not be encoded, got no answer in `timeout`, or the answer is garbage.
/// For the small questions whose failure needs no detail.
pub(crate) async fn ask(
    agent: &ractor::ActorRef<Wire>,
    req: &Request,
    timeout: std::time::Duration,
) -> Option<Response> {
    let bytes = encode(req).ok()?;
    match agent
        .call(|port| Wire::Call(bytes, port), Some(timeout))
        .await
    {
        Ok(ractor::rpc::CallResult::Success(reply)) => decode(&reply).ok(),
        _ => None,
    }
}

/// Encodes a request or response.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(value).map_err(|e| e.to_string())
}

/// Decodes a request or response, refusing anything over [`MAX_MESSAGE`] and
/// trailing bytes.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    if bytes.len() > MAX_MESSAGE {
        return Err(format!(
            "message of {} bytes is over the limit of {MAX_MESSAGE}",
            bytes.len()
        ));
    }
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let req = Request::Call {
            name: "p".into(),
            kind: "counter".into(),
            epoch: None,
            body: vec![1, 2, 3],
        };
        let back: Request = decode(&encode(&req).unwrap()).unwrap();
        assert!(
            matches!(back, Request::Call { name, body, .. } if name == "p" && body == [1, 2, 3])
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut seed = 0x1234_5678_u64;
        for len in 0..512 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decode::<Request>(&bytes);
            let _ = decode::<Response>(&bytes);
        }
    }

    #[test]
    fn a_huge_length_prefix_does_not_allocate() {
        // A `Vec<u8>` length of 2^63 followed by nothing.
        let bytes = [
            4, 1, b'p', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ];
        assert!(decode::<Request>(&bytes).is_err());
    }
}
