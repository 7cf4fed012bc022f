//! The catalogue of bad input and misuse: each case gets a specific typed
//! error within a bounded time, never hangs, and loses nothing.
//!
//! Every case runs under [`bounded`], so a hang fails the case instead of
//! stalling the suite.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Call, Cast, Gate, Info, Probe, Reply, supervisor, unique, value};
use peeper::{
    Actor, BoxError, CallError, Context, Crash, LookupError, RestartPolicy, SendError, Start,
    StartError, StateMut, StopError, StopReason, Supervisor, SupervisorEvent, TableError,
    TransferError,
};

/// The most any case may take.
const BOUND: Duration = Duration::from_secs(10);

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("the case finished within its bound")
}

async fn one(prefix: &str) -> (Supervisor, peeper::Handle<Probe>) {
    let sup = supervisor(prefix).await;
    let h = sup
        .start_child(unique(prefix), Probe::default(), Default::default())
        .await
        .unwrap();
    (sup, h)
}

/// An actor of another type, for type mismatches.
struct Other;
impl Actor for Other {
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();
}

/// An actor whose fresh `init` fails in the way its state says.
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

// ---- names ---------------------------------------------------------------

#[tokio::test]
async fn call_to_an_unknown_name_is_not_found_at_once() {
    let r = bounded(peeper::call::<Probe>("cat-none-1", Call::Get)).await;
    assert!(matches!(r, Err(CallError::NotFound { name }) if name == "cat-none-1"));
}

#[tokio::test]
async fn cast_to_an_unknown_name_is_not_found() {
    assert!(matches!(
        peeper::cast::<Probe>("cat-none-2", Cast::Incr),
        Err(SendError::NotFound { .. })
    ));
}

#[tokio::test]
async fn send_to_an_unknown_name_is_not_found() {
    assert!(matches!(
        peeper::send::<Probe>("cat-none-3", Info::Incr),
        Err(SendError::NotFound { .. })
    ));
}

#[tokio::test]
async fn lookup_of_an_unknown_name_is_not_found_and_whereis_is_none() {
    assert!(matches!(
        peeper::lookup::<Probe>("cat-none-4"),
        Err(LookupError::NotFound { .. })
    ));
    assert_eq!(peeper::whereis("cat-none-4"), None);
}

#[tokio::test]
async fn a_name_of_another_actor_type_is_wrong_type_everywhere() {
    let (sup, h) = one("cat-type").await;
    let name = h.name().to_owned();
    assert!(matches!(
        peeper::lookup::<Other>(&name),
        Err(LookupError::WrongType { .. })
    ));
    assert!(matches!(
        bounded(peeper::call::<Other>(&name, ())).await,
        Err(CallError::WrongType { .. })
    ));
    assert!(matches!(
        peeper::cast::<Other>(&name, ()),
        Err(SendError::WrongType { .. })
    ));
    assert!(matches!(
        bounded(sup.terminate_child::<Other>(&name)).await,
        Err(StopError::WrongType { .. })
    ));
    assert_eq!(value(&h).await, 0, "the instance runs on");
    sup.stop().await;
}

#[tokio::test]
async fn a_taken_name_is_refused_even_under_another_supervisor() {
    let (a, h) = one("cat-taken").await;
    let b = supervisor("cat-taken-b").await;
    let r = bounded(b.start_child(h.name(), Probe::default(), Default::default())).await;
    assert!(matches!(r, Err(StartError::NameTaken { .. })));
    assert_eq!(b.count(), 0);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_starts_of_one_name_have_exactly_one_winner() {
    let sup = supervisor("cat-race").await;
    let name = unique("cat-race-p");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (sup, name) = (sup.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            sup.start_child(&name, Probe::default(), Default::default())
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match bounded(t).await.unwrap() {
            Ok(_) => won += 1,
            Err(StartError::NameTaken { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(sup.count(), 1);
    sup.stop().await;
}

#[tokio::test]
async fn a_name_freed_by_terminate_can_be_raced_for_again() {
    let (sup, h) = one("cat-reuse").await;
    let name = h.name().to_owned();
    bounded(sup.terminate_child::<Probe>(&name)).await.unwrap();
    let (first, second) = tokio::join!(
        sup.start_child(&name, Probe::default(), Default::default()),
        sup.start_child(&name, Probe::default(), Default::default()),
    );
    assert!(first.is_ok() != second.is_ok(), "exactly one of two wins");
    assert_eq!(
        peeper::registered().iter().filter(|n| **n == name).count(),
        1
    );
    sup.stop().await;
}

#[tokio::test]
async fn a_taken_supervisor_name_is_refused() {
    let a = supervisor("cat-supname").await;
    let r = Supervisor::start(a.name()).await;
    assert!(matches!(r, Err(StartError::NameTaken { .. })));
    a.stop().await;
}

// ---- starting ------------------------------------------------------------

#[tokio::test]
async fn an_init_that_fails_on_a_fresh_start_registers_nothing() {
    let sup = supervisor("cat-init").await;
    let name = unique("cat-init-p");
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
    let sup = supervisor("cat-init-panic").await;
    let r = bounded(sup.start_child(unique("cat-ip"), BadInit, true)).await;
    assert!(matches!(
        r,
        Err(StartError::InitFailed {
            crash: Crash::Panicked(_),
            ..
        })
    ));
    sup.stop().await;
}

#[tokio::test]
async fn start_under_a_stopped_supervisor_is_refused() {
    let sup = supervisor("cat-stopped-start").await;
    sup.stop().await;
    let r = sup
        .start_child(unique("cat-ss"), Probe::default(), Default::default())
        .await;
    assert!(matches!(r, Err(StartError::SupervisorStopped { .. })));
}

// ---- crashes -------------------------------------------------------------

#[tokio::test]
async fn init_that_panics_after_every_restore_ends_in_the_restart_limit() {
    let probe = Probe::default();
    probe.failing_restores.store(u32::MAX, Ordering::SeqCst);
    let sup = supervisor("cat-init-loop").await;
    let h = sup
        .start_child_with(
            unique("cat-il"),
            probe,
            Default::default(),
            RestartPolicy::new(5, Duration::from_secs(60)),
        )
        .await
        .unwrap();
    h.cast(Cast::Add(3)).unwrap();
    let _ = bounded(h.call(Call::Panic)).await;
    let r = bounded(h.call(Call::Get)).await;
    assert!(matches!(
        r,
        Err(CallError::Stopped {
            reason: StopReason::RestartLimit { .. },
            ..
        })
    ));
    assert_eq!(h.last_state().value, 3, "the last state is still there");
    sup.stop().await;
}

#[tokio::test]
async fn a_restart_storm_of_casts_is_reported_to_the_supervisor() {
    let sup = supervisor("cat-storm").await;
    let mut events = sup.subscribe();
    let h = sup
        .start_child_with(
            unique("cat-storm-p"),
            Probe::default(),
            Default::default(),
            RestartPolicy::new(10, Duration::from_secs(60)),
        )
        .await
        .unwrap();
    for _ in 0..100 {
        // Refused once it has stopped: that is the point.
        let _ = h.cast(Cast::Panic);
    }
    let reason = bounded(async {
        loop {
            if let SupervisorEvent::ChildStopped { reason, .. } = events.recv().await.unwrap() {
                break reason;
            }
        }
    })
    .await;
    assert!(matches!(
        reason,
        StopReason::RestartLimit { restarts: 11, .. }
    ));
    assert!(matches!(h.cast(Cast::Incr), Err(SendError::Stopped { .. })));
    sup.stop().await;
}

#[tokio::test]
async fn a_call_error_return_keeps_the_state_and_the_instance() {
    let (sup, h) = one("cat-err").await;
    h.cast(Cast::Add(2)).unwrap();
    assert!(matches!(
        bounded(h.call(Call::Fail)).await,
        Err(CallError::Crashed {
            crash: Crash::Failed(_),
            ..
        })
    ));
    assert_eq!(value(&h).await, 2);
    sup.stop().await;
}

#[tokio::test]
async fn a_dictionary_write_in_a_crashing_callback_is_discarded() {
    let (sup, h) = one("cat-dict").await;
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
    let sup = supervisor("cat-term").await;
    let h = sup
        .start_child(unique("cat-term-p"), probe.clone(), Default::default())
        .await
        .unwrap();
    bounded(sup.stop()).await;
    assert_eq!(probe.terminated.lock().len(), 1);
    assert_eq!(h.stop_reason(), Some(StopReason::Shutdown));
}

// ---- kills ---------------------------------------------------------------

#[tokio::test]
async fn a_kill_of_an_idle_worker_restores_it_before_the_next_message() {
    let probe = Probe::default();
    let sup = supervisor("cat-kill-idle").await;
    let h = sup
        .start_child(unique("cat-ki"), probe.clone(), Default::default())
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
    let (sup, h) = one("cat-pending").await;
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
    let (sup, h) = one("cat-kills").await;
    for i in 0..50 {
        h.cast(Cast::Incr).unwrap();
        if i % 2 == 0 {
            h.kill();
        }
    }
    assert_eq!(bounded(value(&h)).await, 50);
    sup.stop().await;
}

// ---- timeouts ------------------------------------------------------------

#[tokio::test]
async fn a_zero_timeout_is_a_timeout_and_sends_nothing() {
    let (sup, h) = one("cat-zero").await;
    let r = h
        .call_timeout(Call::Seq { sender: 9, seq: 1 }, Duration::ZERO)
        .await;
    assert!(matches!(r, Err(CallError::Timeout { .. })));
    assert_eq!(value(&h).await, 0);
    assert!(h.last_state().last_seq.is_empty());
    sup.stop().await;
}

#[tokio::test]
async fn a_zero_timeout_by_name_is_a_timeout() {
    let (sup, h) = one("cat-zero-name").await;
    let r = peeper::call_timeout::<Probe>(h.name(), Call::Get, Duration::ZERO).await;
    assert!(matches!(r, Err(CallError::Timeout { .. })));
    sup.stop().await;
}

#[tokio::test]
async fn the_largest_timeout_does_not_overflow() {
    let (sup, h) = one("cat-max").await;
    assert_eq!(
        bounded(h.call_timeout(Call::Get, Duration::MAX)).await,
        Ok(Reply::Value(0))
    );
    sup.stop().await;
}

#[tokio::test]
async fn a_slow_callback_times_out_its_caller_and_then_completes() {
    let (sup, h) = one("cat-slow").await;
    let gate = Gate::default();
    let caller = tokio::spawn({
        let (h, gate) = (h.clone(), gate.clone());
        async move {
            h.call_timeout(Call::AddThenWait(gate), Duration::from_millis(50))
                .await
        }
    });
    gate.reached.notified().await;
    assert!(matches!(
        bounded(caller).await.unwrap(),
        Err(CallError::Timeout { .. })
    ));
    gate.release.notify_one();
    // The callback had begun: it completes and its change is kept.
    assert_eq!(value(&h).await, 1000);
    sup.stop().await;
}

// ---- stopped instances and supervisors -------------------------------------

#[tokio::test]
async fn call_cast_and_send_after_stop_are_stopped() {
    let (sup, h) = one("cat-after").await;
    bounded(sup.terminate_child::<Probe>(h.name()))
        .await
        .unwrap();
    assert!(matches!(
        bounded(h.call(Call::Get)).await,
        Err(CallError::Stopped {
            reason: StopReason::Normal,
            ..
        })
    ));
    assert!(matches!(h.cast(Cast::Incr), Err(SendError::Stopped { .. })));
    assert!(matches!(h.send(Info::Incr), Err(SendError::Stopped { .. })));
    assert_eq!(h.supervisor_name(), None);
    sup.stop().await;
}

#[tokio::test]
async fn terminate_of_an_unknown_child_is_not_child() {
    let sup = supervisor("cat-term-unknown").await;
    assert!(matches!(
        bounded(sup.terminate_child::<Probe>("cat-nobody")).await,
        Err(StopError::NotChild { .. })
    ));
    sup.stop().await;
}

#[tokio::test]
async fn terminate_twice_is_not_child_the_second_time() {
    let (sup, h) = one("cat-term-twice").await;
    bounded(sup.terminate_child::<Probe>(h.name()))
        .await
        .unwrap();
    assert!(matches!(
        bounded(sup.terminate_child::<Probe>(h.name())).await,
        Err(StopError::NotChild { .. })
    ));
    sup.stop().await;
}

#[tokio::test]
async fn stopping_a_supervisor_with_queued_messages_handles_them_first() {
    let (sup, h) = one("cat-stop-queue").await;
    let gate = Gate::default();
    h.cast(Cast::AddThenWait(1, gate.clone())).unwrap();
    gate.reached.notified().await;
    for _ in 0..100 {
        h.cast(Cast::Incr).unwrap();
    }
    let stopping = tokio::spawn({
        let sup = sup.clone();
        async move { sup.stop().await }
    });
    tokio::task::yield_now().await;
    gate.release.notify_one();
    bounded(stopping).await.unwrap();
    assert_eq!(
        h.last_state().value,
        101,
        "queued casts handled before the stop"
    );
}

#[tokio::test]
async fn stopping_a_supervisor_twice_is_harmless() {
    let (sup, _h) = one("cat-stop-twice").await;
    bounded(sup.stop()).await;
    bounded(sup.stop()).await;
    assert!(!sup.is_running());
}

#[tokio::test]
async fn dropping_every_handle_leaves_the_instance_running_by_name() {
    let sup = supervisor("cat-drop").await;
    let name = unique("cat-drop-p");
    {
        let h = sup
            .start_child(&name, Probe::default(), Default::default())
            .await
            .unwrap();
        h.cast(Cast::Add(8)).unwrap();
    }
    let r = bounded(peeper::call::<Probe>(&name, Call::Get)).await;
    assert_eq!(r, Ok(Reply::Value(8)));
    sup.stop().await;
}

// ---- transfers -----------------------------------------------------------

#[tokio::test]
async fn transfer_of_an_unknown_name_is_not_found() {
    let a = supervisor("cat-t-a").await;
    let b = supervisor("cat-t-b").await;
    assert!(matches!(
        peeper::transfer("cat-t-nobody", &a, &b).await,
        Err(TransferError::NotFound { .. })
    ));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn transfer_to_the_same_supervisor_is_refused() {
    let (a, h) = one("cat-t-same").await;
    assert!(matches!(
        a.transfer(h.name(), &a).await,
        Err(TransferError::SameSupervisor { .. })
    ));
    assert_eq!(a.count(), 1);
    a.stop().await;
}

#[tokio::test]
async fn transfer_from_a_supervisor_that_does_not_hold_it_is_not_child() {
    let (a, h) = one("cat-t-owner").await;
    let b = supervisor("cat-t-owner-b").await;
    let c = supervisor("cat-t-owner-c").await;
    assert!(matches!(
        peeper::transfer(h.name(), &b, &c).await,
        Err(TransferError::NotChild { .. })
    ));
    assert_eq!((a.count(), b.count(), c.count()), (1, 0, 0));
    a.stop().await;
    b.stop().await;
    c.stop().await;
}

#[tokio::test]
async fn transfer_to_a_stopped_supervisor_is_refused_and_changes_nothing() {
    let (a, h) = one("cat-t-stopped").await;
    let b = supervisor("cat-t-stopped-b").await;
    b.stop().await;
    h.cast(Cast::Add(1)).unwrap();
    assert!(matches!(
        a.transfer(h.name(), &b).await,
        Err(TransferError::TargetStopped { .. })
    ));
    assert_eq!(value(&h).await, 1);
    assert_eq!(h.supervisor_name().as_deref(), Some(a.name()));
    a.stop().await;
}

#[tokio::test]
async fn transfer_from_a_stopped_supervisor_finds_no_child() {
    let (a, h) = one("cat-t-src-stopped").await;
    let b = supervisor("cat-t-src-b").await;
    let name = h.name().to_owned();
    a.stop().await;
    assert!(matches!(
        peeper::transfer(&name, &a, &b).await,
        Err(TransferError::NotFound { .. })
    ));
    assert_eq!(b.count(), 0);
    b.stop().await;
}

#[tokio::test]
async fn transfer_during_a_stop_of_the_instance_is_refused() {
    let (a, h) = one("cat-t-busy").await;
    let b = supervisor("cat-t-busy-b").await;
    let gate = Gate::default();
    h.cast(Cast::AddThenWait(1, gate.clone())).unwrap();
    gate.reached.notified().await;
    let stopping = tokio::spawn({
        let (a, name) = (a.clone(), h.name().to_owned());
        async move { a.terminate_child::<Probe>(&name).await }
    });
    // Wait until the stop has claimed the instance and left the children.
    bounded(async {
        while a.count() == 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let r = peeper::transfer(h.name(), &a, &b).await;
    assert!(
        matches!(
            r,
            Err(TransferError::InProgress { .. } | TransferError::NotChild { .. })
        ),
        "{r:?}"
    );
    gate.release.notify_one();
    assert_eq!(bounded(stopping).await.unwrap().unwrap().value, 1);
    assert_eq!(b.count(), 0);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_storm_of_many_instances_loses_none() {
    let a = supervisor("cat-storm-a").await;
    let b = supervisor("cat-storm-b").await;
    let mut handles = Vec::new();
    for _ in 0..50 {
        let h = a
            .start_child(unique("cat-storm-p"), Probe::default(), Default::default())
            .await
            .unwrap();
        handles.push(h);
    }
    let handles = Arc::new(handles);
    let movers: Vec<_> = (0..2)
        .map(|m| {
            let (a, b, handles) = (a.clone(), b.clone(), handles.clone());
            tokio::spawn(async move {
                for round in 0..20 {
                    for h in handles.iter().skip(m).step_by(2) {
                        let (from, to) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
                        from.transfer(h.name(), to).await.unwrap();
                        h.cast(Cast::Incr).unwrap();
                    }
                }
            })
        })
        .collect();
    for m in movers {
        bounded(m).await.unwrap();
    }
    assert_eq!(a.count() + b.count(), 50);
    for h in handles.iter() {
        assert_eq!(value(h).await, 20);
    }
    a.stop().await;
    b.stop().await;
}

// ---- tables, messages ----------------------------------------------------

#[tokio::test]
async fn a_missing_table_is_not_found() {
    let (sup, h) = one("cat-table").await;
    assert!(matches!(
        h.table::<u64, String>("nope"),
        Err(TableError::NotFound { .. })
    ));
    sup.stop().await;
}

#[tokio::test]
async fn a_table_opened_with_other_types_is_wrong_type() {
    let (sup, h) = one("cat-table-type").await;
    h.cast(Cast::Rows("t", vec![(1, "x".into())])).unwrap();
    value(&h).await;
    assert!(matches!(
        h.table::<String, u64>("t"),
        Err(TableError::WrongType { .. })
    ));
    assert_eq!(h.table::<u64, String>("t").unwrap().len(), 1);
    sup.stop().await;
}

#[tokio::test]
async fn a_huge_cast_is_handled() {
    let (sup, h) = one("cat-huge").await;
    let rows = vec![(7_u64, "x".repeat(64 << 20))];
    h.cast(Cast::Rows("big", rows)).unwrap();
    assert_eq!(bounded(value(&h)).await, 0);
    let len = h.table::<u64, String>("big").unwrap().with(&7, String::len);
    assert_eq!(len, Some(64 << 20));
    sup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_timer_survives_a_crash_and_a_transfer() {
    let (a, h) = one("cat-timer").await;
    let b = supervisor("cat-timer-b").await;
    h.cast(Cast::Timer(Duration::from_secs(30), Info::Incr))
        .unwrap();
    h.cast(Cast::Panic).unwrap();
    a.transfer(h.name(), &b).await.unwrap();
    h.kill();
    assert_eq!(value(&h).await, 0);
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(
        value(&h).await,
        1,
        "the timer fired after crash, move and kill"
    );
    a.stop().await;
    b.stop().await;
}
