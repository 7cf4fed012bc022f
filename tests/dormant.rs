//! Dormant instances: a new instance gets no worker until it needs one, and
//! behaves as if it had one all along.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Call, Cast, Probe, Reply, bounded, supervised, supervisor, unique, value};
use peeper::{
    Actor, BoxError, Context, Crash, Envelope, Start, StateMut, StopReason, SupervisorEvent,
};
use tokio::sync::oneshot;

#[tokio::test]
async fn a_new_instance_gets_its_worker_only_when_it_needs_one() {
    let (_sup, h) = supervised("dormant-first").await;
    assert!(h.is_dormant(), "no worker at the start");
    assert_eq!(value(&h).await, 0);
    assert!(h.is_dormant(), "a call to an idle instance needs none");
    h.cast(Cast::Incr).unwrap();
    assert_eq!(value(&h).await, 1, "the cast was handled before the call");
    assert!(!h.is_dormant(), "a cast needs one");
}

#[tokio::test]
async fn a_kill_of_a_dormant_instance_restores_it_before_the_next_message() {
    let sup = supervisor("dormant-kill").await;
    let probe = Probe::default();
    let h = sup
        .start_child(unique("dormant-kill"), probe.clone(), Default::default())
        .await
        .unwrap();
    assert!(h.is_dormant());
    h.kill();
    assert_eq!(value(&h).await, 0);
    assert_eq!(probe.restores.load(Ordering::SeqCst), 1, "restored once");
    assert_eq!(
        probe.inits.load(Ordering::SeqCst),
        2,
        "the start, the restore"
    );
}

#[tokio::test]
async fn a_stop_runs_terminate_of_a_dormant_instance() {
    let sup = supervisor("dormant-stop").await;
    let probe = Probe::default();
    let name = unique("dormant-stop");
    let h = sup
        .start_child(name.clone(), probe.clone(), Default::default())
        .await
        .unwrap();
    assert!(h.is_dormant());
    let last = sup.terminate_child::<Probe>(&name).await.unwrap();
    assert_eq!(last.value, 0);
    let terminated = probe.terminated.lock().clone();
    assert_eq!(terminated, [(StopReason::Normal, 0)]);
    assert!(peeper::whereis(&name).is_none(), "the name is free");
}

#[tokio::test]
async fn casts_accepted_before_a_stop_are_handled_by_the_worker_it_wakes() {
    let sup = supervisor("dormant-stop-casts").await;
    let probe = Probe::default();
    let name = unique("dormant-stop-casts");
    let h = sup
        .start_child(name.clone(), probe.clone(), Default::default())
        .await
        .unwrap();
    for _ in 0..10 {
        h.cast(Cast::Incr).unwrap();
    }
    let last = sup.terminate_child::<Probe>(&name).await.unwrap();
    assert_eq!(last.value, 10);
    assert_eq!(probe.terminated.lock().clone(), [(StopReason::Normal, 10)]);
}

#[tokio::test]
async fn a_supervisor_stop_runs_terminate_of_every_dormant_child() {
    let sup = supervisor("dormant-sup-stop").await;
    let probe = Probe::default();
    for _ in 0..3 {
        sup.start_child(
            unique("dormant-sup-stop"),
            probe.clone(),
            Default::default(),
        )
        .await
        .unwrap();
    }
    bounded(sup.stop()).await;
    let terminated = probe.terminated.lock().clone();
    assert_eq!(terminated.len(), 3);
    assert!(terminated.iter().all(|(r, _)| *r == StopReason::Shutdown));
}

#[tokio::test]
async fn a_dormant_instance_transferred_wakes_under_its_new_supervisor() {
    let a = supervisor("dormant-from").await;
    let b = supervisor("dormant-to").await;
    let probe = Probe::default();
    let name = unique("dormant-moved");
    let h = a
        .start_child(name.clone(), probe.clone(), Default::default())
        .await
        .unwrap();
    peeper::transfer(&name, &a, &b).await.unwrap();
    assert!(h.is_dormant(), "a transfer needs no worker");
    h.cast(Cast::Add(3)).unwrap();
    assert_eq!(value(&h).await, 3);
    // Killed from outside: the supervisor it is under now respawns it.
    let mut events = b.subscribe();
    h.actor_ref().unwrap().kill();
    let respawned = bounded(async {
        loop {
            if let peeper::SupervisorEvent::ActorRespawned { name: n, .. } =
                events.recv().await.unwrap()
                && n == name
            {
                return true;
            }
        }
    })
    .await;
    assert!(respawned);
    assert_eq!(value(&h).await, 3, "kept");
    assert_eq!((a.count(), b.count()), (0, 1));
}

#[tokio::test]
async fn the_actor_ref_of_a_dormant_instance_is_its_running_worker() {
    let (_sup, h) = supervised("dormant-ref").await;
    assert!(h.is_dormant());
    let actor = h.actor_ref().expect("a worker, spawned for it");
    assert!(!h.is_dormant());
    h.cast(Cast::Add(2)).unwrap();
    let reply = ractor::call!(actor, Envelope::call, Call::Get).unwrap();
    assert_eq!(reply.unwrap(), Reply::Value(2));
    actor.kill();
    assert_eq!(value(&h).await, 2, "kept across a kill from outside");
}

/// Sends itself a message from `init`, before its start has listed it: a
/// cast of 7, or a timer's message that adds 1 and is reported.
struct EarlyMessage {
    timer_fired: Option<parking_lot::Mutex<Option<oneshot::Sender<()>>>>,
}

impl Actor for EarlyMessage {
    type State = u32;
    type Call = ();
    type Reply = u32;
    type Cast = u32;
    type Info = ();

    async fn init(
        &self,
        _: &mut StateMut<u32>,
        start: Start,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        match &self.timer_fired {
            Some(_) if start == Start::Fresh => {
                ctx.send_after(Duration::from_millis(1), ());
            }
            Some(_) => {}
            None => ctx.handle().cast(7)?,
        }
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

    async fn handle_cast(
        &self,
        n: u32,
        state: &mut StateMut<u32>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        **state += n;
        Ok(())
    }

    async fn handle_info(
        &self,
        _: (),
        state: &mut StateMut<u32>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        **state += 1;
        if let Some(tx) = self.timer_fired.as_ref().and_then(|t| t.lock().take()) {
            let _ = tx.send(());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_timer_set_by_init_wakes_it() {
    let sup = supervisor("dormant-timer").await;
    let (tx, rx) = oneshot::channel();
    let behaviour = EarlyMessage {
        timer_fired: Some(parking_lot::Mutex::new(Some(tx))),
    };
    let h = sup
        .start_child(unique("dormant-timer"), behaviour, 0)
        .await
        .unwrap();
    bounded(rx).await.unwrap();
    assert_eq!(h.call(()).await.unwrap(), 1);
    assert!(!h.is_dormant());
}

#[tokio::test]
async fn a_cast_sent_during_init_is_handled_once_it_started() {
    let sup = supervisor("dormant-init-cast").await;
    let behaviour = EarlyMessage { timer_fired: None };
    let h = sup
        .start_child(unique("dormant-init-cast"), behaviour, 0)
        .await
        .unwrap();
    assert!(!h.is_dormant(), "woken as it was listed: a cast waited");
    assert_eq!(
        bounded(h.call(())).await.unwrap(),
        7,
        "the call came after it"
    );
}

#[test]
fn a_cast_from_a_thread_outside_any_runtime_wakes_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let h = rt.block_on(async {
        let (sup, h) = supervised("dormant-thread").await;
        std::mem::forget(sup);
        h
    });
    let sender = h.clone();
    std::thread::spawn(move || sender.cast(Cast::Incr).unwrap())
        .join()
        .unwrap();
    assert_eq!(rt.block_on(bounded(value(&h))), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_messages_from_many_senders_at_once_wake_one_worker_and_keep_order() {
    let (_sup, h) = supervised("dormant-senders").await;
    let senders = (0..8u32).map(|sender| {
        let h = h.clone();
        tokio::spawn(async move {
            for seq in 1..=100u64 {
                h.cast(Cast::Seq { sender, seq }).unwrap();
                if seq % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    });
    for s in senders {
        s.await.unwrap();
    }
    let state = bounded(async {
        let (tx, rx) = oneshot::channel();
        h.cast(Cast::Report(tx)).unwrap();
        rx.await.unwrap();
        h.last_state()
    })
    .await;
    assert_eq!(state.handled, 800);
    assert_eq!(state.violations, 0, "each sender's order kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_with_the_task_budget_spent_still_gets_a_worker() {
    let sup = supervisor("dormant-budget").await;
    let mut handles = Vec::new();
    for _ in 0..50 {
        let h = sup
            .start_child(
                unique("dormant-budget"),
                Probe::default(),
                Default::default(),
            )
            .await
            .unwrap();
        handles.push(h);
    }
    let woke = Arc::new(AtomicUsize::new(0));
    for h in &handles {
        // Spends the task's budget, as a busy task would have.
        for _ in 0..200 {
            tokio::task::coop::consume_budget().await;
        }
        if h.actor_ref().is_some() {
            woke.fetch_add(1, Ordering::SeqCst);
        }
    }
    assert_eq!(woke.load(Ordering::SeqCst), 50);
}

#[tokio::test]
async fn a_stop_right_after_a_wake_handles_what_was_queued() {
    let sup = supervisor("dormant-wake-stop").await;
    let probe = Probe::default();
    let name = unique("dormant-wake-stop");
    let h = sup
        .start_child(name.clone(), probe.clone(), Default::default())
        .await
        .unwrap();
    let _actor = h.actor_ref().unwrap();
    for _ in 0..5 {
        h.cast(Cast::Incr).unwrap();
    }
    let last = bounded(sup.terminate_child::<Probe>(&name)).await.unwrap();
    assert_eq!(last.value, 5);
    assert_eq!(probe.terminated.lock().clone(), [(StopReason::Normal, 5)]);
}

/// Senders cast to dormant instances while their supervisor stops: every
/// cast that was accepted is handled before `terminate`, whichever of the
/// first cast and the stop woke the instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_racing_a_supervisor_stop_are_all_handled_or_refused() {
    let sup = supervisor("dormant-race-stop").await;
    let probe = Probe::default();
    let mut handles = Vec::new();
    for _ in 0..20 {
        let h = sup
            .start_child(
                unique("dormant-race-stop"),
                probe.clone(),
                Default::default(),
            )
            .await
            .unwrap();
        handles.push(h);
    }
    let handles = Arc::new(handles);
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let handles = handles.clone();
            tokio::spawn(async move {
                let mut accepted = 0i64;
                for _ in 0..200 {
                    for h in handles.iter() {
                        if h.cast(Cast::Incr).is_ok() {
                            accepted += 1;
                        }
                    }
                    tokio::task::yield_now().await;
                }
                accepted
            })
        })
        .collect();
    tokio::task::yield_now().await;
    bounded(sup.stop()).await;
    let mut accepted = 0;
    for s in senders {
        accepted += s.await.unwrap();
    }
    let terminated = probe.terminated.lock().clone();
    assert_eq!(terminated.len(), 20);
    let handled: i64 = terminated.iter().map(|(_, v)| v).sum();
    assert_eq!(handled, accepted, "accepted casts handled before terminate");
}

/// Waits, sending nothing, for `name`'s `WorkerRestarted` event.
async fn restarted(events: &mut tokio::sync::broadcast::Receiver<SupervisorEvent>, name: &str) {
    bounded(async {
        loop {
            if let SupervisorEvent::WorkerRestarted { name: n, crash, .. } =
                events.recv().await.expect("the supervisor runs")
                && n == name
            {
                assert!(matches!(crash, Crash::Killed), "{crash:?}");
                return;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_of_a_dormant_or_idle_instance_restarts_it_at_once() {
    let sup = supervisor("dormant-kill-now").await;
    let mut events = sup.subscribe();
    for round in 0..50 {
        let probe = Probe::default();
        let h = sup
            .start_child(
                unique("dormant-kill-now"),
                probe.clone(),
                Default::default(),
            )
            .await
            .unwrap();
        // Odd rounds: idle with a worker, which the cast woke.
        let idle = round % 2 == 1;
        if idle {
            h.cast(Cast::Add(round)).unwrap();
            assert_eq!(value(&h).await, round);
        }
        assert_eq!(h.is_dormant(), !idle);
        h.kill();
        restarted(&mut events, h.name()).await;
        assert_eq!(value(&h).await, if idle { round } else { 0 }, "kept");
        assert_eq!(probe.restores.load(Ordering::SeqCst), 1, "restored once");
    }
}
