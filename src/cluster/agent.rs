//! The node agent: the one actor other nodes talk to.
//!
//! It handles requests one at a time, in the order they arrive from each
//! node, and never waits for an instance inside its handler: a call is queued
//! in the instance's mailbox at once and only the wait for the reply runs in
//! a task of its own. So requests from one node reach an instance in the
//! order they were sent, and a slow instance does not hold up the others.

use std::sync::{Arc, Weak};

use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::cluster::kind::OneWay;
use crate::cluster::kind::Staging;
use crate::cluster::node::NodeInner;
use crate::cluster::wire::{self, Failure, MoveKey, Request, Response, Wire};
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
        let Some(node) = node.upgrade() else {
            return Ok(());
        };
        let (bytes, reply) = match msg {
            Wire::Cast(bytes) => (bytes, None),
            Wire::Call(bytes, reply) => (bytes, Some(reply)),
        };
        let req = match wire::decode::<Request>(&bytes) {
            Ok(req) => req,
            Err(e) => {
                tracing::warn!(error = %e, "peeper: undecodable request");
                answer(
                    reply,
                    &Response::Refused(format!("undecodable request: {e}")),
                );
                return Ok(());
            }
        };
        serve(&node, req, reply).await;
        Ok(())
    }
}

fn answer(reply: Option<RpcReplyPort<Vec<u8>>>, response: &Response) {
    if let (Some(reply), Ok(bytes)) = (reply, wire::encode(response)) {
        let _ = reply.send(bytes);
    }
}

fn done(result: Result<(), String>) -> Response {
    match result {
        Ok(()) => Response::Done,
        Err(reason) => Response::Refused(reason),
    }
}

async fn serve(node: &Arc<NodeInner>, req: Request, reply: Option<RpcReplyPort<Vec<u8>>>) {
    let here = node_name(node);
    match req {
        Request::Ping => answer(reply, &Response::Done),
        Request::Knows { node } => {
            answer(reply, &Response::Here(crate::cluster::node::is_peer(&node)));
        }
        Request::Count => {
            let live = registry::registered()
                .iter()
                .filter_map(|n| registry::get(n))
                .filter(|i| i.moved_to().is_none())
                .count();
            answer(reply, &Response::Count(live as u64));
        }
        Request::Whereis { name } => {
            let live = registry::get(&name).is_some_and(|i| i.moved_to().is_none());
            answer(reply, &Response::Here(live));
        }
        Request::Call {
            name,
            kind,
            epoch,
            body,
        } => {
            let port = node.kinds.get(&kind).map(|p| p.clone());
            let queued = match port {
                Some(port) => port.call(&name, epoch, &body),
                None => Err(Failure::WrongKind),
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
        Request::Cast {
            name,
            kind,
            epoch,
            body,
        } => one_way(node, &name, &kind, epoch, &body, OneWay::Cast),
        Request::Info {
            name,
            kind,
            epoch,
            body,
        } => one_way(node, &name, &kind, epoch, &body, OneWay::Info),
        Request::Begin(begin) => {
            let known = crate::cluster::node::is_peer(&begin.from_node);
            let result = match node.kinds.get(&begin.kind).map(|p| p.clone()) {
                // Only a connected, authenticated node may move an instance in.
                _ if !known => Err(format!("{:?} is not a connected node", begin.from_node)),
                None => Err(format!("kind {:?} is not registered here", begin.kind)),
                Some(port) => {
                    let key = begin.mv.clone();
                    let from = begin.from_node.clone();
                    port.stage(begin, from).map(|stage| {
                        node.stagings.lock().insert(key, stage);
                    })
                }
            };
            answer(reply, &done(result));
        }
        Request::Rows {
            mv,
            table,
            count,
            rows,
        } => {
            let result = on_stage(node, &mv, |stage| stage.rows(&table, &rows, count));
            answer(reply, &done(result));
        }
        Request::ResetTable { mv, table } => {
            let result = on_stage(node, &mv, |stage| {
                stage.reset(&table);
                Ok(())
            });
            answer(reply, &done(result));
        }
        Request::Remove {
            mv,
            table,
            count,
            keys,
        } => {
            let result = on_stage(node, &mv, |stage| stage.remove(&table, &keys, count));
            answer(reply, &done(result));
        }
        Request::Snapshot { mv, piece } => {
            let result = on_stage(node, &mv, |stage| stage.piece(&piece));
            answer(reply, &done(result));
        }
        Request::Commit { mv } => {
            let result = on_stage(node, &mv, |stage| stage.prepare());
            answer(reply, &done(result));
        }
        Request::Go { mv } => {
            let stage = node.stagings.lock().remove(&mv);
            let started = match stage {
                Some(stage) => stage.start().await,
                None => Err("no such move".to_owned()),
            };
            if let Err(e) = &started {
                tracing::error!(name = %mv.name, error = %e, "peeper: a moved instance could not start");
            }
            answer(reply, &done(started));
        }
        Request::Abort { mv } => {
            node.stagings.lock().remove(&mv);
            answer(reply, &Response::Done);
        }
    }
}

/// Runs `step` on the move `mv` being received.
fn on_stage(
    node: &NodeInner,
    mv: &MoveKey,
    step: impl FnOnce(&mut Box<dyn Staging>) -> Result<(), String>,
) -> Result<(), String> {
    match node.stagings.lock().get_mut(mv) {
        Some(stage) => step(stage),
        None => Err("no such move".to_owned()),
    }
}

fn one_way(node: &NodeInner, name: &str, kind: &str, epoch: Option<u64>, body: &[u8], way: OneWay) {
    let sent = match node.kinds.get(kind) {
        Some(port) => port.one_way(name, epoch, body, way),
        None => Err(Failure::WrongKind),
    };
    if let Err(f) = sent {
        // A one-way message has nobody to tell; say it in the log.
        tracing::warn!(%name, %kind, failure = ?f, "peeper: dropped a message from another node");
    }
}

fn node_name(node: &NodeInner) -> String {
    node.name().to_owned()
}
