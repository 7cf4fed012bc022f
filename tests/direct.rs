//! Calls run by their caller: a call to an idle instance runs `handle_call`
//! on the caller's task. These cases pin down that nothing a caller can see
//! changes with it: order behind what the same task sent before, crashes,
//! callbacks that await, kills (from peeper and from outside), starts, and a
//! task that calls in a loop.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Call, Cast, Gate, Probe, Reply, bounded, supervised, supervisor, unique, value};
use peeper::{Actor, BoxError, CallError, Context, Crash, Handle, Start, StateMut, Supervisor};
use tokio::sync::{Notify, oneshot};

/// A call sent right after casts from the same task sees every one of them
/// handled: the call never overtakes them, queued or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_after_casts_sees_them_all() {
    let (_sup, h) = supervised("direct-order").await;
    bounded(async {
        for round in 1..=500 {
            h.cast(Cast::Add(1)).unwrap();
            if round % 2 == 0 {
                h.cast(Cast::Add(1)).unwrap();
                h.cast(Cast::Add(-1)).unwrap();
            }
            assert_eq!(value(&h).await, round, "the call came after the casts");
        }
    })
    .await;
}

/// A probe under a fresh supervisor, and its count of restores.
async fn counting_restores(prefix: &str) -> (Supervisor, Handle<Probe>, Arc<AtomicUsize>) {
    let sup = supervisor(prefix).await;
    let probe = Probe::default();
    let restores = probe.restores.clone();
    let h = sup
        .start_child(unique(prefix), probe, Default::default())
        .await
        .unwrap();
    (sup, h, restores)
}

/// A call that crashes on an idle instance answers `Crashed` at once, keeps
/// the state, and the restore runs before the next message is handled.
#[tokio::test]
async fn a_crash_is_answered_at_once_and_restored_before_the_next_message() {
    let (_sup, h, restores) = counting_restores("direct-crash").await;
    bounded(async {
        h.cast(Cast::Add(5)).unwrap();
        assert_eq!(value(&h).await, 5);
        for round in 1..=3 {
            let err = h.call(Call::Panic).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    CallError::Crashed {
                        crash: Crash::Panicked(_),
                        ..
                    }
                ),
                "{err:?}"
            );
            let err = h.call(Call::Fail).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    CallError::Crashed {
                        crash: Crash::Failed(_),
                        ..
                    }
                ),
                "{err:?}"
            );
            // The crash is restored from before this call is handled.
            assert_eq!(value(&h).await, 5);
            assert_eq!(restores.load(Ordering::SeqCst), 2 * round);
        }
    })
    .await;
}

/// A callback that awaits goes on after its caller gave up: the timeout
/// does not cut it, its change is committed, and the calls sent meanwhile
/// are handled after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awaiting_call_finishes_after_its_caller_timed_out() {
    let (_sup, h) = supervised("direct-await").await;
    bounded(async {
        let gate = Gate::default();
        let (h1, g1) = (h.clone(), gate.clone());
        let first = tokio::spawn(async move {
            h1.call_timeout(Call::AddThenWait(g1), Duration::from_millis(50))
                .await
        });
        gate.reached.notified().await;
        let h2 = h.clone();
        let behind = tokio::spawn(async move { value(&h2).await });
        let timed_out = first.await.unwrap().unwrap_err();
        assert!(
            matches!(timed_out, CallError::Timeout { .. }),
            "{timed_out:?}"
        );
        gate.release.notify_one();
        assert_eq!(behind.await.unwrap(), 1000, "handled after the first call");
        assert_eq!(value(&h).await, 1000);
    })
    .await;
}

/// A kill while a call awaits ends that call with `Crashed(Killed)`, drops
/// its change, and restores once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_ends_an_awaiting_call() {
    let (_sup, h, restores) = counting_restores("direct-kill").await;
    bounded(async {
        let gate = Gate::default();
        let (h1, g1) = (h.clone(), gate.clone());
        let call = tokio::spawn(async move { h1.call(Call::AddThenWait(g1)).await });
        gate.reached.notified().await;
        h.kill();
        let err = call.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                CallError::Crashed {
                    crash: Crash::Killed,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            value(&h).await,
            0,
            "the killed callback's change is dropped"
        );
        assert_eq!(restores.load(Ordering::SeqCst), 1);
    })
    .await;
}

/// The worker's actor killed from outside while a call awaits: the call is
/// either cut (unanswered, its change dropped) or finished by the respawned
/// worker (answered, its change kept), depending on whether the old worker
/// had taken it over yet; either way the instance goes on and calls run
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_kill_while_a_call_awaits_leaves_the_instance_working() {
    let (_sup, h) = supervised("direct-outside").await;
    bounded(async {
        h.cast(Cast::Add(7)).unwrap();
        let gate = Gate::default();
        let (h1, g1) = (h.clone(), gate.clone());
        let call = tokio::spawn(async move { h1.call(Call::AddThenWait(g1)).await });
        gate.reached.notified().await;
        let old = h.actor_ref().expect("a running worker");
        old.kill();
        gate.release.notify_one();
        let expected = match call.await.unwrap() {
            Ok(Reply::Done) => 1007,
            Ok(other) => panic!("unexpected reply {other:?}"),
            Err(_) => 7,
        };
        for _ in 0..3 {
            assert_eq!(value(&h).await, expected);
        }
        h.cast(Cast::Add(1)).unwrap();
        assert_eq!(value(&h).await, expected + 1);
    })
    .await;
}

/// An actor whose `init` hands out its own handle, then waits for a gate
/// before it sets the state.
struct SlowInit {
    handle: parking_lot::Mutex<Option<oneshot::Sender<Handle<SlowInit>>>>,
    gate: Arc<Notify>,
}

impl Actor for SlowInit {
    type State = u32;
    type Call = ();
    type Reply = u32;
    type Cast = ();
    type Info = ();

    async fn init(
        &self,
        state: &mut StateMut<u32>,
        _: Start,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if let Some(tx) = self.handle.lock().take() {
            let _ = tx.send(ctx.handle());
        }
        self.gate.notified().await;
        **state = 1;
        Ok(())
    }

    async fn handle_call(
        &self,
        _: (),
        state: &mut StateMut<u32>,
        _: &mut Context<Self>,
    ) -> Result<u32, BoxError> {
        Ok(**state)
    }
}

/// A call made while `init` still runs waits for it: it is never run beside
/// `init` on the caller's task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_during_init_waits_for_it() {
    let sup = supervisor("direct-init").await;
    let (tx, rx) = oneshot::channel();
    let gate = Arc::new(Notify::new());
    let behaviour = SlowInit {
        handle: parking_lot::Mutex::new(Some(tx)),
        gate: gate.clone(),
    };
    bounded(async {
        let start = tokio::spawn(async move {
            sup.start_child(unique("direct-init"), behaviour, 0)
                .await
                .map(|_| sup)
        });
        let h = rx.await.unwrap();
        let h1 = h.clone();
        let call = tokio::spawn(async move { h1.call(()).await });
        while h.queue_len() == 0 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        assert_eq!(call.await.unwrap().unwrap(), 1, "answered after init");
        let _sup = start.await.unwrap().unwrap();
        assert_eq!(h.call(()).await.unwrap(), 1);
    })
    .await;
}

/// A task that calls an idle instance in a loop still lets the other tasks
/// of its runtime run: the calls take from the task's budget as a channel
/// would. On one thread, a loop that never yielded would never end here.
#[test]
fn a_task_calling_in_a_loop_lets_others_run() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (_sup, h) = supervised("direct-loop").await;
            let stop = Arc::new(AtomicBool::new(false));
            let looping = {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut calls = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        assert!(matches!(h.call(Call::Get).await, Ok(Reply::Value(0))));
                        calls += 1;
                    }
                    calls
                })
            };
            tokio::task::yield_now().await;
            stop.store(true, Ordering::SeqCst);
            let calls = looping.await.unwrap();
            assert!(calls > 0, "the loop ran");
        });
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the runtime's other task ran while one called in a loop");
}

/// One link of a chain: a call goes on to the next link, and the last one
/// answers how many links it went through.
struct Link {
    next: Option<Handle<Link>>,
}

impl Actor for Link {
    type State = ();
    type Call = u32;
    type Reply = u32;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &self,
        hops: u32,
        _: &mut StateMut<()>,
        _: &mut Context<Self>,
    ) -> Result<u32, BoxError> {
        match &self.next {
            Some(next) => Ok(next.call(hops + 1).await?),
            None => Ok(hops),
        }
    }
}

/// A call that goes down a chain of 3,000 idle instances, each calling the
/// next from its callback, is answered on threads with small stacks: calls
/// run by their callers nest only so deep on one thread, the rest go
/// through mailboxes.
#[test]
fn a_long_chain_of_calls_does_not_grow_the_stack_without_bound() {
    const LINKS: u32 = 3_000;
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_stack_size(512 * 1024)
            .enable_all()
            .build()
            .unwrap();
        let hops = rt.block_on(async {
            tokio::spawn(async {
                let sup = supervisor("direct-chain").await;
                let mut next = None;
                for _ in 0..LINKS {
                    let link = Link { next: next.take() };
                    next = Some(sup.start_child(unique("link"), link, ()).await.unwrap());
                }
                let first = next.expect("links");
                first.call_timeout(0, Duration::from_secs(60)).await
            })
            .await
            .unwrap()
        });
        let _ = done_tx.send(hops);
    });
    let hops = done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the chain answered");
    assert_eq!(hops.unwrap(), LINKS - 1);
}

/// An actor whose calls block their thread for the time asked, then count.
struct Blocking;

impl Actor for Blocking {
    type State = u32;
    type Call = Duration;
    type Reply = u32;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &self,
        block: Duration,
        state: &mut StateMut<u32>,
        _: &mut Context<Self>,
    ) -> Result<u32, BoxError> {
        std::thread::sleep(block);
        **state += 1;
        Ok(**state)
    }
}

/// A callback that blocks its thread past the timeout its caller chose,
/// run on the caller's task, is answered `Timeout` (late: nothing can cut
/// a blocked thread); its change stays, as for any call whose handling
/// began before its caller gave up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_call_past_its_timeout_is_answered_timeout() {
    let sup = supervisor("direct-blocking").await;
    let h = sup
        .start_child(unique("direct-blocking"), Blocking, 0)
        .await
        .unwrap();
    bounded(async {
        let h1 = h.clone();
        let err = tokio::spawn(async move {
            h1.call_timeout(Duration::from_millis(200), Duration::from_millis(20))
                .await
        })
        .await
        .unwrap()
        .unwrap_err();
        assert!(matches!(err, CallError::Timeout { .. }), "{err:?}");
        assert_eq!(
            h.call(Duration::ZERO).await.unwrap(),
            2,
            "the first call's change stayed"
        );
    })
    .await;
}
