//! Actors and workloads shared by the criterion benches (`benches/local.rs`)
//! and the report (`examples/bench_report`), so that both measure the same
//! code: the peeper bench actor [`Bench`], a plain ractor actor and a
//! hand-written tokio actor to compare it with, and timed loops of casts,
//! kills and transfers; for the scale figures, an adding actor in both
//! flavours ([`Adder`], [`PlainAdder`]), a slow one ([`Spin`]) and a small
//! random number generator ([`XorShift`]).

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use peeper::{Actor, BoxError, Context, Handle, RestartPolicy, StateMut, Supervisor};
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{mpsc, oneshot};

/// A state the bench actor can read cheaply and change a little.
pub trait BenchState: Clone + Send + Sync + 'static {
    /// A cheap read.
    fn read(&self) -> u64;
    /// A small change.
    fn touch(&mut self);
}

impl BenchState for u64 {
    fn read(&self) -> u64 {
        *self
    }
    fn touch(&mut self) {
        *self += 1;
    }
}

impl BenchState for Vec<u8> {
    fn read(&self) -> u64 {
        self.len() as u64
    }
    fn touch(&mut self) {
        self[0] = self[0].wrapping_add(1);
    }
}

impl BenchState for im::HashMap<u64, u64> {
    fn read(&self) -> u64 {
        self.len() as u64
    }
    fn touch(&mut self) {
        let v = self.get(&0).copied().unwrap_or(0);
        self.insert(0, v + 1);
    }
}

/// One MiB of plain bytes.
pub fn vec_1mib() -> Vec<u8> {
    vec![1_u8; 1 << 20]
}

/// A persistent map of about one MiB (16 bytes a pair, 65 536 pairs).
pub fn map_1mib() -> im::HashMap<u64, u64> {
    (0..65_536_u64).map(|i| (i, i)).collect()
}

/// The peeper bench actor, generic over its state.
#[derive(Debug)]
pub struct Bench<S>(PhantomData<S>);

impl<S> Bench<S> {
    /// The behaviour; the state is given at start.
    pub fn new() -> Self {
        Bench(PhantomData)
    }
}

impl<S> Default for Bench<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// What the bench actor is sent.
#[derive(Debug)]
pub enum Cast {
    /// Reads the state: must copy nothing.
    Noop,
    /// Changes the state a little: at most one clone.
    Touch,
    /// Numbered, for the loss count.
    Seq(u32, u64),
    /// Fills the table "rows" with this many rows of this many bytes.
    Fill(u64, usize),
}

impl<S: BenchState> Actor for Bench<S> {
    type State = S;
    type Call = ();
    type Reply = u64;
    type Cast = Cast;
    type Info = ();

    async fn handle_call(
        &self,
        _: (),
        state: &mut StateMut<S>,
        _: &mut Context<Self>,
    ) -> Result<u64, BoxError> {
        Ok(state.read())
    }

    async fn handle_cast(
        &self,
        msg: Cast,
        state: &mut StateMut<S>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        match msg {
            Cast::Noop => {
                std::hint::black_box(state.read());
            }
            Cast::Touch => state.touch(),
            Cast::Seq(sender, seq) => {
                // Counts per sender in the (transactional) dictionary; a
                // message out of order or seen twice shows as a gap.
                let key = format!("s{sender}");
                let last = ctx.dictionary().get::<u64>(&key).copied().unwrap_or(0);
                let bad = ctx.dictionary().get::<u64>("bad").copied().unwrap_or(0);
                if seq != last + 1 {
                    ctx.dictionary_mut().put("bad", bad + 1);
                }
                ctx.dictionary_mut().put(key, seq);
            }
            Cast::Fill(rows, row_bytes) => {
                let table = ctx.table::<u64, Vec<u8>>("rows")?;
                for i in 0..rows {
                    table.insert(i, vec![(i % 251) as u8; row_bytes]);
                }
            }
        }
        Ok(())
    }
}

/// A plain ractor actor that answers its state.
#[derive(Debug)]
pub struct PlainRactor;

// ractor's `cluster` feature (peeper's `cluster`, always on here) turns off
// ractor's blanket `Message` impl.
impl ractor::Message for PlainMsg {}

/// What the plain ractor actor is sent.
#[derive(Debug)]
pub enum PlainMsg {
    /// Answers its state.
    Get(RpcReplyPort<u64>),
}

impl ractor::Actor for PlainRactor {
    type Msg = PlainMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<PlainMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<PlainMsg>,
        msg: PlainMsg,
        state: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PlainMsg::Get(reply) => {
                let _ = reply.send(*state);
            }
        }
        Ok(())
    }
}

/// Spawns a [`PlainRactor`].
pub async fn plain_ractor() -> ActorRef<PlainMsg> {
    let (actor, _) = ractor::Actor::spawn(None, PlainRactor, ())
        .await
        .expect("spawn plain ractor actor");
    actor
}

/// A hand-written tokio actor: an mpsc inbox of reply senders.
pub fn mpsc_actor() -> mpsc::Sender<oneshot::Sender<u64>> {
    let (tx, mut rx) = mpsc::channel::<oneshot::Sender<u64>>(1024);
    tokio::spawn(async move {
        let state = 0_u64;
        while let Some(reply) = rx.recv().await {
            let _ = reply.send(state);
        }
    });
    tx
}

/// One call to the hand-written actor: a reply sender in, a value back.
pub async fn mpsc_call(tx: &mpsc::Sender<oneshot::Sender<u64>>) -> u64 {
    let (reply, rx) = oneshot::channel();
    tx.send(reply).await.expect("mpsc actor alive");
    rx.await.expect("mpsc actor replies")
}

/// Starts a supervisor and one bench instance with `state`.
pub async fn bench_instance<S: BenchState>(name: &str, state: S) -> (Supervisor, Handle<Bench<S>>) {
    let sup = Supervisor::start(format!("{name}-sup"))
        .await
        .expect("supervisor");
    // Kills count as crashes; a bench kills thousands of times.
    let unlimited = RestartPolicy::new(u32::MAX, Duration::from_secs(1));
    let h = sup
        .start_child_with(name, Bench::<S>::new(), state, unlimited)
        .await
        .expect("bench instance");
    (sup, h)
}

/// Total time of `iters` casts of `make()` followed by one call that waits
/// for them all: divided by `iters + 1`, the cost of a cast and its handling.
pub async fn casts_then_call<S: BenchState>(
    h: &Handle<Bench<S>>,
    iters: u64,
    make: impl Fn() -> Cast,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        h.cast(make()).expect("cast");
    }
    h.call(()).await.expect("call");
    start.elapsed()
}

/// Total time of `iters` kill-then-call pairs: a worker restart until the
/// next reply.
pub async fn kill_then_call<S: BenchState>(h: &Handle<Bench<S>>, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        h.kill();
        h.call(()).await.expect("answered after the kill");
    }
    start.elapsed()
}

/// A supervisor pair and an instance under the first, with `state` and, if
/// `rows` is not zero, a table of that many rows of `row_bytes` bytes.
pub async fn transfer_setup<S: BenchState>(
    name: &str,
    state: S,
    rows: u64,
    row_bytes: usize,
) -> (Supervisor, Supervisor, Handle<Bench<S>>) {
    let (a, h) = bench_instance(name, state).await;
    let b = Supervisor::start(format!("{name}-other"))
        .await
        .expect("supervisor");
    // Every instance transferred has its worker (whose link moves too), an
    // empty one as much as one that filled its table: like against like.
    h.actor_ref().expect("a worker");
    if rows > 0 {
        fill_table(&h, rows, row_bytes).await;
    }
    (a, b, h)
}

/// Has the instance fill its table "rows" (tables are written by callbacks)
/// and waits until it has.
async fn fill_table<S: BenchState>(h: &Handle<Bench<S>>, rows: u64, row_bytes: usize) {
    h.cast(Cast::Fill(rows, row_bytes)).expect("cast");
    h.call_timeout((), Duration::from_secs(600))
        .await
        .expect("filled");
}

/// Total time of `iters` round trips, that is `2 * iters` transfers.
pub async fn transfer_round_trips(
    a: &Supervisor,
    b: &Supervisor,
    name: &str,
    iters: u64,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        peeper::transfer(name, a, b).await.expect("transfer out");
        peeper::transfer(name, b, a).await.expect("transfer back");
    }
    start.elapsed()
}

/// The scale figures' peeper actor: a count that each call adds to and
/// answers. Its ractor twin is [`PlainAdder`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Adder;

impl Actor for Adder {
    type State = u64;
    type Call = u64;
    type Reply = u64;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &self,
        n: u64,
        state: &mut StateMut<u64>,
        _: &mut Context<Self>,
    ) -> Result<u64, BoxError> {
        **state += n;
        Ok(**state)
    }
}

/// The plain ractor twin of [`Adder`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainAdder;

/// What a [`PlainAdder`] is sent.
#[derive(Debug)]
pub enum AdderMsg {
    /// Adds to the count and answers it.
    Add(u64, RpcReplyPort<u64>),
}

impl ractor::Message for AdderMsg {}

impl ractor::Actor for PlainAdder {
    type Msg = AdderMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<AdderMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<AdderMsg>,
        msg: AdderMsg,
        state: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AdderMsg::Add(n, reply) => {
                *state += n;
                let _ = reply.send(*state);
            }
        }
        Ok(())
    }
}

/// A peeper actor whose casts are slow: each burns the CPU for the given
/// time, then counts itself. Calls answer the count.
#[derive(Debug, Clone, Copy)]
pub struct Spin(pub Duration);

impl Actor for Spin {
    type State = u64;
    type Call = ();
    type Reply = u64;
    type Cast = u64;
    type Info = ();

    async fn handle_call(
        &self,
        _: (),
        state: &mut StateMut<u64>,
        _: &mut Context<Self>,
    ) -> Result<u64, BoxError> {
        Ok(**state)
    }

    async fn handle_cast(
        &self,
        _: u64,
        state: &mut StateMut<u64>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        let start = Instant::now();
        while start.elapsed() < self.0 {
            std::hint::spin_loop();
        }
        **state += 1;
        Ok(())
    }
}

/// Marsaglia's xorshift64: enough to spread calls over instances, one per
/// caller, with nothing shared between callers.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator for `seed`; any seed works, zero included.
    pub fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point; mixing with an odd constant
        // keeps neighbouring seeds apart.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number below `n` (not zero).
    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n as u64) as usize
    }
}
