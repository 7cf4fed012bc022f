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

mod moves;

pub(crate) use moves::{Begin, Decision, Holding, MoveKey, StageStatus, Step};

/// The longest budget a call may carry across nodes.
pub(crate) const MAX_BUDGET: std::time::Duration = std::time::Duration::from_secs(3600);

/// The largest encoded request or response a node accepts. Table rows travel
/// in chunks far below it.
pub(crate) const MAX_MESSAGE: usize = 32 * 1024 * 1024;

/// The ractor message of a node agent: a postcard-encoded [`Request`], with a
/// reply port when it is a call, or an event of its own node.
pub(crate) enum Wire {
    /// A request that expects no response.
    Cast(Vec<u8>),
    /// A request whose encoded [`Response`] goes to the port.
    Call(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// From this node only: never crosses the network.
    Local(Local),
}

/// What a node tells its own agent, in order with what peers sent it.
pub(crate) enum Local {
    /// The session of this peer closed.
    PeerDown(String),
    /// A ready move whose source was lost is resolved: start it or drop it.
    Resolved { mv: MoveKey, go: bool },
    /// Answered once everything sent before it to the instance `name`
    /// through this agent went in (including what is held back for it).
    Barrier {
        name: String,
        done: tokio::sync::oneshot::Sender<()>,
    },
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
            Wire::Local(_) => return Err(BoxedDowncastErr),
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
    /// Who are you? The asker says who it is; answered `Hello`, which also
    /// says whether the answering node sees the asker's agent.
    Hello(Hello),
    /// Where is the instance of this name, as far as this node knows?
    /// Answered `Where`.
    Whereis { name: String },
    /// Does this node hold the durable instance `name` in any way: running,
    /// staged by a move, or in its store? Asked by a node that restarted
    /// with the instance noted as moving here. Answered `Holds`.
    Holds { name: String },
    /// A call to the instance `name` of kind `kind`; `body` is its message.
    /// `budget_ms` is what is left of the caller's timeout: a call not begun
    /// by then is dropped unhandled.
    Call {
        name: String,
        kind: String,
        budget_ms: u64,
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
    },
    /// A cast or info message to the instance; `hops` counts the nodes that
    /// passed it on after the instance left them.
    OneWay {
        name: String,
        kind: String,
        way: Way,
        hops: u8,
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
    },
    /// A step of a move, from the source to the target.
    Move { mv: MoveKey, step: Step },
    /// From the target of a move that is ready, to its source: what did you
    /// decide? Answered `Outcome`.
    Outcome { mv: MoveKey },
    /// Once everything sent before it to the instance `name` here has been
    /// passed on (its relay's queue, or its forwarding note), the node sends
    /// `BarrierPassed` back to `from`: a relay that finds the instance back
    /// on its own node sends it the old way before it changes ways. The
    /// answer is a message, not a reply, because a reply may overtake the
    /// messages a node sent before it.
    Barrier {
        name: String,
        kind: String,
        from: String,
        token: u64,
    },
    /// The barrier `token` passed.
    BarrierPassed { token: u64 },
    /// The instance `name` left the node `from` for `to`: a route to `from`
    /// for `name` is stale.
    Moved {
        name: String,
        from: String,
        to: String,
    },
}

/// Which callback a one-way message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Way {
    /// `handle_cast`.
    Cast,
    /// `handle_info`.
    Info,
}

/// Who a node is: its name, where it listens, and which run of it this is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub(crate) name: String,
    /// The cluster address it listens on.
    pub(crate) addr: String,
    /// Random for each start of a node: a peer that answers with another
    /// incarnation is a new process, and the old one is gone for certain.
    pub(crate) incarnation: u64,
    /// The address of its data port, where moves stream their bulk.
    pub(crate) data_addr: Option<String>,
    /// The address of its pulse, which answers pings from a thread of its
    /// own.
    pub(crate) pulse_addr: Option<String>,
    /// In an answer: whether the answering node sees the asker's agent.
    pub(crate) sees_you: bool,
}

/// What one agent answers.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    /// Answer to [`Request::Whereis`].
    Where(Place),
    /// Answer to [`Request::Holds`].
    Holds(Holding),
    /// Answer to [`Request::Call`]: the encoded reply, and the node where the
    /// instance handled it (which may not be the node asked).
    Called {
        reply: Result<Bytes, Failure>,
        at: String,
    },
    /// Answer to [`Request::Call`]: the instance left for `to`; the call was
    /// not handled, and may be sent there.
    Elsewhere { to: String },
    /// Answer to [`Request::Count`].
    Count(u64),
    /// Answer to [`Request::Hello`].
    Hello(Hello),
    /// Answer to [`Step::Status`].
    Status(StageStatus),
    /// Answer to [`Request::Outcome`].
    Outcome(Decision),
    /// The request was done.
    Done,
    /// The request was refused.
    Refused(String),
}

/// Where an instance is, as one node knows it: the answer to
/// [`Request::Whereis`]. Only `Nowhere` says the node has nothing of it;
/// every window of a move answers one of the others (see `routes.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Place {
    /// It runs here.
    Here,
    /// A move brings it here: requests for it are held until it runs here,
    /// or until the move is dropped.
    Arriving,
    /// It left for that node: its relay or its forwarding note says so.
    Gone(String),
    /// This node knows nothing of it.
    Nowhere,
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
            budget_ms: 5_000,
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
