//! Every way to crash (scenario S2). In each case the state is the last
//! completed callback's, the dictionary and tables are intact, the caller of
//! a crashing call gets an error at once, and the messages queued behind the
//! crash are all handled afterwards, in order. An `init` that fails on a
//! fresh start is refused instead, and registers nothing.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{
    Call, Cast, Gate, Info, Probe, Reply, bounded, dict, supervised, supervisor, unique, value,
};
use peeper::{
    Actor, BoxError, CallError, Context, Crash, Envelope, Handle, Start, StartError, StateMut,
    StopReason, Supervisor, SupervisorEvent,
};

/// Upper bound for anything that must happen "at once".
const PROMPT: Duration = Duration::from_secs(5);

async fn started(prefix: &str, probe: Probe) -> (Supervisor, Handle<Probe>) {
    let sup = supervisor(prefix).await;
    let h = sup
        .start_child(unique(prefix), probe, Default::default())
        .await
        .unwrap();
    (sup, h)
}

/// An actor whose fresh `init` fails in the way its state says: it panics
/// if the state is `true`, and returns an error otherwise.
struct BadInit;
impl Actor for BadInit {
    type State = bool;
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();

    async fn init(
        &self,
        state: &mut StateMut<bool>,
        start: Start,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        assert_eq!(start, Start::Fresh);
        if **state {
            panic!("init panics");
        }
        Err("init refuses".into())
    }
}

/// Holds the worker inside a callback so that messages can be queued behind
/// a crash deterministically; returns the gate to release it.
async fn hold_worker(h: &Handle<Probe>) -> Gate {
    let gate = Gate::default();
    h.cast(Cast::AddThenWait(1, gate.clone())).unwrap();
    gate.reached.notified().await;
    gate
}

/// Queues `n` numbered casts from sender 1.
fn queue_sequence(h: &Handle<Probe>, n: u64) {
    for seq in 1..=n {
        h.cast(Cast::Seq { sender: 1, seq }).unwrap();
    }
}

async fn assert_sequence_handled(h: &Handle<Probe>, n: u64) {
    // A call queued behind everything: once it is answered, all before it
    // were handled.
    value(h).await;
    let state = h.last_state();
    assert_eq!(state.handled, n, "every queued message was handled once");
    assert_eq!(state.violations, 0, "in the order sent");
    assert_eq!(state.last_seq.get(&1), Some(&n));
}

#[tokio::test]
async fn panic_in_a_call_fails_that_caller_at_once_and_keeps_the_queue() {
    let (sup, h) = started("s2-call", Probe::default()).await;
    h.cast(Cast::Add(7)).unwrap();
    h.cast(Cast::SetDict("foo", 42)).unwrap();
    let gate = hold_worker(&h).await;
    // Queue the call through the instance's ractor actor, synchronously, so
    // that it is certainly ahead of the casts queued next.
    let (tx, caller) = tokio::sync::oneshot::channel();
    h.actor_ref()
        .unwrap()
        .send_message(Envelope::call(Call::Panic, tx.into()))
        .unwrap();
    queue_sequence(&h, 20);
    gate.release.notify_one();
    let crashed = tokio::time::timeout(PROMPT, caller).await.unwrap().unwrap();
    assert!(matches!(
        crashed,
        Err(CallError::Crashed {
            crash: Crash::Panicked(_),
            ..
        })
    ));
    assert_sequence_handled(&h, 20).await;
    assert_eq!(value(&h).await, 8);
    assert_eq!(dict(&h, "foo").await, Some(42));
    sup.stop().await;
}

#[tokio::test]
async fn panic_in_a_cast_discards_its_changes_and_keeps_the_queue() {
    let (sup, h) = started("s2-cast", Probe::default()).await;
    h.cast(Cast::Rows("t", vec![(1, "one".into())])).unwrap();
    let gate = hold_worker(&h).await;
    h.cast(Cast::SetDictThenPanic("ghost", 1)).unwrap();
    queue_sequence(&h, 50);
    gate.release.notify_one();
    assert_sequence_handled(&h, 50).await;
    assert_eq!(value(&h).await, 1, "the panicking cast's +1000000 is gone");
    assert_eq!(
        dict(&h, "ghost").await,
        None,
        "its dictionary write is gone"
    );
    assert_eq!(
        h.table::<u64, String>("t").unwrap().get(&1).as_deref(),
        Some("one")
    );
    sup.stop().await;
}

#[tokio::test]
async fn panic_in_an_info_message_from_a_timer_is_survived() {
    let probe = Probe::default();
    let (sup, h) = started("s2-info", probe.clone()).await;
    let mut events = sup.subscribe();
    h.cast(Cast::Add(3)).unwrap();
    h.cast(Cast::Timer(Duration::from_millis(1), Info::Panic))
        .unwrap();
    loop {
        let event = tokio::time::timeout(PROMPT, events.recv())
            .await
            .unwrap()
            .unwrap();
        if let SupervisorEvent::WorkerRestarted { crash, .. } = event {
            assert!(matches!(crash, Crash::Panicked(_)));
            break;
        }
    }
    assert_eq!(value(&h).await, 3);
    assert_eq!(probe.restores.load(Ordering::SeqCst), 1);
    sup.stop().await;
}

#[tokio::test]
async fn panic_in_init_after_restore_is_retried_until_init_succeeds() {
    let probe = Probe::default();
    probe.failing_restores.store(2, Ordering::SeqCst);
    let (sup, h) = started("s2-init", probe.clone()).await;
    h.cast(Cast::Add(5)).unwrap();
    h.cast(Cast::SetDict("foo", 42)).unwrap();
    let gate = hold_worker(&h).await;
    h.cast(Cast::Panic).unwrap();
    queue_sequence(&h, 10);
    gate.release.notify_one();
    assert_sequence_handled(&h, 10).await;
    assert_eq!(value(&h).await, 6);
    assert_eq!(dict(&h, "foo").await, Some(42));
    assert_eq!(
        probe.restores.load(Ordering::SeqCst),
        3,
        "two failed, one ok"
    );
    sup.stop().await;
}

#[tokio::test]
async fn panic_in_terminate_still_stops_and_hands_back_the_state() {
    let probe = Probe {
        panic_in_terminate: true,
        ..Probe::default()
    };
    let (sup, h) = started("s2-terminate", probe.clone()).await;
    h.cast(Cast::Add(9)).unwrap();
    assert_eq!(value(&h).await, 9);
    let last = sup.terminate_child::<Probe>(h.name()).await.unwrap();
    assert_eq!(last.value, 9);
    assert_eq!(probe.terminated.lock().len(), 1, "terminate ran once");
    assert!(matches!(
        h.call(Call::Get).await,
        Err(CallError::Stopped { .. })
    ));
    assert_eq!(peeper::whereis(h.name()), None);
    sup.stop().await;
}

#[tokio::test]
async fn kill_while_a_call_awaits_fails_that_call_at_once() {
    let (sup, h) = started("s2-kill", Probe::default()).await;
    h.cast(Cast::Add(2)).unwrap();
    let gate = Gate::default();
    let caller = tokio::spawn({
        let (h, gate) = (h.clone(), gate.clone());
        async move { h.call(Call::AddThenWait(gate)).await }
    });
    gate.reached.notified().await;
    queue_sequence(&h, 10);
    h.kill();
    let killed = tokio::time::timeout(PROMPT, caller).await.unwrap().unwrap();
    assert!(matches!(
        killed,
        Err(CallError::Crashed {
            crash: Crash::Killed,
            ..
        })
    ));
    assert_sequence_handled(&h, 10).await;
    assert_eq!(value(&h).await, 2, "the killed call's +1000 is gone");
    sup.stop().await;
}

#[tokio::test]
async fn kill_while_a_cast_awaits_keeps_the_queue() {
    let (sup, h) = started("s2-kill-cast", Probe::default()).await;
    let gate = hold_worker(&h).await;
    queue_sequence(&h, 10);
    h.kill();
    assert_sequence_handled(&h, 10).await;
    assert_eq!(value(&h).await, 0, "the killed cast's +1 is gone");
    sup.stop().await;
    drop(gate);
}

#[tokio::test]
async fn a_callback_returning_an_error_is_a_crash_of_that_callback_only() {
    let (sup, h) = started("s2-error", Probe::default()).await;
    h.cast(Cast::Add(4)).unwrap();
    let failed = tokio::time::timeout(PROMPT, h.call(Call::Fail))
        .await
        .unwrap();
    assert!(matches!(
        failed,
        Err(CallError::Crashed {
            crash: Crash::Failed(_),
            ..
        })
    ));
    let gate = hold_worker(&h).await;
    h.cast(Cast::Fail).unwrap();
    queue_sequence(&h, 10);
    gate.release.notify_one();
    assert_sequence_handled(&h, 10).await;
    assert_eq!(value(&h).await, 5);
    sup.stop().await;
}

#[tokio::test]
async fn an_actor_stopped_from_outside_is_respawned_with_its_kept_parts() {
    for ractor_kill in [false, true] {
        let (sup, h) = started("s2-outside", Probe::default()).await;
        let mut events = sup.subscribe();
        h.cast(Cast::Add(6)).unwrap();
        h.cast(Cast::SetDict("foo", 42)).unwrap();
        h.cast(Cast::Rows("t", vec![(1, "one".into())])).unwrap();
        assert_eq!(value(&h).await, 6);
        let old = h.actor_ref().unwrap();
        if ractor_kill {
            old.kill();
        } else {
            old.stop(Some("stopped by ractor code".into()));
        }
        loop {
            let event = tokio::time::timeout(PROMPT, events.recv())
                .await
                .unwrap()
                .unwrap();
            if let SupervisorEvent::ActorRespawned { crash, .. } = event {
                assert!(matches!(crash, Crash::ActorLost(_)));
                break;
            }
        }
        assert_ne!(h.actor_ref().unwrap().get_id(), old.get_id());
        assert_eq!(value(&h).await, 6);
        assert_eq!(dict(&h, "foo").await, Some(42));
        assert_eq!(h.table::<u64, String>("t").unwrap().len(), 1);
        assert_eq!(peeper::whereis(h.name()), Some(h.id()));
        assert_eq!(sup.count(), 1);
        sup.stop().await;
    }
}

// ---- init on a fresh start -------------------------------------------------

#[tokio::test]
async fn an_init_that_fails_on_a_fresh_start_registers_nothing() {
    let sup = supervisor("crash-init").await;
    let name = unique("crash-init-p");
    let r = bounded(sup.start_child(&name, BadInit, false)).await;
    assert!(matches!(
        r,
        Err(StartError::InitFailed {
            crash: Crash::Failed(_),
            ..
        })
    ));
    assert_eq!(peeper::whereis(&name), None);
    assert_eq!(sup.count(), 0);
    // The name is free for a good start.
    sup.start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();
    sup.stop().await;
}

#[tokio::test]
async fn an_init_that_panics_on_a_fresh_start_is_init_failed() {
    let sup = supervisor("crash-init-panic").await;
    let r = bounded(sup.start_child(unique("crash-ip"), BadInit, true)).await;
    assert!(matches!(
        r,
        Err(StartError::InitFailed {
            crash: Crash::Panicked(_),
            ..
        })
    ));
    sup.stop().await;
}

// ---- what a crash discards and keeps ---------------------------------------

#[tokio::test]
async fn a_dictionary_overwrite_in_a_crashing_callback_keeps_the_earlier_value() {
    let (sup, h) = supervised("crash-dict").await;
    h.cast(Cast::SetDict("k", 1)).unwrap();
    h.cast(Cast::SetDictThenPanic("k", 2)).unwrap();
    assert_eq!(value(&h).await, 0);
    assert_eq!(h.dictionary().get::<i64>("k"), Some(&1));
    sup.stop().await;
}

#[tokio::test]
async fn a_panicking_terminate_does_not_block_the_stop() {
    let probe = Probe {
        panic_in_terminate: true,
        ..Probe::default()
    };
    let sup = supervisor("crash-term").await;
    let h = sup
        .start_child(unique("crash-term-p"), probe.clone(), Default::default())
        .await
        .unwrap();
    bounded(sup.stop()).await;
    assert_eq!(probe.terminated.lock().len(), 1);
    assert_eq!(h.stop_reason(), Some(StopReason::Shutdown));
}

// ---- kills -----------------------------------------------------------------

#[tokio::test]
async fn a_kill_of_an_idle_worker_restores_it_before_the_next_message() {
    let probe = Probe::default();
    let sup = supervisor("crash-kill-idle").await;
    let h = sup
        .start_child(unique("crash-ki"), probe.clone(), Default::default())
        .await
        .unwrap();
    h.cast(Cast::Add(5)).unwrap();
    assert_eq!(value(&h).await, 5);
    h.kill();
    assert_eq!(value(&h).await, 5);
    assert_eq!(probe.restores.load(Ordering::SeqCst), 1);
    sup.stop().await;
}

#[tokio::test]
async fn a_call_that_never_completes_is_freed_by_a_kill() {
    let (sup, h) = supervised("crash-pending").await;
    // The gate is never released: without the kill this call would wait an hour.
    let gate = Gate::default();
    let caller = tokio::spawn({
        let (h, gate) = (h.clone(), gate.clone());
        async move {
            h.call_timeout(Call::AddThenWait(gate), Duration::from_secs(3600))
                .await
        }
    });
    gate.reached.notified().await;
    let behind = tokio::spawn({
        let h = h.clone();
        async move { h.call(Call::Get).await }
    });
    h.kill();
    let r = bounded(caller).await.unwrap();
    assert!(matches!(
        r,
        Err(CallError::Crashed {
            crash: Crash::Killed,
            ..
        })
    ));
    assert_eq!(bounded(behind).await.unwrap(), Ok(Reply::Value(0)));
    sup.stop().await;
}

#[tokio::test]
async fn many_kills_in_a_row_coalesce_and_lose_nothing() {
    let (sup, h) = supervised("crash-kills").await;
    for i in 0..50 {
        h.cast(Cast::Incr).unwrap();
        if i % 2 == 0 {
            h.kill();
        }
    }
    assert_eq!(bounded(value(&h)).await, 50);
    sup.stop().await;
}
