//! Calls a relay passes on: sent once, following the instance from node to
//! node while each answers that it is elsewhere (the call was not handled
//! there), within the caller's timeout; see the [module docs](super).

use std::time::Duration;

use super::{MAX_HOPS, Route};
use crate::cluster::kind::call_error;
use crate::cluster::wire::{self, Request, Response, Wire};
use crate::error::CallError;
use crate::portable::Portable;

impl<A: Portable> Route<A> {
    pub(super) fn call(
        &self,
        to: &str,
        msg: A::Call,
        reply: ractor::RpcReplyPort<Result<A::Reply, CallError>>,
    ) {
        if reply.is_closed() {
            // Its caller gave up while it waited here: it is dropped
            // unhandled, as the instance's own loop would drop it.
            return;
        }
        let name = self.name.clone();
        // The caller's whole timeout: how much of it is left is not known
        // here, so the far end may begin the call up to the time it waited
        // here after its caller gave up.
        let budget = reply
            .get_timeout()
            .unwrap_or(self.node.config().call_timeout);
        let body = match postcard::to_stdvec(&msg) {
            Ok(body) => body,
            Err(e) => {
                let _ = reply.send(Err(CallError::Unreachable {
                    name,
                    reason: format!("could not encode the call: {e}"),
                }));
                return;
            }
        };
        let Some(agent) = self.node.agent_of(to) else {
            let _ = reply.send(Err(CallError::Unreachable {
                name,
                reason: format!("node {to} is not connected"),
            }));
            return;
        };
        // Queued now, in mailbox order; only the wait is spawned.
        let first = send_call::<A>(&agent, &name, &body, budget);
        crate::cluster::fault::point("relay.call");
        let node = self.node.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + budget;
            let mut answer = match first {
                Ok(rx) => wait_reply::<A>(&name, rx, budget).await,
                Err(e) => Err(e),
            };
            for _ in 0..MAX_HOPS {
                let Err(Hop::Elsewhere(to)) = answer else {
                    break;
                };
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                answer = match node.agent_of(&to) {
                    Some(agent) => match send_call::<A>(&agent, &name, &body, left) {
                        Ok(rx) => wait_reply::<A>(&name, rx, left).await,
                        Err(e) => Err(e),
                    },
                    None => Err(Hop::Failed(CallError::Unreachable {
                        name: name.clone(),
                        reason: format!("node {to} is not connected"),
                    })),
                };
            }
            let out = answer.map_err(|hop| match hop {
                Hop::Failed(e) => e,
                Hop::Elsewhere(_) => CallError::Unreachable {
                    name: name.clone(),
                    reason: "the instance kept moving".to_owned(),
                },
            });
            let _ = reply.send(out);
        });
    }
}

/// Why a relayed call did not get its reply at one node.
enum Hop {
    /// Not handled: the instance is there.
    Elsewhere(String),
    Failed(CallError),
}

fn send_call<A: Portable>(
    agent: &ractor::ActorRef<Wire>,
    name: &str,
    body: &[u8],
    budget: Duration,
) -> Result<tokio::sync::oneshot::Receiver<Vec<u8>>, Hop> {
    let unreachable = |reason: String| {
        Hop::Failed(CallError::Unreachable {
            name: name.to_owned(),
            reason,
        })
    };
    let req = Request::Call {
        name: name.to_owned(),
        kind: A::KIND.to_owned(),
        budget_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
        body: body.to_vec(),
    };
    let bytes = wire::encode(&req).map_err(unreachable)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    agent
        .send_message(Wire::Call(bytes, tx.into()))
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(rx)
}

async fn wait_reply<A: Portable>(
    name: &str,
    rx: tokio::sync::oneshot::Receiver<Vec<u8>>,
    budget: Duration,
) -> Result<A::Reply, Hop> {
    let failed = |e: CallError| Hop::Failed(e);
    let unreachable = |reason: String| {
        failed(CallError::Unreachable {
            name: name.to_owned(),
            reason,
        })
    };
    let bytes = match tokio::time::timeout(budget + Duration::from_millis(250), rx).await {
        Err(_) => {
            return Err(failed(CallError::Timeout {
                name: name.to_owned(),
                timeout: budget,
            }));
        }
        Ok(Err(_)) => return Err(unreachable("connection closed".into())),
        Ok(Ok(bytes)) => bytes,
    };
    match wire::decode::<Response>(&bytes).map_err(unreachable)? {
        Response::Called { reply: Ok(r), .. } => {
            postcard::from_bytes(&r).map_err(|e| unreachable(e.to_string()))
        }
        Response::Called { reply: Err(f), .. } => Err(failed(call_error(name, f))),
        Response::Elsewhere { to } => Err(Hop::Elsewhere(to)),
        other => Err(unreachable(format!("unexpected answer {other:?}"))),
    }
}
