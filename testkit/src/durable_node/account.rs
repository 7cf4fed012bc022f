//! [`Account`]: the durable kind the kill test drives. Every op it handles
//! leaves a trace in each of the parts a store keeps (the state, a row of
//! the `ops` table, the `last` dictionary entry, now and then a timer), so
//! that a part lost or doubled across a `kill -9` shows as figures that
//! disagree.

use std::collections::BTreeMap;
use std::time::Duration;

use peeper::portable::{Parts, Portable};
use peeper::{Actor, BoxError, Context, Start, StateMut};
use serde::{Deserialize, Serialize};

use super::figures::Figures;

/// The durable table with one row per op handled: key the op's number
/// across all senders, value its `seq`.
pub const OPS: &str = "ops";
/// The dictionary entry holding how many ops were handled.
pub const LAST: &str = "last";
/// Every this many ops handled, one sets a timer.
pub const TIMER_EVERY: u64 = 5;
/// How long a timer waits: long enough that a kill often finds some pending.
pub const TIMER_DELAY: Duration = Duration::from_millis(150);

/// The kind: what it knows is all in [`Ledger`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Account;

/// One numbered op from a sender; each sender numbers its ops to one
/// instance 1, 2, 3…, across every run of the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Who sent it.
    pub sender: String,
    /// Its number in that sender's sequence to this instance.
    pub seq: u64,
}

/// What a call asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Ask {
    /// Handle an op, as a cast would.
    Op(Op),
    /// Report the figures; changes nothing.
    Report,
}

/// What a call answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Answer {
    /// The op was handled.
    Done,
    /// The figures, read in one callback.
    Report(Figures),
}

/// The timer's message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick;

/// An account's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ledger {
    /// The last `seq` handled, by sender.
    pub last_seq: BTreeMap<String, u64>,
    /// Ops handled; also the key of the last `ops` row.
    pub handled: u64,
    /// Ops whose `seq` was not the one after the last of their sender.
    pub violations: u64,
    /// Ops whose `seq` had been handled already.
    pub dups: u64,
    /// Timers set.
    pub timers_set: u64,
    /// Timers whose message was handled.
    pub timer_fired: u64,
    /// `timer_fired` when the instance was last read back from the store.
    pub fired_at_recovery: u64,
    /// How many times it was read back from the store.
    pub recoveries: u64,
}

impl Actor for Account {
    type State = Ledger;
    type Call = Ask;
    type Reply = Answer;
    type Cast = Op;
    type Info = Tick;

    async fn init(
        &self,
        s: &mut StateMut<Ledger>,
        start: Start,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if start == Start::Recovered {
            s.recoveries += 1;
            s.fired_at_recovery = s.timer_fired;
        }
        Ok(())
    }

    async fn handle_call(
        &self,
        ask: Ask,
        s: &mut StateMut<Ledger>,
        ctx: &mut Context<Self>,
    ) -> Result<Answer, BoxError> {
        match ask {
            Ask::Op(op) => {
                apply(op, s, ctx)?;
                Ok(Answer::Done)
            }
            Ask::Report => Ok(Answer::Report(figures(s, ctx)?)),
        }
    }

    async fn handle_cast(
        &self,
        op: Op,
        s: &mut StateMut<Ledger>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        apply(op, s, ctx)
    }

    async fn handle_info(
        &self,
        _: Tick,
        s: &mut StateMut<Ledger>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        s.timer_fired += 1;
        Ok(())
    }
}

impl Portable for Account {
    const KIND: &'static str = "account";
    const VERSION: u32 = 1;

    fn parts(parts: &mut Parts) {
        parts.table::<u64, u64>(OPS).dictionary::<u64>(LAST);
    }
}

fn apply(op: Op, s: &mut StateMut<Ledger>, ctx: &mut Context<Account>) -> Result<(), BoxError> {
    let ledger = &mut **s;
    let last = ledger.last_seq.get(&op.sender).copied().unwrap_or(0);
    if op.seq <= last {
        ledger.dups += 1;
    }
    if op.seq != last + 1 {
        ledger.violations += 1;
    }
    ledger.last_seq.insert(op.sender, last.max(op.seq));
    ledger.handled += 1;
    ctx.table::<u64, u64>(OPS)?.insert(ledger.handled, op.seq);
    ctx.dictionary_mut().put(LAST, ledger.handled);
    if ledger.handled % TIMER_EVERY == 0 {
        ctx.send_after(TIMER_DELAY, Tick);
        ledger.timers_set += 1;
    }
    Ok(())
}

fn figures(s: &Ledger, ctx: &Context<Account>) -> Result<Figures, BoxError> {
    Ok(Figures {
        instance: ctx.name().to_owned(),
        handled: s.handled,
        violations: s.violations,
        dups: s.dups,
        timers_set: s.timers_set,
        timer_fired: s.timer_fired,
        fired_at_recovery: s.fired_at_recovery,
        recoveries: s.recoveries,
        pending_timers: ctx.pending_timers() as u64,
        rows: ctx.table::<u64, u64>(OPS)?.len() as u64,
        last: ctx.dictionary().get::<u64>(LAST).copied(),
        last_seq: s.last_seq.clone(),
    })
}
