//! How the source talks to the target during a move: steps posted in
//! order, steps asked and answered, the abort, and the progress reported
//! meanwhile.

use super::source::Mover;
use super::{MovePhase, MoveProgress};
use crate::cluster::error::MoveError;
use crate::cluster::fault;
use crate::cluster::wire::{self, Request, Response, Step, Wire};

/// Why a step did not get `Done`.
pub(super) enum StepError {
    /// The target said no: nothing of it was applied.
    Refused(String),
    /// No answer: it may or may not have been applied.
    Lost(String),
}

impl Mover {
    /// Sends a step without waiting: the target applies it in order, and a
    /// failure makes it refuse `Commit`, with the reason.
    pub(super) fn post(&self, step: Step) -> Result<(), MoveError> {
        let req = Request::Move {
            mv: self.mv.clone(),
            step,
        };
        let bytes = wire::encode(&req).map_err(|e| self.encode(e))?;
        let agent = self
            .node
            .agent_of(&self.to_node)
            .ok_or_else(|| self.lost("not connected".to_owned()))?;
        agent
            .send_message(Wire::Cast(bytes))
            .map_err(|e| self.lost(e.to_string()))
    }

    /// One step of the move: a request the target must answer `Done`.
    pub(super) async fn step(&self, step: Step) -> Result<(), MoveError> {
        self.ask(step).await.map_err(|e| match e {
            StepError::Refused(reason) => MoveError::Refused {
                name: self.mv.name.clone(),
                node: self.to_node.clone(),
                reason,
            },
            StepError::Lost(reason) => self.lost(reason),
        })
    }

    pub(super) async fn ask(&self, step: Step) -> Result<(), StepError> {
        self.ask_then(step, "").await
    }

    /// Sends `step`, runs the fault point `after` once it left, and waits
    /// for the answer.
    pub(super) async fn ask_then(&self, step: Step, after: &str) -> Result<(), StepError> {
        let Some(agent) = self.node.agent_of(&self.to_node) else {
            return Err(StepError::Lost("not connected".to_owned()));
        };
        let what = step.name();
        let req = Request::Move {
            mv: self.mv.clone(),
            step,
        };
        let bytes = wire::encode(&req).map_err(StepError::Refused)?;
        let timeout = self.node.config().step_timeout;
        let lost_peer = self.node.lost(&self.to_node);
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Err(e) = agent.send_message(Wire::Call(bytes, tx.into())) {
            return Err(StepError::Lost(e.to_string()));
        }
        if !after.is_empty() {
            fault::point(after);
        }
        let reply = tokio::select! {
            answer = tokio::time::timeout(timeout, rx) => match answer {
                Ok(Ok(reply)) => reply,
                Ok(Err(_)) => return Err(StepError::Lost("connection closed".into())),
                Err(_) => {
                    return Err(StepError::Lost(format!("no answer to {what} within {timeout:?}")));
                }
            },
            () = lost_peer => return Err(StepError::Lost("the node was declared lost".to_owned())),
        };
        match wire::decode::<Response>(&reply).map_err(StepError::Lost)? {
            Response::Done => Ok(()),
            Response::Refused(reason) => Err(StepError::Refused(reason)),
            other => Err(StepError::Lost(format!("unexpected answer {other:?}"))),
        }
    }

    pub(super) fn lost(&self, reason: String) -> MoveError {
        MoveError::Lost {
            name: self.mv.name.clone(),
            node: self.to_node.clone(),
            reason,
        }
    }

    pub(super) fn encode(&self, reason: String) -> MoveError {
        MoveError::Encode {
            name: self.mv.name.clone(),
            reason,
        }
    }

    pub(super) fn progress(&self, phase: MovePhase, rows_done: u64, rows_total: u64, bytes: u64) {
        self.node.emit(MoveProgress {
            name: self.mv.name.clone(),
            to_node: self.to_node.clone(),
            phase,
            rows_done,
            rows_total,
            bytes_done: bytes,
        });
    }

    /// Tells the target to drop the move, not waiting: before `Commit` the
    /// target never starts it, and drops it with the session anyway.
    pub(super) fn abort(&self) {
        self.progress(MovePhase::Aborted, 0, 0, 0);
        let req = Request::Move {
            mv: self.mv.clone(),
            step: Step::Abort,
        };
        if let (Some(agent), Ok(bytes)) = (self.node.agent_of(&self.to_node), wire::encode(&req)) {
            let _ = agent.send_message(Wire::Cast(bytes));
        }
    }
}
