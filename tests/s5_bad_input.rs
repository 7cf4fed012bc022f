//! S5: bad input. Each returns a typed error promptly, and no state is lost or
//! changed.

mod common;

use std::time::Duration;

use common::{Call, Cast, Gate, Probe, supervisor, unique, value};
use peeper::{CallError, SendError, StartError, TransferError};

const PROMPT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn an_unknown_name_fails_at_once_for_call_cast_send_and_transfer() {
    let a = supervisor("s5-a").await;
    let b = supervisor("s5-b").await;
    let call = tokio::time::timeout(PROMPT, peeper::call::<Probe>("s5-nobody", Call::Get))
        .await
        .expect("no hang on an unknown name");
    assert!(matches!(call, Err(CallError::NotFound { name }) if name == "s5-nobody"));
    assert!(matches!(
        peeper::cast::<Probe>("s5-nobody", Cast::Incr),
        Err(SendError::NotFound { .. })
    ));
    assert!(matches!(
        peeper::send::<Probe>("s5-nobody", common::Info::Incr),
        Err(SendError::NotFound { .. })
    ));
    assert!(matches!(
        peeper::transfer("s5-nobody", &a, &b).await,
        Err(TransferError::NotFound { .. })
    ));
    a.stop().await;
    b.stop().await;
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
async fn refused_transfers_leave_the_instance_where_it_was() {
    let a = supervisor("s5-ta").await;
    let b = supervisor("s5-tb").await;
    let stopped = supervisor("s5-tstopped").await;
    stopped.stop().await;
    let name = unique("s5-p");
    let h = a
        .start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();
    h.cast(Cast::Add(4)).unwrap();

    assert!(matches!(
        peeper::transfer(&name, &a, &a).await,
        Err(TransferError::SameSupervisor { .. })
    ));
    assert!(matches!(
        peeper::transfer(&name, &a, &stopped).await,
        Err(TransferError::TargetStopped { .. })
    ));
    assert!(matches!(
        peeper::transfer(&name, &b, &a).await,
        Err(TransferError::NotChild { .. })
    ));
    assert_eq!(a.count(), 1);
    assert_eq!(b.count(), 0);
    assert_eq!(value(&h).await, 4);
    assert_eq!(h.supervisor_name().as_deref(), Some(a.name()));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_transfers_of_one_instance_leave_it_under_exactly_one_supervisor() {
    let sups = [
        supervisor("s5-race-0").await,
        supervisor("s5-race-1").await,
        supervisor("s5-race-2").await,
    ];
    let name = unique("s5-race-p");
    let h = sups[0]
        .start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..3_usize {
        let (sups, name) = (sups.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            let mut refused = 0;
            for round in 0..200_usize {
                let from = &sups[(i + round) % 3];
                let to = &sups[(i + round + 1) % 3];
                match peeper::transfer(&name, from, to).await {
                    Ok(()) => {}
                    Err(TransferError::NotChild { .. } | TransferError::InProgress { .. }) => {
                        refused += 1;
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            refused
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let holders: Vec<_> = sups.iter().filter(|s| s.count() == 1).collect();
    assert_eq!(sups.iter().map(|s| s.count()).sum::<usize>(), 1);
    assert_eq!(holders[0].which_children()[0].id, h.id());
    assert_eq!(h.supervisor_name().as_deref(), Some(holders[0].name()));
    assert_eq!(value(&h).await, 0);
    for s in &sups {
        s.stop().await;
    }
}

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
async fn a_huge_timeout_is_accepted() {
    let a = supervisor("s5-huge").await;
    let h = a
        .start_child(unique("s5-p"), Probe::default(), Default::default())
        .await
        .unwrap();
    let r = h.call_timeout(Call::Get, Duration::MAX).await;
    assert!(r.is_ok(), "{r:?}");
    a.stop().await;
}

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
