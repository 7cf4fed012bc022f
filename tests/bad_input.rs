//! Bad input and misuse (scenario S5): each gets a specific typed error
//! promptly, never hangs, and no state is lost or changed. Unknown names,
//! names of another actor type, taken names, stopped instances and
//! supervisors, timeouts of every size. Refused transfers are in
//! `transfer.rs`, tables opened wrongly in `tables.rs`.

mod common;

use std::time::Duration;

use common::{
    Call, Cast, Gate, Info, Probe, Reply, bounded, supervised, supervisor, unique, value,
};
use peeper::{
    Actor, CallError, LookupError, SendError, StartError, StopError, StopReason, TransferError,
    Undelivered,
};

/// Upper bound for anything that must fail "at once".
const PROMPT: Duration = Duration::from_secs(5);

/// An actor of another type, for type mismatches.
struct Other;
impl Actor for Other {
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();
}

// ---- names -----------------------------------------------------------------

#[tokio::test]
async fn an_unknown_name_fails_at_once_for_call_cast_send_and_transfer() {
    let a = supervisor("s5-a").await;
    let b = supervisor("s5-b").await;
    let call = tokio::time::timeout(PROMPT, peeper::call::<Probe>("s5-nobody", Call::Get))
        .await
        .expect("no hang on an unknown name");
    assert!(matches!(
        call,
        Err(CallError::Lookup(LookupError::NotFound { name })) if name == "s5-nobody"
    ));
    let refused = peeper::cast::<Probe>("s5-nobody", Cast::Add(7)).unwrap_err();
    assert!(matches!(
        refused.reason(),
        Undelivered::Lookup(LookupError::NotFound { .. })
    ));
    assert!(
        matches!(refused.into_message(), Cast::Add(7)),
        "the refused cast comes back"
    );
    assert!(matches!(
        peeper::send::<Probe>("s5-nobody", common::Info::Incr).map_err(SendError::without_message),
        Err(Undelivered::Lookup(LookupError::NotFound { .. }))
    ));
    assert!(matches!(
        peeper::transfer("s5-nobody", &a, &b).await,
        Err(TransferError::Lookup(LookupError::NotFound { .. }))
    ));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn lookup_of_an_unknown_name_is_not_found_and_whereis_is_none() {
    assert!(matches!(
        peeper::lookup::<Probe>("bad-nobody"),
        Err(LookupError::NotFound { .. })
    ));
    assert_eq!(peeper::whereis("bad-nobody"), None);
}

#[tokio::test]
async fn a_name_of_another_actor_type_is_wrong_type_everywhere() {
    let (sup, h) = supervised("bad-type").await;
    let name = h.name().to_owned();
    assert!(matches!(
        peeper::lookup::<Other>(&name),
        Err(LookupError::WrongType { .. })
    ));
    assert!(matches!(
        bounded(peeper::call::<Other>(&name, ())).await,
        Err(CallError::Lookup(LookupError::WrongType { .. }))
    ));
    assert!(matches!(
        peeper::cast::<Other>(&name, ()).map_err(SendError::without_message),
        Err(Undelivered::Lookup(LookupError::WrongType { .. }))
    ));
    assert!(matches!(
        bounded(sup.terminate_child::<Other>(&name)).await,
        Err(StopError::Lookup(LookupError::WrongType { .. }))
    ));
    assert_eq!(value(&h).await, 0, "the instance runs on");
    sup.stop().await;
}

#[tokio::test]
async fn a_taken_name_is_refused_and_the_holder_is_untouched() {
    let a = supervisor("s5-taken").await;
    let name = unique("s5-p");
    let h = a
        .start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();
    h.cast(Cast::Add(3)).unwrap();
    let again = a
        .start_child(&name, Probe::default(), Default::default())
        .await;
    assert!(matches!(again, Err(StartError::NameTaken { name: n }) if n == name));
    assert_eq!(value(&h).await, 3);
    assert_eq!(a.count(), 1);
    a.stop().await;
}

#[tokio::test]
async fn a_taken_name_is_refused_even_under_another_supervisor() {
    let (a, h) = supervised("bad-taken").await;
    let b = supervisor("bad-taken-b").await;
    let r = bounded(b.start_child(h.name(), Probe::default(), Default::default())).await;
    assert!(matches!(r, Err(StartError::NameTaken { .. })));
    assert_eq!(b.count(), 0);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_starts_of_one_name_have_exactly_one_winner() {
    let sup = supervisor("bad-race").await;
    let name = unique("bad-race-p");
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
    let (sup, h) = supervised("bad-reuse").await;
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

// ---- stopped supervisors and instances -------------------------------------

#[tokio::test]
async fn starting_under_a_stopped_supervisor_is_refused() {
    let a = supervisor("s5-stopped").await;
    a.stop().await;
    let name = unique("s5-p");
    let r = a
        .start_child(&name, Probe::default(), Default::default())
        .await;
    assert!(matches!(r, Err(StartError::SupervisorStopped { .. })));
    assert_eq!(peeper::whereis(&name), None, "nothing registered");
}

#[tokio::test]
async fn call_cast_and_send_after_stop_are_stopped() {
    let (sup, h) = supervised("bad-after").await;
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
    let refused = h.cast(Cast::Add(3)).unwrap_err();
    assert!(matches!(refused.reason(), Undelivered::Stopped { .. }));
    assert!(matches!(refused.into_message(), Cast::Add(3)));
    assert!(matches!(
        h.send(Info::Incr).map_err(SendError::without_message),
        Err(Undelivered::Stopped { .. })
    ));
    assert_eq!(h.supervisor_name(), None);
    sup.stop().await;
}

// ---- timeouts --------------------------------------------------------------

#[tokio::test]
async fn a_zero_timeout_fails_at_once_and_changes_nothing() {
    let a = supervisor("s5-zero").await;
    let h = a
        .start_child(unique("s5-p"), Probe::default(), Default::default())
        .await
        .unwrap();
    let r = h
        .call_timeout(Call::Seq { sender: 1, seq: 1 }, Duration::ZERO)
        .await;
    assert!(matches!(r, Err(CallError::Timeout { timeout, .. }) if timeout.is_zero()));
    assert_eq!(value(&h).await, 0);
    assert_eq!(
        h.last_state().handled,
        0,
        "the zero-timeout call was not handled"
    );
    a.stop().await;
}

#[tokio::test]
async fn a_zero_timeout_by_name_is_a_timeout() {
    let (sup, h) = supervised("bad-zero-name").await;
    let r = peeper::call_timeout::<Probe>(h.name(), Call::Get, Duration::ZERO).await;
    assert!(matches!(r, Err(CallError::Timeout { .. })));
    sup.stop().await;
}

#[tokio::test]
async fn a_call_that_times_out_in_the_queue_is_never_handled() {
    let a = supervisor("s5-timeout").await;
    let h = a
        .start_child(unique("s5-p"), Probe::default(), Default::default())
        .await
        .unwrap();
    let gate = Gate::default();
    h.cast(Cast::AddThenWait(1, gate.clone())).unwrap();
    gate.reached.notified().await;
    let r = h
        .call_timeout(Call::Seq { sender: 1, seq: 1 }, Duration::from_millis(20))
        .await;
    assert!(matches!(r, Err(CallError::Timeout { .. })));
    gate.release.notify_one();
    assert_eq!(value(&h).await, 1);
    assert_eq!(h.last_state().handled, 0, "the timed-out call was dropped");
    a.stop().await;
}

#[tokio::test]
async fn a_slow_callback_times_out_its_caller_and_then_completes() {
    let (sup, h) = supervised("bad-slow").await;
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

#[tokio::test]
async fn the_largest_timeout_does_not_overflow() {
    let (sup, h) = supervised("bad-max").await;
    assert_eq!(
        bounded(h.call_timeout(Call::Get, Duration::MAX)).await,
        Ok(Reply::Value(0))
    );
    sup.stop().await;
}
