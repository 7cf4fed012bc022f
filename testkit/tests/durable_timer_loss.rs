//! A one-shot timer that fired, whose message still waits in the inbox
//! behind another message, when the process dies once that other message's
//! change is stored: the timer stays stored until its own message is
//! handled, so it fires again after the restart, and its message is
//! handled once.
//!
//! Deterministic: instead of a `kill -9`, the store's file is copied at the
//! moment a kill would leave it (no write under way, the instance held in
//! a callback that waits on a gate), and the copy is recovered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use peeper::durable::{Durable, RedbStore, Store, StoreError, StoredInstance, Write};
use peeper::portable::Portable;
use peeper::{Actor, BoxError, Context, Handle, StartOptions, StateMut};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// Sets a timer on a call, waits for the gate on a cast, counts ticks.
struct Gated {
    gate: Arc<Semaphore>,
    /// Casts that began.
    entered: Arc<AtomicU64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tick;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Counts {
    set: u64,
    ticks: u64,
    /// What it handled, in order.
    order: Vec<String>,
}

/// (timers set, ticks handled, timers pending)
type Seen = (u64, u64, usize);

impl Actor for Gated {
    type State = Counts;
    /// `Some(ms)`: set a timer for `ms`; `None`: only report.
    type Call = Option<u64>;
    type Reply = Seen;
    type Cast = ();
    type Info = Tick;

    async fn handle_call(
        &self,
        ask: Option<u64>,
        s: &mut StateMut<Counts>,
        ctx: &mut Context<Self>,
    ) -> Result<Seen, BoxError> {
        if let Some(ms) = ask {
            ctx.send_after(Duration::from_millis(ms), Tick);
            s.set += 1;
        }
        Ok((s.set, s.ticks, ctx.pending_timers()))
    }

    async fn handle_cast(
        &self,
        (): (),
        s: &mut StateMut<Counts>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        self.gate.acquire().await?.forget();
        s.order.push("cast".into());
        Ok(())
    }

    async fn handle_info(
        &self,
        _: Tick,
        s: &mut StateMut<Counts>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        s.ticks += 1;
        s.order.push("tick".into());
        Ok(())
    }
}

impl Portable for Gated {
    const KIND: &'static str = "gated";
    const VERSION: u32 = 1;
}

/// The redb store, counting the transactions it committed.
struct Counted {
    inner: RedbStore,
    commits: Arc<AtomicU64>,
}

impl Store for Counted {
    fn commit(&self, writes: &[Write], sync: bool) -> Result<(), StoreError> {
        self.inner.commit(writes, sync)?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn record(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.record(name)
    }

    fn load(&self) -> Result<Vec<StoredInstance>, StoreError> {
        self.inner.load()
    }
}

/// A directory for the test's two store files, removed when done.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("peeper-timer-loss-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `done` every 5 ms, for 10 s at most.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never: {what}");
}

async fn seen(h: &Handle<Gated>) -> Seen {
    h.call(None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_that_fired_before_a_kill_fires_after_it_if_its_tick_was_not_handled() {
    let dir = TempDir::new();
    let (live, image) = (dir.0.join("live.redb"), dir.0.join("image.redb"));
    {
        let commits = Arc::new(AtomicU64::new(0));
        let store = Counted {
            inner: RedbStore::open(&live).unwrap(),
            commits: commits.clone(),
        };
        let durable = Durable::options().with_store(store).unwrap();
        let gate = Arc::new(Semaphore::new(0));
        let sup = durable.supervisor("timer-loss").await.unwrap();
        let entered = Arc::new(AtomicU64::new(0));
        let behaviour = Gated {
            gate: gate.clone(),
            entered: entered.clone(),
        };
        // Bounded, for an exact queue length.
        let bounded = StartOptions::default().capacity(16);
        let h = durable
            .start_child_with(&sup, "gated", behaviour, Counts::default(), bounded)
            .await
            .unwrap();
        // Its reply leaves once the timer is stored. The timer is long
        // enough for the two casts to be queued before it fires; the order
        // checked at the end shows they were.
        assert_eq!(h.call(Some(200)).await.unwrap(), (1, 0, 1));
        // The first cast holds the loop at the gate; the second queues, and
        // the timer's Tick behind it.
        h.cast_durable(()).await.unwrap();
        until("the first cast begins", || {
            entered.load(Ordering::SeqCst) == 1
        })
        .await;
        h.cast_durable(()).await.unwrap();
        until("the Tick queues behind the second cast", || {
            h.queue_len() == 2
        })
        .await;
        // The first cast ends; its change (with the timers still pending:
        // none, the fired one is gone) is stored; the second holds the
        // loop, the Tick waits.
        let before = commits.load(Ordering::SeqCst);
        gate.add_permits(1);
        until("the first cast's change is stored", || {
            commits.load(Ordering::SeqCst) > before
        })
        .await;
        // What a kill -9 now would leave on disk.
        std::fs::copy(&live, &image).unwrap();
        gate.add_permits(1);
        assert_eq!(seen(&h).await, (1, 1, 0), "the live instance counts it");
        assert_eq!(h.last_state().order, ["cast", "cast", "tick"]);
        sup.stop().await;
    }
    let durable = Durable::open(&image).unwrap();
    durable.register(|| Gated {
        gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
        entered: Arc::default(),
    });
    let sup = durable.supervisor("timer-loss").await.unwrap();
    let h = peeper::lookup::<Gated>("gated").unwrap();
    // Behind the recovered second cast.
    let (set, _, _) = seen(&h).await;
    assert_eq!(set, 1);
    // A lost Tick never comes: no timer is left to send it.
    until("the recovered timer fires and its Tick is handled", || {
        h.last_state().ticks == 1
    })
    .await;
    // Once: handling it took the timer out of the store.
    let (_, ticks, pending) = seen(&h).await;
    assert_eq!((ticks, pending), (1, 0));
    sup.stop().await;
}
