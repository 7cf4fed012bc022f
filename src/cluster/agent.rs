//! The node agent: the one actor other nodes talk to.
//!
//! It handles requests one at a time, in the order they arrive from each
//! node, and never waits for an instance inside its handler: a call is queued
//! in the instance's mailbox at once and only the wait for the reply runs in
//! a task of its own. So requests from one node reach an instance in the
//! order they were sent, and a slow instance does not hold up the others.
//!
//! Its own node's events (a peer's session closed, a lost source's move
//! resolved) come through the same mailbox, behind what peers sent before
//! them: a `Go` received before its source's connection closed is applied
//! before the clean-up of that source's moves.

use std::sync::Weak;
use std::time::{Duration, Instant};

use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::cluster::handoff::Held;
use crate::cluster::handoff::relay::{self, MAX_HOPS};
use crate::cluster::node::{Node, NodeInner};
use crate::cluster::wire::{self, Failure, Local, Request, Response, Way, Wire};
use crate::registry;

pub(crate) struct Agent;

impl ractor::Actor for Agent {
    type Msg = Wire;
    type State = Weak<NodeInner>;
    type Arguments = Weak<NodeInner>;

    async fn pre_start(
        &self,
        _: ActorRef<Wire>,
        node: Weak<NodeInner>,
    ) -> Result<Weak<NodeInner>, ActorProcessingErr> {
        Ok(node)
    }

    async fn handle(
        &self,
        _: ActorRef<Wire>,
        msg: Wire,
        node: &mut Weak<NodeInner>,
    ) -> Result<(), ActorProcessingErr> {
        let Some(inner) = node.upgrade() else {
            return Ok(());
        };
        let node = Node { inner };
        let (bytes, reply) = match msg {
            Wire::Cast(bytes) => (bytes, None),
            Wire::Call(bytes, reply) => (bytes, Some(reply)),
            Wire::Local(Local::PeerDown(peer)) => {
                node.peer_down(&peer);
                return Ok(());
            }
            Wire::Local(Local::Resolved { mv, go: true }) => {
                node.start_stage(&mv).await;
                // Whatever the source still held is lost with it, or comes
                // behind its answer; what waited here goes in now.
                node.release_held(&mv.name);
                return Ok(());
            }
            Wire::Local(Local::Resolved { mv, go: false }) => {
                node.drop_stage(&mv);
                return Ok(());
            }
            Wire::Local(Local::Barrier { name, done }) => {
                if let Err(held) = node.inner.stages.try_hold(&name, Held::LocalBarrier(done)) {
                    serve_held(&node, &name, held);
                }
                return Ok(());
            }
        };
        match wire::decode::<Request>(&bytes) {
            Ok(req) => serve(&node, req, reply).await,
            Err(e) => {
                tracing::warn!(error = %e, "peeper: undecodable request");
                answer(
                    reply,
                    &Response::Refused(format!("undecodable request: {e}")),
                );
            }
        }
        Ok(())
    }
}

fn answer(reply: Option<RpcReplyPort<Vec<u8>>>, response: &Response) {
    if let (Some(reply), Ok(bytes)) = (reply, wire::encode(response)) {
        let _ = reply.send(bytes);
    }
}

async fn serve(node: &Node, req: Request, reply: Option<RpcReplyPort<Vec<u8>>>) {
    match req {
        Request::Ping => answer(reply, &Response::Done),
        Request::Hello(hello) => {
            node.inner.peers.met(&hello);
            let mine = node.inner.peers.hello_for(&hello.name);
            answer(reply, &Response::Hello(mine));
        }
        Request::Count => {
            let live = registry::registered()
                .iter()
                .filter_map(|n| registry::get(n))
                .filter(|i| i.moved_to().is_none())
                .count();
            answer(reply, &Response::Count(live as u64));
        }
        Request::Whereis { name } => answer(reply, &Response::Where(node.place(&name))),
        Request::Holds { name } => {
            answer(reply, &Response::Holds(node.holding(&name)));
        }
        Request::Call {
            name,
            kind,
            budget_ms,
            body,
        } => {
            let held = Held::Call {
                kind,
                budget_ms,
                body,
                reply,
                since: Instant::now(),
            };
            if let Err(held) = node.inner.stages.try_hold(&name, held) {
                serve_held(node, &name, held);
            }
        }
        Request::OneWay {
            name,
            kind,
            way,
            hops,
            body,
        } => {
            let held = Held::OneWay {
                kind,
                way,
                hops,
                body,
            };
            if let Err(held) = node.inner.stages.try_hold(&name, held) {
                serve_held(node, &name, held);
            }
        }
        Request::Move { mv, step } => {
            let committed = matches!(step, crate::cluster::wire::Step::Commit);
            let response = node.apply_step(mv, step).await;
            answer(reply, &response);
            if committed && matches!(response, Response::Done) {
                crate::cluster::fault::point("target.answered");
            }
        }
        Request::Barrier {
            name,
            kind,
            from,
            token,
        } => {
            let held = Held::Barrier { kind, from, token };
            if let Err(held) = node.inner.stages.try_hold(&name, held) {
                serve_held(node, &name, held);
            }
        }
        Request::BarrierPassed { token } => relay::barrier_passed(token),
        Request::Outcome { mv } => {
            let decision = node.inner.decisions.outcome(&mv);
            answer(reply, &Response::Outcome(decision));
        }
        Request::Moved { name, from, to } => {
            node.inner.routes.moved(&name, &from, &to, node.name());
        }
    }
}

/// Serves a call or a one-way message by name, now.
pub(crate) fn serve_held(node: &Node, name: &str, held: Held) {
    match held {
        Held::Call {
            kind,
            budget_ms,
            body,
            reply,
            since,
        } => {
            let budget = Duration::from_millis(budget_ms).saturating_sub(since.elapsed());
            call(node, name, &kind, budget, &body, reply);
        }
        Held::OneWay {
            kind,
            way,
            hops,
            body,
        } => one_way(node, name, &kind, way, hops, body),
        Held::LocalBarrier(done) => {
            let _ = done.send(());
        }
        Held::Barrier { kind, from, token } => {
            let passed = Request::BarrierPassed { token };
            let (Ok(bytes), Some(agent)) = (wire::encode(&passed), node.agent_of(&from)) else {
                return;
            };
            // Sent the way relayed messages go, so it arrives behind them.
            let tell = move || {
                let _ = agent.send_message(Wire::Cast(bytes));
            };
            match node.inner.kinds.get(&kind).and_then(|k| k.barrier(name)) {
                // Through the instance's loop: behind its queue.
                Some(waiting) => {
                    tokio::spawn(async move {
                        let _ = waiting.await;
                        tell();
                    });
                }
                // Nothing queued here: passed on already, in order.
                None => tell(),
            }
        }
    }
}

fn call(
    node: &Node,
    name: &str,
    kind: &str,
    budget: Duration,
    body: &[u8],
    reply: Option<RpcReplyPort<Vec<u8>>>,
) {
    let here = node.name().to_owned();
    let budget = budget.min(wire::MAX_BUDGET);
    let queued = match node.inner.kinds.get(kind).map(|k| k.clone()) {
        Some(kind) => kind.call(name, budget, body),
        None => Err(Failure::WrongKind),
    };
    // Not here, but noted as gone elsewhere: the call was not handled.
    let queued = match queued {
        Err(Failure::NotFound) => match relay::forwarded(name) {
            Some(to) => return answer(reply, &Response::Elsewhere { to }),
            None => Err(Failure::NotFound),
        },
        other => other,
    };
    match queued {
        Err(f) => answer(
            reply,
            &Response::Called {
                reply: Err(f),
                at: here,
            },
        ),
        Ok(waiting) => {
            tokio::spawn(async move {
                let (out, moved) = waiting.await;
                let at = moved.unwrap_or(here);
                let reply_bytes = out.map(serde_bytes::ByteBuf::from);
                answer(
                    reply,
                    &Response::Called {
                        reply: reply_bytes,
                        at,
                    },
                );
            });
        }
    }
}

fn one_way(node: &Node, name: &str, kind: &str, way: Way, hops: u8, body: Vec<u8>) {
    let sent = match node.inner.kinds.get(kind) {
        Some(k) => k.one_way(name, &body, way),
        None => Err(Failure::WrongKind),
    };
    match sent {
        Ok(()) => {}
        // The instance left: pass it on, a bounded number of times.
        Err(Failure::NotFound) if hops < MAX_HOPS => {
            if let Some(to) = relay::forwarded(name)
                && let Some(agent) = node.agent_of(&to)
            {
                let req = Request::OneWay {
                    name: name.to_owned(),
                    kind: kind.to_owned(),
                    way,
                    hops: hops + 1,
                    body,
                };
                if let Ok(bytes) = wire::encode(&req)
                    && agent.send_message(Wire::Cast(bytes)).is_ok()
                {
                    return;
                }
            }
            tracing::warn!(%name, %kind, "peeper: dropped a message from another node: no such instance");
        }
        // A one-way message has nobody to tell; say it in the log.
        Err(f) => {
            tracing::warn!(%name, %kind, failure = ?f, "peeper: dropped a message from another node");
        }
    }
}

impl Node {
    /// Tells every peer that `name` left this node for `to`.
    pub(crate) fn tell_moved(&self, name: &str, to: &str) {
        let req = Request::Moved {
            name: name.to_owned(),
            from: self.name().to_owned(),
            to: to.to_owned(),
        };
        let Ok(bytes) = wire::encode(&req) else {
            return;
        };
        for peer in self.peers() {
            if let Some(agent) = self.agent_of(&peer) {
                let _ = agent.send_message(Wire::Cast(bytes.clone()));
            }
        }
    }
}
