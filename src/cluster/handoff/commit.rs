//! The decision of a move, source side: `Commit`, and when its answer is in
//! doubt, the facts that settle it; see the state machine in the
//! [module docs](super).

use super::MovePhase;
use super::decisions::Verdict;
use super::source::Mover;
use super::steps::StepError;
use crate::cluster::error::MoveError;
use crate::cluster::fault;
use crate::cluster::peers::Fate;
use crate::cluster::wire::{self, Holding, Request, Response, StageStatus, Step};

impl Mover {
    /// Commits and decides; `Ok(confirmed)` once the decision is go.
    pub(super) async fn commit(&self) -> Result<bool, MoveError> {
        let decisions = &self.node.inner.decisions;
        decisions.pending(&self.mv);
        fault::point("source.commit");
        let verdict = match self.ask_then(Step::Commit, "source.sent_commit").await {
            Ok(()) => decisions.decide(&self.mv, Verdict::Go),
            Err(StepError::Refused(reason)) => {
                if decisions.decide(&self.mv, Verdict::Aborted) == Verdict::Aborted {
                    decisions.forget(&self.mv);
                    return Err(MoveError::Refused {
                        name: self.mv.name.clone(),
                        node: self.to_node.clone(),
                        reason,
                    });
                }
                Verdict::Go
            }
            Err(StepError::Lost(reason)) => {
                tracing::warn!(name = %self.mv.name, %reason, "peeper: commit in doubt");
                self.settle().await
            }
        };
        if verdict != Verdict::Go {
            self.abort_acknowledged();
            return Err(self.lost("the target was lost while committing".to_owned()));
        }
        fault::point("source.go");
        let confirmed = match self.ask_then(Step::Go, "source.sent_go").await {
            Ok(()) => Ok(()),
            Err(StepError::Refused(reason)) => {
                Err(self.lost(format!("the target could not start it: {reason}")))
            }
            Err(StepError::Lost(reason)) => {
                tracing::warn!(name = %self.mv.name, %reason, "peeper: start not confirmed");
                self.confirm().await
            }
        };
        decisions.forget(&self.mv);
        confirmed.map(|()| true)
    }

    /// `Go` went unanswered: waits until the target says it runs the
    /// instance, or is gone for certain, or says it does not run it. Until
    /// then the instance stays frozen here: it runs in one place or none.
    /// If the target is gone, so is any copy it started; the instance runs
    /// on here, with the state it froze with.
    async fn confirm(&self) -> Result<(), MoveError> {
        let tick = self.node.config().heartbeat_interval;
        loop {
            match self.node.fate(&self.to_node, self.to_incarnation).await {
                // A durable instance's target may have stored it before it
                // died, and a restart there brings it back: only the node
                // in its place can say.
                Fate::Gone if self.durable => match self.holds().await {
                    Some(Holding::Runs | Holding::Stored) => return Ok(()),
                    Some(Holding::Nothing) => {
                        return Err(self.lost("the target restarted without it".to_owned()));
                    }
                    Some(Holding::Staged) | None => {}
                },
                Fate::Gone => {
                    return Err(
                        self.lost("the target was lost before it confirmed the start".to_owned())
                    );
                }
                Fate::Back => match self.status().await {
                    Some(StageStatus::Started) => return Ok(()),
                    // `Go` was lost on the way: it goes again.
                    Some(StageStatus::Ready) if self.ask(Step::Go).await.is_ok() => {
                        return Ok(());
                    }
                    Some(StageStatus::Ready) => {}
                    Some(StageStatus::Absent | StageStatus::Receiving) => {
                        return Err(self.lost("the target does not run it".to_owned()));
                    }
                    None => {}
                },
                Fate::Silent => {}
            }
            tokio::time::sleep(tick).await;
        }
    }

    /// Commit is in doubt: waits for a fact that decides it.
    async fn settle(&self) -> Verdict {
        let decisions = &self.node.inner.decisions;
        let tick = self.node.config().heartbeat_interval;
        loop {
            let changed = decisions.changed();
            tokio::pin!(changed);
            if let Some(verdict) = decisions.get(&self.mv).filter(|v| *v != Verdict::Pending) {
                return verdict;
            }
            // A question from the target may decide it meanwhile: no look
            // at the target holds that up.
            let look = async {
                match self.node.fate(&self.to_node, self.to_incarnation).await {
                    Fate::Gone => Some(Verdict::Aborted),
                    Fate::Back => match self.status().await {
                        Some(StageStatus::Ready | StageStatus::Started) => Some(Verdict::Go),
                        Some(StageStatus::Absent | StageStatus::Receiving) => {
                            Some(Verdict::Aborted)
                        }
                        None => None,
                    },
                    Fate::Silent => None,
                }
            };
            tokio::select! {
                () = &mut changed => continue,
                found = look => {
                    if let Some(verdict) = found {
                        return decisions.decide(&self.mv, verdict);
                    }
                }
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(tick) => {}
            }
        }
    }

    /// How the node now in the target's place holds the instance, if it
    /// answers.
    async fn holds(&self) -> Option<Holding> {
        let agent = self.node.agent_of(&self.to_node)?;
        let req = Request::Holds {
            name: self.mv.name.clone(),
        };
        match wire::ask(&agent, &req, self.node.config().step_timeout).await {
            Some(Response::Holds(holding)) => Some(holding),
            _ => None,
        }
    }

    async fn status(&self) -> Option<StageStatus> {
        let agent = self.node.agent_of(&self.to_node)?;
        let req = Request::Move {
            mv: self.mv.clone(),
            step: Step::Status,
        };
        match wire::ask(&agent, &req, self.node.config().step_timeout).await {
            Some(Response::Status(status)) => Some(status),
            _ => None,
        }
    }

    /// After an abort decided in doubt: tells the target, and forgets the
    /// decision once it heard.
    fn abort_acknowledged(&self) {
        self.progress(MovePhase::Aborted, 0, 0, 0);
        let node = self.node.clone();
        let (mv, to) = (self.mv.clone(), self.to_node.clone());
        let wait = self.node.config().step_timeout;
        tokio::spawn(async move {
            let req = Request::Move {
                mv: mv.clone(),
                step: Step::Abort,
            };
            let heard = match node.agent_of(&to) {
                Some(agent) => matches!(wire::ask(&agent, &req, wait).await, Some(Response::Done)),
                None => false,
            };
            if heard {
                node.inner.decisions.forget(&mv);
            }
        });
    }
}
