//! Shared set-up for the scenario tests: a probe actor (a counter that can
//! also crash in every way on demand, wait at a sync point, keep per-sender
//! sequence checks, and record its inits and terminations), fresh names and
//! supervisors, and [`bounded`] for cases that must not hang.
#![allow(dead_code, unreachable_pub)] // shared by the test files, each using a part

pub mod http;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use peeper::{Actor, BoxError, Context, Start, StateMut, StopReason, Supervisor};
use tokio::sync::{Notify, oneshot};

/// The kept state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub value: i64,
    /// Last sequence number handled per sender.
    pub last_seq: BTreeMap<u32, u64>,
    /// Messages that arrived out of order or twice.
    pub violations: u64,
    /// Sequenced messages handled.
    pub handled: u64,
}

impl Counter {
    fn sequenced(&mut self, sender: u32, seq: u64) {
        let last = self.last_seq.entry(sender).or_insert(0);
        if seq != *last + 1 {
            self.violations += 1;
        }
        *last = seq;
        self.handled += 1;
    }
}

/// A point a callback reaches and then waits at until released.
#[derive(Clone, Default)]
pub struct Gate {
    pub reached: Arc<Notify>,
    pub release: Arc<Notify>,
}

pub enum Call {
    Get,
    Dict(&'static str),
    Seq {
        sender: u32,
        seq: u64,
    },
    Panic,
    Fail,
    /// Adds one, then waits at the gate (so the change is pending when killed).
    AddThenWait(Gate),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Value(i64),
    Dict(Option<i64>),
    Done,
}

pub enum Cast {
    Incr,
    Add(i64),
    SetDict(&'static str, i64),
    Rows(&'static str, Vec<(u64, String)>),
    Seq {
        sender: u32,
        seq: u64,
    },
    Panic,
    Fail,
    /// Sets a dictionary key, then panics: the write must be discarded.
    SetDictThenPanic(&'static str, i64),
    AddThenWait(i64, Gate),
    Timer(Duration, Info),
    Report(oneshot::Sender<i64>),
}

#[derive(Clone, Debug)]
pub enum Info {
    Incr,
    Panic,
}

/// The behaviour, with knobs and records shared with the test.
#[derive(Clone, Default)]
pub struct Probe {
    /// How many restores should panic in init before one succeeds.
    pub failing_restores: Arc<AtomicU32>,
    /// Panic in terminate.
    pub panic_in_terminate: bool,
    pub inits: Arc<AtomicUsize>,
    pub restores: Arc<AtomicUsize>,
    pub terminated: Arc<Mutex<Vec<(StopReason, i64)>>>,
}

impl Actor for Probe {
    type State = Counter;
    type Call = Call;
    type Reply = Reply;
    type Cast = Cast;
    type Info = Info;

    async fn init(
        &self,
        _state: &mut StateMut<Counter>,
        start: Start,
        _ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        self.inits.fetch_add(1, Ordering::SeqCst);
        if let Start::Restored(_) = start {
            self.restores.fetch_add(1, Ordering::SeqCst);
            let left = self.failing_restores.load(Ordering::SeqCst);
            if left > 0 {
                self.failing_restores.store(left - 1, Ordering::SeqCst);
                panic!("init after restore fails on purpose");
            }
        }
        Ok(())
    }

    async fn handle_call(
        &self,
        msg: Call,
        state: &mut StateMut<Counter>,
        ctx: &mut Context<Self>,
    ) -> Result<Reply, BoxError> {
        match msg {
            Call::Get => Ok(Reply::Value(state.value)),
            Call::Dict(key) => Ok(Reply::Dict(ctx.dictionary().get::<i64>(key).copied())),
            Call::Seq { sender, seq } => {
                state.sequenced(sender, seq);
                Ok(Reply::Value(state.value))
            }
            Call::Panic => panic!("call panics on purpose"),
            Call::Fail => Err("call fails on purpose".into()),
            Call::AddThenWait(gate) => {
                state.value += 1000;
                gate.reached.notify_one();
                gate.release.notified().await;
                Ok(Reply::Done)
            }
        }
    }

    async fn handle_cast(
        &self,
        msg: Cast,
        state: &mut StateMut<Counter>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        match msg {
            Cast::Incr => state.value += 1,
            Cast::Add(n) => state.value += n,
            Cast::SetDict(key, v) => {
                ctx.dictionary_mut().put(key, v);
            }
            Cast::Rows(table, rows) => {
                let t = ctx.table::<u64, String>(table)?;
                for (k, v) in rows {
                    t.insert(k, v);
                }
            }
            Cast::Seq { sender, seq } => state.sequenced(sender, seq),
            Cast::Panic => panic!("cast panics on purpose"),
            Cast::Fail => return Err("cast fails on purpose".into()),
            Cast::SetDictThenPanic(key, v) => {
                ctx.dictionary_mut().put(key, v);
                state.value += 1_000_000;
                panic!("panics after writing");
            }
            Cast::AddThenWait(n, gate) => {
                state.value += n;
                gate.reached.notify_one();
                gate.release.notified().await;
            }
            Cast::Timer(delay, info) => {
                ctx.send_after(delay, info);
            }
            Cast::Report(tx) => {
                let _ = tx.send(state.value);
            }
        }
        Ok(())
    }

    async fn handle_info(
        &self,
        msg: Info,
        state: &mut StateMut<Counter>,
        _ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        match msg {
            Info::Incr => state.value += 1,
            Info::Panic => panic!("info panics on purpose"),
        }
        Ok(())
    }

    async fn terminate(&self, reason: &StopReason, state: &Counter, _ctx: &mut Context<Self>) {
        self.terminated.lock().push((reason.clone(), state.value));
        if self.panic_in_terminate {
            panic!("terminate panics on purpose");
        }
    }
}

/// A unique name for this test run, so tests in one binary never collide.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A fresh supervisor. Callback panics, which these tests cause on purpose,
/// go to `tracing` (silent here) instead of flooding stderr.
pub async fn supervisor(prefix: &str) -> Supervisor {
    peeper::crash_report::route_to_tracing();
    Supervisor::start(unique(prefix))
        .await
        .expect("a fresh supervisor name")
}

/// The value, read through a call.
pub async fn value(h: &peeper::Handle<Probe>) -> i64 {
    match h.call(Call::Get).await.expect("the probe answers") {
        Reply::Value(v) => v,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// A dictionary entry, read through a call.
pub async fn dict(h: &peeper::Handle<Probe>, key: &'static str) -> Option<i64> {
    match h.call(Call::Dict(key)).await.expect("the probe answers") {
        Reply::Dict(v) => v,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// A fresh supervisor with one default probe under it.
pub async fn supervised(prefix: &str) -> (Supervisor, peeper::Handle<Probe>) {
    let sup = supervisor(prefix).await;
    let h = sup
        .start_child(unique(prefix), Probe::default(), Default::default())
        .await
        .expect("a fresh probe");
    (sup, h)
}

/// The most a case that must not hang may take.
pub const BOUND: Duration = Duration::from_secs(10);

/// Awaits `f` for at most [`BOUND`], so that a hang fails the case instead
/// of stalling the suite.
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("the case finished within its bound")
}
